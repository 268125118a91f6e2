"""A scripted COR for the client's tests (httpx.MockTransport): the fake, its secrets and helpers.

The `cor` fixture (tests/cor/conftest.py) hands each test a FakeCor and checks at teardown that
no credential or token reached a log line or a recorded exception message.
"""

from __future__ import annotations

import base64
import random
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from reconciler.cor.client import CorClient, Credentials, RetryPolicy
from reconciler.cor.endpoints import ApiCall
from reconciler.errors import ApiError

API = "https://integrations.test"
AUTH = "https://auth.test/v1"
TOKEN_PATH, REFRESH_PATH = "/v1/oauth/token", "/v1/oauth/refreshtoken"
CLIENTS = "/v2/integrations/clients"
NOW = 1_750_000_000.0
SEED = 1234

# Each secret starts with a marker, so a fragment cut off by truncation is still caught.
TOKEN = "S3CRET-static-token-0123456789"
KEY = "K3Y-api-key-0123456789"
SECRET = "S3CRET-client-secret-0123456789"
BASIC = base64.b64encode(f"{KEY}:{SECRET}".encode()).decode()
MARKERS = ("S3CRET", "K3Y", "T0KEN", BASIC[:6])
STATIC = Credentials(token=TOKEN)
PAIR = Credentials(api_key=KEY, client_secret=SECRET)
CREATE = ApiCall("POST", CLIENTS, {"metadata": {"source": "SALESFORCE"}, "id": "X", "name": "X"})
UPDATE = ApiCall("PUT", f"{CLIENTS}/X", {"metadata": {"source": "SALESFORCE"}, "name": "Y"})

HTML_502 = b"<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"
Reply = httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]


class FakeCor:
    """A scripted COR: each request gets the next reply queued for its path.

    With nothing queued, the auth endpoints issue fresh tokens and any other path fails the test.
    The fake also owns the injected sleep, log and clock, and the messages of errors raised.
    """

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.replies: dict[str, list[Reply]] = {}
        self.delays: list[float] = []
        self.logs: list[str] = []
        self.messages: list[str] = []
        self.now = NOW
        self.issued = 0

    def queue(self, path: str, *replies: Reply) -> None:
        self.replies.setdefault(path, []).extend(replies)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        queued = self.replies.get(request.url.path)
        if not queued:
            if request.url.path in (TOKEN_PATH, REFRESH_PATH):
                return self.issue()
            raise AssertionError(f"unexpected {request.method} {request.url}")
        reply = queued.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return reply if isinstance(reply, httpx.Response) else reply(request)

    def issue(self, **extra: Any) -> httpx.Response:
        self.issued += 1
        grant = {
            "access_token": f"T0KEN-access-{self.issued}",
            "token_type": "Bearer",
            "expires_in": 3600,
            "refresh_token": f"T0KEN-refresh-{self.issued}",
        }
        return httpx.Response(200, json={**grant, **extra})

    def client(
        self,
        credentials: Credentials = STATIC,
        *,
        retry: RetryPolicy | None = None,
        rng: random.Random | None = None,
        api_url: str = API,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 30.0,
        max_connections: int = 8,
    ) -> CorClient:
        return CorClient(
            api_url=api_url,
            auth_url=AUTH,
            credentials=credentials,
            timeout=timeout,
            retry=retry or RetryPolicy(),
            log=self.logs.append,
            transport=transport or httpx.MockTransport(self.handle),
            sleep=self.delays.append,
            rng=rng or random.Random(SEED),
            clock=lambda: self.now,
            max_connections=max_connections,
        )

    def fail(self, client: CorClient, call: ApiCall, kind: type[ApiError] | None) -> ApiError:
        """Send `call`, expecting exactly `kind` (None: any ApiError); keep the message."""
        with pytest.raises(kind or ApiError) as info:
            client.send(call)
        assert kind is None or type(info.value) is kind
        self.messages += [str(info.value), repr(info.value)]
        return info.value

    def seen(self) -> list[tuple[str, str]]:
        return [(request.method, request.url.path) for request in self.requests]


def answer(status: int, body: object = None, **headers: str) -> httpx.Response:
    if isinstance(body, bytes):
        return httpx.Response(status, content=body, headers=headers)
    if body is None:
        return httpx.Response(status, headers=headers)
    return httpx.Response(status, json=body, headers=headers)


def jitter(ceilings: list[float]) -> list[float]:
    """The delays full jitter draws from a Random(SEED) for these ceilings."""
    rng = random.Random(SEED)
    return [rng.uniform(0, ceiling) for ceiling in ceilings]


class CeilingRng(random.Random):
    """Always draws the top of the range, and records each range's ceiling."""

    def __init__(self) -> None:
        super().__init__(SEED)
        self.ceilings: list[float] = []

    def uniform(self, a: float, b: float) -> float:
        self.ceilings.append(b)
        return b
