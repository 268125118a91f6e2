"""Hostile inputs, "What is printed" (docs/hostile-inputs.md): ids, values and COR's messages
that would act on a terminal (set its title, clear it, ring it, reorder or hide text), forge a
line, or break out of a Markdown comment or of the fence a workflow pastes a log into.

Other areas refuse such ids and names in manifests; these rows check the output side, so they
build plans and audits from core values (every renderer at once), or bring the text in where no
input check stands: COR's answers. Each row asserts `assert_clean` (no raw
unsafe character anywhere), the line structure (as many lines as with a plain stand-in), fences
that nothing closes early, and JSON that still holds the exact value.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from reconciler.core.audit import Audit, audit_offline, build_audit
from reconciler.core.drift import Answer, Gone, Unread, audit_drift
from reconciler.core.plan import Plan, build_plan
from reconciler.core.resources import ResourceKey
from reconciler.core.text import printable
from reconciler.output.audit_json import render_audit_json
from reconciler.output.audit_markdown import render_audit_markdown
from reconciler.output.audit_text import render_audit_text
from reconciler.output.plan_json import render_json
from reconciler.output.plan_markdown import render_markdown
from reconciler.output.plan_text import render_text
from tests.builders import declared, desired_of, key, recorded, state_of
from tests.harness import Cli, QuietHandler, RunningEmulator, WorkFolder, serving
from tests.hostile.checks import assert_clean
from tests.paths import ROOT
from tests.samples import SALESFORCE

SF = "SALESFORCE"
MARK = "ZQX"  # in every hostile text: where it shows, the text shows
PLAIN = {"ident": "ID-1", "value": "Value", "message": "503 ServiceUnavailableError"}
SHOWN_IN = {"ident": ("plan", "audit", "keys"), "value": ("plan", "audit"), "message": ("audit",)}


# --- Every renderer, from core values -------------------------------------------------------


def _plan_and_audit(ident: str, value: str, message: str) -> tuple[Plan, Audit, list[ResourceKey]]:
    """`ident` as an id, a reference and a source; `value` as a name, a description and COR's
    name; `message` as COR's answer to a read: in every line shape of the plan and the audit."""
    desired = desired_of(
        declared("client", SF, ident, name=value, description=value),
        declared("client", SF, "C-2", name="Old"),
        declared("brand", SF, ident, name=value, client_id=ident),
    )
    records = state_of(
        recorded("client", SF, ident, 1, name="Old"),
        recorded("client", SF, "C-2", 2, name=value),
        recorded("client", ident, "X", 3, name="Kept"),
        recorded("product", SF, ident, 4, name="P", client_id=ident, brand_id=ident),
    )
    in_doubt = {key("client", ident, "D"), key("brand", SF, ident)}
    plan = build_plan(desired, records, in_doubt)
    answers: dict[ResourceKey, Answer] = {
        key("client", SF, ident): {"id": 1, "name": value},
        key("client", SF, "C-2"): {"id": 2, "name": value},
        key("client", ident, "X"): Gone(),
        key("product", SF, ident): Unread(message),
    }
    drift, errors = audit_drift(records, answers)
    audit = build_audit([*audit_offline(desired, records, in_doubt), *drift], errors, remote=True)
    return plan, audit, [*records, *in_doubt]


def _outputs(ident: str, value: str, message: str) -> dict[str, str]:
    plan, audit, keys = _plan_and_audit(ident, value, message)
    return {
        "plan text": render_text(plan),
        "plan markdown": render_markdown(plan, paths=["manifests"]),
        "plan json": render_json(plan),
        "audit text": render_audit_text(audit),
        "audit markdown": render_audit_markdown(audit, paths=["manifests"]),
        "audit json": render_audit_json(audit),
        "keys": "".join(f"{k}\n" for k in keys),
    }


def _strings(node: object) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for item in node.values():
            yield from _strings(item)
    elif isinstance(node, list):
        for item in node:
            yield from _strings(item)


_OPENING = re.compile(r" {0,3}(`{3,})[^`]*")


def _outside_fences(markdown: str) -> list[str]:
    """The lines of `markdown` outside fenced code blocks (CommonMark: a block ends at a line
    of at least as many backticks and nothing else); fails on a block left open."""
    outside, fence = [], ""
    for line in markdown.splitlines():
        if fence:
            if re.fullmatch(f" {{0,3}}{fence}`*[ \t]*", line):
                fence = ""
        elif match := _OPENING.fullmatch(line):
            fence = match.group(1)
        else:
            outside.append(line)
    assert not fence, "a fence is never closed"
    return outside


def _check_outputs(slot: str, text: str) -> None:
    """`text` in `slot`: every output clean, one line per line, fenced, exact in JSON."""
    outputs = _outputs(**{**PLAIN, slot: text})
    expected = _outputs(**{**PLAIN, slot: MARK})
    for name, output in outputs.items():
        assert_clean(0, output, "", exit_code=0)  # no raw control, bidi or invisible character
        lines, usual = output.splitlines(), expected[name].splitlines()
        assert len(lines) == len(usual), f"{name}: {len(lines)} lines, not {len(usual)}"
        if name.endswith("markdown"):
            assert all(MARK not in line for line in _outside_fences(output)), name
        if name.startswith(SHOWN_IN[slot]):
            assert MARK in output, f"{name}: the text is not shown"
    if slot == "ident":  # addresses escape, and leave the usual id as it is (`printable`)
        assert f"client SALESFORCE/{printable(text)} (cor_id 1)" in outputs["plan text"]
        assert f"client SALESFORCE/{printable(text)}\n" in outputs["keys"]
    assert text in set(_strings(json.loads(outputs["audit json"])))
    if slot != "message":
        assert text in set(_strings(json.loads(outputs["plan json"])))


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(f"{MARK}\x1b]0;pwned\x07", id="id-sets-the-terminal-title"),
        pytest.param(f"{MARK}\x1b[2J\x1b[H", id="id-clears-the-screen"),
        pytest.param(f"{MARK}\nNo changes.\n", id="id-forges-a-line"),
        pytest.param(f"{MARK}\x9b2J\x85", id="id-holds-c1-controls"),
        pytest.param(f"{MARK}\u202etxt.exe\u2066", id="id-reorders-the-line"),
        pytest.param(f"{MARK}\u200b\u2060\ufeff\x7f", id="id-hides-characters"),
        pytest.param(f"{MARK}\u2028No changes.\u2029", id="id-holds-line-separators"),
        pytest.param(f"{MARK}```\n</details>\n<img src=x> | a |", id="id-breaks-out-of-markdown"),
    ],
)
def test_an_id_is_escaped_in_every_output(text: str) -> None:
    _check_outputs("ident", text)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(f"{MARK}\x9b2J\x9d0;pwned\x9c", id="value-holds-c1-controls"),
        pytest.param(f"{MARK}\u202egnp.exe\u2067", id="value-reorders-the-line"),
        pytest.param(f"{MARK}\u200b\u200d\ufeff\x7f", id="value-hides-characters"),
        pytest.param(f"{MARK}\u2028No changes.\x85", id="value-holds-line-separators"),
    ],
)
def test_a_value_is_escaped_in_every_output(text: str) -> None:
    _check_outputs("value", text)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(f"{MARK}\x1b]0;pwned\x07\x1b[2J", id="cor-message-acts-on-the-terminal"),
        pytest.param(f"{MARK}\u202e\x9b2J\u200b", id="cor-message-holds-bidi-and-c1"),
    ],
)
def test_a_message_from_cor_is_escaped_in_every_output(text: str) -> None:
    _check_outputs("message", text)


# --- End to end: the text comes from COR's answers (no input check stands there) -------------

HOSTILE = f"{MARK}\x1b]0;pwned\x07\x1b[2J\x9b2J\u202e\nNo changes.\n"


@pytest.fixture
def applied(work_folder: WorkFolder, emulator_env: RunningEmulator, cli: Cli) -> Path:
    folder = work_folder({"salesforce.yaml": SALESFORCE})
    assert cli("apply", "--auto-approve")[0] == 0
    return folder


def _no_forged_line(out: str) -> None:
    assert "No changes." not in out.splitlines(), out


@pytest.mark.parametrize("name", [pytest.param(HOSTILE, id="cor-name-acts-on-the-terminal")])
def test_a_name_in_cor_is_escaped_in_the_audit(
    applied: Path, emulator: RunningEmulator, cli: Cli, name: str
) -> None:
    emulator.mutate(kind="client", source=SF, id="SF-ACC-2", set={"name": name})
    code, out, err = cli("audit", "--remote")
    assert_clean(code, out, err, exit_code=0, says="\\u001b]0;pwned\\u0007\\u001b[2J\\u009b2J")
    _no_forged_line(out)
    code, out, err = cli("audit", "--remote", "--format", "markdown")
    assert_clean(code, out, err, exit_code=0, says="drift in COR: renamed")
    assert all(MARK not in line for line in _outside_fences(out))
    code, out, err = cli("audit", "--remote", "--format", "json")
    assert_clean(code, out, err, exit_code=0)
    assert name in set(_strings(json.loads(out)))  # the exact value, JSON's own escapes


class _RefusingReadApi(ThreadingHTTPServer):
    """COR's read API answering every read with 400 and `body`: what a hostile or broken
    server may say."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        super().__init__(("127.0.0.1", 0), _Refusal)


class _Refusal(QuietHandler):
    server: _RefusingReadApi

    def do_GET(self) -> None:
        self.answer(400, self.server.body, "application/json")


@pytest.fixture
def refusing() -> Iterator[_RefusingReadApi]:
    body = json.dumps({"name": "Bad\x1b]0;pwned\x07", "message": HOSTILE}).encode()
    server = _RefusingReadApi(body)
    with serving(server):
        yield server


@pytest.mark.parametrize(
    "output_format", [pytest.param("text", id="cor-error-acts-on-the-terminal")]
)
def test_an_error_from_cor_is_escaped_in_the_audit(
    applied: Path, refusing: _RefusingReadApi, cli: Cli, output_format: str
) -> None:
    url = f"http://127.0.0.1:{refusing.server_address[1]}/v1"
    options = ["audit", "--remote", "--read-api-url", url, "--retry-attempts", "1"]
    code, out, err = cli(*options, "--format", output_format)
    assert_clean(code, out, err, exit_code=1, says=["read failed", "\\x1b]0;pwned\\x07"])
    _no_forged_line(out)
    code, out, err = cli(*options, "--format", "markdown")
    assert_clean(code, out, err, exit_code=1, says="read failed")
    assert all(MARK not in line for line in _outside_fences(out))


# --- The example workflows: a log pasted into a fence ------------------------------------------

# What a log may hold: lines that would close a ```text fence, or end the <details> around it.
PASTED = (
    "manifests/x.yaml:1:1: unknown key\n```\n</details>\n\n# Forged heading ZQX\n"
    "````````\n<img src=x> | a | ZQX\n  ```  \n~~~\nlast line ZQX, unfinished"
)
# (file, step, the log the step pastes, what it writes to)
SITES = {
    "plan-summary": ("reconciler-plan.yml", "Plan", None, "summary"),
    "plan-comment-validate": ("reconciler-plan.yml", "Write the comment", "validate.log", "body"),
    "apply-plan-summary": ("reconciler-apply.yml", "Plan", None, "summary"),
    "apply-log-summary": ("reconciler-apply.yml", "Report the apply", "apply.log", "summary"),
}
_FAKES = {
    # prints the hostile log, succeeds; `show --format markdown` prints reconciler's Markdown,
    # whose own escaping is tested with the renderer (tests/golden/markdown-hostile)
    "reconciler": '#!/bin/sh\ncase " $* " in *" --format markdown "*) '
    "printf '<!-- reconciler:plan manifests=m -->\\n### reconciler plan: no changes\\n' ;; "
    '*) cat "$PASTED_FILE" ;; esac\n',
    "git": "#!/bin/sh\necho 0123456789abcdef0123456789abcdef01234567\n",  # rev-parse HEAD
}


def _step_script(file: str, step: str) -> str:
    document = yaml.safe_load((ROOT / "examples" / "github" / file).read_text(encoding="utf-8"))
    for job in document["jobs"].values():
        for each in job["steps"]:
            if each.get("name") == step:
                return str(each["run"])
    raise AssertionError(f"no step {step!r} in {file}")


@pytest.mark.parametrize(
    "site",
    [
        pytest.param("plan-summary", id="pasted-plan-closes-the-summary-fence"),
        pytest.param("plan-comment-validate", id="pasted-validate-log-closes-the-comment-fence"),
        pytest.param("apply-plan-summary", id="pasted-apply-plan-closes-the-summary-fence"),
        pytest.param("apply-log-summary", id="pasted-apply-log-closes-the-summary-fence"),
    ],
)
def test_a_pasted_log_cannot_close_its_fence(site: str, tmp_path: Path) -> None:
    """The step's own script, run by bash as the runner runs it (`bash -eo pipefail`), with
    reconciler and git standing in as commands that print the hostile log."""
    file, step, log, written = SITES[site]
    fakes = tmp_path / "bin"
    fakes.mkdir()
    for command, script in _FAKES.items():
        (fakes / command).write_text(script, encoding="utf-8")
        (fakes / command).chmod(0o755)
    temp = tmp_path / "runner"
    (temp / "reconciler").mkdir(parents=True)
    pasted = tmp_path / "pasted.log"
    pasted.write_text(PASTED, encoding="utf-8")
    if log is not None:
        (temp / "reconciler" / log).write_text(PASTED, encoding="utf-8")
    env = {
        "PATH": f"{fakes}{os.pathsep}{os.environ['PATH']}",
        "PASTED_FILE": str(pasted),
        "RUNNER_TEMP": str(temp),
        "GITHUB_OUTPUT": str(tmp_path / "output"),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
        "MANIFESTS": "manifests",
        "STATE_FILE": "reconciler.state.json",
        "VALIDATE_OUTCOME": "failure",
        "PLAN_OUTCOME": "failure",
        "APPLY_OUTCOME": "failure",
        "EDITS_STATE": "false",
    }
    result = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", _step_script(file, step)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    target = (
        tmp_path / "summary.md" if written == "summary" else temp / "reconciler/comment/body.md"
    )
    markdown = target.read_text(encoding="utf-8")
    assert_clean(result.returncode, markdown, result.stderr, exit_code=0, says=PASTED)
    assert all(MARK not in line for line in _outside_fences(markdown)), markdown
