"""`reconciler schema`: the JSON Schema of a manifest file, for editors (docs/manifests.md)."""

from __future__ import annotations

import json

import click

from reconciler.errors import EXIT_OK
from reconciler.manifests.schema import manifest_json_schema


@click.command()
def schema() -> int:
    """Print the JSON Schema of a manifest file (for editors: see docs/manifests.md)."""
    click.echo(json.dumps(manifest_json_schema(), indent=2, ensure_ascii=False))
    return EXIT_OK
