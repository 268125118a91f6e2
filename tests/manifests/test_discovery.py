"""Discovery (manifests/discovery.py): which files are read, and how. Links inside the paths
are followed, each real file and folder read once, in a stable order; what cannot be read is a
problem, never a silent skip; a file is read only if regular, and never past the size limit.
(The hostile cases, each a row of docs/hostile-inputs.md, are in tests/hostile/test_manifests.py.)
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from reconciler.errors import ManifestError, UsageError
from reconciler.manifests.discovery import UnreadableError, discover, read_manifest
from reconciler.manifests.reader import read_manifests
from tests.harness import WorkFolder, write_files
from tests.manifests.processes import hand_to_nobody, run_reconciler, shared_folder

__all__ = ["shared_folder"]  # the fixture, used by name

CLIENT = "source: SAP\nclients:\n  - {id: C1, name: Acme}\n"
BRAND = "source: SAP\nbrands:\n  - {id: B1, name: Road, client_id: C1}\n"


def test_files_are_found_sorted_hidden_ones_left_out(work_folder: WorkFolder) -> None:
    work_folder(
        {"b.yaml": CLIENT, "a/z.yml": BRAND, "a/notes.txt": "x", ".git/x.yaml": "", ".h.yaml": ""},
        under="m",
    )
    assert discover(["m"]) == (["m/a/z.yml", "m/b.yaml"], [])


def test_a_link_inside_the_paths_is_followed(work_folder: WorkFolder) -> None:
    """Into a folder only a link reaches (a hidden one here): its files are read, under the
    link's path."""
    work_folder({"a.yaml": CLIENT, ".shared/brands.yaml": BRAND}, under="m")
    Path("m/shared").symlink_to(".shared")
    assert discover(["m"]).files == ["m/a.yaml", "m/shared/brands.yaml"]
    assert [key.id for key in read_manifests(["m"])] == ["C1", "B1"]


def test_a_file_reached_twice_is_read_once_under_its_own_path(work_folder: WorkFolder) -> None:
    work_folder({"sub/a.yaml": CLIENT}, under="m")
    Path("m/a-link.yaml").symlink_to("sub/a.yaml")
    Path("m/all").symlink_to("sub")
    assert discover(["m", "m/sub/a.yaml"]) == (["m/sub/a.yaml"], [])


def test_a_link_to_a_parent_folder_ends_there(work_folder: WorkFolder) -> None:
    """A loop: the folder is read once, and each file in it."""
    work_folder({"a.yaml": CLIENT, "sub/b.yaml": BRAND}, under="m")
    Path("m/sub/up").symlink_to("..")
    Path("m/sub/self").symlink_to(".")
    assert discover(["m"]) == (["m/a.yaml", "m/sub/b.yaml"], [])


def test_links_that_cannot_be_followed_are_problems(work_folder: WorkFolder) -> None:
    work_folder({"a.yaml": CLIENT}, under="m")
    Path("m/one").symlink_to("two")
    Path("m/two").symlink_to("one")
    files, problems = discover(["m"])
    assert files == ["m/a.yaml"]
    assert [str(problem) for problem in problems] == [
        "m/one:1:1: a symbolic link to two that cannot be followed: "
        "Too many levels of symbolic links",
        "m/two:1:1: a symbolic link to one that cannot be followed: "
        "Too many levels of symbolic links",
    ]


def test_a_link_outside_that_is_no_manifest_is_left_alone(work_folder: WorkFolder) -> None:
    """A link to a file outside is read only if its name is a manifest's: a README linked in
    is not a problem (a link to a folder is: folders are read whatever their name)."""
    work_folder({"a.yaml": CLIENT, "README.md": "# x"}, under="")
    Path("m").mkdir(exist_ok=True)
    Path("m/README").symlink_to("../README.md")
    Path("m/a.yaml").symlink_to("../a.yaml")
    assert discover(["m", "a.yaml"]) == (["a.yaml"], [])  # read once, under its own path


def test_a_path_given_is_followed_wherever_it_points(work_folder: WorkFolder) -> None:
    work_folder({"elsewhere/a.yaml": CLIENT}, under="")
    Path("m").symlink_to("elsewhere")
    assert discover(["m"]) == (["m/a.yaml"], [])


@pytest.mark.usefixtures("work_folder")
def test_an_empty_path_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="an empty path was given"):
        discover([""])


@pytest.mark.usefixtures("work_folder")
def test_a_path_that_is_a_dangling_link_is_a_problem() -> None:
    Path("m.yaml").symlink_to("gone.yaml")
    assert [str(p) for p in discover(["m.yaml"]).problems] == [
        "m.yaml:1:1: a symbolic link to gone.yaml, which does not exist: fix or remove it"
    ]


def test_a_file_is_read_up_to_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "a.yaml"
    path.write_bytes(b"x" * 1000)
    assert read_manifest(str(path), 1000) == b"x" * 1000
    with pytest.raises(UnreadableError, match=r"^the file is larger than 999 bytes"):
        read_manifest(str(path), 999)
    path.write_bytes(b"")
    assert read_manifest(str(path), 1) == b""


def test_a_fifo_in_a_file_s_place_is_refused_without_blocking(tmp_path: Path) -> None:
    """Put there after discovery: the read opens without blocking and checks before reading
    (guarded: a blocking open would never return)."""
    fifo = tmp_path / "x.yaml"
    os.mkfifo(fifo)
    raised: list[BaseException] = []

    def read() -> None:
        try:
            read_manifest(str(fifo), 100)
        except UnreadableError as error:
            raised.append(error)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout=10)
    if reader.is_alive():  # release the reader: a writer ends its wait
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        pytest.fail("reading a FIFO blocked")
    assert [str(error) for error in raised] == [
        "not a regular file but a FIFO (named pipe): refused without reading it "
        "(a manifest is a file)"
    ]


def test_an_unreadable_file_is_named_and_references_to_it_are_not(shared_folder: Path) -> None:
    """Its declarations are missing, so the checks across files are left out: no "not
    declared" for what it declares."""
    write_files(shared_folder, {"m/clients.yaml": CLIENT, "m/brands.yaml": BRAND})
    (shared_folder / "m" / "clients.yaml").chmod(0)
    hand_to_nobody(shared_folder)
    code, out, err = run_reconciler(
        "validate", "--no-cache", "m", cwd=shared_folder, unprivileged=True
    )
    assert (code, out) == (3, "")
    assert err.splitlines() == [
        "m/clients.yaml:1:1: cannot read the file: Permission denied",
        "error: 1 problem found in the manifests",
    ]


def test_problems_of_reading_and_of_files_come_together(work_folder: WorkFolder) -> None:
    work_folder({"a.yaml": "source: NOPE\n"}, under="m")
    Path("m/gone").symlink_to("nowhere")
    with pytest.raises(ManifestError) as raised:
        read_manifests(["m"])
    assert [str(problem.location) for problem in raised.value.problems] == [
        "m/a.yaml:1:9",
        "m/gone:1:1",
    ]
