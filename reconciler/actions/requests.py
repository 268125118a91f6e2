"""One change sent to COR — a create, an update or a delete — and its Result: what apply's
worker threads run. A create in doubt is adopted first; a duplicate answer is adopted; a
record COR refuses fails; a give-up is in doubt, with what the next apply does.

Orchestration over the injected `send`; imports core values, `cor.endpoints` and
`cor.answers` (plain request and answer values), and `errors`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import NamedTuple

from reconciler.actions.adoption import adopt
from reconciler.actions.edges import Send
from reconciler.actions.outcomes import Outcome, Result, next_apply
from reconciler.cor.answers import cor_id_of
from reconciler.cor.endpoints import create_call, delete_call, update_call
from reconciler.core.plan import Action, Change, update_fields
from reconciler.core.resources import ResourceKey
from reconciler.errors import (
    ApiError,
    DeletionError,
    DuplicateError,
    NotFoundError,
    RequestRejectedError,
    TransientError,
)

_REFUSALS = (RequestRejectedError, NotFoundError, DeletionError)  # COR said no: nothing done


class Settled(NamedTuple):
    """What one change's requests came to, and the error the stop policy must hear of."""

    result: Result
    error: ApiError | None = None


def run_one(change: Change, send: Send, cor_ids: Mapping[ResourceKey, int]) -> Settled:
    """One change's requests, on a worker thread."""
    try:
        if change.action is Action.CREATE:
            return Settled(_create(change, send, cor_ids))
        if change.action is Action.DELETE:
            return Settled(_delete(change, send))
        return Settled(_update(change, send))
    except TransientError as error:  # sent, but what COR did is unknown
        reason = f"{error}; {next_apply(change)}"
        return Settled(Result(change, Outcome.IN_DOUBT, reason=reason), error)
    except ApiError as error:
        return Settled(Result(change, Outcome.FAILED, reason=_explain(change, error)), error)


def _create(change: Change, send: Send, cor_ids: Mapping[ResourceKey, int]) -> Result:
    if change.in_doubt:  # an earlier create may have happened: adopt first
        try:
            return adopt(change, send, cor_ids, "an earlier create had succeeded")
        except NotFoundError:
            pass  # it never happened: create it now
    try:
        answer = send(create_call(change.key, change.attributes))
    except DuplicateError:
        try:
            return adopt(change, send, cor_ids, "it already existed in COR")
        except NotFoundError:  # the id is still mapped to a record deleted in COR itself
            return _recreate(change, send)
    except _REFUSALS as error:
        return Result(change, Outcome.FAILED, reason=str(error), rejected=True)
    return Result(change, Outcome.CREATED, cor_id_of(answer), _why_created(change))


def _recreate(change: Change, send: Send) -> Result:
    """COR answered the create "duplicate external id" and the update "not found": the id is
    mapped to a record deleted in COR itself (docs/cli.md "Refresh"). The Integrations DELETE
    frees the mapping (not found: already free), then the create is sent once more."""
    with contextlib.suppress(NotFoundError):
        send(delete_call(change.key))
    try:
        answer = send(create_call(change.key, change.attributes))
    except _REFUSALS as error:
        return Result(change, Outcome.FAILED, reason=str(error), rejected=True)
    reason = "its external id was still mapped to the record deleted in COR: freed, then created"
    return Result(change, Outcome.CREATED, cor_id_of(answer), reason)


def _state_only(change: Change) -> str:
    """What an update that sends nothing records: protection, the declaring file, or both."""
    what = {"protect": "protection", "file": "declaring file"}
    changed = [what[d.field] for d in change.diffs if d.field in what]
    return " and ".join(changed or ["nothing"]) + " recorded (in the state only)"


def _why_created(change: Change) -> str:
    if change.drift:
        return f"{change.drift}: created again"
    return ""


def _delete(change: Change, send: Send) -> Result:
    """DELETE; a record COR no longer knows is gone already, which is what was wanted."""
    try:
        send(delete_call(change.key))
    except NotFoundError:
        return Result(change, Outcome.DELETED, reason="it was already gone from COR")
    return Result(change, Outcome.DELETED)


def _update(change: Change, send: Send) -> Result:
    fields = update_fields(change)
    if not fields:  # only `protect` or `file` changed: they live in the state, not in COR
        return Result(change, Outcome.UPDATED, change.cor_id, _state_only(change))
    answer = send(update_call(change.key, fields))
    cor_id = cor_id_of(answer) if "id" in answer else change.cor_id
    return Result(change, Outcome.UPDATED, cor_id)


def _explain(change: Change, error: ApiError) -> str:
    if isinstance(error, NotFoundError) and change.action is Action.UPDATE:
        return (
            f"{error} (the state records cor_id {change.cor_id}, but COR no longer knows "
            "this external id: it was deleted outside reconciler; `reconciler apply --refresh` "
            "creates it again)"
        )
    return str(error)
