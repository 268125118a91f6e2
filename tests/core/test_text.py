"""The unsafe characters (core/text.py): found where they must not be, escaped where shown."""

from __future__ import annotations

import pytest

from reconciler.core.text import (
    UNSAFE,
    describe,
    first_unsafe,
    id_problem,
    printable,
    text_problem,
)


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


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("SF-ACC-1", None),
        ("000917", None),
        ("a b", None),
        (".", "an id cannot be '.': a URL would read it as a folder"),
        ("..", "an id cannot be '..': a URL would read it as a folder"),
        ("...", None),
        ("a\x1b", "an id cannot hold the character U+001B"),
        ("a\u200b", "an id cannot hold the character U+200B"),
        (" a", "an id cannot start or end with whitespace"),
        ("a\u00a0", "an id cannot start or end with whitespace"),
    ],
)
def test_id_problem(value: str, problem: str | None) -> None:
    assert id_problem(value) == problem


@pytest.mark.parametrize(
    ("value", "allow_newlines", "problem"),
    [
        ("Acme", False, None),
        ("   ", False, "cannot be whitespace only"),
        ("\u3000", False, "cannot be whitespace only"),
        ("", False, None),
        ("a\nb", False, "cannot hold the character U+000A"),
        ("a\nb\tc", True, None),
        ("   ", True, None),
        ("a\x1b[2J", True, "cannot hold the character U+001B"),
    ],
)
def test_text_problem(value: str, allow_newlines: bool, problem: str | None) -> None:
    assert text_problem(value, allow_newlines=allow_newlines) == problem
