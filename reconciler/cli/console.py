"""The CLI's terminal: colour or not, stderr for logs and progress, the command line itself.

Part of the CLI: stdout is the product (plans, reports, JSON); logs, progress and warnings go to
stderr through these functions. On a terminal, a status line (apply's progress) may stand at the
bottom of the screen: every other line is written above it — the status line is erased, the line
printed, the status line drawn again — under one lock, since the COR client logs its retries
from worker threads.
"""

from __future__ import annotations

import os
import sys
import threading

import click

_ERASE = "\r\033[K"  # back to the start of the line, and clear it
_screen = threading.RLock()
_status = ""  # the status line now shown on stderr ("" when none)


def colour(no_color: bool) -> bool:
    return not no_color and not os.environ.get("NO_COLOR") and sys.stdout.isatty()


def stderr_log(message: str) -> None:
    """A line on stderr, above the status line if one is shown (from any thread)."""
    with _screen:
        _erase()
        click.echo(message, err=True)
        _redraw()


def echo_above(text: str) -> None:
    """`text` on stdout, above the status line if one is shown (from any thread)."""
    with _screen:
        _erase()
        click.echo(text, nl=False)
        _redraw()


def show_status(text: str) -> None:
    """Draw `text` as the status line on stderr (a terminal), in place; "" erases it."""
    global _status
    with _screen:
        _erase()
        _status = text
        _redraw()


def stderr_write(text: str) -> None:
    with _screen:
        sys.stderr.write(text)
        sys.stderr.flush()


def _erase() -> None:
    if _status:
        stderr_write(_ERASE)


def _redraw() -> None:
    if _status:
        stderr_write(_status)


def command_line() -> str:
    """What the lock names as its holder's command (arguments only: no secret is an option)."""
    return " ".join(["reconciler", *sys.argv[1:]])
