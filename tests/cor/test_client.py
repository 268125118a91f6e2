"""CorClient against a fake COR (httpx.MockTransport): the requests it sends, the answers it
reads, the read API, and secrets kept out of every message and log line.

Every test runs with an injected sleep, log, clock and seeded rng; the `cor` fixture
(tests/cor/conftest.py) asserts at teardown that no credential or token reached a log line or a
recorded exception message. Retries: test_retry.py; tokens: test_auth.py; classification of
failures and COR ids: test_answers.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from reconciler import __version__
from reconciler.cor.client import CorClient, Credentials, Limits, RetryPolicy
from reconciler.cor.endpoints import ApiCall
from reconciler.errors import (
    ApiError,
    AuthError,
    NotFoundError,
    RequestRejectedError,
    TransientError,
    UsageError,
)
from tests.conformance import DOCUMENTED_CASES
from tests.cor.fake_cor import (
    API,
    CLIENTS,
    CREATE,
    PAIR,
    REFRESH_PATH,
    STATIC,
    TOKEN,
    TOKEN_PATH,
    UPDATE,
    FakeCor,
    answer,
)

# The documented examples of cor-examples.json: (name, method, path, request, response).
CASES: list[tuple[str, str, str, dict[str, Any], dict[str, Any]]] = [
    (case["name"], case["method"], case["path"], case["request"], case["response"])
    for case in DOCUMENTED_CASES
]


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


# --- the read API (audit --remote) ---------------------------------------------------------


def mock_client(handler: Callable[[httpx.Request], httpx.Response], **kw: Any) -> CorClient:
    return CorClient(
        api_url="https://integrations.test",
        auth_url="https://auth.test/v1",
        read_api_url="https://read.test/v1/",
        transport=httpx.MockTransport(handler),
        sleep=lambda _s: None,
        retry=RetryPolicy(max_attempts=3),
        **kw,
    )


def test_client_read_gets_the_main_api_with_retries_and_unwraps() -> None:
    seen: list[httpx.Request] = []
    answers = [
        httpx.Response(503),
        httpx.Response(200, json={"statusCode": 200, "status": "success", "data": {"id": 7}}),
    ]

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answers.pop(0)

    with mock_client(handler, credentials=Credentials(token="S3CRET-token")) as client:
        assert client.read("clients/7") == {"id": 7}
    assert [str(r.url) for r in seen] == ["https://read.test/v1/clients/7"] * 2
    assert {r.method for r in seen} == {"GET"}
    assert seen[0].headers["Authorization"] == "Bearer S3CRET-token"
    assert seen[0].content == b""


def test_client_read_renews_a_refused_token_and_maps_not_found() -> None:
    tokens = iter(["T0KEN-1", "T0KEN-2"])

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/oauth/token":
            return httpx.Response(200, json={"access_token": next(tokens), "expires_in": 3600})
        if request.headers["Authorization"] == "Bearer T0KEN-1":
            return httpx.Response(401)
        return httpx.Response(404, json={"name": "ClientNotFoundError", "code": "ZC001"})

    pair = Credentials(api_key="K3Y-key", client_secret="S3CRET-secret")
    with mock_client(handler, credentials=pair) as client, pytest.raises(NotFoundError) as caught:
        client.read("clients/9")
    assert str(caught.value).startswith("GET /v1/clients/9: 404 ClientNotFoundError ZC001")


def test_a_token_echoed_in_a_created_answer_is_scrubbed(cor: FakeCor) -> None:
    cor.queue(CLIENTS, answer(201, {"id": 7, "echo": TOKEN.lower(), TOKEN: [f"Bearer {TOKEN}"]}))
    assert cor.client().send(CREATE) == {
        "id": 7,
        "echo": "[redacted]",
        "[redacted]": ["Bearer [redacted]"],
    }


def test_a_token_echoed_in_json_unicode_escapes_is_scrubbed(cor: FakeCor) -> None:
    escaped = "".join(f"\\u{ord(c):04x}" for c in TOKEN)
    cor.queue(CLIENTS, answer(201, f'{{"id": 7, "echo": "{escaped}"}}'.encode()))
    assert cor.client().send(CREATE) == {"id": 7, "echo": "[redacted]"}


def test_what_cor_says_is_made_printable(cor: FakeCor) -> None:
    body = {"name": "Bad\x1b[2JError", "message": "line\x1b]0;title\x07\u202e"}
    cor.queue(CLIENTS, answer(400, body))
    error = cor.fail(cor.client(), CREATE, RequestRejectedError)
    assert str(error) == (f"POST {CLIENTS}: 400 Bad\\x1b[2JError: line\\x1b]0;title\\x07\\u202e")


def test_a_local_error_sending_a_request_is_not_retried(cor: FakeCor) -> None:
    cor.queue(CLIENTS, httpx.LocalProtocolError(f"Illegal header value b'Bearer {TOKEN}\\n'"))
    error = cor.fail(cor.client(), CREATE, ApiError)
    assert "the request could not be sent" in str(error)
    assert len(cor.requests) == 1
    assert cor.delays == []


def test_a_local_error_building_a_request_is_not_retried(cor: FakeCor) -> None:
    call = ApiCall("POST", CLIENTS, {"id": object()})  # not JSON
    error = cor.fail(cor.client(), call, ApiError)
    assert str(error) == f"POST {CLIENTS}: the request could not be built (TypeError)"
    assert cor.requests == []


@pytest.mark.parametrize("timeout", [0.0, -1.0, float("nan"), float("inf")])
def test_the_timeout_must_be_a_positive_finite_number(cor: FakeCor, timeout: float) -> None:
    with pytest.raises(UsageError, match="the timeout must be a positive number of seconds"):
        cor.client(timeout=timeout)


def test_an_answer_is_read_within_the_limits(cor: FakeCor) -> None:
    """Through a transport without sockets too (the body is read in chunks, counted)."""
    cor.queue(CLIENTS, answer(201, {"id": 1, "pad": "x" * 2000}))
    client = cor.client()
    client._limits = Limits(raw=1000, decoded=4000)
    error = cor.fail(client, CREATE, ApiError)
    assert str(error) == (
        f"POST {CLIENTS}: 201 Created: the answer is larger than 1000 bytes, the client's limit;"
        " not retried"
    )
    assert len(cor.requests) == 1


def test_the_read_api_names_the_record_in_retry_lines() -> None:
    logs: list[str] = []
    answers = [answer(503), answer(200, {"id": 1})]
    client = mock_client(lambda _r: answers.pop(0), credentials=STATIC, log=logs.append)
    client.read("clients/1", subject="client SAP/C-1")
    assert logs[0].startswith("retrying client SAP/C-1: GET /v1/clients/1 in ")
