"""The audit's offline comparison (core/audit.py): manifests + state in, findings out."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.core.audit import Category, Finding, Link, Reference, audit_offline, build_audit
from reconciler.core.diff import FieldChange
from reconciler.core.resources import Kind, Record, ResourceKey
from tests.audit_samples import ACME, ACME_R, BRAND, BRAND_R, PROD_R
from tests.builders import declared, desired_of, key, recorded, state_of

C, B = Kind.CLIENT, Kind.BRAND

# fmt: off
OFFLINE: list[tuple[str, list[Any], list[Record], set[ResourceKey], list[Finding]]] = [
    ("all agree", [ACME, BRAND], [ACME_R, BRAND_R], set(), []),
    ("declared, never applied", [ACME], [], set(),
     [Finding(Category.NOT_APPLIED, ACME.key, None, {"name": "Acme"})]),
    ("recorded, no longer declared", [], [ACME_R], set(),
     [Finding(Category.NOT_DECLARED, ACME_R.key, 25001, {"name": "Acme"})]),
    ("differs, field by field", [declared("client", "SF", "C1", name="Acme Inc", phone="1")],
     [ACME_R], set(),
     [Finding(Category.DIFFERS, ACME.key, 25001, changes=(
         FieldChange("name", "Acme", "Acme Inc"), FieldChange("phone", None, "1")))]),
    ("protection recorded differently", [ACME._replace(protect=True)], [ACME_R], set(),
     [Finding(Category.DIFFERS, ACME.key, 25001, changes=(
         FieldChange("protect", "false", "true"),))]),
    ("a brand's client is not recorded", [], [BRAND_R], set(), [
        Finding(Category.NOT_DECLARED, BRAND_R.key, 3001, BRAND_R.attributes),
        Finding(Category.DANGLING, BRAND_R.key, 3001,
                references=(Reference("client_id", C, Link("C1", None)),))]),
    ("a client of another source does not count",
     [], [recorded("client", "SAP", "C1", 1, name="x"), BRAND_R], set(), [
        Finding(Category.NOT_DECLARED, key("client", "SAP", "C1"), 1, {"name": "x"}),
        Finding(Category.NOT_DECLARED, BRAND_R.key, 3001, BRAND_R.attributes),
        Finding(Category.DANGLING, BRAND_R.key, 3001,
                references=(Reference("client_id", C, Link("C1", None)),))]),
    ("a product's brand is not recorded", [], [ACME_R, PROD_R], set(), [
        Finding(Category.NOT_DECLARED, ACME_R.key, 25001, ACME_R.attributes),
        Finding(Category.NOT_DECLARED, PROD_R.key, 52001, PROD_R.attributes),
        Finding(Category.DANGLING, PROD_R.key, 52001,
                references=(Reference("brand_id", B, Link("B1", None)),))]),
    ("in doubt and declared: not reported as never applied", [ACME], [], {ACME.key},
     [Finding(Category.IN_DOUBT, ACME.key, declared=True)]),
    ("in doubt, not declared", [], [], {ACME.key},
     [Finding(Category.IN_DOUBT, ACME.key, declared=False)]),
]
# fmt: on


@pytest.mark.parametrize(
    ("desired", "records", "in_doubt", "expected"),
    [case[1:] for case in OFFLINE],
    ids=[case[0] for case in OFFLINE],
)
def test_offline_findings(
    desired: list[Any], records: list[Record], in_doubt: set[ResourceKey], expected: list[Finding]
) -> None:
    found = build_audit(audit_offline(desired_of(*desired), state_of(*records), in_doubt))
    assert list(found.findings) == expected
