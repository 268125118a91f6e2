"""The vocabulary shared by every stage: kinds, sources, fields and resource values.

Pure core: the vocabulary of every stage. Imports the standard library, `errors` (Location) and
`core.text` (how a key prints) only.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from types import MappingProxyType
from typing import Any, Literal, NamedTuple, TypeVar, get_args, overload

from reconciler.core.text import printable
from reconciler.errors import Location

# COR's valid sources, exact spelling. A Literal, so that the manifest JSON Schema lists them.
Source = Literal[
    "JIRA",
    "SALESFORCE",
    "ADVERTMIND",
    "QUICKBOOKS",
    "ZAPIER",
    "OKTA",
    "MICROSOFT_DYNAMICS",
    "GITHUB",
    "MICROSOFT_TEAMS",
    "VBS",
    "SAP",
    "GLOBANT",
]
SOURCES: tuple[str, ...] = get_args(Source)
_T = TypeVar("_T")
_DIGITS = re.compile(r"[0-9]+")
_NO_LOCATIONS: Mapping[str, Location] = MappingProxyType({})  # shared, so read-only


class Kind(str, Enum):
    """Entity kinds, declared in dependency (apply) order."""

    CLIENT = "client"
    BRAND = "brand"
    PRODUCT = "product"

    @property
    def rank(self) -> int:
        return _RANK[self]

    @property
    def plural(self) -> str:
        """The manifest section and the API collection: clients, brands, products."""
        return self.value + "s"


_RANK = {Kind.CLIENT: 0, Kind.BRAND: 1, Kind.PRODUCT: 2}
KINDS: tuple[Kind, ...] = (Kind.CLIENT, Kind.BRAND, Kind.PRODUCT)
KIND_VALUES: tuple[str, ...] = tuple(kind.value for kind in KINDS)  # client, brand, product


@dataclass(frozen=True)
class KindSpec:
    """What the API accepts for one kind (../shared/cor-api.md)."""

    required: tuple[str, ...]  # besides `id`
    optional: tuple[str, ...]
    updatable: tuple[str, ...]  # fields a PUT can change
    references: tuple[tuple[str, Kind], ...]  # field -> referenced kind (same source)

    @property
    def fields(self) -> tuple[str, ...]:
        return self.required + self.optional

    @property
    def immutable(self) -> tuple[str, ...]:
        return tuple(f for f in self.fields if f not in self.updatable)


CLIENT_OPTIONAL = (
    "business_name",
    "email_contact",
    "name_contact",
    "last_name_contact",
    "phone",
    "website",
    "description",
)

SPECS: Mapping[Kind, KindSpec] = {
    Kind.CLIENT: KindSpec(
        required=("name",),
        optional=CLIENT_OPTIONAL,
        updatable=("name", *CLIENT_OPTIONAL),
        references=(),
    ),
    Kind.BRAND: KindSpec(
        required=("name", "client_id"),
        optional=(),
        updatable=("name",),
        references=(("client_id", Kind.CLIENT),),
    ),
    Kind.PRODUCT: KindSpec(
        required=("name", "client_id", "brand_id"),
        optional=("description",),
        updatable=("name", "description"),
        references=(("client_id", Kind.CLIENT), ("brand_id", Kind.BRAND)),
    ),
}


class ResourceKey(NamedTuple):
    """An entity's identity: (kind, source, external id)."""

    kind: Kind
    source: str
    id: str

    def sort_key(self) -> tuple[int, str, str]:
        """Apply order: clients, brands, products; then source; then id."""
        return (self.kind.rank, self.source, self.id)

    def delete_sort_key(self) -> tuple[int, str, str]:
        """Delete order, dependants first: products, brands, clients; then source; then id."""
        return (-self.kind.rank, self.source, self.id)

    def __str__(self) -> str:
        """`product SAP/P-1`, the address every message and text output uses; a source or id
        holding a control, bidi or invisible character shows it escaped (`core/text.printable`:
        one search, and the usual key as it is), so it cannot act on a terminal or forge a line."""
        return printable(f"{self.kind.value} {self.source}/{self.id}")

    def references(self, attributes: Mapping[str, str]) -> tuple[ResourceKey, ...]:
        """The keys this entity refers to, read from its attributes."""
        return tuple(
            ResourceKey(kind, self.source, attributes[field])
            for field, kind in SPECS[self.kind].references
            if field in attributes
        )


class Declared(NamedTuple):
    """One entity as the manifests declare it. `attributes` holds every field but `id`.

    A NamedTuple, as `Record` is: 100,000 of them are built on every plan, in less than half
    the time and memory of a frozen dataclass (0.18 vs 0.44 µs, 72 vs 160 bytes each). Never
    mutated; "change" one with `_replace`."""

    key: ResourceKey
    attributes: Mapping[str, str]
    location: Location  # where the entry starts (its `id`, or the entry itself)
    field_locations: Mapping[str, Location] = _NO_LOCATIONS
    protect: bool = False  # `protect: true`: never deleted by a prune while recorded so


@overload
def in_apply_order(items: Iterable[ResourceKey]) -> list[ResourceKey]: ...
@overload
def in_apply_order(items: Iterable[_T], key: Callable[[_T], ResourceKey]) -> list[_T]: ...
def in_apply_order(
    items: Iterable[Any], key: Callable[[Any], ResourceKey] | None = None
) -> list[Any]:
    """`items` (keys, or values whose `key` gives theirs) sorted by `ResourceKey.sort_key` —
    kind, then source, then id — in effect: grouped by kind, then sorted within each by the key
    itself, a plain tuple compared in C without a Python key function."""
    by_kind: dict[Kind, list[Any]] = {kind: [] for kind in KINDS}
    for item in items:
        by_kind[(item if key is None else key(item)).kind].append(item)
    ordered: list[Any] = []
    for kind in KINDS:
        ordered += sorted(by_kind[kind], key=key)
    return ordered


# Everything the manifests declare, keyed by identity, in apply order.
Desired = Mapping[ResourceKey, Declared]


class Record(NamedTuple):
    """One entity as the state file records it: COR's id and the attributes last applied.
    A NamedTuple for the reason `Declared` is one."""

    key: ResourceKey
    cor_id: int
    attributes: Mapping[str, str]
    protected: bool = False  # declared with `protect: true`: never deleted while so recorded
    # The manifest file that last declared it, as `core/scope.normalise` writes it; None if
    # unknown (read from a format_version 1 state): the prune rule (core/scope.py) uses it.
    file: str | None = None


def parse_address(words: Sequence[str]) -> ResourceKey:
    """The key an address names, as every output prints it — `product SALESFORCE/SF-P-100`,
    given as one word or two (a shell splits it at the space) — or as three words, `product
    SALESFORCE SF-P-100`. ValueError saying what is wrong otherwise. The id is everything after
    the first `/` (a source has none; an id may)."""
    if len(words) == 3:
        kind, source, id_ = words
    else:
        text = " ".join(words)
        kind, _, rest = text.partition(" ")
        source, slash, id_ = rest.partition("/")
        if len(words) not in (1, 2) or not slash:
            raise ValueError(
                f"{' '.join(words)!r} is not an address: write it as printed, "
                "KIND SOURCE/ID (e.g. 'product SALESFORCE/SF-P-100')"
            )
    if kind not in KIND_VALUES:
        raise ValueError(f"{kind!r} is not a kind: one of {', '.join(KIND_VALUES)}")
    if source not in SOURCES:
        raise ValueError(f"{source!r} is not a source: one of {', '.join(SOURCES)}")
    if not id_:
        raise ValueError("the address names no id")
    return ResourceKey(Kind(kind), source, id_)


def parse_cor_id(value: object) -> int | None:
    """A COR id as COR's answers may write it — a number, an integral float, or a string of
    digits — or None if `value` is none of those (null included)."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and _DIGITS.fullmatch(value.strip()):
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return None
