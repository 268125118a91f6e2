"""CorClient against fakes of COR (httpx.MockTransport): requests, answers, errors, retries, tokens.

Every test runs with an injected sleep, log, clock and seeded rng; the `cor` fixture asserts at
teardown that no credential or token reached a log line or a recorded exception message.
"""

from __future__ import annotations

import base64
import json
import random
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from email.utils import format_datetime
from typing import Any

import httpx
import pytest

from reconciler import __version__
from reconciler.cor.answers import cor_id_of
from reconciler.cor.client import CorClient, Credentials, RetryPolicy
from reconciler.cor.endpoints import ApiCall
from reconciler.errors import (
    ApiError,
    AuthError,
    DeletionError,
    DuplicateError,
    NotFoundError,
    RequestRejectedError,
    TransientError,
    UsageError,
)
from tests.conformance import DOCUMENTED_CASES

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

# The documented examples of cor-examples.json: (name, method, path, request, response).
CASES: list[tuple[str, str, str, dict[str, Any], dict[str, Any]]] = [
    (case["name"], case["method"], case["path"], case["request"], case["response"])
    for case in DOCUMENTED_CASES
]

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


@pytest.fixture
def cor() -> Iterator[FakeCor]:
    fake = FakeCor()
    yield fake
    leaks = [text for text in fake.logs + fake.messages for mark in MARKERS if mark in text]
    assert leaks == []


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


# --- request shape and answers ---------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "request_body", "response"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_documented_case_is_sent_exactly(
    cor: FakeCor, method: str, path: str, request_body: dict[str, Any], response: dict[str, Any]
) -> None:
    cor.queue(path, answer(200, response))
    assert cor.client().send(ApiCall(method, path, request_body)) == response
    [sent] = cor.requests
    assert (sent.method, str(sent.url)) == (method, API + path)
    assert json.loads(sent.content) == request_body
    assert sent.headers["Authorization"] == f"Bearer {TOKEN}"
    assert sent.headers["Content-Type"] == "application/json"
    assert sent.headers["User-Agent"] == f"cor-reconciler/{__version__}"


@pytest.mark.parametrize("status", [200, 201, 202])
def test_any_2xx_returns_the_object(cor: FakeCor, status: int) -> None:
    cor.queue(CLIENTS, answer(status, {"id": 25855, "name": "X"}))
    assert cor.client().send(CREATE) == {"id": 25855, "name": "X"}


@pytest.mark.parametrize(
    "body",
    [
        {"statusCode": 201, "status": "success", "data": {"id": 7, "name": "X"}},
        {"status": "success", "data": {"id": 7, "name": "X"}},
    ],
)
def test_enveloped_answer_is_unwrapped(cor: FakeCor, body: dict[str, Any]) -> None:
    cor.queue(CLIENTS, answer(201, body))
    assert cor.client().send(CREATE) == {"id": 7, "name": "X"}


def test_a_data_field_without_an_envelope_is_left_alone(cor: FakeCor) -> None:
    cor.queue(CLIENTS, answer(200, {"id": 7, "data": {"x": 1}}))
    assert cor.client().send(CREATE) == {"id": 7, "data": {"x": 1}}


@pytest.mark.parametrize(("status", "content"), [(200, b""), (204, b""), (200, b" \n")])
def test_empty_2xx_body_is_an_empty_object(cor: FakeCor, status: int, content: bytes) -> None:
    cor.queue(CLIENTS, answer(status, content))
    assert cor.client().send(CREATE) == {}


@pytest.mark.parametrize("content", [b"<html>OK</html>", b"[1, 2]", b'"done"'])
def test_2xx_that_is_not_a_json_object_is_an_api_error(cor: FakeCor, content: bytes) -> None:
    cor.queue(CLIENTS, answer(200, content))
    error = cor.fail(cor.client(), CREATE, ApiError)
    assert error.status == 200
    assert "not a JSON object" in str(error)


def test_error_wrapped_in_a_2xx_envelope_is_classified(cor: FakeCor) -> None:
    body = {"statusCode": 404, "status": "error", "name": "ClientNotFoundError", "message": "no"}
    cor.queue(f"{CLIENTS}/X", answer(200, body))
    error = cor.fail(cor.client(), UPDATE, NotFoundError)
    assert (error.status, error.name) == (404, "ClientNotFoundError")


@pytest.mark.parametrize(
    ("api_url", "expected"),
    [
        ("https://integrations.test", "https://integrations.test/v2/integrations/clients"),
        ("https://integrations.test/", "https://integrations.test/v2/integrations/clients"),
        ("https://gateway.test/cor", "https://gateway.test/cor/v2/integrations/clients"),
        ("https://gateway.test/cor/", "https://gateway.test/cor/v2/integrations/clients"),
    ],
)
def test_api_url_joins_with_or_without_slash(cor: FakeCor, api_url: str, expected: str) -> None:
    cor.queue(CLIENTS if "cor" not in api_url else f"/cor{CLIENTS}", answer(201, {"id": 1}))
    cor.client(api_url=api_url).send(CREATE)
    assert str(cor.requests[0].url) == expected


def test_percent_encoded_external_id_reaches_cor_unchanged(cor: FakeCor) -> None:
    cor.queue(f"{CLIENTS}/a/b c", answer(200, {"id": 1}))
    cor.client().send(ApiCall("PUT", f"{CLIENTS}/a%2Fb%20c", {"metadata": {"source": "SAP"}}))
    assert cor.requests[0].url.raw_path == b"/v2/integrations/clients/a%2Fb%20c"


@pytest.mark.parametrize("api_url", ["ftp://integrations.test", "integrations.test", ""])
def test_api_url_must_be_http(cor: FakeCor, api_url: str) -> None:
    with pytest.raises(UsageError, match="the API URL"):
        cor.client(api_url=api_url)


def test_timeout_applies_to_connect_and_read(cor: FakeCor) -> None:
    cor.queue(CLIENTS, answer(201, {"id": 1}))
    cor.client(timeout=12.5).send(CREATE)
    timeouts = cor.requests[0].extensions["timeout"]
    assert (timeouts["connect"], timeouts["read"]) == (12.5, 12.5)


class ClosingTransport(httpx.MockTransport):
    closed = False

    def close(self) -> None:
        self.closed = True


def test_context_manager_closes_the_connection_pool(cor: FakeCor) -> None:
    transport = ClosingTransport(cor.handle)
    cor.queue(CLIENTS, answer(201, {"id": 1}), answer(201, {"id": 2}))
    with cor.client(transport=transport) as client:
        assert [client.send(CREATE)["id"], client.send(CREATE)["id"]] == [1, 2]
        assert not transport.closed
    assert transport.closed


# --- classification ----------------------------------------------------------------------

HTML_502 = b"<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"
CUSTOM = {"status": 400, "name": "CORCustomError"}
ENVELOPE = {"statusCode": 400, "status": "error"}


@pytest.mark.parametrize(
    ("status", "body", "kind", "name", "code"),
    [
        # by name (and the name wins over the status)
        (
            409,
            {"name": "DuplicateExternalIdError"},
            DuplicateError,
            "DuplicateExternalIdError",
            None,
        ),
        (
            400,
            {"name": "DuplicateExternalIdError"},
            DuplicateError,
            "DuplicateExternalIdError",
            None,
        ),
        (404, {"name": "ClientNotFoundError"}, NotFoundError, "ClientNotFoundError", None),
        (400, {"name": "BrandNotFoundError"}, NotFoundError, "BrandNotFoundError", None),
        (409, {"name": "ProductNotFoundError"}, NotFoundError, "ProductNotFoundError", None),
        (400, {"name": "DeletionError"}, DeletionError, "DeletionError", None),
        (409, {"name": "DeletionError"}, DeletionError, "DeletionError", None),
        (400, {"name": "ValidationError"}, RequestRejectedError, "ValidationError", None),
        (404, {"name": "ValidationError"}, RequestRejectedError, "ValidationError", None),
        (503, {"name": "ValidationError"}, RequestRejectedError, "ValidationError", None),
        (422, {"name": "InvalidSourceError"}, RequestRejectedError, "InvalidSourceError", None),
        # by code (CORCustomError), which also wins over the status
        (400, {**CUSTOM, "code": "ZC004"}, DuplicateError, "CORCustomError", "ZC004"),
        (400, {**CUSTOM, "code": "ZC001"}, NotFoundError, "CORCustomError", "ZC001"),
        (409, {**CUSTOM, "code": "ZC001"}, NotFoundError, "CORCustomError", "ZC001"),
        # by status
        (403, {**CUSTOM, "code": "ZC999"}, AuthError, "CORCustomError", "ZC999"),
        (400, {**CUSTOM, "code": "CTR006"}, RequestRejectedError, "CORCustomError", "CTR006"),
        (404, {}, NotFoundError, None, None),
        (409, {"message": "conflict"}, DuplicateError, None, None),
        (417, {"message": "business rule"}, RequestRejectedError, None, None),
        (422, {}, RequestRejectedError, None, None),
        (429, {}, TransientError, None, None),
        (500, {}, TransientError, None, None),
        (501, {}, TransientError, None, None),
        (503, {}, TransientError, None, None),
        (504, {}, TransientError, None, None),
        # enveloped errors
        (
            400,
            {**ENVELOPE, "name": "DuplicateExternalIdError"},
            DuplicateError,
            "DuplicateExternalIdError",
            None,
        ),
        (
            404,
            {**ENVELOPE, "error": "ProductNotFoundError"},
            NotFoundError,
            "ProductNotFoundError",
            None,
        ),
        (
            400,
            {**ENVELOPE, "error": {**CUSTOM, "code": "ZC004"}},
            DuplicateError,
            "CORCustomError",
            "ZC004",
        ),
        (400, {"error": "invalid_request"}, RequestRejectedError, "invalid_request", None),
        # not JSON at all
        (502, HTML_502, TransientError, None, None),
        (400, b"Bad Request", RequestRejectedError, None, None),
        (404, b"", NotFoundError, None, None),
    ],
)
def test_error_classification(
    cor: FakeCor,
    status: int,
    body: object,
    kind: type[ApiError],
    name: str | None,
    code: str | None,
) -> None:
    cor.queue(f"{CLIENTS}/X", answer(status, body))
    error = cor.fail(cor.client(retry=RetryPolicy(max_attempts=1)), UPDATE, kind)
    assert (error.status, error.name, error.code) == (status, name, code)
    assert str(error).startswith(f"PUT {CLIENTS}/X: {status} ")


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (
            409,
            {"name": "DuplicateExternalIdError", "message": "taken"},
            "409 DuplicateExternalIdError: taken",
        ),
        (400, {**CUSTOM, "code": "ZC004", "message": "exists"}, "400 CORCustomError ZC004: exists"),
        (404, {"message": "no such client"}, "404 Not Found: no such client"),
        (400, {"error_description": "bad form"}, "400 Bad Request: bad form"),
        (
            422,
            {"message": ["name is required", "id is required"]},
            '422 Unprocessable Entity: ["name is required", "id is required"]',
        ),
        (404, b"", "404 Not Found"),
    ],
)
def test_error_message_tells_method_path_status_name_and_message(
    cor: FakeCor, status: int, body: object, expected: str
) -> None:
    cor.queue(CLIENTS, answer(status, body))
    error = cor.fail(cor.client(), CREATE, None)
    assert str(error) == f"POST {CLIENTS}: {expected}"


def test_long_and_html_bodies_are_cut_to_one_short_line(cor: FakeCor) -> None:
    cor.queue(CLIENTS, answer(400, {"message": "x" * 5000}), answer(502, HTML_502))
    client = cor.client(retry=RetryPolicy(max_attempts=1))
    long = cor.fail(client, CREATE, RequestRejectedError)
    assert len(str(long)) < len(f"POST {CLIENTS}: 400 Bad Request: ") + 201
    html = cor.fail(client, CREATE, TransientError)
    assert "502 Bad Gateway: 502 Bad Gateway nginx" in str(html)
    assert "<" not in str(html)


# --- retries -----------------------------------------------------------------------------


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_retryable_status_is_retried_after_a_jittered_wait(cor: FakeCor, status: int) -> None:
    cor.queue(CLIENTS, answer(status), answer(201, {"id": 1}))
    assert cor.client().send(CREATE) == {"id": 1}
    assert len(cor.requests) == 2
    assert cor.delays == jitter([0.5])
    reason = httpx.codes.get_reason_phrase(status)
    expected = f"retrying POST {CLIENTS} in {cor.delays[0]:.1f}s (attempt 2/5): {status} {reason}"
    assert cor.logs == [expected]


@pytest.mark.parametrize(
    "error",
    [
        httpx.ConnectError("connection refused"),
        httpx.ReadTimeout("timed out"),
        httpx.ConnectTimeout(""),
    ],
)
def test_transport_error_is_retried(cor: FakeCor, error: httpx.TransportError) -> None:
    cor.queue(CLIENTS, error, answer(201, {"id": 1}))
    assert cor.client().send(CREATE) == {"id": 1}
    assert len(cor.requests) == 2
    assert cor.delays == jitter([0.5])
    assert type(error).__name__ in cor.logs[0]


def test_backoff_doubles_up_to_max_delay_with_full_jitter(cor: FakeCor) -> None:
    cor.queue(CLIENTS, *[answer(503) for _ in range(6)])
    rng = CeilingRng()
    policy = RetryPolicy(max_attempts=6, max_total_wait=100, base_delay=0.5, max_delay=3)
    cor.fail(cor.client(retry=policy, rng=rng), CREATE, TransientError)
    assert rng.ceilings == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert cor.delays == rng.ceilings


def test_backoff_draws_from_the_injected_rng(cor: FakeCor) -> None:
    cor.queue(CLIENTS, *[answer(503) for _ in range(5)])
    cor.fail(cor.client(), CREATE, TransientError)
    assert cor.delays == jitter([0.5, 1.0, 2.0, 4.0])


def test_retry_after_in_seconds_is_honoured(cor: FakeCor) -> None:
    cor.queue(CLIENTS, answer(429, {}, **{"Retry-After": "7"}), answer(201, {"id": 1}))
    cor.client().send(CREATE)
    assert cor.delays == [7.0]


@pytest.mark.parametrize(("offset", "expected"), [(12, 12.0), (-30, 0.0)])
def test_retry_after_as_http_date_is_honoured(cor: FakeCor, offset: int, expected: float) -> None:
    when = format_datetime(datetime.fromtimestamp(NOW + offset, tz=timezone.utc), usegmt=True)
    cor.queue(CLIENTS, answer(503, {}, **{"Retry-After": when}), answer(201, {"id": 1}))
    cor.client().send(CREATE)
    assert cor.delays == [expected]


@pytest.mark.parametrize("value", ["soon", "nan", ""])
def test_unreadable_retry_after_falls_back_to_jitter(cor: FakeCor, value: str) -> None:
    cor.queue(CLIENTS, answer(503, {}, **{"Retry-After": value}), answer(201, {"id": 1}))
    cor.client().send(CREATE)
    assert cor.delays == jitter([0.5])


def test_retry_after_is_capped_by_the_wait_left(cor: FakeCor) -> None:
    slow = answer(429, {}, **{"Retry-After": "100"})
    cor.queue(CLIENTS, slow, slow, answer(201, {"id": 1}))
    error = cor.fail(cor.client(retry=RetryPolicy(max_total_wait=10)), CREATE, TransientError)
    assert cor.delays == [10.0]
    assert len(cor.requests) == 2
    assert error.status == 429


def test_attempts_are_capped(cor: FakeCor) -> None:
    cor.queue(CLIENTS, *[answer(503, {"message": "down for maintenance"}) for _ in range(4)])
    error = cor.fail(cor.client(retry=RetryPolicy(max_attempts=3)), CREATE, TransientError)
    assert len(cor.requests) == 3
    assert len(cor.delays) == 2
    assert error.status == 503
    assert str(error) == (
        f"POST {CLIENTS}: 503 Service Unavailable: down for maintenance (gave up after 3 attempts)"
    )


def test_total_wait_is_capped(cor: FakeCor) -> None:
    cor.queue(CLIENTS, *[answer(503) for _ in range(5)])
    policy = RetryPolicy(max_total_wait=15, base_delay=10, max_delay=20)
    cor.fail(cor.client(retry=policy, rng=CeilingRng()), CREATE, TransientError)
    assert cor.delays == [10.0]  # the next wait, 20s, would pass the 15s budget
    assert len(cor.requests) == 2


def test_lost_connection_gives_up_with_the_cause(cor: FakeCor) -> None:
    cor.queue(CLIENTS, *[httpx.ConnectError("connection refused") for _ in range(2)])
    error = cor.fail(cor.client(retry=RetryPolicy(max_attempts=2)), CREATE, TransientError)
    assert error.status is None
    assert (
        str(error) == f"POST {CLIENTS}: ConnectError: connection refused (gave up after 2 attempts)"
    )


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (400, {}, RequestRejectedError),
        (404, {}, NotFoundError),
        (409, {}, DuplicateError),
        (422, {}, RequestRejectedError),
        (501, {}, TransientError),
        (503, {"name": "DuplicateExternalIdError"}, DuplicateError),
    ],
)
def test_no_retry_without_a_retryable_failure(
    cor: FakeCor, status: int, body: object, kind: type[ApiError]
) -> None:
    cor.queue(CLIENTS, answer(status, body), answer(201, {"id": 1}))
    cor.fail(cor.client(), CREATE, kind)
    assert len(cor.requests) == 1
    assert cor.delays == []


def test_retried_create_may_come_back_as_a_duplicate(cor: FakeCor) -> None:
    cor.queue(CLIENTS, answer(502, HTML_502), answer(409, {"name": "DuplicateExternalIdError"}))
    cor.fail(cor.client(), CREATE, DuplicateError)
    assert len(cor.requests) == 2


def test_other_httpx_errors_are_not_retried(cor: FakeCor) -> None:
    cor.queue(CLIENTS, httpx.DecodingError("bad gzip"), answer(201, {"id": 1}))
    error = cor.fail(cor.client(), CREATE, ApiError)
    assert "DecodingError: bad gzip" in str(error)
    assert len(cor.requests) == 1


@pytest.mark.parametrize(
    "policy",
    [{"max_attempts": 0}, {"base_delay": -1.0}, {"max_delay": -1.0}, {"max_total_wait": -1.0}],
)
def test_retry_policy_rejects_nonsense(policy: dict[str, Any]) -> None:
    with pytest.raises(UsageError, match="retry policy"):
        RetryPolicy(**policy)


# --- tokens --------------------------------------------------------------------------------


def test_token_is_fetched_lazily_with_basic_auth_and_reused(cor: FakeCor) -> None:
    client = cor.client(PAIR)
    assert cor.requests == []
    cor.queue(CLIENTS, answer(201, {"id": 1}), answer(201, {"id": 2}))
    client.send(CREATE)
    client.send(CREATE)
    exchange = cor.requests[0]
    assert str(exchange.url) == f"{AUTH}/oauth/token?grant_type=client_credentials"
    assert exchange.method == "POST"
    assert exchange.headers["Authorization"] == f"Basic {BASIC}"
    assert exchange.content == b""
    assert cor.seen() == [("POST", TOKEN_PATH), ("POST", CLIENTS), ("POST", CLIENTS)]
    assert {r.headers["Authorization"] for r in cor.requests[1:]} == {"Bearer T0KEN-access-1"}


def test_enveloped_token_answer_is_unwrapped(cor: FakeCor) -> None:
    grant = {"access_token": "T0KEN-wrapped", "expires_in": 3600, "refresh_token": "T0KEN-r"}
    cor.queue(TOKEN_PATH, answer(200, {"statusCode": 200, "status": "success", "data": grant}))
    cor.queue(CLIENTS, answer(201, {"id": 1}))
    cor.client(PAIR).send(CREATE)
    assert cor.requests[1].headers["Authorization"] == "Bearer T0KEN-wrapped"


def test_token_is_refreshed_before_it_expires(cor: FakeCor) -> None:
    client = cor.client(PAIR)
    cor.queue(CLIENTS, *[answer(201, {"id": n}) for n in range(3)])
    client.send(CREATE)
    cor.now = NOW + 3539  # within the token's life, outside the 60s margin
    client.send(CREATE)
    cor.now = NOW + 3541
    client.send(CREATE)
    assert cor.seen() == [
        ("POST", TOKEN_PATH),
        ("POST", CLIENTS),
        ("POST", CLIENTS),
        ("POST", REFRESH_PATH),
        ("POST", CLIENTS),
    ]
    refresh = cor.requests[3]
    assert refresh.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert refresh.content == b"refresh_token=T0KEN-refresh-1"
    assert cor.requests[4].headers["Authorization"] == "Bearer T0KEN-access-2"


def test_token_without_a_lifetime_is_kept_until_refused(cor: FakeCor) -> None:
    cor.queue(TOKEN_PATH, cor.issue(expires_in=None))
    cor.queue(CLIENTS, answer(201, {"id": 1}), answer(201, {"id": 2}))
    client = cor.client(PAIR)
    client.send(CREATE)
    cor.now = NOW + 10**7
    client.send(CREATE)
    assert cor.seen().count(("POST", CLIENTS)) == 2
    assert len(cor.requests) == 3


def test_401_refreshes_the_token_and_repeats_the_request_once(cor: FakeCor) -> None:
    cor.queue(CLIENTS, answer(401, {"message": "jwt expired"}), answer(201, {"id": 9}))
    assert cor.client(PAIR).send(CREATE) == {"id": 9}
    assert cor.seen() == [
        ("POST", TOKEN_PATH),
        ("POST", CLIENTS),
        ("POST", REFRESH_PATH),
        ("POST", CLIENTS),
    ]
    assert cor.requests[2].content == b"refresh_token=T0KEN-refresh-1"
    assert cor.requests[3].headers["Authorization"] == "Bearer T0KEN-access-2"
    assert json.loads(cor.requests[3].content) == CREATE.body


def test_failed_refresh_falls_back_to_client_credentials(cor: FakeCor) -> None:
    cor.queue(REFRESH_PATH, answer(401, {"message": "refresh token revoked"}))
    cor.queue(CLIENTS, answer(401), answer(201, {"id": 9}))
    assert cor.client(PAIR).send(CREATE) == {"id": 9}
    assert cor.seen() == [
        ("POST", TOKEN_PATH),
        ("POST", CLIENTS),
        ("POST", REFRESH_PATH),
        ("POST", TOKEN_PATH),
        ("POST", CLIENTS),
    ]
    assert cor.requests[3].headers["Authorization"] == f"Basic {BASIC}"
    assert cor.requests[4].headers["Authorization"] == "Bearer T0KEN-access-2"
    assert any("refreshing the access token failed" in line for line in cor.logs)


def test_second_401_after_renewal_is_an_auth_error(cor: FakeCor) -> None:
    cor.queue(CLIENTS, answer(401), answer(401), answer(201, {"id": 9}))
    error = cor.fail(cor.client(PAIR), CREATE, AuthError)
    assert error.status == 401
    assert cor.seen().count(("POST", CLIENTS)) == 2


def test_static_token_refused_is_an_auth_error_naming_cor_token(cor: FakeCor) -> None:
    cor.queue(CLIENTS, answer(401, {"message": "invalid token"}), answer(201, {"id": 9}))
    error = cor.fail(cor.client(STATIC), CREATE, AuthError)
    assert "COR_TOKEN" in str(error)
    assert "expired or wrong" in str(error)
    assert TOKEN not in str(error)
    assert TOKEN not in repr(error)
    assert cor.seen() == [("POST", CLIENTS)]


@pytest.mark.parametrize("status", [401, 403])
def test_refused_credentials_are_an_auth_error(cor: FakeCor, status: int) -> None:
    cor.queue(TOKEN_PATH, answer(status, {"message": "invalid client"}))
    error = cor.fail(cor.client(PAIR), CREATE, AuthError)
    assert str(error).startswith("COR_API_KEY / COR_CLIENT_SECRET were refused: ")
    assert error.status == status
    assert cor.seen() == [("POST", TOKEN_PATH)]


def test_refused_credentials_are_not_tried_again(cor: FakeCor) -> None:
    cor.queue(TOKEN_PATH, answer(401, {"message": "invalid client"}))
    client = cor.client(PAIR)
    first = cor.fail(client, CREATE, AuthError)
    second = cor.fail(client, CREATE, AuthError)
    assert str(second) == str(first)
    assert cor.seen() == [("POST", TOKEN_PATH)]
    assert cor.logs == ["requesting an access token (client credentials)"]


def test_failed_token_exchange_is_an_auth_error(cor: FakeCor) -> None:
    cor.queue(TOKEN_PATH, answer(400, {"error": "unsupported_grant_type"}))
    error = cor.fail(cor.client(PAIR), CREATE, AuthError)
    assert str(error).startswith("the token exchange failed: POST /v1/oauth/token: 400 ")


@pytest.mark.parametrize(
    "grant", [{"token_type": "Bearer"}, {"access_token": ""}, {"access_token": 5}]
)
def test_token_answer_without_an_access_token_is_an_auth_error(
    cor: FakeCor, grant: dict[str, Any]
) -> None:
    cor.queue(TOKEN_PATH, answer(200, grant))
    error = cor.fail(cor.client(PAIR), CREATE, AuthError)
    assert "without an access_token" in str(error)


def test_token_exchange_is_retried_like_any_request(cor: FakeCor) -> None:
    cor.queue(TOKEN_PATH, answer(503))
    cor.queue(CLIENTS, answer(201, {"id": 1}))
    cor.client(PAIR).send(CREATE)
    assert cor.seen() == [("POST", TOKEN_PATH), ("POST", TOKEN_PATH), ("POST", CLIENTS)]
    assert cor.logs[-1].startswith("retrying POST /v1/oauth/token in ")


# --- secrets --------------------------------------------------------------------------------


def echo(status: int, pad: int = 193) -> Callable[[httpx.Request], httpx.Response]:
    """COR answering with the credential it was sent, placed where truncation cuts (~200)."""

    def reply(request: httpx.Request) -> httpx.Response:
        header = request.headers.get("Authorization", "")
        credential = header.split(" ")[-1] if header else request.content.decode().split("=")[-1]
        return answer(status, {"message": "-" * pad + credential})

    return reply


def leak(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError(f"lost {request.headers.get('Authorization')}")


def html_echo(request: httpx.Request) -> httpx.Response:
    said = f"<html><body>{'x' * 192}{request.headers.get('Authorization')}</body></html>"
    return answer(502, said.encode())


def test_secrets_never_reach_messages_or_logs(cor: FakeCor) -> None:
    cor.queue(TOKEN_PATH, echo(503), echo(403))
    cor.fail(cor.client(PAIR), CREATE, AuthError)
    cor.queue(CLIENTS, echo(503), leak, echo(401), echo(503), echo(400))
    cor.queue(REFRESH_PATH, echo(400, pad=0))
    cor.fail(cor.client(PAIR), CREATE, RequestRejectedError)
    cor.queue(CLIENTS, echo(503), echo(400, pad=0))
    cor.fail(cor.client(STATIC), CREATE, RequestRejectedError)
    cor.queue(CLIENTS, html_echo)
    cor.fail(cor.client(STATIC, retry=RetryPolicy(max_attempts=1)), CREATE, TransientError)
    assert len(cor.logs) >= 6
    assert sum("[red" in text for text in cor.logs + cor.messages) >= 8
    # the `cor` fixture then checks every log line and message for each secret's marker


def test_short_secrets_are_scrubbed_only_where_they_stand_alone(cor: FakeCor) -> None:
    cor.queue(TOKEN_PATH, answer(401, {"message": "key k or secret s refused for token"}))
    error = cor.fail(cor.client(Credentials(api_key="k", client_secret="s")), CREATE, AuthError)
    assert str(error).endswith(
        "401 Unauthorized: key [redacted] or secret [redacted] refused for token"
    )


@pytest.mark.parametrize(
    "credentials",
    [STATIC, PAIR, Credentials(token=TOKEN, api_key=KEY, client_secret=SECRET)],
)
def test_credentials_never_show_their_values(credentials: Credentials) -> None:
    for shown in (repr(credentials), str(credentials), f"{credentials}"):
        assert not any(mark in shown for mark in MARKERS)
        assert "<set>" in shown


@pytest.mark.parametrize(
    "credentials",
    [STATIC, PAIR, Credentials(token=TOKEN, api_key=KEY), Credentials(token=TOKEN, api_key="")],
)
def test_complete_credentials_validate(credentials: Credentials) -> None:
    credentials.validate()


@pytest.mark.parametrize(
    ("credentials", "names"),
    [
        (Credentials(), ["COR_TOKEN", "COR_API_KEY", "COR_CLIENT_SECRET"]),
        (Credentials(token="", api_key="", client_secret=""), ["COR_TOKEN", "COR_API_KEY"]),
        (Credentials(api_key=KEY), ["COR_CLIENT_SECRET is not set"]),
        (Credentials(client_secret=SECRET), ["COR_API_KEY is not set"]),
    ],
)
def test_incomplete_credentials_are_a_usage_error(
    credentials: Credentials, names: list[str]
) -> None:
    with pytest.raises(UsageError) as info:
        credentials.validate()
    assert all(name in str(info.value) for name in names)
    assert not any(mark in str(info.value) for mark in MARKERS)


def test_client_refuses_incomplete_credentials(cor: FakeCor) -> None:
    with pytest.raises(UsageError):
        cor.client(Credentials(api_key=KEY))


# --- cor_id_of ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [({"id": 25855}, 25855), ({"id": "25855"}, 25855), ({"id": " 42 "}, 42), ({"id": 7.0}, 7)],
)
def test_cor_id_of_reads_numeric_ids(body: dict[str, Any], expected: int) -> None:
    assert cor_id_of(body) == expected


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"id": None},
        {"id": ""},
        {"id": "SF-ACC-1"},
        {"id": "12a"},
        {"id": True},
        {"id": -1},
        {"id": 1.5},
        {"id": [1]},
        {"cor_id": 25855},
    ],
)
def test_cor_id_of_rejects_anything_else(body: dict[str, Any]) -> None:
    with pytest.raises(ApiError) as info:
        cor_id_of(body)
    assert type(info.value) is ApiError
    assert "no numeric id" in str(info.value)


def test_many_threads_meeting_one_expired_token_renew_it_once(cor: FakeCor) -> None:
    """A parallel apply: 8 requests in flight all get 401 for the same token."""
    threads = 8
    arrived = threading.Barrier(threads)

    def reply(request: httpx.Request) -> httpx.Response:
        if request.headers["Authorization"] == "Bearer T0KEN-access-1":
            arrived.wait(timeout=10)  # every request holds the first token when COR refuses it
            return answer(401, {"message": "jwt expired"})
        return answer(201, {"id": 1})

    cor.queue(CLIENTS, *([reply] * (2 * threads)))
    client = cor.client(PAIR, max_connections=threads)
    with ThreadPoolExecutor(threads) as pool:
        answers = list(pool.map(lambda _i: client.send(CREATE), range(threads)))
    assert answers == [{"id": 1}] * threads
    assert cor.seen().count(("POST", TOKEN_PATH)) == 1
    assert cor.seen().count(("POST", REFRESH_PATH)) == 1
