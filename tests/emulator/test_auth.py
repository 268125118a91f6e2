"""The emulator's tokens (emulator/auth.py), over the wire: the static token, the client
credentials flow, refresh and revocation; expiry with the pure `Emulator` and an injected clock.

Tests use the session's emulator, reset for each (`emulator`: tests/conftest.py; `api` and
`world`: tests/emulator/conftest.py); a test that needs another configuration starts its own.
"""

from __future__ import annotations

import base64

import httpx
import pytest

from reconciler.emulator import EmulatorConfig, EmulatorServer
from reconciler.emulator.app import Emulator
from reconciler.emulator.auth import Credentials
from reconciler.emulator.messages import Request
from tests.emulator.cases import (
    BASIC,
    TOKEN,
    C,
    bearer,
    sap,
)
from tests.harness import RunningEmulator


@pytest.mark.parametrize("header", [None, "Bearer wrong", "Bearer", TOKEN, BASIC])
@pytest.mark.parametrize(("method", "path"), [("POST", C), ("GET", "/v1/clients")])
def test_bad_or_missing_token_is_401(
    emulator: RunningEmulator, header: str | None, method: str, path: str
) -> None:
    headers = {} if header is None else {"Authorization": header}
    answer = httpx.request(method, emulator.url + path, headers=headers, json=sap(id="C", name="c"))
    assert answer.status_code == 401
    assert answer.json()["name"] == "UnauthorizedError"
    assert answer.headers["WWW-Authenticate"] == "Bearer"
    assert httpx.get(f"{emulator.url}/_emulator/records").json() == {"records": []}


def test_token_issue_refresh_and_revocation(emulator: RunningEmulator) -> None:
    with httpx.Client(base_url=emulator.url) as web:
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
    emulator: RunningEmulator, path: str, headers: dict[str, str], status: int
) -> None:
    answer = httpx.post(emulator.url + path, headers=headers)
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
