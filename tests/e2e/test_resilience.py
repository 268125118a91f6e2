"""Apply that nothing can break: faults, kills, signals, concurrent runs, token expiry.

Every test drives `reconciler apply` as a real subprocess against the emulator on loopback,
then checks the emulator's records AND the state, and that a plan says `No changes.`. Every
byte the CLI printed or wrote is kept and searched for credentials at the end.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from reconciler.emulator.auth import TokenBook
from reconciler.emulator.server import EmulatorConfig, EmulatorServer
from tests.harness import emulator_records
from tests.samples import catalogue

API_KEY = "key-7f3a9c1e5b"
CLIENT_SECRET = "secret-2d8e4f6a0c91"
STATIC_TOKEN = "static-token-5e7b9d1f3a"


class Workspace:
    """A folder with manifests and a state, and everything the CLI printed there."""

    def __init__(self, root: Path, manifest: str) -> None:
        self.root = root
        (root / "manifests").mkdir()
        (root / "manifests" / "sap.yaml").write_text(manifest, encoding="utf-8")
        self.state = root / "reconciler.state.json"
        self.printed: list[str] = []

    def env(self, server: EmulatorServer, *, token: bool = False) -> dict[str, str]:
        """This test's environment (tests/conftest.py cleans it), pointed at `server`."""
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        env.update(COR_API_URL=server.url, COR_AUTH_URL=f"{server.url}/v1")
        if token:
            env["COR_TOKEN"] = STATIC_TOKEN
        else:
            env.update(COR_API_KEY=API_KEY, COR_CLIENT_SECRET=CLIENT_SECRET)
        return env

    def start(
        self, server: EmulatorServer, *args: str, token: bool = False
    ) -> subprocess.Popen[str]:
        command = [sys.executable, "-m", "reconciler", "apply", "--auto-approve", "--no-color"]
        return subprocess.Popen(
            [*command, *args],
            cwd=self.root,
            env=self.env(server, token=token),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def finish(self, process: subprocess.Popen[str], timeout: float = 120) -> int:
        out, err = process.communicate(timeout=timeout)
        self.printed += [out, err]
        return process.returncode

    def apply(self, server: EmulatorServer, *args: str, token: bool = False) -> int:
        return self.finish(self.start(server, *args, token=token))

    def plan(self) -> tuple[int, str]:
        done = subprocess.run(
            [sys.executable, "-m", "reconciler", "plan", "--detailed-exitcode"],
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        self.printed += [done.stdout, done.stderr]
        return done.returncode, done.stdout

    def files(self) -> list[str]:
        """Everything reconciler left beside the state: state, backup, journal, lock."""
        return [
            p.read_text(encoding="utf-8", errors="replace")
            for p in self.root.glob("reconciler.state.json*")
        ]


@pytest.fixture
def issued_tokens(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every access and refresh token the emulator hands out during the test."""
    tokens: list[str] = []
    original = TokenBook.issue

    def issue(self: TokenBook) -> dict[str, Any]:
        grant = original(self)
        tokens.extend([grant["access_token"], grant["refresh_token"]])
        return grant

    monkeypatch.setattr(TokenBook, "issue", issue)
    return tokens


@pytest.fixture
def no_secret_anywhere(issued_tokens: list[str]) -> Iterator[list[Workspace]]:
    """Register workspaces; at the end, nothing they printed or wrote holds a credential."""
    spaces: list[Workspace] = []
    yield spaces
    secrets = [API_KEY, CLIENT_SECRET, STATIC_TOKEN, *issued_tokens]
    for space in spaces:
        for text in space.printed + space.files():
            for secret in secrets:
                assert secret not in text


def emulator(**options: Any) -> EmulatorServer:
    return EmulatorServer(
        EmulatorConfig(
            port=0, token=STATIC_TOKEN, api_key=API_KEY, client_secret=CLIENT_SECRET, **options
        )
    )


def first_created(process: subprocess.Popen[str]) -> bool:
    """Read an apply's output until its first create is done; False if it ended first (a
    loop on readline() would spin forever at the end of the output)."""
    assert process.stdout is not None
    return any(line.startswith("+ created") for line in process.stdout)


def rerun_until_done(space: Workspace, server: EmulatorServer, what: str) -> None:
    """Apply again (parallelism 4) until one run exits 0, at most 5 times."""
    for _attempt in range(5):
        if space.apply(server, "--parallelism", "4") == 0:
            return
    pytest.fail(f"apply did not converge {what}: {space.printed[-1]}")


def assert_converged(space: Workspace, server: EmulatorServer, expected: int) -> None:
    """Every declared record exists once in COR, the state holds each with COR's id, and a plan
    has nothing left to do."""
    live = emulator_records(server.url)
    keys = [(r["kind"], r["source"], r["id"]) for r in live]
    assert len(keys) == len(set(keys)) == expected
    state = json.loads(space.state.read_text(encoding="utf-8"))
    recorded = {(r["kind"], r["source"], r["id"]): r["cor_id"] for r in state["resources"]}
    assert recorded == {(r["kind"], r["source"], r["id"]): r["cor_id"] for r in live}
    assert "in_doubt" not in state
    assert space.plan() == (0, "No changes.\n")


def test_converges_in_one_run_through_failures_lost_answers_and_rate_limits(
    tmp_path: Path, no_secret_anywhere: list[Workspace]
) -> None:
    space = Workspace(tmp_path, catalogue(4, 3, 8))  # 4 + 12 + 96 = 112 records
    no_secret_anywhere.append(space)
    with emulator(fail_rate=0.2, lost_response_rate=0.05, rate_limit=40, seed=11) as server:
        code = space.apply(server, "--parallelism", "8", "--retry-attempts", "12")
        assert code == 0, space.printed[-1]
        stats = httpx.get(f"{server.url}/_emulator/stats").json()["faults"]
        assert stats["fail"] > 0
        assert stats["lost"] > 0
        assert stats["rate_limited"] > 0
        assert_converged(space, server, 112)
    assert "retrying " in space.printed[1]
    assert "POST /v2/integrations/" in space.printed[1]


def test_sigkill_at_random_moments_then_rerun_converges(
    tmp_path: Path, no_secret_anywhere: list[Workspace]
) -> None:
    space = Workspace(tmp_path, catalogue(5, 5, 19))  # 5 + 25 + 475 = 505 records
    no_secret_anywhere.append(space)
    rng = random.Random(20261128)
    kills = 0
    with emulator(latency_ms=50) as server:  # about 40 creates a second: 20 kills fit in
        while kills < 20:
            process = space.start(server, "--parallelism", "2")
            if rng.random() < 0.3:  # anywhere: start-up, lock, journal compaction, plan
                time.sleep(rng.uniform(0.0, 0.8))
            else:  # in the middle of the requests
                assert process.stdout is not None
                process.stdout.readline()  # the plan is being printed: the apply is under way
                time.sleep(rng.uniform(0.1, 0.8))
            if process.poll() is None:
                process.kill()
                kills += 1
            space.finish(process)
        assert emulator_records(server.url), "the kills should have hit a running apply"
        assert len(emulator_records(server.url)) < 505, "the kills should have hit a running apply"
        rerun_until_done(space, server, f"after {kills} kills")
        assert_converged(space, server, 505)


def test_sigint_stops_cleanly_and_rerun_converges(
    tmp_path: Path, no_secret_anywhere: list[Workspace]
) -> None:
    space = Workspace(tmp_path, catalogue(2, 2, 10))
    no_secret_anywhere.append(space)
    with emulator(latency_ms=100) as server:
        process = space.start(server, "--parallelism", "2")
        assert first_created(process), space.finish(process)
        process.send_signal(signal.SIGINT)
        assert space.finish(process) == 130
        assert "SIGINT: stopping after the request in flight" in space.printed[-1]
        assert "change(s) not attempted:" in space.printed[-2]
        assert space.apply(server) == 0
        assert_converged(space, server, 2 + 4 + 40)


def test_two_applies_at_once_one_is_refused_and_the_state_is_intact(
    tmp_path: Path, no_secret_anywhere: list[Workspace]
) -> None:
    space = Workspace(tmp_path, catalogue(2, 2, 10))
    no_secret_anywhere.append(space)
    with emulator(latency_ms=60) as server:
        first = space.start(server, "--parallelism", "2")
        assert first_created(first), space.finish(first)
        second = space.start(server, token=True)
        assert space.finish(second) == 4
        assert "is locked by" in space.printed[-1]
        assert f"pid {first.pid}" in space.printed[-1]
        assert space.finish(first) == 0
        assert_converged(space, server, 46)


def test_token_expiring_mid_run_is_renewed(
    tmp_path: Path, no_secret_anywhere: list[Workspace]
) -> None:
    space = Workspace(tmp_path, catalogue(2, 2, 15))  # 66 records: about 4 s
    no_secret_anywhere.append(space)
    with emulator(latency_ms=120, token_ttl=2) as server:
        assert space.apply(server, "--parallelism", "2") == 0, space.printed[-1]
        assert_converged(space, server, 66)
    assert "refreshing it" in space.printed[1]
