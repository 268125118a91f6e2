"""Deletion, only when asked and never too much: --prune, the limits, protection, DeletionError."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from reconciler.cli import run
from reconciler.core.limits import DeletionLimits, deletion_violations, parse_limits
from reconciler.core.plan import Action, build_plan
from reconciler.core.resources import Kind
from reconciler.emulator.server import EmulatorConfig, EmulatorServer
from reconciler.errors import UsageError
from tests.builders import declared, desired_of, key, recorded, state_of

TOKEN = "prune-t0ken-77aa"


def catalogue(products: int, *, protect: str = "", skip: set[str] | None = None) -> str:
    lines = ["source: VBS", "clients:", "  - {id: C1, name: One}", "  - {id: C2, name: Two}"]
    lines += [
        "brands:",
        "  - {id: B1, name: Bee, client_id: C1}",
        "  - {id: B2, name: Bo, client_id: C2}",
    ]
    lines.append("products:")
    for p in range(products):
        pid = f"P{p:02d}"
        if pid in (skip or set()):
            continue
        extra = ", protect: true" if pid == protect else ""
        lines.append(f"  - {{id: {pid}, name: Product {p}, client_id: C1, brand_id: B1{extra}}}")
    return "\n".join(lines) + "\n"


# --- the pure core -------------------------------------------------------------------------


def test_prune_deletes_in_reverse_order_and_keeps_protected_records() -> None:
    state = state_of(
        recorded("client", "VBS", "C9", 1, name="x"),
        recorded("brand", "VBS", "B9", 2, name="x", client_id="C9"),
        recorded("product", "VBS", "P9", 3, name="x", client_id="C9", brand_id="B9"),
        recorded("product", "VBS", "P8", 4, name="x", client_id="C9", brand_id="B9"),
    )
    protected = state_of(*state.values())
    protected[key("product", "VBS", "P8")] = recorded(
        "product", "VBS", "P8", 4, name="x", client_id="C9", brand_id="B9"
    ).__class__(key("product", "VBS", "P8"), 4, {"name": "x"}, protected=True)
    plan = build_plan(
        desired_of(declared("client", "VBS", "C1", name="new")), protected, prune=True
    )
    assert [(c.action.value, str(c.key)) for c in plan.changes] == [
        ("create", "client VBS/C1"),
        ("delete", "product VBS/P9"),
        ("delete", "brand VBS/B9"),
        ("delete", "client VBS/C9"),
    ]
    assert [str(r.key) for r in plan.not_declared] == ["product VBS/P8"]
    assert plan.summary.delete == 3
    unpruned = build_plan({}, state)
    assert all(c.action is not Action.DELETE for c in unpruned.changes)
    assert len(unpruned.not_declared) == 4


@pytest.mark.parametrize(
    ("recorded_products", "deleting", "limits", "expected"),
    [
        (100, 25, DeletionLimits(), []),
        (
            100,
            26,
            DeletionLimits(),
            ["26 of the 100 recorded products to delete (26%), more than 25%"],
        ),
        (9, 9, DeletionLimits(), []),  # too few recorded for the share limit
        (
            1000,
            101,
            DeletionLimits(),
            [
                "101 products to delete, more than the limit of 100",
            ],
        ),
        (100, 30, parse_limits(["product=50"], []), []),
        (
            100,
            30,
            parse_limits([], ["20"]),
            [
                "30 products to delete, more than the limit of 20",
                "30 of the 100 recorded products to delete (30%)",
            ],
        ),
    ],
)
def test_deletion_limits(
    recorded_products: int, deleting: int, limits: DeletionLimits, expected: list[str]
) -> None:
    records = [
        recorded("product", "VBS", f"P{i}", i, name="x", client_id="C", brand_id="B")
        for i in range(recorded_products)
    ]
    kept = [declared("product", "VBS", r.key.id, **r.attributes) for r in records[deleting:]]
    plan = build_plan(desired_of(*kept), state_of(*records), prune=True)
    found = deletion_violations(plan, [r.key for r in records], len(kept) or 1, limits)
    assert len(found) == len(expected)
    for problem, start in zip(found, expected, strict=True):
        assert problem.startswith(start), problem


def test_declaring_nothing_while_the_state_holds_records_is_refused() -> None:
    records = [recorded("client", "VBS", "C1", 1, name="x")]
    plan = build_plan({}, state_of(*records), prune=True)
    (problem,) = deletion_violations(plan, [r.key for r in records], 0, DeletionLimits())
    assert problem.startswith("the manifests declare nothing, yet the state holds 1 records")


@pytest.mark.parametrize("text", ["many", "widget=3", "product=-1", "product=1.5"])
def test_bad_limits_are_usage_errors(text: str) -> None:
    with pytest.raises(UsageError):
        parse_limits([], [text])
    assert parse_limits(["brand=10"], []).share[Kind.BRAND] == 10


# --- end to end ----------------------------------------------------------------------------


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[EmulatorServer]:
    (tmp_path / "manifests").mkdir()
    monkeypatch.chdir(tmp_path)
    for name in ("COR_API_KEY", "COR_CLIENT_SECRET", "RECONCILER_STATE"):
        monkeypatch.delenv(name, raising=False)
    with EmulatorServer(EmulatorConfig(port=0, token=TOKEN)) as emulator:
        monkeypatch.setenv("COR_API_URL", emulator.url)
        monkeypatch.setenv("COR_TOKEN", TOKEN)
        yield emulator


def declare(text: str) -> None:
    Path("manifests/vbs.yaml").write_text(text, encoding="utf-8")


def live(server: EmulatorServer) -> dict[str, dict[str, Any]]:
    records = httpx.get(f"{server.url}/_emulator/records").json()["records"]
    return {r["id"]: r for r in records if not r["deleted"]}


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = run(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_prune_deletes_products_before_their_brand_and_forgets_them(
    server: EmulatorServer, capsys: pytest.CaptureFixture[str]
) -> None:
    declare(catalogue(12) + "  - {id: PX, name: Extra, client_id: C2, brand_id: B2}\n")
    assert cli(capsys, "apply", "--auto-approve")[0] == 0
    declare(catalogue(12).replace("  - {id: B2, name: Bo, client_id: C2}\n", ""))
    code, out, _ = cli(capsys, "plan")
    assert "  not declared — kept: brand VBS/B2" in out  # without --prune: only listed
    code, out, _ = cli(capsys, "plan", "--prune", "--detailed-exitcode")
    assert code == 2
    assert out.index("- delete product VBS/PX") < out.index("- delete brand VBS/B2")
    assert out.splitlines()[-1] == "Plan: 0 to create, 0 to update, 2 to delete."
    code, out, _ = cli(capsys, "apply", "--prune", "--auto-approve")
    assert code == 0
    assert (
        out.splitlines()[-1]
        == "Apply complete: 0 created, 0 updated, 2 deleted, 0 failed, 0 skipped."
    )
    assert out.index("- deleted product VBS/PX") < out.index("- deleted brand VBS/B2")
    assert "PX" not in live(server)
    assert "B2" not in live(server)
    assert cli(capsys, "plan", "--prune", "--detailed-exitcode")[:2] == (0, "No changes.\n")


def test_too_many_deletes_are_refused_until_forced(
    server: EmulatorServer, capsys: pytest.CaptureFixture[str]
) -> None:
    declare(catalogue(12))
    assert cli(capsys, "apply", "--auto-approve")[0] == 0
    declare(catalogue(12, skip={"P00", "P01", "P02", "P03"}))  # 4 of 12 products: 33%
    code, out, err = cli(capsys, "plan", "--prune")
    assert code == 4
    assert "apply refuses it without --force:" in out
    assert "  - 4 of the 12 recorded products to delete (33%), more than 25%" in out
    code, out, err = cli(capsys, "apply", "--prune", "--auto-approve")
    assert code == 4
    assert "deletes more than the limits allow" in err
    assert len(live(server)) == 16
    assert cli(capsys, "plan", "--prune", "--max-delete-share", "product=40")[0] == 0
    code, out, _ = cli(capsys, "apply", "--prune", "--force", "--auto-approve")
    assert code == 0
    assert "--force lets it through" in out
    assert len(live(server)) == 12


def test_an_empty_manifest_never_deletes_everything(
    server: EmulatorServer, capsys: pytest.CaptureFixture[str]
) -> None:
    declare(catalogue(3))
    assert cli(capsys, "apply", "--auto-approve")[0] == 0
    declare("")  # an emptied file, or a wrong path
    code, out, _ = cli(capsys, "apply", "--prune", "--auto-approve")
    assert code == 4
    assert "the manifests declare nothing, yet the state holds 7 records" in out
    assert len(live(server)) == 7


def test_a_protected_record_survives_its_removal_until_unprotected(
    server: EmulatorServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    declare(catalogue(3, protect="P01"))
    assert cli(capsys, "apply", "--auto-approve")[0] == 0
    assert '"protected": true' in (tmp_path / "reconciler.state.json").read_text()
    declare(catalogue(3, skip={"P01"}))  # the protect flag goes with the entry...
    code, out, _ = cli(capsys, "apply", "--prune", "--auto-approve")
    assert code == 0
    assert "  not declared — kept: product VBS/P01" in out  # ...but the state remembers it
    assert "P01" in live(server)
    declare(catalogue(3))  # declared again, unprotected: a state-only update, no request
    code, out, _ = cli(capsys, "apply", "--auto-approve")
    assert code == 0
    assert '    protect: "true" → "false"' in out
    declare(catalogue(3, skip={"P01"}))
    assert cli(capsys, "apply", "--prune", "--auto-approve")[0] == 0
    assert "P01" not in live(server)


def test_a_deletion_error_keeps_the_record_and_the_run_goes_on(
    server: EmulatorServer, capsys: pytest.CaptureFixture[str]
) -> None:
    declare(catalogue(2) + "  - {id: PX, name: Extra, client_id: C2, brand_id: B2}\n")
    assert cli(capsys, "apply", "--auto-approve")[0] == 0
    fault = {
        "method": "DELETE",
        "kind": "product",
        "source": "VBS",
        "id": "PX",
        "status": 417,
        "name": "DeletionError",
        "code": None,
        "message": "linked to projects",
        "times": 1,
    }
    httpx.post(f"{server.url}/_emulator/faults", json=fault).raise_for_status()
    declare(catalogue(2, skip={"P01"}).replace("  - {id: B2, name: Bo, client_id: C2}\n", ""))
    code, out, _ = cli(capsys, "apply", "--prune", "--force", "--auto-approve")
    assert code == 1
    assert "x failed product VBS/PX: DELETE /v2/integrations/products/PX: 417 DeletionError" in out
    assert "- skipped brand VBS/B2: depends on product VBS/PX, which failed" in out
    assert "- deleted product VBS/P01" in out
    code, out, _ = cli(capsys, "state", "list")
    assert "product VBS/PX" in out
    assert "brand VBS/B2" in out
    assert "product VBS/P01" not in out
    assert cli(capsys, "apply", "--prune", "--force", "--auto-approve")[0] == 0  # fault is gone
    assert "PX" not in live(server)
