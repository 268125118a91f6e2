"""The one atomic writer (files.write_atomically): whole or nothing, never a temporary file
left behind, the permissions the caller asked for."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.files import PRIVATE, write_atomically


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def umask_027() -> Iterator[None]:
    old = os.umask(0o027)
    try:
        yield
    finally:
        os.umask(old)


def test_a_new_file_gets_what_the_umask_gives(tmp_path: Path, umask_027: None) -> None:
    path = tmp_path / "state.json"
    write_atomically(path, b"new")
    assert path.read_bytes() == b"new"
    assert mode_of(path) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]


def test_a_replaced_file_keeps_the_permissions_its_owner_chose(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_bytes(b"old")
    path.chmod(0o604)
    write_atomically(path, b"new", durable=False)
    assert (path.read_bytes(), mode_of(path)) == (b"new", 0o604)


def test_a_private_file_is_0600_whatever_it_was(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    path.write_bytes(b"old")
    path.chmod(0o644)
    write_atomically(path, b"new", mode=PRIVATE)
    assert mode_of(path) == 0o600


def test_the_backup_holds_the_previous_content(tmp_path: Path) -> None:
    path, backup = tmp_path / "state.json", tmp_path / "state.json.backup"
    write_atomically(path, b"one", backup=backup)
    assert not backup.exists()  # nothing to back up yet
    write_atomically(path, b"two", backup=backup)
    assert (path.read_bytes(), backup.read_bytes()) == (b"two", b"one")


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_bytes(b"old")
    with pytest.raises(FileNotFoundError):  # the backup's folder does not exist
        write_atomically(path, b"new", backup=tmp_path / "missing" / "state.json.backup")
    assert path.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]


def test_a_replace_that_fails_removes_its_temporary(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    (path / "inside").mkdir(parents=True)  # a folder where the file should be
    with pytest.raises(IsADirectoryError):
        write_atomically(path, b"new")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]
    assert path.is_dir()
