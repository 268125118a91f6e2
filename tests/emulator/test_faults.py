"""Injected faults (emulator/faults.py), over the wire: answered the given times, only to the
matching requests, until cleared; a dropped answer after the change was made.

Tests use the session's emulator, reset for each (`emulator`: tests/conftest.py; `api` and
`world`: tests/emulator/conftest.py); a test that needs another configuration starts its own.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.emulator.cases import (
    TOKEN,
    B,
    C,
    P,
    add_fault,
    bearer,
    body,
    records,
    sap,
    send,
)
from tests.harness import RunningEmulator


def test_error_fault_is_answered_the_given_times_without_changes(api: httpx.Client) -> None:
    add_fault(
        api,
        method="POST",
        kind="client",
        source="SAP",
        id="C1",
        status=503,
        name="ServiceUnavailableError",
        code="X1",
        message="down",
        times=2,
    )
    fresh = sap(id="C1", name="c")
    answers = [send(api, "POST", C, fresh) for _ in range(2)]

    assert [a.status_code for a in answers] == [503, 503]
    assert answers[0].json() == {
        "status": 503,
        "name": "ServiceUnavailableError",
        "code": "X1",
        "message": "down",
    }
    assert records(api) == []
    assert api.get("/_emulator/faults").json() == {"faults": []}
    assert send(api, "POST", C, fresh).status_code == 201


def test_fault_hits_only_matching_requests(api: httpx.Client, world: dict[str, int]) -> None:
    add_fault(api, method="PUT", kind="brands", source="SAP", id="B1", status=500)
    assert send(api, "PUT", f"{B}/B2", sap(name="x")).status_code == 200
    assert send(api, "PUT", f"{B}/B1", body("SALESFORCE", name="x")).status_code == 404
    assert send(api, "DELETE", f"{P}/P1", sap()).status_code == 200
    assert len(api.get("/_emulator/faults").json()["faults"]) == 1

    failed = send(api, "PUT", f"{B}/B1", sap(name="x"))
    assert (failed.status_code, failed.json()["name"]) == (500, "InternalServerError")


def test_forever_fault_until_cleared_and_retry_after(api: httpx.Client) -> None:
    add_fault(api, status=429, times=None, retry_after=2)
    answers = [send(api, "POST", C, sap(id=f"C{n}", name="c")) for n in range(3)]
    assert {(a.status_code, a.headers["Retry-After"]) for a in answers} == {(429, "2")}
    assert answers[0].json()["name"] == "TooManyRequestsError"

    assert api.delete("/_emulator/faults").status_code == 200
    assert send(api, "POST", C, sap(id="C1", name="c")).status_code == 201


@pytest.mark.parametrize(
    "fault",
    [
        {"status": 200},
        {"status": True},
        {"method": "GET"},
        {"kind": "project"},
        {"times": 0},
        {"colour": "red"},
        {"source": 5},
    ],
)
def test_malformed_fault_is_refused(api: httpx.Client, fault: dict[str, Any]) -> None:
    answer = api.post("/_emulator/faults", json=fault)
    assert (answer.status_code, answer.json()["name"]) == (400, "ValidationError")
    assert api.get("/_emulator/faults").json() == {"faults": []}


def test_dropped_response_after_processing(emulator: RunningEmulator, api: httpx.Client) -> None:
    add_fault(api, method="POST", kind="client", id="C1", drop_response=True)
    with (
        httpx.Client(base_url=emulator.url, headers=bearer(TOKEN)) as lost,
        pytest.raises(httpx.RemoteProtocolError),
    ):
        lost.post(C, json=sap(id="C1", name="c"))

    [created] = records(api)
    assert (created["id"], created["attributes"]) == ("C1", {"name": "c"})
    again = send(api, "POST", C, sap(id="C1", name="c"))
    assert again.json()["name"] == "DuplicateExternalIdError"
    assert send(api, "PUT", f"{C}/C1", sap()).json()["id"] == created["cor_id"]
