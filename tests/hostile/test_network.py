"""Hostile inputs, "COR's answers and the network" (docs/hostile-inputs.md): servers that drip,
that answer too much, that inflate, that write control characters, that ask to wait.

Each row runs `reconciler apply` against a real server of its own on 127.0.0.1
(tests/cor/servers.py): in-process, or as a child process where its memory is measured.
Besides `assert_clean`, each row checks what must never happen: a hang past `--timeout`, memory
without bound, a body accepted or retried, a request given up on for a wait COR asked for.
"""

from __future__ import annotations

import gzip
import os
import resource
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.cor.servers import MIB, RawServer, Reply, Request, answering, drip, gzip_bomb, response
from tests.harness import Cli, WorkFolder
from tests.hostile.checks import assert_clean
from tests.paths import ROOT

TOKEN = "network-token-0123456789"
MANIFEST = {"sap.yaml": "source: SAP\nclients:\n  - id: C-1\n    name: Client one\n"}
ONE_TRY = ("--retry-attempts", "1", "--parallelism", "1")


def _apply(
    cli: Cli, server: RawServer, monkeypatch: pytest.MonkeyPatch, *options: str
) -> tuple[int, str, str]:
    monkeypatch.setenv("COR_API_URL", server.url)
    monkeypatch.setenv("COR_TOKEN", TOKEN)
    return cli("apply", "--auto-approve", *options)


# --- the whole-attempt deadline --------------------------------------------------------------

CREATED = response(201, {"id": 25855})


def _headers_then(body_drip: Reply) -> Reply:
    def reply(connection: socket.socket, request: Request) -> None:
        connection.sendall(b"HTTP/1.1 201 Created\r\nContent-Length: 200\r\n\r\n")
        body_drip(connection, request)

    return reply


@pytest.mark.parametrize(
    "reply",
    [
        pytest.param(drip(CREATED), id="drip-headers-byte-by-byte"),
        pytest.param(_headers_then(drip(b" " * 200)), id="drip-body-byte-by-byte"),
    ],
)
def test_a_dripping_server_cannot_hold_an_attempt_past_the_timeout(
    cli: Cli, work_folder: WorkFolder, monkeypatch: pytest.MonkeyPatch, reply: Reply
) -> None:
    work_folder(MANIFEST)
    with RawServer(reply) as server:
        started = time.monotonic()
        code, out, err = _apply(cli, server, monkeypatch, "--timeout", "1", *ONE_TRY)
        took = time.monotonic() - started
    assert_clean(code, out, err, exit_code=1, says="timed out: no complete answer within 1s")
    assert took < 5, f"two attempts of --timeout 1 took {took:.1f}s (the drip lasts 20s)"
    assert len(server.requests) == 2  # one attempt per round: POST, then the second round's PUT


# --- the limits on a body ---------------------------------------------------------------------


PADDING = b'{"id": 25855, "pad": "' + b"x" * (17 * MIB) + b'"}'


@pytest.mark.parametrize(
    "huge",
    [
        pytest.param(
            b"HTTP/1.1 201 Created\r\nConnection: close\r\n\r\n" + PADDING,
            id="answer-larger-than-the-limit",
        ),
        pytest.param(response(201, PADDING), id="answer-declared-larger-than-the-limit"),
    ],
)
def test_an_answer_larger_than_the_limit_is_refused_not_retried(
    cli: Cli, work_folder: WorkFolder, monkeypatch: pytest.MonkeyPatch, huge: bytes
) -> None:
    work_folder(MANIFEST)
    with RawServer(answering(huge)) as server:
        code, out, err = _apply(cli, server, monkeypatch, "--retry-attempts", "3")
    assert_clean(code, out, err, exit_code=1, says="the answer is larger than 16 MiB")
    assert len(server.requests) == 1, "an oversized answer was retried"


@pytest.mark.parametrize(
    "layers",
    [pytest.param(1, id="gzip-bomb-answer"), pytest.param(2, id="gzip-bomb-in-two-layers")],
)
def test_a_gzip_bomb_fails_fast_with_bounded_memory(
    work_folder: WorkFolder, tmp_path: Path, layers: int
) -> None:
    """A 2 MB answer that inflates to 2 GiB, in a child process whose peak memory is read
    (and capped, so that a client without the limit fails rather than eats the machine)."""
    root = work_folder(MANIFEST)
    bomb = gzip_bomb()
    for _ in range(layers - 1):
        bomb = gzip.compress(bomb)
    coding = ", ".join(["gzip"] * layers)
    reply = answering(response(201, bomb, Content_Encoding=coding))
    with RawServer(reply) as server:
        env = {**os.environ, "COR_API_URL": server.url, "COR_TOKEN": TOKEN, "PYTHONPATH": str(ROOT)}
        command = [sys.executable, "-m", "reconciler", "apply", "--auto-approve", *ONE_TRY]
        code, out, err, peak = _run_measured(command, root, env, tmp_path)
    assert len(bomb) < 3 * MIB
    assert_clean(code, out, err, exit_code=1, says="the answer decodes to more than 64 MiB")
    assert peak < 512 * MIB, f"peak RSS {peak // MIB} MiB"
    assert len(server.requests) == 1


def _run_measured(
    command: list[str], cwd: Path, env: dict[str, str], tmp_path: Path
) -> tuple[int, str, str, int]:
    """Run `command`; its exit code, output and peak RSS in bytes (Linux: ru_maxrss in KiB)."""

    def cap_memory() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (3 * 1024 * MIB, 3 * 1024 * MIB))

    out_path, err_path = tmp_path / "out.txt", tmp_path / "err.txt"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        child = subprocess.Popen(
            command, cwd=cwd, env=env, stdout=out, stderr=err, preexec_fn=cap_memory
        )
        _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    text = (out_path.read_text("utf-8"), err_path.read_text("utf-8"))
    return child.returncode, *text, usage.ru_maxrss * 1024


# --- what COR says, made printable -----------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "evil"),
    [
        pytest.param(
            400,
            {"name": "Evil\x1b[31mError", "message": "\x1b]0;owned\x07\x1b[2J\u202egnp.exe"},
            id="control-characters-in-cor-error",
        ),
    ],
)
def test_control_characters_in_cor_s_error_are_escaped(
    cli: Cli, work_folder: WorkFolder, monkeypatch: pytest.MonkeyPatch, status: int, evil: object
) -> None:
    work_folder(MANIFEST)
    with RawServer(answering(response(status, evil))) as server:
        code, out, err = _apply(cli, server, monkeypatch, *ONE_TRY)
    says = ["Evil\\x1b[31mError", "\\x1b]0;owned\\x07\\x1b[2J\\u202egnp.exe"]
    assert_clean(code, out, err, exit_code=1, says=says)


# --- a 429 that asks to wait -------------------------------------------------------------------


@pytest.mark.parametrize("waits", [pytest.param(3, id="429-retry-after-is-no-attempt")])
def test_a_429_with_retry_after_spends_no_attempt(
    cli: Cli, work_folder: WorkFolder, monkeypatch: pytest.MonkeyPatch, waits: int
) -> None:
    work_folder(MANIFEST)
    wait = response(429, {"message": "slow down"}, Retry_After="0")
    with RawServer(answering(*[wait] * waits, CREATED)) as server:
        code, out, err = _apply(cli, server, monkeypatch, *ONE_TRY)
    says = [
        "retrying client SAP/C-1: POST /v2/integrations/clients in 0.0s "
        "(COR asked to wait; attempt 1/1 again): 429 Too Many Requests",
    ]
    assert_clean(code, out, err, exit_code=0, says=says)
    assert len(server.requests) == waits + 1


# --- options that are not a number of seconds -------------------------------------------------


@pytest.mark.parametrize(
    ("option", "value"),
    [
        pytest.param("--timeout", "nan", id="timeout-nan"),
        pytest.param("--timeout", "inf", id="timeout-inf"),
        pytest.param("--retry-max-wait", "nan", id="retry-max-wait-nan"),
    ],
)
def test_a_wait_that_is_not_a_finite_number_is_a_usage_error(
    cli: Cli, work_folder: WorkFolder, monkeypatch: pytest.MonkeyPatch, option: str, value: str
) -> None:
    work_folder(MANIFEST)
    with RawServer(answering(CREATED)) as server:
        code, out, err = _apply(cli, server, monkeypatch, option, value)
    says = f"Invalid value for '{option}': '{value}' is not a finite number of seconds"
    assert_clean(code, out, err, exit_code=3, says=says)
    assert server.connections == 0


@pytest.mark.parametrize("digits", [pytest.param(5_000, id="answer-number-too-long")])
def test_an_answer_holding_a_number_too_long_to_read_is_not_understood(
    cli: Cli, work_folder: WorkFolder, monkeypatch: pytest.MonkeyPatch, digits: int
) -> None:
    work_folder(MANIFEST)
    huge = b'{"id": ' + b"9" * digits + b"}"
    reply = b"HTTP/1.1 201 Created\r\nContent-Length: %d\r\n\r\n%s" % (len(huge), huge)
    with RawServer(answering(reply)) as server:
        code, out, err = _apply(cli, server, monkeypatch, *ONE_TRY)
    assert_clean(code, out, err, exit_code=1, says="x failed client SAP/C-1")
    assert len(max(out.splitlines(), key=len)) < 400, "the whole number was printed"
