"""`reconciler import`: bring records that already exist in COR under management.

Orchestration, like apply.py: for each declared record the state does not hold, a PUT of its
declared fields to its external id (the API's only way to learn a COR id). If COR knows the
record, it is recorded with the COR id of the answer; if COR answers not found (ZC001), it is
left for `apply` to create. Kinds go in order (clients, brands, products) so that an adopted
record's parents are known and checked; within a kind, requests run in parallel.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from reconciler.actions.apply import Journal, Send, adopt
from reconciler.actions.outcomes import Outcome, Result
from reconciler.core.plan import Action, Change, Plan
from reconciler.core.resources import KINDS, Record, ResourceKey
from reconciler.errors import ApiError, AuthError, NotFoundError, TransientError


@dataclass(frozen=True)
class ImportReport:
    results: tuple[Result, ...]
    stopped_by: str = ""  # an authentication failure or an outage stopped the run
    not_attempted: tuple[Change, ...] = ()

    def count(self, outcome: Outcome) -> int:
        return sum(1 for result in self.results if result.outcome is outcome)


def candidates(plan: Plan) -> tuple[Change, ...]:
    """Declared records the state does not hold: the creates of the plan."""
    return tuple(change for change in plan.changes if change.action is Action.CREATE)


def import_records(
    plan: Plan,
    send: Send,
    journal: Journal,
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
            except (AuthError, TransientError) as error:
                left = tuple(c for c in todo if c.key.kind.rank >= kind.rank)
                return ImportReport(tuple(results), str(error), left)
            for result in outcomes:
                _settle(result, journal, known)
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
    except (AuthError, TransientError):
        raise
    except ApiError as error:
        return Result(change, Outcome.FAILED, reason=str(error))


def _settle(result: Result, journal: Journal, known: dict[ResourceKey, int]) -> None:
    if result.outcome is Outcome.ADOPTED and result.cor_id is not None:
        key = result.change.key
        journal.record(Record(key, result.cor_id, result.change.attributes))
        known[key] = result.cor_id
