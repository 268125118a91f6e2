"""bench/refresh_speed.py works: the emulator it fills and the files it writes agree, and a tiny
run counts its requests and writes its section.

No timing is asserted here: timings belong to the benchmark's own output (docs/benchmarks.md).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from reconciler.core.audit import audit_offline
from reconciler.core.resources import Kind
from reconciler.emulator.server import EmulatorConfig, EmulatorServer
from reconciler.manifests.reader import read_manifests
from reconciler.state.store import load_state
from tests.bench.modules import BENCH, load_bench


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return load_bench("refresh_speed")


def test_the_filled_emulator_the_manifests_and_the_state_agree(
    bench: ModuleType, tmp_path: Path
) -> None:
    with EmulatorServer(EmulatorConfig(port=0)) as server:
        records = bench.fill(server.store, 900)
        counts = {kind: server.store.count(kind) for kind in Kind}
    assert counts == {Kind.CLIENT: 10, Kind.BRAND: 90, Kind.PRODUCT: 900}
    bench.write_files(tmp_path, records)
    state = load_state(tmp_path / "reconciler.state.json")
    assert state.records == records
    desired = read_manifests([tmp_path / "manifests"])
    assert len(desired) == 1000
    assert audit_offline(desired, state.records, state.in_doubt) == []


def test_a_tiny_run_counts_its_requests_and_writes_its_section(tmp_path: Path) -> None:
    doc = tmp_path / "benchmarks.md"
    doc.write_text("# Benchmarks\n\n## Parallel apply\n\nkept as it is\n", encoding="utf-8")
    command = [sys.executable, str(BENCH / "refresh_speed.py"), "--products", "180"]
    result = subprocess.run(
        [*command, "--runs", "1", "--latency-ms", "0", "--write", str(doc)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    text = doc.read_text(encoding="utf-8")
    assert text.startswith(
        "# Benchmarks\n\n## Parallel apply\n\nkept as it is\n\n## Refresh: reading what COR holds"
    )
    assert "200 recorded records (2 clients, 18 brands, 180 products)" in text
    # a page of clients, a page of brands, 4 pages of 50 products: seen, and said alike
    assert "| `audit --remote` | " in text
    assert " | 6 | 6 | met |" in text
    assert "Machine: " in text
