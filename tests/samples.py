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
