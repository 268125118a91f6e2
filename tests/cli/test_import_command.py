"""`reconciler import` (cli/import_command.py): records created in COR before the repository
are adopted, not duplicated."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.harness import Cli, RunningEmulator, WorkFolder

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


def post(emulator: RunningEmulator, kind: str, body: dict[str, Any]) -> int:
    """A record made in COR by hand (not by reconciler)."""
    answer = httpx.post(
        f"{emulator.url}/v2/integrations/{kind}",
        json={"metadata": {"source": "SAP"}, **body},
        headers={"Authorization": f"Bearer {emulator.token}"},
    )
    answer.raise_for_status()
    cor_id: int = answer.json()["id"]
    return cor_id


def live(emulator: RunningEmulator) -> dict[str, dict[str, Any]]:
    return {r["id"]: r for r in emulator.records()}


@pytest.fixture
def server(work_folder: WorkFolder, emulator_env: RunningEmulator) -> RunningEmulator:
    """SAP's manifests, the CLI pointed at the emulator."""
    work_folder({"sap.yaml": MANIFEST})
    return emulator_env


def test_existing_records_are_adopted_with_their_cor_ids_and_never_duplicated(
    server: RunningEmulator, cli: Cli
) -> None:
    c1 = post(server, "clients", {"id": "C1", "name": "Acme (made by hand)"})
    b1 = post(server, "brands", {"id": "B1", "name": "Acme Home", "client_id": "C1"})
    c3 = post(server, "clients", {"id": "C3", "name": "Initech"})
    post(server, "clients", {"id": "OTHER", "name": "Not ours"})
    post(server, "brands", {"id": "B3", "name": "Initech Labs", "client_id": "OTHER"})

    code, dry, _ = cli("import", "--dry-run")
    assert code == 0
    assert "? would look up client SAP/C1" in dry
    assert dry.splitlines()[-1] == "Import (dry run): 6 declared record(s) not in the state."
    assert not Path("reconciler.state.json").exists()

    code, out, _ = cli("import")
    assert code == 1  # B3 exists under another client: reported, not recorded
    lines = out.splitlines()
    assert f"+ adopted client SAP/C1 (cor_id {c1}): it exists in COR" in lines
    assert f"+ adopted brand SAP/B1 (cor_id {b1}): it exists in COR" in lines
    assert f"+ adopted client SAP/C3 (cor_id {c3}): it exists in COR" in lines
    assert "? not found client SAP/C2: COR does not know it; apply will create it" in lines
    assert "? not found product SAP/P1: COR does not know it; apply will create it" in lines
    assert any(
        line.startswith("x failed brand SAP/B3: it exists in COR under client_id") for line in lines
    )
    assert lines[-1] == "Import complete: 3 adopted, 2 not found, 1 failed."
    assert live(server)["C1"]["attributes"]["name"] == "Acme (from git)"  # the PUT declared it
    assert len(live(server)) == 5  # nothing was created

    code, plan, _ = cli("plan")
    assert code == 0
    assert plan.splitlines()[-1] == "Plan: 3 to create, 0 to update, 0 to delete."
    assert "+ create client SAP/C2" in plan
    assert "+ create client SAP/C1" not in plan


def test_import_looks_up_a_target_and_what_it_needs_only(server: RunningEmulator, cli: Cli) -> None:
    c1 = post(server, "clients", {"id": "C1", "name": "Acme"})
    post(server, "clients", {"id": "C3", "name": "Initech"})
    code, dry, _ = cli("import", "--dry-run", "--target", "brand SAP/B1")
    assert code == 0
    assert dry.splitlines() == [
        "? would look up client SAP/C1",
        "? would look up brand SAP/B1",
        "Import (dry run): 2 declared record(s) not in the state.",
    ]
    code, out, _ = cli("import", "--target", "client SAP/C1")
    assert code == 0
    assert out.splitlines()[0] == f"+ adopted client SAP/C1 (cor_id {c1}): it exists in COR"
    assert cli("import", "--target", "client SAP/NOPE")[0] == 3


def test_after_import_apply_converges_without_duplicates(server: RunningEmulator, cli: Cli) -> None:
    post(server, "clients", {"id": "C1", "name": "Acme"})
    post(server, "brands", {"id": "B1", "name": "Acme Home", "client_id": "C1"})
    post(server, "clients", {"id": "C3", "name": "Initech"})
    assert cli("import")[0] == 0
    assert cli("apply", "--auto-approve")[0] == 0
    assert cli("plan", "--detailed-exitcode")[:2] == (0, "No changes.\n")
    assert sorted(live(server)) == ["B1", "B3", "C1", "C2", "C3", "P1"]


def test_an_imported_protected_record_is_recorded_protected(
    server: RunningEmulator, cli: Cli
) -> None:
    """Import records what apply would: a `protect: true` client adopted from COR is recorded
    protected, so the next plan has nothing to do (it once planned `protect: "false" → "true"`)."""
    Path("manifests/sap.yaml").write_text(
        "source: SAP\nclients:\n  - {id: C1, name: Acme, protect: true}\n", encoding="utf-8"
    )
    post(server, "clients", {"id": "C1", "name": "Acme"})
    assert cli("import")[0] == 0
    state = json.loads(Path("reconciler.state.json").read_text(encoding="utf-8"))
    assert [r.get("protected") for r in state["resources"]] == [True]
    assert cli("plan", "--detailed-exitcode")[:2] == (0, "No changes.\n")


@pytest.mark.parametrize(
    "limit", [["--max-file-size", "10"], ["--max-file-size", "1KiB"]], ids=["bytes", "KiB"]
)
def test_a_manifest_over_max_file_size_exits_3_before_any_request(
    server: RunningEmulator, cli: Cli, limit: list[str]
) -> None:
    Path("manifests/big.yaml").write_text("# padding\n" * 200, encoding="utf-8")  # 2,000 bytes
    code, out, err = cli("import", *limit)
    assert (code, out) == (3, "")
    assert "manifests/big.yaml:1:1: the file is larger than" in err
    assert "--max-file-size or RECONCILER_MAX_FILE_SIZE set another limit" in err
    assert httpx.get(f"{server.url}/_emulator/stats").json()["requests"] == {}
    assert not Path("reconciler.state.json").exists()
    assert cli("import", "--dry-run")[0] == 0  # under the default limit (64MiB): read
