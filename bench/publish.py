"""What every benchmark here shares: the machine it ran on, and its section of the results.

Each benchmark prints its report and, with `--write FILE`, replaces its own `## ` section of
FILE (docs/benchmarks.md), leaving the others as they are.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path


def machine() -> str:
    model = "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return (
        f"{os.cpu_count()} cores ({model}), Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}"
    )


def publish(text: str, heading: str, write: Path | None, load_before: float) -> None:
    """Print the report with the machine and its load before and after the run; with `write`,
    put it under `heading` there."""
    text += (
        f"\nMachine: {machine()}. Load average (1 min) {load_before:.2f} before the run, "
        f"{os.getloadavg()[0]:.2f} after.\n"
    )
    print(text)
    if write:
        replace_section(write, heading, text)


def replace_section(path: Path, heading: str, body: str) -> None:
    """Put `body` under `heading` in `path`, replacing what was there up to the next `## `."""
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    section = f"{heading}\n\n{body}"
    if heading in text:
        start = text.index(heading)
        end = text.find("\n## ", start + len(heading))
        text = text[:start] + section + ("\n" + text[end + 1 :] if end != -1 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text, encoding="utf-8")
