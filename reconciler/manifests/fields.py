"""What a manifest entry may hold, as plain tables, and a YAML value as it was written.

Part of the manifests edge; no pydantic, no YAML. The reader's fast path: an entry within these
tables (known fields, the required ones present, text values, `protect` a boolean) needs no
model; anything else goes to `problems.py`, whose models (`schema.py`) judge and word it. The
tables derive from the API's field tables (`core.resources.SPECS`); a test checks they are
exactly what the models accept. A text value plainly fits when one match of its field's
pattern (`PLAIN_TEXT`) takes it whole; any other is judged by `value_problem`, the rule of
`core.text` (ids: `id_problem`; names and other text: `text_problem`). Imports core values only.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from typing import NamedTuple

from reconciler.core.resources import KINDS, SOURCES, SPECS, Kind
from reconciler.core.text import UNSAFE, UNSAFE_IN_TEXT, id_problem, text_problem

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
# Fields that hold an external id (the entry's own, or a reference), and text that may span
# lines; every other text field is a name-like value.
ID_FIELDS = frozenset({"id", *(field for spec in SPECS.values() for field, _ in spec.references)})
LONG_TEXT_FIELDS = frozenset({"description"})

# Each rule's plainly valid values, as one match over the whole value (a subset of what the
# rule accepts: a value that does not match is judged by `value_problem`). Built from
# core.text's classes: UNSAFE's, and UNSAFE_IN_TEXT's for text that may span lines.
_UNSAFE = UNSAFE.pattern[1:-1]  # the class's characters, without its brackets
_PLAIN_ID = re.compile(rf"(?!\.\.?\Z)[^\s{_UNSAFE}](?:[^{_UNSAFE}]*[^\s{_UNSAFE}])?")
_PLAIN_NAME = re.compile(rf"(?!\s+\Z)[^{_UNSAFE}]*")
_PLAIN_TEXT = re.compile(rf"[^{UNSAFE_IN_TEXT.pattern[1:-1]}]*")


def _plain_text(name: str) -> Callable[[str], object]:
    if name in ID_FIELDS:
        return _PLAIN_ID.fullmatch
    return (_PLAIN_TEXT if name in LONG_TEXT_FIELDS else _PLAIN_NAME).fullmatch


# The walker's quicker test, before a field's pattern: a value that isprintable() (so holds no
# unsafe character: each is a Cc, Cf, Zl or Zp), equals its strip() and is neither `.` nor `..`
# fits every text rule (tests/manifests/test_fields.py checks it against the patterns).
DOTS = frozenset({".", ".."})

# kind -> text field -> a function that gives None unless the value plainly fits its rule.
PLAIN_TEXT: Mapping[Kind, Mapping[str, Callable[[str], object]]] = {
    kind: {name: _plain_text(name) for name in names - FLAG_FIELDS}
    for kind, names in ENTRY_FIELDS.items()
}


def value_problem(name: str, text: str) -> str | None:
    """Why the non-empty string `text` cannot be the value of field `name`, or None."""
    if name in ID_FIELDS:
        return id_problem(text)
    return text_problem(text, allow_newlines=name in LONG_TEXT_FIELDS)


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
