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


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"kind": "client", "source": "SAP", "id": "NOPE", "set": {"name": "x"}}, 404),
        ({"kind": "client", "source": "SAP", "id": "C1", "delete": True}, 417),
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
    api.get("/nowhere")

    assert api.get("/_emulator/stats").json() == {
        "requests": {
            "GET /v1/brands/{id}": 1,
            "POST /v2/integrations/brands": 2,
            "POST /v2/integrations/clients": 3,
            "POST /v2/integrations/products": 1,
            "PUT /v2/integrations/clients/{id}": 2,
        },
        "total": 9,
        "faults": {"fail": 0, "rate_limited": 0, "lost": 0},  # random ones (none configured)
    }
