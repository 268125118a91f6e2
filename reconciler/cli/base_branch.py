"""`plan --base-ref REF` / `--base-paths DIR`: mark what the base branch's plan already holds.

Part of the CLI. Reads the base's manifests (from git at REF: `manifests/git_ref.py`; or from
folders on disk standing for the PATHS, one each), makes the base's own plan against the same
state with the same options (every source and record: no `--source`, `--target`), and marks the
pull request's changes the base's plan holds (`core/baseline.mark_pending`). Base manifests with
problems are a warning, not a failure (a pull request may be the fix): every change is then
shown as the pull request's own. Documented in docs/plan-markdown.md.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

import click

from reconciler.cli.console import stderr_warning
from reconciler.cli.options import gathered, with_options
from reconciler.core.baseline import mark_pending
from reconciler.core.limits import PlanOptions, make_plan
from reconciler.core.plan import Plan
from reconciler.core.resources import Desired
from reconciler.core.text import printable
from reconciler.errors import ManifestError, UsageError
from reconciler.manifests.cache import ManifestCache
from reconciler.manifests.reader import read_manifests
from reconciler.state.codec import State

if TYPE_CHECKING:
    from reconciler.core.refresh import Refreshed

F = TypeVar("F", bound=Callable[..., Any])
_SHOWN_PROBLEMS = 5


class BaseSource(NamedTuple):
    """Where the base branch's manifests are: a git ref, or folders standing for the PATHS."""

    ref: str | None
    paths: tuple[str, ...]


def _base_source(base_ref: str | None, base_paths: tuple[str, ...]) -> BaseSource | None:
    if base_ref is not None and base_paths:
        raise UsageError("--base-ref and --base-paths: give one or the other")
    if base_ref is None and not base_paths:
        return None
    return BaseSource(base_ref, base_paths)


_BASE_OPTIONS = (
    click.option(
        "--base-ref",
        metavar="REF",
        help="Also plan the manifests at this git ref (the base branch, e.g. origin/main; read "
        "from git, no checkout) against the same state, and mark each change already pending "
        "there as not introduced by this pull request (docs/plan-markdown.md).",
    ),
    click.option(
        "--base-paths",
        multiple=True,
        metavar="DIR",
        type=click.Path(path_type=str),
        help="As --base-ref, with the base branch's manifests on disk: one DIR per PATH, in "
        "the same order (repeatable).",
    ),
)


def base_options(command: F) -> F:
    """Add --base-ref and --base-paths; the command receives `base_source: BaseSource | None`."""
    command = gathered(("base_ref", "base_paths"), "base_source", _base_source)(command)
    return with_options(command, _BASE_OPTIONS)


def read_base(
    source: BaseSource | None,
    paths: Sequence[str],
    cache: ManifestCache | None,
    max_file_size: int,
) -> Desired | None:
    """The base's declarations, located at `paths` (as the pull request's are); None without a
    base, or, with a warning, when they have problems."""
    if source is None:
        return None
    # git and a temporary folder (subprocess, tempfile): loaded only when a base is given
    from reconciler.manifests.git_ref import read_manifests_at, relocated

    try:
        if source.ref is not None:
            return read_manifests_at(source.ref, paths, store=cache, max_file_size=max_file_size)
        if len(source.paths) != len(paths):
            raise UsageError(
                f"--base-paths: {len(source.paths)} given for {len(paths)} PATHS: give one "
                "folder (or file) per PATH, in the same order"
            )
        desired = read_manifests(source.paths, store=cache, max_file_size=max_file_size)
        return relocated(desired, list(zip(source.paths, paths, strict=True)))
    except ManifestError as error:
        where = printable(source.ref) if source.ref is not None else "--base-paths"
        stderr_warning(
            f"warning: the base's manifests ({where}) have {len(error.problems)} problem(s); "
            "every change is shown as this pull request's:"
        )
        for problem in error.problems[:_SHOWN_PROBLEMS]:
            stderr_warning(f"  {problem}")
        return None


def against_base(
    the_plan: Plan,
    base_desired: Desired | None,
    state: State,
    options: PlanOptions,
    live: Refreshed | None,
    *,
    cwd: str,
    base: str,
) -> Plan:
    """`the_plan` with each change the base's own plan holds marked `pending_on_base`; as it
    is without a base (`base_desired` None)."""
    if base_desired is None:
        return the_plan
    everything = dataclasses.replace(options, sources=(), targets=())
    theirs = make_plan(
        base_desired, state.records, state.in_doubt, everything, live, cwd=cwd, base=base
    )
    return mark_pending(the_plan, theirs)
