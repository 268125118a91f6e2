"""validate.check_declared: cross-entity checks over Declared values, no files involved."""

from __future__ import annotations

import pytest

from reconciler.core.resources import Declared, Kind, ResourceKey
from reconciler.core.validation import check_declared
from reconciler.errors import Location


def _declared(kind: Kind, source: str, id_: str, line: int, **attributes: str) -> Declared:
    """An entity on line `line` of m.yaml: id at col 9, field n at col 20 + n."""
    return Declared(
        key=ResourceKey(kind, source, id_),
        attributes=attributes,
        location=Location("m.yaml", line, 9),
        field_locations={
            name: Location("m.yaml", line, 20 + n) for n, name in enumerate(attributes)
        },
    )


ACME = _declared(Kind.CLIENT, "SALESFORCE", "ACME", 1, name="Acme")
GLOBEX = _declared(Kind.CLIENT, "SALESFORCE", "GLOBEX", 2, name="Globex")
ROAD = _declared(Kind.BRAND, "SALESFORCE", "ROAD", 3, name="Road", client_id="ACME")
DYN_ACME = _declared(Kind.CLIENT, "MICROSOFT_DYNAMICS", "ACME", 4, name="Acme (Dynamics)")


def _product(line: int, client_id: str, brand_id: str, source: str = "SALESFORCE") -> Declared:
    return _declared(
        Kind.PRODUCT, source, f"P{line}", line, name="P", client_id=client_id, brand_id=brand_id
    )


CASES = [
    pytest.param([ACME, GLOBEX, ROAD, _product(5, "ACME", "ROAD")], [], id="valid"),
    pytest.param(
        [ACME, GLOBEX, _declared(Kind.CLIENT, "SALESFORCE", "ACME", 7, name="Again")],
        [
            'm.yaml:7:9: duplicate client id "ACME" in source SALESFORCE: '
            "first declared at m.yaml:1:9"
        ],
        id="duplicate-at-second-place",
    ),
    pytest.param(
        [ACME, ROAD, ROAD],
        [
            'm.yaml:3:9: duplicate brand id "ROAD" in source SALESFORCE: first declared at '
            "m.yaml:3:9 (a YAML alias repeats the entry)"
        ],
        id="duplicate-through-alias",
    ),
    pytest.param(
        [ACME, DYN_ACME, ROAD],
        [],
        id="same-id-in-two-sources-is-two-entities",
    ),
    pytest.param(
        [ACME, _declared(Kind.BRAND, "SALESFORCE", "B", 5, name="B", client_id="ACNE")],
        [
            'm.yaml:5:21: client_id "ACNE" refers to a client that is not declared in source '
            'SALESFORCE; did you mean "ACME"?'
        ],
        id="dangling-client-with-suggestion",
    ),
    pytest.param(
        [DYN_ACME, _declared(Kind.BRAND, "SALESFORCE", "B", 5, name="B", client_id="ACME")],
        [
            'm.yaml:5:21: client_id "ACME" refers to a client that is not declared in source '
            "SALESFORCE"
        ],
        id="reference-does-not-cross-sources",
    ),
    pytest.param(
        [ACME, ROAD, _product(6, "ACME", "NOPE")],
        [
            'm.yaml:6:22: brand_id "NOPE" refers to a brand that is not declared in source '
            "SALESFORCE"
        ],
        id="dangling-brand",
    ),
    pytest.param(
        [ACME, GLOBEX, ROAD, _product(6, "GLOBEX", "ROAD")],
        [
            'm.yaml:6:21: client_id "GLOBEX" is not the client of brand "ROAD", which belongs '
            "to client \"ACME\" (m.yaml:3:21): a product's client_id must be its brand's "
            "client_id"
        ],
        id="product-client-is-not-brand-client",
    ),
    pytest.param(
        [ROAD, _product(2, "GHOST", "ROAD"), _product(1, "ACME", "ROAD")],
        [
            'm.yaml:1:21: client_id "ACME" refers to a client that is not declared in source '
            "SALESFORCE",
            'm.yaml:2:21: client_id "GHOST" is not the client of brand "ROAD", which belongs '
            "to client \"ACME\" (m.yaml:3:21): a product's client_id must be its brand's "
            "client_id",
            'm.yaml:2:21: client_id "GHOST" refers to a client that is not declared in '
            "source SALESFORCE",
            'm.yaml:3:21: client_id "ACME" refers to a client that is not declared in source '
            "SALESFORCE",
        ],
        id="every-problem-sorted-by-location",
    ),
]


@pytest.mark.parametrize(("entities", "expected"), CASES)
def test_check_declared(entities: list[Declared], expected: list[str]) -> None:
    assert [str(problem) for problem in check_declared(entities)] == expected


def test_references_are_checked_against_the_first_declaration() -> None:
    second = _declared(Kind.BRAND, "SALESFORCE", "ROAD", 9, name="Road", client_id="GLOBEX")
    problems = check_declared([ACME, GLOBEX, ROAD, second, _product(10, "ACME", "ROAD")])
    assert [problem.location.line for problem in problems] == [9]


def test_missing_fields_are_left_to_the_loader() -> None:
    bare = _declared(Kind.PRODUCT, "SALESFORCE", "P", 5, name="P")
    assert check_declared([bare]) == []


@pytest.mark.parametrize(("count", "suggested"), [(3, True), (2_001, False)])
def test_suggestions_stop_past_many_candidates(count: int, suggested: bool) -> None:
    clients = [_declared(Kind.CLIENT, "JIRA", f"C{n:05d}", n + 1, name="C") for n in range(count)]
    brand = _declared(Kind.BRAND, "JIRA", "B", 9_999, name="B", client_id="C00001x")
    [problem] = check_declared([*clients, brand])
    assert problem.message.endswith('did you mean "C00001"?') is suggested
