"""Scheduler of a parallel apply: who waits for whom, and what a failure makes unreachable."""

from __future__ import annotations

from reconciler.actions.scheduler import Scheduler
from reconciler.core.plan import build_plan
from tests.builders import declared, desired_of, recorded, state_of

SF = "SALESFORCE"
C1 = declared("client", SF, "C1", name="One")
C2 = declared("client", SF, "C2", name="Two")
B1 = declared("brand", SF, "B1", name="b", client_id="C1")
B2 = declared("brand", SF, "B2", name="b", client_id="C2")
P1 = declared("product", SF, "P1", name="p", client_id="C1", brand_id="B1")
P2 = declared("product", SF, "P2", name="p", client_id="C2", brand_id="B2")


def drain(graph: Scheduler) -> list[str]:
    handed = []
    while graph.has_ready():
        handed.append(graph.next_ready().key.id)
    return handed


def test_only_what_references_nothing_pending_is_ready_at_first() -> None:
    graph = Scheduler(build_plan(desired_of(C1, C2, B1, B2, P1, P2), {}).changes)
    assert drain(graph) == ["C1", "C2"]


def test_a_brand_waits_for_its_own_client_only() -> None:
    graph = Scheduler(build_plan(desired_of(C1, C2, B1, B2, P1, P2), {}).changes)
    drain(graph)
    graph.succeeded(C2.key)
    assert drain(graph) == ["B2"]
    graph.succeeded(B2.key)
    assert drain(graph) == ["P2"]


def test_a_product_waits_for_both_client_and_brand() -> None:
    # The client exists already; the brand is new: the product waits for the brand alone.
    state = state_of(recorded("client", SF, "C1", 1, name="One"))
    graph = Scheduler(build_plan(desired_of(C1, B1, P1), state).changes)
    assert drain(graph) == ["B1"]
    graph.succeeded(B1.key)
    assert drain(graph) == ["P1"]


def test_records_referencing_recorded_entities_start_at_once() -> None:
    state = state_of(
        recorded("client", SF, "C1", 1, name="Old"),
        recorded("brand", SF, "B1", 2, name="b", client_id="C1"),
    )
    graph = Scheduler(build_plan(desired_of(C1, B1, P1), state).changes)
    assert drain(graph) == ["C1", "P1"]  # an update of C1 and the create of P1, together


def test_a_failure_makes_every_dependant_unreachable_with_its_cause() -> None:
    graph = Scheduler(build_plan(desired_of(C1, C2, B1, B2, P1, P2), {}).changes)
    drain(graph)
    skipped = graph.unreachable(C1.key)
    assert [(change.key.id, missing.id) for change, missing in skipped] == [
        ("B1", "C1"),
        ("P1", "C1"),
    ]
    graph.succeeded(C2.key)
    assert drain(graph) == ["B2"]
    assert graph.unreachable(C1.key) == []  # reported once


def test_not_started_lists_what_an_early_stop_leaves_in_plan_order() -> None:
    graph = Scheduler(build_plan(desired_of(C1, C2, B1, B2, P1, P2), {}).changes)
    graph.next_ready()  # C1 handed out (in flight)
    assert [c.key.id for c in graph.not_started()] == ["C2", "B1", "B2", "P1", "P2"]
