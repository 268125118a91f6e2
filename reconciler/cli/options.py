"""Options that several commands share, and the defaults they show.

Part of the CLI (click). Light on purpose: every command module imports it, so it imports click,
core values, `manifests.cache` and `manifests.discovery` (no YAML, no pydantic, no HTTP). An
option family reaches its command as one value (`gathered`): `plan_options: PlanOptions`,
`cache: ManifestCache | None`.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, cast

import click

from reconciler.cli.config import PATHS_META, PathOrUrl, configured_folder
from reconciler.core.limits import DEFAULT_COUNT, DEFAULT_SHARE, MIN_RECORDED_FOR_SHARE, PlanOptions
from reconciler.core.resources import SOURCES
from reconciler.core.scope import scope_of
from reconciler.manifests.cache import ManifestCache
from reconciler.manifests.discovery import DEFAULT_MAX_FILE_SIZE
from reconciler.manifests.problems import byte_size
from reconciler.state.location import StateLocation, locate

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_PATHS = ("manifests",)
DEFAULT_STATE = "reconciler.state.json"
DEFAULT_CACHE_DIR = ".reconciler-cache"


def _configured_paths(ctx: click.Context, _: click.Parameter, paths: tuple[str, ...]) -> Any:
    """No PATHS given: the config file's `paths`, if it has them (cli/config.py)."""
    return paths or ctx.meta.get(PATHS_META, ())


paths_argument = click.argument(
    "paths", nargs=-1, type=click.Path(path_type=str), callback=_configured_paths
)


def folders(state: StateLocation) -> tuple[str, str]:
    """The current folder and the state file's, absolute: manifest files are recorded relative
    to the state's folder (core/scope.py), whatever folder a run starts in. A state in a store
    has no folder: the config file's stands for it, else the current folder
    (docs/state-backends.md)."""
    here = os.getcwd()
    if isinstance(state, Path):
        return here, os.path.dirname(os.path.abspath(state))
    return here, os.path.abspath(configured_folder() or here)


def scoped(
    options: PlanOptions, paths: tuple[str, ...], cwd: str, base: str | None = None
) -> PlanOptions:
    """`options` with the scope of a run given `paths` (none: DEFAULT_PATHS) from the folder
    `cwd`: what its prune may delete (core/scope.py, docs/cli.md "Deletion")."""
    return dataclasses.replace(options, scope=scope_of(paths, cwd, DEFAULT_PATHS, base))


_SIZE = re.compile(r"\s*([0-9]+)\s*(|b|k|kib|m|mib|g|gib)\s*", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 1 << 10, "kib": 1 << 10, "m": 1 << 20, "mib": 1 << 20}
_UNITS |= {"g": 1 << 30, "gib": 1 << 30}


class ByteSize(click.ParamType[int]):
    """A size in bytes: `1048576`, `512KiB`, `64MiB`, `1GiB` (K, M, G: the same units)."""

    name = "size"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        found = _SIZE.fullmatch(str(value))
        size = int(found[1]) * _UNITS[found[2].lower()] if found else 0
        if size < 1:
            self.fail(f"{value!r} is not a size: write bytes, or KiB, MiB, GiB (64MiB)", param, ctx)
        return size


max_file_size_option = click.option(
    "--max-file-size",
    type=ByteSize(),
    envvar="RECONCILER_MAX_FILE_SIZE",
    show_envvar=True,
    default=byte_size(DEFAULT_MAX_FILE_SIZE).replace(" ", ""),  # shown as 64MiB
    show_default=True,
    metavar="SIZE",
    help="The largest manifest file read (bytes, or KiB, MiB, GiB); a larger one is refused "
    "unread (exit 3).",
)


class StateType(click.ParamType[str]):
    """A state file's path, or a store's URL (postgres://..., s3://BUCKET/KEY); judged with
    --s3-endpoint-url when both are known (`state/location.py`). In a config file a relative
    path starts at the file's folder, as any path there (cli/config.py)."""

    name = "path|url"


def _state_location(state_path: str, s3_endpoint_url: str | None) -> StateLocation:
    return locate(state_path, s3_endpoint_url=s3_endpoint_url or None, environ=os.environ)


_STATE_OPTIONS = (
    click.option(
        "--state",
        "state_path",
        envvar="RECONCILER_STATE",
        show_envvar=True,
        default=DEFAULT_STATE,
        show_default=True,
        type=PathOrUrl(),  # judged with --s3-endpoint-url, by _state_location
        help="The state: what reconciler has created in COR, with COR's ids. A file, or a "
        "store: postgresql://USER@HOST/DB?state=NAME or s3://BUCKET/KEY, with credentials "
        "from the environment only (docs/state-backends.md).",
    ),
    click.option(
        "--s3-endpoint-url",
        envvar="AWS_ENDPOINT_URL",
        show_envvar=True,
        metavar="URL",
        help="An S3-compatible store's endpoint (MinIO, SeaweedFS...) for an s3:// state; "
        "none: AWS.",
    ),
)


def state_option(command: F) -> F:
    """Add --state and --s3-endpoint-url; the command receives them as one
    `state_path: StateLocation` (a Path for a file: the default, unchanged)."""
    command = gathered(("state_path", "s3_endpoint_url"), "state_path", _state_location)(command)
    return with_options(command, _STATE_OPTIONS)


no_color_option = click.option(
    "--no-color", is_flag=True, help="Never colour the output (also: NO_COLOR set)."
)


def format_option(
    help: str, choices: tuple[str, ...] = ("text", "json", "markdown")
) -> Callable[[F], F]:
    """--format CHOICE (text first, the default), received as `output_format`; `help` names
    the docs."""
    return click.option(
        "--format",
        "output_format",
        type=click.Choice(list(choices)),
        default="text",
        show_default=True,
        help=help,
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


def with_options(command: F, options: tuple[Callable[[F], F], ...]) -> F:
    """Apply click options so that they show in the order given."""
    for option in reversed(options):
        command = option(command)
    return command


_SCOPE_OPTIONS = (
    click.option(
        "--source",
        "sources",
        multiple=True,
        type=click.Choice(SOURCES),
        metavar="SOURCE",
        help="Only this source's records (repeatable): what is declared, recorded and pruned.",
    ),
    click.option(
        "--target",
        "targets",
        multiple=True,
        metavar="ADDRESS",
        help="Only this record, as printed ('product SALESFORCE/SF-P-100'), and what it needs "
        "(repeatable).",
    ),
)
_PRUNE_OPTIONS = (
    *_SCOPE_OPTIONS,
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


def scope_options(command: F) -> F:
    """Add --source and --target (docs/cli.md); the command receives them as
    `plan_options: PlanOptions` (import: what it looks up)."""
    command = gathered(("sources", "targets"), "plan_options", PlanOptions)(command)
    return with_options(command, _SCOPE_OPTIONS)


_CONVERGE_OPTIONS = (
    click.option(
        "--refresh",
        is_flag=True,
        help="First read what COR holds now (its main API, --read-api-url; credentials as for "
        "apply) and plan against it: changes made in COR are repaired.",
    ),
    click.option(
        "--allow-replace",
        is_flag=True,
        help="Let the plan replace records (delete, then create under the same id) where a "
        "field the API cannot update must change; without it such a plan is refused (exit 4).",
    ),
)


def planning_options(command: F) -> F:
    """Add --source, --target, --prune, --force, --max-delete-share, --max-delete, --refresh,
    --allow-replace (docs/cli.md); the command receives them as `plan_options: PlanOptions`."""
    names: tuple[str, ...] = ("sources", "targets", "prune", "force", "max_delete_share")
    names += ("max_delete", "refresh", "allow_replace")
    command = gathered(names, "plan_options", PlanOptions)(command)
    return with_options(command, (*_PRUNE_OPTIONS, *_CONVERGE_OPTIONS))


_CACHE_OPTIONS = (
    click.option(
        "--cache-dir",
        type=click.Path(file_okay=False, path_type=Path),
        envvar="RECONCILER_CACHE_DIR",
        show_envvar=True,
        default=DEFAULT_CACHE_DIR,
        show_default=True,
        help="Where parsed manifest files are kept, by the sha256 of their bytes, so that an "
        "unchanged file is not parsed again. Safe to delete at any time.",
    ),
    click.option(
        "--no-cache",
        is_flag=True,
        help="Parse every manifest file; neither use nor fill the cache.",
    ),
)


def _manifest_cache(cache_dir: Path, no_cache: bool) -> ManifestCache | None:
    return None if no_cache else ManifestCache(cache_dir)


def cache_options(command: F) -> F:
    """Add --cache-dir and --no-cache, for the commands that read manifests only (docs/cli.md);
    the command receives them as `cache: ManifestCache | None`."""
    command = gathered(("cache_dir", "no_cache"), "cache", _manifest_cache)(command)
    return with_options(command, _CACHE_OPTIONS)
