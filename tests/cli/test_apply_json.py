"""`apply --format json` (output/apply_json.py) against the emulator: one document on stdout,
parsed back and compared with what COR and the state file hold; the plan, the result lines and
the summary on stderr. And `apply --plan`'s refusal of options a saved plan decides."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.harness import Cli, RunningEmulator, WorkFolder

MANIFEST = """\
source: GITHUB
clients:
  - {id: GH-1, name: Octo}
  - {id: GH-2, name: Cat}
brands:
  - {id: GH-B1, name: Octo Home, client_id: GH-1}
products:
  - {id: GH-P1, name: Hub, client_id: GH-1, brand_id: GH-B1}
  - {id: GH-P2, name: Lab, client_id: GH-2, brand_id: GH-B2}
"""
BRAND_2 = "  - {id: GH-B2, name: Cat Home, client_id: GH-2}\n"


@pytest.fixture
def workdir(work_folder: WorkFolder, emulator_env: RunningEmulator) -> Path:
    return work_folder({"github.yaml": MANIFEST.replace("brands:\n", "brands:\n" + BRAND_2)})


def state_records(workdir: Path) -> dict[tuple[str, str, str], int]:
    state = json.loads((workdir / "reconciler.state.json").read_text(encoding="utf-8"))
    return {(r["kind"], r["source"], r["id"]): r["cor_id"] for r in state["resources"]}


def live(emulator: RunningEmulator) -> dict[tuple[str, str, str], int]:
    return {
        (r["kind"], r["source"], r["id"]): r["cor_id"]
        for r in emulator.records()
        if not r["deleted"]
    }


def keyed(document: dict[str, Any]) -> dict[tuple[str, str, str], dict[str, Any]]:
    return {(r["kind"], r["source"], r["id"]): r for r in document["results"]}


def test_the_document_is_what_cor_and_the_state_hold(
    workdir: Path, emulator: RunningEmulator, cli: Cli
) -> None:
    _, plan_text, _ = cli("plan")
    code, out, err = cli("apply", "--auto-approve", "--format", "json")
    assert code == 0, err
    document = json.loads(out)  # stdout is the document alone
    assert err.startswith(plan_text)  # the plan, the results and the summary: on stderr
    assert "+ created client GITHUB/GH-1 (cor_id " in err
    assert err.splitlines()[-1].startswith("Apply complete: 6 created")
    assert (document["format_version"], document["outcome"], document["ok"]) == (
        1,
        "complete",
        True,
    )
    results = keyed(document)
    assert (
        {key: r["cor_id"] for key, r in results.items()} == live(emulator) == state_records(workdir)
    )
    assert {(r["action"], r["outcome"], r["reason"]) for r in document["results"]} == {
        ("create", "created", None)
    }
    assert [r["kind"] for r in document["results"]] == [  # the plan's order, not completion's
        "client",
        "client",
        "brand",
        "brand",
        "product",
        "product",
    ]
    assert document["summary"] == {
        "changes": 6, "created": 6, "adopted": 0, "updated": 0, "deleted": 0, "failed": 0,
        "in_doubt": 0, "skipped": 0, "not_attempted": 0,
    }  # fmt: skip
    assert (document["remaining"], document["stopped_by"]) == ([], None)

    code, out, _ = cli("apply", "--auto-approve", "--format", "json")
    assert code == 0
    again = json.loads(out)
    assert (again["outcome"], again["results"], again["summary"]["changes"]) == (
        "no_changes",
        [],
        0,
    )


def test_failures_and_skips_are_results_with_their_reasons(
    workdir: Path, emulator: RunningEmulator, cli: Cli
) -> None:
    emulator.add_fault(
        method="POST", kind="brand", source="GITHUB", id="GH-B2", status=400,
        name="ValidationError", code=None, message="name taken", times=1,
    )  # fmt: skip
    code, out, _ = cli("apply", "--auto-approve", "--format", "json")
    assert code == 1
    document = json.loads(out)
    assert (document["outcome"], document["ok"]) == ("complete", False)
    results = keyed(document)
    failed = results[("brand", "GITHUB", "GH-B2")]
    assert (failed["outcome"], failed["cor_id"]) == ("failed", None)
    assert "400 ValidationError" in failed["reason"]
    skipped = results[("product", "GITHUB", "GH-P2")]
    assert skipped["outcome"] == "skipped"
    assert "GH-B2" in skipped["reason"]
    created = {key: r["cor_id"] for key, r in results.items() if r["outcome"] == "created"}
    assert created == live(emulator) == state_records(workdir)
    assert (document["summary"]["failed"], document["summary"]["skipped"]) == (1, 1)


def test_updates_and_deletes_with_a_saved_plan(
    workdir: Path, emulator: RunningEmulator, cli: Cli
) -> None:
    assert cli("apply", "--auto-approve")[0] == 0
    before = state_records(workdir)
    (workdir / "manifests" / "github.yaml").write_text(
        MANIFEST.replace("name: Cat}", "name: Cat v2}").replace(
            "  - {id: GH-P2, name: Lab, client_id: GH-2, brand_id: GH-B2}\n", ""
        ),
        encoding="utf-8",
    )
    assert cli("plan", "--prune", "--force", "--out", "saved.plan")[0] == 0
    code, out, err = cli("apply", "--plan", "saved.plan", "--format", "json")  # no prompt
    assert code == 0, err
    results = keyed(json.loads(out))
    assert {key: (r["action"], r["outcome"]) for key, r in results.items()} == {
        ("client", "GITHUB", "GH-2"): ("update", "updated"),
        ("brand", "GITHUB", "GH-B2"): ("delete", "deleted"),
        ("product", "GITHUB", "GH-P2"): ("delete", "deleted"),
    }
    assert results[("client", "GITHUB", "GH-2")]["cor_id"] == before[("client", "GITHUB", "GH-2")]
    assert live(emulator) == state_records(workdir)
    assert ("brand", "GITHUB", "GH-B2") not in live(emulator)


def test_json_never_asks(workdir: Path, emulator: RunningEmulator, cli: Cli) -> None:
    code, out, err = cli("apply", "--format", "json")
    assert code == 3
    assert "apply --format json never asks: give --auto-approve or --plan" in err
    assert json.loads(out)["outcome"] == "invalid"  # the boundary's failure document
    assert live(emulator) == {}


@pytest.mark.parametrize(
    ("options", "named"),
    [
        pytest.param(("--prune",), "--prune", id="prune"),
        pytest.param(("--force",), "--force", id="force"),
        pytest.param(("--max-delete", "0"), "--max-delete", id="max-delete"),
        pytest.param(("--max-delete-share", "1"), "--max-delete-share", id="max-delete-share"),
        pytest.param(("--source", "GITHUB"), "--source", id="source"),
        pytest.param(("--target", "client GITHUB/GH-1"), "--target", id="target"),
        pytest.param(("--refresh",), "--refresh", id="refresh"),
        pytest.param(("--allow-replace",), "--allow-replace", id="allow-replace"),
        pytest.param(
            ("--prune", "--force", "--max-delete", "0"), "--prune, --force, --max-delete", id="all"
        ),
    ],
)
def test_options_a_saved_plan_decides_are_refused(
    workdir: Path, emulator: RunningEmulator, cli: Cli, options: tuple[str, ...], named: str
) -> None:
    assert cli("plan", "--out", "saved.plan")[0] == 0
    code, out, err = cli("apply", "--plan", "saved.plan", *options)
    assert (code, out) == (3, "")
    assert f"error: {named} cannot be given with --plan: a saved plan applies with" in err
    assert live(emulator) == {}
    assert not (workdir / "reconciler.state.json").exists()
    code, _, err = cli("apply", "--plan", "saved.plan")  # the same plan, without them: applied
    assert code == 0, err
    assert len(live(emulator)) == 6


def test_a_replacement_gives_its_delete_then_its_create(
    workdir: Path, emulator: RunningEmulator, cli: Cli
) -> None:
    assert cli("apply", "--auto-approve")[0] == 0
    before = state_records(workdir)
    moved = (
        MANIFEST.replace("brands:\n", "brands:\n" + BRAND_2)
        .replace(
            "{id: GH-B1, name: Octo Home, client_id: GH-1}",
            "{id: GH-B1, name: Octo Home, client_id: GH-2}",
        )
        .replace("client_id: GH-1, brand_id: GH-B1", "client_id: GH-2, brand_id: GH-B1")
    )
    (workdir / "manifests" / "github.yaml").write_text(moved, encoding="utf-8")
    code, out, err = cli("apply", "--auto-approve", "--allow-replace", "--format", "json")
    assert code == 0, err
    document = json.loads(out)
    replaced = [
        (r["kind"], r["id"], r["action"], r["outcome"])
        for r in document["results"]
        if r["id"] in {"GH-B1", "GH-P1"}
    ]
    assert replaced == [
        ("brand", "GH-B1", "delete", "deleted"),
        ("brand", "GH-B1", "create", "created"),
        ("product", "GH-P1", "delete", "deleted"),
        ("product", "GH-P1", "create", "created"),
    ]
    after = state_records(workdir)
    assert after == live(emulator)
    assert after[("brand", "GITHUB", "GH-B1")] != before[("brand", "GITHUB", "GH-B1")]
