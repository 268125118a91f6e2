"""Adoption: taking a record that already exists in COR under management, and `reconciler import`.

Orchestration over injected edges (`actions.edges`). The API cannot be read by external id, so
adopting is a PUT of the declared updatable fields to the external id: COR's answer names its
COR id. Apply adopts a create in doubt or one answered "duplicate external id"; import adopts
every declared record the state does not hold. If COR answers not found (ZC001), the record is
left for `apply` to create. A lookup that gives up after the client's retries is made once more
after the main pass (the second round, as in apply); if it gives up again it is in doubt (not
recorded; the next run looks it up again). The run stops early only as `stopping.py` says.
Import goes kind by kind (clients, brands, products) so that an adopted record's parents are
known and checked; within a kind, requests run in parallel.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Any

from reconciler.actions.edges import Recorder, Send
from reconciler.actions.outcomes import ImportReport, Outcome, Result
from reconciler.actions.stopping import StopPolicy
from reconciler.cor.answers import cor_id_of
from reconciler.cor.endpoints import update_call
from reconciler.core.plan import Action, Change, Plan
from reconciler.core.resources import KINDS, SPECS, ResourceKey
from reconciler.errors import ApiError, NotFoundError, StateWriteError, TransientError


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
    policy: StopPolicy | None = None,
    on_second_round: Callable[[int], None] = lambda _gave_up: None,
) -> ImportReport:
    """Look up every candidate, kind by kind; stops as `policy` (stopping.py) says, or when the
    state cannot be written, listing what it did not look up. The lookups that gave up after
    the client's retries are made once more after the main pass (announced by
    `on_second_round(how_many)`), unless the run is stopping; only what gives up then is in
    doubt."""
    run = _Import(send, recorder, report, dict(cor_ids or {}), policy or StopPolicy())
    pool = ThreadPoolExecutor(max_workers=max(1, parallelism))
    try:
        run.look_up(candidates(plan), pool)
        if run.gave_up and not run.stopping:
            on_second_round(len(run.gave_up))
            run.look_up([result.change for result in run.gave_up.values()], pool, last=True)
    except KeyboardInterrupt:
        run.finish()  # the give-ups not looked up again are still said
        raise
    finally:  # an interrupt: the lookups not yet sent are dropped, those in flight finish
        pool.shutdown(wait=True, cancel_futures=True)
    return run.finish()


class _Import:
    """The state of one import, owned by the calling thread."""

    def __init__(
        self,
        send: Send,
        recorder: Recorder,
        report: Callable[[Result], None],
        known: dict[ResourceKey, int],
        stop: StopPolicy,
    ) -> None:
        self.send, self.recorder, self.report = send, recorder, report
        self.known, self.stop = known, stop
        self.results: list[Result] = []
        self.left: list[Change] = []
        self.gave_up: dict[ResourceKey, Result] = {}  # main pass give-ups, not yet reported
        self.stopped_by = ""

    @property
    def stopping(self) -> bool:
        return bool(self.stopped_by) or self.stop.stopped

    def look_up(self, changes: Sequence[Change], pool: Executor, *, last: bool = False) -> None:
        """Look up `changes`, kind by kind; a give-up waits for the second round unless `last`."""
        for kind in KINDS:
            batch = [change for change in changes if change.key.kind is kind]
            if self.stopping:
                self.leave(batch)
                continue
            outcomes = list(
                pool.map(lambda c: _look_up(c, self.send, self.known, self.stop), batch)
            )
            for change, result in zip(batch, outcomes, strict=True):
                if result is None:  # the run stopped before its request
                    self.leave([change])
                elif result.outcome is Outcome.IN_DOUBT and not last:
                    self.gave_up[change.key] = result
                else:
                    self.keep(result)

    def keep(self, result: Result) -> None:
        try:
            _settle(result, self.recorder, self.known)
        except StateWriteError as error:
            self.stopped_by = self.stopped_by or f"the state could not be written: {error}"
            result = Result(result.change, Outcome.IN_DOUBT, reason=_AGAIN)
        self.settled(result)

    def leave(self, changes: Sequence[Change]) -> None:
        """Not looked up (the run stopped); one that gave up before is still in doubt."""
        for change in changes:
            earlier = self.gave_up.get(change.key)
            if earlier is None:
                self.left.append(change)
            else:
                self.settled(earlier)

    def settled(self, result: Result) -> None:
        self.gave_up.pop(result.change.key, None)
        self.results.append(result)
        self.report(result)

    def finish(self) -> ImportReport:
        for result in list(self.gave_up.values()):  # not looked up again: in doubt
            self.settled(result)
        return ImportReport(
            tuple(self.results), self.stopped_by or self.stop.reason, tuple(self.left)
        )


_AGAIN = "not recorded: the next import or apply looks it up again"


def _look_up(
    change: Change, send: Send, known: Mapping[ResourceKey, int], stop: StopPolicy
) -> Result | None:
    if stop.stopped:
        return None
    try:
        result = adopt(change, send, known, "it exists in COR")
    except NotFoundError:
        result = Result(
            change, Outcome.NOT_FOUND, reason="COR does not know it; apply will create it"
        )
    except TransientError as error:  # sent; whether the PUT reached COR is unknown
        stop.failed(error)
        return Result(change, Outcome.IN_DOUBT, reason=f"{error}; {_AGAIN}")
    except ApiError as error:
        stop.failed(error)
        return Result(change, Outcome.FAILED, reason=str(error))
    stop.answered()
    return result


def _settle(result: Result, recorder: Recorder, known: dict[ResourceKey, int]) -> None:
    if result.outcome is Outcome.ADOPTED and result.cor_id is not None:
        recorder.record(result.change.record(result.cor_id))
        known[result.change.key] = result.cor_id
