"""Random faults of the COR emulator (emulator/chaos.py): fail rate, rate limit, lost answers,
token TTL, seed.

Shares and sequences use the pure `Emulator` with a seed and an injected clock (no sleeping);
what the client sees on the wire (status, Retry-After, a closed connection, an expired token)
is checked against a real server on 127.0.0.1.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from reconciler.emulator import EmulatorConfig, EmulatorServer
from reconciler.emulator.app import Emulator
from reconciler.emulator.auth import Credentials
from reconciler.emulator.chaos import Chaos
from reconciler.emulator.messages import Request, Response
from tests.emulator.cases import BASIC, TOKEN, C, bearer, records, sap

AUTH = f"Bearer {TOKEN}"
NO_FAULTS = {"fail": 0, "rate_limited": 0, "lost": 0}
ERROR_NAMES = {
    429: "TooManyRequestsError",
    500: "InternalServerError",
    502: "BadGatewayError",
    503: "ServiceUnavailableError",
}


def pure(now: list[float], **chaos: Any) -> Emulator:
    """An emulator without sockets whose clock (and rate-limit clock) is `now[0]`."""

    def clock() -> float:
        return now[0]

    credentials = Credentials(TOKEN, "demo-key", "demo-secret", 60)
    return Emulator(credentials, clock=clock, chaos=Chaos(clock=clock, **chaos))


def create(emulator: Emulator, n: int, authorization: str = AUTH) -> Response:
    payload = json.dumps(sap(id=f"C{n}", name="c")).encode()
    return emulator.handle(Request("POST", C, {}, authorization, payload))


def control(emulator: Emulator, method: str, name: str) -> Response:
    return emulator.handle(Request(method, f"/_emulator/{name}"))


def outcome(response: Response) -> int | str:
    return "lost" if response.drop else response.status


def assert_error_body(response: httpx.Response | Response) -> None:
    status = response.status_code if isinstance(response, httpx.Response) else response.status
    body = response.json() if isinstance(response, httpx.Response) else response.body
    assert list(body) == ["status", "name", "code", "message"]
    assert (body["status"], body["name"], body["code"]) == (status, ERROR_NAMES[status], None)


@pytest.fixture
def chaotic(request: pytest.FixtureRequest) -> Iterator[EmulatorServer]:
    """A real server on a free port; the (indirect) parameter holds its EmulatorConfig fields."""
    with EmulatorServer(EmulatorConfig(port=0, **request.param)) as running:
        yield running


# --- fail_rate -------------------------------------------------------------------------------


@pytest.mark.parametrize("chaotic", [{"fail_rate": 1.0, "seed": 1}], indirect=True)
def test_fail_rate_one_answers_only_5xx_and_changes_nothing(chaotic: EmulatorServer) -> None:
    with httpx.Client(base_url=chaotic.url, headers=bearer(TOKEN)) as api:
        answers = [api.post(C, json=sap(id=f"C{n}", name="c")) for n in range(20)]
        answers += [api.put(f"{C}/C{n}", json=sap(name="d")) for n in range(5)]
        answers += [api.request("DELETE", f"{C}/C{n}", json=sap()) for n in range(5)]

        assert {a.status_code for a in answers} == {500, 502, 503}
        for answer in answers:
            assert_error_body(answer)
        assert records(api) == []
        stats = api.get("/_emulator/stats").json()
        assert stats["faults"] == {**NO_FAULTS, "fail": 30}
        assert stats["total"] == 30


def test_fail_rate_share_in_a_loose_band_and_nothing_changed_by_failures() -> None:
    emulator = pure([0.0], fail_rate=0.3, seed=7)
    outcomes = Counter(outcome(create(emulator, n)) for n in range(300))

    failed = outcomes[500] + outcomes[502] + outcomes[503]
    assert 45 <= failed <= 135, outcomes
    assert min(outcomes[500], outcomes[502], outcomes[503]) > 0, outcomes
    assert outcomes[201] == 300 - failed
    assert len(emulator.store.entities()) == outcomes[201]


def test_same_seed_same_outcomes_and_reset_starts_over() -> None:
    def run_of(emulator: Emulator, first: int) -> list[int | str]:
        return [outcome(create(emulator, n)) for n in range(first, first + 100)]

    settings = {"fail_rate": 0.3, "lost_response_rate": 0.2}
    one, two = pure([0.0], seed=7, **settings), pure([0.0], seed=7, **settings)
    sequence = run_of(one, 0)

    assert set(sequence) == {201, 500, 502, 503, "lost"}
    assert run_of(two, 0) == sequence
    assert run_of(pure([0.0], seed=8, **settings), 0) != sequence
    assert control(one, "POST", "reset").status == 200
    assert run_of(one, 0) == sequence  # reseeded: the same ids meet the same luck


# --- rate_limit ------------------------------------------------------------------------------


def test_rate_limit_answers_429_with_retry_after_until_tokens_refill() -> None:
    now = [1000.0]
    emulator = pure(now, rate_limit=5)
    burst = [create(emulator, n) for n in range(8)]

    assert [a.status for a in burst] == [201] * 5 + [429] * 3
    for refused in burst[5:]:
        assert_error_body(refused)
        assert dict(refused.headers)["Retry-After"] == "1"
    assert len(emulator.store.entities()) == 5

    now[0] += 0.2  # one token back
    assert [create(emulator, n).status for n in range(10, 12)] == [201, 429]
    now[0] += 5.0  # the bucket holds at most 5
    assert [create(emulator, n).status for n in range(20, 26)] == [201] * 5 + [429]
    stats = control(emulator, "GET", "stats").body
    assert stats["faults"] == {**NO_FAULTS, "rate_limited": 5}


@pytest.mark.parametrize(("rate", "retry_after"), [(0.25, "4"), (0.4, "3"), (1000, "1")])
def test_retry_after_is_the_wait_for_a_token_in_whole_seconds(
    rate: float, retry_after: str
) -> None:
    emulator = pure([0.0], rate_limit=rate)
    spent = [create(emulator, n).status for n in range(int(max(1, rate)))]
    refused = create(emulator, 9999)

    assert set(spent) == {201}
    assert refused.status == 429
    assert dict(refused.headers)["Retry-After"] == retry_after


@pytest.mark.parametrize("chaotic", [{"rate_limit": 10}], indirect=True)
def test_rate_limit_over_the_wire_spares_tokens_and_control(chaotic: EmulatorServer) -> None:
    with httpx.Client(base_url=chaotic.url, headers=bearer(TOKEN)) as api:
        answers = [api.post(C, json=sap(id=f"C{n}", name="c")) for n in range(30)]
        passed = [a for a in answers if a.status_code == 201]
        refused = [a for a in answers if a.status_code != 201]

        assert 10 <= len(passed) <= 20  # ten at once, plus the refill of a slow machine
        assert {a.status_code for a in refused} == {429}
        assert all(int(a.headers["Retry-After"]) >= 1 for a in refused)
        assert len(records(api)) == len(passed)
        token = api.post(
            "/v1/oauth/token?grant_type=client_credentials", headers={"Authorization": BASIC}
        )
        assert token.status_code == 200
        assert api.get("/v1/clients").status_code == 200

        time.sleep(0.25)  # 2.5 tokens back
        assert api.post(C, json=sap(id="late", name="c")).status_code == 201


# --- order of the checks ---------------------------------------------------------------------


def test_checks_run_in_order_auth_rate_limit_failure_injected_fault() -> None:
    emulator = pure([0.0], rate_limit=1, fail_rate=1.0, seed=1)
    fault = json.dumps({"status": 400, "times": 1}).encode()
    assert emulator.handle(Request("POST", "/_emulator/faults", body=fault)).status == 201

    assert create(emulator, 1, authorization="Bearer wrong").status == 401
    assert create(emulator, 2).status in {500, 502, 503}  # the one token spent, then failed
    assert create(emulator, 3).status == 429
    assert len(control(emulator, "GET", "faults").body["faults"]) == 1  # never reached


# --- lost_response_rate ----------------------------------------------------------------------


@pytest.mark.parametrize("chaotic", [{"lost_response_rate": 1.0, "seed": 1}], indirect=True)
def test_lost_response_commits_the_create_but_closes_unanswered(chaotic: EmulatorServer) -> None:
    with httpx.Client(base_url=chaotic.url, headers=bearer(TOKEN)) as api:
        with pytest.raises(httpx.RemoteProtocolError):
            api.post(C, json=sap(id="C1", name="c"))
        with pytest.raises(httpx.RemoteProtocolError):
            api.post(C, json=sap(id="C1", name="c"))  # a duplicate, decided and lost too

        [created] = records(api)
        assert (created["id"], created["attributes"]) == ("C1", {"name": "c"})
        assert api.get("/_emulator/stats").json()["faults"] == {**NO_FAULTS, "lost": 2}


# --- token_ttl -------------------------------------------------------------------------------


@pytest.mark.parametrize("chaotic", [{"token": None, "token_ttl": 1}], indirect=True)
def test_issued_token_really_expires_after_a_short_ttl(chaotic: EmulatorServer) -> None:
    with httpx.Client(base_url=chaotic.url) as web:

        def grant() -> dict[str, Any]:
            issued = web.post(
                "/v1/oauth/token?grant_type=client_credentials", headers={"Authorization": BASIC}
            )
            assert issued.status_code == 200
            body: dict[str, Any] = issued.json()
            return body

        first = grant()
        assert first["expires_in"] == 1
        access = bearer(first["access_token"])
        assert web.post(C, headers=access, json=sap(id="C1", name="c")).status_code == 201

        time.sleep(1.2)
        expired = web.post(C, headers=access, json=sap(id="C2", name="c"))
        assert (expired.status_code, expired.json()["name"]) == (401, "UnauthorizedError")
        assert web.get("/v1/clients", headers=access).status_code == 401
        fresh = bearer(grant()["access_token"])
        assert web.post(C, headers=fresh, json=sap(id="C2", name="c")).status_code == 201


# --- what is never subject to random faults --------------------------------------------------

ALL_FAULTS = {"fail_rate": 1.0, "lost_response_rate": 1.0, "rate_limit": 1, "seed": 3}


@pytest.mark.parametrize("chaotic", [ALL_FAULTS], indirect=True)
def test_control_and_token_endpoints_never_fail(chaotic: EmulatorServer) -> None:
    calls = [
        ("GET", "/_emulator/records", None, 200),
        ("GET", "/_emulator/stats", None, 200),
        ("POST", "/_emulator/faults", {"status": 500}, 201),
        ("GET", "/_emulator/faults", None, 200),
        ("DELETE", "/_emulator/faults", None, 200),
        ("POST", "/_emulator/mutate", {"kind": "client", "source": "SAP", "id": "X"}, 400),
        ("POST", "/_emulator/reset", None, 200),
        ("POST", "/v1/oauth/token?grant_type=client_credentials", None, 200),
    ]
    with httpx.Client(base_url=chaotic.url, headers={"Authorization": BASIC}) as web:
        for _ in range(5):
            for method, path, payload, status in calls:
                assert web.request(method, path, json=payload).status_code == status, path
        refresh = web.post(
            "/v1/oauth/token?grant_type=client_credentials", headers={"Authorization": BASIC}
        ).json()["refresh_token"]
        assert (
            web.post("/v1/oauth/refreshtoken", data={"refresh_token": refresh}).status_code == 200
        )
        assert web.get("/_emulator/stats").json()["faults"] == NO_FAULTS

        assert web.post(C, headers=bearer(TOKEN), json=sap(id="C", name="c")).status_code in {
            500,
            502,
            503,
        }  # the faults are on: only the /v2 requests meet them


# --- configuration -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "settings",
    [
        {"fail_rate": -0.1},
        {"fail_rate": 1.5},
        {"fail_rate": float("nan")},
        {"lost_response_rate": 2.0},
        {"rate_limit": 0},
        {"rate_limit": -3.0},
        {"token_ttl": 0},
    ],
)
def test_config_refuses_settings_out_of_range(settings: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=next(iter(settings))):
        EmulatorConfig(port=0, **settings)


def test_without_random_faults_nothing_is_drawn_or_counted() -> None:
    emulator = pure([0.0])
    assert {outcome(create(emulator, n)) for n in range(50)} == {201}
    assert control(emulator, "GET", "stats").body["faults"] == NO_FAULTS


# --- throttle_rate ---------------------------------------------------------------------------


def test_throttle_rate_answers_a_share_429_with_retry_after_beside_the_5xx_share() -> None:
    emulator = pure([0.0], throttle_rate=0.1, fail_rate=0.2, seed=3, throttle_retry_after=0)
    answers = [create(emulator, n) for n in range(1000)]
    throttled = [a for a in answers if a.status == 429]
    failed = [a for a in answers if a.status in (500, 502, 503)]
    assert 60 <= len(throttled) <= 140
    assert 140 <= len(failed) <= 260
    assert {dict(a.headers)["Retry-After"] for a in throttled} == {"0"}
    for answer in throttled:
        assert_error_body(answer)
    assert len(emulator.store.entities()) == 1000 - len(throttled) - len(failed)
    stats = control(emulator, "GET", "stats").body["faults"]
    assert stats == {"fail": len(failed), "rate_limited": len(throttled), "lost": 0}


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"throttle_rate": 1.5}, "throttle_rate must be between 0 and 1"),
        ({"throttle_rate": 0.6, "fail_rate": 0.6}, "together must be at most 1"),
        ({"throttle_retry_after": -1}, "throttle_retry_after must be whole seconds"),
    ],
)
def test_throttle_settings_out_of_range_are_refused(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        EmulatorConfig(port=0, **settings)
