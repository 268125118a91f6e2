"""What COR holds now against what the state records: drift, as data (docs/audit.md).

Pure core: compares answers of COR's read API (fetched by `actions/readback.py`) with the state's
records; no file, network, clock or terminal. COR's answers are tolerated in every plausible
shape: bare or enveloped (`{"data": {...}}`), ids as numbers or numeric strings, fields left
out (not compared) or null (not set). Imports core values only.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from reconciler.core.audit import Category, Finding, Link, ReadError, Reference
from reconciler.core.diff import FieldChange
from reconciler.core.resources import SPECS, Kind, Record, ResourceKey, parse_cor_id


@dataclass(frozen=True)
class Gone:
    """COR does not hold the record (404, not found)."""


@dataclass(frozen=True)
class Unread:
    """The read failed (after the client's retries); `message` says why, free of secrets."""

    message: str


Answer = Mapping[str, object] | Gone | Unread
_Index = Mapping[tuple[Kind, str, int], ResourceKey]


def audit_drift(
    records: Mapping[ResourceKey, Record], answers: Mapping[ResourceKey, Answer]
) -> tuple[list[Finding], list[ReadError]]:
    """Deleted, renamed, re-parented or otherwise changed in COR; and the records unread."""
    index = {(r.key.kind, r.key.source, r.cor_id): r.key for r in records.values()}
    findings: list[Finding] = []
    errors: list[ReadError] = []
    for key in sorted(answers, key=ResourceKey.sort_key):
        record, answer = records[key], answers[key]
        if isinstance(answer, Gone):
            findings.append(Finding(Category.DELETED, key, record.cor_id))
        elif isinstance(answer, Unread):
            errors.append(ReadError(key, record.cor_id, answer.message))
        else:
            outcome = _compare(record, unwrap_answer(answer), records, index)
            if isinstance(outcome, ReadError):
                errors.append(outcome)
            else:
                findings += outcome
    return findings, errors


def unwrap_answer(answer: Mapping[str, object]) -> Mapping[str, object]:
    data = answer.get("data")
    if "id" not in answer and isinstance(data, Mapping):
        return {str(name): value for name, value in data.items()}
    return answer


def _compare(
    record: Record, body: Mapping[str, object], records: Mapping[ResourceKey, Record], index: _Index
) -> list[Finding] | ReadError:
    key, cor_id = record.key, record.cor_id
    problem = answer_problem(record, body)
    if problem is not None:
        return problem
    references = _reference_changes(record, body, records, index)
    if isinstance(references, ReadError):
        return references
    spec = SPECS[key.kind]
    linked = {name for name, _ in spec.references}
    others = tuple(name for name in spec.fields if name != "name" and name not in linked)
    findings = []
    renamed = _field_changes(record, body, ("name",))
    if renamed:
        findings.append(Finding(Category.RENAMED, key, cor_id, changes=renamed))
    if references:
        findings.append(Finding(Category.REPARENTED, key, cor_id, references=references))
    changed = _field_changes(record, body, others)
    if changed:
        findings.append(Finding(Category.CHANGED, key, cor_id, changes=changed))
    return findings


def answer_problem(record: Record, body: Mapping[str, object]) -> ReadError | None:
    """Why COR's (unwrapped) answer is not this record's — no record at all, or another one —
    or None: the one check of an answer, for the audit and the refresh (refresh.py) alike."""
    key, cor_id = record.key, record.cor_id
    if "id" not in body and "name" not in body:
        return ReadError(key, cor_id, "COR's answer holds no record (neither id nor name)")
    if "id" in body and answer_cor_id(body["id"]) != cor_id:
        return ReadError(key, cor_id, f"COR answered with another record (id {_show(body['id'])})")
    return None


def _field_changes(
    record: Record, body: Mapping[str, object], names: tuple[str, ...]
) -> tuple[FieldChange, ...]:
    """The fields COR returned whose value differs from the recorded one, sorted by name."""
    changes = []
    for name in sorted(names):
        if name not in body:
            continue  # the read API need not return every field: only what it shows counts
        recorded, now = field_text(record.attributes.get(name)), field_text(body[name])
        if recorded != now:
            changes.append(FieldChange(name, recorded, now))
    return tuple(changes)


def _reference_changes(
    record: Record, body: Mapping[str, object], records: Mapping[ResourceKey, Record], index: _Index
) -> tuple[Reference, ...] | ReadError:
    """References whose COR id in COR is not the one the state records for their target."""
    key = record.key
    changed = []
    for name, kind in SPECS[key.kind].references:
        target = records.get(ResourceKey(kind, key.source, record.attributes.get(name, "")))
        if name not in body or target is None:
            continue  # not returned, or a dangling reference (reported offline)
        now = answer_cor_id(body[name])
        if isinstance(now, str):
            return ReadError(key, record.cor_id, f"COR's {name} is not a COR id ({now})")
        if now != target.cor_id:
            found = index.get((kind, key.source, now)) if now is not None else None
            after = Link(found.id if found else None, now)
            changed.append(Reference(name, kind, Link(target.key.id, target.cor_id), after))
    return tuple(changed)


def answer_cor_id(value: object) -> int | str | None:
    """A COR id (resources.parse_cor_id); None for null; anything else, shown, as a string."""
    if value is None:
        return None
    cor_id = parse_cor_id(value)
    return _show(value) if cor_id is None else cor_id


def field_text(value: object) -> str | None:
    """A field as the state keeps it: a string; null and "" are not set."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _show(value: object) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 60 else text[:59] + "…"
