"""Plan and apply output: golden files for a mixed case, and the rules behind them."""

from __future__ import annotations

import json
from collections.abc import Callable

from reconciler.actions.outcomes import ApplyReport, Outcome, Result
from reconciler.core.plan import Plan, build_plan
from reconciler.output.apply_text import render_apply_summary, render_result
from reconciler.output.plan_json import render_json
from reconciler.output.plan_text import render_text
from tests.builders import declared, desired_of, key, recorded, state_of

SF, MD = "SALESFORCE", "MICROSOFT_DYNAMICS"


def mixed_plan() -> Plan:
    """Create, update, replace and not-declared in one plan, across two sources."""
    desired = desired_of(
        declared("client", SF, "SF-ACC-1", name="Acme Corporation", website="https://acme.com"),
        declared("client", MD, "EXT-CLIENT-7", name="Globex", phone="+1 555-0100"),
        declared("brand", SF, "SF-BRAND-1", name="Acme Premium", client_id="SF-ACC-1"),
        declared("brand", MD, "EXT-BRAND-2", name="Globex Home", client_id="EXT-CLIENT-9"),
        declared(
            "product",
            MD,
            "EXT-PROD-12345",
            name="Premium Product",
            client_id="EXT-CLIENT-7",
            brand_id="EXT-BRAND-2",
            description="Premium product description",
        ),
        declared(
            "product",
            MD,
            "EXT-PROD-9",
            name='New "quoted" name\nwith a newline',
            client_id="EXT-CLIENT-7",
            brand_id="EXT-BRAND-2",
        ),
    )
    state = state_of(
        recorded(
            "client",
            MD,
            "EXT-CLIENT-7",
            58294,
            name="Globex Inc",
            phone="+1 555-0100",
            description="to be removed",
        ),
        recorded("brand", MD, "EXT-BRAND-2", 52187, name="Globex Home", client_id="EXT-CLIENT-7"),
        recorded(
            "product",
            MD,
            "EXT-PROD-9",
            52190,
            name="Old",
            client_id="EXT-CLIENT-7",
            brand_id="EXT-BRAND-2",
        ),
        recorded(
            "product",
            SF,
            "SF-PROD-OLD",
            52100,
            name="Retired",
            client_id="SF-ACC-1",
            brand_id="SF-BRAND-1",
        ),
    )
    in_doubt = {key("client", SF, "SF-ACC-1"), key("client", SF, "SF-ACC-LOST")}
    return build_plan(desired, state, in_doubt)


def test_text_plan_matches_golden(golden: Callable[[str, str], None]) -> None:
    golden("mixed/plan.txt", render_text(mixed_plan()))


def test_json_plan_matches_golden(golden: Callable[[str, str], None]) -> None:
    golden("mixed/plan.json", render_json(mixed_plan()))


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


def test_json_plan_shape() -> None:
    document = json.loads(render_json(mixed_plan()))
    assert document["format_version"] == 1
    assert document["summary"] == {
        "create": 3,
        "update": 2,
        "replace": 1,
        "delete": 0,
        "not_declared": 1,
    }
    update = next(c for c in document["changes"] if c["id"] == "EXT-CLIENT-7")
    assert update["action"] == "update"
    assert update["kind"] == "client"
    assert update["diff"] == [
        {"field": "description", "before": "to be removed", "after": None},
        {"field": "name", "before": "Globex Inc", "after": "Globex"},
    ]


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
