"""How commands that talk to COR connect: shared options, credentials from the environment.

Used by `apply`, `import` and `audit --remote` (any command that calls COR). Credentials are
read from the environment only — never options, so they stay out of shell history and process lists.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

import click

from reconciler.cli.console import http_debug, stderr_log
from reconciler.cli.options import F, gathered, with_options
from reconciler.cor.endpoints import DEFAULT_API_URL, DEFAULT_AUTH_URL, DEFAULT_READ_API_URL

if TYPE_CHECKING:  # cor.auth and cor.retry: imported once COR is called
    from reconciler.cor.auth import Credentials
    from reconciler.cor.client import CorClient
    from reconciler.cor.retry import RetryPolicy


class _Seconds(click.FloatRange):
    """A number of seconds: in range, and finite (`nan` and `inf` pass a FloatRange)."""

    name = "seconds"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        seconds = super().convert(value, param, ctx)
        if not math.isfinite(seconds):
            self.fail(f"{value!r} is not a finite number of seconds", param, ctx)
        return seconds


_API_URL = click.option(
    "--api-url",
    envvar="COR_API_URL",
    show_envvar=True,
    default=DEFAULT_API_URL,
    show_default=True,
    help="COR's Integrations API, where records are created, updated and deleted.",
)
# --read-api-url, for a command that reads COR (audit --remote, plan/apply --refresh): put it
# above `client_options`, which hands it to the command in `connection: ConnectionOptions`.
read_api_option = click.option(
    "--read-api-url",
    envvar="COR_READ_API_URL",
    show_envvar=True,
    default=DEFAULT_READ_API_URL,
    show_default=True,
    help="COR's main API, read to see what COR holds now (its lists, and by COR id).",
)

_CLIENT_OPTIONS = (
    click.option(
        "--auth-url",
        envvar="COR_AUTH_URL",
        show_envvar=True,
        default=DEFAULT_AUTH_URL,
        show_default=True,
        help="COR's auth API, which exchanges COR_API_KEY and COR_CLIENT_SECRET for a token.",
    ),
    click.option(
        "--timeout",
        type=_Seconds(min=0.1),
        default=30.0,
        show_default=True,
        help="Seconds one attempt may take in all, from connecting to the last byte of the answer.",
    ),
    click.option(
        "--retry-attempts",
        type=click.IntRange(1, 100),
        default=5,
        show_default=True,
        help="Attempts per request for 429, 5xx, timeouts and lost connections.",
    ),
    click.option(
        "--retry-max-wait",
        type=_Seconds(min=0),
        default=60.0,
        show_default=True,
        help="Seconds of backoff one request may wait in all, Retry-After included.",
    ),
)


@dataclass(frozen=True)
class ConnectionOptions:
    """How to reach COR, as the options said; credentials are read only by `connect()`."""

    auth_url: str
    timeout: float
    parallelism: int
    retry_attempts: int
    retry_max_wait: float
    api_url: str = DEFAULT_API_URL
    read_api_url: str = DEFAULT_READ_API_URL

    def connect(self) -> Connection:
        """The connection, with credentials from the environment (UsageError if missing)."""
        from reconciler.cor.retry import RetryPolicy

        retry = RetryPolicy(max_attempts=self.retry_attempts, max_total_wait=self.retry_max_wait)
        return Connection(
            self.api_url,
            self.auth_url,
            credentials_from_env(),
            self.timeout,
            self.parallelism,
            retry,
            self.read_api_url,
        )


_GATHERED = tuple(f.name for f in fields(ConnectionOptions))


# --parallelism does not mean the same for each command: its help is the command's own
_PARALLELISM_HELP = {
    "apply": "Requests in flight together (a record still waits for what it references).",
    "import_command": "Records looked up and adopted together, kind by kind (clients, then "
    "brands, then products).",
    "audit": "Reads from COR in flight together, with --remote (records and list pages).",
    "plan": "Reads from COR in flight together, with --refresh (list pages and records).",
}


def _parallelism(command: F) -> Callable[[F], F]:
    name = getattr(command, "__name__", "")
    return click.option(
        "--parallelism",
        type=click.IntRange(1, 64),
        default=8,
        show_default=True,
        help=_PARALLELISM_HELP.get(name, "Requests to COR in flight together."),
    )


def client_options(command: F) -> F:
    """Add --auth-url, --timeout, --parallelism, --retry-attempts, --retry-max-wait; the
    command receives them (with --api-url / --read-api-url if it has them) as
    `connection: ConnectionOptions`."""
    options = (*_CLIENT_OPTIONS[:2], _parallelism(command), *_CLIENT_OPTIONS[2:])
    command = gathered(_GATHERED, "connection", ConnectionOptions)(command)
    return with_options(command, options)


def connection_options(command: F) -> F:
    """The client options and --api-url (the Integrations API): for commands that write."""
    return _API_URL(client_options(command))


def credentials_from_env() -> Credentials:
    from reconciler.cor.auth import Credentials

    credentials = Credentials(
        token=os.environ.get("COR_TOKEN") or None,
        api_key=os.environ.get("COR_API_KEY") or None,
        client_secret=os.environ.get("COR_CLIENT_SECRET") or None,
    )
    credentials.validate()
    return credentials


@dataclass(frozen=True)
class Connection:
    api_url: str
    auth_url: str
    credentials: Credentials
    timeout: float
    parallelism: int
    retry: RetryPolicy
    read_api_url: str = DEFAULT_READ_API_URL

    def client(self) -> CorClient:
        from reconciler.cor.client import CorClient  # httpx: only once COR is called

        return CorClient(
            api_url=self.api_url,
            auth_url=self.auth_url,
            read_api_url=self.read_api_url,
            credentials=self.credentials,
            timeout=self.timeout,
            retry=self.retry,
            log=stderr_log,
            debug=http_debug(),  # --log-level debug: a line per HTTP attempt
            max_connections=self.parallelism,
        )
