"""Runs a plan through the COR client, recording every success before moving on.

Orchestration: it calls `send` (the client) and `record` (the state store) that the CLI
injects, so it is tested with the emulator or any fake sender. Creates go in the plan's order
(clients, brands, products); a failed create makes its dependants skipped, while independent
records go on. An authentication failure, or COR still unreachable after the client's retries,
stops the run: every later request would fail too, and a re-run picks up where it stopped.
A create answered "duplicate external id" means an earlier create succeeded without us seeing
the answer: the record is adopted (PUT of the declared fields, COR id from the answer) instead
of failing, so there is never a second entity nor a lost mapping.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from reconciler.client import cor_id_of
from reconciler.endpoints import ApiCall, create_call, update_call
from reconciler.errors import (
    ApiError,
    ApplyRefusedError,
    AuthError,
    DuplicateError,
    NotFoundError,
    TransientError,
)
from reconciler.plan import Action, Change, Plan, update_fields
from reconciler.resources import SPECS, Record, ResourceKey
from reconciler.results import ApplyReport, Outcome, Result

Send = Callable[[ApiCall], Mapping[str, Any]]


def check_applicable(plan: Plan) -> None:
    """Refuse, before any request, a plan holding changes the API cannot make."""
    if plan.replacements:
        names = ", ".join(str(change.key) for change in plan.replacements[:5])
        more = len(plan.replacements) - 5
        suffix = f" and {more} more" if more > 0 else ""
        raise ApplyRefusedError(
            f"cannot apply: {names}{suffix} would change a field the API cannot update "
            "(a brand's client_id, a product's client_id or brand_id). Declare it under a new id "
            "instead, or put the old value back."
        )


def apply_plan(
    plan: Plan,
    send: Send,
    record: Callable[[Record], None],
    report: Callable[[Result], None],
    should_stop: Callable[[], bool] = lambda: False,
) -> ApplyReport:
    """Apply every change in order; `record` is called for each success before the next.

    `should_stop` is asked before each change (a signal asked to stop: the requests in
    flight finish first). A KeyboardInterrupt abandons the change in flight: if it was a
    create that COR carried out, the next run meets the duplicate and adopts it.
    """
    check_applicable(plan)
    results: list[Result] = []
    blocked: dict[ResourceKey, str] = {}  # records that do not exist: their create went wrong
    for index, change in enumerate(plan.changes):
        if should_stop():
            return ApplyReport(tuple(results), plan.changes[index:], interrupted=True)
        try:
            result = _run_one(change, send, blocked)
            if result.cor_id is not None:
                record(Record(change.key, result.cor_id, change.attributes))
            elif change.action is Action.CREATE:
                blocked[change.key] = result.outcome.value
            results.append(result)
            report(result)
        except KeyboardInterrupt:
            done = index + 1 if results and results[-1].change is change else index
            return ApplyReport(tuple(results), plan.changes[done:], interrupted=True)
        except (AuthError, TransientError) as error:  # later requests would fail alike: stop
            return ApplyReport(tuple(results), plan.changes[index:], stopped_by=str(error))
    return ApplyReport(tuple(results))


def _run_one(change: Change, send: Send, blocked: Mapping[ResourceKey, str]) -> Result:
    for ref in change.key.references(change.attributes):
        if ref in blocked:
            reason = f"depends on {ref}, which {_past(blocked[ref])}"
            return Result(change, Outcome.SKIPPED, reason=reason)
    try:
        if change.action is Action.CREATE:
            return _create(change, send)
        return _update(change, send)
    except (AuthError, TransientError):
        raise
    except ApiError as error:
        return Result(change, Outcome.FAILED, reason=_explain(change, error))


def _past(outcome: str) -> str:
    return "was skipped" if outcome == Outcome.SKIPPED.value else "failed"


def _create(change: Change, send: Send) -> Result:
    try:
        answer = send(create_call(change.key, change.attributes))
    except DuplicateError:
        updatable = SPECS[change.key.kind].updatable
        fields = {name: change.attributes[name] for name in updatable if name in change.attributes}
        answer = send(update_call(change.key, fields))
        return Result(change, Outcome.ADOPTED, cor_id_of(answer), "it already existed in COR")
    return Result(change, Outcome.CREATED, cor_id_of(answer))


def _update(change: Change, send: Send) -> Result:
    answer = send(update_call(change.key, update_fields(change)))
    cor_id = cor_id_of(answer) if "id" in answer else change.cor_id
    return Result(change, Outcome.UPDATED, cor_id)


def _explain(change: Change, error: ApiError) -> str:
    if isinstance(error, NotFoundError) and change.action is Action.UPDATE:
        return (
            f"{error} (the state records cor_id {change.cor_id}, but COR no longer knows "
            "this external id: it was deleted outside reconciler)"
        )
    return str(error)
