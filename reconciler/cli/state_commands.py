"""`reconciler state list | show | rm | unlock`: look into the state, forget a record in it,
release a lock left behind.

`list` and `show` only read (no lock, like plan); `rm` takes the lock, journals the removal and
compacts, so the previous state stays in `<state>.backup`. Nothing here calls COR: `rm` makes
reconciler forget a record that COR still holds (e.g. to hand it to another repository).
What they print of the state is escaped (`core/text.printable`, and a \\u escape in JSON), so that a
state file cannot write a control character to the terminal.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from reconciler.cli.console import command_line, stderr_log, stderr_warning
from reconciler.cli.options import format_option, state_option
from reconciler.core.resources import KINDS, SOURCES, ResourceKey, parse_address
from reconciler.core.text import printable
from reconciler.errors import EXIT_OK, UsageError
from reconciler.output.json_shapes import record_json
from reconciler.output.style import escape_json
from reconciler.state.lock import force_unlock
from reconciler.state.store import StateStore, load_state

kind_choice = click.Choice([kind.value for kind in KINDS])
source_choice = click.Choice(list(SOURCES))


def _json(document: Any) -> str:
    """JSON as the commands print it, every unsafe character escaped as \\uXXXX
    (output/style.escape_json: json.dumps leaves DEL, C1, bidi and invisible ones raw)."""
    return escape_json(json.dumps(document, indent=2, ensure_ascii=False))


@click.group()
def state() -> None:
    """Look after the state file."""


@state.command("list")
@state_option
@click.option("--kind", type=kind_choice, help="Only records of this kind.")
@click.option("--source", type=source_choice, help="Only records of this source.")
@format_option(
    "text, one record a line; json, a list of records as `state show` prints them.",
    choices=("text", "json"),
)
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
        click.echo(_json([record_json(record) for record in chosen]))
        return EXIT_OK
    for record in chosen:
        protected = "  protected" if record.protected else ""
        click.echo(f"{printable(str(record.key))}  cor_id {record.cor_id}{protected}")
    in_doubt = sorted(k for k in current.in_doubt if kind in (None, k.kind.value))
    for key in in_doubt:
        if source is None or key.source == source:
            click.echo(f"{printable(str(key))}  in doubt (a create whose outcome is unknown)")
    stderr_log(f"{len(chosen)} record(s).")
    return EXIT_OK


address_argument = click.argument("address", nargs=-1, required=True, metavar="KIND SOURCE/ID")


def _key(address: tuple[str, ...]) -> ResourceKey:
    """The record an ADDRESS names: `product SALESFORCE/SF-P-100`, as every output prints it
    (quoted or not), or the three words `product SALESFORCE SF-P-100`."""
    try:
        return parse_address(address)
    except ValueError as error:
        raise UsageError(printable(str(error))) from None


@state.command()
@state_option
@address_argument
def show(state_path: Path, address: tuple[str, ...]) -> int:
    """Show one record as the state holds it (JSON), named as every output prints it."""
    key = _key(address)
    record = load_state(state_path).records.get(key)
    if record is None:
        raise UsageError(f"{printable(str(key))} is not in the state {printable(str(state_path))}")
    click.echo(_json(record_json(record)))
    return EXIT_OK


@state.command()
@state_option
@address_argument
def rm(state_path: Path, address: tuple[str, ...]) -> int:
    """Forget a record without deleting it in COR (the previous state is kept as .backup).
    Name it as every output prints it."""
    key = _key(address)
    with StateStore.open(state_path, command=command_line(), warn=stderr_warning) as store:
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


@state.command()
@state_option
@click.option("--force", is_flag=True, required=True, help="Required: you are sure it is gone.")
def unlock(state_path: Path, force: bool) -> int:
    """Release a lock left by an apply that is gone (on another host, or unreadable).

    A lock whose holder is still running on this host cannot be broken: stop that run.
    """
    previous = force_unlock(state_path)
    if previous is None:
        click.echo(f"{state_path} was not locked.")
    else:
        click.echo(f"Released the lock of {state_path} held by {previous}.")
    return EXIT_OK
