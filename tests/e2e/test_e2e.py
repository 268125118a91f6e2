"""End to end: the CLI against the emulator running as a real HTTP server on loopback.

In-process runs use the session's emulator (tests/conftest.py, reset for each test); the tests
that kill an apply run it as a child process against an emulator of their own, slowed down so
that the signal lands with work still to do.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from reconciler.emulator.server import EmulatorConfig, EmulatorServer
from tests.harness import Cli, RunningEmulator, WorkFolder, emulator_records
from tests.samples import SALESFORCE

SECRET = "s3cr3t-client-secret-value"
SLOW_TOKEN = "e2e-token"  # the static token of the tests' own slow emulator


@pytest.fixture
def workdir(
    work_folder: WorkFolder, emulator_env: RunningEmulator, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """The SALESFORCE manifests; the CLI reaches the emulator with its key and secret (a token
    exchange), not a static token."""
    monkeypatch.delenv("COR_TOKEN")
    monkeypatch.setenv("COR_API_KEY", emulator_env.api_key)
    monkeypatch.setenv("COR_CLIENT_SECRET", emulator_env.client_secret)
    return work_folder({"salesforce.yaml": SALESFORCE})


def state_records(path: Path) -> list[dict[str, Any]]:
    resources: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))["resources"]
    return resources


def assert_state_matches_emulator(state: Path, url: str) -> None:
    live = {(r["kind"], r["source"], r["id"]): r for r in emulator_records(url)}
    recorded = {(r["kind"], r["source"], r["id"]): r for r in state_records(state)}
    assert recorded.keys() == live.keys()
    for key, record in recorded.items():
        assert record["cor_id"] == live[key]["cor_id"], key
        assert record["attributes"] == live[key]["attributes"], key


def test_apply_from_empty_state_then_no_changes(
    workdir: Path, emulator: RunningEmulator, cli: Cli
) -> None:
    code, out, _ = cli("plan", "--detailed-exitcode")
    assert code == 2
    assert out.splitlines()[-1] == "Plan: 7 to create, 0 to update, 0 to delete."

    code, out, err = cli("apply", "--auto-approve")
    assert code == 0, err
    applied = [line.split(" (")[0] for line in out.splitlines() if line.startswith("+ created")]
    # Requests run in parallel: lines come as they finish, each after what it references.
    assert sorted(applied) == sorted(
        [
            "+ created client SALESFORCE/SF-ACC-1",
            "+ created client SALESFORCE/SF-ACC-2",
            "+ created brand SALESFORCE/SF-BRAND-1",
            "+ created brand SALESFORCE/SF-BRAND-2",
            "+ created product SALESFORCE/SF-PROD-1",
            "+ created product SALESFORCE/SF-PROD-2",
            "+ created product SALESFORCE/SF-PROD-3",
        ]
    )
    at = {line.removeprefix("+ created "): index for index, line in enumerate(applied)}
    assert at["client SALESFORCE/SF-ACC-1"] < at["brand SALESFORCE/SF-BRAND-1"]
    assert at["brand SALESFORCE/SF-BRAND-1"] < at["product SALESFORCE/SF-PROD-1"]
    assert at["brand SALESFORCE/SF-BRAND-2"] < at["product SALESFORCE/SF-PROD-3"]
    assert (
        out.splitlines()[-1]
        == "Apply complete: 7 created, 0 updated, 0 deleted, 0 failed, 0 in doubt, 0 skipped."
    )
    assert len(emulator.records()) == 7
    assert_state_matches_emulator(workdir / "reconciler.state.json", emulator.url)

    code, out, _ = cli("plan", "--detailed-exitcode")
    assert (code, out) == (0, "No changes.\n")


def test_update_round_trip(workdir: Path, emulator: RunningEmulator, cli: Cli) -> None:
    assert cli("apply", "--auto-approve")[0] == 0
    manifest = workdir / "manifests" / "salesforce.yaml"
    manifest.write_text(
        SALESFORCE.replace("name: Premium Widget", "name: Premium Widget v2").replace(
            "    website: https://acme.com\n", ""
        ),
        encoding="utf-8",
    )
    code, out, _ = cli("plan", "--detailed-exitcode")
    assert code == 2
    assert '    name: "Premium Widget" → "Premium Widget v2"' in out.splitlines()
    assert '    website: "https://acme.com" → (not set)' in out.splitlines()

    code, out, err = cli("apply", "--auto-approve")
    assert code == 0, err
    assert (
        out.splitlines()[-1]
        == "Apply complete: 0 created, 2 updated, 0 deleted, 0 failed, 0 in doubt, 0 skipped."
    )
    live = {r["id"]: r for r in emulator.records()}
    assert live["SF-PROD-1"]["attributes"]["name"] == "Premium Widget v2"
    assert "website" not in live["SF-ACC-1"]["attributes"]
    assert_state_matches_emulator(workdir / "reconciler.state.json", emulator.url)
    assert cli("plan", "--detailed-exitcode")[:2] == (0, "No changes.\n")


def test_rejected_record_skips_dependants_and_rerun_converges(
    workdir: Path, emulator: RunningEmulator, cli: Cli
) -> None:
    fault = {
        "method": "POST",
        "kind": "brand",
        "source": "SALESFORCE",
        "id": "SF-BRAND-1",
        "status": 400,
        "name": "ValidationError",
        "code": None,
        "message": "name is too long",
        "times": 1,
    }
    emulator.add_fault(**fault)

    code, out, _ = cli("apply", "--auto-approve")
    assert code == 1
    lines = out.splitlines()
    assert any(
        line.startswith("x failed brand SALESFORCE/SF-BRAND-1:") and "name is too long" in line
        for line in lines
    )
    assert (
        "- skipped product SALESFORCE/SF-PROD-1: "
        "depends on brand SALESFORCE/SF-BRAND-1, which failed" in lines
    )
    assert (
        lines[-1]
        == "Apply complete: 4 created, 0 updated, 0 deleted, 1 failed, 0 in doubt, 2 skipped."
    )
    state = workdir / "reconciler.state.json"
    assert sorted(r["id"] for r in state_records(state)) == [
        "SF-ACC-1",
        "SF-ACC-2",
        "SF-BRAND-2",
        "SF-PROD-3",
    ]
    assert_state_matches_emulator(state, emulator.url)

    code, out, err = cli("apply", "--auto-approve")
    assert code == 0, err
    assert (
        out.splitlines()[-1]
        == "Apply complete: 3 created, 0 updated, 0 deleted, 0 failed, 0 in doubt, 0 skipped."
    )
    assert len(emulator.records()) == 7
    assert_state_matches_emulator(state, emulator.url)


def test_static_token_and_no_secret_in_any_output(
    workdir: Path,
    emulator: RunningEmulator,
    cli: Cli,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COR_CLIENT_SECRET", SECRET)
    code, out, err = cli("apply", "--auto-approve")
    assert code == 1  # the emulator refuses that key/secret pair
    assert "COR_API_KEY" in err
    assert SECRET not in out + err

    monkeypatch.delenv("COR_API_KEY")
    monkeypatch.delenv("COR_CLIENT_SECRET")
    monkeypatch.setenv("COR_TOKEN", emulator.token)
    code, out, err = cli("apply", "--auto-approve")
    assert code == 0, err
    assert emulator.token not in out + err
    state_text = (workdir / "reconciler.state.json").read_text(encoding="utf-8")
    assert emulator.token not in state_text
    assert SECRET not in state_text


def test_apply_without_terminal_needs_auto_approve(
    workdir: Path, emulator: RunningEmulator, cli: Cli
) -> None:
    code, _, err = cli("apply")
    assert code == 3
    assert "--auto-approve" in err
    assert emulator.records() == []
    assert not (workdir / "reconciler.state.json").exists()


def test_corrupt_state_is_an_input_error_and_left_alone(workdir: Path, cli: Cli) -> None:
    state = workdir / "reconciler.state.json"
    state.write_text('{"format_version": 1, "lineage": "x", "ser', encoding="utf-8")
    for command in (["plan"], ["apply", "--auto-approve"]):
        code, _, err = cli(*command)
        assert code == 3
        assert "reconciler.state.json" in err
        assert "Traceback" not in err
    assert state.read_text(encoding="utf-8") == '{"format_version": 1, "lineage": "x", "ser'


def run_module(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # in this test's environment (tests/conftest.py cleans it)
        [sys.executable, "-m", "reconciler", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_python_dash_m_version_and_errors_without_traceback(tmp_path: Path) -> None:
    version = run_module("--version", cwd=tmp_path)
    assert version.returncode == 0
    assert version.stdout.startswith("reconciler, version ")

    (tmp_path / "bad.yaml").write_text("source: SALESFORCE\nclients:\n  - id: 00123\n    name: x\n")
    invalid = run_module("validate", "bad.yaml", cwd=tmp_path)
    assert invalid.returncode == 3
    assert invalid.stderr.startswith("bad.yaml:3:9: ")
    assert "Traceback" not in invalid.stderr

    unknown_option = run_module("plan", "--no-such-option", cwd=tmp_path)
    assert unknown_option.returncode == 3
    assert "No such option" in unknown_option.stderr


def start_apply(workdir: Path) -> subprocess.Popen[str]:
    """`reconciler apply` as a child process, in this test's environment."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "reconciler",
            "--debug",
            "apply",
            "--auto-approve",
            "--no-color",
            "--parallelism",
            "1",
        ],  # one at a time: the signal lands with work still to do
        cwd=workdir,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_a_killed_apply_loses_nothing_and_a_rerun_converges(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, signum: int
) -> None:
    slow = EmulatorServer(EmulatorConfig(port=0, token=SLOW_TOKEN, latency_ms=150))
    for name in ("COR_API_KEY", "COR_CLIENT_SECRET", "COR_AUTH_URL", "COR_READ_API_URL"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("COR_API_URL", slow.url)
    monkeypatch.setenv("COR_TOKEN", SLOW_TOKEN)
    with slow, start_apply(workdir) as process:
        assert process.stdout is not None
        assert process.stderr is not None
        created_before_kill = []
        for line in process.stdout:
            if line.startswith("+ created"):
                created_before_kill.append(line.split(" (")[0].removeprefix("+ created "))
            if len(created_before_kill) == 3:
                break
        process.send_signal(signum)
        out = process.stdout.read()  # what the line iterator has not buffered yet, then EOF
        err = process.stderr.read()
        process.wait(timeout=30)
        state = workdir / "reconciler.state.json"
        if signum == signal.SIGTERM:
            assert process.returncode == 130, err
            assert "change(s) not attempted:" in out, (out, err)
            assert out.splitlines()[-1].startswith("Apply interrupted: ")
            recorded = [f"{r['kind']} {r['source']}/{r['id']}" for r in state_records(state)]
            assert set(created_before_kill) <= set(recorded)
        else:
            assert process.returncode == -signal.SIGKILL
        # Whatever the kill left (a state, a journal, a create in doubt), a re-run converges.
        rerun = start_apply(workdir)
        out, err = rerun.communicate(timeout=60)
        assert rerun.returncode == 0, out + err
        assert len(emulator_records(slow.url)) == 7
        assert_state_matches_emulator(state, slow.url)
        assert {r["kind"] for r in state_records(state)} == {"client", "brand", "product"}
