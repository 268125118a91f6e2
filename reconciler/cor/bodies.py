"""Reading an answer's body within limits: its size as sent, its size decoded, and the deadline.

Part of the COR edge, free of HTTP: the client hands `read_body` the raw chunks of a streamed
answer and its Content-Encoding. A body larger than `Limits.raw` as sent, or than
`Limits.decoded` once inflated (a gzip bomb), is abandoned as soon as it passes the limit, with
memory bounded by the limit; decoding is done here (gzip, deflate, in any number of layers),
never by httpx, which inflates a chunk without bound. Imports the standard library only.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass

MIB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """The most one answer may hold: bytes as sent, and bytes once decoded."""

    raw: int = 16 * MIB
    decoded: int = 64 * MIB


class BodyError(Exception):
    """An answer's body broke a limit or could not be decoded; `retryable` if another attempt
    may fare better (the deadline), not if the server would send the same again."""

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


def size(count: int) -> str:
    return f"{count // MIB} MiB" if count % MIB == 0 else f"{count} bytes"


def too_large(limit: int) -> str:
    return f"the answer is larger than {size(limit)}, the client's limit"


def too_large_decoded(limit: int) -> str:
    return f"the answer decodes to more than {size(limit)}, the client's limit"


def _inflater(encoding: str) -> zlib._Decompress | None:
    if encoding in ("gzip", "x-gzip"):
        return zlib.decompressobj(zlib.MAX_WBITS | 16)
    if encoding == "deflate":
        return zlib.decompressobj()  # zlib-wrapped, as RFC 9110 says (raw deflate: see _Layer)
    return None


class _Layer:
    """One Content-Encoding undone, never giving more than `limit` bytes in all."""

    def __init__(self, encoding: str, limit: int) -> None:
        self.encoding = encoding
        self._inflate = _inflater(encoding)
        self._limit = limit
        self._given = 0
        self._first = True

    def feed(self, data: bytes) -> bytes:
        if self._inflate is None:
            return data
        out: list[bytes] = []
        while data:
            left = self._limit - self._given
            try:
                piece = self._inflate.decompress(data, left + 1)
            except zlib.error as exc:
                if not (self._first and self.encoding == "deflate"):
                    raise BodyError(f"the {self.encoding} body could not be decoded") from exc
                self._inflate = zlib.decompressobj(-zlib.MAX_WBITS)  # raw deflate, as IIS sends
                continue
            self._first = False
            self._given += len(piece)
            if self._given > self._limit:
                raise BodyError(too_large_decoded(self._limit))
            out.append(piece)
            data = self._inflate.unconsumed_tail
        return b"".join(out)


def layers(content_encoding: str) -> list[str]:
    """The codings to undo, in the order to undo them (the last applied first)."""
    codings = [part.strip().lower() for part in content_encoding.split(",")]
    return [coding for coding in reversed(codings) if coding and coding != "identity"]


def read_body(
    chunks: Iterable[bytes],
    content_encoding: str,
    limits: Limits,
    passed: Callable[[], bool],
) -> bytes:
    """The decoded body; BodyError as soon as a limit is passed or the deadline is."""
    undo = [_Layer(coding, limits.decoded) for coding in layers(content_encoding)]
    received, parts = 0, []
    for chunk in chunks:
        received += len(chunk)
        if received > limits.raw:
            raise BodyError(too_large(limits.raw))
        if passed():
            raise BodyError("the answer did not arrive in time", retryable=True)
        for layer in undo:
            chunk = layer.feed(chunk)
        parts.append(chunk)
    if not undo:
        return parts[0] if len(parts) == 1 else b"".join(parts)
    body = b"".join(parts)
    if len(body) > limits.decoded:  # unknown codings pass through unchanged
        raise BodyError(too_large_decoded(limits.decoded))
    return body
