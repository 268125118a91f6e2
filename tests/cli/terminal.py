"""The CLI as a user at a terminal meets it: a child process on a pseudo-terminal."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys

from tests.paths import ROOT


def run_on_terminal(args: list[str], answer: str = "", **variables: str) -> tuple[int, str]:
    """Run `reconciler ARGS` in the repository with stdin/stdout on a pseudo-terminal, in this
    test's environment plus `variables`; type `answer` when it prompts."""
    main_fd, child_fd = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "reconciler", *args],
        stdin=child_fd,
        stdout=child_fd,
        stderr=child_fd,
        env={**os.environ, **variables},
        cwd=ROOT,
    )
    os.close(child_fd)
    output = b""
    answered = False
    while True:
        ready, _, _ = select.select([main_fd], [], [], 30)
        if not ready:
            process.kill()
            raise AssertionError(f"no output for 30 s; so far: {output!r}")
        try:
            chunk = os.read(main_fd, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        output += chunk
        if answer and not answered and b"Only 'yes' will be accepted" in output:
            os.write(main_fd, answer.encode() + b"\n")
            answered = True
    os.close(main_fd)
    return process.wait(timeout=30), output.decode()
