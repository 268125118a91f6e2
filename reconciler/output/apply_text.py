"""What apply and import did, as text: one line per settled change, then a summary.

Pure (`outcomes → render`): functions from results and reports to strings; colour is a
parameter. Imports core values, `actions.outcomes` (plain values) and `output.style` only.
"""

from __future__ import annotations

from reconciler.actions.outcomes import ApplyReport, ImportReport, Outcome, Result, next_apply
from reconciler.output.style import paint

_OUTCOME_STYLE = {
    Outcome.CREATED: ("+", "green"),
    Outcome.ADOPTED: ("+", "green"),
    Outcome.UPDATED: ("~", "yellow"),
    Outcome.DELETED: ("-", "red"),
    Outcome.FAILED: ("x", "red"),
    Outcome.IN_DOUBT: ("?", "yellow"),
    Outcome.SKIPPED: ("-", "dim"),
    Outcome.NOT_FOUND: ("?", "dim"),
}


def render_result(result: Result, *, color: bool = False) -> str:
    """One line of the apply diff, printed as the change happens."""
    symbol, colour = _OUTCOME_STYLE[result.outcome]
    line = f"{symbol} {result.outcome.value} {result.change.key}"
    if result.cor_id is not None:
        line += f" (cor_id {result.cor_id})"
    if result.reason:
        line += f": {result.reason}"
    return paint(line, colour, color) + "\n"


def render_apply_summary(report: ApplyReport) -> str:
    """What was in doubt (sent, outcome unknown) and not attempted (never sent), then the
    counts, always the same six fields in the same order (a script may parse the line)."""
    lines = []
    if report.in_doubt:
        lines.append(f"{len(report.in_doubt)} change(s) in doubt (sent; not known to be done):")
        lines.extend(
            f"  {result.change.action.value} {result.change.key}: {next_apply(result.change)}"
            for result in report.in_doubt
        )
    if report.remaining:
        lines.append(f"{len(report.remaining)} change(s) not attempted:")
        lines.extend(f"  {change.action.value} {change.key}" for change in report.remaining)
    created = report.count(Outcome.CREATED, Outcome.ADOPTED)
    state = "interrupted" if report.interrupted else "stopped" if report.stopped_by else "complete"
    lines.append(
        f"Apply {state}: {created} created, {report.count(Outcome.UPDATED)} updated, "
        f"{report.count(Outcome.DELETED)} deleted, {report.count(Outcome.FAILED)} failed, "
        f"{len(report.in_doubt)} in doubt, {report.count(Outcome.SKIPPED)} skipped."
    )
    return "".join(line + "\n" for line in lines)


def render_import_summary(report: ImportReport) -> str:
    lines = [f"  not attempted: {change.key}" for change in report.not_attempted]
    doubt = report.count(Outcome.IN_DOUBT)
    lines.append(
        f"Import {'stopped' if report.stopped_by else 'complete'}: "
        f"{report.count(Outcome.ADOPTED)} adopted, {report.count(Outcome.NOT_FOUND)} not found, "
        f"{report.count(Outcome.FAILED)} failed" + (f", {doubt} in doubt." if doubt else ".")
    )
    return "".join(line + "\n" for line in lines)
