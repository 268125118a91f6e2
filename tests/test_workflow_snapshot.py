"""The example workflows' state-store option, run for real: the apply's step that publishes the
store's snapshot (`reconciler state pull`, a commit on the snapshot branch) and the pull
request's step that reads it, each run by bash as the runner runs it, with the real
`reconciler`, real git (a bare repository stands for GitHub) and, for the stores, the test
suite's PostgreSQL and SeaweedFS. The step's environment is built from the workflow's own
`env:` blocks, so a credential missing there fails here. docs/github-actions.md describes it.
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from reconciler.state.codec import State, render_state
from tests.builders import recorded, state_of
from tests.servers.postgres import RunningPostgres
from tests.servers.seaweed import S3Server

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "github"
APPLY, PLAN = "reconciler-apply.yml", "reconciler-plan.yml"
PUBLISH, READ = "Publish the state snapshot", "Read the state to plan against"
BRANCH = "reconciler-state-snapshot"
LINEAGE = "0123456789abcdef0123456789abcdef"
APPLIED = "a" * 40
# The values of the expressions the two steps use, other than vars.* and secrets.*.
EXPRESSIONS = {
    "github.server_url": "https://github.example",
    "github.repository": "acme/manifests",
    "github.run_id": "4242",
    "github.base_ref": "main",
    "steps.plan.outputs.sha": APPLIED,
}
_EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


def _state(serial: int) -> bytes:
    records = state_of(recorded("client", "SAP", "C1", 11 + serial, name="One"))
    return render_state(State(LINEAGE, serial, MappingProxyType(records)))


def _step(file: str, name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The workflow document and its step called `name`."""
    document = yaml.safe_load((EXAMPLES / file).read_text(encoding="utf-8"))
    for job in document["jobs"].values():
        for step in job["steps"]:
            if step.get("name") == name:
                return document, step
    raise AssertionError(f"no step {name!r} in {file}")


def _value(text: str, given: dict[str, str], head_sha: str) -> str:
    """An env value with its expressions replaced: vars.X and secrets.X from `given` (unset:
    empty, as on GitHub), the rest from EXPRESSIONS (an unknown one fails the test)."""

    def one(match: re.Match[str]) -> str:
        expression = match.group(1)
        scope, _, name = expression.partition(".")
        if scope in ("vars", "secrets"):
            return given.get(name, "")
        if expression == "github.event.pull_request.head.sha":
            return head_sha
        return EXPRESSIONS[expression]

    return _EXPRESSION.sub(one, str(text))


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args],
        cwd=cwd,
        env=_base_env(cwd.parent),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.strip()


def _base_env(home: Path) -> dict[str, str]:
    """No user or system git configuration, the venv's reconciler first on PATH."""
    return {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "HOME": str(home),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_AUTHOR_NAME": "dev",
        "GIT_AUTHOR_EMAIL": "dev@example.com",
        "GIT_COMMITTER_NAME": "dev",
        "GIT_COMMITTER_EMAIL": "dev@example.com",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "LANG": "C.UTF-8",
    }


class Repository:
    """A bare `origin` with `main` (manifests, and optionally a committed state file), and a
    full clone of it: the runner's checkout."""

    def __init__(self, root: Path, committed_state: bytes | None = None) -> None:
        self.root = root
        self.origin = root / "origin.git"
        seed = root / "seed"
        _git_init = ["init", "--quiet", "--initial-branch", "main"]
        _git(root, *_git_init, "--bare", str(self.origin))
        _git(root, *_git_init, str(seed))
        (seed / "manifests").mkdir()
        (seed / "manifests" / "clients.yaml").write_text("clients: []\n", encoding="utf-8")
        if committed_state is not None:
            (seed / "reconciler.state.json").write_bytes(committed_state)
        _git(seed, "add", "-A")
        _git(seed, "commit", "--quiet", "-m", "manifests")
        _git(seed, "push", "--quiet", str(self.origin), "main")

    def checkout(self, name: str) -> Path:
        folder = self.root / name
        _git(self.root, "clone", "--quiet", str(self.origin), str(folder))
        return folder

    def snapshot(self) -> str | None:
        """The snapshot branch's commit on origin, None if there is no such branch."""
        found = _git(self.origin, "for-each-ref", "--format=%(objectname)", f"refs/heads/{BRANCH}")
        return found or None

    def show(self, revision: str) -> bytes:
        return subprocess.run(
            ["git", "show", revision],
            cwd=self.origin,
            capture_output=True,
            check=True,
            timeout=60,
        ).stdout


def _run(
    file: str, name: str, checkout: Path, given: dict[str, str]
) -> tuple[subprocess.CompletedProcess[str], dict[str, str], str]:
    """Run the step in `checkout`; (the result, its outputs, its job summary)."""
    document, step = _step(file, name)
    temp = checkout.parent / f"runner-{checkout.name}"
    (temp / "reconciler").mkdir(parents=True, exist_ok=True)
    output, summary = temp / "output", temp / "summary.md"
    env = _base_env(checkout.parent) | {
        "RUNNER_TEMP": str(temp),
        "GITHUB_OUTPUT": str(output),
        "GITHUB_STEP_SUMMARY": str(summary),
    }
    head = _git(checkout, "rev-parse", "HEAD")
    for block in (document.get("env", {}), step.get("env", {})):
        env |= {key: _value(value, given, head) for key, value in block.items()}
    result = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
        cwd=checkout,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    lines = output.read_text(encoding="utf-8").splitlines() if output.exists() else []
    outputs = dict(line.split("=", 1) for line in lines)
    return result, outputs, summary.read_text(encoding="utf-8") if summary.exists() else ""


def test_the_apply_publishes_the_state_as_fast_forward_commits(tmp_path: Path) -> None:
    """RECONCILER_STATE names the state (here a file outside the checkout: `state pull` reads
    every store alike): nothing yet, then serial 3, unchanged, then serial 4."""
    repository = Repository(tmp_path)
    checkout = repository.checkout("apply")
    stored = tmp_path / "store" / "state.json"
    stored.parent.mkdir()
    given = {"RECONCILER_STATE": str(stored)}

    result, _, _ = _run(APPLY, PUBLISH, checkout, given)
    assert result.returncode == 0, result.stderr
    assert "holds no state yet" in result.stdout
    assert repository.snapshot() is None

    stored.write_bytes(_state(3))
    result, _, summary = _run(APPLY, PUBLISH, checkout, given)
    assert result.returncode == 0, result.stderr
    first = repository.snapshot()
    assert first is not None
    assert repository.show(f"{first}:reconciler.state.json") == _state(3)
    assert _git(repository.origin, "rev-list", "--parents", "-n", "1", first) == first  # orphan
    message = _git(repository.origin, "log", "-1", "--format=%B", first)
    assert "serial 3" in message
    assert (
        f"apply run for {APPLIED[:12]}: https://github.example/acme/manifests/actions/runs/4242"
        in (message)
    )
    assert f"Serial 3, published as `{first}`" in summary

    result, _, _ = _run(APPLY, PUBLISH, checkout, given)
    assert result.returncode == 0, result.stderr
    assert repository.snapshot() == first  # the store did not change: no commit

    stored.write_bytes(_state(4))
    result, _, _ = _run(APPLY, PUBLISH, checkout, given)
    assert result.returncode == 0, result.stderr
    second = repository.snapshot()
    assert second not in (None, first)
    assert _git(repository.origin, "rev-list", "--parents", "-n", "1", str(second)).split() == [
        str(second),
        first,
    ]  # a fast-forward: the earlier snapshot is its parent
    assert repository.show(f"{second}:reconciler.state.json") == _state(4)


def test_a_failed_pull_publishes_nothing_and_fails_the_step(tmp_path: Path) -> None:
    """Only "no state yet" is a quiet exit 3: an invalid state, or a store out of reach, fails
    the step (and so the job), and the snapshot stays as it was."""
    repository = Repository(tmp_path)
    checkout = repository.checkout("apply")
    broken = tmp_path / "state.json"
    broken.write_text("{not json", encoding="utf-8")
    result, _, _ = _run(APPLY, PUBLISH, checkout, {"RECONCILER_STATE": str(broken)})
    assert result.returncode == 3
    assert "::error::reconciler state pull failed (exit 3)" in result.stdout
    unreachable = "postgresql://nobody@127.0.0.1:1/none?connect_timeout=2"
    result, _, _ = _run(APPLY, PUBLISH, checkout, {"RECONCILER_STATE": unreachable})
    assert result.returncode == 1
    assert "::error::reconciler state pull failed (exit 1)" in result.stdout
    assert repository.snapshot() is None
    assert not list((checkout.parent / "runner-apply").rglob("*.json"))  # nothing half written


def test_a_pull_request_plans_against_the_published_snapshot(tmp_path: Path) -> None:
    """The snapshot wins over the (stale) state file still committed on the base branch."""
    repository = Repository(tmp_path, committed_state=_state(1))
    stored = tmp_path / "state.json"
    stored.write_bytes(_state(5))
    result, _, _ = _run(
        APPLY, PUBLISH, repository.checkout("apply"), {"RECONCILER_STATE": str(stored)}
    )
    assert result.returncode == 0, result.stderr
    commit = repository.snapshot()

    result, outputs, _ = _run(PLAN, READ, repository.checkout("pull-request"), {})
    assert result.returncode == 0, result.stderr
    assert Path(outputs["state"]).read_bytes() == _state(5)
    assert outputs["against"].startswith(
        f"the state snapshot of serial 5 (`{BRANCH}` at {commit}, published "
    )
    assert outputs["edits-state"] == "false"


def test_without_a_snapshot_the_pull_request_plans_against_the_base_branch(
    tmp_path: Path,
) -> None:
    """The default, unchanged: no snapshot branch, the state file on the base branch."""
    repository = Repository(tmp_path, committed_state=_state(2))
    checkout = repository.checkout("pull-request")
    result, outputs, _ = _run(PLAN, READ, checkout, {})
    assert result.returncode == 0, result.stderr
    assert Path(outputs["state"]).read_bytes() == _state(2)
    base = _git(checkout, "rev-parse", "origin/main")
    assert outputs["against"] == f"`reconciler.state.json` as it stands on `main` now ({base})"


def test_a_snapshot_that_is_not_a_state_fails_the_plan(tmp_path: Path) -> None:
    repository = Repository(tmp_path)
    forged = repository.checkout("forger")
    _git(forged, "checkout", "--quiet", "--orphan", BRANCH)
    _git(forged, "rm", "-r", "--quiet", "--cached", ".")
    (forged / "reconciler.state.json").write_text('{"serial": "1\\nagainst=x"}', encoding="utf-8")
    _git(forged, "add", "reconciler.state.json")
    _git(forged, "commit", "--quiet", "-m", "forged")
    _git(forged, "push", "--quiet", "origin", BRANCH)
    result, outputs, _ = _run(PLAN, READ, repository.checkout("pull-request"), {})
    assert result.returncode == 1
    assert "is not a state file" in result.stdout
    assert "against" not in outputs


def test_the_snapshot_of_a_postgresql_state(tmp_path: Path, postgres: RunningPostgres) -> None:
    """The workflow's env as written (PGPASSWORD and the AWS names empty: trust auth here)."""
    database = postgres.create_database(f"snapshot_{secrets.token_hex(4)}")
    url = f"{database.url}?state=agency-a"
    _publish_from_store(tmp_path, {"RECONCILER_STATE": url})


def test_the_snapshot_of_an_s3_state(tmp_path: Path, s3: S3Server) -> None:
    """The workflow's env as written: the keys are secrets, the endpoint and region variables."""
    bucket = f"snapshot-{secrets.token_hex(4)}"
    s3.client().create_bucket(Bucket=bucket)
    given = {
        "RECONCILER_STATE": f"s3://{bucket}/agency-a/state.json",
        "AWS_ACCESS_KEY_ID": s3.access_key,
        "AWS_SECRET_ACCESS_KEY": s3.secret_key,
        "AWS_ENDPOINT_URL": s3.endpoint_url,
        "AWS_REGION": s3.region,
    }
    _publish_from_store(tmp_path, given)


def _publish_from_store(tmp_path: Path, given: dict[str, str]) -> None:
    """Push a state file into the store with the same environment, publish, compare bytes."""
    repository = Repository(tmp_path)
    checkout = repository.checkout("apply")
    source = tmp_path / "source.json"
    source.write_bytes(_state(9))
    _, push = _step(APPLY, PUBLISH)
    env = _base_env(tmp_path) | {
        key: _value(value, given, "") for key, value in push["env"].items()
    }
    pushed = subprocess.run(
        ["reconciler", "state", "push", "--state", given["RECONCILER_STATE"], str(source)],
        cwd=checkout,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert pushed.returncode == 0, pushed.stderr
    result, _, _ = _run(APPLY, PUBLISH, checkout, given)
    assert result.returncode == 0, result.stderr
    commit = repository.snapshot()
    assert commit is not None
    assert repository.show(f"{commit}:reconciler.state.json") == _state(9)
