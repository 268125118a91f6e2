"""Reading an answer's body within limits (cor/bodies.py): size as sent, size decoded (gzip
and deflate, in layers), and the deadline between chunks."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator

import pytest

from reconciler.cor.bodies import BodyError, Limits, layers, read_body

SMALL = Limits(raw=1000, decoded=4000)
BODY = b'{"id": 25855, "name": "X"}'


def chunks(data: bytes, size: int = 100) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def never() -> bool:
    return False


@pytest.mark.parametrize(
    ("encoding", "data"),
    [
        pytest.param("", BODY, id="none"),
        pytest.param("identity", BODY, id="identity"),
        pytest.param("gzip", gzip.compress(BODY, mtime=0), id="gzip"),
        pytest.param("GZIP", gzip.compress(BODY, mtime=0), id="GZIP"),
        pytest.param("deflate", zlib.compress(BODY), id="deflate"),
        # raw deflate, as some servers send
        pytest.param("deflate", zlib.compress(BODY)[2:-4], id="raw-deflate"),
        pytest.param(
            "gzip, deflate", zlib.compress(gzip.compress(BODY, mtime=0)), id="gzip-deflate"
        ),
        # unknown: passed on as it is (and then not JSON, if it was encoded)
        pytest.param("br", BODY, id="br"),
    ],
)
def test_a_body_is_decoded(encoding: str, data: bytes) -> None:
    assert read_body(chunks(data, 7), encoding, SMALL, never) == BODY


def test_a_body_larger_than_the_raw_limit_stops_as_it_passes_it() -> None:
    read: list[bytes] = []

    def counted() -> Iterator[bytes]:
        for chunk in chunks(b"x" * 5000):
            read.append(chunk)
            yield chunk

    with pytest.raises(BodyError, match="larger than 1000 bytes, the client's limit") as info:
        read_body(counted(), "", SMALL, never)
    assert not info.value.retryable
    assert len(read) == 11  # not one chunk more than needed to know


@pytest.mark.parametrize("encoding", ["gzip", "gzip, gzip"])
def test_a_body_that_decodes_past_the_limit_stops_there(encoding: str) -> None:
    data = gzip.compress(bytes(10_000_000))
    if encoding == "gzip, gzip":
        data = gzip.compress(data)
    limits = Limits(raw=len(data), decoded=4000)
    with pytest.raises(BodyError, match="decodes to more than 4000 bytes") as info:
        read_body(chunks(data), encoding, limits, never)
    assert not info.value.retryable


def test_a_body_that_cannot_be_decoded_is_an_error() -> None:
    with pytest.raises(BodyError, match="the gzip body could not be decoded"):
        read_body([b"not gzip at all"], "gzip", SMALL, never)


def test_a_body_still_arriving_at_the_deadline_is_abandoned_and_retryable() -> None:
    with pytest.raises(BodyError, match="did not arrive in time") as info:
        read_body(chunks(BODY, 5), "", SMALL, lambda: True)
    assert info.value.retryable


def test_layers_are_undone_last_first() -> None:
    assert layers("gzip, identity, deflate") == ["deflate", "gzip"]
    assert layers("") == []


def test_default_limits_are_16_mib_sent_and_64_mib_decoded() -> None:
    assert (Limits().raw, Limits().decoded) == (16 * 2**20, 64 * 2**20)
