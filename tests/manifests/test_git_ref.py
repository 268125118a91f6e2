"""Reading the manifests at a git ref without a checkout (manifests/git_ref.py), in real
repositories: what is read, where it is located, and every refusal."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from reconciler.core.resources import Desired
from reconciler.errors import ManifestError, UsageError
from reconciler.manifests.git_ref import read_manifests_at, relocated
from reconciler.manifests.reader import read_manifests
from tests.git_repos import ISOLATED, Repo

ACME = "source: SAP\nclients:\n  - {id: C1, name: Acme}\n"
GLOBEX = "source: SAP\nclients:\n  - {id: C2, name: Globex}\n"


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Repo:
    """A repository made the current folder; `main` declares C1 in manifests/a.yaml."""
    for name, value in ISOLATED.items():
        monkeypatch.setenv(name, value)
    made = Repo(tmp_path / "repo")
    made.commit({"manifests/a.yaml": ACME}, "base")
    monkeypatch.chdir(made.root)
    return made


def ids(desired: Desired) -> list[str]:
    return sorted(key.id for key in desired)


def test_reads_the_ref_not_the_working_tree(repo: Repo) -> None:
    repo.git("checkout", "-q", "-b", "pr")
    repo.commit({"manifests/b.yaml": GLOBEX})
    (repo.root / "manifests" / "c.yaml").write_text("not: [valid", encoding="utf-8")
    before = repo.git("status", "--porcelain")
    desired = read_manifests_at("main", ["manifests"])
    assert ids(desired) == ["C1"]
    (entry,) = desired.values()
    assert entry.location.path == "manifests/a.yaml"  # as the pull request's own are located
    assert repo.git("status", "--porcelain") == before
    assert repo.git("rev-parse", "--abbrev-ref", "HEAD").strip() == "pr"


def test_locations_match_the_working_trees(repo: Repo) -> None:
    repo.commit({"manifests/sub/b.yaml": GLOBEX})
    at_ref = read_manifests_at("HEAD", ["./manifests/"])
    on_disk = read_manifests(["./manifests/"])
    assert {k: d.location for k, d in at_ref.items()} == {k: d.location for k, d in on_disk.items()}


def test_paths_are_relative_to_the_current_folder(
    repo: Repo, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo.commit({"sub/dir/keep.txt": "x"})
    monkeypatch.chdir(repo.root / "sub" / "dir")
    desired = read_manifests_at("main", ["../../manifests"])
    assert [d.location.path for d in desired.values()] == ["../../manifests/a.yaml"]
    absolute = read_manifests_at("main", [str(repo.root / "manifests")])
    assert ids(absolute) == ["C1"]


def test_a_path_missing_at_the_ref_declares_nothing(repo: Repo) -> None:
    assert read_manifests_at("main", ["elsewhere"]) == {}


def test_the_manifests_problems_are_located_at_the_ref(repo: Repo) -> None:
    repo.commit({"manifests/a.yaml": "source: SAP\nclients:\n  - {id: C1}\n"})
    with pytest.raises(ManifestError) as raised:
        read_manifests_at("main", ["manifests"])
    (problem,) = raised.value.problems
    assert str(problem).startswith("main:manifests/a.yaml:3:")


@pytest.mark.parametrize(
    ("ref", "paths", "says"),
    [
        pytest.param("nope", ["manifests"], "--base-ref nope: no such commit", id="unknown-ref"),
        pytest.param("--output=x", ["manifests"], "refused '--output=x'", id="option-like-ref"),
        pytest.param("main", ["--exec=x"], "refused '--exec=x'", id="option-like-path"),
        pytest.param("", ["manifests"], "may not be empty", id="empty-ref"),
        pytest.param("main", ["../outside"], "outside the git repository", id="outside"),
    ],
)
def test_refuses(repo: Repo, ref: str, paths: list[str], says: str) -> None:
    with pytest.raises(UsageError, match=None) as raised:
        read_manifests_at(ref, paths)
    assert says in str(raised.value)
    assert raised.value.exit_code == 3


def test_not_a_git_repository(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UsageError, match="not in a git repository"):
        read_manifests_at("main", ["manifests"])


def test_git_missing(repo: Repo, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(UsageError, match="git is not installed"):
        read_manifests_at("main", ["manifests"])


def test_relocated_names_the_paths_a_folder_stands_for(tmp_path: Path) -> None:
    (tmp_path / "base" / "m").mkdir(parents=True)
    (tmp_path / "base" / "m" / "a.yaml").write_text(ACME, encoding="utf-8")
    read = read_manifests([str(tmp_path / "base" / "m") + os.sep])
    moved = relocated(read, [(str(tmp_path / "base" / "m") + os.sep, "manifests")])
    assert [d.location.path for d in moved.values()] == ["manifests/a.yaml"]
