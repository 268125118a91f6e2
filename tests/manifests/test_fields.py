"""The reader's fast path (manifests/fields.py): an entry or a top level that plainly fits the
plain tables is one the models (manifests/schema.py) accept, and the tables are the models'."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler.core.resources import KINDS, Kind
from reconciler.errors import ManifestError
from reconciler.manifests import fields, problems
from reconciler.manifests.fields import Written
from reconciler.manifests.reader import read_manifests

# Text that some field's rule (core.text) refuses, as YAML double-quoted strings.
HOSTILE = [r'"."', r'".."', r'" x"', r'"x "', r'"   "', r'"a\eb"', r'"a\tb"', r'"l1\nl2"']
HOSTILE += [r'"\u202ex"', r'"x\u200b"', r'"\x85"', r'"\x7f"', r'"a b"', r'"..."', r'" "']


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.usefixtures("work_folder")
def test_an_entry_that_plainly_fits_is_one_the_models_accept(
    kind: Kind, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every field of the kind (and an unknown one), with every kind of value, in entries
    that are otherwise valid: each entry load does not hand to the models (it plainly fits),
    the models accept."""
    checked: list[dict[str, Written]] = []
    judge = problems.entry_problems

    def recording(entry_kind: Kind, written: Any) -> list[problems.FieldProblem]:
        checked.append(dict(written))
        return judge(entry_kind, written)

    monkeypatch.setattr(problems, "entry_problems", recording)
    base = {"id": "X1", "name": "N", "client_id": "C1", "brand_id": "B1"}
    texts = ["Acme", '""', "yes", "false", "12", "~", "[a]", "{a: b}", "!custom x", *HOSTILE]
    entries = []
    for name in sorted([*fields.ENTRY_FIELDS[kind], "colour"]):
        for text in texts:
            entry = {k: v for k, v in base.items() if k in fields.ENTRY_FIELDS[kind]}
            entries.append(entry | {name: text})
    lines = ["  - " + "\n    ".join(f"{k}: {v}" for k, v in e.items()) for e in entries]
    Path("m.yaml").write_text(f"source: JIRA\n{kind.plural}:\n" + "\n".join(lines) + "\n")
    with pytest.raises(ManifestError):
        read_manifests(["m.yaml"])
    written = [{k: _written(v) for k, v in entry.items()} for entry in entries]
    plainly_fit = [entry for entry in written if entry not in checked]
    assert plainly_fit
    assert len(plainly_fit) + len(checked) == len(entries)
    for fitting in plainly_fit:
        assert judge(kind, fitting) == [], fitting


def _written(text: str) -> Written:
    node = yaml.compose(text, Loader=yaml.SafeLoader)
    assert node is not None
    return Written(node.tag, node.value if isinstance(node, yaml.ScalarNode) else None)


def test_the_plain_tables_are_what_the_models_accept() -> None:
    """fields.py derives from the API's field tables what schema.py's models declare: the
    fields of each entry (in the order messages list them), the required ones, the sections."""
    from reconciler.manifests.schema import ENTRY_MODELS, ManifestFile

    for kind, model in ENTRY_MODELS.items():
        declared = sorted(model.model_fields, key=lambda name: name in fields.FLAG_FIELDS)
        assert fields.ENTRY_ORDER[kind] == tuple(declared)
        assert fields.ENTRY_FIELDS[kind] == frozenset(model.model_fields)
        required = {name for name, info in model.model_fields.items() if info.is_required()}
        assert fields.REQUIRED_FIELDS[kind] == required
    assert tuple(ManifestFile.model_fields) == fields.TOP_LEVEL_KEYS


STR, BOOL, INT = fields.STR_TAG, fields.BOOL_TAG, fields.CORE_TAG + "int"
TOP_LEVELS: list[tuple[dict[str, Written], set[str], bool]] = [
    ({"source": Written(STR, "JIRA")}, {"clients"}, True),
    ({"source": Written(STR, "JIRA")}, set(), False),
    ({}, set(), False),
    ({}, {"brands"}, False),
    ({}, {"brands"}, True),
    ({"source": Written(STR, "jira")}, {"clients"}, True),
    ({"source": Written(INT, "12")}, set(), False),
    ({"source": Written(BOOL, "yes")}, set(), False),
    ({"source": Written(STR, "JIRA"), "clients": Written(STR, "x")}, set(), True),
    ({"source": Written(STR, "JIRA"), "colour": Written(STR, "red")}, set(), False),
    ({"source": Written(STR, "JIRA")}, {"clients", "products"}, True),
]


@pytest.mark.parametrize(("values", "lists", "declares"), TOP_LEVELS)
def test_a_top_level_that_plainly_fits_is_one_the_models_accept(
    values: dict[str, Written], lists: set[str], declares: bool
) -> None:
    found = problems.top_level_problems(values, lists, declares)
    if fields.top_level_fits(values, lists, declares):
        assert found == []
    else:
        assert found  # each case here that does not plainly fit has a problem to report


@pytest.mark.parametrize("text", [yaml.safe_load(text) for text in HOSTILE] + ["Acme", "P-1"])
def test_a_value_plainly_fits_only_if_its_rule_accepts_it(text: str) -> None:
    """One match per value (fields.PLAIN_TEXT) stands for the rule of core.text; each field's
    pattern lets through only what the rule accepts, and everything the rule accepts that has
    no whitespace at either end."""
    for kind in KINDS:
        for name, plainly in fields.PLAIN_TEXT[kind].items():
            problem = fields.value_problem(name, text)
            if plainly(text) is not None:
                assert problem is None, (kind, name, text)
            elif text == text.strip():
                assert problem is not None, (kind, name, text)


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("id", "..", "an id cannot be '..': a URL would read it as a folder"),
        ("client_id", " C1", "an id cannot start or end with whitespace"),
        ("brand_id", "B\u202e", "an id cannot hold the character U+202E"),
        ("name", "  ", "cannot be whitespace only"),
        ("name", "A\nB", "cannot hold the character U+000A"),
        ("description", "A\n\tB", None),
        ("description", "A\x1bB", "cannot hold the character U+001B"),
        ("website", "\u200b", "cannot hold the character U+200B"),
        ("name", " Acme ", None),
    ],
)
def test_each_field_follows_its_rule(name: str, text: str, expected: str | None) -> None:
    assert fields.value_problem(name, text) == expected


def _quick(text: str) -> bool:
    """The walker's quicker test (manifests/walker.py, fields.DOTS), as the walker writes it."""
    return text.isprintable() and text.strip() == text and text not in fields.DOTS


def test_the_quicker_test_clears_only_what_every_text_rule_accepts() -> None:
    """Every character of the Basic Multilingual Plane (and a few beyond), alone, inside a
    value and at either end: what the walker's quicker test lets through, every field's rule
    (ids, names, descriptions) accepts."""
    names = sorted({name for kind in KINDS for name in fields.PLAIN_TEXT[kind]})
    characters = [chr(code) for code in range(0x10000)] + ["\U0001f600", "\U000e0001"]
    cleared = 0
    for character in characters:
        for text in (character, f"a{character}b", f"{character}a", f"a{character}"):
            if _quick(text):
                cleared += 1
                assert [fields.value_problem(n, text) for n in names] == [None] * len(names), repr(
                    text
                )
    assert cleared > 200_000  # the test clears the usual text: it is worth having
    assert not any(_quick(text) for text in (".", "..", " a", "a ", "a\u00a0", "a\nb", " "))
