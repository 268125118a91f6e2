"""What the actions need of the edges they are handed: the one home of those interfaces.

Orchestration (`actions/`) never opens a file or a socket: the CLI injects `send` and `read`
(the COR client's, or a test's fake) and a `Recorder` (the state store, or a fake). Imports
core values and `cor.endpoints` (plain request values) only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from typing import Any, Protocol

from reconciler.cor.endpoints import ApiCall
from reconciler.core.resources import Record, ResourceKey

Send = Callable[[ApiCall], Mapping[str, Any]]  # one Integrations API request → COR's answer


class Read(Protocol):
    """A path under the read API → COR's answer; `subject` (`client SAP/C-1`) names the record
    in the client's retry lines."""

    def __call__(self, path: str, subject: str = ...) -> Mapping[str, Any]: ...


class Recorder(Protocol):
    """What apply and import need of the state store; called from their calling thread only."""

    def intend(self, key: ResourceKey) -> None: ...
    def record(self, record: Record) -> None: ...
    def resolve(self, key: ResourceKey) -> None: ...
    def forget(self, key: ResourceKey) -> None: ...
    def batch(self) -> AbstractContextManager[None]: ...  # durable together when it ends
    # ...unless, inside it, defer(): nothing waits on this group (no create it intends is sent
    # now, no record in it lets a change start); it becomes durable with the next group that
    # is not deferred, or when the store closes.
    def defer(self) -> None: ...
