"""The COR client: the only module that talks HTTP (it alone imports httpx).

`CorClient.send(ApiCall)` adds a bearer token (auth.py), sends the request with retries
(retry.py), and returns COR's answer unwrapped, or raises the `ApiError` subclass that
classifies it (answers.py). Each attempt is built anew with the token of the moment, ends by
its deadline (deadline.py) and reads at most so much of the answer (bodies.py). Every message,
log line and answer is scrubbed of the token, key, secret and any token seen (scrub.py), and
what COR said reaches a message only made printable (core/text.py). Given a `debug` sink, it
also writes one line per HTTP attempt (`_trace`): method, path, outcome, duration, attempt and
the record it is for, scrubbed as every other line.
"""

from __future__ import annotations

import itertools
import json
import random
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
from reconciler.cor.bodies import BodyError, Limits, read_body, too_large
from reconciler.cor.deadline import Deadlines, guard
from reconciler.cor.endpoints import (
    DEFAULT_API_URL,
    DEFAULT_AUTH_URL,
    DEFAULT_READ_API_URL,
    ApiCall,
)
from reconciler.cor.retry import RETRYABLE_STATUSES, RetryPolicy, retry_after
from reconciler.cor.scrub import REDACTED, Scrubber, scrubbed
from reconciler.core.text import printable
from reconciler.errors import ApiError, AuthError, TransientError, UsageError

__all__ = ["REDACTED", "CorClient", "Credentials", "Limits", "RetryPolicy"]

USER_AGENT = f"cor-reconciler/{__version__}"
POOL_SIZE = 8  # connections per httpx pool (see CorClient.__init__)
_DEFAULT_RETRY = RetryPolicy()  # frozen, so one shared default is safe
_DEFAULT_LIMITS = Limits()
_TOKEN = "access token"  # the subject of a token request, in debug lines
Build = Callable[[], httpx.Request]


class _Answer(NamedTuple):
    """An answer read whole (within the limits)."""

    status: int
    content: bytes
    retry_after: str | None

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")


class _Setback(NamedTuple):
    """A retryable outcome of one attempt."""

    brief: str  # for the log line: "503 Service Unavailable", "ConnectError: ..."
    detail: str  # for the final error
    failure: Failure | None  # None when no answer came back
    retry_after: float | None

    @property
    def asked_to_wait(self) -> bool:
        """A 429 with Retry-After: COR asks for a pause; it is not a failed attempt."""
        failure = self.failure
        return failure is not None and failure.status == 429 and self.retry_after is not None

    def give_up(self, message: str) -> TransientError:
        failure = self.failure
        if failure is None:
            return TransientError(message)
        return TransientError(message, status=failure.status, name=failure.name, code=failure.code)


class CorClient:
    """Sends `ApiCall`s to COR's Integrations API over pooled httpx.Clients; `read` GETs
    from COR's main API (`read_api_url`) with the same token, retries and scrubbing.

    `send` and `read` may be called from several threads at once (a parallel apply or audit):
    the pools and the token source are shared and thread-safe.
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
        limits: Limits = _DEFAULT_LIMITS,
        log: Callable[[str], None] = lambda _msg: None,
        debug: Callable[[str], None] | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.time,
        max_connections: int = 8,
    ) -> None:
        credentials.validate()
        self._api_url = _base_url(api_url, "the API URL")
        self._read_api_url = _base_url(read_api_url, "the read API URL")
        self._timeout, self._limits = _seconds(timeout), limits
        self._retry, self._log, self._sleep, self._clock = retry, log, sleep, clock
        self._debug = debug
        self._rng = rng or random.Random()
        self._deadlines = Deadlines()
        # Worker threads share pools of at most POOL_SIZE connections: httpcore's pool does
        # bookkeeping that grows with the square of its connections (encode/httpx#3215), so
        # 32 connections in one pool cost more CPU than 4 pools of 8 (docs/benchmarks.md).
        sizes = [POOL_SIZE] * (max_connections // POOL_SIZE)
        sizes += [max_connections % POOL_SIZE] if max_connections % POOL_SIZE else []
        self._pools = [self._pool_of(size, transport) for size in sizes or [1]]
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
        self._scrub = Scrubber(self._tokens.secrets)

    def _pool_of(self, size: int, transport: httpx.BaseTransport | None) -> httpx.Client:
        limits = httpx.Limits(max_connections=size, max_keepalive_connections=size)
        if transport is None:
            transport = httpx.HTTPTransport(limits=limits)
            guard(getattr(transport, "_pool", None), self._deadlines)  # deadline.py: why
        return httpx.Client(
            transport=transport,
            timeout=httpx.Timeout(self._timeout),
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
            limits=limits,
        )

    def send(self, call: ApiCall) -> dict[str, Any]:
        """COR's answer to `call`, unwrapped; a 401 renews the token and repeats `call` once."""
        url = f"{self._api_url}/{call.path.lstrip('/')}"
        body = dict(call.body)

        def build(token: str) -> httpx.Request:
            headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
            return self._http.build_request(call.method, url, json=body, headers=headers)

        return self._authorised(f"{call.method} {call.path}", build, call.subject)

    def read(self, path: str, subject: str = "") -> dict[str, Any]:
        """GET `path` from the main API: a record (`clients/25855`) or a page of a list with
        its query (`products?page=2&perPage=50`, sent as given). The answer is unwrapped as
        `send` unwraps (an envelope's `data` object; a page's `data` list stays in the page).
        `subject` (`client SAP/C-1`, `products page 2`) names it in retry lines; the label of
        lines and errors is the path alone (`GET /v1/products`), never the query."""
        url = f"{self._read_api_url}/{path.lstrip('/')}"

        def build(token: str) -> httpx.Request:
            headers = {"Authorization": f"Bearer {token}"}
            return self._http.build_request("GET", url, headers=headers)

        target = httpx.URL(url)
        query = f"?{target.query.decode('ascii')}" if target.query else ""
        traced = f"GET {target.path}{query}"  # the debug line shows the page asked for
        return self._authorised(f"GET {target.path}", build, subject, traced)

    def _authorised(
        self,
        label: str,
        build: Callable[[str], httpx.Request],
        subject: str,
        traced: str = "",
    ) -> dict[str, Any]:
        """The answer to `build(token)`, built anew for each attempt with the token of the
        moment (one that expired during a backoff is renewed, not resent); a 401 renews the
        token, once."""
        sent: list[str] = []

        def make() -> httpx.Request:
            token = self._tokens.bearer()
            sent.append(token)
            return build(token)

        answer = self._exchange(label, make, subject, traced)
        if answer.status == 401:
            if not self._tokens.renewable:
                raise AuthError(
                    f"{label}: 401: COR refused the token in COR_TOKEN (expired or wrong); "
                    "set a new one, or use COR_API_KEY and COR_CLIENT_SECRET",
                    status=401,
                )
            self._tokens.renew("COR refused the access token (401)", refused=sent[-1])
            answer = self._exchange(label, make, subject, traced)
        return self._answer(label, answer)

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

    def _post_to_auth(
        self, url: str, headers: Mapping[str, str], form: Mapping[str, str] | None
    ) -> dict[str, Any]:
        label = f"POST {httpx.URL(url).path}"

        def make() -> httpx.Request:
            return self._http.build_request("POST", url, headers=headers, data=form)

        return self._answer(label, self._exchange(label, make, _TOKEN))

    def _exchange(self, label: str, make: Build, subject: str, traced: str = "") -> _Answer:
        """Send, retrying 429/5xx answers, timeouts and lost connections; the last answer
        otherwise. A 429 with Retry-After waits without spending an attempt."""
        waited, attempt, sends, limit = 0.0, 1, 0, self._retry.max_attempts
        named = f"{subject}: {label}" if subject and subject != _TOKEN else label
        while True:
            sends += 1
            outcome = self._traced(traced or label, make, sends, subject)
            if isinstance(outcome, _Answer):
                return outcome
            if outcome.asked_to_wait:
                delay = self._retry.asked_wait(outcome.retry_after or 0.0, waited)
                progress = f"(COR asked to wait; attempt {attempt}/{limit} again)"
            else:
                delay = self._retry.delay(attempt, outcome.retry_after, waited, self._rng)
                progress = f"(attempt {attempt + 1}/{limit})"
            if delay is None:
                tries = f"{sends} attempt{'s' if sends != 1 else ''}"
                raise outcome.give_up(
                    self._clean(f"{label}: {outcome.detail} (gave up after {tries})")
                )
            self._say(f"retrying {named} in {delay:.1f}s {progress}: {outcome.brief}")
            self._sleep(delay)
            if outcome.asked_to_wait:
                waited += self._retry.charge_asked(delay)
            else:
                waited, attempt = waited + delay, attempt + 1

    def _traced(self, label: str, make: Build, sends: int, subject: str) -> _Answer | _Setback:
        """`_attempt`, and with a debug sink its line: `debug: POST /v2/integrations/clients:
        201 Created in 12 ms (attempt 1; client SAP/C1)`."""
        if self._debug is None:
            return self._attempt(label, make)
        started = time.perf_counter()
        try:
            outcome = self._attempt(label, make)
        except ApiError as error:
            self._trace(label, f"failed: {error}", started, sends, subject)
            raise
        if isinstance(outcome, _Answer):
            told = f"{outcome.status} {_phrase(outcome.status)}"
        else:
            told = outcome.brief
        self._trace(label, told, started, sends, subject)
        return outcome

    def _trace(self, label: str, told: str, started: float, sends: int, subject: str) -> None:
        if self._debug is None:
            return
        took = (time.perf_counter() - started) * 1000
        record = f"; {subject}" if subject else ""
        self._debug(
            self._clean(f"debug: {label}: {told} in {took:.0f} ms (attempt {sends}{record})")
        )

    def _attempt(self, label: str, make: Build) -> _Answer | _Setback:
        """One request, built now and bounded by the deadline and the body limits."""
        request = self._request(label, make)
        self._deadlines.start(self._timeout)
        try:
            answer = self._receive(label, request)
        except httpx.LocalProtocolError as exc:  # a request h11 refused to send: ours is wrong
            raise ApiError(self._clean(f"{label}: the request could not be sent: {exc}")) from exc
        except httpx.TransportError as exc:  # timeouts included
            if self._deadlines.passed():
                return self._timed_out()
            cause = self._clean(f"{type(exc).__name__}: {exc}".rstrip(": "))
            return _Setback(cause, cause, None, None)
        except httpx.HTTPError as exc:  # undecodable body, redirect loop: a retry won't help
            raise ApiError(self._clean(f"{label}: {type(exc).__name__}: {exc}")) from exc
        finally:
            self._deadlines.clear()
        if isinstance(answer, _Setback) or answer.status not in RETRYABLE_STATUSES:
            return answer
        failure = self._failure(answer, answer.status)
        if failure.error_class() is not TransientError:
            return answer  # a name or code that says otherwise wins over the status
        wait = retry_after(answer.retry_after, self._clock())
        brief = f"{failure.status} {failure.label}"
        return _Setback(brief, failure.summary(), failure, wait)

    def _request(self, label: str, make: Build) -> httpx.Request:
        """The request of this attempt; a local error building it is never retried."""
        try:
            return make()
        except (httpx.HTTPError, UnicodeError, TypeError, ValueError) as exc:
            what = f"{label}: the request could not be built ({type(exc).__name__})"
            raise ApiError(self._clean(what)) from exc

    def _receive(self, label: str, request: httpx.Request) -> _Answer | _Setback:
        """The answer, read whole within the deadline and the limits."""
        response = self._pool().send(request, stream=True)
        try:
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > self._limits.raw:
                raise BodyError(too_large(self._limits.raw))
            content = read_body(
                response.stream,  # type: ignore[arg-type]  # a SyncByteStream, iterable
                response.headers.get("Content-Encoding", ""),
                self._limits,
                self._deadlines.passed,
            )
        except BodyError as exc:
            if exc.retryable:
                return self._timed_out()
            told = f"{response.status_code} {_phrase(response.status_code)}"
            why = f"{label}: {told}: {exc}; not retried"
            raise ApiError(self._clean(why), status=response.status_code) from exc
        finally:
            response.close()
        status = response.status_code
        wait = response.headers.get("Retry-After") if status in RETRYABLE_STATUSES else None
        return _Answer(status, content, wait)

    def _timed_out(self) -> _Setback:
        cause = f"timed out: no complete answer within {self._timeout:g}s"
        return _Setback(cause, cause, None, None)

    def _answer(self, label: str, answer: _Answer) -> dict[str, Any]:
        """A 2xx answer's object (unwrapped from its envelope), else the classified error."""
        if not 200 <= answer.status < 300:
            raise self._error(label, self._failure(answer, answer.status))
        if not answer.content.strip():
            return {}
        body = decode_json(answer.content)
        if not isinstance(body, dict):
            message = f"not a JSON object: {snippet(self._scrub(answer.text))}"
            failure = Failure(answer.status, message=message, phrase=_phrase(answer.status))
            raise self._error(label, failure, ApiError)
        hidden = enveloped_error_status(body)
        if hidden is not None:
            raise self._error(label, self._failure(answer, hidden))
        record = unwrapped(body)
        if self._echoed(answer.content, record):
            record = scrubbed(record, self._scrub)
        return record

    def _echoed(self, content: bytes, record: dict[str, Any]) -> bool:
        """Whether an answer holds a secret (COR echoing a token): one search of the bytes;
        JSON's \\u escapes hide it from that search, so such a body is searched decoded."""
        if self._scrub.found_in(content):
            return True
        if b"\\u" not in content:
            return False
        decoded = json.dumps(record, ensure_ascii=False)
        return self._scrub(decoded) != decoded

    def _failure(self, answer: _Answer, status: int) -> Failure:
        phrase = _phrase(status)
        return read_failure(status, answer.content, answer.text, phrase, self._scrub)

    def _error(self, label: str, failure: Failure, kind: type[ApiError] | None = None) -> ApiError:
        kind = kind or failure.error_class()
        message = self._clean(f"{label}: {failure.summary()}")
        return kind(message, status=failure.status, name=failure.name, code=failure.code)

    def _say(self, message: str) -> None:
        self._log(self._clean(message))

    def _clean(self, text: str) -> str:
        """Scrubbed of every secret, and printable: what a server said cannot reach a
        terminal raw."""
        return printable(self._scrub(text))


def _base_url(value: str, what: str) -> str:
    try:
        url = httpx.URL(value)
    except httpx.InvalidURL as exc:
        raise UsageError(f"{what} is not a valid URL: {exc}") from exc
    if url.scheme not in ("http", "https") or not url.host:
        raise UsageError(f"{what} must be an http:// or https:// URL with a host")
    return value.rstrip("/")


def _seconds(timeout: float) -> float:
    if not 0 < timeout < float("inf"):  # NaN fails this too
        raise UsageError(f"the timeout must be a positive number of seconds, not {timeout}")
    return timeout


def _phrase(status: int) -> str:
    return httpx.codes.get_reason_phrase(status)
