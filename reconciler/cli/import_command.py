"""`reconciler import`: adopt declared records that already exist in COR (docs/cli.md)."""

from __future__ import annotations

import click

from reconciler.actions.adoption import candidates, import_records
from reconciler.actions.outcomes import ImportReport, Outcome, second_round
from reconciler.cli.connection import ConnectionOptions, connection_options
from reconciler.cli.console import colour, command_line, stderr_log, stderr_warning
from reconciler.cli.options import (
    DEFAULT_PATHS,
    folders,
    max_file_size_option,
    no_color_option,
    paths_argument,
    scope_options,
    state_option,
)
from reconciler.core.limits import PlanOptions, make_plan
from reconciler.core.scope import files_to_fill
from reconciler.errors import EXIT_FAILURE, EXIT_OK
from reconciler.manifests.reader import read_manifests
from reconciler.output.apply_text import render_import_summary, render_result
from reconciler.state.backends import open_store
from reconciler.state.location import StateLocation


@click.command("import")
@paths_argument
@state_option
@connection_options
@click.option("--dry-run", is_flag=True, help="Only list what would be looked up in COR.")
@no_color_option
@max_file_size_option
@scope_options
def import_command(
    paths: tuple[str, ...],
    state_path: StateLocation,
    dry_run: bool,
    no_color: bool,
    max_file_size: int,
    connection: ConnectionOptions,
    plan_options: PlanOptions,
) -> int:
    """Adopt declared records that already exist in COR, without creating anything.

    For each declared record the state does not hold: a PUT of its declared fields to its
    external id; found records are recorded with their COR id, the others are left for apply.
    """
    color = colour(no_color)
    desired = read_manifests(paths or DEFAULT_PATHS, max_file_size=max_file_size)
    with open_store(state_path, command=command_line(), warn=stderr_warning) as store:
        state = store.state
        here, base = folders(state_path)
        the_plan = make_plan(
            desired, state.records, state.in_doubt, plan_options, cwd=here, base=base
        )
        store.fill_files(files_to_fill(desired, state.records, here, base))  # a version 1 state's
        todo = candidates(the_plan)
        if dry_run or not todo:
            for change in todo:
                click.echo(f"? would look up {change.key}")
            click.echo(f"Import (dry run): {len(todo)} declared record(s) not in the state.")
            return EXIT_OK
        with connection.connect().client() as client:
            report = import_records(
                the_plan,
                client.send,
                store,
                lambda result: click.echo(render_result(result, color=color), nl=False),
                parallelism=connection.parallelism,
                cor_ids={key: record.cor_id for key, record in state.records.items()},
                on_second_round=lambda gave_up: stderr_log(second_round(gave_up)),
            )
    return _summarise(report)


def _summarise(report: ImportReport) -> int:
    click.echo(render_import_summary(report), nl=False)
    if report.stopped_by:
        click.echo(f"error: {report.stopped_by}", err=True)
        return EXIT_FAILURE
    unsettled = report.count(Outcome.FAILED) + report.count(Outcome.IN_DOUBT)
    return EXIT_FAILURE if unsettled or report.not_attempted else EXIT_OK
