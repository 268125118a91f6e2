"""How values are shown to people: colour, quoting, plain names and counts.

Pure (`… → render`): every renderer of `output/` shows user text (ids, names, COR's
messages) through these functions, so no value can fake a line or break out of its markup.
Imports the standard library and core values only.
"""

from __future__ import annotations

import json
import re

from reconciler.core.resources import Record, ResourceKey
from reconciler.core.text import UNSAFE_IN_TEXT

_RESET = "\033[0m"
_COLOURS = {"green": "\033[32m", "yellow": "\033[33m", "red": "\033[31m", "dim": "\033[2m"}
_PLAIN = re.compile(r"[A-Za-z0-9_.:@+-]+")  # shown as is; anything else is JSON-quoted


def paint(text: str, colour: str, enabled: bool) -> str:
    return f"{_COLOURS[colour]}{text}{_RESET}" if enabled else text


def quote(value: str | None) -> str:
    """A value as shown to humans: JSON-quoted, so newlines or escapes cannot fake lines, and
    every character that could act on a terminal or hide itself (C1 controls, bidi, zero-width:
    `core/text.py`) written as a JSON escape, which json.dumps leaves raw."""
    return "(not set)" if value is None else escape_json(json.dumps(value, ensure_ascii=False))


def escape_json(text: str) -> str:
    """JSON text with each unsafe character left raw by json.dumps (DEL, C1, bidi, zero-width,
    U+2028/9) written as `\\uXXXX`: the same JSON, the same values, nothing that can act on a
    terminal. json.dumps already escapes every C0 control in strings, so a raw newline or tab
    can only be the document's own layout, which `UNSAFE_IN_TEXT` lets through. One search for
    the usual text."""
    if UNSAFE_IN_TEXT.search(text) is None:
        return text
    return UNSAFE_IN_TEXT.sub(_json_escape, text)


def _json_escape(found: re.Match[str]) -> str:
    return f"\\u{ord(found.group()):04x}"


def plain(text: str) -> str:
    """As is when plain, else JSON-quoted: no newline, space or markup can pass unquoted."""
    return text if _PLAIN.fullmatch(text) else quote(text)


def show_key(key: ResourceKey) -> str:
    """`client SALESFORCE/SF-ACC-1`; a source or id that is not plain comes JSON-quoted."""
    return f"{key.kind.value} {plain(key.source)}/{plain(key.id)}"


def kept_why(record: Record) -> str:
    """What a record that is not declared and kept shows after its address: its COR id, and
    `protected` when `protect: true` keeps it from any prune."""
    return f"cor_id {record.cor_id}; protected" if record.protected else f"cor_id {record.cor_id}"


def counted(number: int, noun: str) -> str:
    """`1 record`, `1,204 records`."""
    return f"{number:,} {noun}" if number == 1 else f"{number:,} {noun}s"
