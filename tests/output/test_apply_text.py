"""What apply prints (output/apply_text.py): a line per record, and the summary."""

from __future__ import annotations

from reconciler.actions.outcomes import ApplyReport, Outcome, Result
from reconciler.output.apply_text import render_apply_summary, render_result
from tests.output.plans import mixed_plan


def test_apply_lines_and_summary() -> None:
    plan = mixed_plan()
    created, updated = plan.changes[0], plan.changes[1]
    results = (
        Result(created, Outcome.CREATED, 25855),
        Result(updated, Outcome.FAILED, reason="PUT /x: 400 ValidationError: bad"),
        Result(plan.changes[2], Outcome.SKIPPED, reason="depends on client X, which failed"),
    )
    assert (
        render_result(results[0])
        == "+ created client MICROSOFT_DYNAMICS/EXT-CLIENT-7 (cor_id 25855)\n"
    )
    assert render_result(results[1]).startswith("x failed client SALESFORCE/SF-ACC-1: PUT /x: 400")
    assert render_apply_summary(ApplyReport(results)) == (
        "Apply complete: 1 created, 0 updated, 1 failed, 1 skipped.\n"
    )
