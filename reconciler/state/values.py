"""What the strings and numbers of a state file and its journal may be (docs/state.md, "What a
state may hold"): a rule for ids, one per kind of attribute, one for other text, the largest
number.

Part of the state store; no file access, no pydantic. Each rule has two forms that say the same:
a precompiled regex that finds what it refuses (the fast path of `codec.py`) and a function
that words it (the models of `schema.py`), built on `core/text` (`id_problem`, `text_problem`),
the one rule for ids and names, which the manifests check too. `ordinary` clears a whole list
of values at once, in a few passes at C speed, so that the regexes run only when it cannot.
Imports the standard library and core values only.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from reconciler.core.resources import KINDS, SOURCES, SPECS
from reconciler.core.scope import MAX_FILE_LENGTH
from reconciler.core.text import (
    UNSAFE,
    UNSAFE_IN_TEXT,
    describe,
    first_unsafe,
    id_problem,
    text_problem,
)

MAX_INT = 2**63 - 1  # cor_id and serial: COR's ids are 64-bit integers; nothing larger is one
SOURCE_NAMES = frozenset(SOURCES)
FIELDS: Mapping[str, frozenset[str]] = {
    kind.value: frozenset(SPECS[kind].fields) for kind in KINDS
}  # the attributes a record of each kind may hold: its API fields but `id`
REFERENCES = frozenset(field for kind in KINDS for field, _ in SPECS[kind].references)

# Half of a UTF-16 pair: not a character, and not writable as UTF-8. Only JSON's `\ud800`
# escapes make one; core/text's classes guard what prints and leave it out.
_SURROGATE = "[\ud800-\udfff]"
_SURROGATES = re.compile(_SURROGATE)
ID_REFUSED = re.compile(f"{UNSAFE.pattern}|{_SURROGATE}|^\\s|\\s\\Z|^\\.\\.?\\Z")
TEXT_REFUSED = re.compile(f"{UNSAFE.pattern}|{_SURROGATE}")
_NAME_REFUSED = re.compile(f"{UNSAFE.pattern}|{_SURROGATE}|^\\s+\\Z")
_DESCRIPTION_REFUSED = re.compile(f"{UNSAFE_IN_TEXT.pattern}|{_SURROGATE}")
ATTRIBUTE_REFUSED: Mapping[str, re.Pattern[str]] = {
    field: ID_REFUSED
    if field in REFERENCES
    else _NAME_REFUSED
    if field == "name"
    else _DESCRIPTION_REFUSED
    if field == "description"
    else TEXT_REFUSED
    for fields in FIELDS.values()
    for field in fields
}


def id_refusal(value: str) -> str | None:
    """Why `value` cannot be an external id (a key's, or a reference's), or None."""
    return _surrogate(value) or id_problem(value)


def text_refusal(value: str) -> str | None:
    """Why `value` cannot be text that prints (an attribute, a lineage, a lock's holder)."""
    surrogate = _surrogate(value)
    if surrogate is not None:
        return surrogate
    unsafe = first_unsafe(value)
    return None if unsafe is None else f"cannot hold the character {describe(unsafe)}"


def file_refusal(value: str) -> str | None:
    """Why `value` cannot be a record's manifest file (core/scope.py writes them): text that
    prints, not empty, at most MAX_FILE_LENGTH characters."""
    if not value:
        return "cannot be empty"
    if len(value) > MAX_FILE_LENGTH:
        return f"cannot be longer than {MAX_FILE_LENGTH:,} characters"
    return text_refusal(value)


def plain_files(files: list[Any]) -> bool:
    """Whether each of `files` is a str `file_refusal` accepts: all at once, as `ordinary`."""
    if not files:
        return True
    try:
        files = list(set(files))  # 100,000 records share a few files: each checked once
    except TypeError:  # a list or an object among them
        return False
    if any(type(file) is not str for file in files):
        return False
    if not 0 < min(map(len, files)) <= max(map(len, files)) <= MAX_FILE_LENGTH:
        return False
    return ordinary(files, len(files)) or not any(map(TEXT_REFUSED.search, files))


def attribute_refusal(field: str, value: str) -> str | None:
    """Why `value` cannot be the attribute `field` (one of FIELDS), or None: a reference is an
    id, a name is a name (`text_problem`), a description may also hold newlines and tabs."""
    if field in REFERENCES:
        return id_refusal(value)
    if field in ("name", "description"):
        return _surrogate(value) or text_problem(value, allow_newlines=field == "description")
    return text_refusal(value)


def _surrogate(value: str) -> str | None:
    found = _SURROGATES.search(value)
    if found is None:
        return None
    return f"cannot hold {describe(found.group())}, half of a UTF-16 surrogate pair"


_PRINTABLE_ASCII = bytes(range(0x20, 0x7F))
_SEPARATOR = "\x00"  # never in an ordinary value: a control character
# In the values joined and framed by separators, once only printable characters are left (the
# only whitespace then is " "): a value that starts with a space or is `.` or `..`; one that
# ends with a space. Each pattern starts with a literal, which the regex engine skips to fast.
_ODD_START = "\x00(?: |\\.\\.?\x00)"
_ODD_END = " \x00"
_ODD = tuple(re.compile(odd) for odd in (_ODD_START, _ODD_END))
_ODD_BYTES = tuple(re.compile(odd.encode("ascii")) for odd in (_ODD_START, _ODD_END))


def ordinary(texts: Iterable[Any], count: int) -> bool:
    """Whether every one of the `count` `texts` is a str that no rule above refuses: printable
    characters only (so no unsafe character and no surrogate), none is `.` or `..`, none starts
    or ends with whitespace. A few passes over all of them joined, at C speed (about 25 ms for
    400,000 values), not a regex search per value. False says only: look closer, one by one
    (a description with a newline, a name with a trailing space, a value that is not a str)."""
    try:
        joined = f"{_SEPARATOR}{_SEPARATOR.join(texts)}{_SEPARATOR}"
    except TypeError:
        return False
    if joined.count(_SEPARATOR) != count + 1 + (count == 0):
        return False  # a value holds the separator itself
    if joined.isascii():
        encoded = joined.encode("ascii")
        if encoded.translate(None, _PRINTABLE_ASCII + b"\x00"):
            return False
        return not any(odd.search(encoded) for odd in _ODD_BYTES)
    if not joined.replace(_SEPARATOR, "").isprintable():  # no Cc, Cf, Cs, Zl, Zp; of Zs, " "
        return False
    return not any(odd.search(joined) for odd in _ODD)
