"""Conformance: manifest entries equivalent to COR's documented examples become exactly the
documented requests (method, path, body), through load → plan → endpoints."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from reconciler.cor.endpoints import ApiCall, create_call, delete_call, update_call
from reconciler.core.plan import Action, build_plan, update_fields
from reconciler.core.resources import Kind, Record, ResourceKey
from reconciler.manifests.reader import read_manifests
from tests.conformance import CASE_BY_NAME

SF, MD = "SALESFORCE", "MICROSOFT_DYNAMICS"
PLURAL = {"client": "clients", "brand": "brands", "product": "products"}


def entry(kind: str) -> tuple[str, dict[str, Any]]:
    """The manifest entry that the documented create request of `kind` was made from."""
    request = dict(CASE_BY_NAME[f"create {kind}"]["request"])
    source = request.pop("metadata")["source"]
    return source, request


def manifest(tmp_path: Path, entries: dict[str, list[tuple[str, dict[str, Any]]]]) -> Path:
    """One file per source, written as JSON (which is YAML), holding the given entries."""
    by_source: dict[str, dict[str, Any]] = {}
    for kind, items in entries.items():
        for source, fields in items:
            by_source.setdefault(source, {"source": source}).setdefault(PLURAL[kind], []).append(
                fields
            )
    for source, document in by_source.items():
        (tmp_path / f"{source}.yaml").write_text(json.dumps(document), encoding="utf-8")
    return tmp_path


def documented(name: str) -> ApiCall:
    case = CASE_BY_NAME[name]
    return ApiCall(case["method"], case["path"], case["request"])


def test_creates_are_the_documented_requests(tmp_path: Path) -> None:
    md_client = (MD, {"id": "EXT-CLIENT-67890", "name": "Contoso"})
    md_brand = (
        MD,
        {"id": "EXT-BRAND-11111", "name": "Contoso Home", "client_id": "EXT-CLIENT-67890"},
    )
    desired = read_manifests(
        [
            manifest(
                tmp_path,
                {
                    "client": [entry("client"), md_client],
                    "brand": [entry("brand"), md_brand],
                    "product": [entry("product")],
                },
            )
        ]
    )
    calls = {
        (c.key.kind.value, c.key.source): create_call(c.key, c.attributes)
        for c in build_plan(desired, {}).changes
    }
    assert calls[("client", SF)] == documented("create client")
    assert calls[("brand", SF)] == documented("create brand")
    assert calls[("product", MD)] == documented("create product")


@pytest.mark.parametrize(
    ("kind", "changes"),
    [
        (
            "client",
            {
                "name": "Acme Corp (Updated)",
                "phone": "+1 555-0200",
                "website": "https://www.acmecorp.com",
            },
        ),
        ("brand", {"name": "Acme Premium Plus"}),
        (
            "product",
            {"name": "Updated Premium Product", "description": "Updated product description"},
        ),
    ],
)
def test_updates_are_the_documented_requests(
    tmp_path: Path, kind: str, changes: dict[str, str]
) -> None:
    source, created = entry(kind)
    key = ResourceKey(Kind(kind), source, created["id"])
    attributes = {name: value for name, value in created.items() if name != "id"}
    state = {key: Record(key, 1, attributes)}
    others = {  # what the entity refers to, so the manifests validate
        "client": [(source, {"id": created["client_id"], "name": "C"})]
        if "client_id" in created
        else [],
        "brand": [
            (source, {"id": created["brand_id"], "name": "B", "client_id": created["client_id"]})
        ]
        if "brand_id" in created
        else [],
    }
    others.setdefault(kind, []).append((source, {**created, **changes}))
    desired = read_manifests([manifest(tmp_path, others)])
    (change,) = [c for c in build_plan(desired, state).changes if c.key == key]
    assert change.action is Action.UPDATE
    assert update_call(key, update_fields(change)) == documented(f"update {kind}")


def test_each_call_names_its_record_without_being_told_apart_by_it() -> None:
    record = ResourceKey(Kind.PRODUCT, "SAP", "P-1")
    calls = [create_call(record, {"name": "X"}), update_call(record, {"name": "Y"})]
    calls.append(delete_call(record))
    assert [call.subject for call in calls] == ["product SAP/P-1"] * 3
    assert calls[2] == ApiCall("DELETE", calls[2].path, {"metadata": {"source": "SAP"}})
