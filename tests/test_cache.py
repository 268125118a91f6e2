"""Reading fast: the manifest cache (manifests/cache.py), and the fast paths of reading and state
that must accept nothing the models would refuse."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest
import yaml

from reconciler.cli import run
from reconciler.core.resources import KINDS, Desired, Kind
from reconciler.errors import ManifestError, StateError
from reconciler.manifests import fields, parsed, problems, reader, walker
from reconciler.manifests.cache import ManifestCache
from reconciler.manifests.fields import Written
from reconciler.manifests.parsed import Parsed
from reconciler.manifests.reader import read_manifests
from reconciler.state import codec
from reconciler.state import store as state
from tests.test_load import EXAMPLES, _write

ROOT = Path(__file__).resolve().parent.parent
TWO_FILES: dict[str, str | bytes] = {
    "clients.yaml": "source: JIRA\nclients:\n  - id: C1\n    name: Acme\n    protect: yes\n",
    "brands.yaml": "source: JIRA\nbrands: [{id: B1, name: Road, client_id: C1}]\n",
}


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def store(workdir: Path) -> ManifestCache:
    return ManifestCache(workdir / "cache")


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths load parses (rather than takes from the cache), in order."""
    seen: list[str] = []
    parse = walker.parse

    def counting(path: str, data: bytes) -> Any:
        seen.append(path)
        return parse(path, data)

    monkeypatch.setattr(walker, "parse", counting)
    return seen


def _entries(store: ManifestCache) -> list[Path]:
    return sorted(path for path in (store.folder / "entries").rglob("*") if path.is_file())


def _same(left: Desired, right: Desired) -> None:
    assert list(left.values()) == list(right.values())
    for key, declared in left.items():  # the lazy field locations, as plain dicts
        assert dict(declared.field_locations) == dict(right[key].field_locations)


@pytest.mark.usefixtures("workdir")
def test_a_second_read_is_served_by_the_cache_and_equals_a_parse(
    store: ManifestCache, parses: list[str]
) -> None:
    fresh = read_manifests([EXAMPLES])
    first = read_manifests([EXAMPLES], store=store)
    assert len(parses) == 2 * 7
    parses.clear()
    second = read_manifests([EXAMPLES], store=store)
    assert parses == []
    _same(second, fresh)
    _same(first, fresh)


def test_a_changed_file_is_never_served(store: ManifestCache, parses: list[str]) -> None:
    _write(Path("m"), TWO_FILES)
    read_manifests(["m"], store=store)
    brands = Path("m/brands.yaml")
    brands.write_text(brands.read_text().replace("Road", "Rood"), encoding="utf-8")  # same size
    parses.clear()
    desired = read_manifests(["m"], store=store)
    assert parses == ["m/brands.yaml"]
    assert [d.attributes.get("name") for d in desired.values()] == ["Acme", "Rood"]


def test_the_same_bytes_elsewhere_carry_their_own_path(store: ManifestCache) -> None:
    _write(Path("a"), TWO_FILES)
    _write(Path("b"), TWO_FILES)
    read_manifests(["a"], store=store)
    entries = set(_entries(store))
    desired = read_manifests(["b"], store=store)
    assert len(set(_entries(store)) - entries) == 1  # the checked set of b/: no file entry
    assert {d.location.path for d in desired.values()} == {"b/clients.yaml", "b/brands.yaml"}
    (brand,) = (d for d in desired.values() if d.key.kind is Kind.BRAND)
    assert str(brand.field_locations["client_id"]) == "b/brands.yaml:2:42"


def test_cross_file_problems_are_found_again_when_files_change(store: ManifestCache) -> None:
    _write(Path("m"), TWO_FILES)
    read_manifests(["m"], store=store)  # clean: the pair is recorded as checked
    clients = Path("m/clients.yaml")
    clients.write_text(clients.read_text().replace("C1", "C2"), encoding="utf-8")
    with pytest.raises(ManifestError) as raised:
        read_manifests(["m"], store=store)
    assert [str(p) for p in raised.value.problems] == [
        'm/brands.yaml:2:42: client_id "C1" refers to a client that is not declared in source JIRA'
    ]


def test_files_with_problems_are_not_stored(store: ManifestCache, parses: list[str]) -> None:
    _write(Path("m"), {"bad.yaml": "source: JIRA\nclients: [{id: 1, name: A}]\n"})
    for _ in range(2):
        with pytest.raises(ManifestError):
            read_manifests(["m"], store=store)
    assert parses == ["m/bad.yaml", "m/bad.yaml"]
    assert not store.folder.exists()


def _corrupt_truncated(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:-7])


def _corrupt_flipped(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-3] ^= 0x40
    path.write_bytes(bytes(data))


def _corrupt_garbage(path: Path) -> None:
    path.write_bytes(b"\x00" * 100)


def _corrupt_empty(path: Path) -> None:
    path.write_bytes(b"")


@pytest.mark.parametrize(
    "corrupt", [_corrupt_truncated, _corrupt_flipped, _corrupt_garbage, _corrupt_empty]
)
def test_a_damaged_entry_is_ignored_and_rewritten(
    store: ManifestCache, parses: list[str], corrupt: Any
) -> None:
    _write(Path("m"), TWO_FILES)
    fresh = read_manifests(["m"], store=store)
    for entry in _entries(store):
        corrupt(entry)
    parses.clear()
    _same(read_manifests(["m"], store=store), fresh)
    assert sorted(parses) == ["m/brands.yaml", "m/clients.yaml"]
    parses.clear()
    _same(read_manifests(["m"], store=store), fresh)  # rewritten whole
    assert parses == []


# Payloads that pass the digest check (written through put) but not the shape check.
GOOD = Parsed("JIRA", [(0, ("name",), (0,), (5,))], ["C1"], [3], [9], [0], ["Acme"], [])


def _bad(**changes: Any) -> tuple[Any, ...]:
    return tuple(GOOD._replace(**changes))


MALFORMED: list[object] = [
    None,
    "JIRA",
    (),
    tuple(GOOD)[:-1],
    _bad(source="NOPE"),
    _bad(source=None),
    _bad(ids=[1]),
    _bad(ids=[""]),
    _bad(ids=("C1",)),
    _bad(values=[None]),
    _bad(values=[]),
    _bad(values=["Acme", "extra"]),
    _bad(lines=[0]),
    _bad(lines=[True]),
    _bad(lines=["3"]),
    _bad(columns=[3, 4]),
    _bad(shapes=[1]),
    _bad(shapes=[-1]),
    _bad(protected=[1]),
    _bad(layouts=[(3, ("name",), (0,), (5,))]),
    _bad(layouts=[(0, ("colour",), (0,), (5,))]),
    _bad(layouts=[(0, ("name", "name"), (0, 1), (5, 5))]),
    _bad(layouts=[(0, ("name",), (0,), (0,))]),
    _bad(layouts=[(0, (["name"],), (0,), (5,))]),
    _bad(layouts=[(0, ("name",), ("0",), (5,))]),
    _bad(layouts=[(0, ("name",), (0,))]),
]


def test_the_shape_check_accepts_what_is_stored() -> None:
    assert parsed.well_formed(tuple(GOOD)) == GOOD
    assert parsed.well_formed(tuple(parsed.Entities().parsed(None))) is not None


@pytest.mark.parametrize("payload", MALFORMED)
def test_a_malformed_entry_is_never_trusted(
    store: ManifestCache, parses: list[str], payload: object
) -> None:
    assert parsed.well_formed(payload) is None
    _write(Path("m"), TWO_FILES)
    fresh = read_manifests(["m"], store=store)
    keys = [f"{entry.parent.name}{entry.name}" for entry in _entries(store)]
    for key in keys:
        store.put(key, payload)
    parses.clear()
    _same(read_manifests(["m"], store=store), fresh)
    assert len(parses) == 2


def test_another_version_or_loader_misses(
    store: ManifestCache, parses: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _write(Path("m"), TWO_FILES)
    read_manifests(["m"], store=store)
    monkeypatch.setattr(reader, "__version__", "99.0")
    parses.clear()
    read_manifests(["m"], store=store)
    assert len(parses) == 2
    monkeypatch.setattr(walker, "LOADER", __import__("yaml").SafeLoader)
    parses.clear()
    read_manifests(["m"], store=store)
    assert len(parses) == 2


def test_a_cache_that_cannot_be_written_is_no_error(workdir: Path) -> None:
    Path("cache").write_text("a file, not a folder", encoding="utf-8")
    _write(Path("m"), TWO_FILES)
    assert len(read_manifests(["m"], store=ManifestCache(Path("cache")))) == 2
    assert len(read_manifests(["m"], store=ManifestCache(Path("cache")))) == 2


def test_the_folder_says_what_it_is(store: ManifestCache) -> None:
    _write(Path("m"), TWO_FILES)
    read_manifests(["m"], store=store)
    assert (store.folder / "CACHEDIR.TAG").read_text().startswith("Signature: 8a477f597d28d1")
    assert (store.folder / ".gitignore").read_text().splitlines()[-1] == "*"
    assert not list(store.folder.rglob("*.tmp"))


def test_concurrent_runs_share_one_cache(workdir: Path) -> None:
    _write(Path("m"), {f"f{n}.yaml": _file(n) for n in range(20)})
    command = [sys.executable, "-m", "reconciler", "validate", "--cache-dir", "cache", "m"]
    for _ in range(2):  # a cold start, all racing to fill it; then all reading it
        runs = [subprocess.Popen(command, stdout=subprocess.PIPE) for _ in range(4)]
        outputs = {process.communicate()[0] for process in runs}
        assert [process.returncode for process in runs] == [0] * 4
        assert outputs == {b"Valid: 20 clients, 0 brands, 0 products.\n"}
    assert not list(Path("cache").rglob("*.tmp"))
    entries = ManifestCache(Path("cache"))
    keys = [f"{entry.parent.name}{entry.name}" for entry in _entries(entries)]
    assert len(keys) == 21  # every file, and the checked set
    assert all(entries.get(key) is not None for key in keys)


def _file(n: int) -> str:
    return f"source: JIRA\nclients: [{{id: C{n}, name: Client {n}}}]\n"


def test_cli_cache_options(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write(Path("m"), TWO_FILES)
    monkeypatch.delenv("RECONCILER_CACHE_DIR", raising=False)
    assert run(["validate", "--no-cache", "m"]) == 0
    assert not Path(".reconciler-cache").exists()
    assert run(["validate", "m"]) == 0
    assert (Path(".reconciler-cache") / "CACHEDIR.TAG").exists()
    monkeypatch.setenv("RECONCILER_CACHE_DIR", "elsewhere")
    assert run(["plan", "--state", "none.json", "m"]) == 0
    assert (Path("elsewhere") / "CACHEDIR.TAG").exists()


def test_plan_prints_the_same_with_and_without_the_cache(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outputs = []
    for args in (["--no-cache"], ["--cache-dir", "c"], ["--cache-dir", "c"]):
        assert run(["plan", "--no-color", "--state", "none.json", *args, str(EXAMPLES)]) == 0
        outputs.append(capsys.readouterr().out)
    assert outputs[0] == outputs[1] == outputs[2]
    assert outputs[0].endswith("Plan: 38 to create, 0 to update, 0 to delete.\n")


# --- The fast paths accept nothing the models refuse ---

TAG = "tag:yaml.org,2002:"
VALUES = [
    Written(TAG + "str", "Acme"),
    Written(TAG + "str", ""),
    Written(TAG + "bool", "yes"),
    Written(TAG + "bool", "false"),
    Written(TAG + "int", "12"),
    Written(TAG + "null", "~"),
    Written(TAG + "seq", None),
    Written(TAG + "map", None),
    Written("!custom", "x"),
]


@pytest.mark.parametrize("kind", KINDS)
def test_an_entry_that_plainly_fits_is_one_the_models_accept(
    kind: Kind, workdir: Path, monkeypatch: pytest.MonkeyPatch
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
    texts = ["Acme", '""', "yes", "false", "12", "~", "[a]", "{a: b}", "!custom x"]
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


STATE: dict[str, Any] = {
    "format_version": 1,
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


STATE_VARIANTS = [
    STATE,
    _changed(("in_doubt",), KeyError),
    _changed(("in_doubt",), []),
    _changed(("format_version",), True),
    _changed(("format_version",), 2),
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
]


@pytest.mark.parametrize("document", STATE_VARIANTS)
def test_the_state_fast_path_agrees_with_the_models(document: dict[str, Any]) -> None:
    fast = codec.plain_state(document)
    try:
        slow = state._judged(Path("s.json"), document)
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
