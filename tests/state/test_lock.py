"""The lock of the state: one apply at a time, a holder named, a lock left behind recovered."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import pytest

from reconciler.errors import EXIT_REFUSED, RefusedError, StateError, StateWriteError
from reconciler.state.lock import LockInfo, force_unlock
from reconciler.state.store import StateStore, load_state
from tests.builders import recorded
from tests.state.holders import APPLY, held_elsewhere

ACME = recorded("client", "SALESFORCE", "ACC-1", 101, name="Acme")
ISO_UTC = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"


def lock_of(path: Path) -> Path:
    return path.with_name(path.name + ".lock")


def dead_pid() -> int:
    """The pid of a process that has ended (and been reaped)."""
    with subprocess.Popen([sys.executable, "-c", "pass"]) as child:
        child.wait()
    return child.pid


def lock_info(host: str = "", pid: int = 0) -> LockInfo:
    host, pid = host or socket.gethostname(), pid or dead_pid()
    return LockInfo("alice", host, pid, "2026-11-28T10:00:00Z", APPLY)


def leave_info(path: Path, host: str = "", pid: int = 0) -> LockInfo:
    """A lock file a run left behind, written by hand: no process holds the flock."""
    info = lock_info(host, pid)
    lock_of(path).write_text(json.dumps(asdict(info)) + "\n")
    return info


def left_behind(**fields: object) -> dict[str, object]:
    return asdict(lock_info(pid=4242)) | fields


def info_in(path: Path) -> dict[str, object]:
    return json.loads(lock_of(path).read_text())  # type: ignore[no-any-return]


def collect() -> tuple[list[str], Callable[[str], None]]:
    warnings: list[str] = []
    return warnings, warnings.append


# --- the holder's info ----------------------------------------------------------------------


def test_the_lock_file_names_the_holder_until_release(path: Path) -> None:
    with StateStore.open(path, command=APPLY):
        info = info_in(path)
        assert list(info) == ["holder", "host", "pid", "started_at", "command"]
        assert (info["host"], info["pid"], info["command"]) == (
            socket.gethostname(),
            os.getpid(),
            APPLY,
        )
        assert isinstance(info["holder"], str)
        assert info["holder"]
        assert re.fullmatch(ISO_UTC, str(info["started_at"]))
    assert lock_of(path).read_bytes() == b""  # released: cleared, and the file stays
    with StateStore.open(path):
        assert info_in(path)["command"] == "reconciler"  # the default


def test_a_failed_open_releases_the_lock_and_clears_the_info(path: Path) -> None:
    path.write_text("not JSON")
    with pytest.raises(StateError, match="not valid JSON"):
        StateStore.open(path)
    assert lock_of(path).read_bytes() == b""
    path.unlink()
    with StateStore.open(path):
        pass


def test_a_lock_file_that_cannot_be_written_is_a_write_error(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(StateWriteError, match="cannot write the lock file"):
        StateStore.open(path)
    monkeypatch.undo()
    with StateStore.open(path):  # the flock was let go
        pass


# --- held by a running process --------------------------------------------------------------


def test_a_second_apply_is_refused_naming_the_holder(path: Path) -> None:
    with held_elsewhere(path) as child:
        with pytest.raises(RefusedError) as refused:
            StateStore.open(path, command="reconciler apply other")
        message = str(refused.value)
        assert refused.value.exit_code == EXIT_REFUSED
        assert f"the state {path} is locked by " in message
        assert f"@{socket.gethostname()} (pid {child.pid}, since " in message
        assert f"`{APPLY}`" in message
        assert "wait for it to finish" in message
        assert info_in(path)["pid"] == child.pid  # the refused run changed nothing
        assert load_state(path).serial == 0  # plan needs no lock
    with StateStore.open(path):
        pass


def test_a_second_open_in_the_same_process_is_refused(path: Path) -> None:
    with StateStore.open(path, command=APPLY):
        with pytest.raises(RefusedError, match=rf"pid {os.getpid()}, since .*`{APPLY}`"):
            StateStore.open(path)
        assert info_in(path)["pid"] == os.getpid()


def test_a_holder_that_has_not_written_its_info_is_still_refused(path: Path) -> None:
    with held_elsewhere(path):
        lock_of(path).write_bytes(b"")
        with pytest.raises(RefusedError, match="in use by another reconciler run"):
            StateStore.open(path)


def test_a_holder_on_another_host_is_named_with_the_way_out(path: Path) -> None:
    with held_elsewhere(path) as child:
        document = info_in(path) | {"host": "ci-runner-7"}
        lock_of(path).write_text(json.dumps(document))
        with pytest.raises(RefusedError, match=r"@ci-runner-7 .*unlock --force"):
            StateStore.open(path)
        with pytest.raises(RefusedError, match="stop that process first"):
            force_unlock(path)  # held: clearing the info would not free it
        assert info_in(path)["pid"] == child.pid


def test_force_unlock_refuses_a_live_holder(path: Path) -> None:
    with held_elsewhere(path) as child:
        before = lock_of(path).read_bytes()
        with pytest.raises(RefusedError) as refused:
            force_unlock(path)
        assert f"pid {child.pid}" in str(refused.value)
        assert "cannot be broken safely; stop that process first" in str(refused.value)
        assert lock_of(path).read_bytes() == before
        with pytest.raises(RefusedError, match="locked by"):
            StateStore.open(path)


# --- left behind ----------------------------------------------------------------------------


def test_a_lock_left_by_a_dead_process_on_this_host_is_taken_over(path: Path) -> None:
    left = leave_info(path)
    warnings, warn = collect()
    with StateStore.open(path, command=APPLY, warn=warn) as store:
        store.record(ACME)
        assert info_in(path)["pid"] == os.getpid()
    assert warnings == [
        f"took over the lock of the state {path}, left by {left}, which is no longer running"
    ]
    assert "alice@" in warnings[0]
    assert f"pid {left.pid}" in warnings[0]
    assert ACME.key in load_state(path).records


def test_a_lock_left_with_a_live_pid_not_holding_it_is_taken_over(path: Path) -> None:
    left = leave_info(path, pid=os.getppid())  # alive, but the free flock proves it no holder
    warnings, warn = collect()
    with StateStore.open(path, warn=warn):
        pass
    assert warnings == [
        f"took over the lock of the state {path}, left by {left}, which no longer holds it"
    ]


def test_sigkill_of_the_holder_lets_the_next_apply_take_over(path: Path) -> None:
    with held_elsewhere(path) as child:
        child.send_signal(signal.SIGKILL)
        child.wait()
        warnings, warn = collect()
        with StateStore.open(path, warn=warn):
            pass
    assert len(warnings) == 1
    assert f"(pid {child.pid}, since " in warnings[0]
    assert "no longer running" in warnings[0]
    assert lock_of(path).read_bytes() == b""


def test_a_lock_left_by_another_host_is_refused_until_force_unlock(path: Path) -> None:
    left = leave_info(path, host="ci-runner-7", pid=4242)
    before = lock_of(path).read_bytes()
    for _ in range(2):  # refused every time, not only once
        with pytest.raises(RefusedError) as refused:
            StateStore.open(path)
        message = str(refused.value)
        assert (
            f"locked by alice@ci-runner-7 (pid 4242, since 2026-11-28T10:00:00Z, `{APPLY}`)"
            in message
        )
        assert "`reconciler state unlock --force`" in message
        assert lock_of(path).read_bytes() == before
    assert force_unlock(path) == left
    assert lock_of(path).read_bytes() == b""
    warnings, warn = collect()
    with StateStore.open(path, warn=warn):
        pass
    assert warnings == []


@pytest.mark.parametrize(
    "content",
    [b'{"holder": "al', b"[" * 100_000 + b"]" * 100_000, b'{"pid": ' + b"1" * 5000 + b"}"],
    ids=["torn by a power loss", "nested deep", "a long number"],
)
def test_an_unreadable_lock_file_is_refused_until_force_unlock(path: Path, content: bytes) -> None:
    lock_of(path).write_bytes(content)
    with pytest.raises(RefusedError, match=r"no lock record .* unlock --force"):
        StateStore.open(path)
    assert force_unlock(path) is None
    with StateStore.open(path):
        pass


WRONG_SHAPES: list[tuple[str, object]] = [
    ("missing field", {"holder": "alice"}),
    ("pid 0", left_behind(pid=0)),
    ("pid too large", left_behind(pid=2**40)),
    ("pid as text", left_behind(pid="4242")),
    ("unknown field", left_behind(colour="red")),
    ("not an object", [left_behind()]),
    ("a control character", left_behind(command="apply\x1b[2J")),
    ("a lone surrogate", left_behind(holder="\ud800")),
]


@pytest.mark.parametrize("document", [w[1] for w in WRONG_SHAPES], ids=[w[0] for w in WRONG_SHAPES])
def test_a_lock_record_of_the_wrong_shape_is_unreadable(path: Path, document: object) -> None:
    lock_of(path).write_text(json.dumps(document))
    with pytest.raises(RefusedError, match="no lock record"):
        StateStore.open(path)
    assert json.loads(lock_of(path).read_text()) == document


def test_force_unlock_of_nothing_returns_none_and_creates_nothing(path: Path) -> None:
    assert force_unlock(path) is None
    assert list(path.parent.iterdir()) == []
    with StateStore.open(path):
        pass
    assert force_unlock(path) is None  # the empty lock file of a released lock


def test_lock_info_reads_as_the_lock_file_says(path: Path) -> None:
    left = leave_info(path, host="elsewhere", pid=7)
    assert str(left) == f"alice@elsewhere (pid 7, since 2026-11-28T10:00:00Z, `{APPLY}`)"
    assert asdict(left) == info_in(path)
    with pytest.raises(AttributeError):
        left.pid = 8  # type: ignore[misc]  # frozen: the point of the test


def test_a_linked_state_shares_its_targets_lock(path: Path) -> None:
    """Two real processes: one holds the state through a link, the other opens its target."""
    link = path.with_name("link.json")
    link.symlink_to(path)
    with held_elsewhere(link):
        with pytest.raises(RefusedError, match=f"the state {path} is locked by"):
            StateStore.open(path)
        with pytest.raises(RefusedError, match=f"cannot unlock the state {path}"):
            force_unlock(link)
    assert sorted(p.name for p in path.parent.iterdir()) == [link.name, lock_of(path).name]


def test_force_unlock_through_a_linked_state_clears_its_targets_lock(path: Path) -> None:
    left = leave_info(path, host="ci-runner-7", pid=4242)
    link = path.with_name("link.json")
    link.symlink_to(path)
    assert force_unlock(link) == left
    assert lock_of(path).read_bytes() == b""
    assert not lock_of(link).exists()


@pytest.mark.parametrize("unlocking", [True, False], ids=["unlock", "open"])
def test_a_linked_lock_file_is_refused_and_its_target_untouched(
    path: Path, unlocking: bool
) -> None:
    victim = path.with_name("victim")
    victim.write_text("precious")
    lock_of(path).symlink_to(victim)
    with pytest.raises(StateError, match="is a symbolic link, not a regular file"):
        force_unlock(path) if unlocking else StateStore.open(path)
    assert victim.read_text() == "precious"


@pytest.mark.parametrize("command", ["reconciler state rm client JIRA X\x1b[2J", "x \udcff"])
def test_a_command_line_that_cannot_be_printed_is_written_escaped(path: Path, command: str) -> None:
    """The argv a run names itself by reads back, so that a lock it leaves is taken over."""
    with StateStore.open(path, command=command):
        left = lock_of(path).read_bytes()
    assert str(info_in_bytes(left)["command"]).endswith(("X\\x1b[2J", "x \\udcff"))
    lock_of(path).write_bytes(left)  # as a run killed while holding it leaves it
    warnings, warn = collect()
    with StateStore.open(path, warn=warn):
        pass
    assert len(warnings) == 1
    assert "took over the lock" in warnings[0]


def info_in_bytes(data: bytes) -> dict[str, object]:
    return json.loads(data)  # type: ignore[no-any-return]
