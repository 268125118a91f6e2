"""The emulated COR (emulator/app.py, store.py, fields.py), over the wire: the documented
examples replayed as conformance cases, every named error, updates, and the read API.

Timestamps use the pure `Emulator` with an injected clock (no sleeping).

Tests use the session's emulator, reset for each (`emulator`: tests/conftest.py; `api` and
`world`: tests/emulator/conftest.py); a test that needs another configuration starts its own.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from reconciler.core.resources import Kind
from reconciler.emulator.app import Emulator
from reconciler.emulator.auth import Credentials
from reconciler.emulator.messages import Request
from tests.conformance import DOCUMENTED_CASES
from tests.emulator.cases import (
    COR_ID_KEYS,
    ERRORS,
    PREREQUISITES,
    STATUS_AND_CODE,
    TOKEN,
    B,
    C,
    P,
    body,
    post,
    records,
    sap,
    send,
)

ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


# --- conformance: the documented examples ------------------------------------------------


@pytest.mark.parametrize("case", DOCUMENTED_CASES, ids=[c["name"] for c in DOCUMENTED_CASES])
def test_documented_case_answers_in_the_documented_shape(
    api: httpx.Client, case: dict[str, Any]
) -> None:
    for plural, payload in PREREQUISITES[case["name"]]:
        post(api, plural, payload)
    answer = send(api, case["method"], case["path"], case["request"])

    assert answer.status_code == (201 if case["method"] == "POST" else 200)
    documented: dict[str, Any] = case["response"]
    expected_keys = list(documented)
    if case["name"] == "create product":  # description echoed when set, as in the update
        expected_keys.insert(2, "description")
    assert list(answer.json()) == expected_keys
    for key, value in documented.items():
        if key in COR_ID_KEYS:
            assert type(answer.json()[key]) is int, key
        elif key.endswith("_at"):
            assert ISO_UTC.match(answer.json()[key]), key
        else:
            assert answer.json()[key] == value, key


def test_answers_carry_the_cor_ids_of_references(api: httpx.Client) -> None:
    client = post(api, "clients", sap(id="C", name="c"))
    brand = post(api, "brands", sap(id="B", name="b", client_id="C"))
    product = post(api, "products", sap(id="P", name="p", client_id="C", brand_id="B"))

    assert brand["client_id"] == client["id"] != brand["id"]
    assert (product["client_id"], product["brand_id"]) == (client["id"], brand["id"])
    assert product["id"] not in (client["id"], brand["id"])


def test_timestamps_follow_an_injected_clock() -> None:
    now = [1736519400.0]  # 2025-01-10T14:30:00Z
    emulator = Emulator(Credentials(TOKEN, "k", "s", 60), clock=lambda: now[0])
    auth = f"Bearer {TOKEN}"
    create = json.dumps(sap(id="C", name="c")).encode()
    created = emulator.handle(Request("POST", C, {}, auth, create))
    now[0] += 3600
    updated = emulator.handle(
        Request("PUT", f"{C}/C", {}, auth, json.dumps(sap(name="d")).encode())
    )

    assert (created.status, updated.status) == (201, 200)
    assert created.body["created_at"] == created.body["updated_at"] == "2025-01-10T14:30:00Z"
    assert updated.body["created_at"] == "2025-01-10T14:30:00Z"
    assert updated.body["updated_at"] == "2025-01-10T15:30:00Z"


# --- named errors ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "payload", "name"), [case[1:] for case in ERRORS], ids=[c[0] for c in ERRORS]
)
def test_named_error_changes_nothing(
    api: httpx.Client, world: dict[str, int], method: str, path: str, payload: object, name: str
) -> None:
    before = records(api)
    answer = send(api, method, path, payload)

    status, code = STATUS_AND_CODE[name]
    assert answer.status_code == status
    assert answer.json() == {
        "status": status,
        "name": name,
        "code": code,
        "message": answer.json()["message"],
    }
    assert list(answer.json()) == ["status", "name", "code", "message"]
    assert answer.json()["message"]
    assert records(api) == before


def test_same_external_id_in_another_source_is_not_a_duplicate(
    api: httpx.Client, world: dict[str, int]
) -> None:
    created = post(api, "clients", body("SALESFORCE", id="C1", name="other"))
    assert created["id"] not in world.values()


def test_dependants_deleted_first_then_parents_go(api: httpx.Client, world: dict[str, int]) -> None:
    for path in (f"{P}/P1", f"{B}/B1", f"{C}/C1"):
        assert send(api, "DELETE", path, sap()).status_code == 200
    assert [r["id"] for r in records(api) if not r["deleted"]] == ["C9", "C2", "B2"]


# --- updates ---------------------------------------------------------------------------------


def test_partial_update_keeps_unsent_fields(api: httpx.Client, world: dict[str, int]) -> None:
    answer = send(api, "PUT", f"{C}/C1", sap(website="https://c1.example"))
    assert answer.status_code == 200
    assert answer.json()["name"] == "Client one"
    assert (answer.json()["phone"], answer.json()["website"]) == ("+1 555", "https://c1.example")
    client = next(r for r in records(api) if r["id"] == "C1")
    assert client["attributes"] == {
        "name": "Client one",
        "phone": "+1 555",
        "website": "https://c1.example",
    }


def test_null_clears_an_optional_field(api: httpx.Client, world: dict[str, int]) -> None:
    post(
        api,
        "products",
        sap(id="P2", name="p", client_id="C1", brand_id="B1", description="gone soon"),
    )
    client = send(api, "PUT", f"{C}/C1", sap(phone=None)).json()
    product = send(api, "PUT", f"{P}/P2", sap(description=None)).json()

    assert "phone" not in client
    assert "description" not in product
    attributes = {r["id"]: r["attributes"] for r in records(api)}
    assert attributes["C1"] == {"name": "Client one"}
    assert "description" not in attributes["P2"]


def test_empty_update_returns_the_whole_object_unchanged(
    api: httpx.Client, world: dict[str, int]
) -> None:
    first = send(api, "PUT", f"{B}/B1", sap()).json()
    assert first["id"] == world["B1"]
    assert first["client_id"] == world["C1"]
    assert first["updated_at"] == first["created_at"]


def test_url_encoded_external_id(api: httpx.Client) -> None:
    odd = "A/B C%"
    post(api, "clients", sap(id=odd, name="odd"))
    answer = send(api, "PUT", f"{C}/{quote(odd, safe='')}", sap(name="even"))
    assert answer.status_code == 200
    assert records(api)[0]["attributes"]["name"] == "even"


def test_deleted_product_is_kept_and_its_id_reusable(
    api: httpx.Client, world: dict[str, int]
) -> None:
    assert send(api, "DELETE", f"{P}/P1", sap()).status_code == 200
    assert send(api, "PUT", f"{P}/P1", sap(name="x")).status_code == 404
    assert api.get(f"/v1/products/{world['P1']}").status_code == 404
    again = post(api, "products", sap(id="P1", name="new", client_id="C1", brand_id="B1"))

    products = [r for r in records(api) if r["kind"] == "product"]
    assert [(r["cor_id"], r["deleted"]) for r in products] == [
        (world["P1"], True),
        (again["id"], False),
    ]
    assert again["id"] > world["P1"]


# --- read API --------------------------------------------------------------------------------


def test_read_entities_by_cor_id(api: httpx.Client, world: dict[str, int]) -> None:
    assert api.get(f"/v1/clients/{world['C1']}").json() == {
        "id": world["C1"],
        "name": "Client one",
        "phone": "+1 555",
    }
    assert api.get(f"/v1/brands/{world['B1']}").json() == {
        "id": world["B1"],
        "name": "Brand one",
        "client_id": world["C1"],
    }
    assert api.get(f"/v1/products/{world['P1']}").json() == {
        "id": world["P1"],
        "name": "Product",
        "client_id": world["C1"],
        "brand_id": world["B1"],
    }
    for path in (f"/v1/brands/{world['C1']}", "/v1/clients/abc", "/v1/products/99"):
        answer = api.get(path)
        assert (answer.status_code, answer.json()["code"]) == (404, "ZC001")


def test_list_pages(api: httpx.Client, world: dict[str, int]) -> None:
    page = api.get("/v1/clients", params={"page": 2, "perPage": 2}).json()
    assert page == {
        "total": 3,
        "perPage": 2,
        "page": 2,
        "lastPage": 2,
        "data": [{"id": world["C9"], "name": "Elsewhere"}],
    }
    assert api.get("/v1/products").json()["data"][0]["brand_id"] == world["B1"]
    assert api.get("/v1/brands", params={"page": 0}).status_code == 400
    assert api.get("/v1/brands", params={"perPage": "x"}).status_code == 400


def test_list_past_the_last_page_and_the_page_size_bounds(
    api: httpx.Client, world: dict[str, int]
) -> None:
    def page(**query: str | int) -> httpx.Response:
        return api.get("/v1/clients", params=query)

    past = page(page=3, perPage=2).json()
    assert past == {"total": 3, "perPage": 2, "page": 3, "lastPage": 2, "data": []}
    assert type(past["total"]) is int  # a number, not the string of the guide's examples
    assert page(page="9" * 18).json()["data"] == []
    assert len(page(perPage=1000).json()["data"]) == 3
    for query in ({"perPage": 1001}, {"perPage": 0}, {"page": "9" * 19}, {"page": "1" * 5000}):
        answer = page(**query)
        assert (answer.status_code, answer.json()["name"]) == (400, "ValidationError"), query
    assert page().json()["perPage"] == 20


def test_list_pages_hold_live_entities_in_cor_id_order_after_deletions() -> None:
    """Pages of a large kind after creates, deletions (Integrations and out of band, under both
    readings) and a reset: the live entities, in COR id order, each exactly once."""
    emulator = Emulator(Credentials(TOKEN, "k", "s", 60))
    store = emulator.store
    auth = f"Bearer {TOKEN}"

    def fill(count: int) -> list[int]:
        return [
            store.create(Kind.CLIENT, "SAP", f"C{n}", {"name": "c"}).cor_id for n in range(count)
        ]

    def read_all(per_page: int) -> list[int]:
        first = emulator.handle(Request("GET", "/v1/clients", {"perPage": str(per_page)}, auth))
        last: int = first.body["lastPage"]
        ids = [e["id"] for e in first.body["data"]]
        for number in range(2, last + 2):  # one past the last: empty
            query = {"page": str(number), "perPage": str(per_page)}
            answer = emulator.handle(Request("GET", "/v1/clients", query, auth))
            assert answer.body["total"] == first.body["total"]
            assert (answer.body["data"] == []) is (number > last)
            ids += [e["id"] for e in answer.body["data"]]
        return ids

    created = fill(2000)
    store.delete(Kind.CLIENT, "SAP", "C0")
    store.delete(Kind.CLIENT, "SAP", "C1999")
    store.delete_out_of_band(Kind.CLIENT, "SAP", "C700")
    store.deleted_ids = "kept"
    store.delete_out_of_band(Kind.CLIENT, "SAP", "C1000")
    store.delete(Kind.CLIENT, "SAP", "C1000")  # frees the dead one's id: still not listed
    again = store.create(Kind.CLIENT, "SAP", "C0", {"name": "c"}).cor_id
    gone = {created[0], created[1999], created[700], created[1000]}
    expected = [cor_id for cor_id in created if cor_id not in gone] + [again]

    assert read_all(50) == read_all(7) == expected
    assert store.count(Kind.CLIENT) == len(expected) == 1997
    emulator.handle(Request("POST", "/_emulator/reset"))
    assert read_all(20) == []
    assert fill(3) == created[:3]
    assert read_all(2) == created[:3]
