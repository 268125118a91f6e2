"""read_manifests: discovery, YAML walking, every problem at its exact path:line:col."""

from __future__ import annotations

import gc
import json
import textwrap
from collections import Counter
from pathlib import Path

import pytest
import yaml

from reconciler.core import validation as validate
from reconciler.core.resources import KINDS, SOURCES, SPECS, Declared, Kind, ResourceKey
from reconciler.errors import Location, ManifestError, UsageError
from reconciler.manifests import walker
from reconciler.manifests.cache import ManifestCache
from reconciler.manifests.reader import read_manifests
from reconciler.manifests.schema import ENTRY_MODELS, ManifestFile, ProductEntry

EXAMPLES = Path(__file__).resolve().parent.parent / "manifests"
ALL_SOURCES = ", ".join(SOURCES)
CLIENT_FIELDS = (
    "id, name, business_name, email_contact, name_contact, last_name_contact, phone, website, "
    "description, protect"
)


def _write(root: Path, files: dict[str, str | bytes]) -> None:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(textwrap.dedent(content), encoding="utf-8")


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty folder made the current one, so problems carry short relative paths."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _problems(
    files: dict[str, str | bytes], *paths: str, store: ManifestCache | None = None
) -> list[str]:
    _write(Path("m"), files)
    with pytest.raises(ManifestError) as raised:
        read_manifests(list(paths) or ["m"], store=store)
    return [str(problem) for problem in raised.value.problems]


VALID_HEAD = """\
source: SALESFORCE
clients:
  - id: C1
    name: Acme
"""

# One case per kind of problem: the files (under m/) and every problem, exactly.
PROBLEM_CASES = [
    pytest.param(
        {"a.yaml": "source: JIRA\nclients: [\n"},
        [
            "m/a.yaml:3:1: invalid YAML: did not find expected node content "
            "(while parsing a flow node at line 3, column 1)"
        ],
        id="yaml-syntax-error",
    ),
    pytest.param(
        {"a.yaml": "source: JIRA\nclients:\n  - id: C1\n\tname: x\n"},
        [
            "m/a.yaml:4:1: invalid YAML: found a tab character that violates indentation "
            "(while scanning a plain scalar at line 3, column 9)"
        ],
        id="tab-indentation",
    ),
    pytest.param(
        {"a.yaml": VALID_HEAD + "    name: Acme Corp\n"},
        [
            'm/a.yaml:5:5: duplicate key "name" (first at line 4); YAML would silently keep '
            "only the last one: remove one of them"
        ],
        id="duplicate-key-in-entry",
    ),
    pytest.param(
        {"a.yaml": VALID_HEAD + "source: JIRA\n"},
        [
            'm/a.yaml:5:1: duplicate key "source" (first at line 1); YAML would silently keep '
            "only the last one: remove one of them"
        ],
        id="duplicate-key-top-level",
    ),
    pytest.param(
        {"a.yaml": VALID_HEAD + "    descripton: Our best client\n"},
        [
            'm/a.yaml:5:5: unknown field "descripton" in a client; did you mean "description"? '
            f"valid fields: {CLIENT_FIELDS}"
        ],
        id="unknown-field-with-suggestion",
    ),
    pytest.param(
        {"a.yaml": "source: JIRA\nbrands: [{id: B, name: B, client: C, colour: red}]\n"},
        [
            'm/a.yaml:2:27: unknown field "client" in a brand; did you mean "client_id"? '
            "valid fields: id, name, client_id, protect",
            'm/a.yaml:2:38: unknown field "colour" in a brand; '
            "valid fields: id, name, client_id, protect",
            'm/a.yaml:2:10: this brand has no "client_id", a required field: add `client_id: ...`',
        ],
        id="unknown-fields-and-missing-required",
    ),
    pytest.param(
        {"a.yaml": "source: JIRA\nclients:\n  - name: Acme\n"},
        ['m/a.yaml:3:5: this client has no "id", a required field: add `id: ...`'],
        id="missing-id",
    ),
    pytest.param(
        {"a.yaml": 'source: JIRA\nclients:\n  - id: C1\n    name: ""\n'},
        ["m/a.yaml:4:11: name is empty: give it a value"],
        id="empty-required-string",
    ),
    pytest.param(
        {"a.yaml": VALID_HEAD + '    description: ""\n'},
        ["m/a.yaml:5:18: description is empty: give a value or remove the field"],
        id="empty-optional-string",
    ),
    pytest.param(
        {"a.yaml": VALID_HEAD + "    description:\n    phone: ~\n"},
        [
            "m/a.yaml:5:17: description is empty: give a value or remove the field",
            "m/a.yaml:6:12: phone is empty: give a value or remove the field",
        ],
        id="optional-field-with-nothing",
    ),
    pytest.param(
        {"a.yaml": "source: JIRA\nclients:\n  - id: 00123\n    name: Acme\n"},
        [
            "m/a.yaml:3:9: id: 00123 was read as an integer; external ids are strings: quote it: "
            'id: "00123"'
        ],
        id="id-with-leading-zeros",
    ),
    pytest.param(
        {"a.yaml": "source: JIRA\nclients:\n  - id: 12\n    name: Acme\n"},
        [
            "m/a.yaml:3:9: id: 12 was read as an integer; external ids are strings: quote it: "
            'id: "12"'
        ],
        id="id-integer",
    ),
    pytest.param(
        {"a.yaml": "source: JIRA\nclients:\n  - id: C1\n    name: yes\n"},
        [
            "m/a.yaml:4:11: name: yes was read as a boolean; field values are strings: quote it: "
            'name: "yes"'
        ],
        id="name-boolean",
    ),
    pytest.param(
        {"a.yaml": "source: JIRA\nclients:\n  - id: C1\n    name: 1.5\n"},
        [
            "m/a.yaml:4:11: name: 1.5 was read as a number; field values are strings: quote it: "
            'name: "1.5"'
        ],
        id="name-float",
    ),
    pytest.param(
        {"a.yaml": "source: JIRA\nclients:\n  - id: C1\n    name: 2024-01-01\n"},
        [
            "m/a.yaml:4:11: name: 2024-01-01 was read as a date; field values are strings: "
            'quote it: name: "2024-01-01"'
        ],
        id="name-date",
    ),
    pytest.param(
        {"a.yaml": "source: JIRA\nclients:\n  - id: C1\n    name: null\n"},
        [
            "m/a.yaml:4:11: name: null was read as null (no value): give it a value "
            '(or quote it: "null")'
        ],
        id="name-null",
    ),
    pytest.param(
        {"a.yaml": "source: JIRA\nclients:\n  - id: C1\n    name: [Acme, Inc]\n"},
        ["m/a.yaml:4:11: name must be one string; found a list"],
        id="name-list",
    ),
    pytest.param(
        {"a.yaml": "source: JIRA\nclients:\n  - id: C1\n    name:\n      first: Acme\n"},
        ["m/a.yaml:5:7: name must be one string; found a mapping"],
        id="name-mapping",
    ),
    pytest.param(
        {"a.yaml": "source: JIRA\nbrands: [{id: B, name: B, client_id: 42}]\n"},
        [
            "m/a.yaml:2:38: client_id: 42 was read as an integer; references are external ids, "
            'which are strings: quote it: client_id: "42"'
        ],
        id="reference-integer",
    ),
    pytest.param(
        {"a.yaml": "source: JIRA\nclients: [{id: C1, name: !custom Acme}]\n"},
        ["m/a.yaml:2:26: name: the tag !custom is not supported; write a plain string"],
        id="unsupported-tag",
    ),
    pytest.param(
        {"a.yaml": "source: SALESFOCRE\n"},
        [
            'm/a.yaml:1:9: unknown source "SALESFOCRE"; did you mean "SALESFORCE"? valid sources '
            f"(exact spelling): {ALL_SOURCES}"
        ],
        id="invalid-source",
    ),
    pytest.param(
        {"a.yaml": "source: microsoft_dynamics\n"},
        [
            'm/a.yaml:1:9: unknown source "microsoft_dynamics"; did you mean '
            f'"MICROSOFT_DYNAMICS"? valid sources (exact spelling): {ALL_SOURCES}'
        ],
        id="source-wrong-case",
    ),
    pytest.param(
        {"a.yaml": "source: 12\n"},
        [f"m/a.yaml:1:9: source must be one of: {ALL_SOURCES}; found an integer 12"],
        id="source-not-a-string",
    ),
    pytest.param(
        {"a.yaml": "source:\nclients: []\n"},
        [f"m/a.yaml:1:8: source is empty: name one of: {ALL_SOURCES}"],
        id="source-empty",
    ),
    pytest.param(
        {"a.yaml": "# no source\nclients:\n  - {id: C1, name: Acme}\n"},
        [
            "m/a.yaml:2:1: missing `source:`: a file that declares clients, brands or products "
            f"must name their source, one of: {ALL_SOURCES}"
        ],
        id="source-missing",
    ),
    pytest.param(
        {"a.yaml": "source: JIRA\nclients:\n  id: C1\n  name: Acme\n"},
        [
            "m/a.yaml:3:3: clients must be a list of entries (each starting with `- `); "
            "found a mapping"
        ],
        id="section-not-a-list",
    ),
    pytest.param(
        {"a.yaml": "source: JIRA\nproducts:\n"},
        [
            "m/a.yaml:2:10: products is empty: list entries under it, write `products: []` or "
            "remove the key"
        ],
        id="section-with-nothing",
    ),
    pytest.param(
        {"a.yaml": "source: JIRA\nclients:\n  - C1\n  - [C2]\n"},
        [
            "m/a.yaml:3:5: each entry of clients must be a mapping of fields (`- id: ...` then "
            '`name: ...`); found a string "C1"',
            "m/a.yaml:4:5: each entry of clients must be a mapping of fields (`- id: ...` then "
            "`name: ...`); found a list",
        ],
        id="entry-not-a-mapping",
    ),
    pytest.param(
        {
            "a.yaml": VALID_HEAD,
            "b.yaml": "source: SALESFORCE\nclients:\n  - id: C1\n    name: Acme again\n",
        },
        [
            'm/b.yaml:3:9: duplicate client id "C1" in source SALESFORCE: first declared at '
            "m/a.yaml:3:9"
        ],
        id="duplicate-identity-across-files",
    ),
    pytest.param(
        {
            "a.yaml": VALID_HEAD,
            "b.yaml": "source: MICROSOFT_DYNAMICS\nbrands: [{id: B, name: B, client_id: C1}]\n",
        },
        [
            'm/b.yaml:2:38: client_id "C1" refers to a client that is not declared in source '
            "MICROSOFT_DYNAMICS"
        ],
        id="dangling-reference-other-source",
    ),
    pytest.param(
        {
            "a.yaml": VALID_HEAD + "  - {id: C2, name: Globex}\n"
            "brands: [{id: B1, name: Road, client_id: C1}]\n"
            "products: [{id: P1, name: Anvil, client_id: C2, brand_id: B1}]\n"
        },
        [
            'm/a.yaml:7:45: client_id "C2" is not the client of brand "B1", which belongs to '
            "client \"C1\" (m/a.yaml:6:42): a product's client_id must be its brand's client_id"
        ],
        id="product-client-is-not-brand-client",
    ),
    pytest.param(
        {"a.yaml": b"source: JIRA\nclients:\n  - {id: C1, name: Caf\xc3\xa9 \xe9t\xe9}\n"},
        [
            "m/a.yaml:3:25: the file is not UTF-8: byte 0xe9 here is an invalid continuation "
            "byte; save the file as UTF-8"
        ],
        id="not-utf8",
    ),
    pytest.param(
        {"a.yaml": "source: JIRA\nclients: [{id: C1, name: \x01}]\n"},
        ["m/a.yaml:2:26: invalid YAML: control characters are not allowed"],
        id="control-character",
    ),
    pytest.param(
        {"a.yaml": "- source: JIRA\n"},
        [
            "m/a.yaml:1:1: the file must be a mapping with `source:` and lists `clients:`, "
            "`brands:`, `products:`; found a list"
        ],
        id="top-level-list",
    ),
    pytest.param(
        {"a.yaml": "SALESFORCE\n"},
        [
            "m/a.yaml:1:1: the file must be a mapping with `source:` and lists `clients:`, "
            '`brands:`, `products:`; found a string "SALESFORCE"'
        ],
        id="top-level-scalar",
    ),
    pytest.param(
        {"a.yaml": "source: JIRA\nclient:\n  - {id: C1, name: Acme}\n"},
        [
            'm/a.yaml:2:1: unknown top-level key "client"; did you mean "clients"? valid keys: '
            "source, clients, brands, products"
        ],
        id="unknown-top-level-key",
    ),
    pytest.param(
        {"a.yaml": "source: JIRA\nclients:\n  - <<: {id: C1}\n    name: Acme\n"},
        [
            "m/a.yaml:3:5: merge keys (<<) are not supported: write the fields out in full",
            'm/a.yaml:3:5: this client has no "id", a required field: add `id: ...`',
        ],
        id="merge-key",
    ),
    pytest.param(
        {"a.yaml": "source: JIRA\n? [a, b]\n: x\n"},
        ["m/a.yaml:2:3: a key must be a plain name, not a list or mapping"],
        id="complex-key",
    ),
    pytest.param(
        {"a.yaml": "source: JIRA\n---\nsource: SAP\n"},
        [
            "m/a.yaml:2:1: a manifest file holds one YAML document; this `---` starts a second: "
            "split the file"
        ],
        id="two-documents",
    ),
    pytest.param(
        {"a.yaml": "source: JIRA\nclients: &loop [*loop]\n"},
        [
            "m/a.yaml:2:10: this YAML alias refers to itself (a recursive alias); "
            "write the value out"
        ],
        id="recursive-alias",
    ),
    pytest.param(
        {"a.yaml": "source: JIRA\nclients:\n  - &acme {id: C1, name: Acme}\n  - *acme\n"},
        [
            'm/a.yaml:3:16: duplicate client id "C1" in source JIRA: first declared at '
            "m/a.yaml:3:16 (a YAML alias repeats the entry)"
        ],
        id="alias-repeats-an-entry",
    ),
]


@pytest.mark.parametrize(("files", "expected"), PROBLEM_CASES)
@pytest.mark.usefixtures("workdir")
def test_each_problem_at_its_place(files: dict[str, str | bytes], expected: list[str]) -> None:
    assert _problems(files) == sorted(expected, key=_sort_key)


LOADERS = {"libyaml": yaml.CSafeLoader, "pure-python": yaml.SafeLoader}


@pytest.mark.parametrize("served", ["parsed", "cached"])
@pytest.mark.parametrize("loader", list(LOADERS))
@pytest.mark.parametrize(("files", "expected"), PROBLEM_CASES)
@pytest.mark.usefixtures("workdir")
def test_each_problem_at_its_place_whatever_reads_the_file(
    files: dict[str, str | bytes],
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
    expected = sorted(expected, key=_sort_key)
    if loader == "pure-python":
        found = [_syntax_errors_as_place(line) for line in found]
        expected = [_syntax_errors_as_place(line) for line in expected]
    assert found == expected


def _syntax_errors_as_place(line: str) -> str:
    place, message = line.split(": ", 1)
    return f"{place}: invalid YAML" if message.startswith("invalid YAML: ") else line


def _sort_key(line: str) -> tuple[str, int, int, str]:
    path, row, col, message = line.split(":", 3)
    return (path, int(row), int(col), message)


@pytest.mark.usefixtures("workdir")
def test_every_problem_of_every_file_in_one_run_sorted() -> None:
    files: dict[str, str | bytes] = {
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


@pytest.mark.usefixtures("workdir")
def test_an_entry_with_a_problem_still_counts_for_references() -> None:
    files: dict[str, str | bytes] = {
        "a.yaml": "source: JIRA\nclients:\n  - {id: C1, name: Acme, phone: 5550100}\n",
        "b.yaml": "source: JIRA\nbrands: [{id: B, name: B, client_id: C1}]\n",
    }
    assert [line.split(": ", 1)[0] for line in _problems(files)] == ["m/a.yaml:3:33"]


@pytest.mark.usefixtures("workdir")
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


def test_small_aliases_are_allowed_and_resolved(workdir: Path) -> None:
    text = """\
    source: JIRA
    clients: [{id: &acme C1, name: Acme}]
    brands: [{id: B1, name: Road, client_id: *acme}]
    """
    _write(workdir / "m", {"a.yaml": text})
    desired = read_manifests(["m"])
    brand = desired[ResourceKey(Kind.BRAND, "JIRA", "B1")]
    assert brand.attributes == {"name": "Road", "client_id": "C1"}
    assert brand.field_locations["client_id"] == Location("m/a.yaml", 2, 16)  # the anchor


def test_valid_files_give_declared_values_in_apply_order(workdir: Path) -> None:
    _write(
        workdir / "m",
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


def test_explicit_files_and_overlapping_paths_are_read_once(workdir: Path) -> None:
    _write(workdir / "m", {"a.yaml": VALID_HEAD, "notes.manifest": VALID_HEAD.replace("C1", "C2")})
    desired = read_manifests(["m", "./m/a.yaml", Path("m/notes.manifest")])
    assert sorted(key.id for key in desired) == ["C1", "C2"]


def test_a_path_that_does_not_exist_is_a_usage_error(workdir: Path) -> None:
    with pytest.raises(UsageError, match=r"^missing\.yaml: no such file or directory$"):
        read_manifests(["missing.yaml"])


def test_garbage_collection_is_restored(workdir: Path) -> None:
    _write(workdir / "m", {"bad.yaml": "source: NOPE\n"})
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


def test_models_match_the_api_field_tables() -> None:
    for kind in KINDS:
        fields = ENTRY_MODELS[kind].model_fields
        api_fields = tuple(name for name in fields if name != "protect")  # not sent to COR
        assert api_fields == ("id", *SPECS[kind].fields)
        assert not fields["protect"].is_required()
        required = {name for name, info in fields.items() if info.is_required()}
        assert required == {"id", *SPECS[kind].required}


def test_json_schema_describes_the_file() -> None:
    schema = ManifestFile.model_json_schema()
    json.dumps(schema)
    assert schema["required"] == ["source"]
    assert schema["additionalProperties"] is False
    assert schema["properties"]["source"]["enum"] == list(SOURCES)
    product = schema["$defs"]["ProductEntry"]
    assert product["required"] == ["id", "name", "client_id", "brand_id"]
    assert product["properties"]["description"] == {
        "description": "Free text about the product.",
        "minLength": 1,
        "title": "Description",
        "type": "string",
    }
    assert all("description" in prop for prop in product["properties"].values()), (
        "every field is documented"
    )


def test_models_refuse_null_for_an_optional_field() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="give a value or remove the field"):
        ProductEntry.model_validate(
            {"id": "P", "name": "N", "client_id": "C", "brand_id": "B", "description": None}
        )


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
    workdir: Path, written: str, protect: bool, problem: str | None
) -> None:
    text = f"source: JIRA\nclients:\n  - id: C1\n    name: Acme\n    {written}\n"
    if problem is None:
        _write(Path("m"), {"a.yaml": text})
        (entity,) = read_manifests(["m"]).values()
        assert entity.protect is protect
        assert "protect" not in entity.attributes  # never sent to COR
    else:
        (found,) = _problems({"a.yaml": text})
        assert found.startswith("m/a.yaml:5:14: " + problem), found


@pytest.mark.usefixtures("workdir")
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
