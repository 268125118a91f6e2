"""Saved plans: `plan --out` then `apply --plan` applies exactly what was reviewed, or refuses
(exit 4, changing nothing) when the state, the manifests or the file moved since."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from reconciler.cli import run
from reconciler.emulator.server import EmulatorConfig, EmulatorServer

TOKEN = "saved-plan-token-93f1"
MANIFEST = """\
source: GITHUB
clients:
  - {id: GH-1, name: Octo}
  - {id: GH-2, name: Cat}
brands:
  - {id: GH-B1, name: Octo Home, client_id: GH-1}
"""


@pytest.fixture
def emulator() -> Iterator[EmulatorServer]:
    with EmulatorServer(EmulatorConfig(port=0, token=TOKEN)) as server:
        yield server


@pytest.fixture
def workdir(tmp_path: Path, emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "manifests").mkdir()
    (tmp_path / "manifests" / "github.yaml").write_text(MANIFEST, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    for name in ("COR_API_KEY", "COR_CLIENT_SECRET", "RECONCILER_STATE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COR_API_URL", emulator.url)
    monkeypatch.setenv("COR_TOKEN", TOKEN)
    return tmp_path


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = run(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def records(server: EmulatorServer) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = httpx.get(f"{server.url}/_emulator/records").json()["records"]
    return found


def state_bytes(workdir: Path) -> bytes | None:
    path = workdir / "reconciler.state.json"
    return path.read_bytes() if path.exists() else None


def test_the_saved_plan_is_applied_exactly_without_a_prompt(
    workdir: Path, emulator: EmulatorServer, capsys: pytest.CaptureFixture[str]
) -> None:
    code, shown, err = cli(capsys, "plan", "--out", "plan.json")
    assert code == 0
    assert "apply exactly it with: reconciler apply --plan plan.json" in err
    saved = json.loads((workdir / "plan.json").read_text(encoding="utf-8"))
    assert saved["kind"] == "reconciler-saved-plan"
    assert saved["state"] == {"lineage": None, "serial": 0}
    assert saved["plan"]["summary"]["create"] == 3
    assert TOKEN not in (workdir / "plan.json").read_text(encoding="utf-8")

    code, out, err = cli(capsys, "apply", "--plan", "plan.json")  # no --auto-approve, no tty
    assert code == 0, err
    assert out.startswith(shown)  # the plan printed is the plan reviewed
    assert out.splitlines()[-1] == "Apply complete: 3 created, 0 updated, 0 failed, 0 skipped."
    assert len(records(emulator)) == 3


def test_a_plan_made_before_another_apply_is_refused(
    workdir: Path, emulator: EmulatorServer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(capsys, "apply", "--auto-approve")[0] == 0
    manifest = workdir / "manifests" / "github.yaml"
    manifest.write_text(MANIFEST.replace("name: Cat", "name: Cat v2"), encoding="utf-8")
    assert cli(capsys, "plan", "--out", "plan.json")[0] == 0
    manifest.write_text(MANIFEST.replace("name: Cat", "name: Cat v3"), encoding="utf-8")
    assert cli(capsys, "apply", "--auto-approve")[0] == 0  # someone else's merge, applied
    manifest.write_text(MANIFEST.replace("name: Cat", "name: Cat v2"), encoding="utf-8")
    before = state_bytes(workdir)

    code, _, err = cli(capsys, "apply", "--plan", "plan.json")
    assert code == 4
    assert "the state moved on since plan.json was made (serial 1, now 2)" in err
    assert "run `reconciler plan --out ...` again" in err
    assert state_bytes(workdir) == before
    assert {r["id"]: r["attributes"]["name"] for r in records(emulator)}["GH-2"] == "Cat v3"


def test_a_plan_is_refused_after_a_manifest_edit(
    workdir: Path, emulator: EmulatorServer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(capsys, "plan", "--out", "plan.json")[0] == 0
    manifest = workdir / "manifests" / "github.yaml"
    manifest.write_text(MANIFEST + "  - {id: GH-B2, name: Cat Home, client_id: GH-2}\n")
    code, _, err = cli(capsys, "apply", "--plan", "plan.json")
    assert code == 4
    assert "the manifests changed since plan.json was made" in err
    assert records(emulator) == []
    assert state_bytes(workdir) is None


def test_reformatting_a_manifest_is_not_a_change(
    workdir: Path, emulator: EmulatorServer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(capsys, "plan", "--out", "plan.json")[0] == 0
    manifest = workdir / "manifests" / "github.yaml"
    manifest.write_text(
        "# reviewed\n" + MANIFEST.replace("{id: GH-2, name: Cat}", "{name: Cat, id: GH-2}")
    )
    assert cli(capsys, "apply", "--plan", "plan.json")[0] == 0
    assert len(records(emulator)) == 3


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
    emulator: EmulatorServer,
    capsys: pytest.CaptureFixture[str],
    tamper: Any,
    expected: str,
) -> None:
    assert cli(capsys, "plan", "--out", "plan.json")[0] == 0
    path = workdir / "plan.json"
    document = json.loads(path.read_text(encoding="utf-8"))
    tamper(document)
    path.write_text(json.dumps(document), encoding="utf-8")
    code, _, err = cli(capsys, "apply", "--plan", "plan.json")
    assert code == 4
    assert expected in err
    assert records(emulator) == []


def test_a_consistently_forged_plan_still_must_match_what_applying_would_do(
    workdir: Path, emulator: EmulatorServer, capsys: pytest.CaptureFixture[str]
) -> None:
    from reconciler.core.saved_plan import _plan_digest  # the forger knows the algorithm

    assert cli(capsys, "plan", "--out", "plan.json")[0] == 0
    path = workdir / "plan.json"
    document = json.loads(path.read_text(encoding="utf-8"))
    document["plan"]["changes"].pop()
    document["plan_digest"] = _plan_digest(document["plan"])
    path.write_text(json.dumps(document), encoding="utf-8")
    code, _, err = cli(capsys, "apply", "--plan", "plan.json")
    assert code == 4
    assert "no longer matches what applying would do" in err
    assert records(emulator) == []


@pytest.mark.parametrize("content", [b"", b"not json", b"\xff\xfe", b"[]"])
def test_something_else_than_a_saved_plan_is_refused(
    workdir: Path, capsys: pytest.CaptureFixture[str], content: bytes
) -> None:
    (workdir / "plan.json").write_bytes(content)
    code, _, err = cli(capsys, "apply", "--plan", "plan.json")
    assert code == 4
    assert "plan.json is not a saved plan" in err
    assert "Traceback" not in err
