"""`reconciler state list | show | rm | unlock` (cli/state_commands.py), on a state made by a
real apply against the emulator, or a lock another host left."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconciler.cli.state_commands import _json
from reconciler.core.text import UNSAFE
from tests.harness import Cli, RunningEmulator, WorkFolder
from tests.paths import EXAMPLES

MANIFEST = """\
source: OKTA
clients:
  - {id: OK-1, name: One}
  - {id: OK-2, name: Two}
brands:
  - {id: OK-B1, name: Brand, client_id: OK-1}
"""


@pytest.fixture
def applied(work_folder: WorkFolder, emulator_env: RunningEmulator, cli: Cli) -> RunningEmulator:
    """OKTA's manifests, applied to the emulator."""
    work_folder({"okta.yaml": MANIFEST})
    assert cli("apply", "--auto-approve")[0] == 0
    return emulator_env


@pytest.mark.usefixtures("applied")
def test_list_in_apply_order_with_filters(cli: Cli) -> None:
    code, out, _ = cli("state", "list")
    assert code == 0
    assert [line.split("  ")[0] for line in out.splitlines()] == [
        "client OKTA/OK-1",
        "client OKTA/OK-2",
        "brand OKTA/OK-B1",
    ]
    assert cli("state", "list", "--kind", "brand")[1].startswith("brand OKTA/OK-B1  cor_id ")
    assert cli("state", "list", "--source", "SAP")[1] == ""
    listed = json.loads(cli("state", "list", "--format", "json")[1])
    assert [r["id"] for r in listed] == ["OK-1", "OK-2", "OK-B1"]
    assert [r["protected"] for r in listed] == [False, False, False]


def test_protection_shows_in_list_and_show(tmp_path: Path, cli: Cli) -> None:
    state = tmp_path / "s.json"
    document = {
        "format_version": 1,
        "lineage": "0" * 32,
        "serial": 1,
        "resources": [
            {"kind": "client", "source": "OKTA", "id": "OK-1", "cor_id": 1,
             "attributes": {"name": "One"}, "protected": True},
            {"kind": "client", "source": "OKTA", "id": "OK-2", "cor_id": 2,
             "attributes": {"name": "Two"}},
        ],
    }  # fmt: skip
    state.write_text(json.dumps(document), encoding="utf-8")
    out = cli("state", "list", "--state", str(state))[1]
    assert out.splitlines() == [
        "client OKTA/OK-1  cor_id 1  protected",
        "client OKTA/OK-2  cor_id 2",
    ]
    shown = json.loads(cli("state", "show", "--state", str(state), "client", "OKTA", "OK-1")[1])
    assert shown["protected"] is True
    shown = json.loads(cli("state", "show", "--state", str(state), "client", "OKTA", "OK-2")[1])
    assert shown["protected"] is False


def test_show_one_record(applied: RunningEmulator, cli: Cli) -> None:
    code, out, _ = cli("state", "show", "brand", "OKTA", "OK-B1")
    assert code == 0
    shown = json.loads(out)
    live = applied.records()
    assert shown["cor_id"] == next(r["cor_id"] for r in live if r["id"] == "OK-B1")
    assert shown["attributes"] == {"client_id": "OK-1", "name": "Brand"}
    code, _, err = cli("state", "show", "brand", "OKTA", "NOPE")
    assert code == 3
    assert "brand OKTA/NOPE is not in the state" in err


@pytest.mark.usefixtures("applied")
@pytest.mark.parametrize(
    "address",
    [
        ["brand OKTA/OK-B1"],  # quoted, as copied from any output
        ["brand", "OKTA/OK-B1"],  # unquoted: the shell splits it at the space
        ["brand", "OKTA", "OK-B1"],  # three words
    ],
)
def test_show_takes_the_address_as_printed(address: list[str], cli: Cli) -> None:
    code, out, _ = cli("state", "show", *address)
    assert code == 0
    assert json.loads(out)["id"] == "OK-B1"


@pytest.mark.parametrize(
    ("address", "says"),
    [
        (["brand"], "is not an address: write it as printed, KIND SOURCE/ID"),
        (["brand OKTA OK-B1"], "is not an address"),
        (["brand", "OKTA/"], "the address names no id"),
        (["planet", "OKTA/X"], "'planet' is not a kind: one of client, brand, product"),
        (["brand", "NOPE/X"], "'NOPE' is not a source"),
        (["brand", "OKTA/X", "extra", "words"], "is not an address"),
    ],
)
def test_a_malformed_address_is_refused(address: list[str], says: str, cli: Cli) -> None:
    for command in ("show", "rm"):
        code, out, err = cli("state", command, *address)
        assert code == 3
        assert says in err
        assert out == ""


def test_rm_forgets_without_deleting_and_keeps_a_backup(
    applied: RunningEmulator, tmp_path: Path, cli: Cli
) -> None:
    state = tmp_path / "reconciler.state.json"
    before = state.read_text(encoding="utf-8")
    code, out, _ = cli("state", "rm", "client OKTA/OK-2")
    assert code == 0
    assert "still exists in COR" in out
    assert (tmp_path / "reconciler.state.json.backup").read_text(encoding="utf-8") == before
    assert "OK-2" not in state.read_text(encoding="utf-8")
    assert len(applied.records()) == 3
    # The manifests still declare it: a plan now wants to create it (apply would adopt it).
    code, out, _ = cli("plan", "--detailed-exitcode")
    assert code == 2
    assert "+ create client OKTA/OK-2" in out
    assert cli("state", "rm", "client", "OKTA", "OK-2")[0] == 3


def test_a_lock_left_on_another_host_refuses_until_state_unlock_force(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: Cli
) -> None:
    state = tmp_path / "state.json"
    holder = {
        "holder": "ci",
        "host": "runner-elsewhere",
        "pid": 4242,
        "started_at": "2026-11-28T10:00:00Z",
        "command": "reconciler apply manifests",
    }
    (tmp_path / "state.json.lock").write_text(json.dumps(holder), encoding="utf-8")
    monkeypatch.setenv("COR_TOKEN", "unused")
    manifests = str(EXAMPLES)

    code, _, err = cli("apply", "--auto-approve", "--state", str(state), manifests)
    assert code == 4
    assert "locked by ci@runner-elsewhere (pid 4242" in err
    assert "reconciler state unlock --force" in err

    code, _, err = cli("state", "unlock", "--state", str(state))
    assert code == 3  # --force is required
    assert "--force" in err
    code, out, _ = cli("state", "unlock", "--force", "--state", str(state))
    assert code == 0
    assert "held by ci@runner-elsewhere (pid 4242" in out
    assert cli("state", "unlock", "--force", "--state", str(state))[:2] == (
        0,
        f"{state} was not locked.\n",
    )
    assert cli("plan", "--state", str(state), manifests)[0] == 0  # plan never needed the lock


def test_json_printed_escapes_what_json_dumps_leaves_raw() -> None:
    """DEL, C1, bidi and invisible characters as \\uXXXX (json.dumps writes them raw), so that
    a value cannot act on the terminal; the document reads back the same."""
    document = {"description": "a\x7fb\x9b2J\u202eevil\u200b\ttab\nline", "name": "Café ☕"}
    text = _json(document)
    assert "\\u007f" in text
    assert "\\u009b" in text
    assert "\\u202e" in text
    assert "\\u200b" in text
    assert "Café ☕" in text  # non-ASCII text prints as itself
    assert UNSAFE.search(text.replace("\n", "")) is None
    assert json.loads(text) == document


def test_list_and_show_through_a_linked_state(tmp_path: Path, cli: Cli) -> None:
    real = tmp_path / "real.json"
    record = {"kind": "client", "source": "JIRA", "id": "J-1", "cor_id": 5}
    record |= {"attributes": {"name": "One", "description": "two\nlines"}}
    document = {"format_version": 1, "lineage": "0" * 32, "serial": 1, "resources": [record]}
    real.write_text(json.dumps(document), encoding="utf-8")
    link = tmp_path / "link.json"
    link.symlink_to(real)
    code, out, _ = cli("state", "list", "--state", str(link))
    assert (code, out) == (0, "client JIRA/J-1  cor_id 5\n")
    code, out, _ = cli("state", "show", "--state", str(link), "client", "JIRA", "J-1")
    assert code == 0
    assert json.loads(out)["attributes"]["description"] == "two\nlines"
