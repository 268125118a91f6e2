"""`reconciler apply`: plan, confirm, then apply through the COR client, recording each
success in the state; signals stop it cleanly. Also `apply --plan` for saved plans.
"""

from __future__ import annotations

import signal
import sys
from collections import Counter
from pathlib import Path
from types import FrameType
from typing import Any

import click
from click.core import ParameterSource

from reconciler.actions.apply import apply_plan, check_applicable
from reconciler.actions.outcomes import Result, second_round
from reconciler.cli.connection import (
    Connection,
    ConnectionOptions,
    connection_options,
    read_api_option,
)
from reconciler.cli.console import (
    colour,
    command_line,
    echo_above,
    show_status,
    stderr_log,
    stderr_warning,
    stderr_write,
    verbose,
)
from reconciler.cli.options import (
    DEFAULT_PATHS,
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
from reconciler.cli.show_command import read_saved_plan
from reconciler.core import saved_plan
from reconciler.core.limits import PlanOptions, make_plan
from reconciler.core.plan import Plan
from reconciler.core.refresh import DELETED_IN_COR
from reconciler.core.scope import files_to_fill
from reconciler.errors import (
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    RefusedError,
    UsageError,
)
from reconciler.manifests.reader import read_manifests
from reconciler.output.apply_json import render_apply_json
from reconciler.output.apply_text import render_apply_summary, render_result
from reconciler.output.plan_json import plan_document
from reconciler.output.plan_text import refusal, render_text
from reconciler.output.progress import Progress
from reconciler.output.style import counted
from reconciler.state.backends import open_store
from reconciler.state.location import StateLocation
from reconciler.state.store import StateStore


@click.command()
@paths_argument
@state_option
@click.option(
    "--auto-approve", is_flag=True, help="Apply without asking (needed without a terminal)."
)
@connection_options
@click.option(
    "--plan",
    "plan_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Apply exactly this saved plan (from `plan --out`), without asking; refused (exit 4) "
    "if the state, the manifests or the file changed since.",
)
@format_option(
    "text for people; json: one document of the results and the summary on stdout, the "
    "plan and progress on stderr (docs/outputs.md; needs --auto-approve or --plan).",
    choices=("text", "json"),
)
@planning_options
@read_api_option
@no_color_option
@max_file_size_option
def apply(
    paths: tuple[str, ...],
    state_path: StateLocation,
    auto_approve: bool,
    plan_file: Path | None,
    output_format: str,
    no_color: bool,
    max_file_size: int,
    connection: ConnectionOptions,
    plan_options: PlanOptions,
) -> int:
    """Create what is missing and update what changed in COR, recording COR's ids.

    Credentials come from the environment only: COR_TOKEN, or COR_API_KEY and
    COR_CLIENT_SECRET.
    """
    as_json = output_format == "json"
    if plan_file is not None:
        _refuse_contradictions(click.get_current_context())
    elif as_json and not auto_approve:
        raise UsageError("apply --format json never asks: give --auto-approve or --plan")
    color = colour(no_color) and not as_json
    desired = read_manifests(paths or DEFAULT_PATHS, max_file_size=max_file_size)
    saved = read_saved_plan(plan_file) if plan_file is not None else None
    with open_store(state_path, command=command_line(), warn=stderr_warning) as store:
        state = store.state
        here, base = folders(state_path)
        plan_options = scoped(plan_options, paths, here, base)  # what a prune may delete
        if saved is not None:  # the saved plan's own options, not this command's
            saved_plan.check_scope(saved, str(plan_file), plan_options.scope)
            plan_options = saved.options
        live = read_live_state(state.records, plan_options, connection)
        the_plan = make_plan(
            desired, state.records, state.in_doubt, plan_options, live, cwd=here, base=base
        )
        store.fill_files(files_to_fill(desired, state.records, here, base))  # a version 1 state's
        if saved is not None:  # the review was the approval: only if nothing moved since
            current = plan_document(the_plan)
            saved_plan.check_current(
                saved, str(plan_file), desired, state.lineage, state.serial, current
            )
            auto_approve = True
        click.echo(render_text(the_plan, color=color), nl=False, err=as_json)
        if the_plan.summary.changes == 0:
            _keep_refreshed(the_plan, store)
            if as_json:
                click.echo(render_apply_json(the_plan, None), nl=False)
            return EXIT_OK
        if the_plan.refused:
            raise RefusedError(_refused(the_plan))
        check_applicable(the_plan)
        connected = connection.connect()
        if not _approved(auto_approve):
            click.echo("Apply cancelled; nothing was changed.", err=True)
            return EXIT_FAILURE
        _keep_refreshed(the_plan, store)
        return _run_apply(the_plan, store, connected, color, as_json)


def _refused(the_plan: Plan) -> str:
    if the_plan.limits_broken and not the_plan.forced:
        return (
            "this plan deletes more than the limits allow (see above); nothing was changed. "
            "Check the manifests path; raise --max-delete / --max-delete-share, or --force"
        )
    return f"{refusal(the_plan)}; nothing was changed"


def _keep_refreshed(the_plan: Plan, store: StateStore) -> None:
    """With --refresh: the state takes COR's values for records changed in COR that no change
    touches, and forgets records deleted in COR: those no longer declared, and those about to
    be created again (their creates are journaled as any create is)."""
    again = [c.key for c in the_plan.changes if c.drift == DELETED_IN_COR]
    if not the_plan.synced and not the_plan.forgotten and not again:
        return
    with store.batch():
        for record in the_plan.synced:
            store.record(record)
        for key in (*(record.key for record in the_plan.forgotten), *again):
            store.forget(key)
    if the_plan.summary.changes == 0:
        store.close()
    if the_plan.synced or the_plan.forgotten:
        stderr_log(
            f"Recorded what COR holds for {counted(len(the_plan.synced), 'record')}; forgot "
            f"{counted(len(the_plan.forgotten), 'record')} deleted in COR and no longer declared."
        )


def _run_apply(
    the_plan: Plan, store: StateStore, connection: Connection, color: bool, as_json: bool = False
) -> int:
    click.echo("", err=as_json)
    totals = Counter(change.key.kind for change in the_plan.changes)
    terminal = sys.stderr.isatty()
    draw = show_status if terminal else stderr_write
    quiet = not verbose()  # --log-level warning: no progress either
    progress = Progress(totals, write=_nowhere if quiet else draw, terminal=terminal)

    def show(result: Result) -> None:
        if as_json:  # stdout holds the document alone
            stderr_log(render_result(result).rstrip("\n"))
        else:
            echo_above(render_result(result, color=color))
        progress.settled(result)

    with connection.client() as client, _StopOnSignal() as stop:
        try:
            report = apply_plan(
                the_plan,
                client.send,
                store,
                show,
                should_stop=lambda: stop.requested,
                parallelism=connection.parallelism,
                cor_ids={key: record.cor_id for key, record in store.state.records.items()},
                on_second_round=lambda gave_up, waiting: stderr_log(second_round(gave_up, waiting)),
            )
        finally:
            progress.clear()
        click.echo(render_apply_summary(report), nl=False, err=as_json)
        if as_json:
            click.echo(render_apply_json(the_plan, report), nl=False)
        if report.stopped_by:
            click.echo(f"error: {report.stopped_by}", err=True)
        store.close()  # the state is written whole before a signal counts (exit 130 after)
    if report.interrupted or stop.requested:
        return EXIT_INTERRUPTED
    return EXIT_OK if report.ok else EXIT_FAILURE


def _nowhere(_text: str) -> None:
    pass


def _approved(auto_approve: bool) -> bool:
    if auto_approve:
        return True
    if not sys.stdin.isatty():
        raise UsageError(
            "apply needs a terminal to ask for confirmation; in CI pass --auto-approve "
            "(nothing was changed)"
        )
    answer = click.prompt(  # no default: click would show it as `[]`
        "Do you want to apply these changes? Only 'yes' will be accepted",
        default="",
        show_default=False,
    )
    return bool(answer.strip() == "yes")


# The options a saved plan was made with, which it applies with: given again, they are refused.
_SAVED_WITH = frozenset(
    {"prune", "force", "max_delete", "max_delete_share", "sources", "targets", "refresh"}
    | {"allow_replace"}
)
_GIVEN = (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)


def _refuse_contradictions(ctx: click.Context) -> None:
    """`apply --plan` applies the saved plan with its own options: one given here would be
    silently ignored, so it is refused (exit 3), as Terraform refuses them with a saved plan."""
    given = [
        param.opts[0]
        for param in ctx.command.params
        if param.name in _SAVED_WITH and ctx.get_parameter_source(param.name) in _GIVEN
    ]
    if given:
        raise UsageError(
            f"{', '.join(given)} cannot be given with --plan: a saved plan applies with the "
            "options it was made with (`plan --out`); drop them, or plan again with them"
        )


class _StopOnSignal:
    """During apply, the first SIGINT or SIGTERM asks for a clean stop: the request in flight
    finishes and is recorded, nothing new starts. A second one abandons the request in flight
    (a create it carried out is adopted by the next run)."""

    signals = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.requested = False
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> _StopOnSignal:
        for signum in self.signals:
            self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        click.echo(
            f"\n{signal.Signals(signum).name}: stopping after the request in flight "
            "(send it again to abandon that request)",
            err=True,
        )
