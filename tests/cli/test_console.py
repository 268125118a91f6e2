"""The CLI's terminal (cli/console.py): colour on a terminal, unless --no-color or NO_COLOR."""

from __future__ import annotations

from pathlib import Path

from tests.cli.terminal import run_on_terminal


def test_colour_on_a_terminal_unless_no_color(tmp_path: Path) -> None:
    state = str(tmp_path / "state.json")
    code, output = run_on_terminal(["plan", "manifests"], RECONCILER_STATE=state)
    assert code == 0
    assert "\033[32m+ create client" in output
    code, output = run_on_terminal(["plan", "manifests", "--no-color"], RECONCILER_STATE=state)
    assert "\033[" not in output
    code, output = run_on_terminal(["plan", "manifests"], RECONCILER_STATE=state, NO_COLOR="1")
    assert "\033[" not in output
    assert "+ create client" in output
