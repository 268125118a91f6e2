"""Characters that must never reach a terminal, a log or a pasted comment as they are.

Pure core; the standard library only. One definition, used twice:
- input checks refuse them where they have no business (`unsafe_in_id`, `unsafe_in_name`);
- outputs escape them in anything that came from a file, the state or COR (`printable`), so a
  value cannot move the cursor, set a terminal's title, ring a bell or forge a line.

The classes: C0 controls (U+0000-U+001F), DEL (U+007F), C1 controls (U+0080-U+009F); the
bidirectional controls (U+061C, U+200E-U+200F, U+202A-U+202E, U+2066-U+2069), which reorder
what a reader sees; the invisible ones (U+200B-U+200D zero-width space/joiners, U+2060 word
joiner, U+FEFF byte-order mark); and the line and paragraph separators (U+2028, U+2029), which
some viewers break lines at.
"""

from __future__ import annotations

import re

_CONTROLS = "\x00-\x1f\x7f-\x9f"
_BIDI = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
_INVISIBLE = "\u200b-\u200d\u2060\ufeff"
_SEPARATORS = "\u2028\u2029"

UNSAFE = re.compile(f"[{_CONTROLS}{_BIDI}{_INVISIBLE}{_SEPARATORS}]")
# A name may not hold these either; a description may keep newlines and tabs.
UNSAFE_IN_TEXT = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f{_BIDI}{_INVISIBLE}{_SEPARATORS}]")


def first_unsafe(text: str, *, allow_newlines: bool = False) -> str | None:
    """The first character of `text` that must not be there, or None. `allow_newlines`: tabs
    and newlines are fine (a description)."""
    found = (UNSAFE_IN_TEXT if allow_newlines else UNSAFE).search(text)
    return None if found is None else found.group()


def describe(character: str) -> str:
    """`U+001B` for a character that cannot be shown as itself."""
    return f"U+{ord(character):04X}"


def printable(text: str) -> str:
    """`text` with every unsafe character written as an escape (`\\x1b`, `\\n`, `\\u202e`), so
    that it shows as what it is and does nothing. Text without one is returned as it is: the
    usual id or name prints unchanged."""
    if UNSAFE.search(text) is None:
        return text
    return UNSAFE.sub(_escape, text)


def _escape(found: re.Match[str]) -> str:
    character = found.group()
    code = ord(character)
    named = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(character)
    if named is not None:
        return named
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def id_problem(value: str) -> str | None:
    """Why `value` cannot be an external id, or None. Ids become URL path segments and print on
    every line: `.` and `..` (which URL normalisation turns into another path), unsafe
    characters (module docstring) and leading or trailing whitespace are refused."""
    if value in (".", ".."):
        return f"an id cannot be {value!r}: a URL would read it as a folder"
    unsafe = first_unsafe(value)
    if unsafe is not None:
        return f"an id cannot hold the character {describe(unsafe)}"
    if value != value.strip():
        return "an id cannot start or end with whitespace"
    return None


def text_problem(value: str, *, allow_newlines: bool = False) -> str | None:
    """Why `value` cannot be a name (or, with `allow_newlines`, a description), or None:
    unsafe characters, and a value that is whitespace only (a name)."""
    unsafe = first_unsafe(value, allow_newlines=allow_newlines)
    if unsafe is not None:
        return f"cannot hold the character {describe(unsafe)}"
    if not allow_newlines and value and not value.strip():
        return "cannot be whitespace only"
    return None
