"""The whole-attempt deadline: no server holds one attempt past `--timeout`, even by dripping.

Part of the COR edge, without importing HTTP: httpx's timeouts bound each read, so a server
that sends one byte per second would never time out. `DeadlineBackend` wraps the network
backend of the transport's connection pool (httpcore's, handed over by `client.py`), and every
connect, read and write of a socket waits at most until the calling thread's deadline
(`Deadlines.start`), which the client sets at the start of each attempt. Past it, a read or
write is given a timeout of a millisecond, so the transport raises its own timeout error.
The client also checks the deadline between the chunks of a body (`Deadlines.passed`), which
covers transports without sockets. Imports the standard library only.
"""

from __future__ import annotations

import threading
import time
from typing import Any

EXPIRED = 0.001  # the timeout of a read or write past the deadline (0 would mean "blocking")


class Deadlines:
    """The deadline of the attempt running in each thread (time.monotonic)."""

    def __init__(self) -> None:
        self._local = threading.local()

    def start(self, seconds: float) -> float:
        deadline = time.monotonic() + seconds
        self._local.at = deadline
        return deadline

    def clear(self) -> None:
        self._local.at = None

    def passed(self) -> bool:
        at: float | None = getattr(self._local, "at", None)
        return at is not None and time.monotonic() >= at

    def bound(self, timeout: float | None) -> float | None:
        """`timeout`, cut to what is left of this thread's deadline."""
        at: float | None = getattr(self._local, "at", None)
        if at is None:
            return timeout
        left = max(at - time.monotonic(), EXPIRED)
        return left if timeout is None else min(timeout, left)


class DeadlineStream:
    """A network stream whose every wait ends by the deadline (httpcore's stream interface)."""

    def __init__(self, stream: Any, deadlines: Deadlines) -> None:
        self._stream = stream
        self._deadlines = deadlines

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        data: bytes = self._stream.read(max_bytes, self._deadlines.bound(timeout))
        return data

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, self._deadlines.bound(timeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> DeadlineStream:
        bound = self._deadlines.bound(timeout)
        return DeadlineStream(
            self._stream.start_tls(ssl_context, server_hostname, bound), self._deadlines
        )

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class DeadlineBackend:
    """A network backend whose streams end every wait by the deadline."""

    def __init__(self, backend: Any, deadlines: Deadlines) -> None:
        self._backend = backend
        self._deadlines = deadlines

    def connect_tcp(
        self, host: str, port: int, timeout: float | None = None, **options: Any
    ) -> DeadlineStream:
        bound = self._deadlines.bound(timeout)
        stream = self._backend.connect_tcp(host, port, bound, **options)
        return DeadlineStream(stream, self._deadlines)

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, **options: Any
    ) -> DeadlineStream:
        bound = self._deadlines.bound(timeout)
        stream = self._backend.connect_unix_socket(path, bound, **options)
        return DeadlineStream(stream, self._deadlines)

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


def guard(pool: object, deadlines: Deadlines) -> bool:
    """Wrap the network backend of an httpcore connection pool (before its first request);
    False if `pool` has none (another transport: only the body checks then apply)."""
    backend = getattr(pool, "_network_backend", None)
    if backend is None or isinstance(backend, DeadlineBackend):
        return backend is not None
    pool._network_backend = DeadlineBackend(backend, deadlines)  # type: ignore[attr-defined]  # httpcore has no public hook for it
    return True
