"""The plan as text (output/plan_text.py): a golden file for a mixed case, and its rules."""

from __future__ import annotations

import json
from collections.abc import Callable

from reconciler.core.plan import build_plan
from reconciler.output.plan_json import render_json
from reconciler.output.plan_text import render_text
from tests.builders import declared, desired_of, key, recorded, state_of
from tests.output.plans import mixed_plan


def test_text_plan_matches_golden(golden: Callable[[str, str], None]) -> None:
    golden("mixed/plan.txt", render_text(mixed_plan()))


def test_outputs_are_byte_identical_across_runs() -> None:
    assert render_text(mixed_plan()) == render_text(mixed_plan())
    assert render_json(mixed_plan()) == render_json(mixed_plan())


def test_text_plan_last_line_counts_changes() -> None:
    last = render_text(mixed_plan()).splitlines()[-1]
    assert last == "Plan: 3 to create, 2 to update, 1 to replace, 0 to delete."


def test_user_text_cannot_fake_a_line() -> None:
    text = render_text(mixed_plan())
    assert '    name: "Old" → "New \\"quoted\\" name\\nwith a newline"' in text.splitlines()


def test_no_changes() -> None:
    assert render_text(build_plan({}, {})) == "No changes.\n"


def test_colour_only_when_asked() -> None:
    plain, coloured = render_text(mixed_plan()), render_text(mixed_plan(), color=True)
    assert "\033[" not in plain
    assert "\033[32m+ create brand SALESFORCE/SF-BRAND-1\033[0m" in coloured


def test_an_id_cannot_act_on_the_terminal_nor_fake_a_line() -> None:
    """Ids and sources are escaped where unsafe (`core/text.printable`); values JSON-quoted,
    with C1, bidi and invisible characters escaped too."""
    desired = desired_of(
        declared("client", "SAP", "A\x1b]0;title\x07", name="N\x9b2J\u202e"),
        declared("client", "SAP", "B\nNo changes.\n", name="N"),
    )
    state = state_of(recorded("brand", "SAP", "K\x1b[2J", 7, name="B", client_id="A"))
    text = render_text(build_plan(desired, state, {key("product", "SAP", "D\u200b")}))
    assert text.splitlines() == [
        "+ create client SAP/A\\x1b]0;title\\x07",
        '    name: "N\\u009b2J\\u202e"',
        "+ create client SAP/B\\nNo changes.\\n",
        '    name: "N"',
        "  not declared — kept: brand SAP/K\\x1b[2J (cor_id 7)",
        "  in doubt, not declared: product SAP/D\\u200b: an earlier apply may have created it in "
        "COR; declare it again and apply to adopt it",
        "Plan: 2 to create, 0 to update, 0 to delete.",
    ]


def test_a_record_kept_by_its_protection_says_so_in_text_and_json() -> None:
    """A pruning plan keeps a protected record it would otherwise delete; every output says
    why (issue 11: protection is visible)."""
    state = state_of(
        recorded("client", "SAP", "C1", 5, name="Kept")._replace(protected=True),
        recorded("client", "SAP", "C2", 6, name="Gone"),
    )
    plan = build_plan({}, state, prune=True)
    text = render_text(plan)
    assert "  not declared — kept: client SAP/C1 (cor_id 5; protected)" in text.splitlines()
    assert "- delete client SAP/C2" in text
    kept = json.loads(render_json(plan))["not_declared"]
    assert [(k["id"], k["protected"]) for k in kept] == [("C1", True)]
