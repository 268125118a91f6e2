"""bench/plan_speed.py works: its generator makes what it says, and a tiny run completes.

No timing is asserted here: timings belong to the benchmark's own output (docs/benchmarks.md).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from reconciler.errors import ManifestError
from reconciler.manifests.reader import read_manifests
from reconciler.state.store import load_state
from tests.bench.modules import BENCH, load_bench


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return load_bench("plan_speed")


@pytest.mark.parametrize("layout", ["one", "spread"])
def test_the_generated_manifests_and_state(bench: ModuleType, layout: str, tmp_path: Path) -> None:
    catalogue = bench.Catalogue.make(1_000)
    bench.write_manifests(tmp_path / "ok", catalogue, layout)
    bench.write_manifests(tmp_path / "bad", catalogue, layout, errors=100)
    changes = bench.write_state(tmp_path / "state.json", catalogue, layout)
    files = list((tmp_path / "ok").glob("*.yaml"))
    assert len(files) == (1 if layout == "one" else 100)
    desired = read_manifests([tmp_path / "ok"])
    assert len(desired) == 1_000 + 10 + 50
    state = load_state(tmp_path / "state.json")
    assert len(state.records) == len(desired) - 12  # 99% of each kind: index 0 of every 100
    changed = [
        key for key, record in state.records.items() if record.attributes != desired[key].attributes
    ]
    assert len(changed) == 10  # index 50 of every 100 (of products only: 50 brands, 10 clients)
    assert changes == 12 + len(changed)
    for key, record in state.records.items():  # each record names the file that declares it
        assert record.file == os.path.relpath(desired[key].location.path, tmp_path)
    with pytest.raises(ManifestError) as raised:
        read_manifests([tmp_path / "bad"])
    assert len(raised.value.problems) == 100


def test_a_tiny_run_writes_its_section_and_keeps_the_others(tmp_path: Path) -> None:
    doc = tmp_path / "benchmarks.md"
    doc.write_text("# Benchmarks\n\n## Parallel apply\n\nkept as it is\n", encoding="utf-8")
    command = [sys.executable, str(BENCH / "plan_speed.py"), "--sizes", "200", "--runs", "1"]
    result = subprocess.run(
        [*command, "--layouts", "spread", "--write", str(doc)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    text = doc.read_text(encoding="utf-8")
    assert text.startswith("# Benchmarks\n\n## Parallel apply\n\nkept as it is\n\n## Plan and")
    assert "| 200 | 100 |" in text
    assert "Machine: " in text
