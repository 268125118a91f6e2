"""The emulator's HTTP shell (emulator/server.py): keep-alive, Content-Length, JSON for every
answer, latency, concurrent connections; a clean stop that frees the port and ends every thread.

Tests use the session's emulator, reset for each (`emulator`: tests/conftest.py; `api` and
`world`: tests/emulator/conftest.py); a test that needs another configuration starts its own.
"""

from __future__ import annotations

import http.client
import os
import re
import signal
import threading
import time

import httpx
import pytest

from reconciler.core.resources import Kind
from reconciler.emulator import EmulatorConfig, EmulatorServer, serve
from tests.emulator.cases import (
    TOKEN,
    C,
    bearer,
    sap,
)
from tests.harness import RunningEmulator


def emulator_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith("cor-emulator")}


# --- HTTP ------------------------------------------------------------------------------------


def test_keep_alive_and_content_length_on_every_answer(emulator: RunningEmulator) -> None:
    connection = http.client.HTTPConnection(emulator.url.removeprefix("http://"), timeout=10)
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


def test_latency_is_added_to_read_api_answers() -> None:
    """How the refresh benchmark makes every read take 20 ms: pages and reads by id alike."""
    with (
        EmulatorServer(EmulatorConfig(port=0, latency_ms=150)) as server,
        httpx.Client(base_url=server.url, headers=bearer(TOKEN), timeout=10) as web,
    ):
        cor_id = server.store.create(Kind.CLIENT, "SAP", "C1", {"name": "c"}).cor_id
        for path in ("/v1/clients?page=1&perPage=50", f"/v1/clients/{cor_id}"):
            started = time.monotonic()
            assert web.get(path).status_code == 200
            assert time.monotonic() - started >= 0.14, path


def test_concurrent_creates_get_distinct_cor_ids(emulator: RunningEmulator) -> None:
    created: list[int] = []

    def create_many(worker: int) -> None:
        with httpx.Client(base_url=emulator.url, headers=bearer(TOKEN), timeout=10) as web:
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
    others = emulator_threads()  # the session's emulator, serving other tests
    server = EmulatorServer(EmulatorConfig(port=0))
    server.start()
    port = int(server.url.rsplit(":", 1)[1])
    idle = httpx.Client(base_url=server.url)
    assert idle.get("/_emulator/stats").status_code == 200  # leaves a keep-alive connection
    server.stop()
    server.stop()

    assert emulator_threads() - others == set()
    with pytest.raises(httpx.TransportError):
        idle.get("/_emulator/stats")
    idle.close()
    EmulatorServer(EmulatorConfig(port=port)).stop()
    with pytest.raises(RuntimeError):
        server.start()


def test_serve_forever_returns_after_stop() -> None:
    others = emulator_threads()
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
    assert emulator_threads() - others == set()


def test_serve_announces_and_stops_on_sigterm() -> None:
    others = emulator_threads()
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
    assert emulator_threads() - others == set()
