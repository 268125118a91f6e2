"""The plan as a pull-request comment: goldens, the size budget, trimming order and escaping."""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import unquote

import pytest

from reconciler.core.plan import Action, Change, Plan, build_plan
from reconciler.core.resources import Kind, ResourceKey
from reconciler.output.comment import COMMENT_LIMIT
from reconciler.output.plan_markdown import plan_marker, render_markdown
from tests.builders import declared, desired_of, key, recorded, state_of
from tests.output.plans import mixed_plan

SF = "SALESFORCE"
PATHS = ("manifests",)
HOSTILE = ("</details>", "| x |", "```", "<!--", "-->", "<script>", "**bold**", "<b>", "\n")


def small_plan() -> Plan:
    desired = desired_of(
        declared("client", SF, "SF-ACC-1", name="Acme Corporation", website="https://acme.com"),
        declared("brand", SF, "SF-BRAND-1", name="Acme Premium", client_id="SF-ACC-1"),
    )
    state = state_of(recorded("brand", SF, "SF-BRAND-1", 52187, name="Acme", client_id="SF-ACC-1"))
    return build_plan(desired, state)


def hostile_plan() -> Plan:
    """User text aimed at every structure of the comment: table, details, fence, marker."""
    desired = desired_of(
        declared("client", SF, "</details>", name="| x | y |", description="<!-- -->"),
        declared("client", SF, "```", name="````` five\n```", website="<script>alert(1)</script>"),
        declared("client", SF, "**bold**\n# heading", name="-->\n</details>\n<details>"),
        declared("brand", SF, "<!-- -->", name="_em_ <b>b</b>", client_id="```"),
        declared("product", SF, "| x |", name="p", client_id="</details>", brand_id="<!-- -->"),
    )
    state = state_of(
        recorded("client", SF, "</details>", 1, name="</summary>", description="<!-- -->"),
        recorded("brand", SF, "<!-- -->", 2, name="n", client_id="**bold**\n# heading"),
        recorded("product", SF, "</summary>\n```", 3, name="<script>", client_id="`", brand_id="-"),
    )
    return build_plan(desired, state, {key("brand", SF, "</details>\n| x |")})


def priority_plan() -> Plan:
    """Every category across kinds: 2 replacements, 1 in doubt, 20 updates, 178 creates, 30 kept."""
    clients = [declared("client", SF, f"C-{i:03d}", name=f"Client {i}") for i in range(100)]
    brands = [
        declared("brand", SF, f"B-{i:03d}", name=f"Brand {i}", client_id="C-000")
        for i in range(100)
    ]
    state = [recorded("client", SF, f"C-{i:03d}", i, name="Old") for i in range(90, 100)]
    state += [
        recorded("brand", SF, f"B-{i:03d}", i, name="Old", client_id="C-000")
        for i in range(90, 100)
    ]
    state += [
        recorded("brand", SF, f"B-{i:03d}", i, name=f"Brand {i}", client_id="C-001")
        for i in range(88, 90)
    ]
    state += [
        recorded("product", SF, f"P-{i:03d}", i, name="P", client_id="C-000", brand_id="B-000")
        for i in range(30)
    ]
    plan = build_plan(desired_of(*clients, *brands), state_of(*state), {key("client", SF, "GONE")})
    assert plan.summary.replace == 2
    return plan


def many_creates(count: int) -> Plan:
    """Built directly, not through build_plan, so 100,000 changes stay fast."""
    changes = tuple(
        Change(Action.CREATE, ResourceKey(Kind.CLIENT, SF, f"C-{i:06d}"), {"name": f"Client {i}"})
        for i in range(count)
    )
    return Plan(changes, ())


PLANS: dict[str, Callable[[], Plan]] = {
    "small": small_plan,
    "mixed": mixed_plan,
    "hostile": hostile_plan,
    "priority": priority_plan,
    "many": lambda: many_creates(2_000),
}


@pytest.mark.parametrize(
    ("case", "plan", "limit"),
    [
        ("small", small_plan, COMMENT_LIMIT),
        ("mixed", mixed_plan, COMMENT_LIMIT),
        ("hostile", hostile_plan, COMMENT_LIMIT),
        ("trimmed", priority_plan, 3_000),
    ],
)
def test_matches_golden(
    golden: Callable[[str, str], None], case: str, plan: Callable[[], Plan], limit: int
) -> None:
    golden(f"markdown-{case}/plan.md", render_markdown(plan(), paths=PATHS, limit=limit))


@pytest.mark.parametrize("name", sorted(PLANS))
def test_byte_identical_across_runs(name: str) -> None:
    assert render_markdown(PLANS[name](), paths=PATHS) == render_markdown(
        PLANS[name](), paths=PATHS
    )


def test_no_changes() -> None:
    assert render_markdown(build_plan({}, {}), paths=PATHS) == (
        "<!-- reconciler:plan manifests=manifests -->\n### reconciler plan: no changes\n"
    )


def test_no_changes_still_lists_kept_records() -> None:
    state = state_of(recorded("brand", SF, "B-1", 7, name="Old", client_id="C-1"))
    text = render_markdown(build_plan({}, state), paths=PATHS)
    assert "### reconciler plan: no changes\n" in text
    assert "| brand | 0 | 0 | 0 | 0 | 1 |\n" in text
    assert "<details><summary>Brands: 1 not declared (kept)</summary>" in text
    assert "  not declared — kept: brand SALESFORCE/B-1 (cor_id 7)\n" in text


def test_heading_warnings_and_table() -> None:
    lines = render_markdown(mixed_plan(), paths=PATHS).splitlines()
    assert lines[1] == "### reconciler plan: 3 to create, 2 to update, 1 to replace, 0 to delete"
    assert lines[3] == "> [!CAUTION]"
    assert lines[4].startswith("> **Replaces 1 record** (`-/+`, listed first below)")
    assert lines[6].startswith("> **In doubt**: 1 create (`in doubt`)")
    assert lines[8].startswith("> **In doubt, not declared**: 1 record (`?`)")
    assert lines[10:15] == [
        "| kind | create | update | replace | delete | not declared (kept) |",
        "|:--|--:|--:|--:|--:|--:|",
        "| client | 1 | 1 | 0 | 0 | 0 |",
        "| brand | 1 | 0 | 1 | 0 | 0 |",
        "| product | 1 | 1 | 0 | 0 | 1 |",
    ]


def test_100_000_changes_fill_the_budget_and_count_what_is_left_out() -> None:
    text = render_markdown(many_creates(100_000), paths=PATHS, artifacts_hint="see ARTIFACT")
    assert COMMENT_LIMIT - 200 < len(text) <= COMMENT_LIMIT
    assert "### reconciler plan: 100,000 to create, 0 to update, 0 to delete\n" in text
    assert "| client | 100,000 | 0 | 0 | 0 | 0 |\n" in text
    assert "<details><summary>Clients: 100,000 to create</summary>" in text
    shown = re.findall(r"^\+ create client SALESFORCE/(C-\d+)$", text, re.MULTILINE)
    assert shown == [f"C-{i:06d}" for i in range(len(shown))]  # the first, in apply order
    assert f"\n… and {100_000 - len(shown):,} more creates; see ARTIFACT\n" in text


@pytest.mark.parametrize("name", sorted(PLANS))
@pytest.mark.parametrize("limit", [500, 1_000, 2_000, 5_000, 20_000, COMMENT_LIMIT])
def test_never_longer_than_the_limit_and_the_head_survives(name: str, limit: int) -> None:
    plan = PLANS[name]()
    full = render_markdown(plan, paths=PATHS, limit=10**9)
    head = full[: full.index("<details>")]
    if len(head) > limit:  # the marker, heading, warnings and table alone do not fit
        with pytest.raises(ValueError, match="too small"):
            render_markdown(plan, paths=PATHS, limit=limit)
        return
    text = render_markdown(plan, paths=PATHS, limit=limit)
    assert len(text) <= limit
    assert text.startswith(head)
    assert text == full or "full plan in the job's artifacts" in text
    check_structure(text)


def test_a_plan_that_fits_exactly_is_not_trimmed() -> None:
    full = render_markdown(mixed_plan(), paths=PATHS)
    assert render_markdown(mixed_plan(), paths=PATHS, limit=len(full)) == full
    trimmed = render_markdown(mixed_plan(), paths=PATHS, limit=len(full) - 1)
    assert len(trimmed) < len(full)
    assert "… and 1 more" in trimmed


def test_tiny_limit_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="limit 200 is too small"):
        render_markdown(mixed_plan(), paths=PATHS, limit=200)


def test_when_no_section_fits_one_line_says_so() -> None:
    full = render_markdown(mixed_plan(), paths=PATHS)
    head = full[: full.index("<details>")]
    fallback = (
        "Details left out to fit the comment limit (counts above); "
        "full plan in the job's artifacts\n"
    )
    assert (
        render_markdown(mixed_plan(), paths=PATHS, limit=len(head) + len(fallback))
        == head + fallback
    )


CATEGORIES = {
    "-/": "replacement",
    "? ": "in-doubt record",
    "~ ": "update",
    "+ ": "create",
    "  ": "not-declared record",
}
PRIORITY = list(CATEGORIES.values())


@pytest.mark.parametrize("limit", range(1_250, 16_000, 150))
def test_trimming_follows_priority_and_counts_exactly(limit: int) -> None:
    plan = priority_plan()
    totals, _ = count_details(render_markdown(plan, paths=PATHS, limit=10**9))
    text = render_markdown(plan, paths=PATHS, limit=limit)
    shown, left = count_details(text)
    assert len(text) <= limit
    for kind in totals:
        for category in PRIORITY:
            assert shown[kind][category] + left[kind][category] == totals[kind][category]
    incomplete = False  # once a category is cut, nothing of a later one is shown
    for category in PRIORITY:
        if incomplete:
            assert all(shown[kind][category] == 0 for kind in shown), (limit, category)
        incomplete = incomplete or any(left[kind][category] for kind in left)


def test_small_limit_keeps_replacements_and_updates_over_creates() -> None:
    text = render_markdown(priority_plan(), paths=PATHS, limit=5_000)
    shown, left = count_details(text)
    assert shown["Brands"]["replacement"] == 2
    assert shown["Clients"]["update"] == 10
    assert shown["Brands"]["update"] == 10
    assert shown["Clients"]["in-doubt record"] == 1
    assert left["Clients"]["create"] == 90 - shown["Clients"]["create"] > 0
    assert left["Brands"]["create"] == 88
    assert "… and 30 more not-declared records; full plan in the job's artifacts" in text


def count_details(text: str) -> tuple[dict[str, dict[str, int]], dict[str, dict[str, int]]]:
    """Per section (kind), per category: entries shown, and those `… and` says are left out."""
    shown: dict[str, dict[str, int]] = {}
    left: dict[str, dict[str, int]] = {}
    for section in text.split("<details><summary>")[1:]:
        kind = section.split(":", 1)[0]
        shown[kind] = dict.fromkeys(PRIORITY, 0)
        left[kind] = dict.fromkeys(PRIORITY, 0)
        for line in section.splitlines():
            if line[:2] in CATEGORIES and not line.startswith("    "):
                shown[kind][CATEGORIES[line[:2]]] += 1
            if line.startswith("… and "):
                for number, noun in re.findall(r"([\d,]+) more ([a-z -]+?)s?(?=[,;])", line):
                    left[kind][noun] = int(number.replace(",", ""))
    return shown, left


@pytest.mark.parametrize(
    "paths",
    [
        ("manifests",),
        ("manifests/a.yaml", "manifests/b c.yaml", "my-client.yaml"),
        ("x,y", "a-->b", "--", "---", "<!--", "-", "100%", "ünï/dir", "a\nb", "--!>", "a>"),
        (),
    ],
)
def test_marker_is_the_first_line_and_parses_back(paths: tuple[str, ...]) -> None:
    first = render_markdown(small_plan(), paths=paths).splitlines()[0]
    assert first == plan_marker(paths)
    match = re.fullmatch(r"<!-- reconciler:plan manifests=(.*) -->", first)
    assert match is not None
    body = match.group(1)
    assert "--" not in body
    assert not set(body) & set("<>! \n")
    assert (tuple(unquote(p) for p in body.split(",")) if body else ()) == paths


def test_hostile_text_stays_inside_fences() -> None:
    text = render_markdown(hostile_plan(), paths=PATHS)
    check_structure(text)
    assert '+ create client SALESFORCE/"**bold**\\n# heading"' in text
    assert '    name: "</summary>" → "| x | y |"' in text
    assert "\n``````diff\n" in text  # the clients hold a run of five backticks


FENCE = re.compile(r" {0,3}(`{3,})(.*)")
SECTION_TAG = r"<details><summary>[A-Z][a-z]+: [a-z0-9, ()]+</summary>|</details>"


def check_structure(text: str) -> None:
    """No user text outside fences; every fence outlasts its content; tags and table intact."""
    outside, fence, runs = [], "", 0
    for line in text.splitlines():
        if fence and re.fullmatch(f" {{0,3}}{fence}`*[ \t]*", line):
            assert len(fence) > runs, "a fence no longer than a backtick run inside it"
            fence = ""
        elif fence:
            runs = max([runs, *map(len, re.findall("`+", line))])
        elif match := FENCE.fullmatch(line):
            fence, runs = match.group(1), 0
        else:
            outside.append(line)
    assert not fence, "a fence left open"
    for line in outside[1:]:
        if "details>" in line:  # only our own tags, and counts only in <summary>
            assert re.fullmatch(SECTION_TAG, line), line
            continue
        assert not any(bad in line for bad in HOSTILE if bad != "\n"), line
        if line.startswith("|"):
            assert line.count("|") == 7, line
    assert outside.count("</details>") == text.count("<details><summary>")


def test_a_protected_record_kept_says_so() -> None:
    state = state_of(recorded("brand", SF, "B-1", 7, name="Old", client_id="C-1"))
    state = {k: r._replace(protected=True) for k, r in state.items()}
    text = render_markdown(build_plan({}, state, prune=True), paths=PATHS)
    assert "  not declared — kept: brand SALESFORCE/B-1 (cor_id 7; protected)\n" in text
