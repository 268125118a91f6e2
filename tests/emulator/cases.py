"""Data and helpers for the emulator's tests: the documented cases, a seeded account, the named
errors, and requests over the wire."""

from __future__ import annotations

import base64
from typing import Any

import httpx

from tests.conformance import CASE_BY_NAME

TOKEN = "demo-token"  # the emulator's default static token (the session's emulator has it)
BASIC = "Basic " + base64.b64encode(b"demo-key:demo-secret").decode()  # its client credentials
C, B, P = "/v2/integrations/clients", "/v2/integrations/brands", "/v2/integrations/products"

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
