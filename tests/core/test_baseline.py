"""Which changes of a pull request's plan its base branch's plan holds (core/baseline.py)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from reconciler.core.baseline import mark_pending, split, unmarked
from reconciler.core.plan import Plan, build_plan
from reconciler.core.resources import Declared
from tests.builders import declared, desired_of, recorded, state_of

SF = "SALESFORCE"
STATE = state_of(
    recorded("client", SF, "C1", 1, name="Acme"),
    recorded("client", SF, "C2", 2, name="Globex"),
    recorded("client", SF, "OLD", 3, name="Gone"),
)
C1, C2 = declared("client", SF, "C1", name="Acme"), declared("client", SF, "C2", name="Globex")


def plan_of(*entities: Declared) -> Plan:
    return build_plan(desired_of(*entities), STATE, prune=True)


def pending_ids(pr: Plan, base: Plan) -> dict[str, bool]:
    return {change.key.id: change.pending_on_base for change in mark_pending(pr, base).changes}


RENAMED = declared("client", SF, "C1", name="Acme Corp")
NEW = declared("client", SF, "C3", name="Initech")
OLD = declared("client", SF, "OLD", name="Gone")


@pytest.mark.parametrize(
    ("base", "pr", "expected"),
    [
        pytest.param(
            (C1, C2, OLD),
            (C1, C2, NEW),
            {"C3": False, "OLD": False},
            id="nothing-pending-on-base",
        ),
        pytest.param(
            (C1, C2, NEW), (C1, C2, NEW), {"C3": True, "OLD": True}, id="the-base-has-it-all"
        ),
        pytest.param(
            (RENAMED, C2, NEW),
            (RENAMED, C2, NEW, declared("client", SF, "C4", name="Umbrella")),
            {"C1": True, "C3": True, "C4": False, "OLD": True},
            id="backlog-and-new",
        ),
        pytest.param(
            (C1, C2, NEW),
            (C1, C2, declared("client", SF, "C3", name="Initech Ltd")),
            {"C3": False, "OLD": True},
            id="a-pending-create-altered-is-ours",
        ),
        pytest.param(
            (declared("client", SF, "C1", name="Acme Inc"), C2),
            (RENAMED, C2),
            {"C1": False, "OLD": True},
            id="another-update-of-the-same-record-is-ours",
        ),
        pytest.param(
            (C1, C2, OLD),
            (C1, C2),
            {"OLD": False},
            id="a-delete-the-base-does-not-plan-is-ours",
        ),
    ],
)
def test_a_change_is_pending_when_the_base_plans_the_same(
    base: tuple[Declared, ...], pr: tuple[Declared, ...], expected: dict[str, bool]
) -> None:
    assert pending_ids(plan_of(*pr), plan_of(*base)) == expected


def test_the_same_key_with_another_action_is_ours() -> None:
    """The same key and attributes, but created in one plan and updated in the other."""
    state = state_of(recorded("client", SF, "C9", 9, name="Old"))
    base = build_plan(desired_of(declared("client", SF, "C9", name="New")), {})
    pr = build_plan(desired_of(declared("client", SF, "C9", name="New")), state)
    assert [c.pending_on_base for c in mark_pending(pr, base).changes] == [False]


def test_marks_are_set_again_not_kept() -> None:
    pr = plan_of(C1, C2, NEW)
    marked = replace(pr, changes=tuple(replace(c, pending_on_base=True) for c in pr.changes))
    assert not any(c.pending_on_base for c in mark_pending(marked, plan_of(C1, C2, OLD)).changes)


def test_split_keeps_the_apply_order_of_each_part() -> None:
    pr = mark_pending(plan_of(RENAMED, C2, NEW), plan_of(RENAMED, C2))
    ours, pending = split(pr.changes)
    assert [c.key.id for c in ours] == ["C3"]
    assert [(c.action.value, c.key.id) for c in pending] == [("update", "C1"), ("delete", "OLD")]


def test_unmarked_clears_every_mark_and_keeps_the_rest() -> None:
    document = {"changes": [{"id": "C1", "pending_on_base": True}], "format_version": 1}
    assert unmarked(document) == {
        "changes": [{"id": "C1", "pending_on_base": False}],
        "format_version": 1,
    }
    assert document["changes"] == [{"id": "C1", "pending_on_base": True}]  # not changed
