"""apply_plan with a fake COR (a dict behind `send`): order, recording, skips, adoption."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any
from urllib.parse import unquote

import pytest

from reconciler.actions.apply import apply_plan
from reconciler.actions.outcomes import Outcome, Result
from reconciler.cor.endpoints import ApiCall
from reconciler.core.limits import PlanOptions, make_plan
from reconciler.core.plan import build_plan
from reconciler.core.resources import Declared, Record, ResourceKey
from reconciler.errors import (
    ApiError,
    ApplyRefusedError,
    AuthError,
    DeletionError,
    DuplicateError,
    NotFoundError,
    RequestRejectedError,
    StateWriteError,
    TransientError,
)
from tests.builders import HERE, declared, desired_of, recorded, state_of

SF = "SALESFORCE"


class FakeCor:
    """Just enough of COR: creates number entities, PUTs answer the whole entity (or not found).
    An id in `reject` fails every request, or only its first `times[id]` ones."""

    def __init__(
        self, reject: Mapping[str, ApiError] | None = None, times: Mapping[str, int] | None = None
    ) -> None:
        self.calls: list[ApiCall] = []
        self.ids: dict[str, int] = {}
        self.reject = dict(reject or {})
        self.times = dict(times or {})

    def send(self, call: ApiCall) -> Mapping[str, Any]:
        self.calls.append(call)
        ext_id = str(call.body.get("id") or unquote(call.path.rsplit("/", 1)[-1]))
        if ext_id in self.reject and self.times.get(ext_id, 1) > 0:
            if ext_id in self.times:
                self.times[ext_id] -= 1
            raise self.reject[ext_id]
        if call.method in ("PUT", "DELETE") and ext_id not in self.ids:
            raise NotFoundError("PUT: 404 ClientNotFoundError", status=404, code="ZC001")
        if call.method == "DELETE":
            return {"message": "deleted", "cor_id": self.ids.pop(ext_id)}
        if call.method == "POST":
            if ext_id in self.ids:
                raise DuplicateError("duplicate", status=409, code="ZC004")
            self.ids[ext_id] = 1000 + len(self.ids)
        return {"id": self.ids[ext_id], "name": call.body.get("name")}


class FakeJournal:
    """The state store as apply sees it: every operation kept, in order."""

    def __init__(self, cor: FakeCor | None = None) -> None:
        self.records: list[Record] = []
        self.ops: list[tuple[str, str]] = []
        self.cor = cor
        self.durable = 0  # ops[:durable] are durable (a group ended without defer())
        self.deferred = False
        self.commits = 0  # groups made durable

    def intend(self, key: ResourceKey) -> None:
        self.ops.append(("intend", str(key)))
        if self.cor is not None:  # the intent must be durable before the request leaves
            assert not any(
                unquote(c.path).endswith(key.id) or c.body.get("id") == key.id
                for c in self.cor.calls
                if c.method != "DELETE"  # a replacement's delete comes before its create
            )

    def record(self, record: Record) -> None:
        self.ops.append(("record", str(record.key)))
        self.records.append(record)

    def resolve(self, key: ResourceKey) -> None:
        self.ops.append(("resolve", str(key)))

    def forget(self, key: ResourceKey) -> None:
        self.ops.append(("forget", str(key)))

    @contextmanager
    def batch(self) -> Iterator[None]:
        self.deferred = False
        yield
        if not self.deferred:  # the group is durable: everything journaled so far is
            self.durable = len(self.ops)
            self.commits += 1

    def defer(self) -> None:
        self.deferred = True


def run(plan_desired: Any, plan_state: Any, cor: FakeCor) -> tuple[list[Result], list[Record]]:
    plan = build_plan(plan_desired, plan_state)
    journal = FakeJournal(cor)
    reported: list[Result] = []
    apply_plan(plan, cor.send, journal, reported.append)
    return reported, journal.records


ACME = declared("client", SF, "C1", name="Acme")
OTHER = declared("client", SF, "C2", name="Other")
BRAND = declared("brand", SF, "B1", name="Premium", client_id="C1")
OTHER_BRAND = declared("brand", SF, "B2", name="Basic", client_id="C2")
PRODUCT = declared("product", SF, "P1", name="Widget", client_id="C1", brand_id="B1")


def test_creates_in_dependency_order_and_records_each() -> None:
    cor = FakeCor()
    results, records = run(desired_of(PRODUCT, BRAND, ACME), {}, cor)
    assert [(c.method, c.path) for c in cor.calls] == [
        ("POST", "/v2/integrations/clients"),
        ("POST", "/v2/integrations/brands"),
        ("POST", "/v2/integrations/products"),
    ]
    assert cor.calls[2].body == {
        "metadata": {"source": SF},
        "id": "P1",
        "name": "Widget",
        "client_id": "C1",
        "brand_id": "B1",
    }
    assert [r.outcome for r in results] == [Outcome.CREATED] * 3
    assert [(str(r.key), r.cor_id) for r in records] == [
        ("client SALESFORCE/C1", 1000),
        ("brand SALESFORCE/B1", 1001),
        ("product SALESFORCE/P1", 1002),
    ]
    assert records[2].attributes == PRODUCT.attributes


def test_failed_create_skips_dependants_but_not_independent_records() -> None:
    cor = FakeCor(reject={"C1": RequestRejectedError("POST: 400 ValidationError: bad", status=400)})
    results, records = run(desired_of(ACME, OTHER, BRAND, OTHER_BRAND, PRODUCT), {}, cor)
    outcomes = {str(r.change.key): (r.outcome, r.reason) for r in results}
    assert outcomes["client SALESFORCE/C1"][0] is Outcome.FAILED
    assert outcomes["brand SALESFORCE/B1"] == (
        Outcome.SKIPPED,
        "depends on client SALESFORCE/C1, which failed",
    )
    assert outcomes["product SALESFORCE/P1"] == (
        Outcome.SKIPPED,
        "depends on client SALESFORCE/C1, which failed",
    )
    assert outcomes["brand SALESFORCE/B2"][0] is Outcome.CREATED
    assert sorted(str(r.key) for r in records) == ["brand SALESFORCE/B2", "client SALESFORCE/C2"]


def test_failed_update_does_not_block_creates_of_dependants() -> None:
    cor = FakeCor(reject={"C1": RequestRejectedError("PUT: 400", status=400)})
    cor.ids["C1"] = 7
    state = state_of(recorded("client", SF, "C1", 7, name="Old name"))
    results, records = run(desired_of(ACME, BRAND), state, cor)
    assert [r.outcome for r in results] == [Outcome.FAILED, Outcome.CREATED]
    assert [str(r.key) for r in records] == ["brand SALESFORCE/B1"]


def test_update_sends_only_changed_fields_and_keeps_cor_id() -> None:
    cor = FakeCor()
    cor.ids["C1"] = 7
    state = state_of(recorded("client", SF, "C1", 7, name="Old", phone="1", website="w"))
    desired = desired_of(declared("client", SF, "C1", name="New", phone="1"))
    results, records = run(desired, state, cor)
    assert cor.calls == [
        ApiCall(
            "PUT",
            "/v2/integrations/clients/C1",
            {"metadata": {"source": SF}, "name": "New", "website": None},
        ),
    ]
    assert results[0].outcome is Outcome.UPDATED
    assert records == [Record(ACME.key, 7, {"name": "New", "phone": "1"}, file=HERE.path)]


def test_duplicate_on_create_adopts_the_existing_record() -> None:
    cor = FakeCor()
    cor.ids["C1"] = 4242  # created earlier, but the answer never reached us
    results, records = run(desired_of(ACME), {}, cor)
    assert [c.method for c in cor.calls] == ["POST", "PUT"]
    assert cor.calls[1].body == {"metadata": {"source": SF}, "name": "Acme"}
    assert results[0].outcome is Outcome.ADOPTED
    assert records == [Record(ACME.key, 4242, {"name": "Acme"}, file=HERE.path)]


def test_skip_names_a_skipped_dependency() -> None:
    lone_brand = declared("brand", SF, "B1", name="Premium", client_id="C1")
    state = state_of()
    cor = FakeCor(reject={"C1": RequestRejectedError("POST: 400", status=400)})
    plan_desired = desired_of(
        ACME,
        lone_brand,
        declared("product", SF, "P9", name="x", client_id="C2", brand_id="B1"),
        OTHER,
    )
    results, _ = run(plan_desired, state, cor)
    reasons = {str(r.change.key): r.reason for r in results}
    assert reasons["product SALESFORCE/P9"] == "depends on brand SALESFORCE/B1, which was skipped"


def test_external_ids_are_escaped_in_paths() -> None:
    cor = FakeCor()
    cor.ids["A/B C"] = 1
    state = state_of(recorded("client", SF, "A/B C", 1, name="x"))
    run(desired_of(declared("client", SF, "A/B C", name="y")), state, cor)
    assert cor.calls[0].path == "/v2/integrations/clients/A%2FB%20C"


def test_replacement_is_refused_before_any_request_without_allow_replace() -> None:
    cor = FakeCor()
    state = state_of(recorded("brand", SF, "B1", 9, name="Premium", client_id="C2"))
    plan = make_plan(desired_of(ACME, BRAND), state, frozenset(), PlanOptions())
    with pytest.raises(ApplyRefusedError, match="brand SALESFORCE/B1 must be replaced"):
        apply_plan(plan, cor.send, FakeJournal(cor), lambda _r: None)
    assert cor.calls == []


def test_replacement_deletes_products_then_brand_then_creates_them_again() -> None:
    cor = FakeCor()
    cor.ids.update({"C1": 1, "C2": 2, "B1": 9, "P1": 50})
    state = state_of(
        recorded("client", SF, "C1", 1, name="Acme"),
        recorded("client", SF, "C2", 2, name="Other"),
        recorded("brand", SF, "B1", 9, name="Premium", client_id="C2"),
        recorded("product", SF, "P1", 50, name="Widget", client_id="C1", brand_id="B1"),
    )
    options = PlanOptions(allow_replace=True)
    plan = make_plan(desired_of(ACME, OTHER, BRAND, PRODUCT), state, frozenset(), options)
    assert [(c.action.value, c.key.id, c.replaced_with) for c in plan.changes] == [
        ("replace", "B1", None),
        ("replace", "P1", BRAND.key),
    ]
    journal = FakeJournal(cor)
    reported: list[Result] = []
    report = apply_plan(plan, cor.send, journal, reported.append)
    assert report.ok
    assert [(c.method, c.path.rsplit("/", 1)[-1] or c.body["id"]) for c in cor.calls] == [
        ("DELETE", "P1"),
        ("DELETE", "B1"),
        ("POST", "brands"),
        ("POST", "products"),
    ]
    assert [(r.outcome.value, r.change.key.id) for r in reported] == [
        ("deleted", "P1"),
        ("deleted", "B1"),
        ("created", "B1"),
        ("created", "P1"),
    ]
    assert "to be created again (replace)" in reported[0].reason
    assert journal.ops[:2] == [
        ("forget", "product SALESFORCE/P1"),
        ("forget", "brand SALESFORCE/B1"),
    ]
    assert {r.key.id: r.cor_id for r in journal.records} == {"B1": 1002, "P1": 1003}


def test_a_replacement_whose_delete_fails_is_not_created_nor_what_goes_under_it() -> None:
    refusal = DeletionError("DELETE: 417 DeletionError: linked to projects", status=417)
    cor = FakeCor(reject={"B1": refusal})
    cor.ids.update({"C1": 1, "C2": 2, "B1": 9})
    state = state_of(
        recorded("client", SF, "C1", 1, name="Acme"),
        recorded("client", SF, "C2", 2, name="Other"),
        recorded("brand", SF, "B1", 9, name="Premium", client_id="C2"),
    )
    options = PlanOptions(allow_replace=True)
    plan = make_plan(desired_of(ACME, OTHER, BRAND, PRODUCT), state, frozenset(), options)
    reported: list[Result] = []
    report = apply_plan(plan, cor.send, FakeJournal(cor), reported.append)
    assert not report.ok
    assert [(r.outcome.value, r.change.key.id) for r in reported] == [
        ("failed", "B1"),
        ("skipped", "P1"),
    ]
    assert "whose replacement did not happen" in reported[1].reason
    assert [c.method for c in cor.calls] == ["DELETE"]


def test_interrupt_abandons_the_request_in_flight_in_doubt_and_lists_the_rest() -> None:
    cor = FakeCor()
    sent: list[ApiCall] = []

    def send(call: ApiCall) -> Mapping[str, Any]:
        if len(sent) == 1:
            raise KeyboardInterrupt
        sent.append(call)
        return cor.send(call)

    journal = FakeJournal()
    records = journal.records
    plan = build_plan(desired_of(ACME, BRAND, PRODUCT), {})
    report = apply_plan(plan, send, journal, lambda _r: None)
    assert report.interrupted
    assert [str(r.change.key) for r in report.in_doubt] == ["brand SALESFORCE/B1"]
    assert "the interrupt abandoned its request" in report.in_doubt[0].reason
    assert [str(c.key) for c in report.remaining] == ["product SALESFORCE/P1"]
    assert [str(r.key) for r in records] == ["client SALESFORCE/C1"]
    assert not report.ok


def test_an_authentication_failure_stops_the_run() -> None:
    error = AuthError("POST /v2/integrations/clients: 401: token refused", status=401)
    cor = FakeCor(reject={"C2": error})
    journal = FakeJournal()
    records = journal.records
    plan = build_plan(desired_of(ACME, OTHER, BRAND), {})
    report = apply_plan(plan, cor.send, journal, lambda _r: None)
    assert report.stopped_by == str(error)
    assert [(str(r.change.key), r.outcome) for r in report.results] == [
        ("client SALESFORCE/C1", Outcome.CREATED),
        ("client SALESFORCE/C2", Outcome.FAILED),
    ]
    assert [str(c.key) for c in report.remaining] == ["brand SALESFORCE/B1"]
    assert [str(r.key) for r in records] == ["client SALESFORCE/C1"]
    assert len(cor.calls) == 2
    assert not report.ok


def test_a_request_that_gives_up_fails_only_its_record_and_the_run_goes_on() -> None:
    error = TransientError("POST /v2/integrations/clients: 503 (gave up after 5 attempts)")
    cor = FakeCor(reject={"C2": error})
    journal = FakeJournal()
    plan = build_plan(desired_of(ACME, OTHER, BRAND, OTHER_BRAND), {})
    report = apply_plan(plan, cor.send, journal, lambda _r: None)
    assert report.stopped_by == ""
    outcomes = {str(r.change.key): (r.outcome, r.reason) for r in report.results}
    assert outcomes["client SALESFORCE/C2"] == (
        Outcome.IN_DOUBT,
        f"{error}; the next apply adopts it if COR created it, else creates it",
    )
    assert outcomes["brand SALESFORCE/B2"] == (
        Outcome.SKIPPED,
        "depends on client SALESFORCE/C2, which is in doubt",
    )
    assert outcomes["brand SALESFORCE/B1"][0] is Outcome.CREATED
    assert report.remaining == ()
    assert ("resolve", "client SALESFORCE/C2") not in journal.ops  # it stays in doubt
    assert not report.ok


def clients(count: int) -> list[Declared]:
    return [declared("client", SF, f"C{n:02}", name=f"Client {n}") for n in range(count)]


@pytest.mark.parametrize(
    ("failing", "stops"),
    [
        ({f"C{n:02}" for n in range(12)}, True),  # COR down: the 5th give-up in a row stops
        ({f"C{n:02}" for n in range(12)} - {"C04", "C09"}, False),  # answers between: it is up
    ],
    ids=["down", "answers-between"],
)
def test_the_breaker_opens_after_five_give_ups_in_a_row(failing: set[str], stops: bool) -> None:
    error = TransientError("POST /v2/integrations/clients: ConnectError (gave up after 5 attempts)")
    cor = FakeCor(reject=dict.fromkeys(failing, error), times=dict.fromkeys(failing, 1))
    plan = build_plan(desired_of(*clients(12)), {})
    announced: list[tuple[int, int]] = []
    report = apply_plan(
        plan,
        cor.send,
        FakeJournal(),
        lambda _r: None,
        on_second_round=lambda *n: announced.append(n),
    )
    if stops:  # no second round: the give-ups are in doubt, the rest not attempted
        assert report.stopped_by == (
            f"COR looks down: 5 requests in a row failed after their retries, the last: {error}"
        )
        assert len(report.in_doubt) == 5
        assert [str(c.key) for c in report.remaining] == [
            f"client SALESFORCE/C{n:02}" for n in range(5, 12)
        ]
        assert len(cor.calls) == 5
        assert announced == []
    else:  # 4, 4 and 2 give-ups in a row; the second round then settles all 10
        assert report.stopped_by == ""
        assert report.ok
        assert announced == [(10, 0)]
        assert len(cor.calls) == 12 + 10 * 2  # each: PUT (not found: never created), POST


def test_a_request_that_gives_up_once_is_sent_again_in_a_second_round() -> None:
    error = TransientError("POST /v2/integrations/clients: 503 (gave up after 5 attempts)")
    cor = FakeCor(reject={"C1": error}, times={"C1": 1})
    journal = FakeJournal()
    reported: list[Result] = []
    announced: list[tuple[int, int]] = []
    plan = build_plan(desired_of(ACME, OTHER, BRAND, PRODUCT), {})
    report = apply_plan(
        plan, cor.send, journal, reported.append, on_second_round=lambda *n: announced.append(n)
    )
    assert report.ok
    assert announced == [(1, 2)]  # C1, then the brand and product waiting for it
    assert [(str(r.change.key), r.outcome) for r in reported] == [  # C1 said once: created
        ("client SALESFORCE/C2", Outcome.CREATED),
        ("client SALESFORCE/C1", Outcome.CREATED),
        ("brand SALESFORCE/B1", Outcome.CREATED),
        ("product SALESFORCE/P1", Outcome.CREATED),
    ]
    assert [(c.method, c.body.get("id") or c.path) for c in cor.calls] == [
        ("POST", "C1"),  # gave up (COR did nothing)
        ("POST", "C2"),
        ("PUT", "/v2/integrations/clients/C1"),  # in doubt: adopted if it exists; it does not
        ("POST", "C1"),
        ("POST", "B1"),
        ("POST", "P1"),
    ]
    assert journal.ops.count(("intend", "client SALESFORCE/C1")) == 1  # journaled once
    assert sorted(str(r.key) for r in journal.records) == [
        "brand SALESFORCE/B1",
        "client SALESFORCE/C1",
        "client SALESFORCE/C2",
        "product SALESFORCE/P1",
    ]


def test_a_create_whose_answer_was_lost_is_adopted_in_the_second_round() -> None:
    cor = FakeCor()

    def send(call: ApiCall) -> Mapping[str, Any]:
        answer = cor.send(call)
        if len(cor.calls) == 1:  # COR created it; the answer never came back
            raise TransientError("POST /v2/integrations/clients: ReadError (gave up after 5)")
        return answer

    reported: list[Result] = []
    report = apply_plan(
        build_plan(desired_of(ACME, BRAND), {}), send, FakeJournal(), reported.append
    )
    assert report.ok
    assert [(str(r.change.key), r.outcome, r.reason) for r in reported] == [
        ("client SALESFORCE/C1", Outcome.ADOPTED, "an earlier create had succeeded"),
        ("brand SALESFORCE/B1", Outcome.CREATED, ""),
    ]
    assert [c.method for c in cor.calls] == ["POST", "PUT", "POST"]  # no second create of C1


def test_a_request_that_gives_up_twice_is_in_doubt_and_its_dependants_skipped() -> None:
    error = TransientError("POST /v2/integrations/clients: 503 (gave up after 5 attempts)")
    cor = FakeCor(reject={"C1": error}, times={"C1": 2})
    journal = FakeJournal()
    reported: list[Result] = []
    plan = build_plan(desired_of(ACME, OTHER, BRAND, PRODUCT), {})
    report = apply_plan(plan, cor.send, journal, reported.append)
    assert [(str(r.change.key), r.outcome, r.reason) for r in reported] == [
        ("client SALESFORCE/C2", Outcome.CREATED, ""),
        (
            "client SALESFORCE/C1",
            Outcome.IN_DOUBT,
            f"{error}; the next apply adopts it if COR created it, else creates it",
        ),
        (
            "brand SALESFORCE/B1",
            Outcome.SKIPPED,
            "depends on client SALESFORCE/C1, which is in doubt",
        ),
        (
            "product SALESFORCE/P1",
            Outcome.SKIPPED,
            "depends on client SALESFORCE/C1, which is in doubt",
        ),
    ]
    assert [c.method for c in cor.calls] == ["POST", "POST", "PUT"]  # C1, C2, then C1 again
    assert report.remaining == ()
    assert not report.ok
    assert ("resolve", "client SALESFORCE/C1") not in journal.ops  # it stays in doubt


@pytest.mark.parametrize(
    "error",
    [
        RequestRejectedError("POST: 400 ValidationError: bad", status=400),
        AuthError("POST: 401: token refused", status=401),
    ],
    ids=["refused", "auth"],
)
def test_only_give_ups_get_a_second_round(error: ApiError) -> None:
    cor = FakeCor(reject={"C1": error}, times={"C1": 1})  # a second try would succeed
    announced: list[tuple[int, int]] = []
    plan = build_plan(desired_of(ACME, OTHER), {})
    report = apply_plan(
        plan,
        cor.send,
        FakeJournal(),
        lambda _r: None,
        on_second_round=lambda *n: announced.append(n),
    )
    assert announced == []
    assert report.results[0].outcome is Outcome.FAILED
    assert [c.body.get("id") for c in cor.calls] == ["C1"] + (
        ["C2"] if not report.stopped_by else []
    )


def test_an_interrupt_in_the_main_pass_leaves_the_give_ups_in_doubt_unretried() -> None:
    error = TransientError("POST /v2/integrations/clients: 503 (gave up after 5 attempts)")
    cor = FakeCor(reject={"C1": error}, times={"C1": 1})
    plan = build_plan(desired_of(ACME, OTHER, BRAND), {})
    report = apply_plan(
        plan, cor.send, FakeJournal(), lambda _r: None, should_stop=lambda: len(cor.calls) >= 1
    )
    assert report.interrupted
    assert [(str(r.change.key), r.outcome) for r in report.results] == [
        ("client SALESFORCE/C1", Outcome.IN_DOUBT),
        ("brand SALESFORCE/B1", Outcome.SKIPPED),
    ]
    assert [str(c.key) for c in report.remaining] == ["client SALESFORCE/C2"]
    assert len(cor.calls) == 1


def test_a_signal_as_the_main_pass_ends_stops_before_the_second_round() -> None:
    error = TransientError("POST /v2/integrations/clients: 503 (gave up after 5 attempts)")
    cor = FakeCor(reject={"C1": error}, times={"C1": 1})
    asked: list[int] = []

    def should_stop() -> bool:  # asked before the main pass, after each answer, then once more
        asked.append(len(cor.calls))
        return len(asked) > 3

    announced: list[tuple[int, int]] = []
    plan = build_plan(desired_of(ACME, OTHER, BRAND), {})
    report = apply_plan(
        plan,
        cor.send,
        FakeJournal(),
        lambda _r: None,
        should_stop=should_stop,
        on_second_round=lambda *n: announced.append(n),
    )
    assert asked == [0, 1, 2, 2]
    assert report.interrupted
    assert announced == []
    assert [(str(r.change.key), r.outcome) for r in report.results] == [
        ("client SALESFORCE/C2", Outcome.CREATED),
        ("client SALESFORCE/C1", Outcome.IN_DOUBT),
        ("brand SALESFORCE/B1", Outcome.SKIPPED),
    ]
    assert report.remaining == ()


def test_a_parent_whose_other_dependant_was_refused_is_not_retried() -> None:
    # Brand B1's delete waits for the deletes of its two products: P1 gives up every time,
    # COR refuses P2's. B1 is skipped for P2, so the second round retries P1 alone.
    gave_up = TransientError("DELETE /v2/integrations/products/P1: 503 (gave up after 5)")
    refused = DeletionError("DELETE /v2/integrations/products/P2: 409 has projects", status=409)
    cor = FakeCor(reject={"P1": gave_up, "P2": refused})
    cor.ids.update({"C1": 1, "B1": 2, "P1": 3, "P2": 4})
    state = state_of(
        recorded("client", SF, "C1", 1, name="Acme"),
        recorded("brand", SF, "B1", 2, name="Premium", client_id="C1"),
        recorded("product", SF, "P1", 3, name="a", client_id="C1", brand_id="B1"),
        recorded("product", SF, "P2", 4, name="b", client_id="C1", brand_id="B1"),
    )
    plan = build_plan(desired_of(ACME), state, prune=True)
    report = apply_plan(plan, cor.send, FakeJournal(), lambda _r: None)
    outcomes = {str(r.change.key): (r.outcome, r.reason) for r in report.results}
    assert outcomes["brand SALESFORCE/B1"] == (
        Outcome.SKIPPED,
        "depends on product SALESFORCE/P2, which failed",
    )
    assert outcomes["product SALESFORCE/P1"][0] is Outcome.IN_DOUBT
    assert [(c.method, c.path.rsplit("/", 1)[-1]) for c in cor.calls] == [
        ("DELETE", "P1"),
        ("DELETE", "P2"),
        ("DELETE", "P1"),  # the second round: never B1
    ]


def test_a_requested_stop_lets_the_change_in_flight_finish_and_records_it() -> None:
    cor = FakeCor()
    journal = FakeJournal()
    records = journal.records
    asked: list[int] = []

    def should_stop() -> bool:  # asked before each change; a signal arrives during the first
        asked.append(len(cor.calls))
        return len(cor.calls) >= 1

    plan = build_plan(desired_of(ACME, BRAND, PRODUCT), {})
    report = apply_plan(plan, cor.send, journal, lambda _r: None, should_stop=should_stop)
    assert report.interrupted
    assert [r.outcome for r in report.results] == [Outcome.CREATED]
    assert [str(r.key) for r in records] == ["client SALESFORCE/C1"]
    assert [str(c.key) for c in report.remaining] == [
        "brand SALESFORCE/B1",
        "product SALESFORCE/P1",
    ]
    assert asked == [0, 1]


class SlowCor(FakeCor):
    """A FakeCor that answers from many threads, tracking how many requests overlap."""

    def __init__(self, delay: float = 0.02) -> None:
        super().__init__()
        self.delay = delay
        self.lock = threading.Lock()
        self.active = self.peak = 0

    def send(self, call: ApiCall) -> Mapping[str, Any]:
        with self.lock:
            self.active += 1
            self.peak = max(self.peak, self.active)
        time.sleep(self.delay)
        try:
            with self.lock:
                return super().send(call)
        finally:
            with self.lock:
                self.active -= 1


def many() -> dict[ResourceKey, Declared]:
    entities = []
    for c in range(3):
        entities.append(declared("client", SF, f"C{c}", name=f"Client {c}"))
        for b in range(2):
            entities.append(declared("brand", SF, f"B{c}{b}", name="b", client_id=f"C{c}"))
            for p in range(3):
                entities.append(
                    declared(
                        "product",
                        SF,
                        f"P{c}{b}{p}",
                        name="p",
                        client_id=f"C{c}",
                        brand_id=f"B{c}{b}",
                    )
                )
    return desired_of(*entities)


def test_parallel_apply_overlaps_requests_yet_respects_references() -> None:
    cor = SlowCor()
    journal = FakeJournal()
    plan = build_plan(many(), {})
    report = apply_plan(plan, cor.send, journal, lambda _r: None, parallelism=6)
    assert report.ok
    assert cor.peak > 1
    done_at = {op[1]: index for index, op in enumerate(journal.ops) if op[0] == "record"}
    started_at = {op[1]: index for index, op in enumerate(journal.ops) if op[0] == "intend"}
    assert len(done_at) == len(plan.changes) == 27
    for change in plan.changes:
        for ref in change.key.references(change.attributes):
            assert done_at[str(ref)] < started_at[str(change.key)], (ref, change.key)


def catalogue_of(products: int) -> dict[ResourceKey, Declared]:
    """Two clients, a brand each, and `products` products under them."""
    entities = [declared("client", SF, f"C{c}", name=f"Client {c}") for c in range(2)]
    entities += [declared("brand", SF, f"B{c}", name="b", client_id=f"C{c}") for c in range(2)]
    entities += [
        declared("product", SF, f"P{p}", name="p", client_id=f"C{p % 2}", brand_id=f"B{p % 2}")
        for p in range(products)
    ]
    return desired_of(*entities)


def test_a_request_leaves_only_once_its_intent_and_what_it_needs_are_durable() -> None:
    """Rounds that wait on nothing are deferred, intents are journaled ahead: still, when a
    create is sent, its intent is durable, and so is the record of everything it refers to."""
    journal = FakeJournal()
    plan = build_plan(catalogue_of(60), {})
    cor = SlowCor(delay=0.005)
    checked: list[str] = []

    def send(call: ApiCall) -> Mapping[str, Any]:
        durable = journal.ops[: journal.durable]
        change = next(c for c in plan.changes if c.key.id == call.body.get("id"))
        assert ("intend", str(change.key)) in durable, change.key
        for ref in change.key.references(change.attributes):
            assert ("record", str(ref)) in durable, (change.key, ref)
        checked.append(str(change.key))
        return cor.send(call)

    report = apply_plan(plan, send, journal, lambda _r: None, parallelism=8)
    assert report.ok
    assert len(checked) == 64
    assert len(journal.records) == 64


def test_a_delete_leaves_only_once_what_had_to_go_first_is_durably_forgotten() -> None:
    """Deletes journal no intent: a brand's delete starts when its products' are done, and
    their forgets must be durable by then (a round that lets a change start is never
    deferred)."""
    records = [recorded("client", SF, "C1", 1, name="Acme")]
    records.append(recorded("brand", SF, "B1", 2, name="Premium", client_id="C1"))
    records += [
        recorded("product", SF, f"P{p}", 10 + p, name="p", client_id="C1", brand_id="B1")
        for p in range(12)
    ]
    cor = SlowCor(delay=0.005)
    cor.ids.update({r.key.id: r.cor_id for r in records})
    plan = build_plan({}, state_of(*records), prune=True)
    journal = FakeJournal()
    checked: list[str] = []

    def send(call: ApiCall) -> Mapping[str, Any]:
        key_id = unquote(call.path.rsplit("/", 1)[-1])
        if key_id in ("B1", "C1"):
            durable = journal.ops[: journal.durable]
            refers = [
                r for r in records if key_id in {k.id for k in r.key.references(r.attributes)}
            ]
            for record in refers:
                assert ("forget", str(record.key)) in durable, (key_id, record.key)
            checked.append(key_id)
        return cor.send(call)

    report = apply_plan(plan, send, journal, lambda _r: None, parallelism=8)
    assert report.ok
    assert checked == ["B1", "C1"]


def test_most_rounds_need_no_commit_of_their_own() -> None:
    """One durable group per create at parallelism 1 (each round sends one); at parallelism 8
    the intents of the next creates are journaled ahead and the rounds that only collect
    products' results are deferred: a fraction of the commits, everything recorded."""
    commits = {}
    for parallelism in (1, 8):
        journal = FakeJournal()
        report = apply_plan(
            build_plan(catalogue_of(80), {}),
            SlowCor(delay=0.005).send,
            journal,
            lambda _r: None,
            parallelism=parallelism,
        )
        assert report.ok
        assert len(journal.records) == 84
        assert journal.ops.count(("resolve", "product SALESFORCE/P0")) == 0
        commits[parallelism] = journal.commits
    assert commits[1] >= 84
    assert commits[8] <= 84 // 3, commits


def test_intents_journaled_ahead_are_resolved_when_the_run_stops_first() -> None:
    journal = FakeJournal()
    plan = build_plan(catalogue_of(40), {})
    answers = 0

    def should_stop() -> bool:
        return answers >= 10

    cor = SlowCor(delay=0.005)

    def send(call: ApiCall) -> Mapping[str, Any]:
        nonlocal answers
        answer = cor.send(call)
        answers += 1
        return answer

    report = apply_plan(
        plan, send, journal, lambda _r: None, parallelism=8, should_stop=should_stop
    )
    assert report.interrupted
    intended = {key for op, key in journal.ops if op == "intend"}
    settled = {key for op, key in journal.ops if op in ("record", "resolve")}
    sent = {
        str(c.key) for c in plan.changes if c.key.id in {call.body.get("id") for call in cor.calls}
    }
    resolved = {key for op, key in journal.ops if op == "resolve"}
    assert resolved, "some intents were journaled ahead of the stop"
    assert intended == settled  # nothing left in doubt: each was sent and recorded, or resolved
    assert not resolved & sent  # only creates never sent are resolved
    assert journal.durable == len(journal.ops)  # and that is durable


def test_a_create_in_doubt_from_an_earlier_run_is_never_resolved_unsent() -> None:
    """Intents journaled ahead are resolved when the run stops before sending them: never one
    that was already in doubt (an earlier run may have created it in COR)."""
    desired = catalogue_of(30)
    doubts = frozenset(key for key in desired if key.kind.value == "product")
    plan = build_plan(desired, {}, in_doubt=doubts)
    journal = FakeJournal()
    answers = 0
    cor = SlowCor(delay=0.005)

    def send(call: ApiCall) -> Mapping[str, Any]:
        nonlocal answers
        if call.method == "PUT":  # an adoption's look-up: not in COR
            raise NotFoundError("PUT: 404 ProductNotFoundError", status=404, code="ZC001")
        answer = cor.send(call)
        answers += 1
        return answer

    report = apply_plan(
        plan, send, journal, lambda _r: None, parallelism=8, should_stop=lambda: answers >= 8
    )
    assert report.interrupted
    resolved = {key for op, key in journal.ops if op == "resolve"}
    assert not resolved & {str(key) for key in doubts}, "a doubt of an earlier run was dropped"


def test_parallel_and_sequential_applies_record_the_same() -> None:
    outcomes = []
    for parallelism in (1, 8):
        cor, journal = SlowCor(delay=0.001), FakeJournal()
        apply_plan(
            build_plan(many(), {}), cor.send, journal, lambda _r: None, parallelism=parallelism
        )
        outcomes.append(sorted((str(r.key), dict(r.attributes)) for r in journal.records))
    assert outcomes[0] == outcomes[1]


def test_in_doubt_create_is_adopted_without_a_second_create() -> None:
    cor = FakeCor()
    cor.ids["C1"] = 4242  # an earlier run's create had succeeded; its answer was lost
    plan = build_plan(desired_of(ACME), {}, in_doubt={ACME.key})
    journal = FakeJournal()
    results: list[Result] = []
    apply_plan(plan, cor.send, journal, results.append)
    assert [c.method for c in cor.calls] == ["PUT"]
    assert results[0].outcome is Outcome.ADOPTED
    assert journal.records == [Record(ACME.key, 4242, {"name": "Acme"}, file=HERE.path)]


def test_in_doubt_create_that_never_happened_is_created() -> None:
    cor = FakeCor(reject={})

    def send(call: ApiCall) -> Mapping[str, Any]:
        if call.method == "PUT":
            raise NotFoundError("PUT: 404 ClientNotFoundError", status=404, code="ZC001")
        return cor.send(call)

    plan = build_plan(desired_of(ACME), {}, in_doubt={ACME.key})
    journal = FakeJournal()
    report = apply_plan(plan, send, journal, lambda _r: None)
    assert [c.method for c in cor.calls] == ["POST"]
    assert [r.outcome for r in report.results] == [Outcome.CREATED]
    assert journal.records == [Record(ACME.key, 1000, {"name": "Acme"}, file=HERE.path)]


def test_adopting_a_record_under_another_parent_fails_and_records_nothing() -> None:
    def send(call: ApiCall) -> Mapping[str, Any]:
        if call.method == "POST":
            raise DuplicateError("POST: 409 DuplicateExternalIdError", status=409)
        return {"id": 77, "name": "Premium", "client_id": 999}  # COR: under another client

    state = state_of(recorded("client", SF, "C1", 5, name="Acme"))
    journal = FakeJournal()
    report = apply_plan(
        build_plan(desired_of(ACME, BRAND), state),
        send,
        journal,
        lambda _r: None,
        cor_ids={ACME.key: 5},
    )
    (result,) = report.results
    assert result.outcome is Outcome.FAILED
    assert "client_id COR id 999, but client SALESFORCE/C1 is COR id 5" in result.reason
    assert journal.records == []
    assert ("resolve", "brand SALESFORCE/B1") not in journal.ops  # it exists: still in doubt


def test_rejected_create_is_resolved_but_an_unreadable_answer_stays_in_doubt() -> None:
    def send(call: ApiCall) -> Mapping[str, Any]:
        if call.body.get("id") == "C1":
            raise RequestRejectedError("POST: 400 ValidationError", status=400)
        return {"unexpected": "no id here"}  # created, but COR's id is unknown

    journal = FakeJournal()
    report = apply_plan(build_plan(desired_of(ACME, OTHER), {}), send, journal, lambda _r: None)
    assert [r.outcome for r in report.results] == [Outcome.FAILED, Outcome.FAILED]
    assert journal.ops == [
        ("intend", "client SALESFORCE/C1"),
        ("resolve", "client SALESFORCE/C1"),
        ("intend", "client SALESFORCE/C2"),
    ]


def test_a_create_lost_in_an_outage_stays_in_doubt_and_its_dependants_are_skipped() -> None:
    def send(call: ApiCall) -> Mapping[str, Any]:
        raise TransientError("POST: ReadTimeout (gave up after 5 attempts)")

    journal = FakeJournal()
    report = apply_plan(build_plan(desired_of(ACME, BRAND), {}), send, journal, lambda _r: None)
    assert [(str(r.change.key), r.outcome) for r in report.results] == [
        ("client SALESFORCE/C1", Outcome.IN_DOUBT),
        ("brand SALESFORCE/B1", Outcome.SKIPPED),
    ]
    assert report.remaining == ()
    assert journal.ops == [("intend", "client SALESFORCE/C1")]


class FullDisk(FakeJournal):
    """A state store on a disk that fills up: every write after the first `room` fails."""

    def __init__(self, room: int) -> None:
        super().__init__()
        self.room = room

    def _write(self) -> None:
        if self.room == 0:
            raise StateWriteError("cannot append to the journal x: [Errno 28] No space left")
        self.room -= 1

    def intend(self, key: ResourceKey) -> None:
        self._write()
        super().intend(key)

    def record(self, record: Record) -> None:
        self._write()
        super().record(record)


@pytest.mark.parametrize(
    ("room", "in_doubt", "not_attempted"),
    [
        (2, [], ["client SALESFORCE/C2", "brand SALESFORCE/B1"]),  # C1 done, C2's intent fails
        (1, ["client SALESFORCE/C1"], ["client SALESFORCE/C2"]),  # B1: skipped (C1 in doubt)
    ],
    ids=["intent-unwritable", "record-unwritable"],
)
def test_a_full_disk_stops_the_run_and_says_what_is_recorded_and_what_is_not(
    room: int, in_doubt: list[str], not_attempted: list[str]
) -> None:
    cor = FakeCor()
    journal = FullDisk(room)
    plan = build_plan(desired_of(ACME, OTHER, BRAND), {})
    report = apply_plan(plan, cor.send, journal, lambda _r: None)
    assert report.stopped_by.startswith("the state could not be written: cannot append")
    assert [str(r.change.key) for r in report.in_doubt] == in_doubt
    assert [str(c.key) for c in report.remaining] == not_attempted
    assert len(cor.calls) == 1  # nothing is sent without a durable intent
    if in_doubt:
        assert report.in_doubt[0].reason == (
            "created in COR, but the state could not record it; the next apply "
            "adopts it if COR created it, else creates it"
        )
