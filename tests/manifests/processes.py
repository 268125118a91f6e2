"""`reconciler` run as a real process, for what an in-process run cannot show: a FIFO that would
hang the reader, /dev/zero that would fill memory (a timeout and a memory cap bound the child),
and a folder that cannot be read — as root, chmod 000 stops nothing, so the child then runs as
the unprivileged user `nobody` (uid 65534) over a folder it may enter (`shared_folder`)."""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from tests.paths import ROOT

NOBODY = 65534
MEMORY_CAP = 2 << 30  # bytes of address space a child may map: reading /dev/zero ends there
TIMEOUT = 60  # seconds; a child still running then is a hang


def as_root() -> bool:
    return os.geteuid() == 0


def _capped() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))


def run_reconciler(
    *args: str,
    cwd: Path,
    unprivileged: bool = False,
    env: Mapping[str, str] | None = None,
    timeout: float = TIMEOUT,
) -> tuple[int, str, str]:
    """`reconciler ARGS` in a child process: (exit code, stdout, stderr). `unprivileged`: as
    `nobody` when the tests run as root (else as the current, already unprivileged, user).
    A child that outlives `timeout` is killed and the test fails: it hung."""
    python, child_env = sys.executable, dict(os.environ if env is None else env)
    user = None
    if unprivileged and as_root():
        child_env["PYTHONPATH"] = os.pathsep.join([str(ROOT), sysconfig.get_paths()["purelib"]])
        python, user = _python_for_nobody(child_env), NOBODY
    try:
        done = subprocess.run(
            [python, "-s", "-B", "-m", "reconciler", *args],
            cwd=cwd,
            env=child_env,
            user=user,
            capture_output=True,
            text=True,
            timeout=timeout,
            preexec_fn=_capped,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"reconciler {' '.join(args)} still running after {timeout} s: it hangs")
    return done.returncode, done.stdout, done.stderr


def _python_for_nobody(env: Mapping[str, str]) -> str:
    """An interpreter of this Python version that `nobody` may run (this one may live in a
    folder only root can enter) and that imports reconciler and its packages with `env`."""
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    probe_code = "import sys, reconciler, yaml, click; print(sys.version_info[:2])"
    for candidate in (
        sys.executable,
        f"/usr/bin/python{version}",
        f"/usr/local/bin/python{version}",
    ):
        try:
            probe = subprocess.run(
                [candidate, "-s", "-c", probe_code],
                user=NOBODY,
                env=env,
                cwd="/",
                capture_output=True,
                text=True,
                timeout=TIMEOUT,
                check=False,
            )
        except OSError:
            continue
        if probe.returncode == 0 and probe.stdout.strip() == str(sys.version_info[:2]):
            return candidate
    pytest.skip(
        f"no Python {version} interpreter that an unprivileged user may run with this "
        "checkout and its packages (is the checkout in a folder only root may enter?)"
    )


@pytest.fixture
def shared_folder() -> Iterator[Path]:
    """A temporary folder that `nobody` may enter and write (the test's own tmp_path lies in a
    folder only root may enter); removed afterwards, whatever was made unreadable in it."""
    folder = Path(tempfile.mkdtemp(prefix="reconciler-test-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        for path in [folder, *folder.rglob("*")]:
            if not path.is_symlink():
                path.chmod(0o755)
        shutil.rmtree(folder)


def hand_to_nobody(folder: Path) -> None:
    """Make `folder` and all in it `nobody`'s (when root), so that a child run as `nobody`
    may write there (a state file, its lock and journal)."""
    if as_root():
        for path in [folder, *folder.rglob("*")]:
            os.chown(path, NOBODY, NOBODY, follow_symlinks=False)
