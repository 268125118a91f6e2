"""The CLI as a user at a terminal meets it: a child process on a pseudo-terminal."""

from __future__ import annotations

import contextlib
import fcntl
import os
import pty
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Mapping
from pathlib import Path

from tests.paths import ROOT

PROMPT = b"Only 'yes' will be accepted"


def run_on_terminal(
    args: list[str],
    answer: str = "",
    *,
    cwd: Path = ROOT,
    env: Mapping[str, str] | None = None,
    signal_at_prompt: bool = False,
    columns: int | None = None,
    **variables: str,
) -> tuple[int, str]:
    """Run `reconciler ARGS` with stdin, stdout and stderr on a pseudo-terminal, in `cwd`,
    with `env` (default: this test's environment) plus `variables`; at the confirmation
    prompt, type `answer`, or send SIGTERM (`signal_at_prompt`); `columns`: the terminal's
    width. (exit code, what it showed)"""
    main_fd, child_fd = pty.openpty()
    if columns is not None:
        fcntl.ioctl(child_fd, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    process = subprocess.Popen(
        [sys.executable, "-m", "reconciler", *args],
        stdin=child_fd,
        stdout=child_fd,
        stderr=child_fd,
        env={**(os.environ if env is None else env), **variables},
        cwd=cwd,
    )
    os.close(child_fd)
    output, acted = b"", False
    try:
        while True:
            ready, _, _ = select.select([main_fd], [], [], 30)
            if not ready:
                raise AssertionError(f"no output for 30 s; so far: {output!r}")
            try:
                chunk = os.read(main_fd, 4096)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            output += chunk
            if acted or PROMPT not in output:
                continue
            acted = True
            if signal_at_prompt:
                # The prompt is printed just before the process blocks reading the terminal; a
                # signal in between would wait for a key (CPython runs signal handlers only
                # when the read is interrupted), so let it reach the read first.
                time.sleep(0.5)
                process.send_signal(signal.SIGTERM)
            elif answer:
                os.write(main_fd, answer.encode() + b"\n")
    finally:
        os.close(main_fd)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=30)
        if process.returncode is None:
            process.kill()
    return process.wait(timeout=30), output.decode()
