"""Which planned change waits for which: the dependency bookkeeping of a parallel apply.

The `schedule` stage of apply (`plan → schedule → send → record`): pure, though it lives in
`actions/` beside its one user, `apply.py`; imports core values only. A change waits only for
the creates in the same plan that it references (a brand for its own client, a product for its
client and brand); everything else it references is already recorded. A delete waits the other
way round: for the deletes of the records that refer to it (a brand for its products), since
COR refuses to delete a parent with dependants. `core/validation` guarantees that references
point at declared records, and the kinds make the dependencies acyclic (client ← brand ←
product).
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Iterable

from reconciler.core.plan import Action, Change
from reconciler.core.resources import ResourceKey


class Scheduler:
    """Hands out changes whose references exist; tells what a failure leaves unreachable."""

    def __init__(self, changes: Iterable[Change]) -> None:
        self._changes = tuple(changes)
        self._order = {change.key: index for index, change in enumerate(self._changes)}
        creating = {c.key for c in self._changes if c.action is Action.CREATE}
        deleting = _deleted_dependants(self._changes)
        self._waits: dict[ResourceKey, set[ResourceKey]] = {}
        self._dependants: dict[ResourceKey, list[Change]] = {}
        self._ready: deque[Change] = deque()
        for change in self._changes:
            if change.action is Action.DELETE:  # after every delete of what refers to it
                pending = deleting.get(change.key, set())
            else:
                pending = {r for r in change.key.references(change.attributes) if r in creating}
            for ref in pending:
                self._dependants.setdefault(ref, []).append(change)
            if pending:
                self._waits[change.key] = pending
            else:
                self._ready.append(change)

    def has_ready(self) -> bool:
        return bool(self._ready)

    def next_ready(self) -> Change:
        """The next change free to start, in plan order among those that became free together."""
        return self._ready.popleft()

    def peek_ready(self, count: int) -> list[Change]:
        """The next `count` changes free to start, in the order next_ready() hands them out
        (unless a change becomes free meanwhile: it joins at the end)."""
        return list(itertools.islice(self._ready, count))

    def succeeded(self, key: ResourceKey) -> bool:
        """`key` now exists in COR: its dependants whose references all exist become ready.
        True if any did (they may start once `key`'s record is durable)."""
        released = False
        for dependant in self._dependants.pop(key, ()):
            waits = self._waits.get(dependant.key)
            if waits is None:
                continue  # already skipped
            waits.discard(key)
            if not waits:
                del self._waits[dependant.key]
                self._ready.append(dependant)
                released = True
        return released

    def retry(self, change: Change) -> None:
        """Hand out again a change already handed out (apply's second round); what waits for
        it still does."""
        self._ready.append(change)

    def waiting(self) -> int:
        """How many changes wait for another to succeed."""
        return len(self._waits)

    def unreachable(self, key: ResourceKey) -> list[tuple[Change, ResourceKey]]:
        """`key` will not exist: every change waiting on it, directly or not, with the key it
        waited on (so a skip names its cause), in plan order. They are never handed out."""
        skipped: list[tuple[Change, ResourceKey]] = []
        todo = deque([key])
        while todo:
            missing = todo.popleft()
            for dependant in self._dependants.pop(missing, ()):
                if self._waits.pop(dependant.key, None) is not None:
                    skipped.append((dependant, missing))
                    todo.append(dependant.key)
        return sorted(skipped, key=lambda pair: self._order[pair[0].key])

    def not_started(self) -> list[Change]:
        """Changes neither handed out nor skipped (what an early stop leaves), in plan order."""
        left = {change.key for change in self._ready} | set(self._waits)
        return [change for change in self._changes if change.key in left]


def _deleted_dependants(changes: Iterable[Change]) -> dict[ResourceKey, set[ResourceKey]]:
    """For each record being deleted, the records being deleted that refer to it."""
    deleted = [c for c in changes if c.action is Action.DELETE]
    keys = {c.key for c in deleted}
    dependants: dict[ResourceKey, set[ResourceKey]] = {}
    for change in deleted:
        for ref in change.key.references(change.attributes):
            if ref in keys:
                dependants.setdefault(ref, set()).add(change.key)
    return dependants
