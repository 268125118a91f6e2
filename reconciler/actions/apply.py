"""The `send` and `record` stages of apply (`plan → schedule → send → record`): runs a plan
through the COR client, recording every success before it counts as done.

Orchestration over injected edges (`actions.edges`): the CLI injects `send` (the client) and a
`Recorder` (the state store), so this is tested with the emulator or any fake. Up to `parallelism`
requests are in flight together, on worker threads; everything else — the recorder, the scheduler,
the report — stays on the calling thread. A change starts only once what it references exists
(scheduler.py); a failed create makes its dependants skipped while independent records go on. An
authentication failure, or COR still unreachable after the client's retries, stops the run
(stopping.py): every later request would fail too, and a re-run picks up where it stopped.

Exactly-once creates: the intent of each create is journaled before its request; a create whose
outcome is unknown (lost answer, crash) stays "in doubt" and the next run adopts it — a PUT of the
declared fields to the external id, COR's id from the answer — rather than creating it again; a
create answered "duplicate external id" is adopted the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ThreadPoolExecutor, wait
from typing import Any, TypeVar

from reconciler.actions.adoption import adopt
from reconciler.actions.edges import Recorder, Send
from reconciler.actions.outcomes import ApplyReport, Outcome, Result
from reconciler.actions.scheduler import Scheduler
from reconciler.actions.stopping import STOPS_WRITES
from reconciler.cor.answers import cor_id_of
from reconciler.cor.endpoints import create_call, delete_call, update_call
from reconciler.core.plan import Action, Change, Plan, update_fields
from reconciler.core.resources import ResourceKey
from reconciler.errors import (
    ApiError,
    ApplyRefusedError,
    DeletionError,
    DuplicateError,
    NotFoundError,
    RequestRejectedError,
)

T = TypeVar("T")
_REFUSALS = (RequestRejectedError, NotFoundError, DeletionError)  # COR said no: nothing done


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
    recorder: Recorder,
    report: Callable[[Result], None],
    *,
    should_stop: Callable[[], bool] = lambda: False,
    parallelism: int = 1,
    cor_ids: Mapping[ResourceKey, int] | None = None,
) -> ApplyReport:
    """Apply every change; each success is journaled before its dependants start.

    `should_stop` is asked between changes: once it says yes, nothing new starts and the
    requests in flight finish. A KeyboardInterrupt abandons those in flight (their creates stay
    in doubt for the next run). `cor_ids` are the recorded COR ids, to check adopted records.
    """
    check_applicable(plan)
    run = _Run(plan, recorder, report, dict(cor_ids or {}))
    pool: Executor = (
        ThreadPoolExecutor(max_workers=parallelism, thread_name_prefix="apply")
        if parallelism > 1
        else _InlineExecutor()  # one at a time: no thread hand-off per request
    )
    abandoned = False
    try:
        run.drive(pool, send, should_stop, max(1, parallelism))
    except KeyboardInterrupt:
        abandoned = run.interrupted = True
        run.unfinished.extend([*run.in_flight.values(), *run.starting])
    finally:
        pool.shutdown(wait=not abandoned, cancel_futures=True)
    return run.finish()


class _InlineExecutor(Executor):
    """Runs each task at once in the calling thread (parallelism 1), as a completed Future."""

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        future: Future[T] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as error:  # handed to the caller through the Future, like a pool
            future.set_exception(error)
        return future


class _Run:
    """The state of one apply, owned by the calling thread."""

    def __init__(
        self,
        plan: Plan,
        recorder: Recorder,
        report: Callable[[Result], None],
        cor_ids: dict[ResourceKey, int],
    ) -> None:
        self.plan, self.recorder, self.report, self.cor_ids = plan, recorder, report, cor_ids
        self.scheduler = Scheduler(plan.changes)
        self.order = {change.key: index for index, change in enumerate(plan.changes)}
        self.results: list[Result] = []
        self.in_flight: dict[Future[Result], Change] = {}
        self.starting: list[Change] = []  # handed out by the scheduler, not yet submitted
        self.unfinished: list[Change] = []
        self.not_done: dict[ResourceKey, Outcome] = {}  # failed or skipped: never came to be
        self.interrupted = False
        self.stopped_by = ""

    def drive(
        self, pool: Executor, send: Send, should_stop: Callable[[], bool], limit: int
    ) -> None:
        done: set[Future[Result]] = set()
        while True:
            # One group commit per round: the results just collected and the intents of what
            # starts next are durable together, before any request that depends on them leaves.
            with self.recorder.batch():
                for future in sorted(done, key=lambda f: self.order[self.in_flight[f].key]):
                    self.collect(future)
                if not self.stopping and should_stop():
                    self.interrupted = True
                self.hand_out(limit)
            while self.starting:
                change = self.starting[0]
                self.in_flight[pool.submit(_run_one, change, send, self.cor_ids)] = change
                self.starting.pop(0)
            if not self.in_flight:
                return
            done = wait(self.in_flight, return_when=FIRST_COMPLETED).done

    def hand_out(self, limit: int) -> None:
        """Take the changes free to start, up to the limit, journaling each create's intent."""
        while (
            not self.stopping
            and self.scheduler.has_ready()
            and len(self.in_flight) + len(self.starting) < limit
        ):
            change = self.scheduler.next_ready()
            if change.action is Action.CREATE:
                self.recorder.intend(change.key)
            self.starting.append(change)

    @property
    def stopping(self) -> bool:
        return self.interrupted or bool(self.stopped_by)

    def collect(self, future: Future[Result]) -> None:
        change = self.in_flight[future]
        try:
            result = future.result()  # a KeyboardInterrupt leaves it in flight: abandoned
        except STOPS_WRITES as error:
            del self.in_flight[future]
            self.stopped_by = self.stopped_by or str(error)
            self.unfinished.append(change)  # a create stays in doubt: the next run adopts it
            return
        del self.in_flight[future]
        if result.outcome is Outcome.DELETED:
            self.recorder.forget(change.key)
            self.scheduler.succeeded(change.key)
        elif result.cor_id is not None:
            self.recorder.record(change.record(result.cor_id))
            self.cor_ids[change.key] = result.cor_id
            self.scheduler.succeeded(change.key)
        else:
            if change.action is Action.CREATE and result.rejected:
                self.recorder.resolve(change.key)
            self.not_done[change.key] = result.outcome
        self.settled(result)
        for dependant, missing in self.scheduler.unreachable(change.key):
            why = "was skipped" if self.not_done[missing] is Outcome.SKIPPED else "failed"
            self.not_done[dependant.key] = Outcome.SKIPPED
            self.settled(
                Result(dependant, Outcome.SKIPPED, reason=f"depends on {missing}, which {why}")
            )

    def settled(self, result: Result) -> None:
        self.results.append(result)
        self.report(result)

    def finish(self) -> ApplyReport:
        remaining = sorted(
            [*self.unfinished, *self.scheduler.not_started()], key=lambda c: self.order[c.key]
        )
        return ApplyReport(tuple(self.results), tuple(remaining), self.interrupted, self.stopped_by)


def _run_one(change: Change, send: Send, cor_ids: Mapping[ResourceKey, int]) -> Result:
    """One change's requests, on a worker thread; stopping errors propagate."""
    try:
        if change.action is Action.CREATE:
            return _create(change, send, cor_ids)
        if change.action is Action.DELETE:
            return _delete(change, send)
        return _update(change, send)
    except STOPS_WRITES:
        raise
    except ApiError as error:
        return Result(change, Outcome.FAILED, reason=_explain(change, error))


def _create(change: Change, send: Send, cor_ids: Mapping[ResourceKey, int]) -> Result:
    if change.in_doubt:  # an earlier create may have happened: adopt first
        try:
            return adopt(change, send, cor_ids, "adopted: an earlier run's create had succeeded")
        except NotFoundError:
            pass  # it never happened: create it now
    try:
        answer = send(create_call(change.key, change.attributes))
    except DuplicateError:
        return adopt(change, send, cor_ids, "adopted: it already existed in COR")
    except _REFUSALS as error:
        return Result(change, Outcome.FAILED, reason=str(error), rejected=True)
    return Result(change, Outcome.CREATED, cor_id_of(answer))


def _delete(change: Change, send: Send) -> Result:
    """DELETE; a record COR no longer knows is gone already, which is what was wanted."""
    try:
        send(delete_call(change.key))
    except NotFoundError:
        return Result(change, Outcome.DELETED, reason="it was already gone from COR")
    return Result(change, Outcome.DELETED)


def _update(change: Change, send: Send) -> Result:
    fields = update_fields(change)
    if not fields:  # only `protect` changed: it lives in the state, COR has nothing to change
        return Result(change, Outcome.UPDATED, change.cor_id, "protection recorded")
    answer = send(update_call(change.key, fields))
    cor_id = cor_id_of(answer) if "id" in answer else change.cor_id
    return Result(change, Outcome.UPDATED, cor_id)


def _explain(change: Change, error: ApiError) -> str:
    if isinstance(error, NotFoundError) and change.action is Action.UPDATE:
        return (
            f"{error} (the state records cor_id {change.cor_id}, but COR no longer knows "
            "this external id: it was deleted outside reconciler)"
        )
    return str(error)
