"""Every kind of manifest problem, with the exact messages: one table for the reader's tests
(tests/manifests/test_reader.py) and the validate command's (tests/cli/test_validate_command.py).

Each case: the files (under m/) and every problem they hold, exactly.
"""

from __future__ import annotations

import pytest

from reconciler.core.resources import SOURCES

ALL_SOURCES = ", ".join(SOURCES)
CLIENT_FIELDS = (
    "id, name, business_name, email_contact, name_contact, last_name_contact, phone, website, "
    "description, protect"
)
VALID_HEAD = """\
source: SALESFORCE
clients:
  - id: C1
    name: Acme
"""

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


def in_order(line: str) -> tuple[str, int, int, str]:
    """Sort key of a problem line: path, then line and column as numbers."""
    path, row, col, message = line.split(":", 3)
    return (path, int(row), int(col), message)
