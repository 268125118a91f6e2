"""The audits the renderer tests share (output/audit_*.py): every category, and a read error."""

from __future__ import annotations

from reconciler.core.audit import Audit, audit_offline, build_audit
from reconciler.core.drift import Answer, Gone, Unread, audit_drift
from reconciler.core.resources import ResourceKey
from tests.builders import declared, desired_of, key, recorded, state_of

PRODUCT = {"name": "Widget", "client_id": "SF-ACC-1", "brand_id": "SF-BRAND-1"}
HOSTILE = 'Evil ```\n</details><!-- --> <img src=x> | "quoted"'


def mixed_audit() -> Audit:
    """Every category and a read error; built from values, so the goldens read like a story."""
    desired = desired_of(
        declared("client", "SALESFORCE", "SF-NEW", name="New client"),
        declared("client", "SALESFORCE", "SF-ACC-1", name="Acme Corporation", phone="+1 555"),
        declared("client", "SALESFORCE", "SF-DOUBT", name="Maybe"),
        declared("brand", "SALESFORCE", "SF-BRAND-1", name=HOSTILE, client_id="SF-ACC-1"),
        declared("product", "SALESFORCE", "SF-PROD-1", **PRODUCT),
    )
    records = state_of(
        recorded("client", "SALESFORCE", "SF-ACC-1", 25001, name="Acme Corp"),
        recorded("brand", "SALESFORCE", "SF-BRAND-1", 3001, name="Brand", client_id="SF-ACC-1"),
        recorded("brand", "SALESFORCE", "odd id\n2", 3002, name="Old", client_id="SF-GONE"),
        recorded("product", "SALESFORCE", "SF-PROD-1", 52001, **PRODUCT),
    )
    in_doubt = {key("client", "SALESFORCE", "SF-DOUBT"), key("product", "SAP", "LOST")}
    findings = audit_offline(desired, records, in_doubt)
    answers: dict[ResourceKey, Answer] = {
        key("client", "SALESFORCE", "SF-ACC-1"): {"id": 25001, "name": "Acme Corp", "phone": "1"},
        key("brand", "SALESFORCE", "SF-BRAND-1"): {"id": 3001, "name": "B", "client_id": 25009},
        key("brand", "SALESFORCE", "odd id\n2"): Unread("GET /v1/brands/3002: 503 (gave up)"),
        key("product", "SALESFORCE", "SF-PROD-1"): Gone(),
    }
    drift, errors = audit_drift(records, answers)
    return build_audit([*findings, *drift], errors, remote=True)
