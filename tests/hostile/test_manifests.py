"""Hostile inputs, "Manifest files and folders" (docs/hostile-inputs.md): what discovery meets
besides plain files in plain folders. Each is read whole or refused with exit 3, naming it —
never skipped in silence (a prune would delete what it declares), never a hang on a FIFO,
never the whole of /dev/zero.

What could hang or fill memory on a faulty reader runs as a child process with a timeout and
a memory cap (tests/manifests/processes.py); an unreadable folder is read by `nobody` when the
tests run as root, so that the refusal is a real EACCES.
"""

from __future__ import annotations

import json
import os
import socket
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.git_repos import ISOLATED, Repo
from tests.harness import Cli, RunningEmulator, WorkFolder, write_files
from tests.hostile.checks import assert_clean
from tests.manifests.processes import hand_to_nobody, run_reconciler, shared_folder

__all__ = ["shared_folder"]  # the fixture, used by name

CLIENTS = "source: SAP\nclients:\n  - {id: C1, name: Acme}\n"
BRANDS = "source: SAP\nbrands:\n" + "".join(
    f"  - {{id: B{n}, name: Brand {n}, client_id: C1}}\n" for n in range(1, 4)
)
Setup = Callable[[Path], list[str]]  # makes the files under a folder; the paths to give


# --- What must not be opened: a child process, bounded -------------------------------------


def _fifo_in_folder(root: Path) -> list[str]:
    write_files(root, {"m/a.yaml": CLIENTS})
    os.mkfifo(root / "m" / "x.yaml")
    return ["m"]


def _fifo_given(root: Path) -> list[str]:
    os.mkfifo(root / "x.yaml")
    return ["x.yaml"]


def _zero_in_folder(root: Path) -> list[str]:
    write_files(root, {"m/a.yaml": CLIENTS})
    (root / "m" / "zero.yaml").symlink_to("/dev/zero")
    return ["m"]


def _zero_given(root: Path) -> list[str]:
    (root / "zero.yaml").symlink_to("/dev/zero")
    return ["zero.yaml"]


def _socket_in_folder(root: Path) -> list[str]:
    write_files(root, {"m/a.yaml": CLIENTS})
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as bound:
        bound.bind(str(root / "m" / "s.yaml"))  # the socket file stays after the close
    return ["m"]


@pytest.mark.parametrize(
    ("setup", "says"),
    [
        pytest.param(_fifo_in_folder, ["m/x.yaml:1:1: ", "a FIFO"], id="fifo-named-yaml"),
        pytest.param(_fifo_given, ["x.yaml:1:1: ", "a FIFO"], id="fifo-given-as-path"),
        pytest.param(
            _zero_in_folder,
            ["m/zero.yaml:1:1: ", "a symbolic link to /dev/zero, outside the paths given"],
            id="dev-zero-linked-as-yaml",
        ),
        pytest.param(
            _zero_given, ["zero.yaml:1:1: ", "a character device"], id="dev-zero-given-as-path"
        ),
        pytest.param(_socket_in_folder, ["m/s.yaml:1:1: ", "a socket"], id="socket-named-yaml"),
    ],
)
def test_what_is_not_a_regular_file_is_refused_unread(
    setup: Setup, says: list[str], tmp_path: Path
) -> None:
    paths = setup(tmp_path)
    fifos = [path for path in tmp_path.rglob("*.yaml") if path.is_fifo()]
    with _reader_watch(fifos) as opened:
        code, out, err = run_reconciler("validate", "--no-cache", *paths, cwd=tmp_path)
    assert_clean(code, out, err, exit_code=3, says=says)
    assert "Valid" not in out
    assert not opened, "a FIFO was opened for reading"


@contextmanager
def _reader_watch(fifos: list[Path]) -> Iterator[list[Path]]:
    """While the block runs, which of `fifos` something opens for reading (a non-blocking open
    for writing succeeds only then)."""
    opened: list[Path] = []
    done = threading.Event()

    def watch(fifo: Path) -> None:
        while not done.wait(0.005):
            try:
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
            except OSError:
                continue
            opened.append(fifo)
            return

    watchers = [threading.Thread(target=watch, args=(fifo,), daemon=True) for fifo in fifos]
    for watcher in watchers:
        watcher.start()
    try:
        yield opened
    finally:
        done.set()
        for watcher in watchers:
            watcher.join()


# --- Links, size, paths: in-process -----------------------------------------------------------


def _link_to_folder_outside(root: Path) -> list[str]:
    write_files(root, {"m/a.yaml": CLIENTS, "common/brands.yaml": BRANDS})
    (root / "m" / "shared").symlink_to("../common")
    return ["m"]


def _link_to_file_outside(root: Path) -> list[str]:
    write_files(root, {"m/a.yaml": CLIENTS, "other/brands.yaml": BRANDS})
    (root / "m" / "brands.yaml").symlink_to("../other/brands.yaml")
    return ["m"]


def _dangling_link(root: Path) -> list[str]:
    write_files(root, {"m/a.yaml": CLIENTS})
    (root / "m" / "brands").symlink_to("gone")
    return ["m"]


def _over_default_cap(root: Path) -> list[str]:
    write_files(root, {"m/a.yaml": CLIENTS})
    with open(root / "m" / "huge.yaml", "wb") as sparse:  # a hole: no disk used
        sparse.truncate(64 * 1024 * 1024 + 1)
    return ["m"]


def _over_given_cap(root: Path) -> list[str]:
    write_files(root, {"m/a.yaml": CLIENTS + "# " + "x" * 2048 + "\n"})
    return ["--max-file-size", "1KiB", "m"]


def _escape_in_file_name(root: Path) -> list[str]:
    write_files(root, {"m/x\x1b]0;owned\x07.yaml": "source: SAP\nclients:\n  - {id: C1}\n"})
    return ["m"]


def _empty_path(root: Path) -> list[str]:
    write_files(root, {"a.yaml": CLIENTS})  # `validate ''` once validated this folder
    return [""]


@pytest.mark.parametrize(
    ("setup", "says"),
    [
        pytest.param(
            _link_to_folder_outside,
            ["m/shared:1:1: a symbolic link to ../common (", "outside the paths given"],
            id="symlinked-folder-outside",
        ),
        pytest.param(
            _link_to_file_outside,
            ["m/brands.yaml:1:1: a symbolic link to ../other/brands.yaml", "outside the paths"],
            id="symlinked-file-outside",
        ),
        pytest.param(
            _dangling_link,
            ["m/brands:1:1: a symbolic link to gone, which does not exist"],
            id="dangling-symlink",
        ),
        pytest.param(
            _over_default_cap,
            ["m/huge.yaml:1:1: the file is larger than 64 MiB"],
            id="file-over-default-size-cap",
        ),
        pytest.param(
            _over_given_cap,
            ["m/a.yaml:1:1: the file is larger than 1 KiB"],
            id="file-over-max-file-size",
        ),
        pytest.param(
            _escape_in_file_name,
            ['m/x\\x1b]0;owned\\x07.yaml:3:5: this client has no "name"'],
            id="file-name-with-escape",
        ),
        pytest.param(_empty_path, ["error: an empty path was given"], id="empty-path-argument"),
    ],
)
def test_what_cannot_be_read_whole_is_named(
    setup: Setup, says: list[str], work_folder: WorkFolder, cli: Cli
) -> None:
    args = setup(work_folder.root)
    code, out, err = cli("validate", "--no-cache", *args)
    assert_clean(code, out, err, exit_code=3, says=says)
    assert "Valid" not in out


def test_the_size_cap_is_set_by_the_environment_too(
    work_folder: WorkFolder, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    args = _over_given_cap(work_folder.root)[2:]
    monkeypatch.setenv("RECONCILER_MAX_FILE_SIZE", "1KiB")
    assert cli("validate", "--no-cache", *args)[0] == 3
    monkeypatch.setenv("RECONCILER_MAX_FILE_SIZE", "4KiB")
    assert cli("validate", "--no-cache", *args)[:2] == (
        0,
        "Valid: 1 clients, 0 brands, 0 products.\n",
    )


# --- A folder that cannot be read: as an ordinary user --------------------------------------


def _with_secret_folder(root: Path) -> Path:
    """m/a.yaml declares a client, m/secret/ its brands; the folder m/secret."""
    write_files(root, {"m/a.yaml": CLIENTS, "m/secret/brands.yaml": BRANDS})
    return root / "m" / "secret"


@pytest.mark.parametrize(
    "command", [pytest.param(("validate", "--no-cache"), id="unreadable-folder")]
)
def test_an_unreadable_folder_is_named(command: tuple[str, ...], shared_folder: Path) -> None:
    _with_secret_folder(shared_folder).chmod(0)
    hand_to_nobody(shared_folder)
    code, out, err = run_reconciler(*command, "m", cwd=shared_folder, unprivileged=True)
    assert_clean(code, out, err, exit_code=3, says="m/secret:1:1: cannot read this folder")
    assert "Valid" not in out


@pytest.mark.parametrize(
    "command",
    [pytest.param(("apply", "--prune", "--auto-approve"), id="prune-over-unreadable-folder")],
)
def test_a_prune_over_an_unreadable_folder_deletes_nothing(
    command: tuple[str, ...], shared_folder: Path, emulator_env: RunningEmulator, cli: Cli
) -> None:
    """The issue's data loss: as an ordinary user, a prune over a folder it cannot read deleted
    everything that folder declared. Now nothing is planned: exit 3, COR and state untouched."""
    secret = _with_secret_folder(shared_folder)
    state = shared_folder / "state.json"
    assert cli("apply", "--auto-approve", "--state", str(state), str(shared_folder / "m"))[0] == 0
    before = state.read_bytes()
    secret.chmod(0)
    hand_to_nobody(shared_folder)
    args = (*command, "--state", "state.json", "m")
    code, out, err = run_reconciler(*args, cwd=shared_folder, unprivileged=True)
    assert_clean(code, out, err, exit_code=3, says="m/secret:1:1: cannot read this folder")
    live = sorted(record["id"] for record in emulator_env.records() if not record["deleted"])
    assert live == ["B1", "B2", "B3", "C1"]
    assert state.read_bytes() == before


# --- What a git tree may hold (`plan --base-ref`, manifests/git_ref.py) ---------------------

GitSetup = Callable[[Repo], list[str]]  # crafts the branch `base`; extra arguments for plan


def _git_tree(repo: Repo, *hostile: tuple[str, str, str]) -> None:
    """`base`: manifests/a.yaml (client C1) and the `hostile` entries in manifests/."""
    clients = repo.blob(CLIENTS.encode())
    manifests = repo.tree([("100644", clients, "a.yaml"), *hostile])
    repo.tree_commit(repo.tree([("040000", manifests, "manifests")]), "base")


def _git_dot_dot(repo: Repo) -> list[str]:
    """manifests/../../x.yaml: written as named, it would land beside the temporary folder."""
    inner = repo.tree([("100644", repo.blob(CLIENTS.encode()), "x.yaml")])
    _git_tree(repo, ("040000", repo.tree([("040000", inner, "..")]), ".."))
    return []


def _git_newline(repo: Repo) -> list[str]:
    brands = BRANDS.replace("B1", "B9")
    _git_tree(repo, ("100644", repo.blob(brands.encode()), "b\nNo changes.yaml"))
    return []


def _git_link_outside(repo: Repo) -> list[str]:
    _git_tree(repo, ("120000", repo.blob(b"/etc/passwd"), "passwd.yaml"))
    return []


def _git_huge_blob(repo: Repo) -> list[str]:
    _git_tree(repo, ("100644", repo.blob(b"# " + b"x" * 4096 + b"\n"), "huge.yaml"))
    return ["--max-file-size", "1KiB"]


def _git_submodule(repo: Repo) -> list[str]:
    commit = repo.git("rev-parse", "HEAD").strip()
    _git_tree(repo, ("160000", commit, "vendored"))
    return []


@pytest.mark.parametrize(
    ("setup", "exit_code", "says"),
    [
        pytest.param(
            _git_dot_dot,
            0,
            ["base:manifests/../../x.yaml:1:1: refused: a path in git with a '..'"],
            id="git-ref-name-with-dot-dot",
        ),
        pytest.param(_git_newline, 0, [], id="git-ref-name-with-newline"),
        pytest.param(
            _git_link_outside,
            0,
            ["base:manifests/passwd.yaml:1:1: a symbolic link to /etc/passwd, outside"],
            id="git-ref-symlink-outside",
        ),
        pytest.param(
            _git_huge_blob,
            0,
            ["base:manifests/huge.yaml:1:1: the file is larger than 1 KiB"],
            id="git-ref-blob-over-max-file-size",
        ),
        pytest.param(_git_submodule, 0, [], id="git-ref-submodule"),
    ],
)
def test_a_hostile_git_tree_is_read_as_a_folder_would_be(
    setup: GitSetup,
    exit_code: int,
    says: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    cli: Cli,
) -> None:
    """The pull request declares C1 (pending on a sound base); a base with problems is a
    warning, and then nothing is marked pending: never a file written outside the temporary
    folder, nor a blob over the limit read."""
    for name, value in ISOLATED.items():
        monkeypatch.setenv(name, value)
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temporary))
    repo = Repo(tmp_path / "repo")
    repo.commit({"manifests/a.yaml": CLIENTS})
    extra = setup(repo)
    monkeypatch.chdir(repo.root)
    code, out, err = cli("plan", "--no-cache", "--format", "json", "--base-ref", "base", *extra)
    assert_clean(code, out, err, exit_code=exit_code, says=says)
    (change,) = json.loads(out)["changes"]
    assert change["pending_on_base"] is not bool(says)  # a base with problems marks nothing
    assert ("warning: the base's manifests (base) have" in err) is bool(says)
    assert list(temporary.iterdir()) == []
    assert not (tmp_path / "x.yaml").exists()


@pytest.mark.parametrize(
    "ref",
    [
        pytest.param("--upload-pack=touch owned", id="git-ref-like-an-option"),
        pytest.param("main;touch owned", id="git-ref-with-shell-characters"),
    ],
)
def test_a_ref_is_never_an_option_nor_a_command(
    ref: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: Cli
) -> None:
    for name, value in ISOLATED.items():
        monkeypatch.setenv(name, value)
    repo = Repo(tmp_path / "repo")
    repo.commit({"manifests/a.yaml": CLIENTS})
    monkeypatch.chdir(repo.root)
    code, out, err = cli("plan", "--no-cache", f"--base-ref={ref}")
    assert_clean(code, out, err, exit_code=3, says="--base-ref")
    assert not (repo.root / "owned").exists()
    assert not (tmp_path / "owned").exists()
