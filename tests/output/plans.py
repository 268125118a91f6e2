"""The plans the renderer tests share (output/plan_*.py)."""

from __future__ import annotations

from reconciler.core.plan import Plan, build_plan
from tests.builders import declared, desired_of, key, recorded, state_of

SF, MD = "SALESFORCE", "MICROSOFT_DYNAMICS"


def mixed_plan() -> Plan:
    """Create, update, replace and not-declared in one plan, across two sources."""
    desired = desired_of(
        declared("client", SF, "SF-ACC-1", name="Acme Corporation", website="https://acme.com"),
        declared("client", MD, "EXT-CLIENT-7", name="Globex", phone="+1 555-0100"),
        declared("brand", SF, "SF-BRAND-1", name="Acme Premium", client_id="SF-ACC-1"),
        declared("brand", MD, "EXT-BRAND-2", name="Globex Home", client_id="EXT-CLIENT-9"),
        declared(
            "product",
            MD,
            "EXT-PROD-12345",
            name="Premium Product",
            client_id="EXT-CLIENT-7",
            brand_id="EXT-BRAND-2",
            description="Premium product description",
        ),
        declared(
            "product",
            MD,
            "EXT-PROD-9",
            name='New "quoted" name\nwith a newline',
            client_id="EXT-CLIENT-7",
            brand_id="EXT-BRAND-2",
        ),
    )
    state = state_of(
        recorded(
            "client",
            MD,
            "EXT-CLIENT-7",
            58294,
            name="Globex Inc",
            phone="+1 555-0100",
            description="to be removed",
        ),
        recorded("brand", MD, "EXT-BRAND-2", 52187, name="Globex Home", client_id="EXT-CLIENT-7"),
        recorded(
            "product",
            MD,
            "EXT-PROD-9",
            52190,
            name="Old",
            client_id="EXT-CLIENT-7",
            brand_id="EXT-BRAND-2",
        ),
        recorded(
            "product",
            SF,
            "SF-PROD-OLD",
            52100,
            name="Retired",
            client_id="SF-ACC-1",
            brand_id="SF-BRAND-1",
        ),
    )
    in_doubt = {key("client", SF, "SF-ACC-1"), key("client", SF, "SF-ACC-LOST")}
    return build_plan(desired, state, in_doubt)
