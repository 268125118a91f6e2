"""Table tests of the pure core: declared + recorded in, ordered changes out."""

from __future__ import annotations

import pytest

from reconciler.core.diff import FieldChange
from reconciler.core.plan import Action, build_plan, update_fields
from reconciler.core.resources import Declared, Record
from tests.builders import declared, desired_of, recorded, state_of
from tests.builders import key as key_of

SF, MD = "SALESFORCE", "MICROSOFT_DYNAMICS"
ACME = declared("client", SF, "ACC-1", name="Acme")
ACME_REC = recorded("client", SF, "ACC-1", 100, name="Acme")
BRAND = declared("brand", SF, "BR-1", name="Acme Premium", client_id="ACC-1")
BRAND_REC = recorded("brand", SF, "BR-1", 200, name="Acme Premium", client_id="ACC-1")
PRODUCT = declared("product", SF, "P-1", name="Widget", client_id="ACC-1", brand_id="BR-1")
PRODUCT_REC = recorded("product", SF, "P-1", 300, name="Widget", client_id="ACC-1", brand_id="BR-1")

CASES: list[tuple[str, tuple[Declared, ...], tuple[Record, ...], list[tuple[str, str]]]] = [
    ("nothing declared, nothing recorded", (), (), []),
    (
        "everything new",
        (PRODUCT, BRAND, ACME),
        (),
        [
            ("create", "client SALESFORCE/ACC-1"),
            ("create", "brand SALESFORCE/BR-1"),
            ("create", "product SALESFORCE/P-1"),
        ],
    ),
    (
        "everything recorded and equal",
        (ACME, BRAND, PRODUCT),
        (ACME_REC, BRAND_REC, PRODUCT_REC),
        [],
    ),
    (
        "kind first, then source, then id",
        (
            declared("product", MD, "A", name="x", client_id="C", brand_id="B"),
            declared("client", SF, "B", name="x"),
            declared("client", SF, "A", name="x"),
            declared("client", MD, "Z", name="x"),
            declared("brand", "JIRA", "Z", name="x", client_id="C"),
        ),
        (),
        [
            ("create", "client MICROSOFT_DYNAMICS/Z"),
            ("create", "client SALESFORCE/A"),
            ("create", "client SALESFORCE/B"),
            ("create", "brand JIRA/Z"),
            ("create", "product MICROSOFT_DYNAMICS/A"),
        ],
    ),
    (
        "renamed client is an update",
        (declared("client", SF, "ACC-1", name="Acme Corp"),),
        (ACME_REC,),
        [("update", "client SALESFORCE/ACC-1")],
    ),
    (
        "brand moved to another client must be replaced",
        (declared("brand", SF, "BR-1", name="Acme Premium", client_id="ACC-2"),),
        (BRAND_REC,),
        [("replace", "brand SALESFORCE/BR-1")],
    ),
    (
        "product moved to another brand must be replaced",
        (declared("product", SF, "P-1", name="Widget", client_id="ACC-1", brand_id="BR-2"),),
        (PRODUCT_REC,),
        [("replace", "product SALESFORCE/P-1")],
    ),
    (
        "same id in two sources are two entities",
        (declared("client", MD, "ACC-1", name="Acme"), ACME),
        (ACME_REC,),
        [("create", "client MICROSOFT_DYNAMICS/ACC-1")],
    ),
]


@pytest.mark.parametrize(
    ("desired", "records", "expected"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_plan_changes_in_apply_order(
    desired: tuple[Declared, ...], records: tuple[Record, ...], expected: list[tuple[str, str]]
) -> None:
    plan = build_plan(desired_of(*desired), state_of(*records))
    assert [(c.action.value, str(c.key)) for c in plan.changes] == expected


def test_update_lists_each_field_before_and_after() -> None:
    recorded_client = recorded("client", SF, "ACC-1", 100, name="Acme", phone="1", website="w")
    declared_client = declared(
        "client", SF, "ACC-1", name="Acme Corp", phone="1", email_contact="e"
    )
    (change,) = build_plan(desired_of(declared_client), state_of(recorded_client)).changes
    assert change.action is Action.UPDATE
    assert change.cor_id == 100
    assert change.diffs == (
        FieldChange("email_contact", None, "e"),
        FieldChange("name", "Acme", "Acme Corp"),
        FieldChange("website", "w", None),
    )
    # The PUT carries only what changed; a removed optional field is cleared with None.
    assert update_fields(change) == {"email_contact": "e", "name": "Acme Corp", "website": None}


def test_replace_names_the_immutable_field() -> None:
    moved = declared("product", SF, "P-1", name="Gadget", client_id="ACC-1", brand_id="BR-2")
    (change,) = build_plan(desired_of(moved), state_of(PRODUCT_REC)).changes
    assert change.action is Action.REPLACE
    assert [d.field for d in change.immutable_diffs] == ["brand_id"]
    assert [d.field for d in change.diffs] == ["brand_id", "name"]


def test_recorded_but_not_declared_is_kept_not_deleted() -> None:
    plan = build_plan(desired_of(ACME), state_of(ACME_REC, BRAND_REC, PRODUCT_REC))
    assert plan.changes == ()
    assert [str(r.key) for r in plan.not_declared] == [
        "brand SALESFORCE/BR-1",
        "product SALESFORCE/P-1",
    ]
    summary = plan.summary
    assert (summary.create, summary.update, summary.delete, summary.not_declared) == (0, 0, 0, 2)
    assert summary.changes == 0


def test_summary_counts_each_action() -> None:
    desired = desired_of(
        declared("client", SF, "ACC-1", name="Renamed"),
        declared("brand", SF, "BR-1", name="Acme Premium", client_id="ACC-9"),
        PRODUCT,
    )
    summary = build_plan(desired, state_of(ACME_REC, BRAND_REC)).summary
    assert (summary.create, summary.update, summary.replace, summary.delete) == (1, 1, 1, 0)
    assert summary.changes == 3


def test_in_doubt_creates_are_marked_and_undeclared_ones_listed() -> None:
    lost = key_of("client", SF, "GONE")
    plan = build_plan(desired_of(ACME, BRAND), {}, in_doubt={ACME.key, lost})
    assert [(str(c.key), c.in_doubt) for c in plan.changes] == [
        ("client SALESFORCE/ACC-1", True),
        ("brand SALESFORCE/BR-1", False),
    ]
    assert plan.in_doubt_not_declared == (lost,)
    # An in-doubt key that is recorded is settled: nothing to report.
    assert build_plan({}, state_of(ACME_REC), in_doubt={ACME.key}).in_doubt_not_declared == ()


def test_prune_deletes_in_reverse_order_and_keeps_protected_records() -> None:
    state = state_of(
        recorded("client", "VBS", "C9", 1, name="x"),
        recorded("brand", "VBS", "B9", 2, name="x", client_id="C9"),
        recorded("product", "VBS", "P9", 3, name="x", client_id="C9", brand_id="B9"),
        recorded("product", "VBS", "P8", 4, name="x", client_id="C9", brand_id="B9"),
    )
    protected = state_of(*state.values())
    protected[key_of("product", "VBS", "P8")] = recorded(
        "product", "VBS", "P8", 4, name="x", client_id="C9", brand_id="B9"
    ).__class__(key_of("product", "VBS", "P8"), 4, {"name": "x"}, protected=True)
    plan = build_plan(
        desired_of(declared("client", "VBS", "C1", name="new")), protected, prune=True
    )
    assert [(c.action.value, str(c.key)) for c in plan.changes] == [
        ("create", "client VBS/C1"),
        ("delete", "product VBS/P9"),
        ("delete", "brand VBS/B9"),
        ("delete", "client VBS/C9"),
    ]
    assert [str(r.key) for r in plan.not_declared] == ["product VBS/P8"]
    assert plan.summary.delete == 3
    unpruned = build_plan({}, state)
    assert all(c.action is not Action.DELETE for c in unpruned.changes)
    assert len(unpruned.not_declared) == 4
