"""End to end: a pull request's plan separates what it introduces from what is already pending
on its base branch (`plan --base-ref`, `--base-paths`; docs/plan-markdown.md).

A real git repository: `main` was applied (C1, C2 in COR and the state), then gained a backlog
that was never applied (C1 renamed, C3 added); the pull request branch adds its own changes
(C2 renamed, C4 added). Planned from the pull request's working tree against the state.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.git_repos import ISOLATED, Repo
from tests.harness import Cli, RunningEmulator

APPLIED = """\
source: SALESFORCE
clients:
  - {id: C1, name: Acme}
  - {id: C2, name: Globex}
"""
BACKLOG = APPLIED.replace("name: Acme}", "name: Acme Corp}") + "  - {id: C3, name: Initech}\n"
PULL_REQUEST = BACKLOG.replace("name: Globex}", "name: Globex Inc}") + (
    "  - {id: C4, name: Umbrella}\n"
)
OURS = [("update", "C2"), ("create", "C4")]
PENDING = [("update", "C1"), ("create", "C3")]
PENDING_HEADING = "Already pending on the base branch (not introduced by this pull request)"


@pytest.fixture
def repo(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, emulator_env: RunningEmulator, cli: Cli
) -> Repo:
    """The repository, at the pull request's branch, made the current folder."""
    for name, value in ISOLATED.items():
        monkeypatch.setenv(name, value)
    made = Repo(tmp_path / "repo")
    monkeypatch.chdir(made.root)
    made.commit({".gitignore": "reconciler.state.json\n", "manifests/clients.yaml": APPLIED})
    code, _, err = cli("apply", "--auto-approve", "--parallelism", "1")  # COR ids in order: goldens
    assert code == 0, err
    made.commit({"manifests/clients.yaml": BACKLOG}, "merged, never applied")
    made.git("checkout", "-q", "-b", "pr")
    made.commit({"manifests/clients.yaml": PULL_REQUEST}, "the pull request")
    return made


def parts(document: dict[str, object]) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    changes = document["changes"]
    assert isinstance(changes, list)
    ours = [(c["action"], c["id"]) for c in changes if not c["pending_on_base"]]
    pending = [(c["action"], c["id"]) for c in changes if c["pending_on_base"]]
    return ours, pending


def test_json_and_markdown_separate_the_pull_request_from_the_backlog(
    repo: Repo, cli: Cli, golden: Callable[[str, str], None]
) -> None:
    code, out, err = cli("plan", "--base-ref", "main", "--format", "json")
    assert code == 0, err
    assert parts(json.loads(out)) == (OURS, PENDING)

    code, markdown, err = cli("plan", "--base-ref", "main", "--format", "markdown")
    assert code == 0, err
    ours, pending = markdown.split(f"#### {PENDING_HEADING}")
    assert "#### Changes this pull request makes" in ours
    assert "SALESFORCE/C2" in ours
    assert "SALESFORCE/C4" in ours
    assert "SALESFORCE/C1" not in ours
    assert "SALESFORCE/C3" not in ours
    assert "SALESFORCE/C1" in pending
    assert "SALESFORCE/C3" in pending
    assert "SALESFORCE/C2" not in pending
    assert "SALESFORCE/C4" not in pending
    assert "**This pull request**: 1 to create, 1 to update, 0 to delete." in markdown
    golden("pr-plans/plan.md", markdown)

    code, text, err = cli("plan", "--base-ref", "main", "--no-color")
    assert code == 0, err
    assert text.index("SALESFORCE/C4") < text.index(PENDING_HEADING) < text.index("SALESFORCE/C3")
    assert "Plan: 2 to create, 2 to update, 0 to delete." in text
    golden("pr-plans/plan.txt", text)


def test_base_paths_on_disk_give_the_same_plan(repo: Repo, cli: Cli, tmp_path: Path) -> None:
    base = tmp_path / "base" / "manifests"
    base.mkdir(parents=True)
    (base / "clients.yaml").write_text(repo.git("show", "main:manifests/clients.yaml"))
    at_ref = cli("plan", "--base-ref", "main", "--format", "json")
    on_disk = cli("plan", "--base-paths", str(base), "--format", "json", "manifests")
    assert on_disk == at_ref
    assert parts(json.loads(on_disk[1])) == (OURS, PENDING)


def test_without_a_base_nothing_changes_but_the_field(repo: Repo, cli: Cli) -> None:
    """No section, no line more: the text and Markdown plans as before; in JSON every change
    says `pending_on_base: false`. A base with nothing pending prints the same."""
    plain = {fmt: cli("plan", "--format", fmt) for fmt in ("text", "markdown", "json")}
    for fmt in ("text", "markdown"):
        assert "pending" not in plain[fmt][1].lower()
    assert parts(json.loads(plain["json"][1])) == (sorted(PENDING + OURS, key=_order), [])
    for fmt in ("text", "markdown", "json"):
        assert cli("plan", "--format", fmt, "--base-ref", "pr") != plain[fmt]  # all pending
        assert cli("plan", "--format", fmt, "--base-ref", "main~1") == plain[fmt]  # none


def _order(change: tuple[str, str]) -> str:
    return change[1]


def test_a_base_that_does_not_validate_marks_nothing(repo: Repo, cli: Cli) -> None:
    repo.git("branch", "broken", "main")
    repo.git("checkout", "-q", "broken")
    repo.commit({"manifests/clients.yaml": BACKLOG + "  - {id: C5}\n"}, "broken")
    repo.git("checkout", "-q", "pr")
    code, out, err = cli("plan", "--base-ref", "broken", "--format", "json")
    assert code == 0, err
    assert "warning: the base's manifests (broken) have 1 problem(s)" in err
    assert 'broken:manifests/clients.yaml:6:5: this client has no "name"' in err
    assert parts(json.loads(out))[1] == []


@pytest.mark.parametrize(
    ("args", "says"),
    [
        pytest.param(("--base-ref", "nope"), "--base-ref nope: no such commit", id="unknown-ref"),
        pytest.param(
            ("--base-ref", "main", "--base-paths", "x"), "give one or the other", id="both"
        ),
        pytest.param(("--base-paths", "a", "--base-paths", "b"), "2 given for 1", id="count"),
    ],
)
def test_refusals_exit_3(repo: Repo, cli: Cli, args: tuple[str, ...], says: str) -> None:
    code, _, err = cli("plan", *args)
    assert code == 3
    assert says in err
    assert "Traceback" not in err


def test_the_working_tree_and_head_are_untouched(repo: Repo, cli: Cli) -> None:
    (repo.root / "manifests" / "clients.yaml").write_text(PULL_REQUEST + "# edited\n")
    before = repo.git("status", "--porcelain=v1", "--branch")
    assert cli("plan", "--base-ref", "main")[0] == 0
    assert repo.git("status", "--porcelain=v1", "--branch") == before
    assert repo.git("stash", "list") == ""


def test_a_saved_plan_shows_both_parts(repo: Repo, cli: Cli, tmp_path: Path) -> None:
    """`plan --base-ref --out` then `show`: the same two parts (the plan-once workflow)."""
    saved = str(tmp_path / "plan.json")
    for fmt in ("text", "markdown", "json"):
        planned = cli("plan", "--base-ref", "main", "--format", fmt, "--out", saved)
        assert planned[0] == 0, planned[2]
        shown = cli("show", saved, "--format", fmt)
        assert shown[:2] == planned[:2]


def test_a_plan_saved_with_a_base_applies(repo: Repo, cli: Cli, tmp_path: Path) -> None:
    saved = str(tmp_path / "plan.json")
    assert cli("plan", "--base-ref", "main", "--out", saved)[0] == 0
    code, _, err = cli("apply", "--plan", saved)
    assert code == 0, err
