"""The client edge: the only module that talks HTTP to COR (it alone imports httpx).

`CorClient.send(ApiCall)` adds a bearer token (see auth.py), sends the request with retries,
and returns COR's answer unwrapped, or raises the `ApiError` subclass that classifies it.
COR's docs leave open whether an error is told by name, by code or by HTTP status
(cor-api.md, "Open questions"), so all three are read: name, then code, then status.
Every message and log line is scrubbed of the token, key, secret and any token seen.
"""

from __future__ import annotations

import email.utils
import itertools
import json
import math
import random
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timezone
from typing import Any, NamedTuple

import httpx

from reconciler import __version__
from reconciler.cor.auth import Credentials, TokenSource
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

__all__ = ["CorClient", "Credentials", "RetryPolicy", "cor_id_of"]

DEFAULT_API_URL = "https://integrations.projectcor.com"
DEFAULT_AUTH_URL = "https://api.projectcor.com/v1"
DEFAULT_READ_API_URL = "https://api.projectcor.com/v1"  # the main API: GET by COR id (`read`)
USER_AGENT = f"cor-reconciler/{__version__}"
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
POOL_SIZE = 8  # connections per httpx pool (see CorClient.__init__)
SNIPPET_CHARS = 200
REDACTED = "[redacted]"

_BY_NAME: dict[str, type[ApiError]] = {
    "DuplicateExternalIdError": DuplicateError,
    "DeletionError": DeletionError,
    "ValidationError": RequestRejectedError,
    "InvalidSourceError": RequestRejectedError,
}
_BY_CODE: dict[str, type[ApiError]] = {"ZC001": NotFoundError, "ZC004": DuplicateError}
_BY_STATUS = {401: AuthError, 403: AuthError, 404: NotFoundError, 409: DuplicateError}


@dataclass(frozen=True)
class RetryPolicy:
    """How hard one request is retried: attempts in all, and seconds of backoff summed."""

    max_attempts: int = 5
    max_total_wait: float = 60.0
    base_delay: float = 0.5
    max_delay: float = 20.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1 or min(self.max_total_wait, self.base_delay, self.max_delay) < 0:
            raise UsageError("retry policy: max_attempts must be at least 1, delays not negative")


@dataclass(frozen=True)
class _Failure:
    """A non-2xx answer as COR told it; `message` is COR's text or a snippet of the body."""

    status: int
    name: str | None = None
    code: str | None = None
    message: str = ""

    @property
    def label(self) -> str:
        told = " ".join(part for part in (self.name, self.code) if part)
        return told or httpx.codes.get_reason_phrase(self.status)

    def summary(self) -> str:
        head = f"{self.status} {self.label}".rstrip()
        return f"{head}: {self.message}" if self.message else head

    def error_class(self) -> type[ApiError]:
        """Name, then code, then HTTP status: whichever COR uses, the most specific wins."""
        name = self.name or ""
        found = (
            (NotFoundError if name.endswith("NotFoundError") else _BY_NAME.get(name))
            or _BY_CODE.get(self.code or "")
            or _BY_STATUS.get(self.status)
        )
        if found is not None:
            return found
        if self.status >= 500 or self.status == 429:
            return TransientError
        return RequestRejectedError if self.status >= 400 else ApiError


class _Setback(NamedTuple):
    """A retryable outcome of one attempt."""

    brief: str  # for the log line: "503 Service Unavailable", "ConnectError: ..."
    detail: str  # for the final error
    failure: _Failure | None  # None when no answer came back
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
        retry: RetryPolicy = RetryPolicy(),  # frozen, so one shared default is safe
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
            delay = None if attempt >= limit else self._next_delay(attempt, outcome, waited)
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
        failure = _failure(response, response.status_code, self._scrub)
        if failure.error_class() is not TransientError:
            return response  # a name or code that says otherwise wins over the status
        retry_after = _retry_after(response.headers.get("Retry-After"), self._clock())
        brief = f"{failure.status} {failure.label}"
        return _Setback(brief, failure.summary(), failure, retry_after)

    def _next_delay(self, attempt: int, setback: _Setback, waited: float) -> float | None:
        """Retry-After if given (capped by the wait left), else full jitter; None: stop."""
        left = self._retry.max_total_wait - waited
        if setback.retry_after is not None:
            return min(setback.retry_after, left) if left > 0 else None
        ceiling = min(self._retry.max_delay, self._retry.base_delay * 2 ** min(attempt - 1, 64))
        delay = self._rng.uniform(0, ceiling)
        return delay if delay <= left else None

    def _answer(self, label: str, response: httpx.Response) -> dict[str, Any]:
        """A 2xx answer's object (unwrapped from its envelope), else the classified error."""
        if not response.is_success:
            raise self._error(label, _failure(response, response.status_code, self._scrub))
        if not response.content.strip():
            return {}
        body = _json(response)
        if not isinstance(body, dict):
            message = f"not a JSON object: {_snippet(self._scrub(response.text))}"
            raise self._error(label, _Failure(response.status_code, message=message), ApiError)
        hidden = _enveloped_error_status(body)
        if hidden is not None:
            raise self._error(label, _failure(response, hidden, self._scrub))
        data = body.get("data")
        enveloped = "statusCode" in body or "status" in body
        return data if enveloped and isinstance(data, dict) else body

    def _error(self, label: str, failure: _Failure, kind: type[ApiError] | None = None) -> ApiError:
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


def cor_id_of(body: Mapping[str, Any]) -> int:
    """COR's numeric id from an answer: an int, or a string of digits."""
    value = body.get("id")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and re.fullmatch(r"[0-9]+", value.strip()):
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise ApiError(f"COR's answer carries no numeric id (id: {_snippet(repr(value))})")


def _base_url(value: str, what: str) -> str:
    try:
        url = httpx.URL(value)
    except httpx.InvalidURL as exc:
        raise UsageError(f"{what} is not a valid URL: {exc}") from exc
    if url.scheme not in ("http", "https") or not url.host:
        raise UsageError(f"{what} must be an http:// or https:// URL with a host")
    return value.rstrip("/")


def _json(response: httpx.Response) -> object:
    try:
        return json.loads(response.content)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None


def _failure(response: httpx.Response, status: int, scrub: Callable[[str], str]) -> _Failure:
    """Name, code and message from any of COR's error shapes, or a body snippet.

    `scrub` runs before truncation, so that no secret is cut in half and left in view."""
    body = _json(response)
    if not isinstance(body, dict):
        return _Failure(status, message=_snippet(scrub(response.text)))
    error = body.get("error")
    fields = {**body, **error} if isinstance(error, dict) else body
    name = _text(fields.get("name")) or (error if isinstance(error, str) and error else None)
    message = fields.get("message") or fields.get("error_description") or fields.get("detail")
    if not isinstance(message, str):
        message = json.dumps(message, sort_keys=True) if message else ""
    return _Failure(status, name, _text(fields.get("code")), _snippet(scrub(message)))


def _enveloped_error_status(body: Mapping[str, Any]) -> int | None:
    """An error wrapped in a 2xx answer: {"statusCode": 400, "status": "error", ...}."""
    for key in ("statusCode", "status"):
        value = body.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 400:
            return value
    return None


def _text(value: object) -> str | None:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return None
    return str(value) or None


def _snippet(text: str) -> str:
    """One line of at most SNIPPET_CHARS; an HTML page loses its tags."""
    if text.lstrip().startswith("<"):
        text = re.sub(r"<[^>]*>", " ", text)
    text = " ".join(text.split())
    return text if len(text) <= SNIPPET_CHARS else text[: SNIPPET_CHARS - 1] + "…"


def _retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date."""
    if not value or not value.strip():
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        seconds = when.timestamp() - now
    return max(0.0, seconds) if math.isfinite(seconds) else None
