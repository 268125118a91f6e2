"""How hard a request is retried (cor/retry.py, through CorClient): which failures, full-jitter
backoff, Retry-After, and the caps on attempts and on the total wait."""

from __future__ import annotations

from datetime import datetime, timezone
from email.utils import format_datetime
from typing import Any

import httpx
import pytest

from reconciler.cor.client import RetryPolicy
from reconciler.cor.endpoints import ApiCall
from reconciler.errors import (
    ApiError,
    DuplicateError,
    NotFoundError,
    RequestRejectedError,
    TransientError,
    UsageError,
)
from tests.cor.fake_cor import (
    CLIENTS,
    CREATE,
    HTML_502,
    NOW,
    CeilingRng,
    FakeCor,
    answer,
    jitter,
)


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


# --- 429 with Retry-After: a wait COR asks for ------------------------------------------


def test_a_429_with_retry_after_spends_no_attempt(cor: FakeCor) -> None:
    wait = answer(429, {}, **{"Retry-After": "3"})
    cor.queue(CLIENTS, wait, wait, wait, answer(503), answer(201, {"id": 1}))
    client = cor.client(retry=RetryPolicy(max_attempts=2), rng=CeilingRng())
    assert client.send(CREATE) == {"id": 1}
    assert cor.delays == [3.0, 3.0, 3.0, 0.5]
    assert cor.logs[0] == (
        f"retrying POST {CLIENTS} in 3.0s (COR asked to wait; attempt 1/2 again): "
        "429 Too Many Requests"
    )
    assert cor.logs[3] == f"retrying POST {CLIENTS} in 0.5s (attempt 2/2): 503 Service Unavailable"


def test_waits_cor_asks_for_are_bounded_by_the_total_wait(cor: FakeCor) -> None:
    cor.queue(CLIENTS, *[answer(429, {}, **{"Retry-After": "4"}) for _ in range(10)])
    error = cor.fail(cor.client(retry=RetryPolicy(max_total_wait=10)), CREATE, TransientError)
    assert cor.delays == [4.0, 4.0, 2.0]
    assert str(error).endswith("429 Too Many Requests (gave up after 4 attempts)")


def test_a_retry_after_of_zero_costs_a_second_of_the_budget(cor: FakeCor) -> None:
    cor.queue(CLIENTS, *[answer(429, {}, **{"Retry-After": "0"}) for _ in range(10)])
    cor.fail(cor.client(retry=RetryPolicy(max_total_wait=3)), CREATE, TransientError)
    assert cor.delays == [0.0, 0.0, 0.0]


def test_a_429_without_retry_after_is_a_failed_attempt(cor: FakeCor) -> None:
    cor.queue(CLIENTS, *[answer(429) for _ in range(3)])
    cor.fail(cor.client(retry=RetryPolicy(max_attempts=2)), CREATE, TransientError)
    assert len(cor.requests) == 2


def test_a_retry_line_names_the_record(cor: FakeCor) -> None:
    call = ApiCall("POST", CLIENTS, {"id": "P-1"}, subject="product SAP/P-1")
    cor.queue(CLIENTS, answer(503), answer(201, {"id": 1}))
    cor.client(rng=CeilingRng()).send(call)
    assert cor.logs == [
        f"retrying product SAP/P-1: POST {CLIENTS} in 0.5s (attempt 2/5): 503 Service Unavailable"
    ]


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_retry_policy_rejects_waits_that_are_not_finite(value: float) -> None:
    with pytest.raises(UsageError, match="finite"):
        RetryPolicy(max_total_wait=value)
