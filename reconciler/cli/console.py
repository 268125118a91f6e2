"""The CLI's terminal: colour or not, stderr for logs and progress, the command line itself.

Part of the CLI: stdout is the product (plans, reports, JSON); logs, progress and warnings go to
stderr through these functions.
"""

from __future__ import annotations

import os
import sys

import click


def colour(no_color: bool) -> bool:
    return not no_color and not os.environ.get("NO_COLOR") and sys.stdout.isatty()


def stderr_log(message: str) -> None:
    click.echo(message, err=True)


def stderr_write(text: str) -> None:
    sys.stderr.write(text)
    sys.stderr.flush()


def command_line() -> str:
    """What the lock names as its holder's command (arguments only: no secret is an option)."""
    return " ".join(["reconciler", *sys.argv[1:]])
