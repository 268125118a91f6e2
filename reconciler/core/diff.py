"""Field-level differences between recorded and declared attributes.

Pure core. The adapter around deepdiff (the only module that may import it: a pure library, imported
only when a record differs), so that an upgrade of deepdiff cannot change our output: callers get
plain `FieldChange` values, sorted by field. Called only for records that are known to differ —
equality is checked first by the caller, because DeepDiff on every record costs ~100x a plain
comparison.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class FieldChange:
    """One field's before → after; None means the field is not set on that side."""

    field: str
    before: str | None
    after: str | None


def field_changes(before: Mapping[str, str], after: Mapping[str, str]) -> tuple[FieldChange, ...]:
    """Every top-level field that differs, sorted by field name."""
    from deepdiff import DeepDiff  # imported once a record differs: a no-op plan never pays

    diff = DeepDiff(dict(before), dict(after), verbose_level=2)
    fields = sorted(str(name) for name in diff.affected_root_keys)
    return tuple(FieldChange(name, before.get(name), after.get(name)) for name in fields)
