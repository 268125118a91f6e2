"""Records the audit tests share: a client, its brand and a product, declared and recorded."""

from __future__ import annotations

from tests.builders import declared, recorded

ACME = declared("client", "SF", "C1", name="Acme")
ACME_R = recorded("client", "SF", "C1", 25001, name="Acme")
BRAND = declared("brand", "SF", "B1", name="Brand", client_id="C1")
BRAND_R = recorded("brand", "SF", "B1", 3001, name="Brand", client_id="C1")
PROD_R = recorded("product", "SF", "P1", 52001, name="Prod", client_id="C1", brand_id="B1")
