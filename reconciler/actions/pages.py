"""One page of COR's read-API lists (`GET /v1/products?page=N&perPage=P`), read in every shape
the docs leave open (cor-api.md, "Reading back" and open question 8).

Pure: a page's answer in, a `Page` (or why it is `Malformed`) out; `actions/readback.py` does the
reading. A page is `{"total", "perPage", "page", "lastPage", "data": [...]}`, bare or in an
envelope (`{"statusCode": 200, "status": "success", "data": {...the page...}}`); its counts are
numbers or numeric strings, any of them may be missing; each item is an object whose `id` is
COR's id, a number or a numeric string. Imports core values only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from reconciler.core.resources import parse_cor_id

MAX_DIGITS = 18  # of a count or an id written as a string: int() of a long one is slow, or fails


@dataclass(frozen=True)
class Page:
    """What one page holds: its items by COR id, in order, and the counts it told (None: not
    told, or not a count)."""

    items: tuple[tuple[int, Mapping[str, object]], ...]
    total: int | None
    per_page: int | None
    page: int | None
    last_page: int | None

    def page_count(self, asked_per_page: int) -> int | None:
        """How many pages the list holds, as far as this page tells: `lastPage`, bounded by what
        `total` allows (plus one, for records created while reading); else from `total` and the
        answered `perPage` (or the asked one); None when it tells neither."""
        per_page = self.per_page or asked_per_page
        from_total = None if self.total is None else -(-self.total // per_page)
        if self.last_page is None:
            return from_total
        if from_total is None:
            return self.last_page
        return min(self.last_page, from_total + 1)


@dataclass(frozen=True)
class Malformed:
    """A page that is not a page: `reason` says what is wrong, for one warning line."""

    reason: str


def read_page(answer: Mapping[str, object]) -> Page | Malformed:
    """The page in `answer` (bare or enveloped), or why it is none."""
    data = answer.get("data")
    if isinstance(data, Mapping) and (
        "data" in data or "statusCode" in answer or "status" in answer
    ):
        answer, data = data, data.get("data")  # an envelope around the page
    if "data" not in answer:
        return Malformed("it has no data")
    if not isinstance(data, list):
        return Malformed(f"its data is {_what(data)}, not a list")
    items: list[tuple[int, Mapping[str, object]]] = []
    for place, item in enumerate(data, 1):
        if not isinstance(item, Mapping):
            return Malformed(f"item {place} is {_what(item)}, not an object")
        cor_id = _number(item.get("id"))
        if cor_id is None:
            return Malformed(f"item {place} has no COR id (a number)")
        items.append((cor_id, item))
    return Page(
        tuple(items),
        _number(answer.get("total")),
        _positive(answer.get("perPage")),
        _positive(answer.get("page")),
        _positive(answer.get("lastPage")),
    )


def _number(value: object) -> int | None:
    """A whole number ≥ 0 as a number or a string of digits (parse_cor_id), else None."""
    if isinstance(value, str) and len(value.strip()) > MAX_DIGITS:
        return None
    if isinstance(value, float) and not abs(value) < 2**63:  # NaN and infinities too
        return None
    number = parse_cor_id(value)
    return None if number is None or number.bit_length() > 63 else number


def _positive(value: object) -> int | None:
    number = _number(value)
    return number if number else None


def _what(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    return "a number" if isinstance(value, (int, float)) else type(value).__name__
