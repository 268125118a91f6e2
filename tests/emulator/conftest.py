"""Fixtures of the emulator's tests: a client of the session's emulator, and a seeded account."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.emulator.cases import bearer, seed
from tests.harness import RunningEmulator


@pytest.fixture
def api(emulator: RunningEmulator) -> Iterator[httpx.Client]:
    """A client of the session's emulator (reset), with its static token."""
    with httpx.Client(base_url=emulator.url, headers=bearer(emulator.token), timeout=10) as client:
        yield client


@pytest.fixture
def world(api: httpx.Client) -> dict[str, int]:
    """The small account of cases.WORLD; external id -> COR id."""
    return seed(api)
