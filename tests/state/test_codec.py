"""The state's shapes (state/codec.py): the fast path of reading a state file accepts nothing
the models (state/schema.py) refuse, and reads what they accept the same."""

from __future__ import annotations

import json
from types import MappingProxyType
from typing import Any

import pytest

from reconciler.errors import StateError
from reconciler.state import codec
from reconciler.state import store as state

BAD_IDS = [
    ".",
    "..",
    " C1",
    "C1 ",
    "C\t1",
    "C\x1b[2J",
    "C\x85",
    "C\u202e1",
    "C\u200b",
    "\ud800",
    " ",
]
BAD_NAMES = ["  ", "\u3000", "A\nB", "A\x00", "A\x7f", "A\u2028", "A\ufeff", "A\udfff"]
OK = ["two\nlines", "a\ttab", "ends with a newline\n"]
OK_NAMES = ["Acme ", " Acme", ".", "..", "Café\u00a0☕ 😀", "A\u00adB"]
BAD_FILES = ["", "a\x1b[2J.yaml", "a\nb.yaml", "a\u202e.yaml", "\udcff.yaml", "a" * 4097]
OK_FILES = [" a.yaml", "a.yaml ", ".", "/abs/manifests/x.yaml", "m/caf\u00e9.yaml", "a" * 4096]
STATE: dict[str, Any] = {
    "format_version": 2,
    "lineage": "0" * 32,
    "serial": 3,
    "resources": [
        {"kind": "client", "source": "JIRA", "id": "C1", "cor_id": 7, "attributes": {"name": "A"}},
        {
            "kind": "brand",
            "source": "JIRA",
            "id": "B1",
            "cor_id": 8,
            "attributes": {"client_id": "C1", "name": "B"},
            "protected": True,
            "file": "manifests/jira/brands.yaml",
        },
    ],
    "in_doubt": [{"kind": "product", "source": "JIRA", "id": "P1"}],
}


def _changed(path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(json.dumps(STATE))
    *parents, last = path
    target = document
    for step in parents:
        target = target[step]
    if value is KeyError:
        del target[last]
    else:
        target[last] = value
    return document


# What a value may be (state/values.py): each refused by the models, so never fast.
REFUSED_VALUES = [
    _changed(("format_version",), True),
    _changed(("format_version",), 1.0),
    _changed(("serial",), 2**63),
    _changed(("lineage",), "0\x1b[2J"),
    _changed(("resources", 0, "cor_id"), -1),
    _changed(("resources", 0, "cor_id"), 2**63),
    _changed(("resources", 0, "source"), "NOPE"),
    *(_changed(("resources", 0, "id"), bad) for bad in BAD_IDS),
    *(_changed(("in_doubt", 0, "id"), bad) for bad in BAD_IDS),
    _changed(("resources", 0, "attributes"), {"name": "A", "colour": "red"}),
    _changed(("resources", 0, "attributes"), {"name": "A", "client_id": "C0"}),  # not a client's
    *(_changed(("resources", 0, "attributes"), {"name": bad}) for bad in BAD_NAMES),
    *(_changed(("resources", 1, "attributes"), {"client_id": bad}) for bad in BAD_IDS),
    _changed(("resources", 0, "attributes"), {"description": "a\x1b[2J"}),
    _changed(("resources", 0, "attributes"), {"website": "a\nb"}),
    _changed(("in_doubt", 0), {"kind": "client", "source": "JIRA", "id": "C1"}),  # recorded too
    *(_changed(("resources", 0, "file"), bad) for bad in BAD_FILES),
    _changed(("format_version",), 1),  # which knew no `file`
]
# Valid, if not plainly so: looked at one by one, and still without a model.
ORDINARY_VALUES = [
    *(_changed(("resources", 0, "attributes"), {"name": "A", "description": ok}) for ok in OK),
    *(_changed(("resources", 0, "attributes"), {"name": ok}) for ok in OK_NAMES),
    _changed(("resources", 0, "id"), "C\u00e91"),
    _changed(("resources", 0, "id"), "C 1"),
    *(_changed(("resources", 0, "file"), ok) for ok in OK_FILES),
]
# A format_version 1 state: no record has a file; read, each record's file unknown.
VERSION_1 = _changed(("format_version",), 1)
del VERSION_1["resources"][1]["file"]


STATE_VARIANTS = [
    STATE,
    _changed(("in_doubt",), KeyError),
    _changed(("in_doubt",), []),
    _changed(("format_version",), True),
    _changed(("format_version",), 3),
    VERSION_1,
    _changed(("resources", 0, "file"), None),
    _changed(("resources", 0, "file"), 5),
    _changed(("resources", 0, "file"), "manifests/a.yaml"),
    _changed(("serial",), -1),
    _changed(("serial",), 1.0),
    _changed(("lineage",), ""),
    _changed(("extra",), 1),
    _changed(("resources", 0, "kind"), "CLIENT"),
    _changed(("resources", 0, "kind"), 1),
    _changed(("resources", 0, "source"), ""),
    _changed(("resources", 0, "id"), 5),
    _changed(("resources", 0, "cor_id"), "7"),
    _changed(("resources", 0, "cor_id"), False),
    _changed(("resources", 0, "attributes"), {"name": 1}),
    _changed(("resources", 0, "attributes"), []),
    _changed(("resources", 0, "protected"), False),
    _changed(("resources", 0, "protected"), None),
    _changed(("resources", 0, "protected"), 1),
    _changed(("resources", 0, "note"), "x"),
    _changed(("resources", 0, "cor_id"), KeyError),
    _changed(("resources", 1, "id"), "C1"),
    _changed(("resources", 1, "kind"), "client"),
    _changed(("resources", 0), []),
    _changed(("in_doubt", 0, "kind"), "nope"),
    _changed(("in_doubt", 0, "cor_id"), 1),
    _changed(("in_doubt",), [STATE["in_doubt"][0]] * 2),
    *REFUSED_VALUES,
    *ORDINARY_VALUES,
]


@pytest.mark.parametrize("document", STATE_VARIANTS)
def test_the_state_fast_path_agrees_with_the_models(document: dict[str, Any]) -> None:
    fast = codec.plain_state(document)
    try:
        slow = state._judged("s.json", document)
    except StateError:  # refused by the models or the duplicate check
        assert fast is None
        return
    if fast is not None:
        assert (fast.lineage, fast.serial, fast.in_doubt) == (
            slow.lineage,
            slow.serial,
            slow.in_doubt,
        )
        assert dict(fast.records) == dict(slow.records)
        assert all(isinstance(r.attributes, MappingProxyType) for r in fast.records.values())
    assert document is not STATE or fast is not None  # the usual file takes the fast path


@pytest.mark.parametrize("document", REFUSED_VALUES)
def test_a_value_no_rule_allows_is_refused(document: dict[str, Any]) -> None:
    with pytest.raises(StateError):
        state._judged("s.json", document)
    assert codec.plain_state(document) is None


@pytest.mark.parametrize("document", ORDINARY_VALUES)
def test_valid_values_that_are_not_plainly_so_take_the_fast_path(document: dict[str, Any]) -> None:
    state._judged("s.json", document)  # valid
    assert codec.plain_state(document) is not None


def test_a_version_1_state_is_read_with_no_file_and_written_as_version_2() -> None:
    read = codec.plain_state(VERSION_1)
    assert read is not None
    assert {record.file for record in read.records.values()} == {None}
    text = codec.render_state(read).decode()
    assert json.loads(text)["format_version"] == codec.FORMAT_VERSION == 2
    assert '"file"' not in text  # a file unknown is not written
    assert codec.plain_state(json.loads(text)) == read


def test_a_file_is_written_last_only_when_known_and_reads_back() -> None:
    read = codec.plain_state(STATE)
    assert read is not None
    brand = read.records[next(k for k in read.records if k.kind.value == "brand")]
    assert brand.file == "manifests/jira/brands.yaml"
    text = codec.render_state(read).decode()
    assert (
        '"attributes": {\n        "client_id": "C1",\n        "name": "B"\n      },\n'
        '      "protected": true,\n      "file": "manifests/jira/brands.yaml"\n    }'
    ) in text
    assert text.count('"file"') == 1
    assert codec.plain_state(json.loads(text)) == read
    fields = codec.record_fields(brand)
    assert list(fields) == [*codec.RECORD_FIELDS, "protected", "file"]
    assert codec.plain_record(fields) == brand


def test_a_file_in_a_version_1_state_is_refused_naming_it() -> None:
    document = _changed(("format_version",), 1)
    with pytest.raises(StateError, match=r"resources\.1\.file: no field of format_version 1"):
        state._judged("s.json", document)
