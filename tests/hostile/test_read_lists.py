"""Hostile inputs, "COR's answers and the network" (docs/hostile-inputs.md): pages of the read
API's lists that are not pages, that never end, that lie about their counts or leave a record
out, met by `reconciler audit --remote`.

Each row applies a SAP catalogue (1 client, 2 brands, 80 products) to the emulator, then audits
it through a relay on 127.0.0.1 that passes reads by COR id through and bends every list page.
Besides `assert_clean`, each row checks what must never happen: a record said deleted that COR
holds (a list is never believed without a read by COR id), more requests than two a record
(a list never costs more than reading by id would), a hang, a traceback.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from tests.harness import Cli, QuietHandler, RunningEmulator, WorkFolder, serving
from tests.hostile.checks import assert_clean
from tests.samples import catalogue

RECORDS = 1 + 2 + 80
Bend = Callable[[dict[str, Any], int], Any]  # a page as the emulator answered it, its number


class _BentReadApi(ThreadingHTTPServer):
    """Relays GETs to the emulator's read API; every list page goes through `bend` first."""

    def __init__(self, upstream: str, bend: Bend) -> None:
        self.upstream, self.bend = upstream, bend
        self.seen: list[str] = []
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Relay)


class _Relay(QuietHandler):
    server: _BentReadApi

    def do_GET(self) -> None:
        server = self.server
        with server.lock:
            server.seen.append(self.path)
        headers = {"Authorization": self.headers["Authorization"]}
        answer = httpx.get(server.upstream + self.path, headers=headers)
        body = answer.content
        query = dict(parse_qsl(urlsplit(self.path).query))
        if answer.status_code == 200 and "page" in query:
            body = json.dumps(server.bend(answer.json(), int(query["page"]))).encode()
        self.answer(answer.status_code, body, "application/json")


@pytest.fixture
def applied(work_folder: WorkFolder, emulator_env: RunningEmulator, cli: Cli) -> Path:
    folder = work_folder({"sap.yaml": catalogue(1, 2, 40)})
    assert cli("apply", "--auto-approve")[0] == 0
    return folder


@pytest.fixture
def relay(
    applied: Path, emulator: RunningEmulator, request: pytest.FixtureRequest
) -> Iterator[_BentReadApi]:
    server = _BentReadApi(emulator.url, request.param)
    with serving(server):
        yield server


def _data_not_a_list(page: dict[str, Any], number: int) -> Any:
    return {**page, "data": {"items": page["data"]}}


def _items_not_objects(page: dict[str, Any], number: int) -> Any:
    return {**page, "data": [json.dumps(item) for item in page["data"]]}


def _absurd_last_page(page: dict[str, Any], number: int) -> Any:
    return {**page, "lastPage": 10**15}


class _RepeatsForever:
    """Page 1 again and again, full and without a count: a server that ignores `page`."""

    def __init__(self) -> None:
        self.first: dict[str, list[Any]] = {}

    def __call__(self, page: dict[str, Any], number: int) -> Any:
        kind = "products" if page["data"] and "brand_id" in page["data"][0] else "other"
        self.first.setdefault(kind, page["data"])  # brands: 2, a short page 1, the only one
        return {"data": self.first[kind]}


def _total_changes(page: dict[str, Any], number: int) -> Any:
    return {**page, "total": str(page["total"] * 1000 if number > 1 else page["total"])}


def _skips_a_record(page: dict[str, Any], number: int) -> Any:
    return {**page, "data": page["data"][1:] if number == 2 else page["data"]}


def _another_page(page: dict[str, Any], number: int) -> Any:
    return {**page, "page": 1}


_WARNING = re.compile(r"warning: the (clients|brands|products) list: .*")


@pytest.mark.parametrize(
    ("relay", "warned"),  # warned: what each warning line says (None: no warning)
    [
        pytest.param(
            _data_not_a_list, "its data is an object, not a list", id="list-data-not-a-list"
        ),
        pytest.param(
            _items_not_objects, "item 1 is a string, not an object", id="list-items-not-objects"
        ),
        pytest.param(_absurd_last_page, None, id="list-absurd-last-page"),
        pytest.param(
            _RepeatsForever(), "it repeats items listed before", id="list-page-repeats-forever"
        ),
        pytest.param(_total_changes, None, id="list-total-changes"),
        pytest.param(_skips_a_record, None, id="list-skips-a-record"),
        pytest.param(
            _another_page,
            "page 2 is not a page: it says it is page 1",
            id="list-answers-another-page",
        ),
    ],
    indirect=["relay"],
)
def test_a_hostile_list_never_says_a_held_record_deleted(
    relay: _BentReadApi, cli: Cli, warned: str | None
) -> None:
    url = f"http://127.0.0.1:{relay.server_address[1]}/v1"
    code, out, err = cli("audit", "--remote", "--read-api-url", url, "--detailed-exitcode")
    assert_clean(code, out, err, exit_code=0, says="Audit: all agree.")
    assert "deleted" not in out
    warnings = [line for line in err.splitlines() if line.startswith("warning: ")]
    kinds = [found[1] for found in map(_WARNING.fullmatch, warnings) if found]
    assert len(kinds) == len(set(kinds)) == len(warnings), err  # once a kind at most
    assert bool(warnings) == (warned is not None), err
    assert all(str(warned) in line for line in warnings), err
    assert len(relay.seen) <= 2 * RECORDS
    said = re.search(r"Read 83 records from COR in (\d+) requests\.", err)
    assert said is not None, err
    assert int(said[1]) == len(relay.seen)
