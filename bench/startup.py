"""Benchmark: how fast a command starts — `reconciler --version` and `validate` of the examples.

`python bench/startup.py [--runs 20] [--write docs/benchmarks.md]` runs, as processes of their
own and interleaved run by run (so that a busy moment hits them alike): the bare interpreter
(`python -c pass`, the floor every command pays), `python -m reconciler --version`, and
`python -m reconciler validate --no-cache manifests` over the repository's example manifests.
Reported: the median wall time with min-max, and each target of issue 9, met or not. What a
command imports is checked by tests/test_layers.py; this says what it costs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from publish import publish

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
COMMANDS: dict[str, tuple[list[str], float | None]] = {  # name: argv, target in seconds
    "python -c pass": ([PYTHON, "-c", "pass"], None),
    "reconciler --version": ([PYTHON, "-m", "reconciler", "--version"], 0.15),
    "reconciler validate (examples)": (
        [PYTHON, "-m", "reconciler", "validate", "--no-cache", str(ROOT / "manifests")],
        0.35,
    ),
}


def timed(argv: list[str]) -> float:
    """Wall seconds of one run; stops on a non-zero exit."""
    start = time.perf_counter()
    done = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)}: failed\n{done.stderr.decode()}")
    return seconds


def report(results: dict[str, list[float]], runs: int) -> str:
    lines = [
        "Each command runs as its own process from the repository's root (`python -m reconciler "
        f"...`, interpreter start included), {runs} runs each, interleaved; `python -c pass` is "
        "the interpreter alone. `validate` reads the example manifests in `manifests/` without "
        "the cache. Reproduce with `python bench/startup.py` (part of `make bench`).",
        "",
        "| command | wall, median (min-max) | target | met? |",
        "|---|---:|---:|:--:|",
    ]
    for name, (_, target) in COMMANDS.items():
        seconds = results[name]
        median = statistics.median(seconds)
        verdict = "" if target is None else ("yes" if median <= target else "**no**")
        goal = "" if target is None else f"≤ {target:.2f} s"
        lines.append(
            f"| `{name}` | {median:.3f} s ({min(seconds):.3f}-{max(seconds):.3f}) "
            f"| {goal} | {verdict} |"
        )
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--write", type=Path, help="replace this section of the Markdown file")
    options = parser.parse_args()
    results: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for argv, _ in COMMANDS.values():  # one warm-up each: the file cache, the .pyc files
        timed(argv)
    load_before = os.getloadavg()[0]
    for _ in range(options.runs):
        for name, (argv, _) in COMMANDS.items():
            results[name].append(timed(argv))
    text = report(results, options.runs)
    publish(text, "## Start-up", options.write, load_before)
    return 0


if __name__ == "__main__":
    sys.exit(main())
