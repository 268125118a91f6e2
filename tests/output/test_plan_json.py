"""The plan as JSON (output/plan_json.py): a golden file for a mixed case, and its shape."""

from __future__ import annotations

import json
from collections.abc import Callable

from reconciler.output.plan_json import render_json
from tests.output.plans import mixed_plan


def test_json_plan_matches_golden(golden: Callable[[str, str], None]) -> None:
    golden("mixed/plan.json", render_json(mixed_plan()))


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
