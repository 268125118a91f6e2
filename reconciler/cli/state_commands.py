"""`reconciler state list | show | rm`: look into the state, or forget a record in it.

`list` and `show` only read (no lock, like plan); `rm` takes the lock, journals the removal and
compacts, so the previous state stays in `<state>.backup`. Nothing here calls COR: `rm` makes
reconciler forget a record that COR still holds (e.g. to hand it to another repository).
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from reconciler.cli.commands import state
from reconciler.cli.shell import command_line, state_option, stderr_log
from reconciler.core.resources import KINDS, SOURCES, Kind, Record, ResourceKey
from reconciler.errors import EXIT_OK, UsageError
from reconciler.state.store import StateStore, load_state

kind_choice = click.Choice([kind.value for kind in KINDS])
source_choice = click.Choice(list(SOURCES))


def _record_json(record: Record) -> dict[str, object]:
    return {
        "kind": record.key.kind.value,
        "source": record.key.source,
        "id": record.key.id,
        "cor_id": record.cor_id,
        "attributes": dict(sorted(record.attributes.items())),
    }


@state.command("list")
@state_option
@click.option("--kind", type=kind_choice, help="Only records of this kind.")
@click.option("--source", type=source_choice, help="Only records of this source.")
@click.option("--format", "output_format", type=click.Choice(["text", "json"]), default="text")
def list_records(state_path: Path, kind: str | None, source: str | None, output_format: str) -> int:
    """List the records of the state, in apply order, with COR's ids."""
    current = load_state(state_path)
    keys = sorted(current.records, key=ResourceKey.sort_key)
    chosen = [
        current.records[key]
        for key in keys
        if (kind is None or key.kind.value == kind) and (source is None or key.source == source)
    ]
    if output_format == "json":
        document = [_record_json(record) for record in chosen]
        click.echo(json.dumps(document, indent=2, ensure_ascii=False))
        return EXIT_OK
    for record in chosen:
        click.echo(f"{record.key}  cor_id {record.cor_id}")
    in_doubt = sorted(k for k in current.in_doubt if kind in (None, k.kind.value))
    for key in in_doubt:
        if source is None or key.source == source:
            click.echo(f"{key}  in doubt (a create whose outcome is unknown)")
    stderr_log(f"{len(chosen)} record(s).")
    return EXIT_OK


def _key(kind: str, source: str, ext_id: str) -> ResourceKey:
    return ResourceKey(Kind(kind), source, ext_id)


@state.command()
@state_option
@click.argument("kind", type=kind_choice)
@click.argument("source", type=source_choice)
@click.argument("ext_id", metavar="ID")
def show(state_path: Path, kind: str, source: str, ext_id: str) -> int:
    """Show one record as the state holds it (JSON)."""
    key = _key(kind, source, ext_id)
    record = load_state(state_path).records.get(key)
    if record is None:
        raise UsageError(f"{key} is not in the state {state_path}")
    click.echo(json.dumps(_record_json(record), indent=2, ensure_ascii=False))
    return EXIT_OK


@state.command()
@state_option
@click.argument("kind", type=kind_choice)
@click.argument("source", type=source_choice)
@click.argument("ext_id", metavar="ID")
def rm(state_path: Path, kind: str, source: str, ext_id: str) -> int:
    """Forget a record without deleting it in COR (the previous state is kept as .backup)."""
    key = _key(kind, source, ext_id)
    with StateStore.open(state_path, command=command_line(), warn=stderr_log) as store:
        record = store.state.records.get(key)
        if record is None and key not in store.state.in_doubt:
            raise UsageError(f"{key} is not in the state {state_path}")
        store.forget(key)
    if record is None:
        click.echo(f"Forgot {key}, which was in doubt; COR was not asked.")
    else:
        click.echo(
            f"Removed {key} (cor_id {record.cor_id}) from the state; it still exists in COR. "
            f"The previous state is in {state_path}.backup."
        )
    return EXIT_OK
