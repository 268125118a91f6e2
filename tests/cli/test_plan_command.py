"""`reconciler plan` (cli/plan_command.py): invalid manifests are refused before the state is
read. (Plans against the emulator: tests/e2e/; the plan's outputs: tests/output/.)"""

from __future__ import annotations

import stat
from pathlib import Path

from tests.harness import Cli


def test_plan_refuses_the_same_invalid_input_before_reading_state(tmp_path: Path, cli: Cli) -> None:
    (tmp_path / "a.yaml").write_text("source: NOPE\n", encoding="utf-8")
    code, _, err = cli("plan", str(tmp_path), "--state", str(tmp_path / "none.json"))
    assert code == 3
    assert "a.yaml:1:9: " in err


def test_a_saved_plan_is_private_to_its_owner(tmp_path: Path, cli: Cli) -> None:
    (tmp_path / "a.yaml").write_text(
        "source: SAP\nclients:\n  - id: C1\n    name: Acme\n", encoding="utf-8"
    )
    out = tmp_path / "plan.json"
    out.write_text("{}", encoding="utf-8")
    out.chmod(0o644)
    code, _, _ = cli("plan", str(tmp_path), "--state", str(tmp_path / "s.json"), "--out", str(out))
    assert code == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert '"C1"' in out.read_text(encoding="utf-8")
