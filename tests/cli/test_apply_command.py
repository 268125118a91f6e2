"""`reconciler apply` against the emulator: a saved plan applied exactly or refused (`plan --out`,
`apply --plan`), deletion only when asked and never too much (`--prune`, the limits, `--force`,
protection, DeletionError), and the prompt on a terminal.

The deletion limits themselves are tested in tests/core/test_limits.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.cli.terminal import run_on_terminal
from tests.harness import Cli, RunningEmulator, WorkFolder

Declare = Callable[[str], Path]
MANIFEST = """\
source: GITHUB
clients:
  - {id: GH-1, name: Octo}
  - {id: GH-2, name: Cat}
brands:
  - {id: GH-B1, name: Octo Home, client_id: GH-1}
"""


@pytest.fixture
def workdir(work_folder: WorkFolder, emulator_env: RunningEmulator) -> Path:
    """GITHUB's manifests, the CLI pointed at the emulator."""
    return work_folder({"github.yaml": MANIFEST})


# --- saved plans -----------------------------------------------------------------------------


def state_bytes(workdir: Path) -> bytes | None:
    path = workdir / "reconciler.state.json"
    return path.read_bytes() if path.exists() else None


def test_the_saved_plan_is_applied_exactly_without_a_prompt(
    workdir: Path, emulator: RunningEmulator, cli: Cli
) -> None:
    code, shown, err = cli("plan", "--out", "plan.json")
    assert code == 0
    assert "apply exactly it with: reconciler apply --plan plan.json" in err
    saved = json.loads((workdir / "plan.json").read_text(encoding="utf-8"))
    assert saved["kind"] == "reconciler-saved-plan"
    assert saved["state"] == {"lineage": None, "serial": 0}
    assert saved["plan"]["summary"]["create"] == 3
    assert emulator.token not in (workdir / "plan.json").read_text(encoding="utf-8")

    code, out, err = cli("apply", "--plan", "plan.json")  # no --auto-approve, no tty
    assert code == 0, err
    assert out.startswith(shown)  # the plan printed is the plan reviewed
    assert (
        out.splitlines()[-1]
        == "Apply complete: 3 created, 0 updated, 0 deleted, 0 failed, 0 in doubt, 0 skipped."
    )
    assert len(emulator.records()) == 3


def test_a_saved_plan_of_one_source_applies_that_source_only(
    workdir: Path, emulator: RunningEmulator, cli: Cli
) -> None:
    (workdir / "manifests" / "okta.yaml").write_text(
        "source: OKTA\nclients:\n  - {id: OK-1, name: One}\n", encoding="utf-8"
    )
    code, shown, _ = cli("plan", "--source", "OKTA", "--out", "plan.json")
    assert code == 0
    assert shown.splitlines()[-1] == "Plan: 1 to create, 0 to update, 0 to delete."
    saved = json.loads((workdir / "plan.json").read_text(encoding="utf-8"))
    assert saved["options"]["sources"] == ["OKTA"]
    code, _, err = cli("apply", "--plan", "plan.json")  # made again with the saved source
    assert code == 0, err
    assert [r["id"] for r in emulator.records()] == ["OK-1"]
    code, out, _ = cli("plan", "--source", "GITHUB")
    assert out.splitlines()[-1] == "Plan: 3 to create, 0 to update, 0 to delete."


def test_apply_a_target_with_what_it_needs(
    workdir: Path, emulator: RunningEmulator, cli: Cli
) -> None:
    code, out, err = cli("apply", "--auto-approve", "--no-color", "--target", "brand GITHUB/GH-B1")
    assert code == 0, err
    assert "+ create client GITHUB/GH-1 (needed by brand GITHUB/GH-B1)" in out
    assert sorted(r["id"] for r in emulator.records()) == ["GH-1", "GH-B1"]
    code, out, _ = cli("plan", "--no-color")
    assert out.splitlines() == [
        "+ create client GITHUB/GH-2",
        '    name: "Cat"',
        "Plan: 1 to create, 0 to update, 0 to delete.",
    ]


def test_a_plan_made_before_another_apply_is_refused(
    workdir: Path, emulator: RunningEmulator, cli: Cli
) -> None:
    assert cli("apply", "--auto-approve")[0] == 0
    manifest = workdir / "manifests" / "github.yaml"
    manifest.write_text(MANIFEST.replace("name: Cat", "name: Cat v2"), encoding="utf-8")
    assert cli("plan", "--out", "plan.json")[0] == 0
    manifest.write_text(MANIFEST.replace("name: Cat", "name: Cat v3"), encoding="utf-8")
    assert cli("apply", "--auto-approve")[0] == 0  # someone else's merge, applied
    manifest.write_text(MANIFEST.replace("name: Cat", "name: Cat v2"), encoding="utf-8")
    before = state_bytes(workdir)

    code, _, err = cli("apply", "--plan", "plan.json")
    assert code == 4
    assert "the state moved on since plan.json was made (serial 1, now 2)" in err
    assert "run `reconciler plan --out ...` again" in err
    assert state_bytes(workdir) == before
    assert {r["id"]: r["attributes"]["name"] for r in emulator.records()}["GH-2"] == "Cat v3"


def test_a_plan_is_refused_after_a_manifest_edit(
    workdir: Path, emulator: RunningEmulator, cli: Cli
) -> None:
    assert cli("plan", "--out", "plan.json")[0] == 0
    manifest = workdir / "manifests" / "github.yaml"
    manifest.write_text(MANIFEST + "  - {id: GH-B2, name: Cat Home, client_id: GH-2}\n")
    code, _, err = cli("apply", "--plan", "plan.json")
    assert code == 4
    assert "the manifests changed since plan.json was made" in err
    assert emulator.records() == []
    assert state_bytes(workdir) is None


def test_reformatting_a_manifest_is_not_a_change(
    workdir: Path, emulator: RunningEmulator, cli: Cli
) -> None:
    assert cli("plan", "--out", "plan.json")[0] == 0
    manifest = workdir / "manifests" / "github.yaml"
    manifest.write_text(
        "# reviewed\n" + MANIFEST.replace("{id: GH-2, name: Cat}", "{name: Cat, id: GH-2}")
    )
    assert cli("apply", "--plan", "plan.json")[0] == 0
    assert len(emulator.records()) == 3


@pytest.mark.parametrize(
    ("tamper", "expected"),
    [
        (lambda d: d["plan"]["changes"][0]["attributes"].update(name="Evil"), "was altered"),
        (lambda d: d.update(plan_digest="sha256:" + "0" * 64), "was altered"),
        (lambda d: d.pop("manifests_digest"), "is not a saved plan of this format"),
        (lambda d: d["state"].update(serial=True), "is not a saved plan of this format"),
    ],
    ids=["edited-change", "edited-digest", "missing-field", "wrong-type"],
)
def test_an_altered_file_is_refused(
    workdir: Path,
    emulator: RunningEmulator,
    cli: Cli,
    tamper: Any,
    expected: str,
) -> None:
    assert cli("plan", "--out", "plan.json")[0] == 0
    path = workdir / "plan.json"
    document = json.loads(path.read_text(encoding="utf-8"))
    tamper(document)
    path.write_text(json.dumps(document), encoding="utf-8")
    code, _, err = cli("apply", "--plan", "plan.json")
    assert code == 4
    assert expected in err
    assert emulator.records() == []


def test_a_consistently_forged_plan_still_must_match_what_applying_would_do(
    workdir: Path, emulator: RunningEmulator, cli: Cli
) -> None:
    from reconciler.core.saved_plan import _plan_digest  # the forger knows the algorithm

    assert cli("plan", "--out", "plan.json")[0] == 0
    path = workdir / "plan.json"
    document = json.loads(path.read_text(encoding="utf-8"))
    document["plan"]["changes"].pop()
    document["plan_digest"] = _plan_digest(document["plan"])
    path.write_text(json.dumps(document), encoding="utf-8")
    code, _, err = cli("apply", "--plan", "plan.json")
    assert code == 4
    assert "no longer matches what applying would do" in err
    assert emulator.records() == []


@pytest.mark.parametrize("content", [b"", b"not json", b"\xff\xfe", b"[]"])
def test_something_else_than_a_saved_plan_is_refused(
    workdir: Path, cli: Cli, content: bytes
) -> None:
    (workdir / "plan.json").write_bytes(content)
    code, _, err = cli("apply", "--plan", "plan.json")
    assert code == 4
    assert "plan.json is not a saved plan" in err
    assert "Traceback" not in err


# --- pruning ---------------------------------------------------------------------------------


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


@pytest.fixture
def declare(work_folder: WorkFolder, emulator_env: RunningEmulator) -> Declare:
    """declare(text): the manifests are manifests/vbs.yaml, that text; the CLI points at the
    emulator."""
    return lambda text: work_folder({"vbs.yaml": text})


def live(emulator: RunningEmulator) -> dict[str, dict[str, Any]]:
    return {r["id"]: r for r in emulator.records() if not r["deleted"]}


def test_prune_deletes_products_before_their_brand_and_forgets_them(
    declare: Declare, emulator: RunningEmulator, cli: Cli
) -> None:
    declare(catalogue(12) + "  - {id: PX, name: Extra, client_id: C2, brand_id: B2}\n")
    assert cli("apply", "--auto-approve")[0] == 0
    declare(catalogue(12).replace("  - {id: B2, name: Bo, client_id: C2}\n", ""))
    code, out, _ = cli("plan")
    assert "  not declared — kept: brand VBS/B2" in out  # without --prune: only listed
    code, out, _ = cli("plan", "--prune", "--detailed-exitcode")
    assert code == 2
    assert out.index("- delete product VBS/PX") < out.index("- delete brand VBS/B2")
    assert out.splitlines()[-1] == "Plan: 0 to create, 0 to update, 2 to delete."
    code, out, _ = cli("apply", "--prune", "--auto-approve")
    assert code == 0
    assert (
        out.splitlines()[-1]
        == "Apply complete: 0 created, 0 updated, 2 deleted, 0 failed, 0 in doubt, 0 skipped."
    )
    assert out.index("- deleted product VBS/PX") < out.index("- deleted brand VBS/B2")
    assert "PX" not in live(emulator)
    assert "B2" not in live(emulator)
    assert cli("plan", "--prune", "--detailed-exitcode")[:2] == (0, "No changes.\n")


def test_too_many_deletes_are_refused_until_forced(
    declare: Declare, emulator: RunningEmulator, cli: Cli
) -> None:
    declare(catalogue(12))
    assert cli("apply", "--auto-approve")[0] == 0
    declare(catalogue(12, skip={"P00", "P01", "P02", "P03"}))  # 4 of 12 products: 33%
    code, out, err = cli("plan", "--prune")
    assert code == 4
    assert "apply refuses it without --force:" in out
    assert "  - 4 of the 12 recorded products to delete (33%), more than 25%" in out
    code, out, err = cli("apply", "--prune", "--auto-approve")
    assert code == 4
    assert "deletes more than the limits allow" in err
    assert len(live(emulator)) == 16
    assert cli("plan", "--prune", "--max-delete-share", "product=40")[0] == 0
    code, out, _ = cli("apply", "--prune", "--force", "--auto-approve")
    assert code == 0
    assert "--force lets it through" in out
    assert len(live(emulator)) == 12


def test_an_empty_manifest_never_deletes_everything(
    declare: Declare, emulator: RunningEmulator, cli: Cli
) -> None:
    declare(catalogue(3))
    assert cli("apply", "--auto-approve")[0] == 0
    declare("")  # an emptied file, or a wrong path
    code, out, _ = cli("apply", "--prune", "--auto-approve")
    assert code == 4
    assert "the manifests declare nothing, yet the state holds 7 records" in out
    assert len(live(emulator)) == 7


def test_a_protected_record_survives_its_removal_until_unprotected(
    declare: Declare, emulator: RunningEmulator, tmp_path: Path, cli: Cli
) -> None:
    declare(catalogue(3, protect="P01"))
    assert cli("apply", "--auto-approve")[0] == 0
    assert '"protected": true' in (tmp_path / "reconciler.state.json").read_text()
    declare(catalogue(3, skip={"P01"}))  # the protect flag goes with the entry...
    code, out, _ = cli("apply", "--prune", "--auto-approve")
    assert code == 0
    assert "  not declared — kept: product VBS/P01" in out  # ...but the state remembers it
    assert "P01" in live(emulator)
    declare(catalogue(3))  # declared again, unprotected: a state-only update, no request
    code, out, _ = cli("apply", "--auto-approve")
    assert code == 0
    assert '    protect: "true" → "false"' in out
    declare(catalogue(3, skip={"P01"}))
    assert cli("apply", "--prune", "--auto-approve")[0] == 0
    assert "P01" not in live(emulator)


def test_a_deletion_error_keeps_the_record_and_the_run_goes_on(
    declare: Declare, emulator: RunningEmulator, cli: Cli
) -> None:
    declare(catalogue(2) + "  - {id: PX, name: Extra, client_id: C2, brand_id: B2}\n")
    assert cli("apply", "--auto-approve")[0] == 0
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
    emulator.add_fault(**fault)
    declare(catalogue(2, skip={"P01"}).replace("  - {id: B2, name: Bo, client_id: C2}\n", ""))
    code, out, _ = cli("apply", "--prune", "--force", "--auto-approve")
    assert code == 1
    assert "x failed product VBS/PX: DELETE /v2/integrations/products/PX: 417 DeletionError" in out
    assert "- skipped brand VBS/B2: depends on product VBS/PX, which failed" in out
    assert "- deleted product VBS/P01" in out
    code, out, _ = cli("state", "list")
    assert "product VBS/PX" in out
    assert "brand VBS/B2" in out
    assert "product VBS/P01" not in out
    assert cli("apply", "--prune", "--force", "--auto-approve")[0] == 0  # fault is gone
    assert "PX" not in live(emulator)


# --- on a terminal ---------------------------------------------------------------------------


@pytest.mark.usefixtures("emulator_env")
def test_apply_asks_on_a_terminal_and_only_yes_applies(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    state = str(tmp_path / "state.json")
    code, output = run_on_terminal(["apply", "manifests"], "y", RECONCILER_STATE=state)
    assert code == 1
    assert "Apply cancelled; nothing was changed." in output
    assert emulator.records() == []
    assert not (tmp_path / "state.json").exists()

    code, output = run_on_terminal(["apply", "manifests"], "yes", RECONCILER_STATE=state)
    assert code == 0, output
    assert (
        "Apply complete: 38 created, 0 updated, 0 deleted, 0 failed, 0 in doubt, 0 skipped."
        in output
    )
    assert len(emulator.records()) == 38
