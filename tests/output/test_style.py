"""How values are shown (output/style.py), and keys (`ResourceKey.__str__`): quoted or escaped
so that nothing acts on a terminal or forges a line, and the usual text exactly as it is."""

from __future__ import annotations

import json

import pytest

from reconciler.core.text import UNSAFE
from reconciler.errors import EXIT_INVALID, Location, Problem
from reconciler.output.failure_json import render_failure_json
from reconciler.output.style import escape_json, plain, quote, show_key
from tests.builders import key


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("Acme Corporation", '"Acme Corporation"'),
        ("Société Générale — 東京 😀", '"Société Générale — 東京 😀"'),  # as it is
        ('say "hi"\\', '"say \\"hi\\"\\\\"'),
        ("a\nb\tc", '"a\\nb\\tc"'),
        ("\x1b]0;title\x07", '"\\u001b]0;title\\u0007"'),  # json.dumps escapes C0
        ("del\x7f", '"del\\u007f"'),  # ... but not DEL, C1, bidi or invisible characters
        ("\x9b2J\x85", '"\\u009b2J\\u0085"'),
        ("\u202egnp.exe", '"\\u202egnp.exe"'),
        ("a\u200bb\ufeff", '"a\\u200bb\\ufeff"'),
        ("line\u2028para\u2029", '"line\\u2028para\\u2029"'),
        (None, "(not set)"),
    ],
)
def test_quote(value: str | None, shown: str) -> None:
    assert quote(value) == shown
    if value is not None:
        assert json.loads(shown) == value  # still JSON, and the exact value


def test_escape_json_keeps_the_layout_and_the_values() -> None:
    document = {"a": ["x\u202ey\x9b", "ok é"], "b": "\x7f"}
    text = escape_json(json.dumps(document, indent=2, ensure_ascii=False))
    assert UNSAFE.sub("", text.replace("\n", "")) == text.replace("\n", "")
    assert json.loads(text) == document
    assert "ok é" in text
    plain_text = json.dumps({"a": "ok"}, indent=2)
    assert escape_json(plain_text) is plain_text  # the usual text: one search, no copy


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("SF-ACC-1", "SF-ACC-1"),
        ("a b", '"a b"'),
        ("P\x9b2J", '"P\\u009b2J"'),
        ("P\u202e", '"P\\u202e"'),
    ],
)
def test_plain(text: str, shown: str) -> None:
    assert plain(text) == shown


@pytest.mark.parametrize(
    ("source", "ext_id", "as_str", "in_markdown"),
    [
        ("SAP", "P-1", "product SAP/P-1", "product SAP/P-1"),
        ("SAP", "Café 1", "product SAP/Café 1", 'product SAP/"Café 1"'),
        (
            "SAP",
            "P\x1b]0;t\x07",
            "product SAP/P\\x1b]0;t\\x07",
            'product SAP/"P\\u001b]0;t\\u0007"',
        ),
        ("SAP", "P\nNo changes.", "product SAP/P\\nNo changes.", 'product SAP/"P\\nNo changes."'),
        ("SAP", "P\x9b\u202e", "product SAP/P\\x9b\\u202e", 'product SAP/"P\\u009b\\u202e"'),
        ("S\x1b[2J", "P-1", "product S\\x1b[2J/P-1", 'product "S\\u001b[2J"/P-1'),
    ],
)
def test_a_key_prints_escaped(source: str, ext_id: str, as_str: str, in_markdown: str) -> None:
    """`str(key)` is the address of every message and text output (`core/text.printable`);
    `show_key` the Markdown's and the audit's (JSON-quoted unless plain)."""
    the_key = key("product", source, ext_id)
    assert str(the_key) == as_str
    assert f"{the_key}" == as_str
    assert show_key(the_key) == in_markdown
    assert UNSAFE.search(as_str) is None


def test_a_failure_document_escapes_what_it_quotes() -> None:
    problem = Problem(Location("m/x.yaml", 1, 2), 'unknown key "k\x1b[2J\u202e"')
    text = render_failure_json(EXIT_INVALID, "invalid \x9b", [problem])
    assert UNSAFE.search(text.replace("\n", "")) is None
    document = json.loads(text)
    assert document["error"] == "invalid \x9b"
    assert document["problems"][0]["message"] == 'unknown key "k\x1b[2J\u202e"'
