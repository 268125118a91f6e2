"""read_manifests (manifests/reader.py): discovery, YAML walking, every problem at its exact
path:line:col, whichever loader reads the file, parsed or served by the cache."""

from __future__ import annotations

import gc
from collections import Counter
from pathlib import Path

import pytest
import yaml

from reconciler.core import validation as validate
from reconciler.core.resources import Declared, Kind, ResourceKey
from reconciler.errors import Location, ManifestError, UsageError
from reconciler.manifests import walker
from reconciler.manifests.cache import ManifestCache
from reconciler.manifests.reader import read_manifests
from tests.harness import Files, WorkFolder, write_files
from tests.manifest_problems import PROBLEM_CASES, VALID_HEAD, in_order
from tests.paths import EXAMPLES


def _problems(files: Files, *paths: str, store: ManifestCache | None = None) -> list[str]:
    write_files(Path("m"), files)
    with pytest.raises(ManifestError) as raised:
        read_manifests(list(paths) or ["m"], store=store)
    return [str(problem) for problem in raised.value.problems]


@pytest.mark.parametrize(("files", "expected"), PROBLEM_CASES)
@pytest.mark.usefixtures("work_folder")
def test_each_problem_at_its_place(files: Files, expected: list[str]) -> None:
    assert _problems(files) == sorted(expected, key=in_order)


LOADERS = {"libyaml": yaml.CSafeLoader, "pure-python": yaml.SafeLoader}


@pytest.mark.parametrize("served", ["parsed", "cached"])
@pytest.mark.parametrize("loader", list(LOADERS))
@pytest.mark.parametrize(("files", "expected"), PROBLEM_CASES)
@pytest.mark.usefixtures("work_folder")
def test_each_problem_at_its_place_whatever_reads_the_file(
    files: Files,
    expected: list[str],
    loader: str,
    served: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The same table, read by either loader, and read twice through a cache: the second
    time every file read without a problem before is served by the cache (the others are
    never stored). Syntax errors are worded differently by the pure-Python loader: there,
    only their place and `invalid YAML` are compared."""
    monkeypatch.setattr(walker, "LOADER", LOADERS[loader])
    store = ManifestCache(Path("cache")) if served == "cached" else None
    found = _problems(files, store=store)
    if store is not None:
        assert _problems(files, store=store) == found
    expected = sorted(expected, key=in_order)
    if loader == "pure-python":
        found = [_syntax_errors_as_place(line) for line in found]
        expected = [_syntax_errors_as_place(line) for line in expected]
    assert found == expected


def _syntax_errors_as_place(line: str) -> str:
    place, message = line.split(": ", 1)
    return f"{place}: invalid YAML" if message.startswith("invalid YAML: ") else line


@pytest.mark.usefixtures("work_folder")
def test_every_problem_of_every_file_in_one_run_sorted() -> None:
    files: Files = {
        "z.yaml": "source: JIRA\nclients:\n  - {id: 1, name: A}\n  - {id: C2}\n",
        "a/b.yaml": "source: JIRA\nbrands: [{id: B, name: B, client_id: NOPE}]\nbrand: []\n",
        "c.yaml": "source: JIRA\nclients: [\n",
    }
    assert _problems(files) == [
        'm/a/b.yaml:2:38: client_id "NOPE" refers to a client that is not declared in source JIRA',
        'm/a/b.yaml:3:1: unknown top-level key "brand"; did you mean "brands"? valid keys: '
        "source, clients, brands, products",
        "m/c.yaml:3:1: invalid YAML: did not find expected node content (while parsing a flow "
        "node at line 3, column 1)",
        'm/z.yaml:3:10: id: 1 was read as an integer; external ids are strings: quote it: id: "1"',
        'm/z.yaml:4:5: this client has no "name", a required field: add `name: ...`',
    ]


@pytest.mark.usefixtures("work_folder")
def test_an_entry_with_a_problem_still_counts_for_references() -> None:
    files: Files = {
        "a.yaml": "source: JIRA\nclients:\n  - {id: C1, name: Acme, phone: 5550100}\n",
        "b.yaml": "source: JIRA\nbrands: [{id: B, name: B, client_id: C1}]\n",
    }
    assert [line.split(": ", 1)[0] for line in _problems(files)] == ["m/a.yaml:3:33"]


@pytest.mark.usefixtures("work_folder")
def test_billion_laughs_is_refused_without_expanding() -> None:
    # Nine levels of nine aliases: 10^9 nodes if expanded, 100 written.
    lines = ["source: JIRA", 'lol0: &lol0 "lol"']
    lines += [f"lol{n}: &lol{n} [{', '.join([f'*lol{n - 1}'] * 9)}]" for n in range(1, 10)]
    lines.append("clients: [{id: C1, name: *lol9}]")
    problems = _problems({"a.yaml": "\n".join(lines) + "\n"})
    assert problems == [
        "m/a.yaml:8:7: YAML aliases here would expand the document past 100,000 nodes; refused "
        "(write the values out, or use fewer aliases)"
    ]


def test_small_aliases_are_allowed_and_resolved(work_folder: WorkFolder) -> None:
    text = """\
    source: JIRA
    clients: [{id: &acme C1, name: Acme}]
    brands: [{id: B1, name: Road, client_id: *acme}]
    """
    work_folder({"a.yaml": text}, under="m")
    desired = read_manifests(["m"])
    brand = desired[ResourceKey(Kind.BRAND, "JIRA", "B1")]
    assert brand.attributes == {"name": "Road", "client_id": "C1"}
    assert brand.field_locations["client_id"] == Location("m/a.yaml", 2, 16)  # the anchor


def test_valid_files_give_declared_values_in_apply_order(work_folder: WorkFolder) -> None:
    work_folder(
        {
            "sf/products.yaml": """\
            source: SALESFORCE
            products:
              - id: "00917"
                name: Anvil
                client_id: ACME
                brand_id: ROAD
                description: Heavy.  # comment
            """,
            "sf/clients.yml": """\
            source: SALESFORCE
            brands:
              - {id: ROAD, name: Road Runner, client_id: ACME}
            clients:
              - id: ACME
                name: 'Acme, Inc.'
                website: https://acme.example
            """,
            "dyn.yaml": "source: MICROSOFT_DYNAMICS\nclients: [{id: ACME, name: Acme EU}]\n",
            "empty.yaml": "",
            "comments.yaml": "# nothing declared yet\n",
            "bare.yaml": "---\n",
            "no-entries.yaml": "clients: []\n",
            "notes.txt": "not a manifest: ignored",
            ".hidden/x.yaml": "not: [valid",
        },
        under="m",
    )
    desired = read_manifests(["m"])
    assert list(desired.values()) == [
        Declared(
            ResourceKey(Kind.CLIENT, "MICROSOFT_DYNAMICS", "ACME"),
            {"name": "Acme EU"},
            Location("m/dyn.yaml", 2, 16),
            {"name": Location("m/dyn.yaml", 2, 28)},
        ),
        Declared(
            ResourceKey(Kind.CLIENT, "SALESFORCE", "ACME"),
            {"name": "Acme, Inc.", "website": "https://acme.example"},
            Location("m/sf/clients.yml", 5, 9),
            {
                "name": Location("m/sf/clients.yml", 6, 11),
                "website": Location("m/sf/clients.yml", 7, 14),
            },
        ),
        Declared(
            ResourceKey(Kind.BRAND, "SALESFORCE", "ROAD"),
            {"name": "Road Runner", "client_id": "ACME"},
            Location("m/sf/clients.yml", 3, 10),
            {
                "name": Location("m/sf/clients.yml", 3, 22),
                "client_id": Location("m/sf/clients.yml", 3, 46),
            },
        ),
        Declared(
            ResourceKey(Kind.PRODUCT, "SALESFORCE", "00917"),
            {"name": "Anvil", "client_id": "ACME", "brand_id": "ROAD", "description": "Heavy."},
            Location("m/sf/products.yaml", 3, 9),
            {
                "name": Location("m/sf/products.yaml", 4, 11),
                "client_id": Location("m/sf/products.yaml", 5, 16),
                "brand_id": Location("m/sf/products.yaml", 6, 15),
                "description": Location("m/sf/products.yaml", 7, 18),
            },
        ),
    ]
    assert list(desired) == [entity.key for entity in desired.values()]


def test_explicit_files_and_overlapping_paths_are_read_once(work_folder: WorkFolder) -> None:
    work_folder({"a.yaml": VALID_HEAD, "notes.manifest": VALID_HEAD.replace("C1", "C2")}, under="m")
    desired = read_manifests(["m", "./m/a.yaml", Path("m/notes.manifest")])
    assert sorted(key.id for key in desired) == ["C1", "C2"]


@pytest.mark.usefixtures("work_folder")
def test_a_path_that_does_not_exist_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match=r"^missing\.yaml: no such file or directory$"):
        read_manifests(["missing.yaml"])


def test_garbage_collection_is_restored(work_folder: WorkFolder) -> None:
    work_folder({"bad.yaml": "source: NOPE\n"}, under="m")
    assert gc.isenabled()
    with pytest.raises(ManifestError):
        read_manifests(["m"])
    assert gc.isenabled()


def test_example_manifests_load() -> None:
    desired = read_manifests([EXAMPLES])
    counts = Counter((key.kind, key.source) for key in desired)
    assert counts == {
        (Kind.CLIENT, "SALESFORCE"): 3,
        (Kind.BRAND, "SALESFORCE"): 4,
        (Kind.PRODUCT, "SALESFORCE"): 15,
        (Kind.CLIENT, "MICROSOFT_DYNAMICS"): 2,
        (Kind.BRAND, "MICROSOFT_DYNAMICS"): 3,
        (Kind.PRODUCT, "MICROSOFT_DYNAMICS"): 11,
    }
    assert len({entity.location.path for entity in desired.values()}) == 7


@pytest.mark.parametrize(
    ("written", "protect", "problem"),
    [
        ("protect: true", True, None),
        ("protect: yes", True, None),
        ("protect: false", False, None),
        ("", False, None),
        ('protect: "true"', False, 'protect must be true or false; found a string "true"'),
        ("protect: maybe", False, 'protect must be true or false; found a string "maybe"'),
    ],
)
def test_protect_is_a_boolean_flag(
    work_folder: WorkFolder, written: str, protect: bool, problem: str | None
) -> None:
    text = f"source: JIRA\nclients:\n  - id: C1\n    name: Acme\n    {written}\n"
    if problem is None:
        work_folder({"a.yaml": text}, under="m")
        (entity,) = read_manifests(["m"]).values()
        assert entity.protect is protect
        assert "protect" not in entity.attributes  # never sent to COR
    else:
        (found,) = _problems({"a.yaml": text})
        assert found.startswith("m/a.yaml:5:14: " + problem), found


@pytest.mark.usefixtures("work_folder")
def test_many_dangling_references_are_all_reported_and_suggestions_stay_bounded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each suggestion compares the reference with every id of its kind: past a budget of
    comparisons in all, references get none, so thousands of them cannot take minutes. The
    same reference twice is looked up once."""
    monkeypatch.setattr(validate, "_SUGGESTION_BUDGET", 50)
    brands = "".join(f"  - {{id: BR-{n:02d}, name: B, client_id: C1}}\n" for n in range(20))
    products = "".join(
        f"  - {{id: P{n}, name: P, client_id: C1, brand_id: BR-{n % 5:02d}x}}\n" for n in range(30)
    )
    text = f"{VALID_HEAD}brands:\n{brands}products:\n{products}"
    problems = _problems({"a.yaml": text})
    assert len(problems) == 30
    suggested = [line for line in problems if "did you mean" in line]
    assert len(suggested) == 2 * 6  # the first two references fit the budget; each is used 6 times
    assert all('did you mean "BR-0' in line for line in suggested)
