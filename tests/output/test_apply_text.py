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
        "Apply complete: 1 created, 0 updated, 0 deleted, 1 failed, 0 in doubt, 1 skipped.\n"
    )


def test_a_stopped_apply_lists_what_is_in_doubt_apart_from_what_was_not_attempted() -> None:
    plan = mixed_plan()
    sent, never = plan.changes[0], plan.changes[2]
    doubt = Result(sent, Outcome.IN_DOUBT, reason="POST /x: ReadTimeout (gave up after 5 attempts)")
    report = ApplyReport((doubt,), remaining=(never,), stopped_by="COR looks down: ...")
    assert render_result(doubt) == (
        "? in doubt client MICROSOFT_DYNAMICS/EXT-CLIENT-7: POST /x: ReadTimeout (gave up after 5 "
        "attempts)\n"
    )
    assert render_apply_summary(report) == (
        "1 change(s) in doubt (sent; not known to be done):\n"
        "  update client MICROSOFT_DYNAMICS/EXT-CLIENT-7: the next apply sends it again\n"
        "1 change(s) not attempted:\n"
        f"  {never.action.value} {never.key}\n"
        "Apply stopped: 0 created, 0 updated, 0 deleted, 0 failed, 1 in doubt, 0 skipped.\n"
    )
