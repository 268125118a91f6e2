"""The CLI's terminal: colour or not, stderr for logs and progress, the command line itself.

Part of the CLI: stdout is the product (plans, reports, JSON); logs, progress and warnings go to
stderr through these functions. On a terminal, a status line (apply's progress) may stand at the
bottom of the screen: every other line is written above it — the status line is erased, the line
printed, the status line drawn again — under one lock, since the COR client logs its retries
from worker threads. The status line is cut to the terminal's width: a line that wrapped would
leave its first rows behind at each redraw, and the next line would run into them.

`--log-level` (`set_log_level`) chooses which lines reach stderr (docs/client.md, "Logs"):
`debug` adds one line per HTTP attempt (`http_debug`); `info`, the default, prints every line;
`warning` keeps only lines that start with `warning:` or `error:`, and those written with
`stderr_warning` (a `ReconcileError`'s line and the boundary's are printed whatever the level),
and no progress.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable

import click

_ERASE = "\r\033[K"  # back to the start of the line, and clear it
_screen = threading.RLock()
_status = ""  # the status line now shown on stderr ("" when none)

LOG_LEVELS = ("debug", "info", "warning")
_WARNINGS = ("warning:", "error:")  # the lines `--log-level warning` keeps
_level = "info"


def set_log_level(level: str) -> None:
    """The level of this run (the group's `--log-level`): `debug`, `info` or `warning`."""
    global _level
    if level not in LOG_LEVELS:
        raise ValueError(f"unknown log level {level!r}")
    _level = level


def verbose() -> bool:
    """Whether info lines (and progress) are shown: the level is `info` or `debug`."""
    return _level != "warning"


def http_debug() -> Callable[[str], None] | None:
    """Where the COR client writes its line per HTTP attempt: stderr at `debug`, else None
    (the client then does not even format them)."""
    return stderr_log if _level == "debug" else None


def colour(no_color: bool) -> bool:
    return not no_color and not os.environ.get("NO_COLOR") and sys.stdout.isatty()


def stderr_log(message: str) -> None:
    """A line on stderr, above the status line if one is shown (from any thread); at
    `--log-level warning`, only a line that starts with `warning:` or `error:`."""
    if _level == "warning" and not message.startswith(_WARNINGS):
        return
    stderr_warning(message)


def stderr_warning(message: str) -> None:
    """A line on stderr at every level, as `stderr_log` writes it: a warning that does not
    start with `warning:` (a lock taken over), or the lines that go on from one."""
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
    """Draw `text` as the status line on stderr (a terminal), in place, cut to the terminal's
    width; "" erases it."""
    global _status
    with _screen:
        _erase()
        _status = _fitted(text)
        _redraw()


def _fitted(text: str) -> str:
    """`text` on one row of stderr's terminal: one column is left free, so that the cursor
    never waits at the margin to wrap."""
    try:
        columns = os.get_terminal_size(sys.stderr.fileno()).columns
    except (OSError, ValueError, AttributeError):  # not a terminal (or no file): as it is
        return text
    if columns < 2 or len(text) < columns:  # 0: a terminal that does not say its width
        return text
    return text[: columns - 2] + "…"


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
