"""The test-control endpoints under /_emulator/ (emulator/control.py): records, out-of-band
changes, reset and statistics.

Tests use the session's emulator, reset for each (`emulator`: tests/conftest.py; `api` and
`world`: tests/emulator/conftest.py); a test that needs another configuration starts its own.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.emulator.cases import (
    C,
    add_fault,
    body,
    post,
    records,
    sap,
    send,
)


def test_records_list_every_entity_in_order_with_external_references(api: httpx.Client) -> None:
    ids = {
        "SAP/b": post(api, "clients", sap(id="b", name="B", website="w"))["id"],
        "SALESFORCE/a": post(api, "clients", body("SALESFORCE", id="a", name="A"))["id"],
        "SAP/a": post(api, "clients", sap(id="a", name="A"))["id"],
        "SAP/x": post(api, "brands", sap(id="x", name="X", client_id="b"))["id"],
        "SAP/p": post(api, "products", sap(id="p", name="P", client_id="b", brand_id="x"))["id"],
    }

    def record(kind: str, key: str, attributes: dict[str, str]) -> dict[str, Any]:
        source, ext_id = key.split("/")
        return {
            "kind": kind,
            "source": source,
            "id": ext_id,
            "cor_id": ids[key],
            "attributes": attributes,
            "deleted": False,
            "mapped": True,
        }

    assert records(api) == [
        record("client", "SALESFORCE/a", {"name": "A"}),
        record("client", "SAP/a", {"name": "A"}),
        record("client", "SAP/b", {"name": "B", "website": "w"}),
        record("brand", "SAP/x", {"client_id": "b", "name": "X"}),
        record("product", "SAP/p", {"brand_id": "x", "client_id": "b", "name": "P"}),
    ]


def test_mutate_changes_data_out_of_band(api: httpx.Client, world: dict[str, int]) -> None:
    renamed = api.post(
        "/_emulator/mutate",
        json={
            "kind": "client",
            "source": "SAP",
            "id": "C1",
            "set": {"name": "Renamed", "phone": None},
        },
    )
    moved = api.post(
        "/_emulator/mutate",
        json={"kind": "brand", "source": "SAP", "id": "B1", "set": {"client_id": "C2"}},
    )
    dropped = api.post(
        "/_emulator/mutate", json={"kind": "product", "source": "SAP", "id": "P1", "delete": True}
    )

    assert [a.status_code for a in (renamed, moved, dropped)] == [200, 200, 200]
    assert api.get(f"/v1/clients/{world['C1']}").json() == {"id": world["C1"], "name": "Renamed"}
    assert api.get(f"/v1/brands/{world['B1']}").json()["client_id"] == world["C2"]
    assert api.get(f"/v1/products/{world['P1']}").status_code == 404
    assert dropped.json()["record"]["deleted"] is True


DELETE = {"source": "SAP", "delete": True}


def reparent(api: httpx.Client, kind: str, ext_id: str, **refs: str) -> httpx.Response:
    change = {"kind": kind, "source": "SAP", "id": ext_id, "set": refs}
    return api.post("/_emulator/mutate", json=change)


def test_mutate_reparents_and_the_read_api_shows_it(
    api: httpx.Client, world: dict[str, int]
) -> None:
    b3 = post(api, "brands", sap(id="B3", name="Brand three", client_id="C1"))["id"]
    product = f"/v1/products/{world['P1']}"

    assert reparent(api, "product", "P1", brand_id="B3").status_code == 200  # same client
    read = api.get(product).json()
    assert (read["client_id"], read["brand_id"]) == (world["C1"], b3)
    assert reparent(api, "product", "P1", client_id="C2", brand_id="B2").status_code == 200
    read = api.get(product).json()
    listed = api.get("/v1/products").json()["data"]
    assert (read["client_id"], read["brand_id"]) == (world["C2"], world["B2"])
    assert listed == [read]
    assert reparent(api, "brand", "B3", client_id="C2").status_code == 200  # another client
    assert api.get(f"/v1/brands/{b3}").json()["client_id"] == world["C2"]
    moved = {r["id"]: r["attributes"] for r in records(api)}
    assert moved["P1"] == {"name": "Product", "client_id": "C2", "brand_id": "B2"}
    assert moved["B3"] == {"name": "Brand three", "client_id": "C2"}

    # the dependants follow: B1 and C1 lost theirs, B2 and C2 gained them
    for kind, ext_id in (("brand", "B2"), ("client", "C2")):
        refused = api.post("/_emulator/mutate", json={**DELETE, "kind": kind, "id": ext_id})
        assert (refused.status_code, refused.json()["name"]) == (417, "DeletionError")
    for kind, ext_id in (("brand", "B1"), ("client", "C1")):
        freed = api.post("/_emulator/mutate", json={**DELETE, "kind": kind, "id": ext_id})
        assert freed.status_code == 200


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"kind": "client", "source": "SAP", "id": "NOPE", "set": {"name": "x"}}, 404),
        ({"kind": "client", "source": "SAP", "id": "C1", "delete": True}, 417),
        ({"kind": "brand", "source": "SAP", "id": "B1", "delete": True}, 417),
        ({"kind": "client", "source": "SAP", "id": "C1", "set": {"colour": "x"}}, 400),
        ({"kind": "client", "source": "SAP", "id": "C1", "set": {"name": None}}, 400),
        ({"kind": "brand", "source": "SAP", "id": "B1", "set": {"client_id": "C9"}}, 404),
        ({"kind": "client", "source": "SAP", "id": "C1"}, 400),
        ({"kind": "team", "source": "SAP", "id": "C1", "delete": True}, 400),
    ],
)
def test_mutate_refuses(
    api: httpx.Client, world: dict[str, int], change: dict[str, Any], status: int
) -> None:
    before = records(api)
    assert api.post("/_emulator/mutate", json=change).status_code == status
    assert records(api) == before


def test_reset_forgets_everything(api: httpx.Client, world: dict[str, int]) -> None:
    add_fault(api, status=500)
    assert api.post("/_emulator/reset").status_code == 200

    assert records(api) == []
    assert api.get("/_emulator/faults").json() == {"faults": []}
    assert api.get("/_emulator/stats").json() == {
        "requests": {},
        "total": 0,
        "faults": {"fail": 0, "rate_limited": 0, "lost": 0},
    }
    assert post(api, "clients", sap(id="C1", name="c"))["id"] == world["C1"]


def test_stats_count_requests_by_method_and_pattern(
    api: httpx.Client, world: dict[str, int]
) -> None:
    send(api, "PUT", f"{C}/C1", sap(name="x"))
    send(api, "PUT", f"{C}/NOPE", sap(name="x"))
    api.get("/v1/brands/1")
    api.get("/v1/products", params={"page": 2, "perPage": 50})
    api.get("/v1/products")
    api.get("/nowhere")

    assert api.get("/_emulator/stats").json() == {
        "requests": {
            "GET /v1/brands/{id}": 1,
            "GET /v1/products": 2,
            "POST /v2/integrations/brands": 2,
            "POST /v2/integrations/clients": 3,
            "POST /v2/integrations/products": 1,
            "PUT /v2/integrations/clients/{id}": 2,
        },
        "total": 11,
        "faults": {"fail": 0, "rate_limited": 0, "lost": 0},  # random ones (none configured)
    }
