"""State, journal and lock files (docs/hostile-inputs.md): bad values, links and files that are
not regular ones.

Each row writes the state (and its journal or lock) as an attacker or an unlucky merge would,
runs the CLI on it, and checks what was said (exit 3 naming the file and what is wrong) and
what must never happen: a crash, a file written through a link, a second state file, a hang.
Files that could hang a reader (a FIFO) are read by a real process with a timeout.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from reconciler.errors import RefusedError
from reconciler.state import journal
from reconciler.state.store import StateStore, load_state
from tests.builders import recorded
from tests.harness import Cli, WorkFolder
from tests.hostile.checks import assert_clean
from tests.paths import ROOT
from tests.state.holders import held_elsewhere

LINEAGE = "0" * 32
MANIFEST = "source: JIRA\nclients:\n  - {id: C-1, name: Acme}\n"
CLIENT = {"kind": "client", "source": "JIRA", "id": "C-1", "cor_id": 7, "attributes": {}}
ACME = recorded("client", "JIRA", "C-1", 7, name="Acme")
STATE = "reconciler.state.json"  # the default, in the work folder: messages name it so
TITLE = "\x1b]0;pwned\x07"  # sets a terminal's title
CLEAR = "\x1b[2J"  # clears the screen


def state_text(*, resources: Any = None, **changes: Any) -> str:
    """A state file holding CLIENT (or `resources`), with top-level fields changed."""
    document = {"format_version": 1, "lineage": LINEAGE, "serial": 1}
    document |= {"resources": [CLIENT] if resources is None else resources} | changes
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def client(**fields: Any) -> dict[str, Any]:
    return CLIENT | fields


# --- bad values in the state file ----------------------------------------------------------

STATE_VALUES = [
    pytest.param(
        state_text(resources=[client(attributes={"name": "[" * 100_000 + "]" * 100_000})])
        .replace('"[', "[")
        .replace(']"', "]"),
        "line 12: arrays or objects nested 100004 deep",
        id="state-nested-deep",
    ),
    pytest.param(
        state_text().replace('"cor_id": 7', '"cor_id": ' + "9" * 5000),
        "line 10: a number of more than 4300 digits",
        id="state-long-integer",
    ),
    pytest.param(
        state_text(resources=[client(id="\\ud800")]).replace("\\\\ud800", "\\ud800"),
        "resources.0.id",
        id="state-lone-surrogate",
    ),
    pytest.param(
        state_text(format_version=True),
        "format_version: must be the integer 1",
        id="state-version-true",
    ),
    pytest.param(
        state_text(resources=[client(cor_id=-5)]),
        "resources.0.cor_id: Input should be greater than or equal to 0",
        id="state-negative-cor-id",
    ),
    pytest.param(
        state_text(resources=[client(kind="brand", attributes={"website": "w", "name": "B"})]),
        "resources.0.attributes: 'website' is not a field of a brand",
        id="state-unknown-attribute",
    ),
    pytest.param(
        state_text(resources=[client(source="NOT_A_SOURCE")]),
        "resources.0.source: unknown source 'NOT_A_SOURCE'",
        id="state-unknown-source",
    ),
    pytest.param(
        state_text(in_doubt=[{"kind": "client", "source": "JIRA", "id": "C-1"}]),
        "in_doubt.0: client JIRA/C-1 is recorded too",
        id="state-recorded-and-in-doubt",
    ),
    pytest.param(
        state_text(resources=[client(id="..")]),
        "resources.0.id: an id cannot be '..'",
        id="state-id-dots",
    ),
    pytest.param(
        state_text(resources=[client(id=f"C-1{CLEAR}")]),
        "resources.0.id: an id cannot hold the character U+001B",
        id="state-id-control",
    ),
    pytest.param(
        state_text(resources=[client(id="C-1\u202e")]),
        "resources.0.id: an id cannot hold the character U+202E",
        id="state-id-bidi",
    ),
    pytest.param(
        state_text(resources=[client(id=" C-1")]),
        "resources.0.id: an id cannot start or end with whitespace",
        id="state-id-whitespace",
    ),
    pytest.param(
        state_text(resources=[client(attributes={"name": f"Acme{TITLE}"})]),
        "resources.0.attributes: name: cannot hold the character U+001B",
        id="state-name-control",
    ),
    pytest.param(
        state_text(resources=[client(attributes={"name": "   "})]),
        "resources.0.attributes: name: cannot be whitespace only",
        id="state-name-blank",
    ),
    pytest.param(
        state_text(format_version=2, resources=[client(file=f"manifests/{TITLE}.yaml")]),
        "resources.0.file: cannot hold the character U+001B",
        id="state-file-control",
    ),
]


@pytest.mark.parametrize(("text", "says"), STATE_VALUES)
def test_a_bad_value_in_the_state_is_refused_saying_where(
    work_folder: WorkFolder, cli: Cli, text: str, says: str
) -> None:
    work_folder({"jira.yaml": MANIFEST})
    work_folder.state.write_text(text, encoding="utf-8")
    for command in (("state", "list"), ("plan",)):
        code, out, err = cli(*command)
        assert_clean(
            code, out, err, exit_code=3, says=[f"{STATE} is not a valid state file: ", says]
        )
    assert work_folder.state.read_text(encoding="utf-8") == text  # never rewritten


# --- bad lines in the journal ---------------------------------------------------------------


def _line(**fields: Any) -> bytes:
    return json.dumps(fields).encode() + b"\n"


JOURNAL_LINES = [
    pytest.param(
        b"[" * 100_000 + b"]" * 100_000 + b"\n",
        "line 2 is corrupt: arrays or objects nested 100000 deep",
        id="journal-nested-deep",
    ),
    pytest.param(
        _line(op="put", kind="client", source="JIRA", id="X", attributes={}).replace(
            b'"attributes"', b'"cor_id": ' + b"1" * 5000 + b', "attributes"'
        ),
        "line 2 is corrupt: a number of more than 4300 digits",
        id="journal-long-integer",
    ),
    pytest.param(
        _line(op="intent", kind="client", source="JIRA", id="."),
        "line 2: intent.id: an id cannot be '.'",
        id="journal-id-dots",
    ),
    pytest.param(
        _line(op="put", kind="client", source="JIRA", id="X", cor_id=1, attributes={"x": "y"}),
        "line 2: put.attributes: 'x' is not a field of a client",
        id="journal-unknown-attribute",
    ),
    pytest.param(
        journal.intent_line(ACME.key),
        "line 2 is corrupt: an intent to create client JIRA/C-1, which is recorded",
        id="journal-intent-of-recorded",
    ),
]


@pytest.mark.parametrize(("line", "says"), JOURNAL_LINES)
def test_a_bad_journal_line_is_refused_saying_which(
    work_folder: WorkFolder, cli: Cli, line: bytes, says: str
) -> None:
    work_folder.state.write_text(state_text(), encoding="utf-8")
    journal_path = work_folder.root / "reconciler.state.json.journal"
    after = journal.resolve_line(recorded("client", "JIRA", "C-2", 8).key)  # `line` is not last
    data = journal.header_line(LINEAGE, 1) + line + after
    journal_path.write_bytes(data)
    for command in (("state", "list"), ("state", "rm", "client", "JIRA", "C-1")):
        code, out, err = cli(*command)
        assert_clean(code, out, err, exit_code=3, says=[f"{STATE}.journal", says])
    assert journal_path.read_bytes() == data  # neither replayed nor removed
    assert work_folder.state.read_text(encoding="utf-8") == state_text()


# --- links and files that are not regular ----------------------------------------------------


def test_a_link_to_the_state_and_the_state_share_one_lock(work_folder: WorkFolder) -> None:
    """The lock API used twice, through the link and through its target: one state, one lock."""
    target = work_folder.root / "real" / "state.json"
    target.parent.mkdir()
    link = work_folder.root / "state.json"
    link.symlink_to(target)
    with StateStore.open(link) as store:
        store.record(ACME)
        with pytest.raises(RefusedError, match="is locked by"):
            StateStore.open(target)
    with StateStore.open(target), pytest.raises(RefusedError, match="is locked by"):
        StateStore.open(link)
    assert link.is_symlink()
    assert load_state(target).records.keys() == {ACME.key}


LINKED = [
    pytest.param("link", "target", id="state-link-then-target"),
    pytest.param("target", "link", id="state-target-then-link"),
]


@pytest.mark.parametrize(("first", "second"), LINKED)
def test_a_second_run_through_a_link_is_refused(
    work_folder: WorkFolder, cli: Cli, first: str, second: str
) -> None:
    """Two real processes: one holds the state through one path, the CLI tries the other."""
    paths = {"target": work_folder.root / "real.json", "link": work_folder.root / "link.json"}
    paths["target"].write_text(state_text(), encoding="utf-8")
    paths["link"].symlink_to(paths["target"])
    with held_elsewhere(paths[first]):
        code, out, err = cli("state", "rm", "--state", str(paths[second]), "client", "JIRA", "C-1")
    assert_clean(code, out, err, exit_code=4, says=["is locked by", "pid "])
    assert paths["link"].is_symlink()
    assert paths["target"].read_text(encoding="utf-8") == state_text()  # nothing removed


@pytest.mark.parametrize("command", [pytest.param(("state", "rm"), id="state-link-write")])
def test_a_write_through_a_link_replaces_its_target(
    work_folder: WorkFolder, cli: Cli, command: tuple[str, ...]
) -> None:
    target = work_folder.root / "real.json"
    target.write_text(state_text(), encoding="utf-8")
    link = work_folder.root / "link.json"
    link.symlink_to(target)
    code, out, err = cli(*command, "--state", str(link), "client", "JIRA", "C-1")
    assert_clean(code, out, err, exit_code=0, says="Removed client JIRA/C-1")
    assert link.is_symlink()  # not a second state file
    assert load_state(target).records == {}
    assert sorted(p.name for p in work_folder.root.iterdir()) == [
        "link.json",
        "real.json",
        "real.json.backup",
        "real.json.lock",
    ]


RM = ("state", "rm", "client", "JIRA", "C-1")
LINKS = [
    pytest.param("lock", "the lock file", ("state", "unlock", "--force"), id="lock-link-unlock"),
    pytest.param("lock", "the lock file", RM, id="lock-link-rm"),
    pytest.param("journal", "the journal", ("state", "list"), id="journal-link"),
    pytest.param("journal", "the journal", RM, id="journal-link-rm"),
]


@pytest.mark.parametrize(("suffix", "what", "command"), LINKS)
def test_a_link_where_a_file_must_be_is_never_followed(
    work_folder: WorkFolder, cli: Cli, suffix: str, what: str, command: tuple[str, ...]
) -> None:
    """A lock or journal that is a link: neither written through (the link's target truncated
    or overwritten) nor read through (another file's journal replayed onto this state)."""
    work_folder.state.write_text(state_text(), encoding="utf-8")
    victim = work_folder.root / "precious.txt"
    content = journal.header_line(LINEAGE, 1) + journal.forget_line(ACME.key)
    victim.write_bytes(content)
    link = work_folder.root / f"{STATE}.{suffix}"
    link.symlink_to(victim)
    code, out, err = cli(*command)
    says = f"{what} {STATE}.{suffix} is a symbolic link, not a regular file"
    assert_clean(code, out, err, exit_code=3, says=says)
    assert victim.read_bytes() == content
    assert link.is_symlink()
    assert work_folder.state.read_text(encoding="utf-8") == state_text()


def _run(*args: str, cwd: Path) -> tuple[int, str, str]:
    """The CLI as a real process, given 30 s: a reader that opens a FIFO would hang."""
    command = [sys.executable, "-m", "reconciler", *args]
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, timeout=30, env=environment, check=False
    )
    return done.returncode, done.stdout, done.stderr


NOT_REGULAR = [
    pytest.param(STATE, "the state file", id="state-fifo"),
    pytest.param(f"{STATE}.journal", "the journal", id="journal-fifo"),
    pytest.param(f"{STATE}.lock", "the lock file", id="lock-fifo"),
]


@pytest.mark.parametrize(("name", "what"), NOT_REGULAR)
def test_a_fifo_is_refused_without_a_hang(work_folder: WorkFolder, name: str, what: str) -> None:
    if name != STATE:
        work_folder.state.write_text(state_text(), encoding="utf-8")
    fifo = work_folder.root / name
    os.mkfifo(fifo)
    code, out, err = _run("state", "rm", "client", "JIRA", "C-1", cwd=work_folder.root)
    says = f"{what} {name} is a FIFO (named pipe), not a regular file"
    assert_clean(code, out, err, exit_code=3, says=says)


@pytest.mark.parametrize("device", [pytest.param("/dev/zero", id="state-device")])
def test_a_state_linked_to_a_device_is_refused_unread(work_folder: WorkFolder, device: str) -> None:
    work_folder.state.symlink_to(device)
    code, out, err = _run("state", "list", cwd=work_folder.root)
    says = f"the state file {device} is a character device, not a regular file"
    assert_clean(code, out, err, exit_code=3, says=says)


# --- what is printed -------------------------------------------------------------------------

PRINTED = [
    pytest.param(("state", "show", "client", "JIRA", f"X{TITLE}"), 3, id="state-show-control-id"),
    pytest.param(("state", "rm", "client", "JIRA", f"X{CLEAR}"), 3, id="state-rm-control-id"),
]


@pytest.mark.parametrize(("command", "exit_code"), PRINTED)
def test_an_id_given_is_printed_escaped(
    work_folder: WorkFolder, cli: Cli, command: tuple[str, ...], exit_code: int
) -> None:
    work_folder.state.write_text(state_text(), encoding="utf-8")
    code, out, err = cli(*command)
    assert_clean(code, out, err, exit_code=exit_code, says="X\\x1b")


@pytest.mark.parametrize("host", [pytest.param(f"elsewhere{TITLE}", id="lock-holder-control")])
def test_a_lock_holder_is_never_printed_raw(work_folder: WorkFolder, cli: Cli, host: str) -> None:
    work_folder.state.write_text(state_text(), encoding="utf-8")
    holder = {"holder": "eve", "host": host, "pid": 1}
    holder |= {"started_at": "2026-11-28T10:00:00Z", "command": f"apply{CLEAR}"}
    lock = work_folder.root / f"{STATE}.lock"
    lock.write_text(json.dumps(holder) + "\n", encoding="utf-8")
    code, out, err = cli(*RM)
    assert_clean(code, out, err, exit_code=4, says="holds no lock record reconciler can read")
    assert work_folder.state.read_text(encoding="utf-8") == state_text()
