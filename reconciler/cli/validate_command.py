"""`reconciler validate`: every problem of the manifests, as path:line:col; no API call."""

from __future__ import annotations

import click

from reconciler.cli.options import (
    DEFAULT_PATHS,
    cache_options,
    max_file_size_option,
    paths_argument,
)
from reconciler.core.resources import KINDS, Desired
from reconciler.errors import EXIT_OK
from reconciler.manifests.cache import ManifestCache
from reconciler.manifests.reader import read_manifests


@click.command()
@paths_argument
@cache_options
@max_file_size_option
def validate(paths: tuple[str, ...], cache: ManifestCache | None, max_file_size: int) -> int:
    """Check the manifests without any API call; every problem as path:line:col."""
    desired = read_manifests(paths or DEFAULT_PATHS, store=cache, max_file_size=max_file_size)
    click.echo(f"Valid: {_counts(desired)}.")
    return EXIT_OK


def _counts(desired: Desired) -> str:
    counts = dict.fromkeys(KINDS, 0)
    for key in desired:
        counts[key.kind] += 1
    return ", ".join(f"{counts[kind]} {kind.plural}" for kind in KINDS)
