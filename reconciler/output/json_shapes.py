"""The JSON shapes that several documents share: a key, a record, a field change.

Pure (`… → render`). The one home of these shapes: the plan JSON (docs/plan-json.md), the
audit JSON (docs/audit.md) and `state list/show --format json` (docs/cli.md) all build them
here, so they cannot drift apart. Imports core values only.
"""

from __future__ import annotations

from collections.abc import Mapping

from reconciler.core.diff import FieldChange
from reconciler.core.resources import Record, ResourceKey


def key_json(key: ResourceKey) -> dict[str, str]:
    return {"kind": key.kind.value, "source": key.source, "id": key.id}


def record_json(record: Record) -> dict[str, object]:
    """kind, source, id, cor_id, the attributes (sorted) and protected, in that order."""
    return {
        **key_json(record.key),
        "cor_id": record.cor_id,
        "attributes": dict(sorted(record.attributes.items())),
        "protected": record.protected,
    }


def field_change_json(change: FieldChange) -> Mapping[str, str | None]:
    return {"field": change.field, "before": change.before, "after": change.after}
