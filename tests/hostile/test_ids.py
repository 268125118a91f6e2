"""Hostile inputs, "Ids and text" (docs/hostile-inputs.md): ids, references, names and YAML tags
in a manifest that would misdirect a request (`..` in a URL), act on a terminal, forge a line
or hide in whitespace. Each is refused at its path:line:col with exit 3, and the message shows
the value escaped: no raw control, bidi or invisible character reaches the output.

The values are written with YAML's double-quoted escapes (`"\\e"` is ESC), as an attacker would:
YAML refuses most of them raw in a file, but not escaped.
"""

from __future__ import annotations

import re

import pytest

from tests.harness import Cli, RunningEmulator, WorkFolder
from tests.hostile.checks import assert_clean


def _clients(*entries: str, source: str = "SAP") -> str:
    return f"source: {source}\nclients:\n" + "".join(f"  - {entry}\n" for entry in entries)


def _brand(client_id: str) -> str:
    return (
        _clients("{id: C1, name: Acme}")
        + f"brands:\n  - {{id: B1, name: B, client_id: {client_id}}}\n"
    )


def _product(brand_id: str) -> str:
    return (
        _clients("{id: C1, name: Acme}")
        + "brands:\n  - {id: B1, name: B, client_id: C1}\n"
        + f"products:\n  - {{id: P1, name: P, client_id: C1, brand_id: {brand_id}}}\n"
    )


CASES = [
    pytest.param(_clients('{id: ".", name: A}'), 'id ".": an id cannot be', id="id-dot"),
    pytest.param(_clients('{id: "..", name: A}'), 'id "..": an id cannot be', id="id-dot-dot"),
    pytest.param(
        _clients(r'{id: "C\e]0;owned\a", name: A}'),
        r'id "C\u001b]0;owned\u0007": an id cannot hold the character U+001B',
        id="id-terminal-title",
    ),
    pytest.param(
        _clients(r'{id: "\e[2J", name: A}'),
        "cannot hold the character U+001B",
        id="id-clear-screen",
    ),
    pytest.param(
        _clients(r'{id: "C1\nNo changes.\n", name: A}'),
        r'id "C1\nNo changes.\n": an id cannot hold the character U+000A',
        id="id-forged-line",
    ),
    pytest.param(
        _clients(r'{id: "C\x9b2J", name: A}'),
        "cannot hold the character U+009B",
        id="id-c1-control",
    ),
    pytest.param(
        _clients(r'{id: "C\x7f", name: A}'), "cannot hold the character U+007F", id="id-del"
    ),
    pytest.param(
        _clients(r'{id: "C\u202e1", name: A}'),
        r'id "C\u202e1": an id cannot hold the character U+202E',
        id="id-bidi-override",
    ),
    pytest.param(
        _clients(r'{id: "C\u200b1", name: A}'),
        "cannot hold the character U+200B",
        id="id-zero-width-space",
    ),
    pytest.param(
        _clients('{id: " C1", name: A}'),
        "an id cannot start or end with whitespace",
        id="id-leading-space",
    ),
    pytest.param(
        _clients('{id: "C1 ", name: A}'),
        "an id cannot start or end with whitespace",
        id="id-trailing-space",
    ),
    pytest.param(
        _clients('{id: "   ", name: A}'),
        "an id cannot start or end with whitespace",
        id="id-whitespace-only",
    ),
    pytest.param(_brand('".."'), 'client_id "..": an id cannot be', id="reference-dot-dot"),
    pytest.param(
        _product(r'"\e[2J"'),
        r'brand_id "\u001b[2J": an id cannot hold the character U+001B',
        id="reference-control-character",
    ),
    pytest.param(
        _clients('{id: C1, name: "  "}'),
        'name "  ": cannot be whitespace only',
        id="name-whitespace-only",
    ),
    pytest.param(
        _clients(r'{id: C1, name: "A\e[2J"}'),
        r'name "A\u001b[2J": cannot hold the character U+001B',
        id="name-control-character",
    ),
    pytest.param(
        _clients(r'{id: C1, name: "A\nNo changes."}'),
        "cannot hold the character U+000A",
        id="name-newline",
    ),
    pytest.param(
        _clients(r'{id: C1, name: A, description: "ok\n\tthen \e]0;x\a"}'),
        r'description "ok\n\tthen \u001b]0;x\u0007": cannot hold the character U+001B',
        id="description-control-character",
    ),
    pytest.param(
        _clients(r'{id: C1, name: A, business_name: "\u202eemca"}'),
        r'business_name "\u202eemca": cannot hold the character U+202E',
        id="text-field-bidi",
    ),
    pytest.param(
        _clients("!foo {id: C1, name: A}"),
        "the tag !foo is not supported on an entry",
        id="tag-on-entry",
    ),
    pytest.param(
        _clients("!!map {id: C1, name: A}"),
        "the tag !!map is not supported on an entry",
        id="core-tag-on-entry",
    ),
    pytest.param(
        _clients("&one !foo {id: C1, name: A}", "*one"),
        "the tag !foo is not supported on an entry",
        id="tag-on-anchored-entry",
    ),
    pytest.param(
        "source: SAP\nclients: !!seq\n  - {id: C1, name: A}\n",
        "the tag !!seq is not supported on a list of entries",
        id="tag-on-section",
    ),
    pytest.param(
        "--- !custom\nsource: SAP\nclients:\n  - {id: C1, name: A}\n",
        "the tag !custom is not supported on the file's top-level mapping",
        id="tag-on-file",
    ),
    pytest.param(
        _clients("{!foo id: C1, name: A}"),
        "the tag !foo is not supported on a key",
        id="tag-on-key",
    ),
    pytest.param(
        _clients(r'{id: C1, name: A, "x\e[2J": y}'),
        r'unknown field "x\u001b[2J" in a client',
        id="unknown-field-escaped",
    ),
    pytest.param(
        _clients(r'{id: "C\u202e1", name: A}', r'{id: "C\u202e1", name: B}'),
        r'duplicate client id "C\u202e1"',
        id="duplicate-id-escaped",
    ),
    pytest.param(
        _clients("{id: C1, name: A}", source=r'"\e[2J"'),
        r'unknown source "\u001b[2J"',
        id="unknown-source-escaped",
    ),
]


@pytest.mark.parametrize(("manifest", "says"), CASES)
def test_hostile_text_is_refused_where_it_stands(
    manifest: str, says: str, work_folder: WorkFolder, cli: Cli
) -> None:
    work_folder({"m.yaml": manifest}, under="")
    code, out, err = cli("validate", "--no-cache", "m.yaml")
    assert_clean(code, out, err, exit_code=3, says=says)
    located = re.compile(rf"^m\.yaml:\d+:\d+: .*{re.escape(says)}", re.MULTILINE)
    assert located.search(err), err
    assert out == ""


@pytest.mark.parametrize("entry", [pytest.param('{id: "..", name: Dots}', id="apply-id-dot-dot")])
def test_apply_sends_nothing_for_an_id_a_url_would_misread(
    entry: str, work_folder: WorkFolder, emulator_env: RunningEmulator, cli: Cli
) -> None:
    work_folder({"m.yaml": _clients("{id: C1, name: Acme}", entry)})
    code, out, err = cli("apply", "--auto-approve", "--prune")
    assert_clean(code, out, err, exit_code=3, says='id "..": an id cannot be')
    assert emulator_env.records() == []
    assert not work_folder.state.exists()


def test_what_stays_allowed(work_folder: WorkFolder, cli: Cli) -> None:
    """Inner spaces in an id, dots that are not the whole id, spaces around a name, newlines
    and tabs in a description, `!!str` on a scalar: all valid."""
    work_folder(
        {
            "m.yaml": _clients(
                '{id: "A B", name: " Acme ", description: "line one\\n\\tline two"}',
                '{id: "...", name: "Dots."}',
                "{id: !!str 12, name: .hidden}",
            )
        },
        under="",
    )
    assert cli("validate", "--no-cache", "m.yaml")[:2] == (
        0,
        "Valid: 3 clients, 0 brands, 0 products.\n",
    )
