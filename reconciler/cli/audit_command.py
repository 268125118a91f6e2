"""`reconciler audit`: where the manifests, the state file and (with --remote) COR disagree.

Part of the CLI shell: loads the manifests and the state (never taking the lock: an audit
writes nothing), reads COR through the client when asked (`actions/readback.read_live`: its
lists where that takes fewer requests), and prints the pure core's report.
"""

from __future__ import annotations

import click

from reconciler.actions.readback import read_live
from reconciler.cli.connection import ConnectionOptions, client_options, read_api_option
from reconciler.cli.console import colour, stderr_log
from reconciler.cli.options import (
    DEFAULT_PATHS,
    cache_options,
    format_option,
    max_file_size_option,
    no_color_option,
    paths_argument,
    state_option,
)
from reconciler.core.audit import Audit, Finding, ReadError, audit_offline, build_audit
from reconciler.core.drift import audit_drift
from reconciler.errors import EXIT_CHANGES, EXIT_FAILURE, EXIT_OK
from reconciler.manifests.cache import ManifestCache
from reconciler.manifests.reader import read_manifests
from reconciler.memory import no_gc
from reconciler.output.audit_json import render_audit_json
from reconciler.output.audit_markdown import render_audit_markdown
from reconciler.output.audit_text import render_audit_text
from reconciler.output.style import counted
from reconciler.state.backends import load_state
from reconciler.state.codec import State
from reconciler.state.location import StateLocation


@click.command()
@paths_argument
@state_option
@click.option("--remote", is_flag=True, help="Also read COR's main API and report drift.")
@read_api_option
@format_option("text for people, json for programs, markdown for a comment (docs/audit.md).")
@click.option(
    "--detailed-exitcode", is_flag=True, help="Exit 2 when something disagrees, 0 if all agree."
)
@client_options
@no_color_option
@cache_options
@max_file_size_option
def audit(
    paths: tuple[str, ...],
    state_path: StateLocation,
    remote: bool,
    output_format: str,
    detailed_exitcode: bool,
    no_color: bool,
    cache: ManifestCache | None,
    max_file_size: int,
    connection: ConnectionOptions,
) -> int:
    """Report every disagreement between the manifests, the state file and, with --remote, COR.

    Offline by default (no credentials). With --remote, credentials come from the environment
    only, as for apply: COR_TOKEN, or COR_API_KEY and COR_CLIENT_SECRET.
    """
    desired = read_manifests(paths or DEFAULT_PATHS, store=cache, max_file_size=max_file_size)
    state = load_state(state_path)
    with no_gc():  # what was read (and COR's answers) lives until the end: nothing to collect
        findings = audit_offline(desired, state.records, state.in_doubt)
        if not remote:
            report = build_audit(findings)
        else:
            drift, errors = _drift(state, connection)
            report = build_audit([*findings, *drift], errors, remote=True)
        _print(report, output_format, paths or DEFAULT_PATHS, colour(no_color))
    if report.errors:
        return EXIT_FAILURE
    return EXIT_CHANGES if detailed_exitcode and report.disagreements else EXIT_OK


def _drift(state: State, options: ConnectionOptions) -> tuple[list[Finding], list[ReadError]]:
    """Reads every recorded record from COR, by its lists where that takes fewer requests
    (credentials needed only if there is one); says on stderr how many requests it took."""
    if not state.records:
        return [], []
    with options.connect().client() as client:
        reading = read_live(
            state.records.values(), client.read, parallelism=options.parallelism, warn=_warn
        )
    stderr_log(
        f"Read {counted(len(reading.answers), 'record')} from COR in "
        f"{counted(reading.requests, 'request')}."
    )
    return audit_drift(state.records, reading.answers)


def _warn(message: str) -> None:
    stderr_log(f"warning: {message}")


def _print(report: Audit, output_format: str, paths: tuple[str, ...], color: bool) -> None:
    if output_format == "json":
        text = render_audit_json(report)
    elif output_format == "markdown":
        text = render_audit_markdown(report, paths=paths)
    else:
        text = render_audit_text(report, color=color)
    click.echo(text, nl=False)
