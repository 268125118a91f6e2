"""`reconciler plan`: what apply would change, from the manifests and the state only.

Offline: no credentials, no API call, no lock (safe for pull requests from forks). Renders the
pure core's plan as text, JSON or Markdown; `--out` saves it for `apply --plan`.
"""

from __future__ import annotations

from pathlib import Path

import click

from reconciler.cli.base_branch import BaseSource, against_base, base_options, read_base
from reconciler.cli.connection import ConnectionOptions, client_options, read_api_option
from reconciler.cli.console import colour, stderr_log
from reconciler.cli.options import (
    DEFAULT_PATHS,
    cache_options,
    folders,
    format_option,
    max_file_size_option,
    no_color_option,
    paths_argument,
    planning_options,
    scoped,
    state_option,
)
from reconciler.cli.refreshing import read_live_state
from reconciler.core.limits import PlanOptions, make_plan
from reconciler.core.plan import Plan
from reconciler.core.resources import Desired
from reconciler.errors import EXIT_CHANGES, EXIT_OK, EXIT_REFUSED, ReconcileError
from reconciler.files import PRIVATE, write_atomically
from reconciler.manifests.cache import ManifestCache
from reconciler.manifests.reader import read_manifests
from reconciler.memory import no_gc
from reconciler.output.plan_json import plan_document, render_json
from reconciler.output.plan_markdown import render_markdown
from reconciler.output.plan_text import refusal, render_text
from reconciler.state.backends import load_state
from reconciler.state.codec import State
from reconciler.state.location import StateLocation


@click.command()
@paths_argument
@state_option
@format_option(
    "text for people, json for programs (docs/plan-json.md), markdown for a pull-request "
    "comment (docs/plan-markdown.md)."
)
@click.option("--detailed-exitcode", is_flag=True, help="Exit 2 when there are changes, 0 if none.")
@click.option(
    "--out",
    "out_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also save the plan to this file, for `apply --plan` to apply exactly.",
)
@planning_options
@read_api_option
@client_options
@no_color_option
@cache_options
@max_file_size_option
@base_options
def plan(
    paths: tuple[str, ...],
    state_path: StateLocation,
    output_format: str,
    detailed_exitcode: bool,
    out_path: Path | None,
    no_color: bool,
    cache: ManifestCache | None,
    max_file_size: int,
    plan_options: PlanOptions,
    connection: ConnectionOptions,
    base_source: BaseSource | None,
) -> int:
    """Show what apply would change, from the manifests and the state only (COR is not asked).

    With --refresh, first read what COR holds now through its main API (credentials from the
    environment, as for apply) and plan against it.
    """
    desired = read_manifests(paths or DEFAULT_PATHS, store=cache, max_file_size=max_file_size)
    state = load_state(state_path)
    here, base = folders(state_path)
    theirs = read_base(base_source, paths or DEFAULT_PATHS, cache, max_file_size)  # --base-*
    plan_options = scoped(plan_options, paths, here, base)  # what a prune may delete; saved with it
    live = read_live_state(state.records, plan_options, connection)
    with no_gc():  # what was read lives until the end: no collection would free any of it
        the_plan = make_plan(
            desired, state.records, state.in_doubt, plan_options, live, cwd=here, base=base
        )
        the_plan = against_base(the_plan, theirs, state, plan_options, live, cwd=here, base=base)
        if output_format == "json":
            click.echo(render_json(the_plan), nl=False)
        elif output_format == "markdown":
            click.echo(render_markdown(the_plan, paths=paths or DEFAULT_PATHS), nl=False)
        else:
            click.echo(render_text(the_plan, color=colour(no_color)), nl=False)
        if the_plan.refused:  # the plan says why; nothing is saved to apply
            stderr_log(f"error: {refusal(the_plan)}; exit 4")
            return EXIT_REFUSED
        if out_path is not None:
            _save(out_path, the_plan, desired, state, plan_options, paths or DEFAULT_PATHS)
        has_changes = the_plan.summary.changes > 0
        return EXIT_CHANGES if detailed_exitcode and has_changes else EXIT_OK


def _save(
    path: Path,
    the_plan: Plan,
    desired: Desired,
    state: State,
    options: PlanOptions,
    paths: tuple[str, ...],
) -> None:
    from reconciler.core import saved_plan  # pydantic: only when a plan is saved

    document = plan_document(the_plan)
    text = saved_plan.save(document, desired, state.lineage, state.serial, options, paths)
    try:
        write_atomically(path, text.encode("utf-8"), durable=False, mode=PRIVATE)
    except OSError as error:
        raise ReconcileError(f"cannot write {path}: {error.strerror or error}") from error
    stderr_log(f"Saved the plan to {path}; apply exactly it with: reconciler apply --plan {path}")
