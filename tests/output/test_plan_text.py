"""The plan as text (output/plan_text.py): a golden file for a mixed case, and its rules."""

from __future__ import annotations

from collections.abc import Callable

from reconciler.core.plan import build_plan
from reconciler.output.plan_json import render_json
from reconciler.output.plan_text import render_text
from tests.output.plans import mixed_plan


def test_text_plan_matches_golden(golden: Callable[[str, str], None]) -> None:
    golden("mixed/plan.txt", render_text(mixed_plan()))


def test_outputs_are_byte_identical_across_runs() -> None:
    assert render_text(mixed_plan()) == render_text(mixed_plan())
    assert render_json(mixed_plan()) == render_json(mixed_plan())


def test_text_plan_last_line_counts_changes() -> None:
    last = render_text(mixed_plan()).splitlines()[-1]
    assert last == "Plan: 3 to create, 2 to update, 0 to delete."


def test_user_text_cannot_fake_a_line() -> None:
    text = render_text(mixed_plan())
    assert '    name: "Old" → "New \\"quoted\\" name\\nwith a newline"' in text.splitlines()


def test_no_changes() -> None:
    assert render_text(build_plan({}, {})) == "No changes.\n"


def test_colour_only_when_asked() -> None:
    plain, coloured = render_text(mixed_plan()), render_text(mixed_plan(), color=True)
    assert "\033[" not in plain
    assert "\033[32m+ create brand SALESFORCE/SF-BRAND-1\033[0m" in coloured
