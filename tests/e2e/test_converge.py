"""End to end: converging with COR itself — drift repaired by `--refresh`, replacements.

The CLI in-process against the session's emulator (reset for each test); out-of-band changes
in COR go through the emulator's control API (`/_emulator/mutate`), as someone editing records
in COR's UI would make them.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.harness import Cli, RunningEmulator, WorkFolder
from tests.samples import SALESFORCE

SF = "SALESFORCE"


@pytest.fixture
def applied(work_folder: WorkFolder, emulator_env: RunningEmulator, cli: Cli) -> Path:
    """The SALESFORCE manifests, applied."""
    folder = work_folder({"salesforce.yaml": SALESFORCE})
    code, _, err = cli("apply", "--auto-approve")
    assert code == 0, err
    return folder


def live(emulator: RunningEmulator) -> dict[tuple[str, str], dict[str, Any]]:
    """The live (not deleted) records, by (kind, id); fails if an external id is live twice."""
    records = [r for r in emulator.records() if not r["deleted"]]
    counts = Counter((r["kind"], r["id"]) for r in records)
    assert all(n == 1 for n in counts.values()), counts
    return {(r["kind"], r["id"]): r for r in records}


def assert_converged(cli: Cli) -> None:
    code, out, err = cli("audit", "--remote", "--detailed-exitcode")
    assert code == 0, out + err
    code, out, err = cli("plan", "--refresh", "--detailed-exitcode")
    assert (code, out.splitlines()[-1]) == (0, "No changes."), out + err


def test_drift_in_cor_is_planned_marked_and_repaired_by_apply_refresh(
    applied: Path, emulator: RunningEmulator, cli: Cli
) -> None:
    before = live(emulator)
    ids = {ext_id: record["cor_id"] for (_, ext_id), record in before.items()}
    emulator.mutate(kind="client", source=SF, id="SF-ACC-1", set={"name": "Acme Renamed"})
    emulator.mutate(kind="client", source=SF, id="SF-ACC-2", set={"phone": "555-0100"})
    emulator.mutate(kind="product", source=SF, id="SF-PROD-3", delete=True)
    emulator.mutate(
        kind="product",
        source=SF,
        id="SF-PROD-2",
        set={"client_id": "SF-ACC-2", "brand_id": "SF-BRAND-2"},
    )
    code, out, _ = cli("plan", "--detailed-exitcode")
    assert (code, out.splitlines()[-1]) == (0, "No changes.")  # the state alone cannot see it

    code, out, err = cli("plan", "--refresh", "--detailed-exitcode")
    assert code == 4, out + err  # a replacement without --allow-replace: refused at plan time
    assert f"~ update client SALESFORCE/SF-ACC-1 (cor_id {ids['SF-ACC-1']}) (changed in COR)" in out
    assert '    name: "Acme Renamed" → "Acme Corporation"' in out
    assert '    phone: "555-0100" → (not set)' in out
    assert "+ create product SALESFORCE/SF-PROD-3 (deleted in COR)" in out
    assert (
        f"-/+ replace product SALESFORCE/SF-PROD-2 (cor_id {ids['SF-PROD-2']}) (changed in COR)"
        in out
    )
    assert "Apply refuses this plan without --allow-replace" in out
    assert "it replaces records, and --allow-replace was not given" in err
    assert "Refreshed 7 records from COR in " in err

    code, out, _ = cli("plan", "--refresh", "--allow-replace", "--format", "json")
    assert code == 0
    document = json.loads(out)
    drift = {(c["action"], c["id"]): c["drift_reason"] for c in document["changes"]}
    assert drift == {
        ("update", "SF-ACC-1"): "changed in COR",
        ("update", "SF-ACC-2"): "changed in COR",
        ("replace", "SF-PROD-2"): "changed in COR",
        ("create", "SF-PROD-3"): "deleted in COR",
    }
    assert all(c["drift"] for c in document["changes"])

    code, out, err = cli("apply", "--refresh", "--allow-replace", "--auto-approve")
    assert code == 0, out + err
    assert_converged(cli)
    now = live(emulator)
    assert now[("client", "SF-ACC-1")]["attributes"]["name"] == "Acme Corporation"
    assert "phone" not in now[("client", "SF-ACC-2")]["attributes"]
    assert now[("product", "SF-PROD-2")]["attributes"]["brand_id"] == "SF-BRAND-1"
    for moved in ("SF-PROD-2", "SF-PROD-3"):  # new COR records, the old ones gone
        assert now[("product", moved)]["cor_id"] != before[("product", moved)]["cor_id"]


@pytest.mark.parametrize("reading", ["freed", "kept"])
def test_a_product_deleted_in_cor_is_created_again_under_either_reading(
    reading: str, applied: Path, emulator: RunningEmulator, cli: Cli
) -> None:
    emulator.configure(deleted_ids=reading)  # docs/emulator.md, open question 7
    emulator.mutate(kind="product", source=SF, id="SF-PROD-1", delete=True)
    code, out, err = cli("apply", "--refresh", "--auto-approve")
    assert code == 0, out + err
    line = next(line for line in out.splitlines() if line.startswith("+ created product"))
    if reading == "kept":  # COR answered duplicate, then not found: the mapping was freed
        assert "its external id was still mapped to the record deleted in COR" in line
    else:
        assert "deleted in COR: created again" in line
    assert ("product", "SF-PROD-1") in live(emulator)
    assert_converged(cli)


def test_without_refresh_an_update_of_a_record_deleted_in_cor_says_how_to_repair(
    applied: Path, emulator: RunningEmulator, cli: Cli
) -> None:
    emulator.mutate(kind="product", source=SF, id="SF-PROD-1", delete=True)
    manifest = applied / "manifests" / "salesforce.yaml"
    manifest.write_text(SALESFORCE.replace("Premium Widget", "Premium Widget 2"), encoding="utf-8")
    code, out, _ = cli("apply", "--auto-approve")
    assert code == 1
    assert "`reconciler apply --refresh` creates it again" in out
    code, out, err = cli("apply", "--refresh", "--auto-approve")
    assert code == 0, out + err
    assert live(emulator)[("product", "SF-PROD-1")]["attributes"]["name"] == "Premium Widget 2"


def test_a_brand_moved_to_another_client_is_replaced_with_its_products(
    applied: Path, emulator: RunningEmulator, cli: Cli
) -> None:
    before = live(emulator)
    moved = SALESFORCE.replace(
        "  - id: SF-BRAND-1\n    name: Acme Premium\n    client_id: SF-ACC-1",
        "  - id: SF-BRAND-1\n    name: Acme Premium\n    client_id: SF-ACC-2",
    ).replace(
        "client_id: SF-ACC-1\n    brand_id: SF-BRAND-1",
        "client_id: SF-ACC-2\n    brand_id: SF-BRAND-1",
    )
    (applied / "manifests" / "salesforce.yaml").write_text(moved, encoding="utf-8")

    code, out, err = cli("plan", "--format", "markdown")
    assert code == 4, out + err
    head = out.split("<details>")[0]
    assert "> [!CAUTION]\n> **Replaces 3 records**" in head
    assert "Apply refuses this plan without `--allow-replace`." in head
    code, out, _ = cli("apply", "--auto-approve")
    assert code == 4
    assert live(emulator) == before  # nothing was changed

    code, out, _ = cli("plan", "--allow-replace")
    assert code == 0
    replaced = [line.split(" (cor_id")[0] for line in out.splitlines() if line.startswith("-/+")]
    assert replaced == [
        "-/+ replace brand SALESFORCE/SF-BRAND-1",
        "-/+ replace product SALESFORCE/SF-PROD-1",
        "-/+ replace product SALESFORCE/SF-PROD-2",
    ]
    assert "client_id cannot change through the API: deleted, then created again" in out
    code, out, err = cli("apply", "--allow-replace", "--auto-approve")
    assert code == 0, out + err
    now = live(emulator)
    for ext_id in ("SF-BRAND-1", "SF-PROD-1", "SF-PROD-2"):
        kind = "brand" if ext_id.startswith("SF-BRAND") else "product"
        assert now[(kind, ext_id)]["attributes"]["client_id"] == "SF-ACC-2"
        assert now[(kind, ext_id)]["cor_id"] != before[(kind, ext_id)]["cor_id"]
    assert now[("product", "SF-PROD-3")] == before[("product", "SF-PROD-3")]
    assert_converged(cli)


def test_a_saved_refreshed_plan_applies_only_if_cor_still_holds_what_it_saw(
    applied: Path, emulator: RunningEmulator, cli: Cli
) -> None:
    emulator.mutate(kind="client", source=SF, id="SF-ACC-1", set={"name": "Acme Renamed"})
    code, _, err = cli("plan", "--refresh", "--out", "drift.plan")
    assert code == 0, err
    emulator.mutate(kind="client", source=SF, id="SF-ACC-2", set={"name": "Globex Renamed"})
    code, out, err = cli("apply", "--plan", "drift.plan")
    assert code == 4, out + err  # COR moved on since the review: refused, nothing changed
    assert "no longer matches what applying would do" in err
    assert live(emulator)[("client", "SF-ACC-1")]["attributes"]["name"] == "Acme Renamed"

    code, _, err = cli("plan", "--refresh", "--out", "drift.plan")
    assert code == 0, err
    code, out, err = cli("apply", "--plan", "drift.plan")
    assert code == 0, out + err
    assert_converged(cli)


def test_a_refresh_that_cannot_read_cor_plans_and_changes_nothing(
    applied: Path, emulator: RunningEmulator, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = live(emulator)
    (applied / "manifests" / "salesforce.yaml").write_text(
        SALESFORCE.replace("Globex", "Globex 2"), encoding="utf-8"
    )
    monkeypatch.setenv("COR_READ_API_URL", f"{emulator.url}/no-such-api")
    for command in (["plan"], ["apply", "--auto-approve"]):
        code, out, err = cli(*command, "--refresh")
        assert (code, out) == (1, ""), err  # not a plan made on a guess
        assert "error: the refresh could not read 7 records from COR, so nothing was planned" in err
        assert "(is the read API URL right?)" in err
        assert "Refreshed" not in err
    assert live(emulator) == before
