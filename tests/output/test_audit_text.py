"""The audit as text (output/audit_text.py): one line per finding, colour when asked, the
summary line; and the goldens of every format (text, JSON, Markdown) of the same audits."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from reconciler.core.audit import Category, Finding, ReadError, audit_offline, build_audit
from reconciler.output.audit_json import render_audit_json
from reconciler.output.audit_markdown import render_audit_markdown
from reconciler.output.audit_text import audit_summary, error_line, render_audit_text
from tests.audit_samples import ACME, BRAND_R, PROD_R
from tests.builders import declared, desired_of, key, state_of
from tests.output.audits import mixed_audit


def test_goldens(golden: Callable[[str, str], None]) -> None:
    audit = mixed_audit()
    golden("audit-mixed/audit.txt", render_audit_text(audit))
    golden("audit-mixed/audit.json", render_audit_json(audit))
    golden("audit-mixed/audit.md", render_audit_markdown(audit, paths=["manifests", "a--b"]))


def test_offline_goldens(golden: Callable[[str, str], None]) -> None:
    desired = desired_of(ACME, declared("brand", "SF", "B1", name="Brand 2", client_id="C1"))
    records = state_of(BRAND_R, PROD_R)
    audit = build_audit(audit_offline(desired, records, {key("client", "SF", "C3")}))
    golden("audit-offline/audit.txt", render_audit_text(audit))
    golden("audit-offline/audit.json", render_audit_json(audit))
    golden("audit-offline/audit.md", render_audit_markdown(audit, paths=["manifests"]))


def test_output_is_deterministic() -> None:
    audit = mixed_audit()
    shuffled = build_audit(reversed(audit.findings), reversed(audit.errors), remote=True)
    for render in (render_audit_text, render_audit_json):
        assert render(audit) == render(shuffled)


def test_one_line_per_finding_whatever_the_text() -> None:
    text = render_audit_text(mixed_audit())
    lines = text.splitlines()
    audit = mixed_audit()
    headings = len({f.category for f in audit.findings}) + 1  # + read failed
    assert len(lines) == len(audit.findings) + len(audit.errors) + headings + 1
    assert '"odd id\\n2"' in text
    assert lines[-1] == "Audit: 11 disagreements; 1 record could not be read."


def test_colour_only_when_asked() -> None:
    assert "\033[" not in render_audit_text(mixed_audit())
    assert "\033[31mdrift in COR: renamed (1):\033[0m" in render_audit_text(
        mixed_audit(), color=True
    )


@pytest.mark.parametrize(
    ("findings", "errors", "line"),
    [
        (0, 0, "Audit: all agree."),
        (1, 0, "Audit: 1 disagreement."),
        (1200, 0, "Audit: 1,200 disagreements."),
        (0, 2, "Audit: 0 disagreements; 2 records could not be read."),
    ],
)
def test_summary_line(findings: int, errors: int, line: str) -> None:
    audit = build_audit(
        [Finding(Category.NOT_APPLIED, key("client", "SF", str(i))) for i in range(findings)],
        [ReadError(key("client", "SF", str(i)), i, "x") for i in range(errors)],
    )
    assert audit_summary(audit) == line


def test_cor_message_cannot_act_on_the_terminal() -> None:
    """COR's message is one line (whitespace collapsed) with every unsafe character escaped."""
    error = ReadError(key("client", "SAP", "C\u202e"), 9, "400 Bad\x1b]0;t\x07:\n forged\x9b2J")
    assert (
        error_line(error)
        == 'client SAP/"C\\u202e" (cor_id 9): 400 Bad\\x1b]0;t\\x07: forged\\x9b2J'
    )
