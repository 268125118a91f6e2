"""Deletion limits (core/limits.py): no single command deletes more than the user allowed.

The end-to-end side (`--prune`, `--force`, protection, DeletionError) is in
tests/cli/test_apply_command.py.
"""

from __future__ import annotations

import re

import pytest

from reconciler.core.limits import (
    DeletionLimits,
    PlanOptions,
    deletion_violations,
    make_plan,
    parse_limits,
)
from reconciler.core.plan import Plan, build_plan
from reconciler.core.resources import Kind
from reconciler.errors import UsageError
from tests.builders import declared, desired_of, recorded, state_of


@pytest.mark.parametrize(
    ("recorded_products", "deleting", "limits", "expected"),
    [
        (100, 25, DeletionLimits(), []),
        (
            100,
            26,
            DeletionLimits(),
            ["26 of the 100 recorded products to delete (26%), more than 25%"],
        ),
        (9, 9, DeletionLimits(), []),  # too few recorded for the share limit
        (
            1000,
            101,
            DeletionLimits(),
            [
                "101 products to delete, more than the limit of 100",
            ],
        ),
        (100, 30, parse_limits(["product=50"], []), []),
        (
            100,
            30,
            parse_limits([], ["20"]),
            [
                "30 products to delete, more than the limit of 20",
                "30 of the 100 recorded products to delete (30%)",
            ],
        ),
    ],
)
def test_deletion_limits(
    recorded_products: int, deleting: int, limits: DeletionLimits, expected: list[str]
) -> None:
    records = [
        recorded("product", "VBS", f"P{i}", i, name="x", client_id="C", brand_id="B")
        for i in range(recorded_products)
    ]
    kept = [declared("product", "VBS", r.key.id, **r.attributes) for r in records[deleting:]]
    plan = build_plan(desired_of(*kept), state_of(*records), prune=True)
    found = deletion_violations(plan, [r.key for r in records], len(kept) or 1, limits)
    assert len(found) == len(expected)
    for problem, start in zip(found, expected, strict=True):
        assert problem.startswith(start), problem


def test_declaring_nothing_while_the_state_holds_records_is_refused() -> None:
    records = [recorded("client", "VBS", "C1", 1, name="x")]
    plan = build_plan({}, state_of(*records), prune=True)
    (problem,) = deletion_violations(plan, [r.key for r in records], 0, DeletionLimits())
    assert problem.startswith("the manifests declare nothing, yet the state holds 1 records")


@pytest.mark.parametrize("text", ["many", "widget=3", "product=-1", "product=1.5"])
def test_bad_limits_are_usage_errors(text: str) -> None:
    with pytest.raises(UsageError):
        parse_limits([], [text])
    assert parse_limits(["brand=10"], []).share[Kind.BRAND] == 10


def test_a_plan_of_some_sources_holds_only_their_records() -> None:
    """--source: what is declared, recorded and pruned, of those sources only; references
    never cross a source, so nothing else is needed."""
    desired = desired_of(
        declared("client", "SAP", "C1", name="New"),
        declared("client", "OKTA", "O1", name="Other"),
    )
    records = state_of(
        recorded("client", "SAP", "GONE", 1, name="Old"),
        recorded("client", "OKTA", "GONE", 2, name="Old"),
    )
    plan = make_plan(desired, records, frozenset(), PlanOptions(prune=True, sources=("SAP",)))
    assert [(c.action.value, str(c.key)) for c in plan.changes] == [
        ("create", "client SAP/C1"),
        ("delete", "client SAP/GONE"),
    ]
    everything = make_plan(desired, records, frozenset(), PlanOptions(prune=True))
    assert len(everything.changes) == 4


def test_a_source_with_no_record_is_a_usage_error() -> None:
    desired = desired_of(declared("client", "SAP", "C1", name="New"))
    with pytest.raises(UsageError, match="--source OKTA: no record of this source"):
        make_plan(desired, {}, frozenset(), PlanOptions(sources=("SAP", "OKTA")))


def _changes(plan: Plan) -> list[tuple[str, str, str | None]]:
    return [
        (c.action.value, str(c.key), None if c.needed_by is None else str(c.needed_by))
        for c in plan.changes
    ]


def test_a_target_brings_the_parents_it_needs_and_says_why() -> None:
    desired = desired_of(
        declared("client", "SAP", "C1", name="C"),
        declared("brand", "SAP", "B1", name="B", client_id="C1"),
        declared("product", "SAP", "P1", name="P", client_id="C1", brand_id="B1"),
        declared("product", "SAP", "P2", name="Other", client_id="C1", brand_id="B1"),
        declared("client", "SAP", "C2", name="Renamed"),
    )
    records = state_of(recorded("client", "SAP", "C2", 2, name="Old"))
    options = PlanOptions(targets=("product SAP/P1", "client SAP/C2"))
    assert _changes(make_plan(desired, records, frozenset(), options)) == [
        ("create", "client SAP/C1", "product SAP/P1"),  # it names its client as well
        ("update", "client SAP/C2", None),
        ("create", "brand SAP/B1", "product SAP/P1"),
        ("create", "product SAP/P1", None),
    ]


def test_a_recorded_parent_is_not_brought_along() -> None:
    desired = desired_of(
        declared("client", "SAP", "C1", name="Changed"),
        declared("brand", "SAP", "B1", name="B", client_id="C1"),
    )
    records = state_of(recorded("client", "SAP", "C1", 1, name="C"))
    options = PlanOptions(targets=("brand SAP/B1",))
    assert _changes(make_plan(desired, records, frozenset(), options)) == [
        ("create", "brand SAP/B1", None),
    ]


def test_a_deleted_target_brings_its_deleted_dependants_first() -> None:
    records = state_of(
        recorded("client", "SAP", "C1", 1, name="C"),
        recorded("brand", "SAP", "B1", 2, name="B", client_id="C1"),
        recorded("brand", "SAP", "B2", 3, name="Kept", client_id="C9"),
    )
    options = PlanOptions(prune=True, force=True, targets=("client SAP/C1",))
    plan = make_plan({}, records, frozenset(), options)
    assert _changes(plan) == [
        ("delete", "brand SAP/B1", "client SAP/C1"),
        ("delete", "client SAP/C1", None),
    ]
    assert plan.not_declared == ()


@pytest.mark.parametrize(
    ("target", "says"),
    [
        ("client SAP/NOPE", "--target client SAP/NOPE: no such record"),
        ("client", "--target: 'client' is not an address"),
        ("planet SAP/X", "'planet' is not a kind"),
    ],
)
def test_a_target_that_names_nothing_is_a_usage_error(target: str, says: str) -> None:
    desired = desired_of(declared("client", "SAP", "C1", name="C"))
    with pytest.raises(UsageError, match=re.escape(says)):
        make_plan(desired, {}, frozenset(), PlanOptions(targets=(target,)))
