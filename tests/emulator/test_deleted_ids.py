"""A deletion in COR itself (POST /_emulator/mutate with "delete": true) under both readings of
the contract's open question 7 (emulator/store.py `deleted_ids`): the external id "freed" (the
default), or "kept" mapped to the dead COR id until an Integrations DELETE frees it; switched by
`EmulatorConfig.deleted_ids`, `reconciler emulator --deleted-ids` and `/_emulator/config`.

Tests use the session's emulator, reset for each (`emulator`: tests/conftest.py; `api` and
`world`: tests/emulator/conftest.py); a test that needs another configuration starts its own.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from typing import Any

import httpx
import pytest

from reconciler.emulator import EmulatorConfig, EmulatorServer
from reconciler.errors import EXIT_INVALID
from tests.emulator.cases import TOKEN, bearer, body, post, records, sap, send

# Entities of cases.WORLD with no live dependant: (kind, source, id, a body to create it again)
LEAVES: list[tuple[str, str, str, dict[str, Any]]] = [
    ("client", "SALESFORCE", "C9", body("SALESFORCE", id="C9", name="Again")),
    ("brand", "SAP", "B2", sap(id="B2", name="Again", client_id="C2")),
    ("product", "SAP", "P1", sap(id="P1", name="Again", client_id="C1", brand_id="B1")),
]
LEAF_IDS = [leaf[2] for leaf in LEAVES]


def kill(api: httpx.Client, kind: str, source: str, ext_id: str) -> httpx.Response:
    """Delete in COR itself (its UI), not through the Integrations API."""
    change = {"kind": kind, "source": source, "id": ext_id, "delete": True}
    return api.post("/_emulator/mutate", json=change)


def configure(api: httpx.Client, **config: Any) -> httpx.Response:
    return api.post("/_emulator/config", json=config)


def integration_path(kind: str, ext_id: str = "") -> str:
    return f"/v2/integrations/{kind}s" + (f"/{ext_id}" if ext_id else "")


def listed_ids(api: httpx.Client, kind: str) -> list[int]:
    page = api.get(f"/v1/{kind}s", params={"perPage": 1000}).json()
    return [entity["id"] for entity in page["data"]]


def record_of(api: httpx.Client, kind: str, ext_id: str) -> list[tuple[int, bool, bool]]:
    """(COR id, deleted, mapped) of every record of that kind with that external id."""
    return [
        (r["cor_id"], r["deleted"], r["mapped"])
        for r in records(api)
        if (r["kind"], r["id"]) == (kind, ext_id)
    ]


# --- "freed", the default ---------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "source", "ext_id", "again"), LEAVES, ids=LEAF_IDS)
def test_freed_a_post_creates_a_new_entity(
    api: httpx.Client,
    world: dict[str, int],
    kind: str,
    source: str,
    ext_id: str,
    again: dict[str, Any],
) -> None:
    assert configure(api).json() == {"config": {"deleted_ids": "freed"}}
    killed = kill(api, kind, source, ext_id)
    assert killed.status_code == 200
    assert (killed.json()["record"]["deleted"], killed.json()["record"]["mapped"]) == (True, False)
    assert api.get(f"/v1/{kind}s/{world[ext_id]}").status_code == 404
    assert world[ext_id] not in listed_ids(api, kind)

    created = post(api, f"{kind}s", again)
    assert created["id"] > world[ext_id]
    assert api.get(f"/v1/{kind}s/{created['id']}").json()["name"] == "Again"
    soft_deleted = [(world[ext_id], True, False)] if kind == "product" else []
    assert record_of(api, kind, ext_id) == [*soft_deleted, (created["id"], False, True)]


# --- "kept" -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "source", "ext_id", "again"), LEAVES, ids=LEAF_IDS)
def test_kept_the_id_stays_mapped_until_the_integrations_delete(
    api: httpx.Client,
    world: dict[str, int],
    kind: str,
    source: str,
    ext_id: str,
    again: dict[str, Any],
) -> None:
    dead = world[ext_id]
    assert configure(api, deleted_ids="kept").json() == {"config": {"deleted_ids": "kept"}}
    killed = kill(api, kind, source, ext_id)
    assert killed.status_code == 200
    assert (killed.json()["record"]["deleted"], killed.json()["record"]["mapped"]) == (True, True)

    # gone from the read API, still mapped in the Integrations API
    assert api.get(f"/v1/{kind}s/{dead}").json()["code"] == "ZC001"
    assert dead not in listed_ids(api, kind)
    assert record_of(api, kind, ext_id) == [(dead, True, True)]
    duplicate = api.post(integration_path(kind), json=again)
    assert (duplicate.status_code, duplicate.json()["name"]) == (409, "DuplicateExternalIdError")
    assert duplicate.json()["code"] == "ZC004"
    update = send(api, "PUT", integration_path(kind, ext_id), body(source, name="x"))
    assert (update.status_code, update.json()["code"]) == (404, "ZC001")
    assert update.json()["name"] == f"{kind.capitalize()}NotFoundError"

    # the Integrations DELETE frees it, answering as for a live entity; then a POST creates
    freed = send(api, "DELETE", integration_path(kind, ext_id), body(source))
    assert freed.status_code == 200
    if kind == "product":
        assert freed.json() == {"message": "Entity deleted successfully"}
        assert record_of(api, kind, ext_id) == [(dead, True, False)]
    else:
        message = f"{kind.capitalize()} deleted successfully"
        assert freed.json() == {"message": message, "external_id": ext_id, "cor_id": dead}
        assert record_of(api, kind, ext_id) == []
    assert send(api, "DELETE", integration_path(kind, ext_id), body(source)).status_code == 404
    created = post(api, f"{kind}s", again)
    assert created["id"] > dead
    assert api.get(f"/v1/{kind}s/{created['id']}").status_code == 200


def test_kept_a_dead_entity_cannot_be_referenced(api: httpx.Client, world: dict[str, int]) -> None:
    configure(api, deleted_ids="kept")
    assert kill(api, "brand", "SAP", "B2").status_code == 200
    before = records(api)

    product = api.post(
        integration_path("product"), json=sap(id="P2", name="p", client_id="C2", brand_id="B2")
    )
    moved = api.post(
        "/_emulator/mutate",
        json={"kind": "product", "source": "SAP", "id": "P1", "set": {"brand_id": "B2"}},
    )
    assert (product.status_code, product.json()["name"]) == (404, "BrandNotFoundError")
    assert (moved.status_code, moved.json()["name"]) == (404, "BrandNotFoundError")
    assert records(api) == before


@pytest.mark.parametrize("how", ["out of band", "integrations"])
def test_kept_a_dead_entity_does_not_block_its_parents_deletion(
    api: httpx.Client, world: dict[str, int], how: str
) -> None:
    configure(api, deleted_ids="kept")
    assert kill(api, "product", "SAP", "P1").status_code == 200
    assert kill(api, "brand", "SAP", "B1").status_code == 200
    if how == "out of band":
        assert kill(api, "client", "SAP", "C1").status_code == 200
        assert record_of(api, "client", "C1") == [(world["C1"], True, True)]
    else:
        assert send(api, "DELETE", integration_path("client", "C1"), sap()).status_code == 200
        assert record_of(api, "client", "C1") == []
    assert listed_ids(api, "client") == [world["C2"], world["C9"]]
    assert record_of(api, "brand", "B1") == [(world["B1"], True, True)]


def test_kept_the_integrations_delete_of_a_live_entity_frees_its_id(
    api: httpx.Client, world: dict[str, int]
) -> None:
    configure(api, deleted_ids="kept")
    salesforce = body("SALESFORCE")
    assert send(api, "DELETE", integration_path("client", "C9"), salesforce).status_code == 200
    assert record_of(api, "client", "C9") == []
    assert post(api, "clients", LEAVES[0][3])["id"] > world["C9"]


def test_switching_back_leaves_the_ids_already_kept(
    api: httpx.Client, world: dict[str, int]
) -> None:
    configure(api, deleted_ids="kept")
    kill(api, "product", "SAP", "P1")
    configure(api, deleted_ids="freed")
    kill(api, "brand", "SAP", "B2")

    assert api.post(integration_path("product"), json=LEAVES[2][3]).status_code == 409
    assert post(api, "brands", LEAVES[1][3])["id"] > world["B2"]


# --- configuration ----------------------------------------------------------------------------


def test_config_switches_until_the_reset(api: httpx.Client) -> None:
    assert api.get("/_emulator/config").json() == {"config": {"deleted_ids": "freed"}}
    assert configure(api, deleted_ids="kept").status_code == 200
    assert api.get("/_emulator/config").json() == {"config": {"deleted_ids": "kept"}}
    assert configure(api).json() == {"config": {"deleted_ids": "kept"}}  # nothing to change

    assert api.post("/_emulator/reset").status_code == 200
    assert api.get("/_emulator/config").json() == {"config": {"deleted_ids": "freed"}}


@pytest.mark.parametrize(
    "payload",
    [
        {"deleted_ids": "gone"},
        {"deleted_ids": None},
        {"deleted_ids": ["kept"]},
        {"deleted_ids": "kept", "latency_ms": 5},
        b"[]",
        b"{oops",
    ],
    ids=["unknown value", "null", "a list", "unknown key", "not an object", "malformed"],
)
def test_config_refuses_and_changes_nothing(api: httpx.Client, payload: object) -> None:
    answer = send(api, "POST", "/_emulator/config", payload)
    assert (answer.status_code, answer.json()["name"]) == (400, "ValidationError")
    assert api.get("/_emulator/config").json() == {"config": {"deleted_ids": "freed"}}


def test_the_configured_reading_is_the_one_a_reset_returns_to() -> None:
    config = EmulatorConfig(port=0, deleted_ids="kept")
    with (
        EmulatorServer(config) as server,
        httpx.Client(base_url=server.url, headers=bearer(TOKEN), timeout=10) as web,
    ):
        assert web.get("/_emulator/config").json() == {"config": {"deleted_ids": "kept"}}
        web.post("/_emulator/config", json={"deleted_ids": "freed"}).raise_for_status()
        web.post("/_emulator/reset").raise_for_status()
        assert web.get("/_emulator/config").json() == {"config": {"deleted_ids": "kept"}}
        post(web, "clients", sap(id="C1", name="c"))
        assert kill(web, "client", "SAP", "C1").json()["record"]["mapped"] is True
        again = web.post(integration_path("client"), json=sap(id="C1", name="c"))
        assert again.status_code == 409


def test_config_refuses_an_unknown_reading() -> None:
    with pytest.raises(ValueError, match="deleted_ids"):
        EmulatorConfig(port=0, deleted_ids="gone")  # type: ignore[arg-type]  # the point


EMULATOR_COMMAND = [sys.executable, "-m", "reconciler", "emulator", "--port", "0"]


def test_cli_serves_the_reading_asked_for() -> None:
    with subprocess.Popen(
        [*EMULATOR_COMMAND, "--deleted-ids", "kept"],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    ) as served:
        try:
            assert served.stdout is not None
            url = served.stdout.readline().rsplit(" ", 1)[1].strip()
            config = httpx.get(f"{url}/_emulator/config").json()
        finally:
            served.send_signal(signal.SIGTERM)
        assert served.wait(timeout=10) == 0
    assert config == {"config": {"deleted_ids": "kept"}}


@pytest.mark.parametrize("value", ["gone", "KEPT", ""])
def test_cli_refuses_an_unknown_reading(value: str) -> None:
    # a process of its own: were the value accepted, it would serve until the timeout
    refused = subprocess.run(
        [*EMULATOR_COMMAND, "--deleted-ids", value], capture_output=True, text=True, timeout=30
    )
    assert refused.returncode == EXIT_INVALID
    assert "--deleted-ids" in refused.stderr
