"""`reconciler validate`: every problem of the manifests, as path:line:col; no API call.

`--format json` prints one document (output/validate_json.py), `--format github` one workflow
command per problem (output/validate_github.py): either way the exit code is as for text.
"""

from __future__ import annotations

import click

from reconciler.cli.options import (
    DEFAULT_PATHS,
    cache_options,
    max_file_size_option,
    paths_argument,
)
from reconciler.core.resources import Desired
from reconciler.errors import EXIT_OK, ManifestError
from reconciler.manifests.cache import ManifestCache
from reconciler.manifests.reader import read_manifests
from reconciler.output.validate_github import render_github
from reconciler.output.validate_json import declared_counts, render_validate_json


@click.command()
@paths_argument
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json", "github"]),
    default="text",
    show_default=True,
    help="text for people; json: one document for programs; github: each problem as a "
    "GitHub Actions annotation of its line (docs/outputs.md).",
)
@cache_options
@max_file_size_option
def validate(
    paths: tuple[str, ...], output_format: str, cache: ManifestCache | None, max_file_size: int
) -> int:
    """Check the manifests without any API call; every problem as path:line:col."""
    if output_format == "text":  # the usual path: the boundary prints the problems
        desired = read_manifests(paths or DEFAULT_PATHS, store=cache, max_file_size=max_file_size)
        click.echo(_valid(desired))
        return EXIT_OK
    return _validate_for_programs(paths, output_format, cache, max_file_size)


def _validate_for_programs(
    paths: tuple[str, ...], output_format: str, cache: ManifestCache | None, max_file_size: int
) -> int:
    try:
        desired = read_manifests(paths or DEFAULT_PATHS, store=cache, max_file_size=max_file_size)
    except ManifestError as error:  # stdout holds the problems in the format asked for
        for problem in error.problems:
            click.echo(str(problem), err=True)
        click.echo(f"error: {error}", err=True)
        if output_format == "json":
            click.echo(render_validate_json(error.problems, None), nl=False)
        else:
            click.echo(render_github(error.problems), nl=False)
        return error.exit_code
    if output_format == "json":
        click.echo(render_validate_json((), desired), nl=False)
    else:
        click.echo(_valid(desired))
    return EXIT_OK


def _valid(desired: Desired) -> str:
    counts = declared_counts(desired).items()
    return f"Valid: {', '.join(f'{n} {plural}' for plural, n in counts)}."
