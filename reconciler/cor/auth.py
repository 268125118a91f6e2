"""Access tokens for COR: a static COR_TOKEN, or an API key and client secret with refresh.

Part of the client edge, yet free of HTTP: `CorClient` hands `TokenSource` a `post` function
that sends one request (retried and classified by the client) and returns the unwrapped answer.
Imports only the standard library and `reconciler.errors`. Credential values never appear in a
repr, a message or a log line; `TokenSource.secrets()` lists what the client must scrub.
"""

from __future__ import annotations

import base64
import math
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from reconciler.errors import ApiError, AuthError, TransientError, UsageError

Post = Callable[[str, Mapping[str, str], Mapping[str, str] | None], dict[str, Any]]

RENEW_MARGIN = 60.0  # renew this long before expiry (or at half-life for short-lived tokens)
_FIELDS = ("token", "api_key", "client_secret")
VARIABLES = ("COR_TOKEN", "COR_API_KEY", "COR_CLIENT_SECRET")  # where each field is read from
_VISIBLE = re.compile(r"[\x21-\x7e]*")  # visible ASCII: no space, control or non-ASCII


def credential_problem(value: str | None) -> str | None:
    """Why `value` cannot be a credential (it goes into an HTTP header), or None. It says
    what is wrong and where, never the value."""
    if not value or _VISIBLE.fullmatch(value):
        return None
    index = len(_VISIBLE.match(value).group())  # type: ignore[union-attr]  # `*` always matches
    character = value[index]
    if character.isspace():
        what = {"\n": "a newline", "\r": "a carriage return", "\t": "a tab", " ": "a space"}
        kind = what.get(character, "whitespace")
    elif character.isascii() or not character.isprintable():
        kind = "a control character"
    else:
        kind = "a non-ASCII character"
    where = (
        "at its end"
        if index == len(value) - 1
        else "at its start"
        if index == 0
        else f"at position {index + 1} of {len(value)}"
    )
    return f"holds {kind} {where}: a credential is visible ASCII only (no whitespace)"


@dataclass(frozen=True, repr=False)
class Credentials:
    """COR credentials, as read from the environment. A static COR_TOKEN wins over the pair."""

    token: str | None = None  # COR_TOKEN: a static bearer token
    api_key: str | None = None  # COR_API_KEY
    client_secret: str | None = None  # COR_CLIENT_SECRET

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={'<set>' if getattr(self, name) else None}" for name in _FIELDS)
        return f"Credentials({shown})"

    def validate(self) -> None:
        """UsageError unless a token or a complete key + secret pair is set (empty = unset),
        and each value set is visible ASCII (`credential_problem`): checked before any
        request, the message names the variable, never its value."""
        for name, variable in zip(_FIELDS, VARIABLES, strict=True):
            problem = credential_problem(getattr(self, name))
            if problem is not None:
                raise UsageError(f"{variable} {problem}; its value is not shown")
        if self.token or (self.api_key and self.client_secret):
            return
        if self.api_key or self.client_secret:
            missing = "COR_CLIENT_SECRET" if self.api_key else "COR_API_KEY"
            raise UsageError(
                f"{missing} is not set: COR_API_KEY and COR_CLIENT_SECRET go together "
                "(or set COR_TOKEN instead)"
            )
        raise UsageError(
            "no COR credentials: set COR_TOKEN, or both COR_API_KEY and COR_CLIENT_SECRET"
        )

    def basic_auth(self) -> str:
        """The `Authorization: Basic` value of the client-credentials grant."""
        pair = f"{self.api_key or ''}:{self.client_secret or ''}"
        return base64.b64encode(pair.encode("utf-8")).decode("ascii")

    def secrets(self) -> list[str]:
        values = [self.token, self.api_key, self.client_secret]
        if self.api_key and self.client_secret:
            values.append(self.basic_auth())
        return [value for value in values if value]


@dataclass(frozen=True)
class _Grant:
    access: str
    refresh: str | None
    renew_at: float  # on the injected clock


class TokenSource:
    """Hands out the bearer token: fetched lazily, renewed before expiry and on request."""

    def __init__(
        self,
        *,
        credentials: Credentials,
        auth_url: str,
        post: Post,
        clock: Callable[[], float],
        log: Callable[[str], None],
    ) -> None:
        self._credentials = credentials
        self._auth_url = auth_url.rstrip("/")
        self._post = post
        self._clock = clock
        self._log = log
        self._grant: _Grant | None = None
        self._refusal: AuthError | None = None
        self._seen = credentials.secrets()
        self._lock = threading.RLock()  # a parallel apply asks from many threads at once

    @property
    def renewable(self) -> bool:
        """False for a static COR_TOKEN: nothing can replace it when COR refuses it."""
        return not self._credentials.token

    def bearer(self) -> str:
        if self._credentials.token:
            return self._credentials.token
        with self._lock:
            if self._grant is None:
                self._grant = self._client_credentials()
            elif self._clock() >= self._grant.renew_at:
                self.renew("the access token is about to expire")
            assert self._grant is not None
            return self._grant.access

    def renew(self, reason: str, *, refused: str | None = None) -> None:
        """The refresh token first; if that fails, client credentials again (or AuthError).

        `refused` is the token COR just refused: when another thread has renewed it meanwhile,
        there is nothing to do (so N requests meeting one expiry cause one renewal, not N).
        """
        with self._lock:
            if refused is not None and self._grant is not None and self._grant.access != refused:
                return
            self._renew(reason)

    def _renew(self, reason: str) -> None:
        refresh = self._grant.refresh if self._grant else None
        if refresh:
            self._log(f"{reason}; refreshing it")
            try:
                self._grant = self._exchange(
                    f"{self._auth_url}/oauth/refreshtoken",
                    {},
                    {"refresh_token": refresh},
                    refused="the refresh token was refused",
                )
                return
            except ApiError as exc:
                self._log(f"refreshing the access token failed ({exc})")
        else:
            self._log(reason)
        self._grant = self._client_credentials()

    def secrets(self) -> list[str]:
        """Every credential and token seen so far, longest first (so none is half-scrubbed)."""
        return sorted(set(self._seen), key=len, reverse=True)

    def _client_credentials(self) -> _Grant:
        """A new grant; once COR refused the pair, it is not asked again in this run."""
        if self._refusal is not None:
            refusal = self._refusal
            raise AuthError(
                str(refusal), status=refusal.status, name=refusal.name, code=refusal.code
            )
        self._log("requesting an access token (client credentials)")
        try:
            return self._exchange(
                f"{self._auth_url}/oauth/token?grant_type=client_credentials",
                {"Authorization": f"Basic {self._credentials.basic_auth()}"},
                None,
                refused="COR_API_KEY / COR_CLIENT_SECRET were refused",
            )
        except AuthError as exc:
            if exc.status in (401, 403):
                self._refusal = exc
            raise

    def _exchange(
        self, url: str, headers: Mapping[str, str], form: Mapping[str, str] | None, *, refused: str
    ) -> _Grant:
        try:
            body = self._post(url, headers, form)
        except TransientError:
            raise  # an outage, not a verdict on the credentials
        except ApiError as exc:
            why = refused if exc.status in (401, 403) else "the token exchange failed"
            raise AuthError(
                f"{why}: {exc}", status=exc.status, name=exc.name, code=exc.code
            ) from exc
        access, refresh = body.get("access_token"), body.get("refresh_token")
        if not isinstance(access, str) or not access:
            raise AuthError("the token exchange answered without an access_token")
        refresh = refresh if isinstance(refresh, str) and refresh else None
        self._seen.extend(value for value in (access, refresh) if value)
        for name, value in (("access_token", access), ("refresh_token", refresh)):
            problem = credential_problem(value)
            if problem is not None:
                raise AuthError(f"the token exchange answered with an {name} that {problem}")
        return _Grant(access, refresh, self._clock() + _renew_after(body.get("expires_in")))


def _renew_after(expires_in: object) -> float:
    """Seconds until the token should be renewed; an unknown lifetime waits for a 401."""
    if isinstance(expires_in, str) and re.fullmatch(r"\d+(\.\d+)?", expires_in.strip()):
        expires_in = float(expires_in)
    if isinstance(expires_in, bool) or not isinstance(expires_in, (int, float)):
        return math.inf
    lifetime = float(expires_in)
    if not math.isfinite(lifetime):
        return math.inf
    return max(0.0, lifetime - min(RENEW_MARGIN, lifetime / 2))
