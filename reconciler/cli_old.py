"""The command line: the imperative shell and the one error boundary.

The only module that touches argv, the environment, stdout/stderr and exit codes (and click).
Each command is one plain function wiring the pure core (load → plan → render) to the world
(state file, COR client). Exit codes are documented in docs/exit-codes.md.
"""

from __future__ import annotations

import os
import signal
import sys
import traceback
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn

import click

from reconciler import __version__
from reconciler.apply import apply_plan, check_applicable
from reconciler.client import CorClient, Credentials, RetryPolicy
from reconciler.errors import (
    EXIT_CHANGES,
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_INVALID,
    EXIT_OK,
    ManifestError,
    ReconcileError,
    UsageError,
)
from reconciler.load import read_manifests
from reconciler.plan import Plan, build_plan
from reconciler.progress import Progress
from reconciler.render import render_apply_summary, render_json, render_result, render_text
from reconciler.resources import KINDS, Desired
from reconciler.results import Result
from reconciler.state import StateStore, force_unlock, load_state

DEFAULT_PATHS = ("manifests",)
DEFAULT_STATE = "reconciler.state.json"
DEFAULT_API_URL = "https://integrations.projectcor.com"
DEFAULT_AUTH_URL = "https://api.projectcor.com/v1"

paths_argument = click.argument("paths", nargs=-1, type=click.Path(path_type=str))
state_option = click.option(
    "--state",
    "state_path",
    envvar="RECONCILER_STATE",
    show_envvar=True,
    default=DEFAULT_STATE,
    show_default=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The state file: what reconciler has created in COR, with COR's ids.",
)
no_color_option = click.option(
    "--no-color", is_flag=True, help="Never colour the output (also: NO_COLOR set)."
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="reconciler")
@click.option("--debug", is_flag=True, help="Show the traceback of an unexpected error.")
def cli(debug: bool) -> None:
    """Declare COR clients, brands and products in YAML; plan and apply them."""


@cli.command()
@paths_argument
def validate(paths: tuple[str, ...]) -> int:
    """Check the manifests without any API call; every problem as path:line:col."""
    desired = read_manifests(paths or DEFAULT_PATHS)
    click.echo(f"Valid: {_counts(desired)}.")
    return EXIT_OK


@cli.command()
@paths_argument
@state_option
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="text for people, json for programs (docs/plan-json.md).",
)
@click.option("--detailed-exitcode", is_flag=True, help="Exit 2 when there are changes, 0 if none.")
@no_color_option
def plan(
    paths: tuple[str, ...],
    state_path: Path,
    output_format: str,
    detailed_exitcode: bool,
    no_color: bool,
) -> int:
    """Show what apply would change, from the manifests and the state file only (offline)."""
    desired = read_manifests(paths or DEFAULT_PATHS)
    state = load_state(state_path)
    the_plan = build_plan(desired, state.records, state.in_doubt)
    if output_format == "json":
        click.echo(render_json(the_plan), nl=False)
    else:
        click.echo(render_text(the_plan, color=_colour(no_color)), nl=False)
    has_changes = the_plan.summary.changes > 0
    return EXIT_CHANGES if detailed_exitcode and has_changes else EXIT_OK


@cli.command()
@paths_argument
@state_option
@click.option(
    "--auto-approve", is_flag=True, help="Apply without asking (needed without a terminal)."
)
@click.option(
    "--api-url", envvar="COR_API_URL", show_envvar=True, default=DEFAULT_API_URL, show_default=True
)
@click.option(
    "--auth-url",
    envvar="COR_AUTH_URL",
    show_envvar=True,
    default=DEFAULT_AUTH_URL,
    show_default=True,
)
@click.option("--timeout", type=click.FloatRange(min=0.1), default=30.0, show_default=True)
@click.option(
    "--parallelism",
    type=click.IntRange(1, 64),
    default=8,
    show_default=True,
    help="Requests in flight together (a record still waits for what it references).",
)
@click.option(
    "--retry-attempts",
    type=click.IntRange(1, 100),
    default=5,
    show_default=True,
    help="Attempts per request for 429, 5xx, timeouts and lost connections.",
)
@click.option(
    "--retry-max-wait",
    type=click.FloatRange(min=0),
    default=60.0,
    show_default=True,
    help="Seconds of backoff one request may wait in all, Retry-After included.",
)
@no_color_option
def apply(
    paths: tuple[str, ...],
    state_path: Path,
    auto_approve: bool,
    api_url: str,
    auth_url: str,
    timeout: float,
    parallelism: int,
    retry_attempts: int,
    retry_max_wait: float,
    no_color: bool,
) -> int:
    """Create what is missing and update what changed in COR, recording COR's ids.

    Credentials come from the environment only: COR_TOKEN, or COR_API_KEY and
    COR_CLIENT_SECRET.
    """
    color = _colour(no_color)
    desired = read_manifests(paths or DEFAULT_PATHS)
    with StateStore.open(state_path, command=_command_line(), warn=_stderr_log) as store:
        state = store.state
        the_plan = build_plan(desired, state.records, state.in_doubt)
        click.echo(render_text(the_plan, color=color), nl=False)
        if the_plan.summary.changes == 0:
            return EXIT_OK
        check_applicable(the_plan)
        connection = _Connection(
            api_url=api_url,
            auth_url=auth_url,
            credentials=_credentials(),
            timeout=timeout,
            parallelism=parallelism,
            retry=RetryPolicy(max_attempts=retry_attempts, max_total_wait=retry_max_wait),
        )
        if not _approved(auto_approve):
            click.echo("Apply cancelled; nothing was changed.", err=True)
            return EXIT_FAILURE
        return _run_apply(the_plan, store, connection, color)


@dataclass(frozen=True)
class _Connection:
    api_url: str
    auth_url: str
    credentials: Credentials
    timeout: float
    parallelism: int
    retry: RetryPolicy

    def client(self) -> CorClient:
        return CorClient(
            api_url=self.api_url,
            auth_url=self.auth_url,
            credentials=self.credentials,
            timeout=self.timeout,
            retry=self.retry,
            log=_stderr_log,
            max_connections=self.parallelism,
        )


def _run_apply(the_plan: Plan, store: StateStore, connection: _Connection, color: bool) -> int:
    click.echo("")
    totals = Counter(change.key.kind for change in the_plan.changes)
    progress = Progress(totals, write=_stderr_write, terminal=sys.stderr.isatty())

    def show(result: Result) -> None:
        progress.clear()
        click.echo(render_result(result, color=color), nl=False)
        progress.settled(result)

    with connection.client() as client, _StopOnSignal() as stop:
        report = apply_plan(
            the_plan,
            client.send,
            store,
            show,
            should_stop=lambda: stop.requested,
            parallelism=connection.parallelism,
            cor_ids={key: record.cor_id for key, record in store.state.records.items()},
        )
    progress.clear()
    click.echo(render_apply_summary(report), nl=False)
    if report.stopped_by:
        click.echo(f"error: {report.stopped_by}", err=True)
    if report.interrupted:
        return EXIT_INTERRUPTED
    return EXIT_OK if report.ok else EXIT_FAILURE


@cli.group()
def state() -> None:
    """Look after the state file."""


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


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=8787, show_default=True)
@click.option("--token", default="demo-token", show_default=True, help="A bearer token accepted.")
@click.option("--latency-ms", type=click.FloatRange(min=0), default=0.0, show_default=True)
@click.option(
    "--fail-rate",
    type=click.FloatRange(0, 1),
    default=0.0,
    show_default=True,
    help="Share of /v2 requests answered 500/502/503 without being processed.",
)
@click.option(
    "--rate-limit",
    type=click.FloatRange(min=0, min_open=True),
    metavar="N",
    help="At most N /v2 requests per second; over it, 429 with Retry-After.",
)
@click.option(
    "--lost-response-rate",
    type=click.FloatRange(0, 1),
    default=0.0,
    show_default=True,
    help="Share of /v2 requests processed, then left unanswered (connection closed).",
)
@click.option(
    "--token-ttl",
    type=click.IntRange(min=1),
    default=3600,
    show_default=True,
    metavar="SECONDS",
    help="Lifetime of the access tokens it issues.",
)
@click.option("--seed", type=int, help="Seed for the random faults: a reproducible run.")
def emulator(
    host: str,
    port: int,
    token: str,
    latency_ms: float,
    fail_rate: float,
    rate_limit: float | None,
    lost_response_rate: float,
    token_ttl: int,
    seed: int | None,
) -> int:
    """Serve a local emulator of COR's Integrations API (for demos, tests and rehearsals)."""
    from reconciler.emulator.server import EmulatorConfig, serve

    try:
        config = EmulatorConfig(
            host=host,
            port=port,
            token=token,
            latency_ms=latency_ms,
            fail_rate=fail_rate,
            rate_limit=rate_limit,
            lost_response_rate=lost_response_rate,
            token_ttl=token_ttl,
            seed=seed,
        )
    except ValueError as error:  # only a NaN gets past the option types
        raise click.UsageError(str(error)) from None
    serve(config, announce=click.echo)
    return EXIT_OK


def _counts(desired: Desired) -> str:
    counts = {kind: 0 for kind in KINDS}
    for key in desired:
        counts[key.kind] += 1
    return ", ".join(f"{counts[kind]} {kind.plural}" for kind in KINDS)


def _colour(no_color: bool) -> bool:
    return not no_color and not os.environ.get("NO_COLOR") and sys.stdout.isatty()


def _credentials() -> Credentials:
    credentials = Credentials(
        token=os.environ.get("COR_TOKEN") or None,
        api_key=os.environ.get("COR_API_KEY") or None,
        client_secret=os.environ.get("COR_CLIENT_SECRET") or None,
    )
    credentials.validate()
    return credentials


def _approved(auto_approve: bool) -> bool:
    if auto_approve:
        return True
    if not sys.stdin.isatty():
        raise UsageError(
            "apply needs a terminal to ask for confirmation; in CI pass --auto-approve "
            "(nothing was changed)"
        )
    answer = click.prompt(
        "Do you want to apply these changes? Only 'yes' will be accepted", default=""
    )
    return bool(answer.strip() == "yes")


def _stderr_log(message: str) -> None:
    click.echo(message, err=True)


def _stderr_write(text: str) -> None:
    sys.stderr.write(text)
    sys.stderr.flush()


def _command_line() -> str:
    """What the lock names as its holder's command (arguments only: no secret is an option)."""
    return " ".join(["reconciler", *sys.argv[1:]])


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


def run(argv: Sequence[str] | None = None) -> int:
    """Run one command and return its exit code: the error boundary."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        result = cli.main(args=args, prog_name="reconciler", standalone_mode=False)
    except (KeyboardInterrupt, click.exceptions.Abort):
        if "--debug" in args:
            traceback.print_exc()
        click.echo("Interrupted.", err=True)
        return EXIT_INTERRUPTED
    except click.ClickException as error:
        error.show()
        return EXIT_INVALID
    except ManifestError as error:
        for problem in error.problems:
            click.echo(str(problem), err=True)
        click.echo(f"error: {error}", err=True)
        return error.exit_code
    except ReconcileError as error:
        click.echo(f"error: {error}", err=True)
        return error.exit_code
    except Exception as error:  # the boundary: anything unexpected is a bug, reported briefly
        if "--debug" in args:
            traceback.print_exc()
        click.echo(
            f"unexpected error ({type(error).__name__}): {error}\n"
            f"This is a bug in reconciler {__version__}: please report it to its maintainers "
            "with the output of the same command run with --debug (it shows the traceback).",
            err=True,
        )
        return EXIT_FAILURE
    return result if isinstance(result, int) else EXIT_OK


def main(argv: Sequence[str] | None = None) -> NoReturn:
    sys.exit(run(argv))
