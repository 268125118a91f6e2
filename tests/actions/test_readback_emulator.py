"""Read-back (actions/readback.read_live) against the emulator on loopback, through the real
client: the lists used for large kinds and reads by id for tiny ones, every request counted by
the emulator too; records of other sources ignored; a record deleted out of band is gone, a
renamed one answers its new name."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from reconciler.actions.readback import read_live
from reconciler.cor.client import CorClient, Credentials
from reconciler.core.audit import Category
from reconciler.core.drift import Gone, audit_drift
from reconciler.core.resources import Kind, Record, ResourceKey
from reconciler.emulator.server import EmulatorServer
from reconciler.errors import RequestRejectedError
from tests.harness import RunningEmulator


@pytest.fixture
def seeded(
    emulator: RunningEmulator, _session_emulator: EmulatorServer
) -> dict[ResourceKey, Record]:
    """The emulator (reset) holding 1 SAP client, 3 brands and 130 products, with 40 products
    of another source among them; the SAP records as a state records them."""
    store = _session_emulator.store
    records: dict[ResourceKey, Record] = {}

    def create(kind: Kind, source: str, ext_id: str, **fields: str) -> None:
        entity = store.create(kind, source, ext_id, fields)
        if source == "SAP":
            key = ResourceKey(kind, source, ext_id)
            records[key] = Record(key, entity.cor_id, fields)

    for source in ("SAP", "JIRA"):
        create(Kind.CLIENT, source, "C1", name=f"{source} client")
        for b in range(3):
            create(Kind.BRAND, source, f"B{b}", name=f"Brand {b}", client_id="C1")
    for p in range(170):
        source = "JIRA" if p % 4 == 0 and p < 160 else "SAP"
        create(Kind.PRODUCT, source, f"P{p}", name=f"P{p}", client_id="C1", brand_id=f"B{p % 3}")
    return records


@pytest.fixture
def client(emulator: RunningEmulator) -> Iterator[CorClient]:
    with CorClient(
        api_url=emulator.url,
        auth_url=f"{emulator.url}/v1",
        read_api_url=f"{emulator.url}/v1",
        credentials=Credentials(token=emulator.token),
    ) as cor:
        yield cor


def requests_seen(emulator: RunningEmulator) -> dict[str, Any]:
    stats: dict[str, Any] = httpx.get(f"{emulator.url}/_emulator/stats").json()
    return stats


def test_the_lists_read_every_record_in_few_requests(
    seeded: dict[ResourceKey, Record], client: CorClient, emulator: RunningEmulator
) -> None:
    assert len([k for k in seeded if k.kind is Kind.PRODUCT]) == 130
    reading = read_live(seeded.values(), client.read, parallelism=4)
    stats = requests_seen(emulator)
    # clients: 2 live, 1 recorded → by id; brands: 6 live → page 1; products: 170 → 4 pages
    assert stats["requests"] == {
        "GET /v1/clients/{id}": 1,
        "GET /v1/brands": 1,
        "GET /v1/products": 4,
    }
    assert (reading.requests, reading.pages) == (stats["total"], 5)
    assert reading.listed == (Kind.BRAND, Kind.PRODUCT)
    assert audit_drift(seeded, reading.answers) == ([], [])
    by_id = {
        key: client.read(f"{key.kind.plural}/{record.cor_id}") for key, record in seeded.items()
    }
    assert reading.answers == by_id  # a list's item is what a read by id answers


def test_tiny_kinds_are_read_by_id(
    seeded: dict[ResourceKey, Record], client: CorClient, emulator: RunningEmulator
) -> None:
    chosen = {key: record for key, record in seeded.items() if key.id in ("C1", "B1", "P7")}
    reading = read_live(chosen.values(), client.read)
    assert requests_seen(emulator)["requests"] == {
        "GET /v1/clients/{id}": 1,
        "GET /v1/brands/{id}": 1,
        "GET /v1/products/{id}": 1,
    }
    assert (reading.requests, reading.pages, reading.listed) == (3, 0, ())
    assert audit_drift(chosen, reading.answers) == ([], [])


def test_deleted_out_of_band_is_gone_and_renamed_answers_its_new_name(
    seeded: dict[ResourceKey, Record], client: CorClient, emulator: RunningEmulator
) -> None:
    emulator.mutate(kind="product", source="SAP", id="P9", delete=True)
    emulator.mutate(kind="product", source="SAP", id="P10", set={"name": "Renamed in COR"})
    emulator.mutate(kind="brand", source="SAP", id="B2", set={"name": "Brand two"})
    reading = read_live(seeded.values(), client.read, parallelism=2)
    answers = {str(key): answer for key, answer in reading.answers.items()}
    assert answers["product SAP/P9"] == Gone()
    assert answers["product SAP/P10"]["name"] == "Renamed in COR"  # type: ignore[index]
    assert answers["brand SAP/B2"]["name"] == "Brand two"  # type: ignore[index]
    gone_id = seeded[ResourceKey(Kind.PRODUCT, "SAP", "P9")].cor_id
    stats = requests_seen(emulator)
    assert stats["requests"]["GET /v1/products/{id}"] == 1  # P9, confirmed by id: not found
    assert reading.requests == stats["total"] == 1 + 1 + 4 + 1
    findings, errors = audit_drift(seeded, reading.answers)
    assert errors == []
    assert sorted((f.category, f.key.id) for f in findings) == [
        (Category.DELETED, "P9"),
        (Category.RENAMED, "B2"),
        (Category.RENAMED, "P10"),
    ]
    assert gone_id not in [
        item["id"] for item in client.read("products?page=1&perPage=1000")["data"]
    ]


def test_the_client_sends_the_query_and_keeps_the_page_whole(
    seeded: dict[ResourceKey, Record], client: CorClient
) -> None:
    page = client.read("products?page=2&perPage=60", subject="products page 2")
    assert (page["page"], page["perPage"], page["lastPage"], page["total"]) == (2, 60, 3, 170)
    assert [item["name"] for item in page["data"][:2]] == ["P60", "P61"]  # not unwrapped
    with pytest.raises(RequestRejectedError) as refused:
        client.read("products?page=0&perPage=50", subject="products page 0")
    assert str(refused.value).startswith("GET /v1/products: 400 ")  # the path, not the query
