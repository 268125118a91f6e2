"""`reconciler state list | show | rm`, on a state made by a real apply against the emulator."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from reconciler.cli import run
from reconciler.emulator.server import EmulatorConfig, EmulatorServer

MANIFEST = """\
source: OKTA
clients:
  - {id: OK-1, name: One}
  - {id: OK-2, name: Two}
brands:
  - {id: OK-B1, name: Brand, client_id: OK-1}
"""


@pytest.fixture
def applied(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[EmulatorServer]:
    (tmp_path / "manifests").mkdir()
    (tmp_path / "manifests" / "okta.yaml").write_text(MANIFEST, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    for name in ("COR_API_KEY", "COR_CLIENT_SECRET", "RECONCILER_STATE"):
        monkeypatch.delenv(name, raising=False)
    with EmulatorServer(EmulatorConfig(port=0, token="t0ken-state-cmds")) as server:
        monkeypatch.setenv("COR_API_URL", server.url)
        monkeypatch.setenv("COR_TOKEN", "t0ken-state-cmds")
        assert run(["apply", "--auto-approve"]) == 0
        yield server


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = run(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.usefixtures("applied")
def test_list_in_apply_order_with_filters(capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    code, out, _ = cli(capsys, "state", "list")
    assert code == 0
    assert [line.split("  ")[0] for line in out.splitlines()] == [
        "client OKTA/OK-1",
        "client OKTA/OK-2",
        "brand OKTA/OK-B1",
    ]
    assert cli(capsys, "state", "list", "--kind", "brand")[1].startswith(
        "brand OKTA/OK-B1  cor_id "
    )
    assert cli(capsys, "state", "list", "--source", "SAP")[1] == ""
    listed = json.loads(cli(capsys, "state", "list", "--format", "json")[1])
    assert [r["id"] for r in listed] == ["OK-1", "OK-2", "OK-B1"]


def test_show_one_record(applied: EmulatorServer, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    code, out, _ = cli(capsys, "state", "show", "brand", "OKTA", "OK-B1")
    assert code == 0
    shown = json.loads(out)
    live = httpx.get(f"{applied.url}/_emulator/records").json()["records"]
    assert shown["cor_id"] == next(r["cor_id"] for r in live if r["id"] == "OK-B1")
    assert shown["attributes"] == {"client_id": "OK-1", "name": "Brand"}
    code, _, err = cli(capsys, "state", "show", "brand", "OKTA", "NOPE")
    assert code == 3
    assert "brand OKTA/NOPE is not in the state" in err


def test_rm_forgets_without_deleting_and_keeps_a_backup(
    applied: EmulatorServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "reconciler.state.json"
    before = state.read_text(encoding="utf-8")
    capsys.readouterr()
    code, out, _ = cli(capsys, "state", "rm", "client", "OKTA", "OK-2")
    assert code == 0
    assert "still exists in COR" in out
    assert (tmp_path / "reconciler.state.json.backup").read_text(encoding="utf-8") == before
    assert "OK-2" not in state.read_text(encoding="utf-8")
    assert len(httpx.get(f"{applied.url}/_emulator/records").json()["records"]) == 3
    # The manifests still declare it: a plan now wants to create it (apply would adopt it).
    code, out, _ = cli(capsys, "plan", "--detailed-exitcode")
    assert code == 2
    assert "+ create client OKTA/OK-2" in out
    assert cli(capsys, "state", "rm", "client", "OKTA", "OK-2")[0] == 3
