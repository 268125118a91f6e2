"""End to end: the CLI against the emulator running as a real HTTP server on loopback."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from reconciler.cli import run
from reconciler.emulator.server import EmulatorConfig, EmulatorServer

SECRET = "s3cr3t-client-secret-value"
MANIFEST = """\
source: SALESFORCE
clients:
  - id: SF-ACC-1
    name: Acme Corporation
    website: https://acme.com
  - id: SF-ACC-2
    name: Globex
brands:
  - id: SF-BRAND-1
    name: Acme Premium
    client_id: SF-ACC-1
  - id: SF-BRAND-2
    name: Globex Home
    client_id: SF-ACC-2
products:
  - id: SF-PROD-1
    name: Premium Widget
    client_id: SF-ACC-1
    brand_id: SF-BRAND-1
  - id: SF-PROD-2
    name: Premium Gadget
    client_id: SF-ACC-1
    brand_id: SF-BRAND-1
    description: The gadget
  - id: SF-PROD-3
    name: Home Kit
    client_id: SF-ACC-2
    brand_id: SF-BRAND-2
"""


@pytest.fixture
def emulator() -> Iterator[EmulatorServer]:
    with EmulatorServer(EmulatorConfig(port=0, token="e2e-token")) as server:
        yield server


@pytest.fixture
def workdir(tmp_path: Path, emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "manifests").mkdir()
    (tmp_path / "manifests" / "salesforce.yaml").write_text(MANIFEST, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    for name in ("COR_TOKEN", "RECONCILER_STATE", "NO_COLOR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COR_API_URL", emulator.url)
    monkeypatch.setenv("COR_AUTH_URL", f"{emulator.url}/v1")
    monkeypatch.setenv("COR_API_KEY", "demo-key")
    monkeypatch.setenv("COR_CLIENT_SECRET", "demo-secret")
    return tmp_path


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = run(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def emulator_records(server: EmulatorServer) -> list[dict[str, Any]]:
    answer = httpx.get(f"{server.url}/_emulator/records")
    answer.raise_for_status()
    records: list[dict[str, Any]] = answer.json()["records"]
    return records


def state_records(path: Path) -> list[dict[str, Any]]:
    resources: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))["resources"]
    return resources


def assert_state_matches_emulator(state: Path, server: EmulatorServer) -> None:
    live = {(r["kind"], r["source"], r["id"]): r for r in emulator_records(server)}
    recorded = {(r["kind"], r["source"], r["id"]): r for r in state_records(state)}
    assert recorded.keys() == live.keys()
    for key, record in recorded.items():
        assert record["cor_id"] == live[key]["cor_id"], key
        assert record["attributes"] == live[key]["attributes"], key


def test_apply_from_empty_state_then_no_changes(
    workdir: Path, emulator: EmulatorServer, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = cli(capsys, "plan", "--detailed-exitcode")
    assert code == 2
    assert out.splitlines()[-1] == "Plan: 7 to create, 0 to update, 0 to delete."

    code, out, err = cli(capsys, "apply", "--auto-approve")
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
    assert out.splitlines()[-1] == "Apply complete: 7 created, 0 updated, 0 failed, 0 skipped."
    assert len(emulator_records(emulator)) == 7
    assert_state_matches_emulator(workdir / "reconciler.state.json", emulator)

    code, out, _ = cli(capsys, "plan", "--detailed-exitcode")
    assert (code, out) == (0, "No changes.\n")


def test_update_round_trip(
    workdir: Path, emulator: EmulatorServer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(capsys, "apply", "--auto-approve")[0] == 0
    manifest = workdir / "manifests" / "salesforce.yaml"
    manifest.write_text(
        MANIFEST.replace("name: Premium Widget", "name: Premium Widget v2").replace(
            "    website: https://acme.com\n", ""
        ),
        encoding="utf-8",
    )
    code, out, _ = cli(capsys, "plan", "--detailed-exitcode")
    assert code == 2
    assert '    name: "Premium Widget" → "Premium Widget v2"' in out.splitlines()
    assert '    website: "https://acme.com" → (not set)' in out.splitlines()

    code, out, err = cli(capsys, "apply", "--auto-approve")
    assert code == 0, err
    assert out.splitlines()[-1] == "Apply complete: 0 created, 2 updated, 0 failed, 0 skipped."
    live = {r["id"]: r for r in emulator_records(emulator)}
    assert live["SF-PROD-1"]["attributes"]["name"] == "Premium Widget v2"
    assert "website" not in live["SF-ACC-1"]["attributes"]
    assert_state_matches_emulator(workdir / "reconciler.state.json", emulator)
    assert cli(capsys, "plan", "--detailed-exitcode")[:2] == (0, "No changes.\n")


def test_rejected_record_skips_dependants_and_rerun_converges(
    workdir: Path, emulator: EmulatorServer, capsys: pytest.CaptureFixture[str]
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
    httpx.post(f"{emulator.url}/_emulator/faults", json=fault).raise_for_status()

    code, out, _ = cli(capsys, "apply", "--auto-approve")
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
    assert lines[-1] == "Apply complete: 4 created, 0 updated, 1 failed, 2 skipped."
    state = workdir / "reconciler.state.json"
    assert sorted(r["id"] for r in state_records(state)) == [
        "SF-ACC-1",
        "SF-ACC-2",
        "SF-BRAND-2",
        "SF-PROD-3",
    ]
    assert_state_matches_emulator(state, emulator)

    code, out, err = cli(capsys, "apply", "--auto-approve")
    assert code == 0, err
    assert out.splitlines()[-1] == "Apply complete: 3 created, 0 updated, 0 failed, 0 skipped."
    assert len(emulator_records(emulator)) == 7
    assert_state_matches_emulator(state, emulator)


def test_static_token_and_no_secret_in_any_output(
    workdir: Path,
    emulator: EmulatorServer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COR_CLIENT_SECRET", SECRET)
    code, out, err = cli(capsys, "apply", "--auto-approve")
    assert code == 1  # the emulator refuses that key/secret pair
    assert "COR_API_KEY" in err
    assert SECRET not in out + err

    monkeypatch.delenv("COR_API_KEY")
    monkeypatch.delenv("COR_CLIENT_SECRET")
    monkeypatch.setenv("COR_TOKEN", "e2e-token")
    code, out, err = cli(capsys, "apply", "--auto-approve")
    assert code == 0, err
    assert "e2e-token" not in out + err
    state_text = (workdir / "reconciler.state.json").read_text(encoding="utf-8")
    assert "e2e-token" not in state_text
    assert SECRET not in state_text


def test_apply_without_terminal_needs_auto_approve(
    workdir: Path, emulator: EmulatorServer, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = cli(capsys, "apply")
    assert code == 3
    assert "--auto-approve" in err
    assert emulator_records(emulator) == []
    assert not (workdir / "reconciler.state.json").exists()


def test_corrupt_state_is_an_input_error_and_left_alone(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = workdir / "reconciler.state.json"
    state.write_text('{"format_version": 1, "lineage": "x", "ser', encoding="utf-8")
    for command in (["plan"], ["apply", "--auto-approve"]):
        code, _, err = cli(capsys, *command)
        assert code == 3
        assert "reconciler.state.json" in err
        assert "Traceback" not in err
    assert state.read_text(encoding="utf-8") == '{"format_version": 1, "lineage": "x", "ser'


def run_module(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COR_")}
    return subprocess.run(
        [sys.executable, "-m", "reconciler", *args],
        cwd=cwd,
        env=env,
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


def start_apply(workdir: Path, server: EmulatorServer) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COR_")}
    env.update(COR_API_URL=server.url, COR_TOKEN="e2e-token", PYTHONUNBUFFERED="1")
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
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_a_killed_apply_loses_nothing_and_a_rerun_converges(
    workdir: Path, capsys: pytest.CaptureFixture[str], signum: int
) -> None:
    with (
        EmulatorServer(EmulatorConfig(port=0, token="e2e-token", latency_ms=150)) as slow,
        start_apply(workdir, slow) as process,
    ):
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
        rerun = start_apply(workdir, slow)
        out, err = rerun.communicate(timeout=60)
        assert rerun.returncode == 0, out + err
        assert len(emulator_records(slow)) == 7
        assert_state_matches_emulator(state, slow)
        assert {r["kind"] for r in state_records(state)} == {"client", "brand", "product"}
