"""The CLI boundary: exit codes and stderr for every validation case; terminals and colour."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from reconciler.cli import run
from reconciler.emulator.server import EmulatorConfig, EmulatorServer
from tests.test_load import PROBLEM_CASES, _sort_key, _write

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(("files", "expected"), PROBLEM_CASES)
def test_validate_prints_each_problem_and_exits_3(
    files: dict[str, str | bytes],
    expected: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    _write(Path("m"), files)
    code = run(["validate", "m"])
    out, err = capsys.readouterr()
    assert code == 3
    assert out == ""
    count = len(expected)
    assert err.splitlines() == [
        *sorted(expected, key=_sort_key),
        f"error: {count} problem{'s' if count != 1 else ''} found in the manifests",
    ]


def test_validate_counts_what_is_declared(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["validate", str(ROOT / "manifests")]) == 0
    assert capsys.readouterr().out == "Valid: 5 clients, 7 brands, 26 products.\n"


def test_plan_refuses_the_same_invalid_input_before_reading_state(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a.yaml").write_text("source: NOPE\n", encoding="utf-8")
    code = run(["plan", str(tmp_path), "--state", str(tmp_path / "none.json")])
    assert code == 3
    assert "a.yaml:1:9: " in capsys.readouterr().err


def run_on_terminal(args: list[str], env: dict[str, str], answer: str = "") -> tuple[int, str]:
    """Run the CLI with stdin/stdout on a pseudo-terminal; type `answer` when it prompts."""
    main_fd, child_fd = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "reconciler", *args],
        stdin=child_fd,
        stdout=child_fd,
        stderr=child_fd,
        env=env,
        cwd=ROOT,
    )
    os.close(child_fd)
    output = b""
    answered = False
    while True:
        ready, _, _ = select.select([main_fd], [], [], 30)
        if not ready:
            process.kill()
            raise AssertionError(f"no output for 30 s; so far: {output!r}")
        try:
            chunk = os.read(main_fd, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        output += chunk
        if answer and not answered and b"Only 'yes' will be accepted" in output:
            os.write(main_fd, answer.encode() + b"\n")
            answered = True
    os.close(main_fd)
    return process.wait(timeout=30), output.decode()


@pytest.fixture
def terminal_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COR_", "NO_COLOR"))}
    env["RECONCILER_STATE"] = str(tmp_path / "state.json")
    return env


def test_colour_on_a_terminal_unless_no_color(terminal_env: dict[str, str]) -> None:
    code, output = run_on_terminal(["plan", "manifests"], terminal_env)
    assert code == 0
    assert "\033[32m+ create client" in output
    code, output = run_on_terminal(["plan", "manifests", "--no-color"], terminal_env)
    assert "\033[" not in output
    code, output = run_on_terminal(["plan", "manifests"], {**terminal_env, "NO_COLOR": "1"})
    assert "\033[" not in output
    assert "+ create client" in output


@pytest.fixture
def emulator() -> Iterator[EmulatorServer]:
    with EmulatorServer(EmulatorConfig(port=0, token="tty-token")) as server:
        yield server


def test_apply_asks_on_a_terminal_and_only_yes_applies(
    terminal_env: dict[str, str], emulator: EmulatorServer, tmp_path: Path
) -> None:
    env = {**terminal_env, "COR_API_URL": emulator.url, "COR_TOKEN": "tty-token"}
    code, output = run_on_terminal(["apply", "manifests"], env, answer="y")
    assert code == 1
    assert "Apply cancelled; nothing was changed." in output
    assert httpx.get(f"{emulator.url}/_emulator/records").json()["records"] == []
    assert not (tmp_path / "state.json").exists()

    code, output = run_on_terminal(["apply", "manifests"], env, answer="yes")
    assert code == 0, output
    assert "Apply complete: 38 created, 0 updated, 0 failed, 0 skipped." in output
    assert len(httpx.get(f"{emulator.url}/_emulator/records").json()["records"]) == 38


def test_a_lock_left_on_another_host_refuses_until_state_unlock_force(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state.json"
    holder = {
        "holder": "ci",
        "host": "runner-elsewhere",
        "pid": 4242,
        "started_at": "2026-11-28T10:00:00Z",
        "command": "reconciler apply manifests",
    }
    (tmp_path / "state.json.lock").write_text(json.dumps(holder), encoding="utf-8")
    monkeypatch.setenv("COR_TOKEN", "unused")
    manifests = str(ROOT / "manifests")

    assert run(["apply", "--auto-approve", "--state", str(state), manifests]) == 4
    err = capsys.readouterr().err
    assert "locked by ci@runner-elsewhere (pid 4242" in err
    assert "reconciler state unlock --force" in err

    assert run(["state", "unlock", "--state", str(state)]) == 3  # --force is required
    assert "--force" in capsys.readouterr().err
    assert run(["state", "unlock", "--force", "--state", str(state)]) == 0
    assert "held by ci@runner-elsewhere (pid 4242" in capsys.readouterr().out
    assert run(["state", "unlock", "--force", "--state", str(state)]) == 0
    assert capsys.readouterr().out == f"{state} was not locked.\n"
    assert run(["plan", "--state", str(state), manifests]) == 0  # plan never needed the lock


def test_with_format_json_a_failure_is_json_on_stdout_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a.yaml").write_text("source: SAP\nclients:\n  - {id: 7, name: x}\n")
    code = run(["plan", "--format", "json", "--state", str(tmp_path / "s.json"), str(tmp_path)])
    out, err = capsys.readouterr()
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
    assert run(["plan", "--format=json", "--state", str(tmp_path / "s.json"), str(tmp_path)]) == 3
    assert json.loads(capsys.readouterr().out)["outcome"] == "invalid"
