"""Access tokens (cor/auth.py, through CorClient): a static COR_TOKEN, or a key and secret
exchanged for a token that is refreshed before it expires, renewed once when refused (once for
many threads), and credentials that never show their values."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from reconciler.cor.client import Credentials
from reconciler.errors import (
    AuthError,
    UsageError,
)
from tests.cor.fake_cor import (
    AUTH,
    BASIC,
    CLIENTS,
    CREATE,
    KEY,
    MARKERS,
    NOW,
    PAIR,
    REFRESH_PATH,
    SECRET,
    STATIC,
    TOKEN,
    TOKEN_PATH,
    FakeCor,
    answer,
)

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


# --- credentials ------------------------------------------------------------------------


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


# --- many threads -----------------------------------------------------------------------


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


# --- tokens across retries, and tokens that cannot be sent -------------------------------


def test_a_token_that_expires_during_a_backoff_is_renewed_not_resent(cor: FakeCor) -> None:
    """Each attempt is built anew with the token of the moment (a backoff may outlive it)."""
    cor.queue(TOKEN_PATH, cor.issue(expires_in=100))  # renewed 50s before it runs out
    cor.queue(CLIENTS, answer(503, {}, **{"Retry-After": "70"}), answer(201, {"id": 1}))
    client = cor.client(PAIR)
    client._sleep = lambda seconds: setattr(cor, "now", cor.now + seconds)  # time passes
    assert client.send(CREATE) == {"id": 1}
    assert cor.seen() == [
        ("POST", TOKEN_PATH),
        ("POST", CLIENTS),
        ("POST", REFRESH_PATH),
        ("POST", CLIENTS),
    ]
    bearers = [r.headers["Authorization"] for r in cor.requests if r.url.path == CLIENTS]
    assert bearers == ["Bearer T0KEN-access-1", "Bearer T0KEN-access-2"]


@pytest.mark.parametrize(
    ("credentials", "says"),
    [
        (Credentials(token=TOKEN + "\n"), "COR_TOKEN holds a newline at its end"),
        (Credentials(token=" " + TOKEN), "COR_TOKEN holds a space at its start"),
        (Credentials(token="S3CRET\tx"), "COR_TOKEN holds a tab at position 7 of 8"),
        (Credentials(token="S3CRET\u00e9"), "COR_TOKEN holds a non-ASCII character at its end"),
        (Credentials(token="S3CRET\x00x"), "COR_TOKEN holds a control character at position 7"),
        (Credentials(token="S3CRET\x85x"), "COR_TOKEN holds whitespace at position 7"),
        (Credentials(token="S3CRET\x9bx"), "COR_TOKEN holds a control character at position 7"),
        (Credentials(api_key=KEY + "\r", client_secret=SECRET), "COR_API_KEY holds a carriage"),
        (Credentials(api_key=KEY, client_secret=SECRET + "\x7f"), "COR_CLIENT_SECRET holds a c"),
    ],
)
def test_a_credential_that_is_not_visible_ascii_is_a_usage_error(
    credentials: Credentials, says: str
) -> None:
    with pytest.raises(UsageError) as info:
        credentials.validate()
    assert says in str(info.value)
    assert "its value is not shown" in str(info.value)
    assert not any(mark in str(info.value) for mark in MARKERS)


def test_an_issued_token_that_cannot_be_sent_is_an_auth_error(cor: FakeCor) -> None:
    cor.queue(TOKEN_PATH, cor.issue(access_token="T0KEN-access\n"))
    error = cor.fail(cor.client(PAIR), CREATE, AuthError)
    assert "an access_token that holds a newline at its end" in str(error)
    assert cor.seen() == [("POST", TOKEN_PATH)]  # no request with it, no retry
