"""Loading a benchmark script of bench/ as a module, for the tests of tests/bench/."""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType

from tests.paths import ROOT

BENCH = ROOT / "bench"


def load_bench(name: str) -> ModuleType:
    """bench/<name>.py as the module `name` (it imports its siblings, such as publish)."""
    sys.path.insert(0, str(BENCH))
    try:
        spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # its dataclasses look their module up there
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(BENCH))
    return module
