"""`reconciler state pull | push | migrate` between state files (the stores' own runs are in
tests/e2e/test_state_stores.py): what each copies, what each refuses, and that the source is
left as it was."""

from __future__ import annotations

from pathlib import Path
from types import MappingProxyType

from reconciler.state.codec import State, render_state
from reconciler.state.store import load_state
from tests.builders import key, recorded, state_of
from tests.harness import Cli, WorkFolder

LINEAGE = "0123456789abcdef0123456789abcdef"


def _state(serial: int, *, lineage: str = LINEAGE, doubt: bool = True) -> State:
    records = state_of(
        recorded("client", "SAP", "C1", 11, name="One"),
        recorded("brand", "SAP", "B1", 12, name="Brand", client_id="C1"),
    )
    in_doubt = frozenset({key("product", "SAP", "P1")}) if doubt else frozenset()
    return State(lineage, serial, MappingProxyType(records), in_doubt)


def _write(path: Path, state: State) -> bytes:
    data = render_state(state)
    path.write_bytes(data)
    return data


def test_pull_writes_the_state_file_byte_for_byte(work_folder: WorkFolder, cli: Cli) -> None:
    data = _write(work_folder.root / "reconciler.state.json", _state(3))
    code, out, err = cli("state", "pull")
    assert (code, err) == (0, "")
    assert out.encode() == data


def test_pull_of_no_state_says_so_and_prints_nothing(work_folder: WorkFolder, cli: Cli) -> None:
    code, out, err = cli("state", "pull", "--state", "missing.json")
    assert code == 3
    assert out == ""
    assert "there is no state at missing.json yet" in err


def test_migrate_copies_everything_checks_it_and_leaves_the_source(
    work_folder: WorkFolder, cli: Cli
) -> None:
    source = work_folder.root / "reconciler.state.json"
    data = _write(source, _state(7))
    code, out, _ = cli("state", "migrate", "--to", "copy.json")
    assert code == 0, out
    assert "lineage 0123456789abcdef0123456789abcdef, serial 7, 2 record(s), 1 in doubt" in out
    assert (work_folder.root / "copy.json").read_bytes() == data
    assert source.read_bytes() == data
    assert not (work_folder.root / "reconciler.state.json.backup").exists()


def test_migrate_never_overwrites_a_state(work_folder: WorkFolder, cli: Cli) -> None:
    _write(work_folder.root / "reconciler.state.json", _state(7))
    other = _write(work_folder.root / "copy.json", _state(2, lineage="f" * 32))
    code, _, err = cli("state", "migrate", "--to", "copy.json")
    assert code == 4
    assert "already holds a state (lineage ffff" in err
    assert (work_folder.root / "copy.json").read_bytes() == other


def test_migrate_to_itself_is_refused(work_folder: WorkFolder, cli: Cli) -> None:
    _write(work_folder.root / "reconciler.state.json", _state(7))
    code, _, err = cli("state", "migrate", "--to", "reconciler.state.json")
    assert code == 3
    assert "names the state being migrated" in err


def test_push_takes_a_newer_serial_of_the_same_lineage(work_folder: WorkFolder, cli: Cli) -> None:
    target = work_folder.root / "reconciler.state.json"
    _write(target, _state(3))
    pushed = _write(work_folder.root / "newer.json", _state(5, doubt=False))
    code, out, _ = cli("state", "push", "newer.json")
    assert code == 0
    assert "serial 5, 2 record(s) (it replaced serial 3)" in out
    assert target.read_bytes() == pushed
    assert load_state(target.with_name("reconciler.state.json.backup")).serial == 3


def test_push_refuses_an_older_serial_and_another_lineage(
    work_folder: WorkFolder, cli: Cli
) -> None:
    target = work_folder.root / "reconciler.state.json"
    data = _write(target, _state(5))
    _write(work_folder.root / "older.json", _state(4))
    _write(work_folder.root / "other.json", _state(9, lineage="e" * 32))
    code, _, err = cli("state", "push", "older.json")
    assert code == 4
    assert "its serial 4 is not newer than the stored state's 5" in err
    code, _, err = cli("state", "push", "other.json")
    assert code == 4
    assert "the store holds another one" in err
    assert target.read_bytes() == data


def test_push_force_replaces_with_a_serial_after_the_replaced_one(
    work_folder: WorkFolder, cli: Cli
) -> None:
    target = work_folder.root / "reconciler.state.json"
    _write(target, _state(5))
    _write(work_folder.root / "older.json", _state(2, lineage="e" * 32, doubt=False))
    code, out, _ = cli("state", "push", "--force", "older.json")
    assert code == 0, out
    after = load_state(target)
    assert (after.lineage, after.serial, after.in_doubt) == ("e" * 32, 6, frozenset())


def test_push_of_a_file_that_is_not_a_state_changes_nothing(
    work_folder: WorkFolder, cli: Cli
) -> None:
    target = work_folder.root / "reconciler.state.json"
    data = _write(target, _state(5))
    (work_folder.root / "broken.json").write_text('{"format_version": 2, "lineage"', "utf-8")
    code, _, err = cli("state", "push", "broken.json")
    assert code == 3
    assert "broken.json is not valid JSON" in err
    assert target.read_bytes() == data


def test_a_config_file_can_name_a_store_and_a_relative_state_starts_at_its_folder(
    work_folder: WorkFolder, cli: Cli
) -> None:
    sub = work_folder.root / "ops"
    sub.mkdir()
    (sub / "reconciler.toml").write_text('state = "states/prod.json"\n', "utf-8")
    (sub / "states").mkdir()
    data = _write(sub / "states" / "prod.json", _state(4))
    code, out, _ = cli("--config", "ops/reconciler.toml", "state", "pull")
    assert code == 0
    assert out.encode() == data
    (sub / "reconciler.toml").write_text('state = "postgresql://ci:hunter2@db/cor"\n', "utf-8")
    code, _, err = cli("--config", "ops/reconciler.toml", "state", "pull")
    assert code == 3
    assert "ops/reconciler.toml:1:" in err
    assert "hunter2" not in err
