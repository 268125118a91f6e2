"""The audit as a pull-request comment (output/audit_markdown.py): user text stays inside
fences, and the comment never exceeds its limit."""

from __future__ import annotations

import pytest

from reconciler.core.audit import Audit, Category, Finding, ReadError, build_audit
from reconciler.core.text import UNSAFE
from reconciler.output.audit_markdown import render_audit_markdown
from reconciler.output.comment import COMMENT_LIMIT
from tests.builders import key
from tests.output.audits import mixed_audit


def outside_fences(markdown: str) -> str:
    """The Markdown with every fenced block removed: what GitHub renders as Markdown."""
    kept, fence = [], ""
    for line in markdown.splitlines():
        if fence:
            fence = "" if line == fence else fence
        elif line.startswith("```"):
            fence = line
        else:
            kept.append(line)
    return "\n".join(kept)


def test_markdown_keeps_user_text_inside_fences() -> None:
    text = render_audit_markdown(mixed_audit(), paths=["x --> <b>"])
    rendered = outside_fences(text)
    for needle in ("Evil", "<img", "odd id", "SF-ACC-1", "503"):
        assert needle not in rendered
    assert rendered.count("</details>") == 10  # the one in a name stays in its fence
    assert text.splitlines()[0] == "<!-- reconciler:audit manifests=x%20%2D-%3E%20%3Cb%3E -->"


def many_findings(count: int) -> Audit:
    """Built directly, so 100,000 findings stay fast."""
    return build_audit(
        [Finding(Category.NOT_APPLIED, key("client", "SF", f"C{i:06}")) for i in range(count)]
        + [Finding(Category.DELETED, key("product", "SF", "P1"), 52001)],
        remote=True,
    )


def test_100_000_findings_stay_within_the_comment_limit() -> None:
    text = render_audit_markdown(many_findings(100_000), paths=["manifests"], artifacts_hint="ART")
    assert len(text) <= COMMENT_LIMIT
    assert len(text) > COMMENT_LIMIT - 200  # the room is used, not wasted
    assert text.startswith("<!-- reconciler:audit manifests=manifests -->\n")
    assert "### reconciler audit: 100,001 disagreements\n" in text
    assert "| declared, never applied | 100,000 | 0 | 0 |\n" in text
    assert "| drift in COR: deleted | 0 | 0 | 1 |\n" in text
    assert "product SF/P1 (cor_id 52001): not found in COR\n" in text  # drift first
    shown = text.count("\nclient SF/C")
    assert f"\n… and {100_000 - shown:,} more; ART\n" in text


@pytest.mark.parametrize("limit", [1_500, 1_700, 2_000, 3_000, 5_000, 20_000])
def test_markdown_never_exceeds_the_limit(limit: int) -> None:
    audit = mixed_audit()
    text = render_audit_markdown(audit, paths=["manifests"], limit=limit)
    assert len(text) <= limit
    assert "| drift in COR: deleted | 0 | 0 | 1 |" in text
    full = render_audit_markdown(audit, paths=["manifests"])
    assert (text == full) == (limit >= len(full))


def test_markdown_when_not_even_the_frames_fit() -> None:
    audit = mixed_audit()
    head = render_audit_markdown(audit, paths=["m"]).split("<details>")[0]
    text = render_audit_markdown(audit, paths=["m"], limit=len(head) + 120)
    assert "Details left out to fit the comment limit" in text
    with pytest.raises(ValueError, match="too small"):
        render_audit_markdown(audit, paths=["m"], limit=100)


def test_hostile_ids_and_messages_stay_inside_fences() -> None:
    """Ids, sources, references and COR's messages holding a fence, `</details>`, HTML, a
    table pipe or terminal controls: shown quoted or escaped, in fences no line closes."""
    hostile = "ZQX```\n</details>\n<img src=x> | a |\x1b]0;t\x07\u202e"
    audit = build_audit(
        [
            Finding(Category.NOT_APPLIED, key("client", "SAP", hostile)),
            Finding(Category.DELETED, key("brand", hostile, "B-1"), 3),
            Finding(Category.IN_DOUBT, key("product", "SAP", hostile), declared=False),
        ],
        [ReadError(key("client", "SAP", "C-1"), 4, hostile)],
        remote=True,
    )
    text = render_audit_markdown(audit, paths=["manifests"])
    assert "ZQX" not in outside_fences(text)
    assert UNSAFE.search(text.replace("\n", "")) is None
    assert outside_fences(text).count("</details>") == 4
    assert '\nclient SAP/"ZQX```\\n</details>\\n<img src=x> | a |\\u001b]0;t\\u0007\\u202e"' in text
    assert "C-1 (cor_id 4): ZQX```\\n</details>" not in text  # the message: one line, escaped
    assert "C-1 (cor_id 4): ZQX``` </details> <img src=x> | a |\\x1b]0;t\\x07\\u202e" in text
