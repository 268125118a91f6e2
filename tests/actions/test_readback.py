"""Read-back (actions/readback.py): the recorded records read from COR in parallel, each
failure classified, and a failure every read would meet stopping them all."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

import pytest

from reconciler.actions.readback import read_records
from reconciler.core.drift import Gone, Unread
from reconciler.errors import ApiError, AuthError, NotFoundError, TransientError
from tests.builders import recorded


def test_reads_run_in_parallel_and_classify_failures() -> None:
    records = [
        recorded("client", "SF", f"C{i}", 25000 + i, name="x") for i in range(4)
    ]  # fmt: skip
    barrier = threading.Barrier(4, timeout=10)  # breaks unless 4 reads are in flight together
    failures: dict[str, ApiError] = {
        "clients/25001": NotFoundError("404 ClientNotFoundError", status=404),
        "clients/25002": NotFoundError("404 RouteNotFoundError", name="RouteNotFoundError"),
        "clients/25003": TransientError("GET /v1/clients/25003: 503 (gave up after 5 attempts)"),
    }

    def read(path: str, subject: str = "") -> Mapping[str, Any]:
        barrier.wait()
        if path in failures:
            raise failures[path]
        return {"id": 25000, "name": "x"}

    answers = read_records(records, read, parallelism=4)
    assert list(answers.values()) == [
        {"id": 25000, "name": "x"},
        Gone(),
        Unread("404 RouteNotFoundError (is the read API URL right?)"),
        Unread("GET /v1/clients/25003: 503 (gave up after 5 attempts)"),
    ]


def test_an_authentication_failure_stops_the_reads() -> None:
    records = [recorded("client", "SF", f"C{i}", i, name="x") for i in range(20)]
    calls: list[str] = []

    def read(path: str, subject: str = "") -> Mapping[str, Any]:
        calls.append(path)
        raise AuthError("401: refused", status=401)

    with pytest.raises(AuthError):
        read_records(records, read, parallelism=1)
    assert calls == ["clients/0"]


def test_cor_down_as_a_whole_stops_the_reads_after_five_give_ups_in_a_row() -> None:
    records = [recorded("client", "SF", f"C{i:02}", i, name="x") for i in range(20)]
    calls: list[str] = []

    def read(path: str, subject: str = "") -> Mapping[str, Any]:
        calls.append(path)
        raise TransientError(f"GET /v1/{path}: ConnectError (gave up after 5 attempts)")

    answers = list(read_records(records, read, parallelism=1).values())
    assert len(calls) == 5
    assert answers[4] == Unread("GET /v1/clients/4: ConnectError (gave up after 5 attempts)")
    assert answers[5] == Unread(
        "not read: the reads were stopped (COR looks down: 5 requests in a row failed after "
        "their retries, the last: GET /v1/clients/4: ConnectError (gave up after 5 attempts))"
    )
    assert len(answers) == 20


def test_each_read_names_its_record_for_the_retry_lines() -> None:
    records = [recorded("client", "SF", "C1", 25001, name="x"), recorded("brand", "SF", "B1", 7)]
    subjects: dict[str, str] = {}

    def read(path: str, subject: str = "") -> Mapping[str, Any]:
        subjects[path] = subject
        return {"id": 1}

    read_records(records, read, parallelism=1)
    assert sorted(subjects.values()) == ["brand SF/B1", "client SF/C1"]
