"""A throwaway PostgreSQL cluster for the tests (fixture `postgres`, tests/conftest.py).

The machine's own server binaries (`initdb`, `pg_ctl`: Debian's /usr/lib/postgresql/*/bin, or
PATH) run a cluster in a private temporary folder: TCP on 127.0.0.1 and a free port, a unix
socket in that folder, `trust` auth for the superuser TEST_USER (so no password exists to leak).
PostgreSQL refuses to run as root: under root (CI) every server command runs as the unprivileged
SERVICE_USER, who owns the folder. Durability settings are off (fsync, synchronous_commit): the
tests kill clients, never the server. Each pytest session (each xdist worker) has its own folder
(mkdtemp) and port (asked of the kernel; a start that loses the port to another process is
retried on a new one). Stopping is `pg_ctl stop -m immediate` on this cluster only.
"""

from __future__ import annotations

import os
import pwd
import shlex
import shutil
import socket
import stat
import subprocess
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from types import TracebackType

SERVICE_USER = "postgres"  # the unprivileged account Debian's package creates
TEST_USER = "reconciler"  # the cluster's superuser, trusted on 127.0.0.1 and the socket
TEST_DATABASE = "postgres"  # made by initdb; create_database() makes others
INSTALL_HINT = (
    "PostgreSQL's server binaries (initdb, pg_ctl) were not found in /usr/lib/postgresql/*/bin "
    "or on PATH: install them (Debian/Ubuntu: apt-get install postgresql-15) to run these tests"
)
DEBIAN_BINARIES = Path("/usr/lib/postgresql")
SETTINGS = (  # a test cluster: quick, small, private
    "fsync=off",
    "synchronous_commit=off",
    "full_page_writes=off",
    "shared_buffers=16MB",
    "max_connections=50",
    "jit=off",
)
START_ATTEMPTS = 3
TIMEOUT_SECONDS = 60


class PostgresUnavailableError(Exception):
    """This machine cannot run the cluster; the message says what to install or create."""


@dataclass(frozen=True)
class PostgresBinaries:
    """Where initdb and pg_ctl are, and how to run them (prefixed by runuser under root)."""

    bin_dir: Path
    run_as: tuple[str, ...] = ()  # e.g. ("runuser", "-u", "postgres", "--")
    owner: tuple[int, int] | None = None  # (uid, gid) to own the folder when run_as is set

    def command(self, tool: str, *args: str) -> list[str]:
        return [*self.run_as, str(self.bin_dir / tool), *args]


@dataclass(frozen=True)
class RunningPostgres:
    """A started cluster, as a test sees it: where to connect and as whom (no password)."""

    host: str
    port: int
    user: str
    dbname: str
    socket_dir: Path

    @property
    def conninfo(self) -> str:
        """libpq's key=value form over TCP: psycopg.connect(server.conninfo)."""
        return f"host={self.host} port={self.port} user={self.user} dbname={self.dbname}"

    @property
    def socket_conninfo(self) -> str:
        """The same, over the unix socket in the cluster's folder."""
        return f"host={self.socket_dir} port={self.port} user={self.user} dbname={self.dbname}"

    @property
    def url(self) -> str:
        """postgresql://USER@127.0.0.1:PORT/DBNAME: what `--state` will be given."""
        return f"postgresql://{self.user}@{self.host}:{self.port}/{self.dbname}"

    def create_database(self, name: str) -> RunningPostgres:
        """A new, empty database on this cluster (a test's own); the same server, that dbname."""
        import psycopg  # only the tests that use a cluster need the driver
        from psycopg import sql

        with psycopg.connect(self.conninfo, autocommit=True) as connection:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return replace(self, dbname=name)


def find_binaries(
    search: Path = DEBIAN_BINARIES, path: str | None = None, euid: int | None = None
) -> PostgresBinaries:
    """The newest /usr/lib/postgresql/N/bin holding initdb and pg_ctl, else PATH's; under root,
    run through runuser (or setpriv) as SERVICE_USER. PostgresUnavailableError says what is
    missing and how to install it."""
    candidates = sorted(
        (d / "bin" for d in search.glob("*") if d.name.isdigit()),
        key=lambda b: int(b.parent.name),
        reverse=True,
    )
    on_path = shutil.which("initdb", path=path)
    if on_path is not None:
        candidates.append(Path(on_path).parent)
    bin_dir = next((b for b in candidates if _has_tools(b)), None)
    if bin_dir is None:
        raise PostgresUnavailableError(INSTALL_HINT)
    if (os.geteuid() if euid is None else euid) != 0:
        return PostgresBinaries(bin_dir)
    return PostgresBinaries(bin_dir, _drop_privileges(path), _service_owner())


def _has_tools(bin_dir: Path) -> bool:
    return all(os.access(bin_dir / tool, os.X_OK) for tool in ("initdb", "pg_ctl", "postgres"))


def _service_owner() -> tuple[int, int]:
    try:
        account = pwd.getpwnam(SERVICE_USER)
    except KeyError:
        raise PostgresUnavailableError(
            f"PostgreSQL refuses to run as root and there is no {SERVICE_USER!r} user to run it "
            f"as: create one (useradd --system {SERVICE_USER}) or run the tests as another user"
        ) from None
    return account.pw_uid, account.pw_gid


def _drop_privileges(path: str | None) -> tuple[str, ...]:
    if shutil.which("runuser", path=path):
        return ("runuser", "-u", SERVICE_USER, "--")
    if shutil.which("setpriv", path=path):
        return ("setpriv", f"--reuid={SERVICE_USER}", f"--regid={SERVICE_USER}", "--init-groups")
    raise PostgresUnavailableError(
        "running as root, the tests start PostgreSQL as the postgres user through runuser or "
        "setpriv (util-linux): install util-linux"
    )


class PostgresCluster:
    """`with PostgresCluster(find_binaries()) as server:` a started cluster; on leaving, it is
    stopped (immediate) and its folder removed, whatever happened inside."""

    def __init__(self, binaries: PostgresBinaries, parent: Path | None = None) -> None:
        self.binaries = binaries
        self.parent = parent
        self.folder: Path | None = None

    def __enter__(self) -> RunningPostgres:
        self.folder = _private_folder(self.parent, self.binaries.owner)
        try:
            self._run("initdb", *_initdb_args(self.folder))
            return self._start()
        except BaseException:
            shutil.rmtree(self.folder, ignore_errors=True)
            raise

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        folder = self.folder
        if folder is None:
            return
        try:
            if (folder / "data" / "postmaster.pid").exists():
                stop = ("stop", "-D", str(folder / "data"), "-m", "immediate", "-w")
                self._run("pg_ctl", *stop, "-t", str(TIMEOUT_SECONDS))
        finally:
            self.folder = None
            shutil.rmtree(folder, ignore_errors=True)

    def _start(self) -> RunningPostgres:
        assert self.folder is not None
        log = self.folder / "server.log"
        for _attempt in range(START_ATTEMPTS):
            port = free_port()
            args = _start_args(self.folder, port)
            started = self._run("pg_ctl", *args, check=False)
            if started.returncode == 0:
                return RunningPostgres("127.0.0.1", port, TEST_USER, TEST_DATABASE, self.folder)
            text = log.read_text(encoding="utf-8", errors="replace") if log.exists() else ""
            if "could not bind" not in text and "Address already in use" not in text:
                break  # not a lost port: retrying would fail the same way
            log.unlink()
        raise RuntimeError(f"PostgreSQL did not start:\n{started.stdout}\n{text[-2000:]}")

    def _run(self, tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        assert self.folder is not None
        done = subprocess.run(
            self.binaries.command(tool, *args),
            cwd=self.folder,  # a folder SERVICE_USER may enter (not the caller's)
            env=_child_environment(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=TIMEOUT_SECONDS,
            check=False,
        )
        if check and done.returncode != 0:
            raise RuntimeError(f"{tool} failed ({done.returncode}):\n{done.stdout}")
        return done


def free_port() -> int:
    """A port on 127.0.0.1 nobody listens on now (the kernel's choice)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _initdb_args(folder: Path) -> tuple[str, ...]:
    return (
        f"--pgdata={folder / 'data'}",
        f"--username={TEST_USER}",
        "--auth=trust",
        "--encoding=UTF8",
        "--locale=C",
        "--no-sync",
    )


def _start_args(folder: Path, port: int) -> tuple[str, ...]:
    options = [
        "-c listen_addresses=127.0.0.1",
        f"-p {port}",
        f"-c unix_socket_directories={shlex.quote(str(folder))}",
        *(f"-c {setting}" for setting in SETTINGS),
    ]
    data, log, wait = str(folder / "data"), str(folder / "server.log"), str(TIMEOUT_SECONDS)
    return ("start", "-D", data, "-l", log, "-w", "-t", wait, "-o", " ".join(options))


def _private_folder(parent: Path | None, owner: tuple[int, int] | None) -> Path:
    """mkdtemp (unique per session and worker); under root, given to SERVICE_USER, whose
    server must reach it: every folder above it must be traversable by others."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    base = Path(tempfile.gettempdir()) if parent is None else parent
    if owner is not None and not _traversable(base):
        base = Path("/tmp")  # the sticky, world-traversable fallback (TMPDIR may be private)
    folder = Path(tempfile.mkdtemp(prefix=f"reconciler-pg-{worker}-", dir=base))
    if owner is not None:
        if not _traversable(base):
            folder.rmdir()
            raise PostgresUnavailableError(f"{base}: not traversable by the {SERVICE_USER} user")
        os.chown(folder, *owner)
    return folder


def _traversable(folder: Path) -> bool:
    resolved = folder.resolve()
    return all(os.stat(p).st_mode & stat.S_IXOTH for p in (resolved, *resolved.parents))


def _child_environment() -> dict[str, str]:
    """The caller's environment without libpq's PG* variables (PGDATA, PGPORT... would steer
    the tools elsewhere), in the C locale."""
    kept = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    return {**kept, "LC_ALL": "C", "LANG": "C"}
