"""COR's documented request/response examples, the conformance cases of client and emulator.

tests/data/cor-examples.json is a verbatim copy of the examples published with COR's API
documentation (kept in the repository so a clean clone has them).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

EXAMPLES_FILE = Path(__file__).parent / "data" / "cor-examples.json"

_ALL: list[dict[str, Any]] = json.loads(EXAMPLES_FILE.read_text(encoding="utf-8"))["cases"]

# The Integrations API cases (requests with a method and a /v2/integrations path).
DOCUMENTED_CASES: list[dict[str, Any]] = [
    case for case in _ALL if str(case.get("path", "")).startswith("/v2/integrations/")
]
CASE_BY_NAME: dict[str, dict[str, Any]] = {case["name"]: case for case in _ALL}
