"""Drift (core/drift.py): the state's records + COR's answers in, findings and errors out."""

from __future__ import annotations

import pytest

from reconciler.core.audit import Category, Finding, Link, Reference
from reconciler.core.diff import FieldChange
from reconciler.core.drift import Answer, Gone, Unread, audit_drift
from reconciler.core.resources import Kind, ResourceKey
from tests.audit_samples import ACME_R, BRAND_R, PROD_R
from tests.builders import key, recorded, state_of

C, B = Kind.CLIENT, Kind.BRAND

RECORDS = state_of(
    ACME_R,
    recorded("client", "SF", "C2", 25002, name="Other", phone="555"),
    BRAND_R,
    PROD_R,
    recorded("product", "SF", "P2", 52002, name="Gone", client_id="C9", brand_id="B1"),
)
SAME = {"id": 52001, "name": "Prod", "client_id": 25001, "brand_id": 3001}

# fmt: off
DRIFT: list[tuple[str, ResourceKey, Answer, list[Finding], list[str]]] = [
    ("the same", PROD_R.key, SAME, [], []),
    ("enveloped, ids as strings", PROD_R.key,
     {"data": {"id": "52001", "name": "Prod", "client_id": "25001", "brand_id": " 3001 "}}, [], []),
    ("a field not returned is not compared", key("client", "SF", "C2"), {"id": 25002}, [], []),
    ("a number equals its string", key("client", "SF", "C2"),
     {"id": 25002, "name": "Other", "phone": 555}, [], []),
    ("deleted", PROD_R.key, Gone(), [Finding(Category.DELETED, PROD_R.key, 52001)], []),
    ("renamed", ACME_R.key, {"id": 25001, "name": "Acme 2"},
     [Finding(Category.RENAMED, ACME_R.key, 25001,
              changes=(FieldChange("name", "Acme", "Acme 2"),))], []),
    ("re-parented to another recorded client", BRAND_R.key,
     {"id": 3001, "name": "Brand", "client_id": 25002},
     [Finding(Category.REPARENTED, BRAND_R.key, 3001, references=(
         Reference("client_id", C, Link("C1", 25001), Link("C2", 25002)),))], []),
    ("re-parented to a brand the state does not know, or to none", PROD_R.key,
     {**SAME, "client_id": None, "brand_id": 9},
     [Finding(Category.REPARENTED, PROD_R.key, 52001, references=(
         Reference("client_id", C, Link("C1", 25001), Link(None, None)),
         Reference("brand_id", B, Link("B1", 3001), Link(None, 9))))], []),
    ("other fields; null is not set", key("client", "SF", "C2"),
     {"id": 25002, "name": "Other", "phone": None, "website": "w"},
     [Finding(Category.CHANGED, key("client", "SF", "C2"), 25002, changes=(
         FieldChange("phone", "555", None), FieldChange("website", None, "w")))], []),
    ("a dangling reference is not re-parenting", key("product", "SF", "P2"),
     {"id": 52002, "name": "Gone", "client_id": 1, "brand_id": 3001}, [], []),
    ("read failed", ACME_R.key, Unread("GET /v1/clients/25001: 503"), [],
     ["GET /v1/clients/25001: 503"]),
    ("an empty answer", ACME_R.key, {"data": None}, [],
     ["COR's answer holds no record (neither id nor name)"]),
    ("another record answered", ACME_R.key, {"id": 7, "name": "Acme"}, [],
     ["COR answered with another record (id 7)"]),
    ("a reference that is no id", BRAND_R.key, {"id": 3001, "client_id": "abc"}, [],
     ['COR\'s client_id is not a COR id ("abc")']),
]
# fmt: on


@pytest.mark.parametrize(
    ("key_", "answer", "findings", "errors"),
    [case[1:] for case in DRIFT],
    ids=[case[0] for case in DRIFT],
)
def test_drift(
    key_: ResourceKey, answer: Answer, findings: list[Finding], errors: list[str]
) -> None:
    found, failed = audit_drift(RECORDS, {key_: answer})
    assert found == findings
    assert [error.message for error in failed] == errors
    assert all(error.cor_id == RECORDS[key_].cor_id for error in failed)
