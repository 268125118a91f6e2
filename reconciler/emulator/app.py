"""The emulated service: route a `Request`, apply COR's rules, produce a `Response`.

Part of the emulator subpackage; no sockets (the clock and token generator are injected, real
ones by default). `server.py` calls `Emulator.handle()` from many threads; one lock around it
serialises every read and write of the store, the tokens, the faults (injected and random) and
the statistics. The work under the lock is small and never sleeps (latency is added by the
server, outside).
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qs

from reconciler.core.resources import Kind
from reconciler.emulator import control
from reconciler.emulator.auth import Credentials, TokenBook
from reconciler.emulator.chaos import Chaos
from reconciler.emulator.errors import (
    CorError,
    cor_id_not_found,
    method_not_allowed,
    route_not_found,
    unauthorized,
    validation_error,
)
from reconciler.emulator.faults import FaultBook
from reconciler.emulator.fields import read_create, read_delete, read_update
from reconciler.emulator.messages import (
    Request,
    Response,
    Route,
    error_response,
    json_object,
    match_route,
    text_or_none,
)
from reconciler.emulator.model import deletion_view, integration_view, read_view
from reconciler.emulator.store import DeletedIds, Store

DEFAULT_PER_PAGE = 20
MAX_PER_PAGE = 1000  # the guide says 50 (open question 8); more is allowed, for bulk readers
MAX_DIGITS = 18  # of `page` and `perPage`: bounds int() (which refuses over 4,300 digits)


def _new_token() -> str:
    return secrets.token_urlsafe(32)


class Emulator:
    """The whole emulated COR account behind one lock."""

    def __init__(
        self,
        credentials: Credentials,
        clock: Callable[[], float] = time.time,
        new_token: Callable[[], str] = _new_token,
        chaos: Chaos | None = None,
        deleted_ids: DeletedIds = "freed",
    ) -> None:
        self.store = Store(clock, deleted_ids)
        self.tokens = TokenBook(credentials, clock, new_token)
        self.faults = FaultBook()
        self.chaos = Chaos() if chaos is None else chaos  # no random faults by default
        self.stats: Counter[str] = Counter()  # "METHOD /path/{pattern}" -> requests seen
        self._lock = threading.Lock()

    def handle(self, request: Request) -> Response:
        """The answer to one request; never raises for any input."""
        route = match_route(request.path)
        with self._lock:
            if route is None:
                return error_response(route_not_found(request.path))
            if route.pattern is not None:
                self.stats[f"{request.method} {route.pattern}"] += 1
            handlers = _HANDLERS[route.name]
            handler = handlers.get(request.method)
            try:
                if handler is None:
                    allowed = tuple(handlers)
                    response = error_response(method_not_allowed(request.method, allowed))
                    return replace(response, headers=(("Allow", ", ".join(allowed)),))
                return handler(self, request, route)
            except CorError as error:
                return error_response(error)

    def create(self, request: Request, route: Route) -> Response:
        kind = route.entity_kind()

        def act(body: dict[str, Any]) -> Response:
            source, ext_id, fields = read_create(kind, body)
            entity = self.store.create(kind, source, ext_id, fields)
            return Response(201, integration_view(entity))

        return self._write(request, kind, None, act)

    def update(self, request: Request, route: Route) -> Response:
        kind, ext_id = route.entity_kind(), route.arg or ""

        def act(body: dict[str, Any]) -> Response:
            source, changes = read_update(kind, body)
            return Response(200, integration_view(self.store.update(kind, source, ext_id, changes)))

        return self._write(request, kind, ext_id, act)

    def delete(self, request: Request, route: Route) -> Response:
        kind, ext_id = route.entity_kind(), route.arg or ""

        def act(body: dict[str, Any]) -> Response:
            source = read_delete(body)
            return Response(200, deletion_view(self.store.delete(kind, source, ext_id)))

        return self._write(request, kind, ext_id, act)

    def read_one(self, request: Request, route: Route) -> Response:
        self._authorize(request)
        kind, arg = route.entity_kind(), route.arg or ""
        if not (arg.isascii() and arg.isdigit()):
            raise cor_id_not_found(kind, arg)
        return Response(200, read_view(self.store.get(kind, int(arg))))

    def list_page(self, request: Request, route: Route) -> Response:
        self._authorize(request)
        page = _positive(request.query, "page", 1, None)
        per_page = _positive(request.query, "perPage", DEFAULT_PER_PAGE, MAX_PER_PAGE)
        kind, start = route.entity_kind(), (page - 1) * per_page
        total = self.store.count(kind)
        return Response(
            200,
            {
                "total": total,
                "perPage": per_page,
                "page": page,
                "lastPage": max(1, -(-total // per_page)),
                "data": [read_view(e) for e in self.store.live(kind, start, start + per_page)],
            },
        )

    def issue_token(self, request: Request, route: Route) -> Response:
        if not self.tokens.accepts_basic(request.authorization):
            raise unauthorized("Invalid client credentials")
        if request.query.get("grant_type") != "client_credentials":
            raise validation_error("grant_type must be client_credentials")
        return Response(200, self.tokens.issue(), (("Cache-Control", "no-store"),))

    def refresh_token(self, request: Request, route: Route) -> Response:
        form = parse_qs(request.body.decode("utf-8", "replace"))
        values = form.get("refresh_token")
        if not values:
            raise validation_error("refresh_token is required (form body)")
        grant = self.tokens.refresh(values[0])
        if grant is None:
            raise unauthorized("Invalid or revoked refresh token")
        return Response(200, grant, (("Cache-Control", "no-store"),))

    def _authorize(self, request: Request) -> None:
        if not self.tokens.accepts_bearer(request.authorization):
            raise unauthorized("Missing, invalid or expired bearer token")

    def _write(
        self,
        request: Request,
        kind: Kind,
        ext_id: str | None,
        act: Callable[[dict[str, Any]], Response],
    ) -> Response:
        """In the documented order: authorize, rate limit and random failure (no processing),
        decode, injected faults, act (unless a fault answers), lose the answer at random."""
        self._authorize(request)
        refusal = self.chaos.refusal()
        if refusal is not None:
            return refusal
        body = json_object(request.body)
        metadata = body.get("metadata")
        source = text_or_none(metadata.get("source")) if isinstance(metadata, dict) else None
        target = ext_id if ext_id is not None else text_or_none(body.get("id"))
        fault = self.faults.take(request.method, kind, source, target)
        if fault is not None and not fault.drop_response:
            return error_response(fault.error(), fault.retry_after)
        try:
            response = act(body)
        except CorError as error:
            response = error_response(error)
        # a matching fault here is a drop_response one: no draw, its answer is lost anyway
        return replace(response, drop=fault is not None or self.chaos.loses())


def _positive(query: Mapping[str, str], key: str, default: int, most: int | None) -> int:
    raw = query.get(key)
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit() and len(raw) <= MAX_DIGITS) or int(raw) < 1:
        raise validation_error(f"{key} must be a positive integer of at most {MAX_DIGITS} digits")
    if most is not None and int(raw) > most:
        raise validation_error(f"{key} must be at most {most}")
    return int(raw)


_Handler = Callable[[Emulator, Request, Route], Response]
_HANDLERS: Mapping[str, Mapping[str, _Handler]] = {
    "create": {"POST": Emulator.create},
    "entity": {"PUT": Emulator.update, "DELETE": Emulator.delete},
    "token": {"POST": Emulator.issue_token},
    "refreshtoken": {"POST": Emulator.refresh_token},
    "list": {"GET": Emulator.list_page},
    "read": {"GET": Emulator.read_one},
    "records": {"GET": control.list_records},
    "faults": {
        "GET": control.list_faults,
        "POST": control.add_fault,
        "DELETE": control.clear_faults,
    },
    "mutate": {"POST": control.mutate},
    "config": {"GET": control.show_config, "POST": control.set_config},
    "reset": {"POST": control.reset},
    "stats": {"GET": control.stats},
}
