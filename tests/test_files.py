"""The file primitives (files.py): the one atomic writer (whole or nothing, never a temporary
file left behind, the permissions the caller asked for, the file a link points to replaced),
opening only regular files, and JSON that Python's decoder cannot hold, refused."""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from reconciler.errors import StateError, StateWriteError
from reconciler.files import (
    PRIVATE,
    RefusedJsonError,
    loads_strictly,
    open_regular,
    read_if_exists,
    real_path,
    write_atomically,
)


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


def test_a_write_through_a_link_replaces_the_file_it_points_to(tmp_path: Path) -> None:
    target = tmp_path / "real" / "state.json"
    target.parent.mkdir()
    target.write_bytes(b"old")
    link = tmp_path / "state.json"
    link.symlink_to(target)
    write_atomically(link, b"new", backup=tmp_path / "real" / "state.json.backup")
    assert link.is_symlink()  # still a link: no second file where it was
    assert (target.read_bytes(), link.read_bytes()) == (b"new", b"new")
    assert (tmp_path / "real" / "state.json.backup").read_bytes() == b"old"


def test_real_path_resolves_links_and_keeps_a_plain_path_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "state.json").write_bytes(b"{}")
    (tmp_path / "link.json").symlink_to("state.json")
    assert real_path(Path("state.json")) == Path("state.json")  # messages keep it relative
    assert real_path(Path("link.json")) == tmp_path / "state.json"
    assert real_path(Path("missing.json")) == Path("missing.json")
    (tmp_path / "folder").symlink_to(tmp_path)
    assert real_path(Path("folder/state.json")) == Path("folder/state.json")
    assert real_path(Path("folder/link.json")) == tmp_path / "state.json"


def _fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


NOT_REGULAR: list[tuple[str, Callable[[Path], Path], str]] = [
    ("a link", lambda p: _linked(p, p.parent / "target"), "a symbolic link"),
    ("a dangling link", lambda p: _linked(p, p.parent / "nowhere"), "a symbolic link"),
    ("a folder", lambda p: _made_folder(p), "a folder"),
    ("a FIFO", _fifo, "a FIFO (named pipe)"),
]


def _linked(path: Path, target: Path) -> Path:
    path.symlink_to(target)
    return path


def _made_folder(path: Path) -> Path:
    path.mkdir()
    return path


@pytest.mark.parametrize(
    ("make", "kind"), [c[1:] for c in NOT_REGULAR], ids=[c[0] for c in NOT_REGULAR]
)
@pytest.mark.parametrize("flags", [os.O_RDONLY, os.O_RDWR | os.O_CREAT], ids=["read", "create"])
def test_only_a_regular_file_is_opened(
    tmp_path: Path, make: Callable[[Path], Path], kind: str, flags: int
) -> None:
    (tmp_path / "target").write_bytes(b"untouched")
    path = make(tmp_path / "state.json.lock")
    with pytest.raises(StateError, match=f"the lock file {path} is {re.escape(kind)}, not a reg"):
        open_regular(path, flags, "the lock file")
    assert (tmp_path / "target").read_bytes() == b"untouched"
    assert not (tmp_path / "nowhere").exists()  # not created through the link


def test_a_regular_file_is_opened_and_a_missing_one_is_none(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    assert open_regular(path, os.O_RDONLY, "the state file") is None
    assert read_if_exists(path, "the state file") is None
    path.write_bytes(b"{}")
    assert read_if_exists(path, "the state file") == b"{}"


REFUSED_JSON = [
    ("nested", "[" * 100_000 + "]" * 100_000, "line 1: arrays or objects nested 100000 deep"),
    ("nested late", '{\n"a":\n' + "[" * 5000 + "]" * 5000 + "}", "line 3: arrays or objects"),
    ("a long integer", '{\n"n": ' + "7" * 5000 + "}", "line 2: a number of more than 4300 digits"),
    ("a key twice", '{"a": 1, "a": 2}', "an object has the key 'a' twice"),
]


@pytest.mark.parametrize(
    ("text", "says"), [c[1:] for c in REFUSED_JSON], ids=[c[0] for c in REFUSED_JSON]
)
def test_json_that_python_cannot_hold_is_refused_saying_where(text: str, says: str) -> None:
    with pytest.raises(RefusedJsonError, match=re.escape(says)):
        loads_strictly(text)


def test_strings_do_not_count_as_nesting() -> None:
    text = '{"a": "' + "[" * 5000 + '", "b": ' + "[" * 2000 + "]" * 2000 + "}"
    with pytest.raises(RefusedJsonError, match="nested 2001 deep"):
        loads_strictly(text)


def test_a_file_that_cannot_be_opened_to_write_is_a_write_error(tmp_path: Path) -> None:
    """A path that cannot be opened (here: under a file, not a folder) is a runtime failure
    (exit 1) for a write, invalid input (exit 3) for a read."""
    (tmp_path / "a-file").write_bytes(b"")
    with pytest.raises(StateWriteError, match=r"cannot open the lock file .*: Not a directory"):
        open_regular(tmp_path / "a-file" / "x.lock", os.O_RDWR | os.O_CREAT, "the lock file")
    with pytest.raises(StateError, match="cannot open the state file") as read:
        read_if_exists(tmp_path / "a-file" / "x.json", "the state file")
    assert not isinstance(read.value, StateWriteError)
