"""Hostile COR servers for the client's tests: real sockets on 127.0.0.1, written by hand.

`RawServer(reply)` listens on a free port and, for each request it reads (head and body),
calls `reply(connection, request)` on a thread of its own, which writes whatever bytes it likes:
a drip, a gzip bomb, an echo of the token. It counts the connections and requests it saw.
Used by tests/hostile/test_secrets.py and tests/hostile/test_network.py.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

MIB = 1024 * 1024


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]  # names in lower case
    body: bytes

    @property
    def bearer(self) -> str:
        return self.headers.get("authorization", "").removeprefix("Bearer ")


Reply = Callable[[socket.socket, Request], None]


@dataclass
class RawServer:
    """A one-off HTTP/1.1 server; `with RawServer(reply) as server: server.url`."""

    reply: Reply
    connections: int = 0
    requests: list[Request] = field(default_factory=list)
    _listener: socket.socket | None = None

    def __enter__(self) -> RawServer:
        listener = socket.create_server(("127.0.0.1", 0))
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def __exit__(self, *_exc_info: object) -> None:
        if self._listener is not None:
            self._listener.close()

    @property
    def url(self) -> str:
        assert self._listener is not None
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(connection,), daemon=True).start()

    def _serve(self, connection: socket.socket) -> None:
        with connection:
            buffer = b""
            try:
                while True:
                    request, buffer = _read_request(connection, buffer)
                    if request is None:
                        return
                    self.requests.append(request)
                    self.reply(connection, request)
            except OSError:
                return  # the client hung up: that is what some tests want


def _read_request(connection: socket.socket, buffer: bytes) -> tuple[Request | None, bytes]:
    while b"\r\n\r\n" not in buffer:
        data = connection.recv(65536)
        if not data:
            return None, b""
        buffer += data
    head, _, rest = buffer.partition(b"\r\n\r\n")
    first, *lines = head.decode("latin-1").split("\r\n")
    method, path, _ = first.split(" ", 2)
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        data = connection.recv(65536)
        if not data:
            return None, b""
        rest += data
    return Request(method, path, headers, rest[:length]), rest[length:]


def response(status: int, body: bytes | Any = b"", **headers: str) -> bytes:
    """The bytes of an answer; `body` as JSON unless bytes; Content-Length unless given
    `Connection: close` without one."""
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    fields = {"Content-Type": "application/json", "Content-Length": str(len(content))}
    fields.update({name.replace("_", "-"): value for name, value in headers.items()})
    head = f"HTTP/1.1 {status} Status\r\n" + "".join(f"{k}: {v}\r\n" for k, v in fields.items())
    return head.encode("latin-1") + b"\r\n" + content


def answering(*replies: bytes) -> Reply:
    """Each request gets the next of `replies` (the last one again once they run out)."""
    queue = list(replies)

    def reply(connection: socket.socket, request: Request) -> None:
        connection.sendall(queue.pop(0) if len(queue) > 1 else queue[0])

    return reply


def drip(data: bytes, every: float = 0.5, for_at_most: float = 20.0) -> Reply:
    """Send `data` one byte at a time, `every` seconds apart, for at most `for_at_most`
    seconds; then hang up."""

    def reply(connection: socket.socket, request: Request) -> None:
        until = time.monotonic() + for_at_most
        for byte in data:
            if time.monotonic() > until:
                break
            connection.sendall(bytes([byte]))
            time.sleep(every)
        connection.close()

    return reply


def gzip_bomb(units: int = 128, unit: int = 16 * MIB) -> bytes:
    """A valid gzip stream of `units` times `unit` zero bytes (2 GiB by default) in about 2 MB,
    made in a fraction of a second: full flushes make each unit's blocks the same bytes."""
    zeros = bytes(unit)
    packer = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    first = packer.compress(zeros) + packer.flush(zlib.Z_FULL_FLUSH)
    again = packer.compress(zeros) + packer.flush(zlib.Z_FULL_FLUSH)
    crc = 0
    for _ in range(units):
        crc = zlib.crc32(zeros, crc)
    final_empty_block = b"\x03\x00"
    trailer = struct.pack("<II", crc, (units * unit) & 0xFFFFFFFF)
    return first + again * (units - 1) + final_empty_block + trailer
