"""`reconciler emulator`: serve the local emulator of COR's Integrations API (docs/emulator.md).

The CLI's door to `reconciler.emulator`, which shares nothing with the client but the contract.
"""

from __future__ import annotations

import click

from reconciler.emulator.server import EmulatorConfig, serve
from reconciler.emulator.store import DELETED_IDS, check_deleted_ids
from reconciler.errors import EXIT_OK


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="The address to bind.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8787,
    show_default=True,
    help="The port to listen on; 0 picks a free one.",
)
@click.option("--token", default="demo-token", show_default=True, help="A bearer token accepted.")
@click.option(
    "--latency-ms",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="Milliseconds added before every answer (for benchmarks).",
)
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
    "--throttle-rate",
    type=click.FloatRange(0, 1),
    default=0.0,
    show_default=True,
    help="Share of /v2 requests answered 429 with Retry-After at random, unprocessed.",
)
@click.option(
    "--throttle-retry-after",
    type=click.IntRange(0, 3600),
    default=1,
    show_default=True,
    metavar="SECONDS",
    help="The Retry-After of those 429s.",
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
@click.option(
    "--deleted-ids",
    type=click.Choice(DELETED_IDS),
    default="freed",
    show_default=True,
    help="Whether a deletion in COR itself (POST /_emulator/mutate) frees the external id "
    "or keeps it mapped until an Integrations DELETE.",
)
def emulator(
    host: str,
    port: int,
    token: str,
    latency_ms: float,
    fail_rate: float,
    rate_limit: float | None,
    throttle_rate: float,
    throttle_retry_after: int,
    lost_response_rate: float,
    token_ttl: int,
    seed: int | None,
    deleted_ids: str,
) -> int:
    """Serve a local emulator of COR's Integrations API (for demos, tests and rehearsals)."""
    try:
        config = EmulatorConfig(
            host=host,
            port=port,
            token=token,
            latency_ms=latency_ms,
            fail_rate=fail_rate,
            rate_limit=rate_limit,
            throttle_rate=throttle_rate,
            throttle_retry_after=throttle_retry_after,
            lost_response_rate=lost_response_rate,
            token_ttl=token_ttl,
            seed=seed,
            deleted_ids=check_deleted_ids(deleted_ids),
        )
    except ValueError as error:  # a NaN, or fail and throttle rates over 1 together
        raise click.UsageError(str(error)) from None
    serve(config, announce=click.echo)
    return EXIT_OK
