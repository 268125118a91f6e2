"""tests/servers/shared.py without real servers: what a worker makes of each outcome the
controller publishes (an address, a missing binary, a failed start, silence), and that a
start's outcome is published whatever it was. The real servers' sharing is what every test
using `postgres` or `s3` under `make unit` exercises."""

from __future__ import annotations

import stat
from contextlib import ExitStack
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from tests.paths import ROOT
from tests.servers.postgres import INSTALL_HINT, PostgresUnavailableError, RunningPostgres
from tests.servers.seaweed import S3Server
from tests.servers.shared import SharedServers, shared_postgres, shared_s3, unavailable, wanted

SECRET = "not-a-real-secret-but-kept-private"


def ready_postgres(_stack: ExitStack, _folder: Path) -> dict[str, Any]:
    return {"host": "127.0.0.1", "port": 5999, "user": "u", "dbname": "d", "socket_dir": "/s"}


def ready_s3(_stack: ExitStack, _folder: Path) -> dict[str, Any]:
    return {
        "endpoint_url": "http://127.0.0.1:8333",
        "region": "us-east-1",
        "access_key": "KEY",
        "secret_key": SECRET,
        "startup_seconds": 3.5,
    }


def not_installed(_stack: ExitStack, _folder: Path) -> dict[str, Any]:
    raise PostgresUnavailableError(INSTALL_HINT)


def broken(_stack: ExitStack, _folder: Path) -> dict[str, Any]:
    raise RuntimeError("weed exited with 1: bind: address already in use")


def test_workers_get_the_servers_the_controller_started() -> None:
    servers = SharedServers({"postgres": ready_postgres, "s3": ready_s3})
    servers.start()
    try:
        postgres, s3 = shared_postgres(servers.folder, 10), shared_s3(servers.folder, 10)
        published = servers.folder / "s3.json"
        assert stat.S_IMODE(published.stat().st_mode) == 0o600  # it holds the secret
    finally:
        servers.stop()

    assert postgres == RunningPostgres("127.0.0.1", 5999, "u", "d", Path("/s"))
    assert s3 == S3Server("http://127.0.0.1:8333", "us-east-1", "KEY", SECRET, 3.5)
    assert not servers.folder.exists()


def test_a_missing_binary_skips_with_the_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REQUIRE_TEST_SERVERS", raising=False)  # as on a user's machine
    servers = SharedServers({"postgres": not_installed})
    servers.start()
    try:
        with pytest.raises(pytest.skip.Exception, match=r"apt-get install postgresql-15"):
            shared_postgres(servers.folder, 10)
    finally:
        servers.stop()


def test_a_failed_start_fails_the_tests_with_its_reason() -> None:
    servers = SharedServers({"s3": broken})
    servers.start()
    try:
        with pytest.raises(pytest.fail.Exception) as failed:
            shared_s3(servers.folder, 10)
    finally:
        servers.stop()

    assert "s3 server (started by the xdist controller) did not start" in str(failed.value)
    assert "RuntimeError: weed exited with 1: bind: address already in use" in str(failed.value)


def test_silence_fails_after_the_timeout_naming_the_server(tmp_path: Path) -> None:
    with pytest.raises(pytest.fail.Exception, match=r"postgres server .* within 0 s"):
        shared_postgres(tmp_path, 0.2)


def run_over(*args: str) -> pytest.Config:
    """What `wanted` reads of a run's configuration: its paths, from the repository root."""
    invocation = SimpleNamespace(dir=ROOT)
    return cast(pytest.Config, SimpleNamespace(args=list(args), invocation_params=invocation))


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["tests"], ["postgres", "s3"]),
        (["tests/core", "tests/output"], []),
        (
            ["tests/servers/test_postgres_server.py::test_the_server_is_private_and_unprivileged"],
            ["postgres"],
        ),
        (["tests/servers/test_s3_server.py"], ["s3"]),
    ],
)
def test_the_controller_starts_only_the_servers_the_paths_take(
    args: list[str], expected: list[str]
) -> None:
    assert wanted(run_over(*args)) == expected


def test_a_missing_server_skips_except_where_required(monkeypatch: pytest.MonkeyPatch) -> None:
    """On a user's machine without the binaries the stores' tests skip, saying what to
    install; CI (.ci/run sets REQUIRE_TEST_SERVERS) must run them, so there they fail."""
    monkeypatch.delenv("REQUIRE_TEST_SERVERS", raising=False)
    with pytest.raises(pytest.skip.Exception, match="install it"):
        unavailable("no initdb: install it")
    monkeypatch.setenv("REQUIRE_TEST_SERVERS", "1")
    with pytest.raises(pytest.fail.Exception, match="REQUIRE_TEST_SERVERS is set, but no initdb"):
        unavailable("no initdb: install it")
