"""The `send` and `record` stages of apply (`plan → schedule → send → record`): runs a plan
through the COR client, recording every success before it counts as done.

Orchestration over injected edges (`actions.edges`): the CLI injects `send` (the client) and a
`Recorder` (the state store), so this is tested with the emulator or any fake. Up to `parallelism`
requests are in flight together, on worker threads; everything else — the recorder, the scheduler,
the report — stays on the calling thread. A change starts only once what it references exists
(scheduler.py); a change that fails, or whose request gave up after the client's retries ("in
doubt": sent, outcome unknown), makes its dependants skipped while independent records go on.
The whole run stops only as stopping.py says (an authentication failure, COR down as a whole),
or when the state cannot be written: nothing new starts, and a re-run picks up where it stopped.

A second round: a request that gave up after the client's retries is not reported at once; its
dependants keep waiting for it. Once the main pass is over — unless the run is stopping — each
is sent once more, as a re-run would send it (a create in doubt is adopted if COR created it),
and its dependants follow if it succeeds. Only what fails then is reported in doubt, with its
dependants skipped; a stopped run reports the give-ups it did not retry as in doubt.

Exactly-once creates: the intent of each create is journaled before its request; a create whose
outcome is unknown (lost answer, crash) stays "in doubt" and the next run adopts it — a PUT of the
declared fields to the external id, COR's id from the answer — rather than creating it again; a
create answered "duplicate external id" is adopted the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ThreadPoolExecutor, wait
from dataclasses import replace
from typing import Any, TypeVar

from reconciler.actions.edges import Recorder, Send
from reconciler.actions.outcomes import ApplyReport, Outcome, Result, next_apply
from reconciler.actions.replace import merged, replace_in_two_passes
from reconciler.actions.requests import Settled, run_one
from reconciler.actions.scheduler import Scheduler
from reconciler.actions.stopping import StopPolicy
from reconciler.core.plan import Action, Change, Plan
from reconciler.core.resources import ResourceKey
from reconciler.errors import (
    ApplyRefusedError,
    StateWriteError,
    TransientError,
)

T = TypeVar("T")


def check_applicable(plan: Plan) -> None:
    """Refuse, before any request, a plan that replaces records without --allow-replace, or
    that COR would refuse in part (plan.blocked)."""
    if plan.replace_refused:
        names = ", ".join(str(change.key) for change in plan.replacements[:5])
        more = len(plan.replacements) - 5
        suffix = f" and {more} more" if more > 0 else ""
        raise ApplyRefusedError(
            f"cannot apply: {names}{suffix} must be replaced (a brand's client_id, a product's "
            "client_id or brand_id cannot change through the API): deleted in COR, then "
            "created again, losing its COR history. Apply with --allow-replace to allow it, or "
            "declare the old values again."
        )
    if plan.blocked:
        raise ApplyRefusedError("cannot apply: " + "; ".join(plan.blocked))


def apply_plan(
    plan: Plan,
    send: Send,
    recorder: Recorder,
    report: Callable[[Result], None],
    *,
    should_stop: Callable[[], bool] = lambda: False,
    parallelism: int = 1,
    cor_ids: Mapping[ResourceKey, int] | None = None,
    policy: StopPolicy | None = None,
    on_second_round: Callable[[int, int], None] = lambda _gave_up, _waiting: None,
) -> ApplyReport:
    """Apply every change; each success is journaled before its dependants start.

    `should_stop` is asked between changes: once it says yes, nothing new starts and the
    requests in flight finish. A KeyboardInterrupt abandons those in flight (they are in doubt:
    a create stays so in the state, and the next run adopts it). `cor_ids` are the recorded COR
    ids, to check adopted records. `policy` (stopping.py) says when the whole run stops; a state
    that cannot be written stops it too, with what was done still reported. Changes whose
    request gave up are sent once more after the main pass (the second round, announced by
    `on_second_round(gave_up, waiting)`: how many are retried, how many wait for them).

    Replacements go in two passes (replace.py): their deletes first (with the deletes of what
    must go before them), each forgotten by the state as it succeeds; then the plan, each
    replacement now a create. A replacement whose delete did not succeed is not created, and
    what depends on it is skipped.
    """
    check_applicable(plan)
    ids = dict(cor_ids or {})
    watch = policy or StopPolicy()

    def run(changes: tuple[Change, ...], tell: Callable[[Result], None]) -> ApplyReport:
        return _apply_changes(
            changes, send, recorder, tell, should_stop, parallelism, ids, watch, on_second_round
        )

    if not plan.replacements:
        return run(plan.changes, report)
    passes = replace_in_two_passes(plan)
    first = run(passes.deletes, lambda result: report(passes.explain(result)))
    if first.interrupted or first.stopped_by:
        return merged(first, remaining=passes.creates)
    second, skipped = passes.after(first)
    for result in skipped:
        report(result)
    return merged(first, run(second, report), skipped)


def _apply_changes(
    changes: tuple[Change, ...],
    send: Send,
    recorder: Recorder,
    report: Callable[[Result], None],
    should_stop: Callable[[], bool],
    parallelism: int,
    cor_ids: dict[ResourceKey, int],
    policy: StopPolicy,
    on_second_round: Callable[[int, int], None],
) -> ApplyReport:
    run = _Run(changes, recorder, report, cor_ids, policy)
    pool: Executor = (
        ThreadPoolExecutor(max_workers=parallelism, thread_name_prefix="apply")
        if parallelism > 1
        else _InlineExecutor()  # one at a time: no thread hand-off per request
    )
    abandoned = False
    try:
        run.drive(pool, send, should_stop, max(1, parallelism))
        if run.second_round(should_stop, on_second_round):
            run.drive(pool, send, should_stop, max(1, parallelism))
    except KeyboardInterrupt:
        abandoned = run.interrupted = True
        run.abandon()
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
        changes: tuple[Change, ...],
        recorder: Recorder,
        report: Callable[[Result], None],
        cor_ids: dict[ResourceKey, int],
        policy: StopPolicy,
    ) -> None:
        self.recorder, self.report, self.cor_ids = recorder, report, cor_ids
        self.policy = policy
        self.scheduler = Scheduler(changes)
        self.order = {change.key: index for index, change in enumerate(changes)}
        self.results: list[Result] = []
        self.in_flight: dict[Future[Settled], Change] = {}
        self.starting: list[Change] = []  # handed out by the scheduler, not yet submitted
        self.sending: Change | None = None  # being submitted (inline: being sent)
        self.not_sent: list[Change] = []  # handed out, then held back: not attempted
        self.not_done: dict[ResourceKey, Outcome] = {}  # never came to be (or unknown)
        self.gave_up: dict[ResourceKey, Result] = {}  # main pass give-ups, not yet reported
        self.retrying = False  # the second round has started
        self.interrupted = False
        self.stopped_by = ""
        self.intended: set[ResourceKey] = set()  # intents journaled ahead, not yet handed out
        self.waited_on = False  # this round's group must be durable before the round acts

    def drive(
        self, pool: Executor, send: Send, should_stop: Callable[[], bool], limit: int
    ) -> None:
        done: set[Future[Settled]] = set()
        while True:
            # One group commit per round: the results just collected and the intents of what
            # starts next are durable together, before any request that depends on them leaves.
            # A round that journals no intent and lets no change start waits on nothing: its
            # group is deferred to the next one that does (intents are journaled ahead, for
            # the next creates, so that most rounds need none: one commit for many creates
            # where a commit costs a request, as in S3 or PostgreSQL).
            try:
                with self.recorder.batch():
                    self.waited_on = False
                    for future in sorted(done, key=lambda f: self.order[self.in_flight[f].key]):
                        self.collect(future)
                    if not self.stopping and should_stop():
                        self.interrupted = True
                    self.hand_out(limit)
                    if not self.waited_on:
                        self.recorder.defer()
            except StateWriteError as error:  # the intents are not durable: send none of them
                self.state_unwritable(error)
                self.not_sent.extend(self.starting)
                self.starting.clear()
            while self.starting:
                self.sending = change = self.starting.pop(0)
                self.in_flight[pool.submit(run_one, change, send, self.cor_ids)] = change
                self.sending = None
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
            # A create sent again in the second round has its intent journaled already, and
            # so has one journaled ahead (durable: the round that journaled it was not deferred).
            if self.needs_intent(change) and change.key not in self.intended:
                try:
                    self.intend_ahead(change, limit)
                except StateWriteError as error:  # no durable intent: the create is not sent
                    self.state_unwritable(error)
                    self.not_sent.append(change)
                    return
            self.intended.discard(change.key)
            self.starting.append(change)

    def needs_intent(self, change: Change) -> bool:
        return change.action is Action.CREATE and change.key not in self.gave_up

    def intend_ahead(self, change: Change, limit: int) -> None:
        """Journal the intent of `change`, and of the next AHEAD * (limit - 1) creates free to
        start, so that the rounds that hand those out need no commit of their own. One never
        sent is resolved when the run ends (resolve_unsent), or, after a crash, adopted or
        created by the next apply as any create in doubt (docs/state.md)."""
        self.waited_on = True
        self.recorder.intend(change.key)
        for ahead in self.scheduler.peek_ready(AHEAD * (limit - 1)):  # none at parallelism 1
            # Not a create in doubt from an earlier run: resolving it unsent would drop that doubt.
            fresh = self.needs_intent(ahead) and not ahead.in_doubt
            if fresh and ahead.key not in self.intended:
                self.recorder.intend(ahead.key)
                self.intended.add(ahead.key)

    @property
    def stopping(self) -> bool:
        return self.interrupted or bool(self.stopped_by)

    def state_unwritable(self, error: StateWriteError) -> None:
        self.stopped_by = self.stopped_by or f"the state could not be written: {error}"

    def collect(self, future: Future[Settled]) -> None:
        change = self.in_flight[future]  # until settled: an interrupt before then abandons it
        result, error = future.result()
        if error is None:
            self.policy.answered()
        elif self.policy.failed(error):
            self.stopped_by = self.stopped_by or self.policy.reason
        if isinstance(error, TransientError) and not self.retrying:
            self.gave_up[change.key] = result  # its dependants wait for the second round
            del self.in_flight[future]
            return
        try:
            self.keep(change, result)
        except StateWriteError as failure:
            self.state_unwritable(failure)
            if result.outcome in _DONE:  # done in COR, not durably recorded
                result = _not_recorded(result)
        if result.outcome in _DONE:
            if self.scheduler.succeeded(change.key):  # they start once its record is durable
                self.waited_on = True
        else:
            self.not_done[change.key] = result.outcome
        del self.in_flight[future]
        self.settled(result)
        self.skip_dependants(change.key)

    def skip_dependants(self, key: ResourceKey) -> None:
        """`key` will not exist: what waits for it, directly or not, is skipped."""
        for dependant, missing in self.scheduler.unreachable(key):
            why = _WHY[self.not_done[missing]]
            self.not_done[dependant.key] = Outcome.SKIPPED
            self.settled(
                Result(dependant, Outcome.SKIPPED, reason=f"depends on {missing}, which {why}")
            )

    def keep(self, change: Change, result: Result) -> None:
        """Record what COR did (StateWriteError if the state cannot be written)."""
        if result.outcome is Outcome.DELETED:
            self.recorder.forget(change.key)
        elif result.outcome in _DONE and result.cor_id is not None:
            self.cor_ids[change.key] = result.cor_id
            self.recorder.record(change.record(result.cor_id))
        elif change.action is Action.CREATE and result.rejected:
            self.recorder.resolve(change.key)

    def settled(self, result: Result) -> None:
        self.gave_up.pop(result.change.key, None)
        self.results.append(result)
        self.report(result)

    def second_round(
        self, should_stop: Callable[[], bool], announce: Callable[[int, int], None]
    ) -> bool:
        """Hand the give-ups out once more (unless stopping); True if there are any."""
        if not self.gave_up or self.stopping:
            return False
        if should_stop():  # a signal after the main pass's last answer
            self.interrupted = True
            return False
        self.retrying = True
        gave_up = sorted(self.gave_up.values(), key=lambda r: self.order[r.change.key])
        announce(len(gave_up), self.scheduler.waiting())
        for result in gave_up:  # each was sent once: a create in doubt is adopted if it exists
            change = result.change
            retry = replace(change, in_doubt=True) if change.action is Action.CREATE else change
            self.scheduler.retry(retry)
        return True

    def report_gave_up(self) -> None:
        """The give-ups not sent again (the run stopped): in doubt, their dependants skipped."""
        for result in sorted(self.gave_up.values(), key=lambda r: self.order[r.change.key]):
            self.not_done[result.change.key] = Outcome.IN_DOUBT
            self.settled(result)
            self.skip_dependants(result.change.key)

    def abandon(self) -> None:
        """After a second interrupt: what was sent is in doubt, the rest not attempted."""
        sent = [*self.in_flight.values(), *([self.sending] if self.sending else [])]
        self.in_flight.clear()
        for change in sorted(sent, key=lambda c: self.order[c.key]):
            reason = f"the interrupt abandoned its request; {next_apply(change)}"
            self.settled(Result(change, Outcome.IN_DOUBT, reason=reason))
        self.not_sent.extend(self.starting)
        self.starting.clear()

    def resolve_unsent(self) -> None:
        """Intents journaled ahead for creates never handed out (the run stopped first): they
        certainly did not happen. If that cannot be written, they stay in doubt, and the next
        apply creates them (or adopts them) as any create in doubt."""
        if not self.intended:
            return
        try:
            with self.recorder.batch():
                for key in sorted(self.intended, key=self.order.__getitem__):
                    self.recorder.resolve(key)
        except StateWriteError:
            pass
        self.intended.clear()

    def finish(self) -> ApplyReport:
        self.resolve_unsent()
        sent = set(self.gave_up)  # in doubt, even if the second round did not send them again
        self.report_gave_up()
        not_sent = [*self.not_sent, *self.scheduler.not_started()]
        remaining = sorted(
            (c for c in not_sent if c.key not in sent), key=lambda c: self.order[c.key]
        )
        return ApplyReport(tuple(self.results), tuple(remaining), self.interrupted, self.stopped_by)


# How many rounds' worth of creates a durable group intends ahead, per request in flight: at
# parallelism 8, 28 intents, so that one commit in about 29 creates is needed (measured with
# S3, where a commit is a request: docs/benchmarks.md); a crash leaves at most that many more
# creates in doubt, which the next apply adopts or creates.
AHEAD = 4

_DONE = frozenset({Outcome.CREATED, Outcome.ADOPTED, Outcome.UPDATED, Outcome.DELETED})
_WHY = {Outcome.FAILED: "failed", Outcome.IN_DOUBT: "is in doubt", Outcome.SKIPPED: "was skipped"}


def _not_recorded(result: Result) -> Result:
    change = result.change
    reason = f"{result.outcome.value} in COR, but the state could not record it; "
    reason += next_apply(change)
    return Result(change, Outcome.IN_DOUBT, result.cor_id, reason)
