"""The emulator's error answers: one exception that becomes one COR error body.

Part of the emulator subpackage (no sockets, no clock). Raised by the store, the field rules and
the router; turned into `{"status", "name", "code", "message"}` by `app.py`. It never leaves the
emulator, so it is not part of reconciler's `ReconcileError` family (which describes what the
CLIENT sees); the client only ever sees the HTTP answer.

Status per named error (the emulator's answer to the contract's open question 1):
    ValidationError, InvalidSourceError      400  code null
    UnauthorizedError                        401  code null
    ClientNotFoundError, BrandNotFoundError,
    ProductNotFoundError                     404  code ZC001
    DuplicateExternalIdError                 409  code ZC004
    DeletionError                            417  code null
"""

from __future__ import annotations

from typing import Any

from reconciler.core.resources import Kind

NOT_FOUND_CODE = "ZC001"
DUPLICATE_CODE = "ZC004"


class CorError(Exception):
    """An error answer; `body()` is exactly what goes on the wire."""

    def __init__(self, status: int, name: str, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.name = name
        self.code = code
        self.message = message

    def body(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "name": self.name,
            "code": self.code,
            "message": self.message,
        }


def validation_error(message: str) -> CorError:
    return CorError(400, "ValidationError", message)


def invalid_source(source: str) -> CorError:
    return CorError(400, "InvalidSourceError", f"Invalid source: {source!r}")


def unauthorized(message: str) -> CorError:
    return CorError(401, "UnauthorizedError", message)


def not_found(kind: Kind, source: str, external_id: str) -> CorError:
    return CorError(
        404,
        f"{kind.value.capitalize()}NotFoundError",
        f"No {kind.value} with external id {external_id!r} for source {source}",
        NOT_FOUND_CODE,
    )


def cor_id_not_found(kind: Kind, cor_id: int | str) -> CorError:
    return CorError(
        404,
        f"{kind.value.capitalize()}NotFoundError",
        f"No {kind.value} with id {cor_id}",
        NOT_FOUND_CODE,
    )


def duplicate(kind: Kind, source: str, external_id: str) -> CorError:
    return CorError(
        409,
        "DuplicateExternalIdError",
        f"A {kind.value} with external id {external_id!r} already exists for source {source}",
        DUPLICATE_CODE,
    )


def deletion_error(message: str) -> CorError:
    return CorError(417, "DeletionError", message)


def route_not_found(path: str) -> CorError:
    return CorError(404, "RouteNotFoundError", f"No such endpoint: {path}")


def method_not_allowed(method: str, allowed: tuple[str, ...]) -> CorError:
    return CorError(
        405, "MethodNotAllowedError", f"{method} not allowed here; use {', '.join(allowed)}"
    )
