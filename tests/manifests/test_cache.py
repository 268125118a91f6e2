"""The manifest cache (manifests/cache.py): a file read twice is parsed once, and the cache
never serves what a parse would not give: changed, damaged, malformed or foreign entries."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from reconciler.core.resources import Desired, Kind
from reconciler.errors import ManifestError
from reconciler.manifests import parsed, reader, walker
from reconciler.manifests.cache import ManifestCache
from reconciler.manifests.parsed import Parsed
from reconciler.manifests.reader import read_manifests
from tests.harness import Files, WorkFolder, write_files
from tests.paths import EXAMPLES

TWO_FILES: Files = {
    "clients.yaml": "source: JIRA\nclients:\n  - id: C1\n    name: Acme\n    protect: yes\n",
    "brands.yaml": "source: JIRA\nbrands: [{id: B1, name: Road, client_id: C1}]\n",
}


@pytest.fixture
def store(work_folder: WorkFolder) -> ManifestCache:
    return ManifestCache(work_folder.root / "cache")


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


@pytest.mark.usefixtures("work_folder")
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


@pytest.mark.usefixtures("work_folder")
def test_every_file_of_the_cache_is_private_to_its_owner(store: ManifestCache) -> None:
    read_manifests([EXAMPLES], store=store)
    files = [path for path in store.folder.rglob("*") if path.is_file()]
    assert {path.name for path in files} >= {"CACHEDIR.TAG", ".gitignore"}
    assert len(files) > 2
    assert {stat.S_IMODE(path.stat().st_mode) for path in files} == {0o600}


def test_a_changed_file_is_never_served(store: ManifestCache, parses: list[str]) -> None:
    write_files(Path("m"), TWO_FILES)
    read_manifests(["m"], store=store)
    brands = Path("m/brands.yaml")
    brands.write_text(brands.read_text().replace("Road", "Rood"), encoding="utf-8")  # same size
    parses.clear()
    desired = read_manifests(["m"], store=store)
    assert parses == ["m/brands.yaml"]
    assert [d.attributes.get("name") for d in desired.values()] == ["Acme", "Rood"]


def test_the_same_bytes_elsewhere_carry_their_own_path(store: ManifestCache) -> None:
    write_files(Path("a"), TWO_FILES)
    write_files(Path("b"), TWO_FILES)
    read_manifests(["a"], store=store)
    entries = set(_entries(store))
    desired = read_manifests(["b"], store=store)
    assert len(set(_entries(store)) - entries) == 1  # the checked set of b/: no file entry
    assert {d.location.path for d in desired.values()} == {"b/clients.yaml", "b/brands.yaml"}
    (brand,) = (d for d in desired.values() if d.key.kind is Kind.BRAND)
    assert str(brand.field_locations["client_id"]) == "b/brands.yaml:2:42"


def test_cross_file_problems_are_found_again_when_files_change(store: ManifestCache) -> None:
    write_files(Path("m"), TWO_FILES)
    read_manifests(["m"], store=store)  # clean: the pair is recorded as checked
    clients = Path("m/clients.yaml")
    clients.write_text(clients.read_text().replace("C1", "C2"), encoding="utf-8")
    with pytest.raises(ManifestError) as raised:
        read_manifests(["m"], store=store)
    assert [str(p) for p in raised.value.problems] == [
        'm/brands.yaml:2:42: client_id "C1" refers to a client that is not declared in source JIRA'
    ]


def test_files_with_problems_are_not_stored(store: ManifestCache, parses: list[str]) -> None:
    write_files(Path("m"), {"bad.yaml": "source: JIRA\nclients: [{id: 1, name: A}]\n"})
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
    write_files(Path("m"), TWO_FILES)
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
    write_files(Path("m"), TWO_FILES)
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
    write_files(Path("m"), TWO_FILES)
    read_manifests(["m"], store=store)
    monkeypatch.setattr(reader, "__version__", "99.0")
    parses.clear()
    read_manifests(["m"], store=store)
    assert len(parses) == 2
    monkeypatch.setattr(walker, "LOADER", __import__("yaml").SafeLoader)
    parses.clear()
    read_manifests(["m"], store=store)
    assert len(parses) == 2


@pytest.mark.usefixtures("work_folder")
def test_a_cache_that_cannot_be_written_is_no_error() -> None:
    Path("cache").write_text("a file, not a folder", encoding="utf-8")
    write_files(Path("m"), TWO_FILES)
    assert len(read_manifests(["m"], store=ManifestCache(Path("cache")))) == 2
    assert len(read_manifests(["m"], store=ManifestCache(Path("cache")))) == 2


def test_the_folder_says_what_it_is(store: ManifestCache) -> None:
    write_files(Path("m"), TWO_FILES)
    read_manifests(["m"], store=store)
    assert (store.folder / "CACHEDIR.TAG").read_text().startswith("Signature: 8a477f597d28d1")
    assert (store.folder / ".gitignore").read_text().splitlines()[-1] == "*"
    assert not list(store.folder.rglob("*.tmp"))


@pytest.mark.usefixtures("work_folder")
def test_concurrent_runs_share_one_cache() -> None:
    write_files(Path("m"), {f"f{n}.yaml": _file(n) for n in range(20)})
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
