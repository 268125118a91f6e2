"""The COR client: the only module that talks HTTP (it alone imports httpx).

`CorClient.send(ApiCall)` adds a bearer token (auth.py), sends the request with retries
(retry.py), and returns COR's answer unwrapped, or raises the `ApiError` subclass that
classifies it (answers.py). Every message and log line is scrubbed of the token, key, secret
and any token seen.
"""

from __future__ import annotations

import itertools
import random
import re
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import httpx

from reconciler import __version__
from reconciler.cor.answers import (
    Failure,
    decode_json,
    enveloped_error_status,
    read_failure,
    snippet,
    unwrapped,
)
from reconciler.cor.auth import Credentials, TokenSource
from reconciler.cor.endpoints import (
    DEFAULT_API_URL,
    DEFAULT_AUTH_URL,
    DEFAULT_READ_API_URL,
    ApiCall,
)
from reconciler.cor.retry import RETRYABLE_STATUSES, RetryPolicy, retry_after
from reconciler.errors import ApiError, AuthError, TransientError, UsageError

__all__ = ["CorClient", "Credentials", "RetryPolicy"]

USER_AGENT = f"cor-reconciler/{__version__}"
POOL_SIZE = 8  # connections per httpx pool (see CorClient.__init__)
REDACTED = "[redacted]"
_DEFAULT_RETRY = RetryPolicy()  # frozen, so one shared default is safe


class _Setback(NamedTuple):
    """A retryable outcome of one attempt."""

    brief: str  # for the log line: "503 Service Unavailable", "ConnectError: ..."
    detail: str  # for the final error
    failure: Failure | None  # None when no answer came back
    retry_after: float | None

    def give_up(self, message: str) -> TransientError:
        failure = self.failure
        if failure is None:
            return TransientError(message)
        return TransientError(message, status=failure.status, name=failure.name, code=failure.code)


class CorClient:
    """Sends `ApiCall`s to COR's Integrations API over one pooled httpx.Client; `read` GETs
    from COR's main API (`read_api_url`) with the same token, retries and scrubbing.

    `send` and `read` may be called from several threads at once (a parallel apply or audit):
    the pool and the token source are shared and thread-safe.
    """

    def __init__(
        self,
        *,
        api_url: str = DEFAULT_API_URL,
        auth_url: str = DEFAULT_AUTH_URL,
        read_api_url: str = DEFAULT_READ_API_URL,
        credentials: Credentials,
        timeout: float = 30.0,
        retry: RetryPolicy = _DEFAULT_RETRY,
        log: Callable[[str], None] = lambda _msg: None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.time,
        max_connections: int = 8,
    ) -> None:
        credentials.validate()
        self._api_url = _base_url(api_url, "the API URL")
        self._read_api_url = _base_url(read_api_url, "the read API URL")
        self._retry, self._log, self._sleep, self._clock = retry, log, sleep, clock
        self._rng = rng or random.Random()
        # Worker threads share pools of at most POOL_SIZE connections: httpcore's pool does
        # bookkeeping that grows with the square of its connections (encode/httpx#3215), so
        # 32 connections in one pool cost more CPU than 4 pools of 8 (docs/benchmarks.md).
        sizes = [POOL_SIZE] * (max_connections // POOL_SIZE)
        sizes += [max_connections % POOL_SIZE] if max_connections % POOL_SIZE else []
        self._pools = [
            httpx.Client(
                transport=transport,
                timeout=httpx.Timeout(timeout),
                headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
                limits=httpx.Limits(max_connections=size, max_keepalive_connections=size),
            )
            for size in sizes or [1]
        ]
        self._http = self._pools[0]  # builds requests; sends go through _pool()
        self._thread_pool = threading.local()
        self._next_pool = itertools.count()
        self._tokens = TokenSource(
            credentials=credentials,
            auth_url=_base_url(auth_url, "the auth URL"),
            post=self._post_to_auth,
            clock=clock,
            log=self._say,
        )

    def send(self, call: ApiCall) -> dict[str, Any]:
        """COR's answer to `call`, unwrapped; a 401 renews the token and repeats `call` once."""
        return self._authorised(f"{call.method} {call.path}", lambda t: self._build(call, t))

    def read(self, path: str) -> dict[str, Any]:
        """GET `path` (e.g. `clients/25855`) from the main API, unwrapped as `send` unwraps."""
        url = f"{self._read_api_url}/{path.lstrip('/')}"
        label = f"GET {httpx.URL(url).path}"

        def build(token: str) -> httpx.Request:
            headers = {"Authorization": f"Bearer {token}"}
            return self._http.build_request("GET", url, headers=headers)

        return self._authorised(label, build)

    def _authorised(self, label: str, build: Callable[[str], httpx.Request]) -> dict[str, Any]:
        """The answer to the request `build(token)` makes; a 401 renews the token, once."""
        token = self._tokens.bearer()
        response = self._exchange(label, build(token))
        if response.status_code == 401:
            if not self._tokens.renewable:
                raise AuthError(
                    f"{label}: 401: COR refused the token in COR_TOKEN (expired or wrong); "
                    "set a new one, or use COR_API_KEY and COR_CLIENT_SECRET",
                    status=401,
                )
            self._tokens.renew("COR refused the access token (401)", refused=token)
            response = self._exchange(label, build(self._tokens.bearer()))
        return self._answer(label, response)

    def close(self) -> None:
        for pool in self._pools:
            pool.close()

    def __enter__(self) -> CorClient:
        return self

    def __exit__(self, *_exc_info: object) -> None:
        self.close()

    def _pool(self) -> httpx.Client:
        """The calling thread's pool: threads are spread over the pools, round robin."""
        index: int | None = getattr(self._thread_pool, "index", None)
        if index is None:
            index = self._thread_pool.index = next(self._next_pool) % len(self._pools)
        return self._pools[index]

    def _build(self, call: ApiCall, token: str) -> httpx.Request:
        headers = {
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
        }
        url = f"{self._api_url}/{call.path.lstrip('/')}"
        return self._http.build_request(call.method, url, json=dict(call.body), headers=headers)

    def _post_to_auth(
        self, url: str, headers: Mapping[str, str], form: Mapping[str, str] | None
    ) -> dict[str, Any]:
        label = f"POST {httpx.URL(url).path}"
        request = self._http.build_request("POST", url, headers=headers, data=form)
        return self._answer(label, self._exchange(label, request))

    def _exchange(self, label: str, request: httpx.Request) -> httpx.Response:
        """Send, retrying 429/5xx answers and lost connections; the last answer otherwise."""
        waited, attempt, limit = 0.0, 1, self._retry.max_attempts
        while True:
            outcome = self._attempt(label, request)
            if isinstance(outcome, httpx.Response):
                return outcome
            delay = self._retry.delay(attempt, outcome.retry_after, waited, self._rng)
            if delay is None:
                tries = f"{attempt} attempt{'s' if attempt != 1 else ''}"
                raise outcome.give_up(
                    self._scrub(f"{label}: {outcome.detail} (gave up after {tries})")
                )
            attempt += 1
            progress = f"in {delay:.1f}s (attempt {attempt}/{limit})"
            self._say(f"retrying {label} {progress}: {outcome.brief}")
            self._sleep(delay)
            waited += delay

    def _attempt(self, label: str, request: httpx.Request) -> httpx.Response | _Setback:
        try:
            response = self._pool().send(request)
        except httpx.TransportError as exc:  # timeouts included
            cause = f"{type(exc).__name__}: {exc}".rstrip(": ")
            return _Setback(cause, cause, None, None)
        except httpx.HTTPError as exc:  # undecodable body, redirect loop: a retry won't help
            raise ApiError(self._scrub(f"{label}: {type(exc).__name__}: {exc}")) from exc
        if response.status_code not in RETRYABLE_STATUSES:
            return response
        failure = self._failure(response, response.status_code)
        if failure.error_class() is not TransientError:
            return response  # a name or code that says otherwise wins over the status
        wait = retry_after(response.headers.get("Retry-After"), self._clock())
        brief = f"{failure.status} {failure.label}"
        return _Setback(brief, failure.summary(), failure, wait)

    def _answer(self, label: str, response: httpx.Response) -> dict[str, Any]:
        """A 2xx answer's object (unwrapped from its envelope), else the classified error."""
        if not response.is_success:
            raise self._error(label, self._failure(response, response.status_code))
        if not response.content.strip():
            return {}
        body = decode_json(response.content)
        if not isinstance(body, dict):
            message = f"not a JSON object: {snippet(self._scrub(response.text))}"
            failure = Failure(response.status_code, message=message, phrase=_phrase(response))
            raise self._error(label, failure, ApiError)
        hidden = enveloped_error_status(body)
        if hidden is not None:
            raise self._error(label, self._failure(response, hidden))
        return unwrapped(body)

    def _failure(self, response: httpx.Response, status: int) -> Failure:
        phrase = httpx.codes.get_reason_phrase(status)
        return read_failure(status, response.content, response.text, phrase, self._scrub)

    def _error(self, label: str, failure: Failure, kind: type[ApiError] | None = None) -> ApiError:
        kind = kind or failure.error_class()
        message = self._scrub(f"{label}: {failure.summary()}")
        return kind(message, status=failure.status, name=failure.name, code=failure.code)

    def _say(self, message: str) -> None:
        self._log(self._scrub(message))

    def _scrub(self, text: str) -> str:
        """Hide every secret; a short one only where it stands alone, so words stay whole."""
        for secret in self._tokens.secrets():
            if len(secret) >= 8:
                text = text.replace(secret, REDACTED)
            else:
                text = re.sub(
                    rf"(?<![A-Za-z0-9]){re.escape(secret)}(?![A-Za-z0-9])", REDACTED, text
                )
        return text


def _base_url(value: str, what: str) -> str:
    try:
        url = httpx.URL(value)
    except httpx.InvalidURL as exc:
        raise UsageError(f"{what} is not a valid URL: {exc}") from exc
    if url.scheme not in ("http", "https") or not url.host:
        raise UsageError(f"{what} must be an http:// or https:// URL with a host")
    return value.rstrip("/")


def _phrase(response: httpx.Response) -> str:
    return httpx.codes.get_reason_phrase(response.status_code)
