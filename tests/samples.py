"""Manifests several test folders apply: a SALESFORCE account of 2 clients, 2 brands and 3
products (7 records), the one the end-to-end and audit tests drive against the emulator."""

from __future__ import annotations

SALESFORCE = """\
source: SALESFORCE
clients:
  - id: SF-ACC-1
    name: Acme Corporation
    website: https://acme.com
  - id: SF-ACC-2
    name: Globex
brands:
  - id: SF-BRAND-1
    name: Acme Premium
    client_id: SF-ACC-1
  - id: SF-BRAND-2
    name: Globex Home
    client_id: SF-ACC-2
products:
  - id: SF-PROD-1
    name: Premium Widget
    client_id: SF-ACC-1
    brand_id: SF-BRAND-1
  - id: SF-PROD-2
    name: Premium Gadget
    client_id: SF-ACC-1
    brand_id: SF-BRAND-1
    description: The gadget
  - id: SF-PROD-3
    name: Home Kit
    client_id: SF-ACC-2
    brand_id: SF-BRAND-2
"""


def catalogue(clients: int, brands_per_client: int, products_per_brand: int) -> str:
    """A SAP manifest: `clients` clients, each with `brands_per_client` brands, each with
    `products_per_brand` products (ids C0, B0-1, P0-1-2)."""
    lines = ["source: SAP", "clients:"]
    lines += [f"  - {{id: C{c}, name: Client {c}}}" for c in range(clients)]
    lines.append("brands:")
    lines += [
        f"  - {{id: B{c}-{b}, name: Brand {b}, client_id: C{c}}}"
        for c in range(clients)
        for b in range(brands_per_client)
    ]
    lines.append("products:")
    lines += [
        f"  - {{id: P{c}-{b}-{p}, name: Product {p}, client_id: C{c}, brand_id: B{c}-{b}}}"
        for c in range(clients)
        for b in range(brands_per_client)
        for p in range(products_per_brand)
    ]
    return "\n".join(lines) + "\n"
