"""Fixtures every test folder shares (their types and helpers: tests/harness.py).

- The environment: every test starts without COR_*, RECONCILER_* and NO_COLOR (autouse), with
  the manifest cache outside the repository. Child processes inherit that cleaned environment.
- `emulator`: ONE emulator per session (per xdist worker), reset before each test that uses it;
  `emulator_env` points the CLI at it with its static token. Tests that need another
  configuration (latency, faults, token lifetime) start their own EmulatorServer.
- `work_folder`: a temporary folder made the current one, files written from a dict.
- `cli`: `reconciler ...` in-process; (exit code, stdout, stderr), never a credential in either.
- `golden`: golden files, refreshed only with an explicit flag (--update-golden).
- `postgres`: ONE throwaway PostgreSQL cluster per run (tests/servers/postgres.py); `s3`: ONE
  SeaweedFS S3 server per run (tests/servers/seaweed.py). Under xdist the controller starts both
  in the background as the run begins and every worker shares them (tests/servers/shared.py);
  a serial run starts each when a test first asks for it. Either way a test asking for one is
  skipped, saying what to install, where the binaries are missing.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler.cli import run
from reconciler.emulator.server import EmulatorConfig, EmulatorServer
from tests.harness import Cli, RunningEmulator, WorkFolder
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
from tests.servers.shared import (
    WORKER_INPUT,
    SharedServers,
    distributes,
    handoff,
    shared_postgres,
    shared_s3,
    unavailable,
    wanted,
)

GOLDEN_DIR = Path(__file__).parent / "golden"
E2E = Path(__file__).parent / "e2e"
SERVERS = Path(__file__).parent / "servers"
OWN_VARIABLES = ("COR_", "RECONCILER_")  # what reconciler reads from the environment
SECRET_VARIABLES = ("COR_TOKEN", "COR_CLIENT_SECRET")
SESSION_EMULATOR = EmulatorConfig(port=0)  # the documented demo credentials (docs/emulator.md)
SHARED_SERVERS = pytest.StashKey[SharedServers]()  # the controller's, under xdist


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        help="rewrite tests/golden/ from the current output (review the diff!)",
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under xdist (make unit), tests/servers/ goes first (its smoke tests say first whether
    the real servers work; the controller has started them while the workers collected),
    then tests/e2e/: its tests run real processes against real waits, seconds each, so they
    start at once on every worker rather than leaving one worker busy long after the others
    (with --maxschedchunk 1, each worker takes the next test when it is free). A serial run
    keeps the usual order."""
    if "PYTEST_XDIST_WORKER" in os.environ:  # every worker sorts its identical collection
        items.sort(
            key=lambda item: (SERVERS not in item.path.parents, E2E not in item.path.parents)
        )


@pytest.fixture
def golden(request: pytest.FixtureRequest) -> Callable[[str, str], None]:
    """golden("case/file.txt", text): compare with tests/golden/case/file.txt."""
    update = bool(request.config.getoption("--update-golden"))

    def check(name: str, actual: str) -> None:
        path = GOLDEN_DIR / name
        if update:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(actual, encoding="utf-8")
        assert path.exists(), f"missing golden file {path}; run pytest --update-golden"
        assert actual == path.read_text(encoding="utf-8"), f"output differs from {path}"

    return check


# --- the environment ------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the developer's (or CI's) COR_*, RECONCILER_* or NO_COLOR: what a test
    needs, it sets itself (monkeypatch.setenv); child processes inherit this environment."""
    for name in list(os.environ):
        if name.startswith(OWN_VARIABLES) or name == "NO_COLOR":
            monkeypatch.delenv(name)


@pytest.fixture(autouse=True)
def _cache_outside_the_repository(
    _clean_environment: None,
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Tests never write a manifest cache into the working tree (or the user's folders)."""
    monkeypatch.setenv("RECONCILER_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))


# --- the emulator ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def _session_emulator() -> Iterator[EmulatorServer]:
    """Started once per session (per xdist worker), as httpx's test server is."""
    with EmulatorServer(SESSION_EMULATOR) as server:
        yield server


@pytest.fixture
def emulator(_session_emulator: EmulatorServer) -> RunningEmulator:
    """The session's emulator on 127.0.0.1, reset: no record, fault, issued token or statistic
    of an earlier test (COR ids start over too)."""
    config = SESSION_EMULATOR
    running = RunningEmulator(
        _session_emulator.url, str(config.token), config.api_key, config.client_secret
    )
    running.reset()
    return running


@pytest.fixture
def emulator_env(emulator: RunningEmulator, monkeypatch: pytest.MonkeyPatch) -> RunningEmulator:
    """The CLI's COR is the emulator (every API URL), reached with its static token."""
    monkeypatch.setenv("COR_API_URL", emulator.url)
    monkeypatch.setenv("COR_AUTH_URL", f"{emulator.url}/v1")
    monkeypatch.setenv("COR_READ_API_URL", f"{emulator.url}/v1")
    monkeypatch.setenv("COR_TOKEN", emulator.token)
    return emulator


# --- real servers (issue 13: the remote state stores) --------------------------------------


def pytest_configure(config: pytest.Config) -> None:
    """The xdist controller starts the servers the run's test files take, now and in the
    background: they come up while the workers spawn and collect (tests/servers/shared.py)."""
    names = wanted(config) if distributes(config) else []
    if names:
        servers = SharedServers.of(names)
        servers.start()
        config.stash[SHARED_SERVERS] = servers


@pytest.hookimpl(optionalhook=True)  # an xdist hook: absent with -p no:xdist
def pytest_configure_node(node: Any) -> None:
    """Each worker learns where the controller publishes its servers (before it spawns)."""
    servers = node.config.stash.get(SHARED_SERVERS, None)
    if servers is not None:
        node.workerinput[WORKER_INPUT] = (str(servers.folder), servers.names)


def pytest_unconfigure(config: pytest.Config) -> None:
    """The controller stops its servers once every worker has ended."""
    servers = config.stash.get(SHARED_SERVERS, None)
    if servers is not None:
        del config.stash[SHARED_SERVERS]
        servers.stop()


@pytest.fixture(scope="session")
def postgres(request: pytest.FixtureRequest) -> Iterator[RunningPostgres]:
    """A PostgreSQL cluster on 127.0.0.1:<free port> (and a unix socket in its folder), trust
    auth for its superuser (no password anywhere), stopped and removed at the run's end.
    Tests share it (across xdist workers too): each makes its own database (create_database)
    or state name, and its own advisory lock keys."""
    shared = handoff(request.config)
    if shared is not None and "postgres" in shared[1]:
        yield shared_postgres(shared[0])
        return
    try:
        binaries = find_binaries()
    except PostgresUnavailableError as missing:
        unavailable(str(missing))
    with PostgresCluster(binaries) as server:
        yield server


@pytest.fixture(scope="session")
def s3(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[S3Server]:
    """A SeaweedFS S3 endpoint on 127.0.0.1:<free port> (path-style; every port of the server
    explicit and on loopback), with an access key and secret made for it (never printed);
    stopped and its folder removed at the run's end. Tests share it (across xdist workers
    too): each makes its own bucket (names: 3-63 lowercase letters, digits, hyphens)."""
    shared = handoff(request.config)
    if shared is not None and "s3" in shared[1]:
        yield shared_s3(shared[0])
        return
    try:
        weed = find_weed()
        weed_version(weed)
    except SeaweedUnavailableError as missing:
        unavailable(str(missing))
    with seaweed_server(weed, tmp_path_factory.mktemp("seaweed")) as server:
        yield server


# --- the work folder and the CLI ------------------------------------------------------------


@pytest.fixture
def work_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> WorkFolder:
    """tmp_path, made the current folder (problems and paths read short and relative)."""
    monkeypatch.chdir(tmp_path)
    return WorkFolder(tmp_path)


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Cli:
    """Run `reconciler ARGS` in this process; what it printed, and that it printed no secret
    of its environment (COR_TOKEN, COR_CLIENT_SECRET)."""

    def invoke(*args: str) -> tuple[int, str, str]:
        secrets = {name: os.environ.get(name) for name in SECRET_VARIABLES}
        code = run(list(args))
        out, err = capsys.readouterr()
        for name, secret in secrets.items():
            assert not secret or secret not in out + err, f"{name} was printed"
        return code, out, err

    return invoke
