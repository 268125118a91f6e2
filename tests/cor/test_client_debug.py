"""The COR client's debug hook (`--log-level debug`): one line per HTTP attempt, scrubbed.

The lines go to the fake's log, so the `cor` fixture fails the test if a credential or a token
reached one. A line: `debug: METHOD PATH: OUTCOME in N ms (attempt N; RECORD)`.
"""

from __future__ import annotations

import random
import re

import httpx
import pytest

from reconciler.cor.client import CorClient, Credentials, RetryPolicy
from reconciler.cor.endpoints import ApiCall
from reconciler.errors import ApiError, TransientError
from tests.cor.fake_cor import API, AUTH, CLIENTS, PAIR, SEED, TOKEN, TOKEN_PATH, FakeCor, answer

LINE = re.compile(r"debug: (\S+) (\S+): (.+) in (\d+) ms \(attempt (\d+)(?:; (.+))?\)")
CREATE = ApiCall(
    "POST", CLIENTS, {"metadata": {"source": "SAP"}, "id": "C1", "name": "C1"}, "client SAP/C1"
)


def debugged(cor: FakeCor, credentials: Credentials, **kwargs: object) -> CorClient:
    return CorClient(
        api_url=API,
        auth_url=AUTH,
        read_api_url=f"{API}/v1",
        credentials=credentials,
        log=cor.logs.append,
        debug=cor.logs.append,
        transport=httpx.MockTransport(cor.handle),
        sleep=cor.delays.append,
        rng=random.Random(SEED),
        clock=lambda: cor.now,
        **kwargs,  # type: ignore[arg-type]  # the few keywords the tests pass
    )


def traced(cor: FakeCor) -> list[tuple[str, ...]]:
    """(method, path, outcome, attempt, record) of each debug line, in order."""
    found = [LINE.fullmatch(line) for line in cor.logs if line.startswith("debug: ")]
    assert all(found), cor.logs
    return [(m[1], m[2], m[3], m[5], m[6] or "") for m in found if m]


def test_a_line_per_attempt_with_its_outcome_attempt_and_record(cor: FakeCor) -> None:
    cor.queue(CLIENTS, answer(503), httpx.ConnectError("[Errno 111] Connection refused"))
    cor.queue(CLIENTS, answer(201, {"data": {"id": 25855}}))
    with debugged(cor, PAIR) as client:
        client.send(CREATE)
    assert traced(cor) == [
        ("POST", TOKEN_PATH, "200 OK", "1", "access token"),
        ("POST", CLIENTS, "503 Service Unavailable", "1", "client SAP/C1"),
        ("POST", CLIENTS, "ConnectError: [Errno 111] Connection refused", "2", "client SAP/C1"),
        ("POST", CLIENTS, "201 Created", "3", "client SAP/C1"),
    ]
    retries = [line for line in cor.logs if line.startswith("retrying ")]
    assert len(retries) == 2  # the info lines are unchanged, and still there


def test_a_timeout_and_a_final_failure_are_traced_too(cor: FakeCor) -> None:
    cor.queue(CLIENTS, httpx.ReadTimeout("timed out"), answer(400, {"error": "ValidationError"}))
    client = debugged(cor, Credentials(token=TOKEN), timeout=5.0)
    with client, pytest.raises(ApiError):
        client.send(CREATE)
    outcomes = [line[2] for line in traced(cor)]
    assert outcomes[0].startswith("ReadTimeout") or outcomes[0].startswith("timed out")
    assert outcomes[1] == "400 Bad Request"


def test_a_read_shows_its_page_query_and_subject(cor: FakeCor) -> None:
    cor.queue("/v1/products", answer(200, {"data": [], "total": 0}))
    with debugged(cor, Credentials(token=TOKEN)) as client:
        client.read("products?page=2&perPage=50", "products page 2")
    assert traced(cor) == [
        ("GET", "/v1/products?page=2&perPage=50", "200 OK", "1", "products page 2")
    ]


def test_a_secret_in_what_cor_says_is_scrubbed_from_the_line(cor: FakeCor) -> None:
    cor.queue(CLIENTS, httpx.ConnectError(f"proxy refused Bearer {TOKEN}"))
    retry = RetryPolicy(max_attempts=1)
    client = debugged(cor, Credentials(token=TOKEN), retry=retry)
    with client, pytest.raises(TransientError):
        client.send(CREATE)
    (line,) = traced(cor)
    assert "[redacted]" in line[2]  # and the fixture checks no marker of a secret remains


def test_without_a_debug_sink_no_line_is_written(cor: FakeCor) -> None:
    cor.queue(CLIENTS, answer(201, {"data": {"id": 1}}))
    with cor.client() as client:
        client.send(CREATE)
    assert cor.logs == []
