"""Shared pieces of the command line: options, defaults, output and file helpers.

Part of the imperative shell (click, stdout/stderr, files); see reconciler/cli/__init__.py.
"""

from __future__ import annotations

import functools
import os
import sys
import tempfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar, cast

import click

from reconciler.core.limits import (
    DEFAULT_COUNT,
    DEFAULT_SHARE,
    MIN_RECORDED_FOR_SHARE,
    deletion_violations,
    parse_limits,
)
from reconciler.core.plan import Plan, build_plan
from reconciler.core.resources import KINDS, Desired
from reconciler.core.saved_plan import PlanOptions
from reconciler.errors import ReconcileError
from reconciler.state.store import State

F = TypeVar("F", bound=Callable[..., Any])

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


_PRUNE_OPTIONS = (
    click.option(
        "--prune",
        is_flag=True,
        help="Also delete, in COR and in the state, recorded records no longer declared.",
    ),
    click.option("--force", is_flag=True, help="Let a prune pass the deletion limits."),
    click.option(
        "--max-delete-share",
        "max_delete_share",
        multiple=True,
        metavar="[KIND=]PCT",
        help=f"Refuse to delete more than this share of a kind's records "
        f"(default {DEFAULT_SHARE:g}%, when at least {MIN_RECORDED_FOR_SHARE} are recorded).",
    ),
    click.option(
        "--max-delete",
        "max_delete",
        multiple=True,
        metavar="[KIND=]N",
        help=f"Refuse to delete more than N records of a kind (default {DEFAULT_COUNT}).",
    ),
)


def gathered(names: tuple[str, ...], into: str, build: Callable[..., Any]) -> Callable[[F], F]:
    """Hand the click parameters `names` to the command as one value, `into=build(**them)`,
    so a family of options travels as one object instead of one argument each."""

    def decorate(command: F) -> F:
        @functools.wraps(command)
        def gather(*args: Any, **kwargs: Any) -> Any:
            kwargs[into] = build(**{name: kwargs.pop(name) for name in names if name in kwargs})
            return command(*args, **kwargs)

        return cast(F, gather)

    return decorate


def prune_options(command: F) -> F:
    """Add --prune, --force, --max-delete-share, --max-delete (docs/cli.md, Deletion); the
    command receives them as `plan_options: PlanOptions`."""
    names = ("prune", "force", "max_delete_share", "max_delete")
    command = gathered(names, "plan_options", PlanOptions)(command)
    for option in reversed(_PRUNE_OPTIONS):
        command = option(command)
    return command


def make_plan(desired: Desired, state: State, settings: PlanOptions) -> Plan:
    """The plan, with the deletion limits it breaks when it prunes (safety.py)."""
    plan = build_plan(desired, state.records, state.in_doubt, prune=settings.prune)
    if not settings.prune:
        return plan
    limits = parse_limits(settings.max_delete_share, settings.max_delete)
    broken = deletion_violations(plan, state.records.keys(), len(desired), limits)
    return replace(plan, limits_broken=tuple(broken), forced=settings.force)
