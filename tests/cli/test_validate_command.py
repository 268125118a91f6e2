"""`reconciler validate` (cli/validate_command.py): exit code 3 and every problem on stderr, in
order, for each kind of manifest problem; a count of what is declared when all is well."""

from __future__ import annotations

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
