"""What a manifest entry may hold, as plain tables, and a YAML value as it was written.

Part of the manifests edge; no pydantic, no YAML. The reader's fast path: an entry within these
tables (known fields, the required ones present, text values, `protect` a boolean) needs no
model; anything else goes to `problems.py`, whose models (`schema.py`) judge and word it. The
tables derive from the API's field tables (`core.resources.SPECS`); a test checks they are
exactly what the models accept. Imports core values only.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import NamedTuple

from reconciler.core.resources import KINDS, SOURCES, SPECS, Kind

CORE_TAG = "tag:yaml.org,2002:"
STR_TAG = CORE_TAG + "str"
BOOL_TAG = CORE_TAG + "bool"
_TRUE = frozenset({"true", "yes", "on", "y"})  # YAML 1.1's true spellings, any case

SECTIONS: Mapping[str, Kind] = {kind.plural: kind for kind in KINDS}
TOP_LEVEL_KEYS = ("source", *SECTIONS)
FLAG_FIELDS = frozenset({"protect"})  # YAML booleans; every other field holds a non-empty string
# What an entry may hold, in the order messages list them (`id`, the API's fields, then
# `protect`, which is ours), and what it must hold.
ENTRY_ORDER: Mapping[Kind, tuple[str, ...]] = {
    kind: ("id", *SPECS[kind].fields, *sorted(FLAG_FIELDS)) for kind in KINDS
}
ENTRY_FIELDS: Mapping[Kind, frozenset[str]] = {
    kind: frozenset(names) for kind, names in ENTRY_ORDER.items()
}
REQUIRED_FIELDS: Mapping[Kind, frozenset[str]] = {
    kind: frozenset({"id", *SPECS[kind].required}) for kind in KINDS
}


class Written(NamedTuple):
    """A YAML value as written: its resolved tag and, for a scalar, its text (None otherwise)."""

    tag: str
    text: str | None


def plain(value: Written) -> object:
    """What the models are given: a str for a string scalar, a bool for a boolean one
    (`protect`); anything else as is, which they reject."""
    if value.tag == STR_TAG and value.text is not None:
        return value.text
    if value.tag == BOOL_TAG and value.text is not None:
        return value.text.lower() in _TRUE
    return value


def top_level_fits(values: Mapping[str, Written], lists: Collection[str], declares: bool) -> bool:
    """Whether a file's top-level mapping plainly fits (`problems.top_level_problems` finds
    nothing): `values` are its keys' values but those in `lists` (sections that are lists);
    `declares`: some section lists an entry (only then is `source:` required)."""
    if not values.keys() <= {"source"} or not set(lists) <= SECTIONS.keys():
        return False
    source = values.get("source")
    if source is None:
        return not declares
    return source.tag == STR_TAG and source.text in SOURCES
