"""Data and helpers for tests/test_emulator.py: the documented cases and a seeded account."""

from __future__ import annotations

import json
from typing import Any

import httpx

TOKEN = "demo-token"
C, B, P = "/v2/integrations/clients", "/v2/integrations/brands", "/v2/integrations/products"

# cor-examples.json (../shared/), its Integrations API cases verbatim: the conformance suite.
DOCUMENTED_CASES: list[dict[str, Any]] = json.loads(
    """[
{"name": "create client", "method": "POST", "path": "/v2/integrations/clients",
 "request": {"metadata": {"source": "SALESFORCE"}, "id": "SF-ACC-67890", "name": "Acme Corporation", "business_name": "Acme Corporation LLC", "email_contact": "contact@acme.com", "name_contact": "Jane", "last_name_contact": "Smith", "phone": "+1 555-0100", "website": "https://acme.com", "description": "Enterprise software solutions provider"},
 "response": {"id": 25855, "name": "Acme Corporation", "business_name": "Acme Corporation LLC", "email_contact": "contact@acme.com", "name_contact": "Jane", "last_name_contact": "Smith", "phone": "+1 555-0100", "website": "https://acme.com", "description": "Enterprise software solutions provider", "company_id": 1234, "created_at": "2025-01-10T14:30:00Z", "updated_at": "2025-01-10T14:30:00Z"}},
{"name": "update client", "method": "PUT", "path": "/v2/integrations/clients/SF-ACC-67890",
 "request": {"metadata": {"source": "SALESFORCE"}, "name": "Acme Corp (Updated)", "phone": "+1 555-0200", "website": "https://www.acmecorp.com"},
 "response": {"id": 25855, "name": "Acme Corp (Updated)", "business_name": "Acme Corporation LLC", "email_contact": "contact@acme.com", "name_contact": "Jane", "last_name_contact": "Smith", "phone": "+1 555-0200", "website": "https://www.acmecorp.com", "description": "Enterprise software solutions provider", "company_id": 1234, "created_at": "2025-01-10T14:30:00Z", "updated_at": "2025-01-15T10:00:00Z"}},
{"name": "delete client", "method": "DELETE", "path": "/v2/integrations/clients/SF-ACC-67890",
 "request": {"metadata": {"source": "SALESFORCE"}},
 "response": {"message": "Client deleted successfully", "external_id": "SF-ACC-67890", "cor_id": 25855}},
{"name": "create brand", "method": "POST", "path": "/v2/integrations/brands",
 "request": {"metadata": {"source": "SALESFORCE"}, "id": "SF-BRAND-12345", "name": "Acme Premium", "client_id": "SF-ACC-67890"},
 "response": {"id": 3001, "name": "Acme Premium", "client_id": 25855, "company_id": 1234, "user_id": 8546, "created_at": "2025-01-10T14:30:00Z", "updated_at": "2025-01-10T14:30:00Z"}},
{"name": "update brand", "method": "PUT", "path": "/v2/integrations/brands/SF-BRAND-12345",
 "request": {"metadata": {"source": "SALESFORCE"}, "name": "Acme Premium Plus"},
 "response": {"id": 3001, "name": "Acme Premium Plus", "client_id": 25855, "company_id": 1234, "user_id": 8546, "created_at": "2025-01-10T14:30:00Z", "updated_at": "2025-01-15T10:00:00Z"}},
{"name": "delete brand", "method": "DELETE", "path": "/v2/integrations/brands/SF-BRAND-12345",
 "request": {"metadata": {"source": "SALESFORCE"}},
 "response": {"message": "Brand deleted successfully", "external_id": "SF-BRAND-12345", "cor_id": 3001}},
{"name": "create product", "method": "POST", "path": "/v2/integrations/products",
 "request": {"metadata": {"source": "MICROSOFT_DYNAMICS"}, "id": "EXT-PROD-12345", "name": "Premium Product", "client_id": "EXT-CLIENT-67890", "brand_id": "EXT-BRAND-11111", "description": "Premium product description"},
 "response": {"id": 52188, "name": "Premium Product", "client_id": 58294, "brand_id": 52187, "company_id": 2336, "user_id": 48429, "created_at": "2025-12-09T15:22:28Z", "updated_at": "2025-12-09T15:22:28Z"}},
{"name": "update product", "method": "PUT", "path": "/v2/integrations/products/EXT-PROD-12345",
 "request": {"metadata": {"source": "MICROSOFT_DYNAMICS"}, "name": "Updated Premium Product", "description": "Updated product description"},
 "response": {"id": 52188, "name": "Updated Premium Product", "description": "Updated product description", "client_id": 58294, "brand_id": 52187, "company_id": 2336, "user_id": 48429, "created_at": "2025-12-09T15:22:28Z", "updated_at": "2025-12-09T15:45:00Z"}},
{"name": "delete product (soft delete)", "method": "DELETE", "path": "/v2/integrations/products/EXT-PROD-12345",
 "request": {"metadata": {"source": "MICROSOFT_DYNAMICS"}},
 "response": {"message": "Entity deleted successfully"}}
]"""  # noqa: E501 - kept verbatim, one documented example per line
)
CASE_BY_NAME = {case["name"]: case for case in DOCUMENTED_CASES}
# What must exist before each documented case can run (the documentation assumes it).
MD = {"metadata": {"source": "MICROSOFT_DYNAMICS"}}
MD_CLIENT = ("clients", {**MD, "id": "EXT-CLIENT-67890", "name": "Contoso"})
MD_BRAND = (
    "brands",
    {**MD, "id": "EXT-BRAND-11111", "name": "Contoso One", "client_id": "EXT-CLIENT-67890"},
)
MD_PRODUCT = ("products", CASE_BY_NAME["create product"]["request"])
SF_CLIENT = ("clients", CASE_BY_NAME["create client"]["request"])
SF_BRAND = ("brands", CASE_BY_NAME["create brand"]["request"])
PREREQUISITES: dict[str, list[tuple[str, dict[str, Any]]]] = {
    "create client": [],
    "update client": [SF_CLIENT],
    "delete client": [SF_CLIENT],
    "create brand": [SF_CLIENT],
    "update brand": [SF_CLIENT, SF_BRAND],
    "delete brand": [SF_CLIENT, SF_BRAND],
    "create product": [MD_CLIENT, MD_BRAND],
    "update product": [MD_CLIENT, MD_BRAND, MD_PRODUCT],
    "delete product (soft delete)": [MD_CLIENT, MD_BRAND, MD_PRODUCT],
}
COR_ID_KEYS = frozenset({"id", "client_id", "brand_id", "cor_id", "company_id", "user_id"})

# A small account: SAP clients C1, C2; brands B1 (of C1), B2 (of C2); product P1 (C1, B1);
# and SALESFORCE client C9.
WORLD: list[tuple[str, str, dict[str, str]]] = [
    ("clients", "SAP", {"id": "C1", "name": "Client one", "phone": "+1 555"}),
    ("clients", "SAP", {"id": "C2", "name": "Client two"}),
    ("clients", "SALESFORCE", {"id": "C9", "name": "Elsewhere"}),
    ("brands", "SAP", {"id": "B1", "name": "Brand one", "client_id": "C1"}),
    ("brands", "SAP", {"id": "B2", "name": "Brand two", "client_id": "C2"}),
    ("products", "SAP", {"id": "P1", "name": "Product", "client_id": "C1", "brand_id": "B1"}),
]


def body(source: str, **fields: Any) -> dict[str, Any]:
    return {"metadata": {"source": source}, **fields}


def sap(**fields: Any) -> dict[str, Any]:
    return body("SAP", **fields)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def send(api: httpx.Client, method: str, path: str, payload: object) -> httpx.Response:
    """A request whose payload is JSON (dict), raw bytes, or nothing (None)."""
    if payload is None:
        return api.request(method, path)
    if isinstance(payload, bytes):
        return api.request(method, path, content=payload)
    return api.request(method, path, json=payload)


def post(api: httpx.Client, plural: str, payload: dict[str, Any]) -> dict[str, Any]:
    answer = api.post(f"/v2/integrations/{plural}", json=payload)
    assert answer.status_code == 201, answer.text
    created: dict[str, Any] = answer.json()
    return created


def seed(api: httpx.Client) -> dict[str, int]:
    """Create WORLD; external id -> COR id."""
    return {
        fields["id"]: post(api, plural, body(source, **fields))["id"]
        for plural, source, fields in WORLD
    }


def records(api: httpx.Client) -> list[dict[str, Any]]:
    answer = api.get("/_emulator/records")
    assert answer.status_code == 200
    listed: list[dict[str, Any]] = answer.json()["records"]
    return listed


def add_fault(api: httpx.Client, **fault: Any) -> None:
    answer = api.post("/_emulator/faults", json=fault)
    assert answer.status_code == 201, answer.text


STATUS_AND_CODE = {
    "ValidationError": (400, None),
    "InvalidSourceError": (400, None),
    "ClientNotFoundError": (404, "ZC001"),
    "BrandNotFoundError": (404, "ZC001"),
    "ProductNotFoundError": (404, "ZC001"),
    "DuplicateExternalIdError": (409, "ZC004"),
    "DeletionError": (417, None),
}


# (case, method, path, payload, error name) against the `world` fixture
# fmt: off
ERRORS: list[tuple[str, str, str, object, str]] = [
    ("duplicate", "POST", C, sap(id="C1", name="x"), "DuplicateExternalIdError"),
    ("update unknown client", "PUT", f"{C}/NOPE", sap(name="x"), "ClientNotFoundError"),
    ("update client of another source", "PUT", f"{C}/C1", body("SALESFORCE", name="x"),
     "ClientNotFoundError"),
    ("delete unknown brand", "DELETE", f"{B}/NOPE", sap(), "BrandNotFoundError"),
    ("update unknown product", "PUT", f"{P}/NOPE", sap(name="x"), "ProductNotFoundError"),
    ("brand of a missing client", "POST", B, sap(id="B3", name="b", client_id="NOPE"),
     "ClientNotFoundError"),
    ("brand of a client of another source", "POST", B, sap(id="B3", name="b", client_id="C9"),
     "ClientNotFoundError"),
    ("product of a missing brand", "POST", P,
     sap(id="P2", name="p", client_id="C1", brand_id="NOPE"), "BrandNotFoundError"),
    ("product of a missing client", "POST", P,
     sap(id="P2", name="p", client_id="NOPE", brand_id="B1"), "ClientNotFoundError"),
    ("product whose brand belongs to another client", "POST", P,
     sap(id="P2", name="p", client_id="C1", brand_id="B2"), "ValidationError"),
    ("delete client with brands and products", "DELETE", f"{C}/C1", sap(), "DeletionError"),
    ("delete brand with products", "DELETE", f"{B}/B1", sap(), "DeletionError"),
    ("invalid source", "POST", C, body("SAPX", id="C3", name="c"), "InvalidSourceError"),
    ("missing metadata", "POST", C, {"id": "C3", "name": "c"}, "ValidationError"),
    ("delete without body", "DELETE", f"{C}/C9", None, "ValidationError"),
    ("delete with fields", "DELETE", f"{C}/C9", body("SALESFORCE", name="x"), "ValidationError"),
    ("unknown field", "POST", C, sap(id="C3", name="c", colour="red"), "ValidationError"),
    ("missing name", "POST", C, sap(id="C3"), "ValidationError"),
    ("brand without client_id", "POST", B, sap(id="B3", name="b"), "ValidationError"),
    ("non-string name", "POST", C, sap(id="C3", name=5), "ValidationError"),
    ("non-string id", "POST", C, sap(id=3, name="c"), "ValidationError"),
    ("blank name", "POST", C, sap(id="C3", name=" "), "ValidationError"),
    ("name too long", "POST", C, sap(id="C3", name="x" * 256), "ValidationError"),
    ("update brand's client_id", "PUT", f"{B}/B1", sap(client_id="C2"), "ValidationError"),
    ("update product's brand_id", "PUT", f"{P}/P1", sap(brand_id="B1"), "ValidationError"),
    ("update id", "PUT", f"{C}/C1", sap(id="C1b"), "ValidationError"),
    ("clear required name", "PUT", f"{C}/C1", sap(name=None), "ValidationError"),
    ("non-string update", "PUT", f"{C}/C1", sap(phone=12), "ValidationError"),
    ("brand has no description", "PUT", f"{B}/B1", sap(description="d"), "ValidationError"),
    ("malformed JSON", "POST", C, b"{not json", "ValidationError"),
    ("body not an object", "POST", C, b"[1, 2]", "ValidationError"),
]
# fmt: on
