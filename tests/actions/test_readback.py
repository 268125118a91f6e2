"""Read-back (actions/readback.py): the recorded records read from COR, by the lists where that
takes fewer requests, else by COR id, in parallel; each failure classified, a record missing from
the lists confirmed by COR id, a failure every read would meet stopping them all.

The page shapes themselves: test_readback_pages.py; against the emulator:
test_readback_emulator.py; hostile pages through the CLI: tests/hostile/test_read_lists.py.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl

import pytest

from reconciler.actions.readback import read_live
from reconciler.core.drift import Gone, Unread
from reconciler.core.resources import Kind, Record
from reconciler.errors import ApiError, AuthError, NotFoundError, TransientError
from tests.builders import recorded

EMPTY_PAGE = {"total": 0, "perPage": 50, "page": 1, "lastPage": 1, "data": []}
Shape = Callable[[dict[str, Any], int], Mapping[str, Any]]


class FakeCor:
    """COR's read API as a function: the lists and the reads by COR id of `items` (plural →
    items, in COR id order). `shape(page, number)` makes a page's answer hostile; `cap` is the
    largest perPage the server grants; ids in `unlisted` are left out of the lists (as a list
    read while COR changes may skip one) but served by COR id."""

    def __init__(
        self,
        items: Mapping[str, list[dict[str, Any]]],
        *,
        shape: Shape | None = None,
        cap: int | None = None,
        unlisted: frozenset[int] = frozenset(),
        barrier: threading.Barrier | None = None,
    ) -> None:
        self.items, self.shape, self.cap, self.barrier = items, shape, cap, barrier
        self.listed = {
            plural: [item for item in each if item["id"] not in unlisted]
            for plural, each in items.items()
        }
        self.by_id = {(p, item["id"]): item for p, each in items.items() for item in each}
        self.calls: list[str] = []
        self._lock = threading.Lock()

    def __call__(self, path: str, subject: str = "") -> Mapping[str, Any]:
        with self._lock:
            self.calls.append(path)
        plural, _, query = path.partition("?")
        if query:
            return self._page(plural, dict(parse_qsl(query)))
        plural, cor_id = path.split("/")
        found = self.by_id.get((plural, int(cor_id)))
        if found is None:
            raise NotFoundError(f"GET /v1/{path}: 404 NotFoundError", status=404)
        return found

    def _page(self, plural: str, query: dict[str, str]) -> Mapping[str, Any]:
        number, per_page = int(query["page"]), int(query["perPage"])
        if number > 1 and self.barrier is not None:
            self.barrier.wait()
        per_page = min(per_page, self.cap or per_page)
        items = self.listed.get(plural, [])
        start = (number - 1) * per_page
        page = {
            "total": len(items),
            "perPage": per_page,
            "page": number,
            "lastPage": max(1, -(-len(items) // per_page)),
            "data": items[start : start + per_page],
        }
        return self.shape(page, number) if self.shape else page

    def pages_read(self) -> list[str]:
        return [call for call in self.calls if "?" in call]

    def ids_read(self) -> list[str]:
        return [call for call in self.calls if "?" not in call]


def catalogue(
    products: int, others: int = 0, brands: int = 3, clients: int = 1
) -> tuple[dict[str, list[dict[str, Any]]], list[Record]]:
    """COR's items and the state's records: `products` recorded products among `others` of
    another source (unrecorded), interleaved; `brands` brands and `clients` clients."""
    items: dict[str, list[dict[str, Any]]] = {
        "clients": [{"id": 25001 + c, "name": f"C{c}"} for c in range(clients)],
        "brands": [{"id": 3001 + b, "name": f"B{b}", "client_id": 25001} for b in range(brands)],
        "products": [],
    }
    records = [recorded("client", "SAP", f"C{c}", 25001 + c, name=f"C{c}") for c in range(clients)]
    records += [
        recorded("brand", "SAP", f"B{b}", 3001 + b, name=f"B{b}", client_id="C0")
        for b in range(brands)
    ]
    total = products + others
    theirs = {i * (total // others) for i in range(others)} if others else set()
    for p in range(total):
        cor_id = 52001 + p
        items["products"].append({"id": cor_id, "name": f"P{p}", "client_id": 25001})
        if p not in theirs:
            records.append(recorded("product", "SAP", f"P{p}", cor_id, name=f"P{p}"))
    return items, records


def expected_answers(cor: FakeCor, records: list[Record]) -> dict[str, Any]:
    return {str(r.key): cor.by_id[(r.key.kind.plural, r.cor_id)] for r in records}


def answers_by_name(reading_answers: Mapping[Any, Any]) -> dict[str, Any]:
    return {str(key): answer for key, answer in reading_answers.items()}


# --- the lists, and when they are used ---------------------------------------------------


def test_large_kinds_are_read_by_their_lists_and_tiny_ones_by_id() -> None:
    items, records = catalogue(products=120, others=80, brands=2)
    cor = FakeCor(items)
    warnings: list[str] = []
    reading = read_live(records, cor, parallelism=4, warn=warnings.append)
    assert answers_by_name(reading.answers) == expected_answers(cor, records)
    assert cor.ids_read() == ["clients/25001"]  # one client: by id
    assert sorted(cor.pages_read()) == sorted(
        ["brands?page=1&perPage=50"] + [f"products?page={n}&perPage=50" for n in range(1, 5)]
    )
    assert (reading.requests, reading.pages) == (6, 5)
    assert reading.listed == (Kind.BRAND, Kind.PRODUCT)
    assert warnings == []
    assert list(reading.answers) == sorted(reading.answers, key=lambda key: key.sort_key())


def test_a_few_records_in_a_long_list_are_read_by_id_after_page_one() -> None:
    items, records = catalogue(products=0, others=1000, brands=1)
    chosen = [52500, 52700, 52900]
    records += [recorded("product", "SAP", f"P{i}", i, name=f"P{i - 52001}") for i in chosen]
    cor = FakeCor(items)
    reading = read_live(records, cor, page_size=50)
    assert cor.pages_read() == ["products?page=1&perPage=50"]  # 19 pages more than 3 reads
    assert cor.ids_read() == ["clients/25001", "brands/3001", *(f"products/{i}" for i in chosen)]
    assert reading.requests == 6
    assert answers_by_name(reading.answers) == expected_answers(cor, records)


def test_the_remaining_pages_are_fetched_in_parallel() -> None:
    items, records = catalogue(products=250)  # 5 pages of 50: page 1, then 4 at once
    barrier = threading.Barrier(4, timeout=10)  # breaks unless 4 pages are in flight together
    cor = FakeCor(items, barrier=barrier)
    reading = read_live(records, cor, parallelism=4)
    assert len(cor.pages_read()) == 1 + 5  # brands, products
    assert answers_by_name(reading.answers) == expected_answers(cor, records)


def test_a_record_missing_from_the_lists_is_read_by_id_before_it_is_said_gone() -> None:
    items, records = catalogue(products=100)
    records.append(recorded("product", "SAP", "GONE", 59999, name="Gone"))
    cor = FakeCor(items, unlisted=frozenset({52010}))  # skipped by the list, alive by id
    reading = read_live(records, cor)
    answers = answers_by_name(reading.answers)
    assert answers["product SAP/P9"] == cor.by_id[("products", 52010)]
    assert answers["product SAP/GONE"] == Gone()
    assert sorted(cor.ids_read()) == ["clients/25001", "products/52010", "products/59999"]


def test_a_server_that_grants_fewer_per_page_is_read_by_its_own_page_size() -> None:
    items, records = catalogue(products=120)
    cor = FakeCor(items, cap=20)
    reading = read_live(records, cor)
    assert len([c for c in cor.pages_read() if c.startswith("products")]) == 6
    assert cor.ids_read() == ["clients/25001"]
    assert answers_by_name(reading.answers) == expected_answers(cor, records)


def _strings(page: dict[str, Any], number: int) -> Mapping[str, Any]:
    """Every count and id as a string (COR's examples show `total` as one)."""
    data = [{**item, "id": str(item["id"])} for item in page["data"]]
    return {**{k: str(v) for k, v in page.items() if k != "data"}, "data": data}


def _no_last_page(page: dict[str, Any], number: int) -> Mapping[str, Any]:
    return {k: v for k, v in page.items() if k != "lastPage"}


def _no_counts(page: dict[str, Any], number: int) -> Mapping[str, Any]:
    return {"data": page["data"]}


def _enveloped(page: dict[str, Any], number: int) -> Mapping[str, Any]:
    return {"statusCode": 200, "status": "success", "data": page}


@pytest.mark.parametrize(
    ("shape", "product_pages"),
    [
        pytest.param(_strings, 3, id="numeric-strings"),
        pytest.param(_no_last_page, 3, id="no-last-page"),
        pytest.param(_no_counts, 9, id="no-counts-until-a-short-page"),  # 1 + a wave of 8
        pytest.param(_enveloped, 3, id="enveloped"),
    ],
)
def test_every_plausible_page_shape_is_read(shape: Shape, product_pages: int) -> None:
    items, records = catalogue(products=120)
    cor = FakeCor(items, shape=shape)
    warnings: list[str] = []
    reading = read_live(records, cor, warn=warnings.append)
    assert warnings == []
    assert len([c for c in cor.pages_read() if c.startswith("products")]) == product_pages
    assert cor.ids_read() == ["clients/25001"]
    found = answers_by_name(reading.answers)
    assert {key: found[key]["name"] for key in found} == {
        str(r.key): r.attributes["name"] for r in records
    }


# --- hostile pages: never a hang, a crash, or a record said gone without a read by id -------


def _data_not_a_list(page: dict[str, Any], number: int) -> Mapping[str, Any]:
    return {**page, "data": "nothing here"}


def _items_not_objects(page: dict[str, Any], number: int) -> Mapping[str, Any]:
    return {**page, "data": [item["id"] for item in page["data"]]}


def _absurd_last_page(page: dict[str, Any], number: int) -> Mapping[str, Any]:
    return {**page, "lastPage": 10**12, "data": page["data"] if number < 4 else []}


class _RepeatsForever:
    """Page 1 again and again, without a count: a server that ignores `page`."""

    def __init__(self) -> None:
        self.first: list[Any] = []

    def __call__(self, page: dict[str, Any], number: int) -> Mapping[str, Any]:
        self.first = self.first or page["data"]
        return {"data": self.first}


def _another_page(page: dict[str, Any], number: int) -> Mapping[str, Any]:
    return {**page, "page": 1}


def _total_changes(page: dict[str, Any], number: int) -> Mapping[str, Any]:
    return {**page, "total": 10**9 if number > 1 else page["total"], "lastPage": 10**9}


@pytest.mark.parametrize(
    ("shape", "says"),
    [
        pytest.param(_data_not_a_list, "page 1 is not a page: its data is a string", id="data"),
        pytest.param(_items_not_objects, "page 1 is not a page: item 1 is a number", id="items"),
        pytest.param(_absurd_last_page, "", id="absurd-last-page"),
        pytest.param(_RepeatsForever(), "it repeats items listed before", id="repeats"),
        pytest.param(_another_page, "page 2 is not a page: it says it is page 1", id="page"),
        pytest.param(_total_changes, "", id="total-changes"),
    ],
)
def test_a_hostile_page_falls_back_to_reads_by_id(shape: Shape, says: str) -> None:
    items, records = catalogue(products=200, others=10, brands=1)
    cor = FakeCor(items, shape=shape)
    warnings: list[str] = []
    reading = read_live(records, cor, warn=warnings.append)
    assert answers_by_name(reading.answers) == expected_answers(cor, records)
    assert reading.requests <= len(records) + 1 + 1  # never more pages than records to read
    assert len(warnings) <= 1
    if says:
        assert says in warnings[0]
        assert warnings[0].startswith("the products list: page ")
        assert warnings[0].endswith(" not found in it read by COR id instead")


def test_a_page_that_fails_falls_back_to_reads_by_id_and_says_so_once() -> None:
    items, records = catalogue(products=120)
    cor = FakeCor(items)

    def read(path: str, subject: str = "") -> Mapping[str, Any]:
        if path.startswith("products?page=2"):
            raise ApiError("GET /v1/products: 400 ValidationError: perPage too large", status=400)
        return cor(path, subject)

    warnings: list[str] = []
    reading = read_live(records, read, parallelism=1, warn=warnings.append)
    assert answers_by_name(reading.answers) == expected_answers(cor, records)
    assert warnings == [
        "the products list: page 2 could not be read: GET /v1/products: 400 ValidationError: "
        "perPage too large; 70 records not found in it read by COR id instead"
    ]  # page 3, not yet sent, is not sent
    assert len(cor.ids_read()) == 1 + 70
    assert reading.listed == (Kind.BRAND, Kind.PRODUCT)


# --- failures by COR id, and the stop policy ------------------------------------------------


def _with_empty_lists(read: Callable[[str], Mapping[str, Any]]) -> Any:
    def fake(path: str, subject: str = "") -> Mapping[str, Any]:
        return EMPTY_PAGE if "?" in path else read(path)

    return fake


def test_reads_by_id_run_in_parallel_and_classify_failures() -> None:
    records = [
        recorded("client", "SF", f"C{i}", 25000 + i, name="x") for i in range(4)
    ]  # fmt: skip
    barrier = threading.Barrier(4, timeout=10)  # breaks unless 4 reads are in flight together
    failures: dict[str, ApiError] = {
        "clients/25001": NotFoundError("404 ClientNotFoundError", status=404),
        "clients/25002": NotFoundError("404 RouteNotFoundError", name="RouteNotFoundError"),
        "clients/25003": TransientError("GET /v1/clients/25003: 503 (gave up after 5 attempts)"),
    }

    def read(path: str) -> Mapping[str, Any]:
        barrier.wait()
        if path in failures:
            raise failures[path]
        return {"id": 25000, "name": "x"}

    reading = read_live(records, _with_empty_lists(read), parallelism=4)
    assert list(reading.answers.values()) == [
        {"id": 25000, "name": "x"},
        Gone(),
        Unread("404 RouteNotFoundError (is the read API URL right?)"),
        Unread("GET /v1/clients/25003: 503 (gave up after 5 attempts)"),
    ]
    assert (reading.requests, reading.pages, reading.listed) == (5, 1, (Kind.CLIENT,))


def test_an_authentication_failure_stops_the_reads() -> None:
    records = [recorded("client", "SF", f"C{i}", i, name="x") for i in range(20)]
    calls: list[str] = []

    def read(path: str, subject: str = "") -> Mapping[str, Any]:
        calls.append(path)
        raise AuthError("401: refused", status=401)

    with pytest.raises(AuthError):
        read_live(records, read, parallelism=1)
    assert calls == ["clients?page=1&perPage=50"]


def test_cor_down_as_a_whole_stops_the_reads_after_five_give_ups_in_a_row() -> None:
    records = [recorded("client", "SF", f"C{i:02}", i, name="x") for i in range(20)]
    calls: list[str] = []
    warnings: list[str] = []

    def read(path: str, subject: str = "") -> Mapping[str, Any]:
        calls.append(path)
        raise TransientError(f"GET /v1/{path}: ConnectError (gave up after 5 attempts)")

    reading = read_live(records, read, parallelism=1, warn=warnings.append)
    answers = list(reading.answers.values())
    assert calls == [
        "clients?page=1&perPage=50",
        "clients/0",
        "clients/1",
        "clients/2",
        "clients/3",
    ]
    assert answers[3] == Unread("GET /v1/clients/3: ConnectError (gave up after 5 attempts)")
    assert answers[4] == Unread(
        "not read: the reads were stopped (COR looks down: 5 requests in a row failed after "
        "their retries, the last: GET /v1/clients/3: ConnectError (gave up after 5 attempts))"
    )
    assert len(answers) == 20
    assert reading.requests == 5
    assert warnings == [
        "the clients list: page 1 could not be read: GET /v1/clients?page=1&perPage=50: "
        "ConnectError (gave up after 5 attempts); 20 records not found in it read by COR id "
        "instead"
    ]


def test_each_read_names_its_record_or_page_for_the_retry_lines() -> None:
    records = [recorded("client", "SF", "C1", 25001, name="x"), recorded("brand", "SF", "B1", 7)]
    records += [recorded("product", "SF", f"P{i}", i) for i in range(2)]
    subjects: dict[str, str] = {}

    def read(path: str, subject: str = "") -> Mapping[str, Any]:
        subjects[path] = subject
        return EMPTY_PAGE if "?" in path else {"id": 1}

    read_live(records, read, parallelism=1)
    assert subjects == {
        "clients/25001": "client SF/C1",
        "brands/7": "brand SF/B1",
        "products?page=1&perPage=50": "products page 1",
        "products/0": "product SF/P0",
        "products/1": "product SF/P1",
    }


def test_no_records_no_requests() -> None:
    reading = read_live([], _with_empty_lists(lambda _p: {}))
    assert (reading.answers, reading.requests, reading.pages, reading.listed) == ({}, 0, 0, ())


@pytest.mark.parametrize(("parallelism", "page_size"), [(0, 50), (8, 0)])
def test_parallelism_and_page_size_are_at_least_one(parallelism: int, page_size: int) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        read_live(
            [], _with_empty_lists(lambda _p: {}), parallelism=parallelism, page_size=page_size
        )
