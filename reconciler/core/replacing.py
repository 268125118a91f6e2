"""Replacements: what must go with a record that is replaced.

Pure core, applied by `limits.make_plan` after `plan.build_plan`. A replacement deletes the COR
record and creates it again under the same external id (docs/cli.md "Replace"): a brand's
products go with it, since COR refuses to delete a brand that still has products and a
product's brand cannot change through the API. Imports core values only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from reconciler.core.plan import Action, Change, Plan
from reconciler.core.resources import Desired, Kind, Record, ResourceKey, in_apply_order


def with_dependants(plan: Plan, desired: Desired, records: Mapping[ResourceKey, Record]) -> Plan:
    """Every product COR holds under a replaced brand (as the state records) goes with it:
    replaced too if declared (marked so), deleted if the plan prunes it; one that is neither
    would make COR refuse the brand's delete, so the plan says so (`blocked`: refused)."""
    brands = {
        c.key for c in plan.changes if c.action is Action.REPLACE and c.key.kind is Kind.BRAND
    }
    if not brands:
        return plan
    by_key = {change.key: change for change in plan.changes}
    added: list[Change] = []
    blocked: list[str] = []
    for record in records.values():
        key = record.key
        if key.kind is not Kind.PRODUCT:
            continue
        brand = ResourceKey(Kind.BRAND, key.source, record.attributes.get("brand_id", ""))
        if brand not in brands:
            continue
        change, declared = by_key.get(key), desired.get(key)
        if declared is None:
            if change is None or change.action is not Action.DELETE:
                blocked.append(
                    f"{brand} is replaced, but {key} (recorded, no longer declared) still "
                    "belongs to it in COR, which refuses to delete a brand with products: "
                    "declare it, or prune it (--prune)"
                )
        elif change is None:
            added.append(
                Change(
                    Action.REPLACE,
                    key,
                    declared.attributes,
                    record.cor_id,
                    protect=declared.protect,
                    replaced_with=brand,
                    file=record.file,  # no change planned: the file is the recorded one
                )
            )
        elif change.action is Action.UPDATE:
            added.append(replace(change, action=Action.REPLACE, replaced_with=brand))
    swapped = {change.key: change for change in added}
    upserts = in_apply_order(
        [c for c in plan.changes if c.action is not Action.DELETE and c.key not in swapped] + added,
        lambda c: c.key,
    )
    deletes = [c for c in plan.changes if c.action is Action.DELETE]
    blocked.sort()
    return replace(plan, changes=tuple(upserts + deletes), blocked=(*plan.blocked, *blocked))
