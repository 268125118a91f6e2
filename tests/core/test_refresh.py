"""Refresh (core/refresh.py) and the plan made against it (limits.make_plan with `live`)."""

from __future__ import annotations

from reconciler.core.diff import FieldChange
from reconciler.core.drift import Answer, Gone, Unread
from reconciler.core.limits import PlanOptions, make_plan
from reconciler.core.plan import Action, Plan
from reconciler.core.refresh import CHANGED_IN_COR, DELETED_IN_COR, refresh
from reconciler.core.resources import Kind, ResourceKey
from tests.builders import declared, desired_of, recorded, state_of

SF = "SALESFORCE"
ACME_D = declared("client", SF, "C1", name="Acme")
OTHER_D = declared("client", SF, "C2", name="Other")
BRAND_D = declared("brand", SF, "B1", name="Premium", client_id="C1")
BRAND2_D = declared("brand", SF, "B2", name="Basic", client_id="C1")
PROD_D = declared("product", SF, "P1", name="Widget", client_id="C1", brand_id="B1")
DESIRED = desired_of(ACME_D, OTHER_D, BRAND_D, BRAND2_D, PROD_D)
RECORDS = state_of(
    recorded("client", SF, "C1", 25001, name="Acme"),
    recorded("client", SF, "C2", 25002, name="Other"),
    recorded("brand", SF, "B1", 3001, name="Premium", client_id="C1"),
    recorded("brand", SF, "B2", 3002, name="Basic", client_id="C1"),
    recorded("product", SF, "P1", 52001, name="Widget", client_id="C1", brand_id="B1"),
)
SAME: dict[ResourceKey, Answer] = {
    ACME_D.key: {"id": 25001, "name": "Acme"},
    OTHER_D.key: {"id": 25002, "name": "Other"},
    BRAND_D.key: {"id": 3001, "name": "Premium", "client_id": 25001},
    BRAND2_D.key: {"id": 3002, "name": "Basic", "client_id": 25001},
    PROD_D.key: {"id": 52001, "name": "Widget", "client_id": 25001, "brand_id": 3001},
}


def plan_with(answers: dict[ResourceKey, Answer], *, allow_replace: bool = False) -> Plan:
    live = refresh(RECORDS, {**SAME, **answers})
    return make_plan(DESIRED, RECORDS, frozenset(), PlanOptions(allow_replace=allow_replace), live)


def test_cor_as_recorded_plans_nothing() -> None:
    live = refresh(RECORDS, SAME)
    assert live.drifted == {}
    assert live.gone == frozenset()
    assert live.errors == ()
    assert all(live.records[k] is RECORDS[k] for k in RECORDS)  # no copy when equal
    plan = plan_with({})
    assert plan.changes == ()
    assert plan.synced == ()
    assert plan.forgotten == ()
    assert plan.refreshed


def test_a_rename_in_cor_is_an_update_marked_as_drift() -> None:
    plan = plan_with({ACME_D.key: {"id": 25001, "name": "Acme Inc"}})
    (change,) = plan.changes
    assert (change.action, change.key, change.drift) == (Action.UPDATE, ACME_D.key, CHANGED_IN_COR)
    assert change.diffs == (FieldChange("name", "Acme Inc", "Acme"),)


def test_a_field_set_in_cor_and_not_declared_is_cleared() -> None:
    plan = plan_with({OTHER_D.key: {"id": 25002, "name": "Other", "phone": "555"}})
    (change,) = plan.changes
    assert change.diffs == (FieldChange("phone", "555", None),)
    assert change.drift == CHANGED_IN_COR


def test_a_record_deleted_in_cor_is_created_again() -> None:
    plan = plan_with({PROD_D.key: Gone()})
    (change,) = plan.changes
    assert (change.action, change.cor_id, change.drift) == (Action.CREATE, None, DELETED_IN_COR)


def test_a_product_reparented_in_cor_is_a_replacement_refused_without_allow_replace() -> None:
    moved = {"id": 52001, "name": "Widget", "client_id": 25001, "brand_id": 3002}
    plan = plan_with({PROD_D.key: moved})
    (change,) = plan.changes
    assert change.action is Action.REPLACE
    assert change.drift == CHANGED_IN_COR
    assert change.diffs == (FieldChange("brand_id", "B2", "B1"),)
    assert plan.replace_refused
    assert plan.refused
    allowed = plan_with({PROD_D.key: moved}, allow_replace=True)
    assert not allowed.refused
    assert allowed.replacements == allowed.changes


def test_a_parent_unknown_to_the_state_shows_its_cor_id() -> None:
    plan = plan_with({BRAND_D.key: {"id": 3001, "name": "Premium", "client_id": 25999}})
    brand, product = plan.changes  # the brand's products go with it
    assert brand.diffs == (FieldChange("client_id", "(COR id 25999)", "C1"),)
    assert (product.action, product.replaced_with) == (Action.REPLACE, BRAND_D.key)


def test_cor_already_holding_the_declared_value_updates_the_state_only() -> None:
    records = dict(RECORDS)
    records[ACME_D.key] = records[ACME_D.key]._replace(attributes={"name": "Old"})
    live = refresh(records, SAME)
    plan = make_plan(DESIRED, records, frozenset(), PlanOptions(), live)
    assert plan.changes == ()
    assert [(r.key, dict(r.attributes)) for r in plan.synced] == [(ACME_D.key, {"name": "Acme"})]


def test_gone_and_no_longer_declared_is_forgotten_not_deleted() -> None:
    desired = {k: d for k, d in DESIRED.items() if k != PROD_D.key}
    live = refresh(RECORDS, {**SAME, PROD_D.key: Gone()})
    plan = make_plan(desired, RECORDS, frozenset(), PlanOptions(prune=True), live)
    assert plan.changes == ()
    assert [r.key for r in plan.forgotten] == [PROD_D.key]


def test_fields_cor_does_not_return_are_unverifiable_and_kept() -> None:
    records = dict(RECORDS)
    records[PROD_D.key] = records[PROD_D.key]._replace(
        attributes={**records[PROD_D.key].attributes, "description": "Blue"}
    )
    live = refresh(records, SAME)  # the read API's product view has no description
    assert live.unverifiable == {(Kind.PRODUCT, "description"): 1}
    assert live.records[PROD_D.key] is records[PROD_D.key]


def test_unread_and_wrong_answers_are_errors() -> None:
    live = refresh(
        RECORDS,
        {
            **SAME,
            ACME_D.key: Unread("GET /clients/25001: 500"),
            OTHER_D.key: {"id": 1, "name": "Someone else"},
            BRAND_D.key: {"id": 3001, "client_id": "abc"},
        },
    )
    assert [(e.key, e.message) for e in live.errors] == [
        (ACME_D.key, "GET /clients/25001: 500"),
        (OTHER_D.key, "COR answered with another record (id 1)"),
        (BRAND_D.key, 'COR\'s client_id is not a COR id ("abc")'),
    ]


def test_targeting_a_replaced_brand_brings_its_products() -> None:
    options = PlanOptions(allow_replace=True, targets=("brand SALESFORCE/B1",))
    answers = {**SAME, BRAND_D.key: {"id": 3001, "name": "Premium", "client_id": 25002}}
    plan = make_plan(DESIRED, RECORDS, frozenset(), options, refresh(RECORDS, answers))
    assert [(c.key.id, c.action) for c in plan.changes] == [
        ("B1", Action.REPLACE),
        ("P1", Action.REPLACE),
    ]
    assert plan.changes[1].needed_by == BRAND_D.key


def test_a_replaced_brand_with_an_undeclared_product_is_blocked_unless_pruned() -> None:
    desired = {k: d for k, d in DESIRED.items() if k != PROD_D.key}
    moved = {**SAME, BRAND_D.key: {"id": 3001, "name": "Premium", "client_id": 25002}}
    options = PlanOptions(allow_replace=True)
    plan = make_plan(desired, RECORDS, frozenset(), options, refresh(RECORDS, moved))
    assert plan.refused
    assert "product SALESFORCE/P1" in plan.blocked[0]
    pruned = make_plan(
        desired,
        RECORDS,
        frozenset(),
        PlanOptions(allow_replace=True, prune=True),
        refresh(RECORDS, moved),
    )
    assert not pruned.refused
    assert not pruned.blocked


def test_a_targeted_refresh_syncs_and_forgets_only_its_targets() -> None:
    records = dict(RECORDS)
    records[ACME_D.key] = records[ACME_D.key]._replace(attributes={"name": "Old"})
    desired = {k: d for k, d in DESIRED.items() if k != PROD_D.key}
    live = refresh(records, {**SAME, PROD_D.key: Gone()})
    whole = make_plan(desired, records, frozenset(), PlanOptions(), live)
    assert [r.key for r in whole.synced] == [ACME_D.key]
    assert [r.key for r in whole.forgotten] == [PROD_D.key]
    options = PlanOptions(targets=("client SALESFORCE/C2",))
    targeted = make_plan(desired, records, frozenset(), options, live)
    assert (targeted.synced, targeted.forgotten) == ((), ())


def test_a_parent_unknown_to_the_state_is_never_recorded() -> None:
    desired = {k: d for k, d in DESIRED.items() if k != PROD_D.key}  # kept, not declared
    moved = {"id": 52001, "name": "Widget", "client_id": 25001, "brand_id": 3999}
    live = refresh(RECORDS, {**SAME, PROD_D.key: moved})
    assert live.drifted[PROD_D.key] == (FieldChange("brand_id", "B1", "(COR id 3999)"),)
    plan = make_plan(desired, RECORDS, frozenset(), PlanOptions(), live)
    assert plan.synced == ()
