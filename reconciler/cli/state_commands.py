"""`reconciler state list | show | rm | unlock | pull | push | migrate`: look into the state,
forget a record in it, release a lock left behind, copy a state between stores.

`list`, `show` and `pull` only read (no lock, like plan); `rm` takes the lock, journals the
removal and compacts, so the previous state stays in `<state>.backup` (a file's). `push` and
`migrate` write a whole state under the target's lock (docs/state-backends.md). Nothing here
calls COR: `rm` makes reconciler forget a record that COR still holds (e.g. to hand it to
another repository). Every command works on every store (`state/backends.py`).
What they print of the state is escaped (`core/text.printable`, and a \\u escape in JSON), so that a
state file cannot write a control character to the terminal.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import click

from reconciler.cli.console import command_line, stderr_log, stderr_warning
from reconciler.cli.options import folders, format_option, state_option
from reconciler.core.resources import KINDS, SOURCES, ResourceKey, parse_address
from reconciler.core.text import printable
from reconciler.errors import EXIT_OK, RefusedError, StateError, UsageError
from reconciler.output.json_shapes import record_json
from reconciler.output.style import escape_json
from reconciler.state.backends import force_unlock, load_state, open_store, previous_versions
from reconciler.state.codec import State, render_state
from reconciler.state.location import StateLocation, locate

kind_choice = click.Choice([kind.value for kind in KINDS])
source_choice = click.Choice(list(SOURCES))


def _json(document: Any) -> str:
    """JSON as the commands print it, every unsafe character escaped as \\uXXXX
    (output/style.escape_json: json.dumps leaves DEL, C1, bidi and invisible ones raw)."""
    return escape_json(json.dumps(document, indent=2, ensure_ascii=False))


@click.group()
def state() -> None:
    """Look after the state: a file, or a PostgreSQL or S3 store."""


@state.command("list")
@state_option
@click.option("--kind", type=kind_choice, help="Only records of this kind.")
@click.option("--source", type=source_choice, help="Only records of this source.")
@format_option(
    "text, one record a line; json, a list of records as `state show` prints them.",
    choices=("text", "json"),
)
def list_records(
    state_path: StateLocation, kind: str | None, source: str | None, output_format: str
) -> int:
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
def show(state_path: StateLocation, address: tuple[str, ...]) -> int:
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
def rm(state_path: StateLocation, address: tuple[str, ...]) -> int:
    """Forget a record without deleting it in COR (a state file's previous version is kept as
    .backup). Name it as every output prints it."""
    key = _key(address)
    with open_store(state_path, command=command_line(), warn=stderr_warning) as store:
        record = store.state.records.get(key)
        if record is None and key not in store.state.in_doubt:
            raise UsageError(f"{key} is not in the state {state_path}")
        store.forget(key)
    if record is None:
        click.echo(f"Forgot {key}, which was in doubt; COR was not asked.")
    else:
        click.echo(
            f"Removed {key} (cor_id {record.cor_id}) from the state; it still exists in COR. "
            f"The previous state is in {previous_versions(state_path)}."
        )
    return EXIT_OK


@state.command()
@state_option
@click.option("--force", is_flag=True, required=True, help="Required: you are sure it is gone.")
def unlock(state_path: StateLocation, force: bool) -> int:
    """Release a lock left by an apply that is gone (on another host, or unreadable).

    A lock whose holder is still running on this host (or, in PostgreSQL, whose database
    session is still open) cannot be broken: stop that run.
    """
    previous = force_unlock(state_path)
    if previous is None:
        click.echo(f"{state_path} was not locked.")
    else:
        click.echo(f"Released the lock of {state_path} held by {previous}.")
    return EXIT_OK


def _held(location: StateLocation) -> State:
    """The state at `location`; UsageError if there is none yet (nothing ever written)."""
    current = load_state(location)
    if not current.serial:
        raise UsageError(f"there is no state at {printable(str(location))} yet")
    return current


@state.command()
@state_option
def pull(state_path: StateLocation) -> int:
    """Write the state to stdout as a state file (any journal replayed): a snapshot for plans
    that cannot reach the store, or a copy to keep."""
    click.echo(render_state(_held(state_path)), nl=False)  # bytes: written as they are
    return EXIT_OK


@state.command()
@state_option
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--force",
    is_flag=True,
    help="Replace the state even if FILE is of another lineage or not newer; its serial then "
    "becomes one more than the replaced state's.",
)
def push(state_path: StateLocation, file: Path, force: bool) -> int:
    """Replace the state with FILE (a state file, e.g. from `state pull`), only if FILE is of
    the same lineage and newer (a higher serial); refused otherwise (exit 4)."""
    pushed = _held(file)
    with open_store(state_path, command=command_line(), warn=stderr_warning) as store:
        current = store.state
        problem = _push_problem(pushed, current)
        if problem and not force:
            raise RefusedError(
                f"{printable(str(file))} was not pushed: {problem}; nothing was changed "
                "(--force replaces it all the same)"
            )
        if current.serial and pushed.serial <= current.serial:
            pushed = State(pushed.lineage, current.serial + 1, pushed.records, pushed.in_doubt)
        store.replace(pushed)
    click.echo(
        f"Pushed {printable(str(file))} to {printable(str(state_path))}: lineage "
        f"{pushed.lineage}, serial {pushed.serial}, {len(pushed.records)} record(s)"
        + (f" (it replaced serial {current.serial})." if current.serial else ".")
    )
    return EXIT_OK


def _push_problem(pushed: State, current: State) -> str:
    if not current.serial:
        return ""
    if pushed.lineage != current.lineage:
        return f"it is state {pushed.lineage}, the store holds another one ({current.lineage})"
    if pushed.serial <= current.serial:
        return (
            f"its serial {pushed.serial} is not newer than the stored state's "
            f"{current.serial} (pull again, or someone applied since)"
        )
    return ""


@state.command()
@state_option
@click.option(
    "--to",
    "target",
    required=True,
    metavar="PATH|URL",
    help="Where to copy the state: a file, postgresql://... or s3://BUCKET/KEY (which must "
    "hold no state yet).",
)
def migrate(state_path: StateLocation, target: str) -> int:
    """Copy the state (lineage, serial, records, creates in doubt) to another store, check
    the copy, and leave this one as it is. Point --state (or the config) at the copy after."""
    endpoint = click.get_current_context().params.get("s3_endpoint_url")
    to = locate(target, s3_endpoint_url=endpoint, environ=os.environ)
    if str(to) == str(state_path):
        raise UsageError("--to names the state being migrated")
    source = _held(state_path)
    _warn_other_folder(state_path, to, source)
    with open_store(to, command=command_line(), warn=stderr_warning) as store:
        if store.state.serial:
            raise RefusedError(
                f"{to} already holds a state (lineage {store.state.lineage}, serial "
                f"{store.state.serial}); nothing was copied. To replace it: `reconciler state "
                "pull` this one into a file, then `state push --force FILE` there"
            )
        store.replace(source)
    copy = load_state(to)
    if (copy.lineage, copy.serial, dict(copy.records), copy.in_doubt) != (
        source.lineage,
        source.serial,
        dict(source.records),
        source.in_doubt,
    ):
        raise StateError(f"the copy at {to} differs from the state it was made from")
    after = load_state(state_path)
    if (after.lineage, after.serial) != (source.lineage, source.serial):
        raise RefusedError(
            f"{state_path} changed while it was copied (serial {source.serial}, now "
            f"{after.serial}): the copy at {to} is behind it; copy again with `state push "
            "--force` once no run uses it"
        )
    click.echo(
        f"Copied {printable(str(state_path))} to {printable(str(to))}: lineage "
        f"{source.lineage}, serial {source.serial}, {len(source.records)} record(s), "
        f"{len(source.in_doubt)} in doubt; checked. {printable(str(state_path))} is unchanged: "
        "use the copy from now on (--state, RECONCILER_STATE or `state` in reconciler.toml)."
    )
    return EXIT_OK


def _warn_other_folder(source: StateLocation, target: StateLocation, state: State) -> None:
    """Records keep their manifest file relative to the state file's folder, or for a store to
    the config file's (else the current) folder: say so when the two differ."""
    if not any(record.file for record in state.records.values()):
        return
    _, before = folders(source)
    _, after = folders(target)
    if before != after:
        stderr_warning(
            f"warning: records' manifest files are recorded relative to {printable(before)}, "
            f"and {printable(str(target))} reads them relative to {printable(after)}: run "
            "reconciler from the state file's folder (or beside reconciler.toml) so that "
            "scoped prunes find them"
        )
