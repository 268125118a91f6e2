"""Progress on stderr: per-kind counts, rate and time left; redrawn on a terminal only."""

from __future__ import annotations

from reconciler.actions.outcomes import Outcome, Result
from reconciler.core.plan import Action, Change
from reconciler.core.resources import Kind
from reconciler.output.progress import Progress, format_status
from tests.builders import key

TOTALS = {Kind.CLIENT: 5, Kind.BRAND: 500, Kind.PRODUCT: 5000}


def result(kind: str) -> Result:
    return Result(Change(Action.CREATE, key(kind, "SAP", "X"), {}), Outcome.CREATED, 1)


def test_status_counts_each_kind_with_rate_and_time_left() -> None:
    done = {Kind.CLIENT: 5, Kind.BRAND: 120, Kind.PRODUCT: 300}
    assert format_status(done, TOTALS, 5.0, bars=False) == (
        "clients 5/5 · brands 120/500 · products 300/5,000 · 85.0/s · about 1m00s left"
    )


def test_bars_on_a_terminal_and_kinds_without_work_left_out() -> None:
    status = format_status({Kind.BRAND: 3}, {Kind.BRAND: 12}, 1.0, bars=True)
    assert status == "brands [###---------] 3/12 · 3.0/s · about 3s left"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_without_a_terminal_a_plain_line_every_few_seconds() -> None:
    written: list[str] = []
    clock = Clock()
    progress = Progress(TOTALS, write=written.append, terminal=False, clock=clock)
    for _ in range(3):
        clock.now += 1
        progress.settled(result("client"))
    assert written == []
    clock.now = 5.0
    progress.settled(result("brand"))
    assert written == [
        "progress: clients 3/5 · brands 1/500 · products 0/5,000 · 0.8/s · about 1h54m left\n"
    ]
    progress.clear()  # nothing to erase in a log
    assert len(written) == 1


def test_on_a_terminal_the_status_line_is_handed_over_to_draw_and_erase() -> None:
    written: list[str] = []
    clock = Clock()
    progress = Progress({Kind.CLIENT: 2}, write=written.append, terminal=True, clock=clock)
    clock.now = 1.0
    progress.settled(result("client"))
    assert written == ["clients [######------] 1/2 · 1.0/s · about 1s left"]
    progress.clear()
    assert written[-1] == ""  # erase it
    progress.clear()  # already erased: nothing more
    assert len(written) == 2
