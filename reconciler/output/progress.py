"""Progress of a long apply, per kind: done / total, rate and time left.

No terminal access here: the CLI injects `write` and says whether stderr is a terminal. On a
terminal, `write` is handed the status line to draw in place ("" to erase it): the CLI's console
keeps it below every other line (apply-diff lines, retries), erasing and redrawing it around
each; elsewhere (CI logs), `write` gets a plain line every few seconds. Imports core values and
`actions.outcomes` only.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from reconciler.actions.outcomes import Result
from reconciler.core.resources import KINDS, Kind

_BAR = 12


def format_status(
    done: Mapping[Kind, int], totals: Mapping[Kind, int], elapsed: float, *, bars: bool
) -> str:
    """`clients 5/5 · brands 120/500 · products 300/5,000 · 85.0/s · about 56s left`."""
    parts = []
    for kind in KINDS:
        if totals.get(kind):
            count, total = done.get(kind, 0), totals[kind]
            bar = f" {_bar(count, total)}" if bars else ""
            parts.append(f"{kind.plural}{bar} {count:,}/{total:,}")
    finished, everything = sum(done.values()), sum(totals.values())
    rate = finished / elapsed if elapsed > 0 else 0.0
    parts.append(f"{rate:,.1f}/s")
    if 0 < finished < everything and rate > 0:
        parts.append(f"about {_duration((everything - finished) / rate)} left")
    return " · ".join(parts)


def _bar(count: int, total: int) -> str:
    filled = _BAR * count // total if total else _BAR
    return "[" + "#" * filled + "-" * (_BAR - filled) + "]"


def _duration(seconds: float) -> str:
    whole = int(seconds + 0.5)
    minutes, secs = divmod(whole, 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


class Progress:
    """Counts settled changes and shows them; `clear()` erases the status line for good."""

    def __init__(
        self,
        totals: Mapping[Kind, int],
        *,
        write: Callable[[str], None],
        terminal: bool,
        clock: Callable[[], float] = time.monotonic,
        every: float | None = None,
    ) -> None:
        self._totals, self._write, self._terminal, self._clock = totals, write, terminal, clock
        self._every = every if every is not None else (0.1 if terminal else 5.0)
        self._done = {kind: 0 for kind in KINDS}
        self._start = self._last = clock()
        self._shown = False

    def settled(self, result: Result) -> None:
        self._done[result.change.key.kind] += 1
        now = self._clock()
        if now - self._last >= self._every:
            self._last = now
            self._show(now)

    def clear(self) -> None:
        if self._terminal and self._shown:
            self._write("")
            self._shown = False

    def _show(self, now: float) -> None:
        status = format_status(self._done, self._totals, now - self._start, bars=self._terminal)
        if self._terminal:
            self._write(status)
            self._shown = True
        else:
            self._write(f"progress: {status}\n")
