"""`reconciler validate` (cli/validate_command.py): exit code 3 and every problem on stderr, in
order, for each kind of manifest problem; a count of what is declared when all is well."""

from __future__ import annotations

import json

import pytest

from tests.harness import Cli, Files, WorkFolder
from tests.manifest_problems import PROBLEM_CASES, in_order
from tests.paths import EXAMPLES


@pytest.mark.parametrize(("files", "expected"), PROBLEM_CASES)
def test_validate_prints_each_problem_and_exits_3(
    files: Files, expected: list[str], work_folder: WorkFolder, cli: Cli
) -> None:
    work_folder(files, under="m")
    code, out, err = cli("validate", "m")
    assert code == 3
    assert out == ""
    count = len(expected)
    assert err.splitlines() == [
        *sorted(expected, key=in_order),
        f"error: {count} problem{'s' if count != 1 else ''} found in the manifests",
    ]


def test_validate_counts_what_is_declared(cli: Cli) -> None:
    code, out, _ = cli("validate", str(EXAMPLES))
    assert code == 0
    assert out == "Valid: 5 clients, 7 brands, 26 products.\n"


# --- --format json and github ------------------------------------------------------------------

_PROPERTY_ESCAPES = {"%25": "%", "%0D": "\r", "%0A": "\n", "%3A": ":", "%2C": ","}
_MESSAGE_ESCAPES = {"%25": "%", "%0D": "\r", "%0A": "\n"}


def unescape(text: str, escapes: dict[str, str]) -> str:
    """GitHub's runner's unescaping (ActionCommand): each %XX it knows, left to right."""
    out, i = [], 0
    while i < len(text):
        if text[i] == "%" and text[i : i + 3] in escapes:
            out.append(escapes[text[i : i + 3]])
            i += 3
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def parse_workflow_command(line: str) -> tuple[str, dict[str, str], str]:
    """`::name k=v,k=v::message` → (name, properties, message), unescaped."""
    assert line.startswith("::"), line
    head, separator, message = line[2:].partition("::")
    assert separator, line
    name, _, properties = head.partition(" ")
    pairs = (item.split("=", 1) for item in properties.split(",") if item)
    found = {key: unescape(value, _PROPERTY_ESCAPES) for key, value in pairs}
    return name, found, unescape(message, _MESSAGE_ESCAPES)


def problem_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if not line.startswith("error: ")]


@pytest.mark.parametrize(("files", "expected"), PROBLEM_CASES)
def test_validate_github_annotates_each_problem(
    files: Files, expected: list[str], work_folder: WorkFolder, cli: Cli
) -> None:
    work_folder(files, under="m")
    code, out, err = cli("validate", "m", "--format", "github")
    assert code == 3
    parsed = [parse_workflow_command(line) for line in out.splitlines()]
    assert [name for name, _, _ in parsed] == ["error"] * len(expected)
    rebuilt = [f"{p['file']}:{p['line']}:{p['col']}: {message}" for _, p, message in parsed]
    assert rebuilt == sorted(expected, key=in_order) == problem_lines(err)


@pytest.mark.parametrize(("files", "expected"), PROBLEM_CASES)
def test_validate_json_lists_each_problem(
    files: Files, expected: list[str], work_folder: WorkFolder, cli: Cli
) -> None:
    work_folder(files, under="m")
    code, out, err = cli("validate", "m", "--format", "json")
    assert code == 3
    document = json.loads(out)
    assert (document["format_version"], document["ok"]) == (1, False)
    rebuilt = [f"{p['path']}:{p['line']}:{p['col']}: {p['message']}" for p in document["problems"]]
    assert rebuilt == sorted(expected, key=in_order) == problem_lines(err)
    assert document["counts"] == {
        "problems": len(expected),
        "clients": None,
        "brands": None,
        "products": None,
    }


def test_validate_github_escapes_what_would_end_the_command(
    work_folder: WorkFolder, cli: Cli
) -> None:
    """A file name holding `:` and `,` and a message holding `%`: GitHub's escapes, parsed back."""
    name = "a:b,c%d.yaml"
    work_folder({name: "source: GITHUB\nclients:\n  - {id: '50%', nom: x}\n"}, under="m")
    code, out, err = cli("validate", "m", "--format", "github")
    assert code == 3
    assert out.startswith("::error file=m/a%3Ab%2Cc%25d.yaml,line=")
    parsed = [parse_workflow_command(line) for line in out.splitlines()]
    assert {p["file"] for _, p, _ in parsed} == {f"m/{name}"}
    rebuilt = [f"{p['file']}:{p['line']}:{p['col']}: {message}" for _, p, message in parsed]
    assert rebuilt == problem_lines(err)


def test_the_github_escapes_cover_newlines() -> None:
    from reconciler.errors import Location, Problem
    from reconciler.output.validate_github import render_github

    problem = Problem(Location("x\ny,z:w\r.yaml", 2, 3), "100% wrong:\r\nsee, here")
    out = render_github([problem])
    assert out == "::error file=x%0Ay%2Cz%3Aw%0D.yaml,line=2,col=3::100%25 wrong:%0D%0Asee, here\n"
    assert parse_workflow_command(out.rstrip("\n")) == (
        "error",
        {"file": problem.location.path, "line": "2", "col": "3"},
        problem.message,
    )


def test_validate_json_counts_what_is_declared(cli: Cli) -> None:
    code, out, _ = cli("validate", str(EXAMPLES), "--format", "json")
    assert code == 0
    assert json.loads(out) == {
        "format_version": 1,
        "ok": True,
        "problems": [],
        "counts": {"problems": 0, "clients": 5, "brands": 7, "products": 26},
    }
    code, out, _ = cli("validate", str(EXAMPLES), "--format", "github")
    assert (code, out) == (0, "Valid: 5 clients, 7 brands, 26 products.\n")
