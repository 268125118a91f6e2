"""docs/hostile-inputs.md and tests/hostile/ list the same cases: a row without a test, or a
test without a row, fails here. A case is a `pytest.param(..., id="case-name")` in
tests/hostile/test_*.py and a table row whose first cell is `` `case-name` ``."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from tests.paths import ROOT

HERE = Path(__file__).parent
DOC = ROOT / "docs" / "hostile-inputs.md"
_ROW = re.compile(r"^\| `([^`]+)` \|", re.MULTILINE)


def _tested() -> list[str]:
    cases: list[str] = []
    for path in sorted(HERE.glob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "param":
                for keyword in node.keywords:
                    if keyword.arg == "id" and isinstance(keyword.value, ast.Constant):
                        cases.append(str(keyword.value.value))
    return cases


def _documented() -> list[str]:
    return _ROW.findall(DOC.read_text(encoding="utf-8"))


def test_every_case_is_tested_once_and_documented_once() -> None:
    tested, documented = _tested(), _documented()
    assert len(tested) == len(set(tested)), "a case name is used twice in tests/hostile/"
    assert len(documented) == len(set(documented)), "a case is listed twice in the doc"
    assert set(tested) - set(documented) == set(), "tested, not in docs/hostile-inputs.md"
    assert set(documented) - set(tested) == set(), "in docs/hostile-inputs.md, not tested"


def test_the_check_sees_cases() -> None:
    """The parsers above find rows and params in the shapes the files use."""
    assert _ROW.findall("| `fifo` | a FIFO | 3 | x | y |\n") == ["fifo"]
    sample = ast.parse('pytest.param("x", id="fifo")')
    calls = [n for n in ast.walk(sample) if isinstance(n, ast.Call)]
    assert [keyword.arg for keyword in calls[0].keywords] == ["id"]
