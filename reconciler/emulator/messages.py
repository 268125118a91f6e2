"""Requests and answers as plain values, and the routing of a path to an endpoint.

Part of the emulator subpackage; pure (no sockets, no clock). `server.py` turns HTTP into a
`Request` and a `Response` back into HTTP; everything between works on these values, so the
whole service can be exercised without a socket.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from reconciler.core.resources import KINDS, Kind
from reconciler.emulator.errors import CorError, validation_error

CONTROL_ENDPOINTS = ("records", "faults", "mutate", "config", "reset", "stats")
_BY_PLURAL: Mapping[str, Kind] = {kind.plural: kind for kind in KINDS}


@dataclass(frozen=True)
class Request:
    """One request; `path` is still percent-encoded, `query` keeps the first value per key."""

    method: str
    path: str
    query: Mapping[str, str] = field(default_factory=dict)
    authorization: str | None = None
    body: bytes = b""


@dataclass(frozen=True)
class Response:
    """One answer; `drop` closes the connection without sending it (a lost answer)."""

    status: int
    body: Any
    headers: tuple[tuple[str, str], ...] = ()
    drop: bool = False


@dataclass(frozen=True)
class Route:
    """Where a path leads. `pattern` names it in the request statistics (None: not counted);
    `arg` is the decoded last segment (an external id, or a COR id in the read API)."""

    name: str
    pattern: str | None = None
    kind: Kind | None = None
    arg: str | None = None

    def entity_kind(self) -> Kind:
        if self.kind is None:  # the routing table gives every entity route a kind
            raise TypeError(f"route {self.name} has no kind")
        return self.kind


def match_route(path: str) -> Route | None:
    """The endpoint a path names, or None. Ids in paths are URL-encoded and decoded here."""
    match path.split("/"):
        case ["", "v2", "integrations", plural] if plural in _BY_PLURAL:
            return Route("create", f"/v2/integrations/{plural}", _BY_PLURAL[plural])
        case ["", "v2", "integrations", plural, ext_id] if plural in _BY_PLURAL and ext_id:
            pattern = f"/v2/integrations/{plural}/{{id}}"
            return Route("entity", pattern, _BY_PLURAL[plural], unquote(ext_id))
        case ["", "v1", "oauth", ("token" | "refreshtoken") as name]:
            return Route(name, f"/v1/oauth/{name}")
        case ["", "v1", plural] if plural in _BY_PLURAL:
            return Route("list", f"/v1/{plural}", _BY_PLURAL[plural])
        case ["", "v1", plural, cor_id] if plural in _BY_PLURAL and cor_id:
            return Route("read", f"/v1/{plural}/{{id}}", _BY_PLURAL[plural], unquote(cor_id))
        case ["", "_emulator", name] if name in CONTROL_ENDPOINTS:
            return Route(name)
    return None


def error_response(error: CorError, retry_after: int | None = None) -> Response:
    headers: tuple[tuple[str, str], ...] = ()
    if error.status == 401:
        headers = (("WWW-Authenticate", "Bearer"),)
    if retry_after is not None:
        headers += (("Retry-After", str(retry_after)),)
    return Response(error.status, error.body(), headers)


def json_object(body: bytes) -> dict[str, Any]:
    """A request body as a JSON object; an empty body is `{}`. ValidationError otherwise."""
    if not body.strip():
        return {}
    try:
        value = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise validation_error(f"malformed JSON body: {error}") from None
    if not isinstance(value, dict):
        raise validation_error("the body must be a JSON object")
    return value


def text_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None
