"""Real git repositories in a test's folder, for `plan --base-ref` (manifests/git_ref.py).

git runs as a real process with no global or system configuration (the author is given with
`-c`), so the user's home and settings never matter. `Repo.tree_commit` builds commits git's
porcelain refuses (a `..` entry, a submodule without a .gitmodules) through `mktree`.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.harness import Files, write_files

ISOLATED = {"GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
_AUTHOR = ("-c", "user.name=Test", "-c", "user.email=test@example.invalid")


class Repo:
    """A git repository at `root` whose first branch is `main`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.git("init", "-q", "-b", "main")

    def git(self, *args: str, stdin: bytes | None = None) -> str:
        done = subprocess.run(
            ["git", *_AUTHOR, *args],
            cwd=self.root,
            input=stdin,
            capture_output=True,
            env={**os.environ, **ISOLATED},
            check=True,
        )
        return done.stdout.decode("utf-8", "surrogateescape")

    def commit(self, files: Files, message: str = "change") -> str:
        """Write `files` (relative to the root), commit everything; the commit's id."""
        write_files(self.root, files)
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message)
        return self.git("rev-parse", "HEAD").strip()

    def blob(self, data: bytes) -> str:
        return self.git("hash-object", "-w", "--stdin", stdin=data).strip()

    def tree(self, entries: list[tuple[str, str, str]]) -> str:
        """A tree of (mode, object id, name) entries, names as given (mktree -z)."""
        lines = b"".join(
            f"{mode} {'tree' if mode == '040000' else 'commit' if mode == '160000' else 'blob'} "
            f"{oid}\t".encode()
            + name.encode("utf-8", "surrogateescape")
            + b"\0"
            for mode, oid, name in entries
        )
        return self.git("mktree", "-z", stdin=lines).strip()

    def tree_commit(self, tree: str, branch: str) -> str:
        """A commit of `tree` on a new `branch`; the working tree is left as it is."""
        commit = self.git("commit-tree", "-m", "crafted", tree).strip()
        self.git("branch", branch, commit)
        return commit
