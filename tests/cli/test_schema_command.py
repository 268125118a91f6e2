"""`reconciler schema` (cli/schema_command.py): the manifest JSON Schema, one source of truth
with the loader, shipped and referenced."""

from __future__ import annotations

import json

import pytest

from reconciler.cli import run
from tests.paths import EXAMPLES, ROOT

SHIPPED = ROOT / "docs" / "manifest.schema.json"


def test_schema_command_prints_the_shipped_schema(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["schema"]) == 0
    printed = capsys.readouterr().out
    assert printed == SHIPPED.read_text(encoding="utf-8"), (
        "docs/manifest.schema.json is stale: reconciler schema > docs/manifest.schema.json"
    )
    schema = json.loads(printed)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["additionalProperties"] is False
    client = schema["$defs"]["ClientEntry"]
    assert client["required"] == ["id", "name"]
    assert client["properties"]["email_contact"]["type"] == "string"


def test_every_example_manifest_points_editors_at_the_schema() -> None:
    examples = sorted(EXAMPLES.rglob("*.yaml"))
    assert examples
    for path in examples:
        first = path.read_text(encoding="utf-8").splitlines()[0]
        assert first.startswith("# yaml-language-server: $schema="), path
        target = (path.parent / first.split("$schema=", 1)[1]).resolve()
        assert target == SHIPPED, path
