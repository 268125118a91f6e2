"""The CLI's one error boundary (cli/boundary.py): with --format json, a failure is a JSON
document on stdout too, beside the messages on stderr."""

from __future__ import annotations

import json
from pathlib import Path

from tests.harness import Cli


def test_with_format_json_a_failure_is_json_on_stdout_too(tmp_path: Path, cli: Cli) -> None:
    (tmp_path / "a.yaml").write_text("source: SAP\nclients:\n  - {id: 7, name: x}\n")
    state = str(tmp_path / "s.json")
    code, out, err = cli("plan", "--format", "json", "--state", state, str(tmp_path))
    assert code == 3
    document = json.loads(out)
    assert document == {
        "format_version": 1,
        "outcome": "invalid",
        "exit_code": 3,
        "error": "1 problem found in the manifests",
        "problems": [
            {
                "path": f"{tmp_path}/a.yaml",
                "line": 3,
                "col": 10,
                "message": "id: 7 was read as an integer; external ids are strings: "
                'quote it: id: "7"',
            }
        ],
    }
    assert err.startswith(f"{tmp_path}/a.yaml:3:10: id: 7 was read as an integer")

    (tmp_path / "s.json").write_text("{}")
    (tmp_path / "a.yaml").write_text("source: SAP\n")
    code, out, _ = cli("plan", "--format=json", "--state", state, str(tmp_path))
    assert code == 3
    assert json.loads(out)["outcome"] == "invalid"
