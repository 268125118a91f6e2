"""Injected faults: the next matching Integrations API requests fail or lose their answer.

Part of the emulator subpackage; pure in-memory logic. Not part of COR: tests post a fault to
`/_emulator/faults` and the router asks `FaultBook.take()` before doing any write.
A fault either answers with an error body (nothing changes), or, with `drop_response`, lets
the request be processed and then closes the connection without an answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from reconciler.core.resources import Kind
from reconciler.emulator.errors import CorError, validation_error

METHODS = ("POST", "PUT", "DELETE")
DEFAULT_NAMES: Mapping[int, str] = {
    400: "ValidationError",
    401: "UnauthorizedError",
    403: "ForbiddenError",
    404: "NotFoundError",
    409: "DuplicateExternalIdError",
    417: "DeletionError",
    429: "TooManyRequestsError",
    500: "InternalServerError",
    502: "BadGatewayError",
    503: "ServiceUnavailableError",
    504: "GatewayTimeoutError",
}


@dataclass(frozen=True)
class Fault:
    """One injected fault; a None matcher matches anything, `times` None means forever."""

    method: str | None = None
    kind: str | None = None
    source: str | None = None
    id: str | None = None
    status: int = 400
    name: str = "ValidationError"
    code: str | None = None
    message: str = "Injected fault"
    times: int | None = 1
    drop_response: bool = False
    retry_after: int | None = None

    def matches(self, method: str, kind: Kind, source: str | None, ext_id: str | None) -> bool:
        return (
            self.method in (None, method)
            and self.kind in (None, kind.value)
            and self.source in (None, source)
            and self.id in (None, ext_id)
        )

    def error(self) -> CorError:
        return CorError(self.status, self.name, self.message, self.code)

    def describe(self) -> dict[str, Any]:
        return asdict(self)


_KEYS = frozenset(field.name for field in fields(Fault))


def parse_fault(body: Mapping[str, Any]) -> Fault:
    """A fault from the JSON posted to `/_emulator/faults`; ValidationError when malformed."""
    unknown = sorted(set(body) - _KEYS)
    if unknown:
        raise validation_error(f"unknown fault field(s): {', '.join(unknown)}")
    method = _optional(body, "method", str)
    if method is not None and method not in METHODS:
        raise validation_error(f"method must be one of {', '.join(METHODS)} or null")
    kind = _optional(body, "kind", str)
    if kind is not None:
        kind = kind.removesuffix("s")
        if kind not in {k.value for k in Kind}:
            raise validation_error("kind must be client, brand or product")
    status = _optional(body, "status", int)
    if status is not None and not 400 <= status <= 599:
        raise validation_error("status must be between 400 and 599")
    times = _optional(body, "times", int, default=1)
    if times is not None and times < 1:
        raise validation_error("times must be at least 1, or null for forever")
    status = status or 400
    return Fault(
        method=method,
        kind=kind,
        source=_optional(body, "source", str),
        id=_optional(body, "id", str),
        status=status,
        name=_optional(body, "name", str) or DEFAULT_NAMES.get(status, "CORCustomError"),
        code=_optional(body, "code", str),
        message=_optional(body, "message", str) or "Injected fault",
        times=times,
        drop_response=_optional(body, "drop_response", bool) is True,
        retry_after=_optional(body, "retry_after", int),
    )


def _optional(body: Mapping[str, Any], key: str, kind: type[Any], default: Any = None) -> Any:
    value = body.get(key, default)
    if value is None:
        return None
    # bool is an int subclass: a status of `true` is a mistake, not 1
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise validation_error(f"{key} must be a {kind.__name__} or null")
    return value


class FaultBook:
    """Faults in the order they were posted; the first match is used up first."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> None:
        self._faults.append(fault)

    def clear(self) -> None:
        self._faults.clear()

    def pending(self) -> list[dict[str, Any]]:
        return [fault.describe() for fault in self._faults]

    def take(self, method: str, kind: Kind, source: str | None, ext_id: str | None) -> Fault | None:
        """The first fault matching this request, with one use spent; None when none match."""
        for index, fault in enumerate(self._faults):
            if fault.matches(method, kind, source, ext_id):
                if fault.times is None:
                    return fault
                if fault.times == 1:
                    del self._faults[index]
                else:
                    self._faults[index] = replace(fault, times=fault.times - 1)
                return fault
        return None
