"""The unsafe characters (core/text.py): found where they must not be, escaped where shown."""

from __future__ import annotations

import pytest

from reconciler.core.text import UNSAFE, describe, first_unsafe, printable


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("SF-ACC-1", "SF-ACC-1"),
        ("Café Ñandú 東京", "Café Ñandú 東京"),
        ("\x1b]0;owned\x07", "\\x1b]0;owned\\x07"),
        ("\x1b[2J", "\\x1b[2J"),
        ("a\nNo changes.\n", "a\\nNo changes.\\n"),
        ("a\rb\tc", "a\\rb\\tc"),
        ("\x7f\x85\x9b", "\\x7f\\x85\\x9b"),
        ("abc\u202edcba", "abc\\u202edcba"),
        ("zero\u200bwidth\ufeff", "zero\\u200bwidth\\ufeff"),
        ("line\u2028sep", "line\\u2028sep"),
    ],
)
def test_printable_escapes_what_would_act_and_leaves_the_rest(text: str, shown: str) -> None:
    assert printable(text) == shown
    assert UNSAFE.search(printable(text)) is None


@pytest.mark.parametrize(
    ("text", "allow_newlines", "found"),
    [
        ("plain", False, None),
        ("two\nlines", False, "\n"),
        ("two\nlines\tand a tab", True, None),
        ("bell\x07", True, "\x07"),
        ("rtl\u202e", True, "\u202e"),
    ],
)
def test_first_unsafe(text: str, allow_newlines: bool, found: str | None) -> None:
    assert first_unsafe(text, allow_newlines=allow_newlines) == found


def test_describe_names_the_code_point() -> None:
    assert describe("\x1b") == "U+001B"
    assert describe("\u202e") == "U+202E"
