"""The COR emulator, driven from outside as a real HTTP server on 127.0.0.1 (port 0).

The documented examples are replayed as conformance cases; every named error, the token flow,
faults, the test-control endpoints, latency and a clean stop are checked over the wire.
Token expiry and timestamps use the pure `Emulator` with an injected clock (no sleeping).
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import re
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from reconciler.emulator import EmulatorConfig, EmulatorServer, serve
from reconciler.emulator.app import Emulator
from reconciler.emulator.auth import Credentials
from reconciler.emulator.messages import Request
from tests.conformance import DOCUMENTED_CASES
from tests.emulator_fixtures import (
    COR_ID_KEYS,
    ERRORS,
    PREREQUISITES,
    STATUS_AND_CODE,
    TOKEN,
    B,
    C,
    P,
    add_fault,
    bearer,
    body,
    post,
    records,
    sap,
    seed,
    send,
)

ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
BASIC = "Basic " + base64.b64encode(b"demo-key:demo-secret").decode()


@pytest.fixture
def server() -> Iterator[EmulatorServer]:
    with EmulatorServer(EmulatorConfig(port=0)) as running:
        yield running


@pytest.fixture
def api(server: EmulatorServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, headers=bearer(TOKEN), timeout=10) as client:
        yield client


@pytest.fixture
def world(api: httpx.Client) -> dict[str, int]:
    return seed(api)


def emulator_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("cor-emulator")]


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


# --- authentication --------------------------------------------------------------------------


@pytest.mark.parametrize("header", [None, "Bearer wrong", "Bearer", TOKEN, BASIC])
@pytest.mark.parametrize(("method", "path"), [("POST", C), ("GET", "/v1/clients")])
def test_bad_or_missing_token_is_401(
    server: EmulatorServer, header: str | None, method: str, path: str
) -> None:
    headers = {} if header is None else {"Authorization": header}
    answer = httpx.request(method, server.url + path, headers=headers, json=sap(id="C", name="c"))
    assert answer.status_code == 401
    assert answer.json()["name"] == "UnauthorizedError"
    assert answer.headers["WWW-Authenticate"] == "Bearer"
    assert httpx.get(f"{server.url}/_emulator/records").json() == {"records": []}


def test_token_issue_refresh_and_revocation(server: EmulatorServer) -> None:
    with httpx.Client(base_url=server.url) as web:
        issued = web.post(
            "/v1/oauth/token?grant_type=client_credentials", headers={"Authorization": BASIC}
        )
        assert issued.status_code == 200
        grant = issued.json()
        assert list(grant) == ["access_token", "token_type", "expires_in", "refresh_token"]
        assert (grant["token_type"], grant["expires_in"]) == ("Bearer", 3600)
        created = web.post(C, headers=bearer(grant["access_token"]), json=sap(id="C", name="c"))
        assert created.status_code == 201

        refreshed = web.post(
            "/v1/oauth/refreshtoken", data={"refresh_token": grant["refresh_token"]}
        )
        assert refreshed.status_code == 200
        new = refreshed.json()
        assert list(new) == list(grant)
        assert new["refresh_token"] != grant["refresh_token"]
        assert new["access_token"] != grant["access_token"]
        assert web.get("/v1/clients", headers=bearer(new["access_token"])).status_code == 200

        revoked = web.post("/v1/oauth/refreshtoken", data={"refresh_token": grant["refresh_token"]})
        assert revoked.status_code == 401
        assert revoked.json()["name"] == "UnauthorizedError"
        assert grant["refresh_token"] not in revoked.text


@pytest.mark.parametrize(
    ("path", "headers", "status"),
    [
        ("/v1/oauth/token?grant_type=client_credentials", {}, 401),
        (
            "/v1/oauth/token?grant_type=client_credentials",
            {"Authorization": "Basic " + base64.b64encode(b"demo-key:wrong").decode()},
            401,
        ),
        ("/v1/oauth/token?grant_type=password", {"Authorization": BASIC}, 400),
        ("/v1/oauth/refreshtoken", {}, 400),
        ("/v1/oauth/refreshtoken?refresh_token=guess", {}, 400),
    ],
)
def test_token_endpoints_refuse(
    server: EmulatorServer, path: str, headers: dict[str, str], status: int
) -> None:
    answer = httpx.post(server.url + path, headers=headers)
    assert answer.status_code == status
    assert "access_token" not in answer.json()


def test_without_a_static_token_only_issued_tokens_work() -> None:
    with (
        EmulatorServer(EmulatorConfig(port=0, token=None)) as server,
        httpx.Client(base_url=server.url) as web,
    ):
        assert web.get("/v1/clients", headers=bearer(TOKEN)).status_code == 401
        grant = web.post(
            "/v1/oauth/token?grant_type=client_credentials", headers={"Authorization": BASIC}
        ).json()
        assert web.get("/v1/clients", headers=bearer(grant["access_token"])).status_code == 200


def test_issued_token_expires_after_its_ttl() -> None:
    now = [1000.0]
    emulator = Emulator(Credentials(None, "demo-key", "demo-secret", 60), clock=lambda: now[0])
    grant = emulator.handle(
        Request("POST", "/v1/oauth/token", {"grant_type": "client_credentials"}, BASIC)
    )
    bearer = f"Bearer {grant.body['access_token']}"
    assert grant.body["expires_in"] == 60

    now[0] += 59
    assert emulator.handle(Request("GET", "/v1/clients", {}, bearer)).status == 200
    now[0] += 1
    assert emulator.handle(Request("GET", "/v1/clients", {}, bearer)).status == 401


# --- faults ----------------------------------------------------------------------------------


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


def test_dropped_response_after_processing(server: EmulatorServer, api: httpx.Client) -> None:
    add_fault(api, method="POST", kind="client", id="C1", drop_response=True)
    with (
        httpx.Client(base_url=server.url, headers=bearer(TOKEN)) as lost,
        pytest.raises(httpx.RemoteProtocolError),
    ):
        lost.post(C, json=sap(id="C1", name="c"))

    [created] = records(api)
    assert (created["id"], created["attributes"]) == ("C1", {"name": "c"})
    again = send(api, "POST", C, sap(id="C1", name="c"))
    assert again.json()["name"] == "DuplicateExternalIdError"
    assert send(api, "PUT", f"{C}/C1", sap()).json()["id"] == created["cor_id"]


# --- test-control endpoints ------------------------------------------------------------------


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


# --- HTTP ------------------------------------------------------------------------------------


def test_keep_alive_and_content_length_on_every_answer(server: EmulatorServer) -> None:
    connection = http.client.HTTPConnection(server.url.removeprefix("http://"), timeout=10)
    auth = {**bearer(TOKEN), "Content-Type": "application/json"}
    requests = [
        ("GET", "/_emulator/stats", None, 200),
        ("POST", C, b'{"metadata": {"source": "SAP"}, "id": "C1", "name": "c"}', 201),
        ("POST", C, b"{oops", 400),
        ("GET", C, None, 405),
        ("GET", "/v3/anything", None, 404),
        ("PATCH", f"{C}/C1", b"{}", 405),
        ("POST", "/v1/oauth/token", None, 401),
    ]
    sockets = []
    try:
        for method, path, payload, status in requests:
            connection.request(method, path, body=payload, headers=auth)
            answer = connection.getresponse()
            text = answer.read()
            assert answer.status == status, (method, path, text)
            assert int(answer.headers["Content-Length"]) == len(text)
            assert answer.headers["Content-Type"] == "application/json"
            sockets.append(connection.sock)
    finally:
        connection.close()
    assert all(sock is sockets[0] for sock in sockets)  # one connection served them all


def test_unknown_path_and_wrong_method_answer_json(api: httpx.Client) -> None:
    missing = api.get("/v2/integrations/projects")
    wrong = api.delete(C)
    assert (missing.status_code, missing.json()["name"]) == (404, "RouteNotFoundError")
    assert (wrong.status_code, wrong.json()["name"]) == (405, "MethodNotAllowedError")
    assert wrong.headers["Allow"] == "POST"


def test_latency_is_added_to_answers() -> None:
    with EmulatorServer(EmulatorConfig(port=0, latency_ms=150)) as server:
        started = time.monotonic()
        assert httpx.get(f"{server.url}/_emulator/stats").status_code == 200
        assert time.monotonic() - started >= 0.14


def test_concurrent_creates_get_distinct_cor_ids(server: EmulatorServer) -> None:
    created: list[int] = []

    def create_many(worker: int) -> None:
        with httpx.Client(base_url=server.url, headers=bearer(TOKEN), timeout=10) as web:
            for n in range(10):
                answer = web.post(C, json=sap(id=f"{worker}-{n}", name="c"))
                created.append(answer.json()["id"])

    workers = [threading.Thread(target=create_many, args=(w,)) for w in range(16)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert len(set(created)) == len(created) == 160


# --- lifecycle -------------------------------------------------------------------------------


def test_stop_frees_the_port_and_ends_every_thread() -> None:
    server = EmulatorServer(EmulatorConfig(port=0))
    server.start()
    port = int(server.url.rsplit(":", 1)[1])
    idle = httpx.Client(base_url=server.url)
    assert idle.get("/_emulator/stats").status_code == 200  # leaves a keep-alive connection
    server.stop()
    server.stop()

    assert emulator_threads() == []
    with pytest.raises(httpx.TransportError):
        idle.get("/_emulator/stats")
    idle.close()
    EmulatorServer(EmulatorConfig(port=port)).stop()
    with pytest.raises(RuntimeError):
        server.start()


def test_serve_forever_returns_after_stop() -> None:
    server = EmulatorServer(EmulatorConfig(port=0))
    answered: list[int] = []

    def use_then_stop() -> None:
        answered.append(httpx.get(f"{server.url}/_emulator/stats").status_code)
        server.stop()

    helper = threading.Thread(target=use_then_stop)
    helper.start()
    server.serve_forever()
    helper.join()
    assert answered == [200]
    assert emulator_threads() == []


def test_serve_announces_and_stops_on_sigterm() -> None:
    previous = signal.getsignal(signal.SIGTERM)
    announced: list[str] = []
    answered: list[int] = []
    helpers: list[threading.Thread] = []

    def announce(message: str) -> None:
        announced.append(message)

        def use_then_terminate() -> None:
            answered.append(httpx.get(message.rsplit(" ", 1)[1] + "/_emulator/stats").status_code)
            os.kill(os.getpid(), signal.SIGTERM)

        helpers.append(threading.Thread(target=use_then_terminate))
        helpers[0].start()

    serve(EmulatorConfig(port=0), announce)
    helpers[0].join()
    assert len(announced) == 1
    assert re.fullmatch(r"COR emulator listening on http://127\.0\.0\.1:\d+", announced[0])
    assert answered == [200]
    assert signal.getsignal(signal.SIGTERM) is previous
    assert emulator_threads() == []
