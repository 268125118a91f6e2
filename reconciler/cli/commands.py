"""The `reconciler` group and its small commands: validate, plan, schema, state, emulator.

Each command is one plain function wiring the pure core (load → plan → render) to the world.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import click

from reconciler import __version__
from reconciler.cli.shell import (
    DEFAULT_PATHS,
    colour,
    counts,
    make_plan,
    no_color_option,
    paths_argument,
    prune_options,
    state_option,
    stderr_log,
    write_file,
)
from reconciler.core import saved_plan
from reconciler.core.saved_plan import PlanOptions
from reconciler.errors import (
    EXIT_CHANGES,
    EXIT_OK,
    EXIT_REFUSED,
)
from reconciler.manifests.cache import ManifestCache
from reconciler.manifests.reader import read_manifests
from reconciler.manifests.schema import manifest_json_schema
from reconciler.output.plan_markdown import render_markdown
from reconciler.output.plan_text import render_json, render_text
from reconciler.state.store import force_unlock, load_state

DEFAULT_CACHE_DIR = ".reconciler-cache"
F = TypeVar("F", bound=Callable[..., Any])


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="reconciler")
@click.option("--debug", is_flag=True, help="Show the traceback of an unexpected error.")
def cli(debug: bool) -> None:
    """Declare COR clients, brands and products in YAML; plan and apply them."""


def _cache_options(command: F) -> F:
    """--cache-dir and --no-cache, for the commands that read manifests only (docs/cli.md)."""
    command = click.option(
        "--no-cache",
        is_flag=True,
        help="Parse every manifest file; neither use nor fill the cache.",
    )(command)
    return click.option(
        "--cache-dir",
        type=click.Path(file_okay=False, path_type=Path),
        envvar="RECONCILER_CACHE_DIR",
        show_envvar=True,
        default=DEFAULT_CACHE_DIR,
        show_default=True,
        help="Where parsed manifest files are kept, by the sha256 of their bytes, so that an "
        "unchanged file is not parsed again. Safe to delete at any time.",
    )(command)


def _cache(no_cache: bool, folder: Path) -> ManifestCache | None:
    return None if no_cache else ManifestCache(folder)


@contextmanager
def _long_lived() -> Iterator[None]:
    """What was read lives until the command ends: the cyclic garbage collector need not scan
    those millions of objects again and again (0.4 s of a plan at 100,000 records)."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


@cli.command()
@paths_argument
@_cache_options
def validate(paths: tuple[str, ...], cache_dir: Path, no_cache: bool) -> int:
    """Check the manifests without any API call; every problem as path:line:col."""
    desired = read_manifests(paths or DEFAULT_PATHS, store=_cache(no_cache, cache_dir))
    click.echo(f"Valid: {counts(desired)}.")
    return EXIT_OK


@cli.command()
@paths_argument
@state_option
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json", "markdown"]),
    default="text",
    show_default=True,
    help="text for people, json for programs (docs/plan-json.md), markdown for a pull-request "
    "comment (docs/plan-markdown.md).",
)
@click.option("--detailed-exitcode", is_flag=True, help="Exit 2 when there are changes, 0 if none.")
@click.option(
    "--out",
    "out_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also save the plan to this file, for `apply --plan` to apply exactly.",
)
@prune_options
@no_color_option
@_cache_options
def plan(
    paths: tuple[str, ...],
    state_path: Path,
    output_format: str,
    detailed_exitcode: bool,
    out_path: Path | None,
    no_color: bool,
    cache_dir: Path,
    no_cache: bool,
    plan_options: PlanOptions,
) -> int:
    """Show what apply would change, from the manifests and the state file only (offline)."""
    desired = read_manifests(paths or DEFAULT_PATHS, store=_cache(no_cache, cache_dir))
    state = load_state(state_path)
    with _long_lived():
        the_plan = make_plan(desired, state, plan_options)
        if output_format == "json":
            click.echo(render_json(the_plan), nl=False)
        elif output_format == "markdown":
            click.echo(render_markdown(the_plan, paths=paths or DEFAULT_PATHS), nl=False)
        else:
            click.echo(render_text(the_plan, color=colour(no_color)), nl=False)
        if the_plan.refused:  # the plan says which limits; nothing is saved to apply
            stderr_log("error: this plan deletes more than the limits allow (see above); exit 4")
            return EXIT_REFUSED
        if out_path is not None:
            text = saved_plan.save(the_plan, desired, state.lineage, state.serial, plan_options)
            write_file(out_path, text)
            stderr_log(
                f"Saved the plan to {out_path}; apply exactly it with: "
                f"reconciler apply --plan {out_path}"
            )
        has_changes = the_plan.summary.changes > 0
        return EXIT_CHANGES if detailed_exitcode and has_changes else EXIT_OK


@cli.command()
def schema() -> int:
    """Print the JSON Schema of a manifest file (for editors: see docs/manifests.md)."""
    click.echo(json.dumps(manifest_json_schema(), indent=2, ensure_ascii=False))
    return EXIT_OK


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
