"""End to end: a prune deletes only what the paths given declared (docs/cli.md "Deletion"),
against the emulator on loopback. The state records which manifest file last declared each
record; `plan --prune manifests/salesforce` says nothing of records from manifests/quickbooks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.harness import Cli, RunningEmulator, WorkFolder

SALESFORCE = """\
source: SALESFORCE
clients:
  - {id: SF-1, name: Acme}
  - {id: SF-2, name: Globex}
"""
QUICKBOOKS = """\
source: QUICKBOOKS
clients:
  - {id: QB-1, name: Initech}
  - {id: QB-2, name: Umbrella}
"""
SF_FILE = "manifests/salesforce/clients.yaml"
QB_FILE = "manifests/quickbooks/clients.yaml"


@pytest.fixture
def applied(work_folder: WorkFolder, emulator_env: RunningEmulator, cli: Cli) -> Path:
    """Both folders applied, then one client removed from each file."""
    root = work_folder(
        {"salesforce/clients.yaml": SALESFORCE, "quickbooks/clients.yaml": QUICKBOOKS}
    )
    code, _, err = cli("apply", "--auto-approve")
    assert code == 0, err
    assert files_of(work_folder.state) == {
        "SF-1": SF_FILE,
        "SF-2": SF_FILE,
        "QB-1": QB_FILE,
        "QB-2": QB_FILE,
    }
    (root / SF_FILE).write_text(SALESFORCE.replace("  - {id: SF-2, name: Globex}\n", ""))
    (root / QB_FILE).write_text(QUICKBOOKS.replace("  - {id: QB-2, name: Umbrella}\n", ""))
    return root


def files_of(state: Path) -> dict[str, Any]:
    resources = json.loads(state.read_text(encoding="utf-8"))["resources"]
    return {record["id"]: record.get("file") for record in resources}


def live(emulator: RunningEmulator) -> set[str]:
    return {record["id"] for record in emulator.records() if not record.get("deleted")}


def test_a_prune_of_one_folder_deletes_only_its_records(
    applied: Path, emulator: RunningEmulator, cli: Cli
) -> None:
    code, out, _ = cli("plan", "--prune", "manifests/salesforce", "--detailed-exitcode")
    assert code == 2
    assert "- delete client SALESFORCE/SF-2" in out
    assert "QUICKBOOKS" not in out  # neither deleted nor listed as not declared
    assert out.splitlines()[-1] == "Plan: 0 to create, 0 to update, 1 to delete."

    code, out, err = cli("apply", "--prune", "manifests/salesforce", "--auto-approve")
    assert code == 0, err
    assert "QUICKBOOKS" not in out
    assert live(emulator) == {"SF-1", "QB-1", "QB-2"}
    assert set(files_of(applied / "reconciler.state.json")) == {"SF-1", "QB-1", "QB-2"}

    assert cli("plan", "--prune", "./manifests/salesforce/", "--detailed-exitcode")[0] == 0
    code, out, _ = cli("plan", "--prune")  # the whole root: the other one now
    assert "- delete client QUICKBOOKS/QB-2" in out
    assert out.splitlines()[-1] == "Plan: 0 to create, 0 to update, 1 to delete."


def test_a_prune_of_a_folder_name_prefix_deletes_nothing(applied: Path, cli: Cli) -> None:
    (applied / "manifests" / "sales").mkdir()
    code, out, _ = cli("plan", "--prune", "manifests/sales", "--detailed-exitcode")
    assert (code, out) == (0, "No changes.\n")


def test_a_record_moved_to_another_file_records_it_and_is_not_pruned_by_the_old_folder(
    applied: Path, emulator: RunningEmulator, cli: Cli
) -> None:
    moved = "manifests/quickbooks/moved.yaml"
    (applied / SF_FILE).write_text("source: SALESFORCE\nclients: []\n")
    (applied / moved).write_text("source: SALESFORCE\nclients:\n  - {id: SF-1, name: Acme}\n")
    # Until the state knows, a prune of the old folder would delete it:
    _, out, _ = cli("plan", "--prune", "manifests/salesforce")
    assert "- delete client SALESFORCE/SF-1" in out

    code, out, _ = cli("plan", "--detailed-exitcode")
    assert code == 2
    assert f'    file: "{SF_FILE}" → "{moved}"' in out.splitlines()
    assert out.splitlines()[-1] == "Plan: 0 to create, 1 to update, 0 to delete."
    before = emulator.records()
    code, out, err = cli("apply", "--auto-approve")
    assert code == 0, err
    assert "~ updated client SALESFORCE/SF-1" in out
    assert emulator.records() == before  # the state only: nothing sent to COR
    assert files_of(applied / "reconciler.state.json")["SF-1"] == moved

    code, out, _ = cli("plan", "--prune", "manifests/salesforce", "--detailed-exitcode")
    assert "SF-1" not in out
    assert "- delete client SALESFORCE/SF-2" in out
    # The folder declares nothing now: deleting all it recorded is refused without --force.
    code, _, err = cli("apply", "--prune", "manifests/salesforce", "--auto-approve", "--force")
    assert code == 0, err
    assert live(emulator) == {"SF-1", "QB-1", "QB-2"}


def test_a_saved_plan_is_applied_with_the_paths_it_was_made_of(
    applied: Path, emulator: RunningEmulator, cli: Cli
) -> None:
    code, _, err = cli("plan", "--prune", "manifests/salesforce", "--out", "sf.plan")
    assert code == 0, err
    code, _, err = cli("apply", "--plan", "sf.plan")
    assert code == 4
    assert "sf.plan was made of the paths manifests/salesforce, not manifests" in err
    assert live(emulator) == {"SF-1", "SF-2", "QB-1", "QB-2"}
    code, _, err = cli("apply", "--plan", "sf.plan", "manifests/salesforce")
    assert code == 0, err
    assert live(emulator) == {"SF-1", "QB-1", "QB-2"}


def test_a_version_1_state_is_pruned_only_from_the_root_and_gets_its_files(
    applied: Path, emulator: RunningEmulator, cli: Cli
) -> None:
    state = applied / "reconciler.state.json"
    document = json.loads(state.read_text(encoding="utf-8"))
    document["format_version"] = 1
    for record in document["resources"]:
        del record["file"]
    state.write_text(json.dumps(document, indent=2), encoding="utf-8")

    code, out, _ = cli("plan", "--prune", "manifests/salesforce", "--detailed-exitcode")
    assert (code, out) == (0, "No changes.\n")  # a record without a file: only from the root
    code, out, _ = cli("plan", "--prune")
    assert "- delete client SALESFORCE/SF-2" in out
    assert "- delete client QUICKBOOKS/QB-2" in out

    (applied / SF_FILE).write_text(SALESFORCE.replace("name: Acme", "name: Acme Corp"))
    code, _, err = cli("apply", "--auto-approve")  # a write: the files filled, silently
    assert code == 0, err
    document = json.loads(state.read_text(encoding="utf-8"))
    assert document["format_version"] == 2
    assert files_of(state) == {"SF-1": SF_FILE, "SF-2": SF_FILE, "QB-1": QB_FILE, "QB-2": None}


def test_import_records_the_file_of_what_it_adopts(
    applied: Path, emulator: RunningEmulator, cli: Cli
) -> None:
    (applied / "reconciler.state.json").unlink()
    code, _, err = cli("import", "./manifests/salesforce")
    assert code == 0, err
    assert files_of(applied / "reconciler.state.json") == {"SF-1": SF_FILE}


def test_files_are_recorded_relative_to_the_state_whatever_folder_a_run_starts_in(
    applied: Path, emulator: RunningEmulator, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(applied / "manifests" / "salesforce")
    state = str(applied / "reconciler.state.json")
    code, out, err = cli("plan", "--state", state, "--prune", ".")
    assert code == 0, err
    assert "file:" not in out  # the same files, named from another folder
    assert "- delete client SALESFORCE/SF-2" in out
    assert "QB-" not in out  # quickbooks is outside the paths given
    code, out, err = cli("apply", "--state", state, "--prune", "--auto-approve", ".")
    assert code == 0, out + err
    assert files_of(applied / "reconciler.state.json") == {
        "SF-1": SF_FILE,
        "QB-1": QB_FILE,
        "QB-2": QB_FILE,
    }
