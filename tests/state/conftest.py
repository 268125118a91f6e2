"""The `path` fixture of the state store's tests: where the state file goes (nothing there yet)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "reconciler.state.json"
