"""A state held by another process: the lock is an flock, per open file, so a second holder
must be a process of its own. Shared by tests/state/ and tests/hostile/."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.paths import ROOT

APPLY = "reconciler apply manifests"
HOLDER = """
import sys
from pathlib import Path
from reconciler.state.store import StateStore

store = StateStore.open(Path(sys.argv[1]), command=sys.argv[2])
print("locked", flush=True)
sys.stdin.readline()
store.close()
"""


@contextmanager
def held_elsewhere(path: Path, command: str = APPLY) -> Iterator[subprocess.Popen[str]]:
    """Another process that holds the lock (flock is per open file, so a process of its own)
    until the block ends, or until the test kills it."""
    args = [sys.executable, "-c", HOLDER, str(path), command]
    with subprocess.Popen(
        args, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as child:
        assert child.stdout is not None
        assert child.stdin is not None
        try:
            assert child.stdout.readline() == "locked\n"
            yield child
        finally:
            if child.poll() is None:
                child.stdin.write("\n")
                child.stdin.flush()
                child.wait(timeout=30)
