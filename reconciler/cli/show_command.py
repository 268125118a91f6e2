"""`reconciler show PLANFILE`: a saved plan (`plan --out`), rendered exactly as `plan` did.

Offline: reads the one file, no manifests, state or API. The plan is read back by
`core/saved_plan` (`read`, which checks its digest, then `plan_of`) and rendered by the same
`output/plan_*` renderers as `plan`, so a workflow plans once and shows the file
(docs/plan-json.md).
"""

from __future__ import annotations

from pathlib import Path

import click

from reconciler.cli.console import colour, stderr_log
from reconciler.cli.options import DEFAULT_PATHS, format_option, no_color_option
from reconciler.core import saved_plan
from reconciler.errors import EXIT_OK, RefusedError, UsageError
from reconciler.output.plan_json import dump_json
from reconciler.output.plan_markdown import render_markdown
from reconciler.output.plan_text import render_text


@click.command()
@click.argument("plan_file", metavar="PLANFILE", type=click.Path(dir_okay=False, path_type=Path))
@format_option(
    "As `plan --format` printed it: text, json (docs/plan-json.md), markdown "
    "(docs/plan-markdown.md), byte for byte."
)
@no_color_option
def show(plan_file: Path, output_format: str, no_color: bool) -> int:
    """Show a saved plan (from `plan --out`) exactly as `plan` showed it; offline."""
    saved = read_saved_plan(plan_file)
    if output_format == "json":
        click.echo(dump_json(saved.plan), nl=False)  # the very document `plan` printed
        return EXIT_OK
    the_plan = saved_plan.plan_of(saved, str(plan_file))
    if output_format == "markdown":
        paths = saved.paths
        if paths is None:
            stderr_log(
                f"warning: {plan_file} was saved by an earlier reconciler without its paths: "
                f"the comment's marker names {' '.join(DEFAULT_PATHS)}"
            )
        click.echo(render_markdown(the_plan, paths=paths or DEFAULT_PATHS), nl=False)
    else:
        click.echo(render_text(the_plan, color=colour(no_color)), nl=False)
    return EXIT_OK


def read_saved_plan(path: Path) -> saved_plan.SavedPlan:
    """The saved plan at `path`, read and authenticated (RefusedError, exit 4, if it is none
    or was altered; UsageError, exit 3, if it cannot be read)."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise RefusedError(f"{path} is not a saved plan (not UTF-8 text)") from error
    except OSError as error:
        raise UsageError(f"cannot read {path}: {error.strerror or error}") from error
    return saved_plan.read(text, str(path))
