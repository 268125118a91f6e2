"""The real servers of one xdist run, started once by the controller and shared by every worker
(the hooks and the `postgres` / `s3` fixtures of tests/conftest.py).

Why: a server per worker, or every server test on one worker, puts a 3-8 s start (SeaweedFS) on
the critical path and serializes the long state-store tests. Instead the controller starts the
PostgreSQL cluster and the SeaweedFS server (those the run's test files take: `wanted`) in
background threads as soon as the session is configured, so they come up while the workers
spawn and collect. The workers learn one handoff folder (through `config.workerinput`); each
server's outcome lands there as one JSON file, written atomically and readable by its owner only
(it holds the S3 secret): "ready" with the address, "unavailable" with the install hint (the
tests asking for it skip, as they do without xdist) or "failed" with the error (they fail). A
worker's fixture waits for that file, then builds the same RunningPostgres / S3Server a serial
session gets. The controller stops them after the workers have ended (pytest_unconfigure):
`pg_ctl stop -m immediate`, SIGKILL for weed.

Imports: tests/servers/postgres.py and seaweed.py (the servers themselves), pytest, the stdlib.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any, NoReturn

import pytest

from tests.servers.postgres import (
    PostgresCluster,
    PostgresUnavailableError,
    RunningPostgres,
    find_binaries,
)
from tests.servers.seaweed import (
    S3Server,
    SeaweedUnavailableError,
    find_weed,
    seaweed_server,
    weed_version,
)

WORKER_INPUT = "reconciler_servers"  # the key of config.workerinput: the handoff folder
# A worker gives up waiting after this long: more than a server's own start can take (pg_ctl's
# 60 s per step; weed's 60 s per attempt, 3 attempts), so a timeout means a stuck controller.
WAIT_SECONDS = 300.0
POLL_SECONDS = 0.05
Starter = Callable[[ExitStack, Path], dict[str, Any]]
USES = {  # a test or fixture that takes the server (or names it as a fixture)
    "postgres": re.compile(
        r"\bpostgres\s*:\s*[\"']?RunningPostgres\b|fixture\w*\(\s*\S*[\"']postgres[\"']"
    ),
    "s3": re.compile(r"\bs3\s*:\s*[\"']?S3Server\b|fixture\w*\(\s*\S*[\"']s3[\"']"),
}


def distributes(config: pytest.Config) -> bool:
    """Whether this process is the controller of an xdist run whose workers are local
    processes (the servers listen on 127.0.0.1): `-n N` given, not collecting only."""
    if hasattr(config, "workerinput") or config.getoption("collectonly", False):
        return False
    targets = config.getoption("tx", None) or []
    return config.getoption("dist", "no") != "no" and bool(targets)


def wanted(config: pytest.Config) -> list[str]:
    """The servers this run may ask for: the controller cannot see the collection, so it reads
    the test modules and conftests under the paths given (or testpaths) for a test or fixture
    taking `postgres` / `s3` (mypy --strict makes them annotated: `postgres: RunningPostgres`).
    Starting both for nothing cost ~1.5 s of wall time on a 3-second `-n 3 tests/core`; a
    server it misses is started by each worker that asks, as without xdist."""
    root = config.invocation_params.dir
    texts = [path.read_text(encoding="utf-8", errors="replace") for path in _modules(root, config)]
    return [name for name, pattern in USES.items() if any(pattern.search(t) for t in texts)]


def _modules(root: Path, config: pytest.Config) -> set[Path]:
    """Every .py file under the run's paths, and the conftests above them."""
    found: set[Path] = set()
    for arg in config.args:
        path = (root / arg.split("::")[0]).resolve()
        if path.is_dir():
            found.update(path.rglob("*.py"))
        elif path.is_file():
            found.add(path)
        found.update(p / "conftest.py" for p in path.parents if (p / "conftest.py").is_file())
    return found


def handoff(config: pytest.Config) -> tuple[Path, list[str]] | None:
    """In a worker of a run whose controller shares servers: the handoff folder and the
    servers the controller starts there (the others, the worker starts itself if asked)."""
    given = getattr(config, "workerinput", {}).get(WORKER_INPUT)
    if given is None:
        return None
    folder, names = given
    return Path(folder), list(names)


class SharedServers:
    """The servers, each started in the background at once; `stop()` waits for the starts to end
    (a start cannot be interrupted half-way without leaking its server) and stops them."""

    def __init__(self, starters: dict[str, Starter]) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="reconciler-servers-"))  # mode 0700
        self._stacks = {name: ExitStack() for name in starters}
        self._threads = [
            threading.Thread(target=self._run, args=(name, starter), name=f"{name}-start")
            for name, starter in starters.items()
        ]

    @classmethod
    def of(cls, names: list[str]) -> SharedServers:
        """The named servers ("postgres", "s3")."""
        starters: dict[str, Starter] = {"postgres": _start_postgres, "s3": _start_s3}
        return cls({name: starters[name] for name in names})

    @property
    def names(self) -> list[str]:
        return list(self._stacks)

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        for thread in self._threads:
            thread.join()
        try:
            for stack in self._stacks.values():
                stack.close()
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)

    def _run(self, name: str, starter: Starter) -> None:
        """One server's start, its outcome published whatever it is (a worker waits on it)."""
        try:
            document = {"status": "ready", "server": starter(self._stacks[name], self.folder)}
        except (PostgresUnavailableError, SeaweedUnavailableError) as missing:
            document = {"status": "unavailable", "message": str(missing)}
        except Exception as error:  # any failure: the workers' tests report it, not hang
            document = {"status": "failed", "message": f"{type(error).__name__}: {error}"}
        _publish(self.folder / f"{name}.json", document)


def _start_postgres(stack: ExitStack, _folder: Path) -> dict[str, Any]:
    server = stack.enter_context(PostgresCluster(find_binaries()))
    return {
        "host": server.host,
        "port": server.port,
        "user": server.user,
        "dbname": server.dbname,
        "socket_dir": str(server.socket_dir),
    }


def _start_s3(stack: ExitStack, folder: Path) -> dict[str, Any]:
    weed = find_weed()
    weed_version(weed)
    data = folder / "seaweed"
    data.mkdir()
    server = stack.enter_context(seaweed_server(weed, data))
    return {
        "endpoint_url": server.endpoint_url,
        "region": server.region,
        "access_key": server.access_key,
        "secret_key": server.secret_key,
        "startup_seconds": server.startup_seconds,
    }


def _publish(path: Path, document: dict[str, Any]) -> None:
    """Write then rename: a waiting worker reads the whole file or none of it."""
    partial = path.with_suffix(".partial")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as output:
        json.dump(document, output)
    partial.replace(path)


REQUIRED = "REQUIRE_TEST_SERVERS"  # set (.ci/run): a missing server fails, never skips


def unavailable(message: str) -> NoReturn:
    """A server whose binaries are missing: the test is skipped, saying what to install —
    except where REQUIRE_TEST_SERVERS is set (CI, whose machines have them: there the
    stores' tests must run), where it fails."""
    if os.environ.get(REQUIRED):
        pytest.fail(f"{REQUIRED} is set, but {message}", pytrace=False)
    pytest.skip(message)


def _outcome(folder: Path, name: str, timeout: float) -> dict[str, Any]:
    """The server's address once the controller has started it; a skip (not installed) or a
    failure (did not start, or no word within `timeout` seconds) otherwise."""
    path = folder / f"{name}.json"
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            pytest.fail(
                f"the {name} server that the xdist controller starts for every worker was not "
                f"ready within {timeout:.0f} s (no {path}); run without -n to start one here",
                pytrace=False,
            )
        time.sleep(POLL_SECONDS)
    document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    if document["status"] == "unavailable":
        unavailable(document["message"])
    if document["status"] != "ready":
        pytest.fail(
            f"the {name} server (started by the xdist controller) did not start: "
            f"{document['message']}",
            pytrace=False,
        )
    server: dict[str, Any] = document["server"]
    return server


def shared_postgres(folder: Path, timeout: float = WAIT_SECONDS) -> RunningPostgres:
    """The controller's cluster, once it accepts connections."""
    found = _outcome(folder, "postgres", timeout)
    return RunningPostgres(
        found["host"], found["port"], found["user"], found["dbname"], Path(found["socket_dir"])
    )


def shared_s3(folder: Path, timeout: float = WAIT_SECONDS) -> S3Server:
    """The controller's SeaweedFS, once it serves signed writes."""
    return S3Server(**_outcome(folder, "s3", timeout))
