"""What an apply or an import did, record by record: plain values.

Made by `actions/apply.py` and `actions/adoption.py`, shown by `output/apply_text.py`. Pure:
imports core values only.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from reconciler.core.plan import Action, Change


class Outcome(str, Enum):
    CREATED = "created"
    ADOPTED = "adopted"  # the create met an existing record (duplicate id); it was taken over
    UPDATED = "updated"
    DELETED = "deleted"  # prune: deleted in COR (or already gone there), forgotten by the state
    FAILED = "failed"
    IN_DOUBT = "in doubt"  # sent, but whether COR carried it out is unknown (or not recorded)
    SKIPPED = "skipped"  # it depends on a record whose create failed or was skipped
    NOT_FOUND = "not found"  # import: COR does not know the external id (apply will create it)


def next_apply(change: Change) -> str:
    """What the next apply does with a change left in doubt: it never duplicates a record."""
    if change.action is Action.CREATE:
        return "the next apply adopts it if COR created it, else creates it"
    if change.action is Action.DELETE:
        return "the next apply --prune deletes it again (already gone counts as deleted)"
    return "the next apply sends it again"


def second_round(gave_up: int, waiting: int = 0) -> str:
    """The line that announces the second round (apply, import): what is sent once more."""
    records = "1 record whose request" if gave_up == 1 else f"{gave_up} records whose requests"
    them = "it" if gave_up == 1 else "them"
    then = f", then the {waiting} waiting for {them}" if waiting else ""
    return f"Retrying {records} gave up{then} (second round)."


@dataclass(frozen=True)
class Result:
    change: Change
    outcome: Outcome
    cor_id: int | None = None
    reason: str = ""
    rejected: bool = False  # a create COR refused outright: it is known not to exist


@dataclass(frozen=True)
class ApplyReport:
    results: tuple[Result, ...]
    remaining: tuple[Change, ...] = ()  # not attempted (never sent): the run stopped early
    interrupted: bool = False
    stopped_by: str = ""  # why the run stopped early (authentication, COR down, the state)

    def count(self, *outcomes: Outcome) -> int:
        return sum(1 for result in self.results if result.outcome in outcomes)

    @property
    def in_doubt(self) -> tuple[Result, ...]:
        return tuple(result for result in self.results if result.outcome is Outcome.IN_DOUBT)

    @property
    def ok(self) -> bool:
        return (
            not self.remaining
            and not self.stopped_by
            and self.count(Outcome.FAILED, Outcome.SKIPPED, Outcome.IN_DOUBT) == 0
        )


@dataclass(frozen=True)
class ImportReport:
    results: tuple[Result, ...]
    stopped_by: str = ""  # an authentication failure or an outage stopped the run
    not_attempted: tuple[Change, ...] = ()

    def count(self, outcome: Outcome) -> int:
        return sum(1 for result in self.results if result.outcome is outcome)
