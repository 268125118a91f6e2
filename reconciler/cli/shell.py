"""Shared pieces of the command line: options, defaults, output and file helpers.

Part of the imperative shell (click, stdout/stderr, files); see reconciler/cli/__init__.py.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import click

from reconciler.errors import (
    ReconcileError,
)
from reconciler.resources import KINDS, Desired

DEFAULT_PATHS = ("manifests",)
DEFAULT_STATE = "reconciler.state.json"
DEFAULT_API_URL = "https://integrations.projectcor.com"
DEFAULT_AUTH_URL = "https://api.projectcor.com/v1"

paths_argument = click.argument("paths", nargs=-1, type=click.Path(path_type=str))
state_option = click.option(
    "--state",
    "state_path",
    envvar="RECONCILER_STATE",
    show_envvar=True,
    default=DEFAULT_STATE,
    show_default=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The state file: what reconciler has created in COR, with COR's ids.",
)
no_color_option = click.option(
    "--no-color", is_flag=True, help="Never colour the output (also: NO_COLOR set)."
)


def counts(desired: Desired) -> str:
    counts = {kind: 0 for kind in KINDS}
    for key in desired:
        counts[key.kind] += 1
    return ", ".join(f"{counts[kind]} {kind.plural}" for kind in KINDS)


def colour(no_color: bool) -> bool:
    return not no_color and not os.environ.get("NO_COLOR") and sys.stdout.isatty()


def stderr_log(message: str) -> None:
    click.echo(message, err=True)


def write_file(path: Path, text: str) -> None:
    """Write `text` to `path` atomically (a reader sees the old file or the new one)."""
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent or Path("."), prefix=f".{path.name}.")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except OSError as error:
        raise ReconcileError(f"cannot write {path}: {error.strerror or error}") from error


def stderr_write(text: str) -> None:
    sys.stderr.write(text)
    sys.stderr.flush()


def command_line() -> str:
    """What the lock names as its holder's command (arguments only: no secret is an option)."""
    return " ".join(["reconciler", *sys.argv[1:]])
