"""Tokens of the emulated account: the static token, client credentials, issue and refresh.

Part of the emulator subpackage; pure in-memory logic (the clock and the token generator are
injected). Tokens are compared in constant time and never appear in an answer other than the
one that issues them, nor in any message or log.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Credentials:
    """What the account accepts; `static_token` None means only issued tokens."""

    static_token: str | None
    api_key: str
    client_secret: str
    token_ttl: int


class TokenBook:
    """Issued access tokens (with their expiry) and the refresh tokens still usable."""

    def __init__(
        self,
        credentials: Credentials,
        clock: Callable[[], float],
        new_token: Callable[[], str],
    ) -> None:
        self._credentials = credentials
        self._clock = clock
        self._new_token = new_token
        self._access: dict[str, float] = {}  # access token -> expiry (clock seconds)
        self._refresh: set[str] = set()

    def reset(self) -> None:
        """Revoke every issued token; the static token stays valid."""
        self._access.clear()
        self._refresh.clear()

    def accepts_basic(self, authorization: str | None) -> bool:
        """True when `Authorization: Basic base64(api_key:client_secret)` matches."""
        scheme, _, encoded = (authorization or "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return False
        key, _, secret = decoded.partition(":")
        expected_key = self._credentials.api_key
        expected_secret = self._credentials.client_secret
        key_ok = hmac.compare_digest(key.encode(), expected_key.encode())
        return hmac.compare_digest(secret.encode(), expected_secret.encode()) and key_ok

    def accepts_bearer(self, authorization: str | None) -> bool:
        """True for the static token or an issued access token that has not expired."""
        scheme, _, token = (authorization or "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return False
        static = self._credentials.static_token
        if static is not None and hmac.compare_digest(token.encode(), static.encode()):
            return True
        expiry = self._access.get(token)
        if expiry is None:
            return False
        if self._clock() >= expiry:
            del self._access[token]
            return False
        return True

    def issue(self) -> dict[str, Any]:
        """A new access token and refresh token, as the token endpoint answers them."""
        now = self._clock()
        for token in [t for t, expiry in self._access.items() if expiry <= now]:
            del self._access[token]
        access, refresh = self._new_token(), self._new_token()
        self._access[access] = now + self._credentials.token_ttl
        self._refresh.add(refresh)
        return {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": self._credentials.token_ttl,
            "refresh_token": refresh,
        }

    def refresh(self, refresh_token: str) -> dict[str, Any] | None:
        """New tokens for a usable refresh token, which is revoked; None when it is not usable.

        The access token issued with the old refresh token stays valid until it expires.
        """
        if refresh_token not in self._refresh:
            return None
        self._refresh.discard(refresh_token)
        return self.issue()
