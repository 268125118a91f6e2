"""The `cor` fixture of the COR client's tests: a FakeCor that checks no secret leaked."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.cor.fake_cor import MARKERS, FakeCor


@pytest.fixture
def cor() -> Iterator[FakeCor]:
    fake = FakeCor()
    yield fake
    leaks = [text for text in fake.logs + fake.messages for mark in MARKERS if mark in text]
    assert leaks == []
