"""import_records with a fake COR: the second round of the lookups that gave up."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.actions.adoption import import_records
from reconciler.actions.outcomes import Outcome, Result
from reconciler.cor.endpoints import ApiCall
from reconciler.core.plan import build_plan
from reconciler.errors import TransientError
from tests.actions.test_apply import ACME, BRAND, OTHER, SF, FakeCor, FakeJournal, clients
from tests.builders import desired_of

GAVE_UP = TransientError("PUT /v2/integrations/clients/C1: 503 (gave up after 5 attempts)")


def run(cor: FakeCor, *entities: Any) -> tuple[list[Result], list[int], Any]:
    reported: list[Result] = []
    announced: list[int] = []
    report = import_records(
        build_plan(desired_of(*entities), {}),
        cor.send,
        FakeJournal(),
        reported.append,
        parallelism=1,
        on_second_round=announced.append,
    )
    return reported, announced, report


def test_a_lookup_that_gives_up_once_is_made_again_after_the_others() -> None:
    cor = FakeCor(reject={"C1": GAVE_UP}, times={"C1": 1})
    cor.ids.update({"C1": 7, "B1": 8})
    reported, announced, report = run(cor, ACME, OTHER, BRAND)
    assert announced == [1]
    assert [(str(r.change.key), r.outcome) for r in reported] == [
        (f"client {SF}/C2", Outcome.NOT_FOUND),
        (f"brand {SF}/B1", Outcome.ADOPTED),
        (f"client {SF}/C1", Outcome.ADOPTED),  # said once, after the second round
    ]
    assert report.count(Outcome.IN_DOUBT) == 0
    assert [c.path.rsplit("/", 1)[-1] for c in cor.calls] == ["C1", "C2", "B1", "C1"]


def test_a_lookup_that_gives_up_twice_is_in_doubt() -> None:
    cor = FakeCor(reject={"C1": GAVE_UP})
    reported, announced, report = run(cor, ACME, OTHER)
    assert announced == [1]
    assert [(str(r.change.key), r.outcome) for r in reported] == [
        (f"client {SF}/C2", Outcome.NOT_FOUND),
        (f"client {SF}/C1", Outcome.IN_DOUBT),
    ]
    assert report.count(Outcome.IN_DOUBT) == 1
    assert report.stopped_by == ""
    assert len(cor.calls) == 3


def test_no_second_round_once_cor_looks_down() -> None:
    def send(call: ApiCall) -> Mapping[str, Any]:
        raise GAVE_UP

    reported: list[Result] = []
    announced: list[int] = []
    report = import_records(
        build_plan(desired_of(*clients(7)), {}),
        send,
        FakeJournal(),
        reported.append,
        parallelism=1,
        on_second_round=announced.append,
    )
    assert announced == []
    assert report.stopped_by.startswith("COR looks down: 5 requests in a row")
    assert [r.outcome for r in reported] == [Outcome.IN_DOUBT] * 5  # sent: in doubt
    assert [str(c.key) for c in report.not_attempted] == [f"client {SF}/C05", f"client {SF}/C06"]
