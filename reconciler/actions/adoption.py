"""Adoption: taking a record that already exists in COR under management, and `reconciler import`.

Orchestration over injected edges (`actions.edges`). The API cannot be read by external id, so
adopting is a PUT of the declared updatable fields to the external id: COR's answer names its
COR id. Apply adopts a create in doubt or one answered "duplicate external id"; import adopts
every declared record the state does not hold. If COR answers not found (ZC001), the record is
left for `apply` to create. Import goes kind by kind (clients, brands, products) so that an
adopted record's parents are known and checked; within a kind, requests run in parallel.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from reconciler.actions.edges import Recorder, Send
from reconciler.actions.outcomes import ImportReport, Outcome, Result
from reconciler.actions.stopping import STOPS_WRITES
from reconciler.cor.answers import cor_id_of
from reconciler.cor.endpoints import update_call
from reconciler.core.plan import Action, Change, Plan
from reconciler.core.resources import KINDS, SPECS, ResourceKey
from reconciler.errors import ApiError, NotFoundError


def adopt(change: Change, send: Send, cor_ids: Mapping[ResourceKey, int], reason: str) -> Result:
    """PUT the declared updatable fields to the external id; COR's answer names its id."""
    updatable = SPECS[change.key.kind].updatable
    fields = {name: change.attributes[name] for name in updatable if name in change.attributes}
    answer = send(update_call(change.key, fields))
    conflict = _parent_conflict(change, answer, cor_ids)
    if conflict:
        return Result(change, Outcome.FAILED, reason=conflict)
    return Result(change, Outcome.ADOPTED, cor_id_of(answer), reason)


def _parent_conflict(
    change: Change, answer: Mapping[str, Any], cor_ids: Mapping[ResourceKey, int]
) -> str:
    """A record found in COR under another parent than declared cannot be adopted as is."""
    for field, kind in SPECS[change.key.kind].references:
        if field not in change.attributes:
            continue
        ref = ResourceKey(kind, change.key.source, change.attributes[field])
        expected, found = cor_ids.get(ref), answer.get(field)
        if expected is not None and type(found) is int and found != expected:
            return (
                f"it exists in COR under {field} COR id {found}, but {ref} is COR id {expected}; "
                f"{field} cannot change through the API: declare it as it is in COR, or use a "
                "new id"
            )
    return ""


def candidates(plan: Plan) -> tuple[Change, ...]:
    """Declared records the state does not hold: the creates of the plan."""
    return tuple(change for change in plan.changes if change.action is Action.CREATE)


def import_records(
    plan: Plan,
    send: Send,
    recorder: Recorder,
    report: Callable[[Result], None],
    *,
    parallelism: int = 8,
    cor_ids: Mapping[ResourceKey, int] | None = None,
) -> ImportReport:
    known = dict(cor_ids or {})
    results: list[Result] = []
    todo = candidates(plan)
    with ThreadPoolExecutor(max_workers=max(1, parallelism)) as pool:
        for kind in KINDS:
            batch = [change for change in todo if change.key.kind is kind]
            try:
                outcomes = list(pool.map(lambda c: _look_up(c, send, known), batch))
            except STOPS_WRITES as error:
                left = tuple(c for c in todo if c.key.kind.rank >= kind.rank)
                return ImportReport(tuple(results), str(error), left)
            for result in outcomes:
                _settle(result, recorder, known)
                results.append(result)
                report(result)
    return ImportReport(tuple(results))


def _look_up(change: Change, send: Send, known: Mapping[ResourceKey, int]) -> Result:
    try:
        return adopt(change, send, known, "adopted: it exists in COR")
    except NotFoundError:
        return Result(
            change, Outcome.NOT_FOUND, reason="COR does not know it; apply will create it"
        )
    except STOPS_WRITES:
        raise
    except ApiError as error:
        return Result(change, Outcome.FAILED, reason=str(error))


def _settle(result: Result, recorder: Recorder, known: dict[ResourceKey, int]) -> None:
    if result.outcome is Outcome.ADOPTED and result.cor_id is not None:
        recorder.record(result.change.record(result.cor_id))
        known[result.change.key] = result.cor_id
