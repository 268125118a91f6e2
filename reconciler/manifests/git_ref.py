"""The manifests as a git commit holds them (`plan --base-ref REF`), without a checkout.

Part of the manifests edge. Runs git (never a shell; `--end-of-options` and `--` before what the
user gave, pathspecs literal) in the current folder: `git ls-tree -r -z -l` lists what REF holds
under the PATHS, `git cat-file --batch` gives the blobs, written into a private temporary folder
that mirrors the repository; `reader.read_manifests` reads them there, under the same policy as
on disk (discovery.py), and each declaration is then located at its path as given, so that the
plan names the same files. The working tree, the index and HEAD are never touched.

What a tree may hold that a folder may not (docs/hostile-inputs.md, "Manifest files and
folders"): a name with a `..`, `.` or empty component is a problem, never written; a symbolic
link (mode 120000) is written as a link, so discovery follows it inside the paths and refuses
it outside, as on disk; a blob over `--max-file-size` is never read from git (a sparse file of
its size stands for it, which discovery refuses unread); a submodule (mode 160000) is left out,
as an uninitialised one is on disk. Imports the standard library, `core`, `errors` and the
manifests edge.
"""

from __future__ import annotations

import os
import posixpath
import subprocess
import tempfile
from collections.abc import Sequence
from typing import NamedTuple

from reconciler.core.resources import Desired
from reconciler.core.text import printable
from reconciler.errors import Location, ManifestError, Problem, UsageError
from reconciler.manifests.cache import ManifestCache
from reconciler.manifests.discovery import DEFAULT_MAX_FILE_SIZE
from reconciler.manifests.reader import read_manifests

_SUFFIXES = (".yaml", ".yml")
_LINK, _SUBMODULE = "120000", "160000"
_ENV = {"GIT_LITERAL_PATHSPECS": "1", "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}


class _Entry(NamedTuple):
    mode: str
    oid: str
    size: int  # -1: not a blob (a submodule)
    name: str  # relative to the repository's top


def read_manifests_at(
    ref: str,
    paths: Sequence[str],
    *,
    store: ManifestCache | None = None,
    max_file_size: int = DEFAULT_MAX_FILE_SIZE,
) -> Desired:
    """What the manifest files under `paths` (as given: relative to the current folder) declare
    at the git commit `ref`. UsageError (exit 3) if git is missing, the current folder is not in
    a git repository, `ref` names no commit there, or `ref` or a path looks like an option;
    ManifestError with every problem, each located as `REF:path:line:col`."""
    for given in (ref, *paths):
        if not given or given.startswith("-"):
            raise UsageError(
                f"--base-ref {printable(ref)}: refused {printable(given)!r}: a ref or path may "
                "not be empty or start with '-' (write a path as ./-name)"
            )
    top, prefix = _lines(_git("rev-parse", "--show-toplevel", "--show-prefix"), 2)
    tree = _resolve(ref)
    relative = [_in_repository(path, top, prefix) for path in paths]
    listing = _git("ls-tree", "-r", "-z", "-l", "--full-name", tree, "--", *relative, cwd=top)
    entries = _entries(listing)
    with tempfile.TemporaryDirectory(prefix="reconciler-base-") as folder:
        problems = _write(folder, entries, max_file_size)
        roots = [os.path.join(folder, path) for path in relative]
        for root in roots:
            if not os.path.lexists(root):  # not at REF: it declares nothing there
                os.makedirs(root)
        moves = _shown(list(zip(roots, paths, strict=True)))
        try:
            desired = read_manifests(roots, store=store, max_file_size=max_file_size)
        except ManifestError as error:
            problems += error.problems
            desired = {}
        if problems:
            raise ManifestError([_moved_problem(p, moves, folder, ref) for p in problems])
        return _relocated(desired, moves)


def relocated(desired: Desired, moves: Sequence[tuple[str, str]]) -> Desired:
    """`desired`, read from the paths `moves` names first, located at the paths it names
    second (`--base-paths`: a folder standing for a PATH)."""
    return _relocated(desired, _shown(moves))


def _shown(moves: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """The moves as declarations show paths (escaped: `core/text.printable`), no trailing /."""
    return [(printable(old).rstrip("/"), printable(new).rstrip("/") or "/") for old, new in moves]


def _git(*args: str, cwd: str | None = None) -> bytes:
    try:
        done = subprocess.run(
            ["git", *args],
            cwd=cwd,
            capture_output=True,
            env={**os.environ, **_ENV},
            check=False,
        )
    except FileNotFoundError:
        raise UsageError("--base-ref: git is not installed (or not on the PATH)") from None
    except OSError as error:
        raise UsageError(f"--base-ref: cannot run git: {error.strerror or error}") from None
    if done.returncode != 0:
        said = _last_line(done.stderr) or f"exit {done.returncode}"
        if b"not a git repository" in done.stderr:
            raise UsageError(f"--base-ref: the current folder is not in a git repository ({said})")
        raise UsageError(f"--base-ref: git {args[0]} failed: {said}")
    return done.stdout


def _last_line(stderr: bytes) -> str:
    lines = stderr.decode("utf-8", "replace").strip().splitlines()
    return printable(lines[-1]) if lines else ""


def _lines(output: bytes, count: int) -> list[str]:
    lines = output.decode("utf-8", "surrogateescape").split("\n")
    return (lines + [""] * count)[:count]


def _resolve(ref: str) -> str:
    """The tree of the commit `ref` names, as an object id (what ls-tree is given)."""
    try:
        found = _git("rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{tree}}")
    except UsageError as error:
        if "not in a git repository" in str(error):
            raise
        raise UsageError(
            f"--base-ref {printable(ref)}: no such commit in this repository (a branch must be "
            "fetched first: actions/checkout with fetch-depth: 0, or git fetch origin BRANCH)"
        ) from None
    return found.decode("ascii").strip()


def _in_repository(path: str, top: str, prefix: str) -> str:
    """`path` (relative to the current folder, or absolute) relative to the repository's top."""
    if os.path.isabs(path):
        inside = os.path.relpath(os.path.normpath(path), top)
    else:
        inside = posixpath.normpath(posixpath.join(prefix, path.replace(os.sep, "/")))
    if inside == ".." or inside.startswith("../"):
        raise UsageError(f"--base-ref: {printable(path)} is outside the git repository at {top}")
    return inside


def _entries(listing: bytes) -> list[_Entry]:
    """`ls-tree -r -z -l` lines: `mode type oid size<TAB>name`, NUL-terminated."""
    entries = []
    for line in listing.split(b"\0"):
        if not line:
            continue
        head, _, name = line.partition(b"\t")
        mode, _kind, oid, size = head.decode("ascii").split(maxsplit=3)
        length = int(size) if size.strip().isdigit() else -1
        entries.append(_Entry(mode, oid, length, name.decode("utf-8", "surrogateescape")))
    return entries


def _write(folder: str, entries: list[_Entry], limit: int) -> list[Problem]:
    """Write what discovery needs of `entries` under `folder`; a Problem per name refused."""
    problems = []
    wanted: list[_Entry] = []
    for entry in entries:
        parts = entry.name.split("/")
        if any(part in ("", ".", "..") for part in parts):
            where = Location(printable(os.path.join(folder, entry.name)), 1, 1)
            problems.append(Problem(where, "refused: a path in git with a '..', '.' or empty part"))
        elif entry.mode == _SUBMODULE:
            continue  # as an uninitialised submodule on disk: an empty folder
        elif entry.mode == _LINK or entry.name.endswith(_SUFFIXES):
            wanted.append(entry)
    small = [e for e in wanted if e.mode == _LINK or 0 <= e.size <= limit]
    blobs = _blobs({entry.oid for entry in small})
    for entry in wanted:
        path = os.path.join(folder, entry.name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if entry.mode == _LINK:
            os.symlink(os.fsdecode(blobs[entry.oid]), path)
        elif entry.oid in blobs and entry.size <= limit:
            with open(path, "xb") as file:
                file.write(blobs[entry.oid])
        else:  # over the limit: never read; discovery refuses a file this size, unread
            with open(path, "xb") as file:
                file.truncate(limit + 1)
    return problems


def _blobs(oids: set[str]) -> dict[str, bytes]:
    """The bytes of each blob, from one `git cat-file --batch`."""
    if not oids:
        return {}
    ordered = sorted(oids)
    try:
        done = subprocess.run(
            ["git", "cat-file", "--batch"],
            input="".join(oid + "\n" for oid in ordered).encode("ascii"),
            capture_output=True,
            env={**os.environ, **_ENV},
            check=False,
        )
    except OSError as error:
        raise UsageError(f"--base-ref: cannot run git: {error.strerror or error}") from None
    if done.returncode != 0:
        raise UsageError("--base-ref: git cat-file failed")
    out, at, blobs = done.stdout, 0, {}
    for oid in ordered:
        end = out.index(b"\n", at)
        header = out[at:end].split()
        if len(header) != 3:
            raise UsageError(f"--base-ref: git has no object {oid}")
        size = int(header[2])
        blobs[oid] = out[end + 1 : end + 1 + size]
        at = end + 1 + size + 1
    return blobs


def _move(path: str, moves: list[tuple[str, str]]) -> str | None:
    for temporary, given in moves:
        if path == temporary or path.startswith(temporary + "/"):
            return (given if given != "/" else "") + path[len(temporary) :]
    return None


def _relocated(desired: Desired, moves: list[tuple[str, str]]) -> Desired:
    """Each declaration located at its path as given, not in the temporary folder; the paths
    of 100,000 declarations are a few files, each worked out once."""
    known: dict[str, str] = {}
    moved = {}
    for key, entry in desired.items():
        path = entry.location.path
        new = known.get(path)
        if new is None:
            new = known[path] = _move(path, moves) or path
        moved[key] = entry._replace(location=entry.location._replace(path=new))
    return moved


def _moved_problem(
    problem: Problem, moves: list[tuple[str, str]], folder: str, ref: str
) -> Problem:
    path = problem.location.path
    new = _move(path, moves)
    if new is None:
        shown = printable(folder) + "/"
        new = path[len(shown) :] if path.startswith(shown) else path
    message = problem.message.replace(printable(folder) + "/", "")
    return Problem(problem.location._replace(path=f"{printable(ref)}:{new}"), message)
