"""The layers of the package, enforced: which folder may import which (docs/architecture.md).

Every `import` in `reconciler/`, at the top of a module or inside a function, is read from the
source (ast) and checked against the rules below; a new import that crosses a layer fails here
with the module, the line and the rule. The start-up tests check that a command imports what it
needs only: `--version` no third-party library but click, `validate` and a `plan` in which no
record differs no pydantic, httpx or deepdiff.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "reconciler"
STDLIB = frozenset(sys.stdlib_module_names) | {"__future__"}

# Which of reconciler's modules each part of the package may import: a name ending in "." is a
# folder (anything below it), any other a module (and what it defines). Third-party libraries:
# ONLY_IN below. The standard library: anywhere.
SHARED = ("reconciler.errors",)
VERSION = "reconciler.__version__"
EDGE_SHARED = ("reconciler.errors", "reconciler.files", "reconciler.memory", "reconciler.core.")
RULES: dict[str, tuple[str, ...]] = {
    "reconciler/__init__.py": (),
    "reconciler/__main__.py": ("reconciler.cli",),
    "reconciler/errors.py": (),
    "reconciler/files.py": SHARED,
    "reconciler/memory.py": (),
    "reconciler/core/": (*SHARED, "reconciler.core.", VERSION),
    "reconciler/manifests/": (*EDGE_SHARED, "reconciler.manifests.", VERSION),
    "reconciler/state/": (*EDGE_SHARED, "reconciler.state."),
    "reconciler/cor/": (*SHARED, "reconciler.core.", "reconciler.cor.", VERSION),
    "reconciler/actions/": (
        *SHARED,
        "reconciler.core.",
        "reconciler.actions.",
        "reconciler.cor.endpoints",  # plain request values
        "reconciler.cor.answers",  # reading COR's answers: no HTTP
    ),
    "reconciler/output/": (
        *SHARED,
        "reconciler.core.",
        "reconciler.output.",
        "reconciler.actions.outcomes",  # plain values
    ),
    "reconciler/cli/": ("reconciler.",),
    "reconciler/emulator/": ("reconciler.emulator.", "reconciler.core.resources"),
}
# Each third-party library has one home (the house style's edges); no other may be imported.
ONLY_IN: dict[str, tuple[str, ...]] = {
    "click": ("reconciler/cli/",),
    "httpx": ("reconciler/cor/client.py",),
    "yaml": (
        "reconciler/manifests/reader.py",
        "reconciler/manifests/walker.py",
        "reconciler/manifests/composer.py",
    ),
    "deepdiff": ("reconciler/core/diff.py",),
    "pydantic": (
        "reconciler/core/saved_plan.py",
        "reconciler/manifests/schema.py",
        "reconciler/manifests/problems.py",
        "reconciler/state/",
    ),
    "pydantic_core": ("reconciler/manifests/schema.py",),
    "tomli": ("reconciler/cli/config.py",),  # tomllib before Python 3.11: reconciler.toml
    "psycopg": ("reconciler/state/postgres",),  # the PostgreSQL state store: postgres*.py
    "boto3": ("reconciler/state/s3",),  # the S3 state store: s3*.py
    "botocore": ("reconciler/state/s3",),
}


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _rule_for(relative: str) -> tuple[str, ...]:
    matches = [prefix for prefix in RULES if relative == prefix or relative.startswith(prefix)]
    assert matches, f"{relative}: no layer rule covers this module; add it to RULES"
    return RULES[max(matches, key=len)]


def _imports(source: str) -> list[tuple[int, str]]:
    """Every module `source` imports (absolute names; from reconciler, what it takes), with
    its line."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = "." * node.level + (node.module or "")
            if base == "reconciler" or base.startswith("reconciler."):
                found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
            else:
                found.append((node.lineno, base))
    return found


def _allowed(name: str, relative: str) -> bool:
    """Whether the module at `relative` may import `name` (relative imports never may)."""
    top = name.split(".")[0]
    if top in STDLIB:
        return True
    if top != "reconciler":
        return any(relative.startswith(home) for home in ONLY_IN.get(top, ()))
    own = relative.removesuffix(".py").replace("/", ".")
    if name.startswith(own + "."):
        return True
    return any(
        name.startswith(allowed)
        if allowed.endswith(".")
        else (name == allowed or name.startswith(allowed + "."))
        for allowed in _rule_for(relative)
    )


def _violations() -> list[str]:
    problems = []
    for path in _modules():
        relative = path.relative_to(PACKAGE.parent).as_posix()
        for line, name in _imports(path.read_text(encoding="utf-8")):
            if not _allowed(name, relative):
                problems.append(f"{relative}:{line}: imports {name}")
    return problems


def test_every_import_respects_the_layers() -> None:
    assert _violations() == []


@pytest.mark.parametrize(
    ("relative", "source", "allowed"),
    [
        ("reconciler/core/plan.py", "from reconciler.state.store import load_state", False),
        ("reconciler/core/plan.py", "import httpx", False),
        ("reconciler/core/plan.py", "from reconciler.cli.options import F", False),
        ("reconciler/core/plan.py", "from reconciler.core.diff import FieldChange", True),
        ("reconciler/core/audit.py", "from deepdiff import DeepDiff", False),
        ("reconciler/actions/apply.py", "from reconciler.cor.client import CorClient", False),
        ("reconciler/actions/apply.py", "from reconciler.cor.answers import cor_id_of", True),
        ("reconciler/output/plan_text.py", "from reconciler.state.codec import State", False),
        ("reconciler/state/store.py", "import click", False),
        ("reconciler/state/store.py", "from reconciler.manifests.reader import x", False),
        ("reconciler/manifests/fields.py", "import yaml", False),
        ("reconciler/manifests/walker.py", "import yaml", True),
        ("reconciler/emulator/app.py", "from reconciler.cor.endpoints import ApiCall", False),
        ("reconciler/cli/plan_command.py", "import click", True),
        ("reconciler/cli/plan_command.py", "import requests", False),
        ("reconciler/core/plan.py", "from . import diff", False),
        ("reconciler/core/saved_plan.py", "from reconciler import __version__", True),
        ("reconciler/state/codec.py", "from reconciler import __version__", False),
    ],
)
def test_the_rules_refuse_what_crosses_a_layer(relative: str, source: str, allowed: bool) -> None:
    """The checker itself: each of these imports, written in that module, is judged so."""
    assert [_allowed(name, relative) for _, name in _imports(source)] == [allowed]


def _imported_by(*args: str) -> list[str]:
    """The heavy libraries a `reconciler` command imports, run in a fresh interpreter."""
    code = (
        "import sys\n"
        "from reconciler.cli import run\n"
        f"code = run({list(args)!r})\n"
        "heavy = ('yaml', 'pydantic', 'httpx', 'deepdiff')\n"
        "print(','.join(name for name in heavy if name in sys.modules))\n"
        "sys.exit(code)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=PACKAGE.parent,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return [name for name in done.stdout.splitlines()[-1].split(",") if name]


def test_version_imports_no_library_but_click() -> None:
    assert _imported_by("--version") == []


def test_validate_and_a_plan_import_only_what_they_use(tmp_path: Path) -> None:
    cache = ["--cache-dir", str(tmp_path / "cache")]
    assert _imported_by("validate", *cache, "manifests") == ["yaml"]
    state = ["--state", str(tmp_path / "none.json")]
    assert _imported_by("plan", *state, *cache, "manifests") == ["yaml"]
