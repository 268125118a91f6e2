"""The CLI's terminal (cli/console.py): colour on a terminal, unless --no-color or NO_COLOR; the
status line kept below every other line."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from reconciler.cli.console import echo_above, show_status, stderr_log
from tests.cli.terminal import run_on_terminal

ERASE = "\r\033[K"


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


def test_lines_are_written_above_the_status_line_which_is_drawn_again(
    capsys: pytest.CaptureFixture[str],
) -> None:
    show_status("bar 1/2")
    stderr_log("retrying x")
    echo_above("+ created y\n")
    show_status("")
    stderr_log("after")
    out, err = capsys.readouterr()
    assert out == "+ created y\n"
    assert err == f"bar 1/2{ERASE}retrying x\nbar 1/2{ERASE}bar 1/2{ERASE}after\n"


def test_lines_from_many_threads_never_run_into_the_status_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    def log(n: int) -> None:
        for i in range(50):
            stderr_log(f"retrying {n}-{i}")

    threads = [threading.Thread(target=log, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for i in range(50):
        show_status(f"status {i}")
    for thread in threads:
        thread.join()
    show_status("")
    _, err = capsys.readouterr()
    lines = [line.rsplit(ERASE, 1)[-1] for line in err.split("\n")]
    assert sorted(line for line in lines if line.startswith("retrying")) == sorted(
        f"retrying {n}-{i}" for n in range(4) for i in range(50)
    )
    assert all(line.startswith(("retrying", "status")) or not line for line in lines), lines
