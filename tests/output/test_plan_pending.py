"""The plan's two parts with a base (`plan --base-ref`): this pull request's changes first, then
those already pending on the base, in text, JSON and Markdown; the Markdown within its limit,
the base's details trimmed before the pull request's."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from reconciler.core.plan import Plan, build_plan
from reconciler.output.plan_json import render_json
from reconciler.output.plan_markdown import render_markdown
from reconciler.output.plan_text import PENDING_HEADING, render_text
from tests.builders import declared, desired_of

SF = "SALESFORCE"


def plan_with(ours: int, pending: int) -> Plan:
    """`ours` creates C-0…, then `pending` creates P-0…, the latter marked pending."""
    clients = [declared("client", SF, f"C-{i:04d}", name=f"Client {i}") for i in range(ours)]
    clients += [declared("client", SF, f"P-{i:04d}", name=f"Pending {i}") for i in range(pending)]
    plan = build_plan(desired_of(*clients), {})
    return replace(
        plan,
        changes=tuple(replace(c, pending_on_base=c.key.id.startswith("P-")) for c in plan.changes),
    )


def test_text_shows_ours_then_pending_and_both_counts() -> None:
    text = render_text(plan_with(2, 1))
    assert text.index("C-0001") < text.index(PENDING_HEADING) < text.index("P-0000")
    assert text.endswith(
        "Plan: 3 to create, 0 to update, 0 to delete.\nOf these, this pull request: 2 to create, "
        "0 to update, 0 to delete; already pending on the base branch: 1 to create, 0 to "
        "update, 0 to delete.\n"
    )


def test_text_when_everything_is_pending() -> None:
    assert render_text(plan_with(0, 1)).startswith("Changes this pull request makes: none\n")


def test_json_marks_every_change() -> None:
    changes = json.loads(render_json(plan_with(1, 1)))["changes"]
    assert [(c["id"], c["pending_on_base"]) for c in changes] == [
        ("C-0000", False),
        ("P-0000", True),
    ]


@pytest.mark.parametrize("limit", [3_000, 6_000, 20_000, 65_536])
def test_markdown_fits_and_trims_the_base_first(limit: int) -> None:
    markdown = render_markdown(plan_with(40, 2000), paths=("manifests",), limit=limit)
    assert len(markdown) <= limit
    ours, pending = markdown.split(f"#### {PENDING_HEADING}\n")
    assert "**This pull request**: 40 to create" in ours
    if "C-0039" in ours:  # ours shown whole before anything of the base
        assert "… and" not in ours
    else:
        assert "P-0000" not in pending
    assert "P-1999" not in pending  # 2,000 never fit: left out, and said so
    assert "… and" in pending or "Details left out" in pending


def test_markdown_with_room_for_all_shows_all() -> None:
    markdown = render_markdown(plan_with(2, 2), paths=("manifests",))
    ours, pending = markdown.split(f"#### {PENDING_HEADING}\n")
    assert "C-0000" in ours
    assert "C-0001" in ours
    assert "P-0001" in pending
    assert "P-0000" not in ours


def test_markdown_when_everything_is_pending() -> None:
    markdown = render_markdown(plan_with(0, 1), paths=("manifests",))
    assert "#### Changes this pull request makes\n\nNone.\n" in markdown
