"""`reconciler import`: records created in COR before the repository are adopted, not duplicated."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from reconciler.cli import run
from reconciler.emulator.server import EmulatorConfig, EmulatorServer

TOKEN = "import-t0ken-51c2"
MANIFEST = """\
source: SAP
clients:
  - {id: C1, name: Acme (from git)}
  - {id: C2, name: Globex}
  - {id: C3, name: Initech}
brands:
  - {id: B1, name: Acme Home, client_id: C1}
  - {id: B3, name: Initech Labs, client_id: C3}
products:
  - {id: P1, name: Widget, client_id: C1, brand_id: B1}
"""


def post(server: EmulatorServer, kind: str, body: dict[str, Any]) -> int:
    answer = httpx.post(
        f"{server.url}/v2/integrations/{kind}",
        json={"metadata": {"source": "SAP"}, **body},
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    answer.raise_for_status()
    cor_id: int = answer.json()["id"]
    return cor_id


def live(server: EmulatorServer) -> dict[str, dict[str, Any]]:
    records = httpx.get(f"{server.url}/_emulator/records").json()["records"]
    return {r["id"]: r for r in records}


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[EmulatorServer]:
    (tmp_path / "manifests").mkdir()
    (tmp_path / "manifests" / "sap.yaml").write_text(MANIFEST, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    for name in ("COR_API_KEY", "COR_CLIENT_SECRET", "RECONCILER_STATE"):
        monkeypatch.delenv(name, raising=False)
    with EmulatorServer(EmulatorConfig(port=0, token=TOKEN)) as emulator:
        monkeypatch.setenv("COR_API_URL", emulator.url)
        monkeypatch.setenv("COR_TOKEN", TOKEN)
        yield emulator


def test_existing_records_are_adopted_with_their_cor_ids_and_never_duplicated(
    server: EmulatorServer, capsys: pytest.CaptureFixture[str]
) -> None:
    c1 = post(server, "clients", {"id": "C1", "name": "Acme (made by hand)"})
    b1 = post(server, "brands", {"id": "B1", "name": "Acme Home", "client_id": "C1"})
    c3 = post(server, "clients", {"id": "C3", "name": "Initech"})
    post(server, "clients", {"id": "OTHER", "name": "Not ours"})
    post(server, "brands", {"id": "B3", "name": "Initech Labs", "client_id": "OTHER"})

    assert run(["import", "--dry-run"]) == 0
    dry = capsys.readouterr().out
    assert "? would look up client SAP/C1" in dry
    assert dry.splitlines()[-1] == "Import (dry run): 6 declared record(s) not in the state."
    assert not Path("reconciler.state.json").exists()

    assert run(["import"]) == 1  # B3 exists under another client: reported, not recorded
    lines = capsys.readouterr().out.splitlines()
    assert f"+ adopted client SAP/C1 (cor_id {c1}): adopted: it exists in COR" in lines
    assert f"+ adopted brand SAP/B1 (cor_id {b1}): adopted: it exists in COR" in lines
    assert f"+ adopted client SAP/C3 (cor_id {c3}): adopted: it exists in COR" in lines
    assert "? not found client SAP/C2: COR does not know it; apply will create it" in lines
    assert "? not found product SAP/P1: COR does not know it; apply will create it" in lines
    assert any(
        line.startswith("x failed brand SAP/B3: it exists in COR under client_id") for line in lines
    )
    assert lines[-1] == "Import complete: 3 adopted, 2 not found, 1 failed."
    assert live(server)["C1"]["attributes"]["name"] == "Acme (from git)"  # the PUT declared it
    assert len(live(server)) == 5  # nothing was created

    assert run(["plan"]) == 0
    plan = capsys.readouterr().out
    assert plan.splitlines()[-1] == "Plan: 3 to create, 0 to update, 0 to delete."
    assert "+ create client SAP/C2" in plan
    assert "+ create client SAP/C1" not in plan


def test_after_import_apply_converges_without_duplicates(
    server: EmulatorServer, capsys: pytest.CaptureFixture[str]
) -> None:
    post(server, "clients", {"id": "C1", "name": "Acme"})
    post(server, "brands", {"id": "B1", "name": "Acme Home", "client_id": "C1"})
    post(server, "clients", {"id": "C3", "name": "Initech"})
    assert run(["import"]) == 0
    assert run(["apply", "--auto-approve"]) == 0
    capsys.readouterr()
    assert run(["plan", "--detailed-exitcode"]) == 0
    assert capsys.readouterr().out == "No changes.\n"
    assert sorted(live(server)) == ["B1", "B3", "C1", "C2", "C3", "P1"]


def test_an_imported_protected_record_is_recorded_protected(
    server: EmulatorServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """Import records what apply would: a `protect: true` client adopted from COR is recorded
    protected, so the next plan has nothing to do (it once planned `protect: "false" → "true"`)."""
    Path("manifests/sap.yaml").write_text(
        "source: SAP\nclients:\n  - {id: C1, name: Acme, protect: true}\n", encoding="utf-8"
    )
    post(server, "clients", {"id": "C1", "name": "Acme"})
    assert run(["import"]) == 0
    state = json.loads(Path("reconciler.state.json").read_text(encoding="utf-8"))
    assert [r.get("protected") for r in state["resources"]] == [True]
    capsys.readouterr()
    assert run(["plan", "--detailed-exitcode"]) == 0
    assert capsys.readouterr().out == "No changes.\n"
