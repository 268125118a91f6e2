"""One page of COR's read-API lists (actions/pages.py): every plausible shape read, every
malformed one said why, counts bounded; a table of answers in, pages out."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.actions.pages import Malformed, Page, read_page

ITEM = {"id": 52001, "name": "P"}


@pytest.mark.parametrize(
    ("answer", "counts", "ids"),
    [
        pytest.param(
            {"total": 120, "perPage": 50, "page": 1, "lastPage": 3, "data": [ITEM]},
            (120, 50, 1, 3),
            [52001],
            id="numbers",
        ),
        pytest.param(
            {"total": "120", "perPage": "50", "page": "1", "lastPage": "3", "data": [ITEM]},
            (120, 50, 1, 3),
            [52001],
            id="numeric-strings",
        ),
        pytest.param(
            {"data": [{"id": "52001"}, {"id": 52002.0}]},
            (None, None, None, None),
            [52001, 52002],
            id="ids-as-strings-and-floats",
        ),
        pytest.param(
            {"statusCode": 200, "status": "success", "data": {"total": 1, "data": [ITEM]}},
            (1, None, None, None),
            [52001],
            id="enveloped",
        ),
        pytest.param(
            {"total": -1, "perPage": 0, "page": True, "lastPage": "9" * 19, "data": []},
            (None, None, None, None),
            [],
            id="not-counts-are-not-told",
        ),
        pytest.param(
            {"total": 10**30, "perPage": float("nan"), "lastPage": 1e300, "data": []},
            (None, None, None, None),
            [],
            id="huge-counts-are-not-told",
        ),
    ],
)
def test_a_page_is_read_in_every_plausible_shape(
    answer: dict[str, Any], counts: tuple[int | None, ...], ids: list[int]
) -> None:
    page = read_page(answer)
    assert isinstance(page, Page)
    assert (page.total, page.per_page, page.page, page.last_page) == counts
    assert [cor_id for cor_id, _ in page.items] == ids


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ({"total": 1}, "it has no data"),
        ({"data": None}, "its data is null, not a list"),
        ({"data": "x"}, "its data is a string, not a list"),
        ({"data": {"id": 1}}, "its data is an object, not a list"),
        ({"status": "success", "data": {"total": 1}}, "it has no data"),  # an envelope
        ({"data": [ITEM, [1]]}, "item 2 is a list, not an object"),
        ({"data": [None]}, "item 1 is null, not an object"),
        ({"data": [{"name": "no id"}]}, "item 1 has no COR id (a number)"),
        ({"data": [{"id": "9" * 5000}]}, "item 1 has no COR id (a number)"),
        ({"data": [{"id": True}]}, "item 1 has no COR id (a number)"),
    ],
)
def test_a_malformed_page_says_why(answer: dict[str, Any], reason: str) -> None:
    assert read_page(answer) == Malformed(reason)


@pytest.mark.parametrize(
    ("total", "per_page", "last_page", "asked", "count"),
    [
        (120, 50, 3, 50, 3),
        (120, 50, None, 50, 3),  # from the total
        (120, 20, None, 50, 6),  # the server's perPage, not the one asked
        (120, None, None, 50, 3),  # the one asked, when the server says none
        (None, None, 7, 50, 7),  # lastPage alone
        (120, 50, 10**12, 50, 4),  # an absurd lastPage: bounded by the total, plus one
        (120, 50, 2, 50, 2),  # lastPage below what the total says: lastPage
        (None, None, None, 50, None),  # nothing told: page by page
        (0, 50, 1, 50, 1),
    ],
)
def test_how_many_pages(
    total: int | None, per_page: int | None, last_page: int | None, asked: int, count: int | None
) -> None:
    page = Page((), total, per_page, 1, last_page)
    assert page.page_count(asked) == count
