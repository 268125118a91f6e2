"""The documentation's links: every relative link of README.md and docs/*.md names a file of
the repository, and every `#anchor` a heading of its page, as GitHub spells anchors.

So a heading renamed in docs/cli.md (whose reference part is generated) or a page moved breaks
a test, not a reader's click; and no page points outside the repository (it must be
self-contained: a link such as `../shared/cor-api.md` from docs/ is refused).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])

_LINK = re.compile(r"(?<!!)\[[^\]\n]*\]\(([^)\s]+)\)")
_FENCE = re.compile(r"^(```|~~~)")
_HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$")
_CODE_SPAN = re.compile(r"`[^`]*`")


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def prose_lines(text: str) -> list[str]:
    """The lines of a Markdown page outside fenced code blocks."""
    lines, fenced = [], False
    for line in text.splitlines():
        if _FENCE.match(line.lstrip()):
            fenced = not fenced
        elif not fenced:
            lines.append(line)
    return lines


def anchors(page: Path) -> set[str]:
    """Every anchor of a page: its headings' slugs, repeated ones numbered (-1, -2) as GitHub."""
    found: set[str] = set()
    seen: dict[str, int] = {}
    for line in prose_lines(page.read_text(encoding="utf-8")):
        heading = _HEADING.match(line)
        if heading:
            base = slug(heading[1])
            count = seen.get(base, 0)
            seen[base] = count + 1
            found.add(base if count == 0 else f"{base}-{count}")
    return found


def links(page: Path) -> list[str]:
    """The link targets of a page's prose (not those shown inside code)."""
    return [
        target
        for line in prose_lines(page.read_text(encoding="utf-8"))
        for target in _LINK.findall(_CODE_SPAN.sub("", line))
    ]


def broken(page: Path, target: str) -> str | None:
    """Why a link of `page` does not resolve, or None."""
    if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto:: not checked offline
        return None
    path_part, _, anchor = target.partition("#")
    destination = (page.parent / path_part).resolve() if path_part else page
    if not destination.is_relative_to(ROOT):
        return "points outside the repository"
    if not destination.exists():
        return "names no file of the repository"
    if anchor and destination.suffix == ".md" and anchor not in anchors(destination):
        return f"names no heading of {destination.relative_to(ROOT)}"
    return None


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_every_link_resolves(page: Path) -> None:
    problems = [f"{target}: {why}" for target in links(page) if (why := broken(page, target))]
    assert not problems, f"{page.relative_to(ROOT)}: broken links:\n" + "\n".join(problems)


def test_cli_md_anchors_linked_from_other_pages_exist() -> None:
    """The anchors other pages use in docs/cli.md (Refresh, Replace, Deletion, ...) exist."""
    cli_anchors = anchors(ROOT / "docs" / "cli.md")
    used = {
        target.partition("#")[2]
        for page in PAGES
        for target in links(page)
        if target.partition("#")[0].endswith("cli.md") and "#" in target
    }
    assert used, "no page links into docs/cli.md: the check below checks nothing"
    assert used <= cli_anchors, f"missing in docs/cli.md: {sorted(used - cli_anchors)}"


@pytest.mark.parametrize(
    ("heading", "anchor"),
    [
        ("Refresh: `plan --refresh`, `apply --refresh`", "refresh-plan---refresh-apply---refresh"),
        ("Replace: `--allow-replace`", "replace---allow-replace"),
        ("`reconciler audit [PATHS...]`", "reconciler-audit-paths"),
        ("When a run stops early", "when-a-run-stops-early"),
        ("Values are strings", "values-are-strings"),
    ],
)
def test_slug_spells_anchors_as_github(heading: str, anchor: str) -> None:
    assert slug(heading) == anchor


def test_a_link_outside_the_repository_is_broken() -> None:
    page = ROOT / "docs" / "emulator.md"
    assert broken(page, "../../shared/cor-api.md") == "points outside the repository"
    assert broken(page, "cli.md#no-such-heading") == "names no heading of docs/cli.md"
    assert broken(page, "cli.md#the-manifest-cache") is None


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_no_page_names_a_file_beside_the_repository(page: Path) -> None:
    """A path out of the repository, even in code (`../shared/cor-api.md`), is of no use to a
    reader of a clone: the contract is described in words, or a file of the repository named."""
    assert "../shared/" not in page.read_text(encoding="utf-8")
