"""What the state store's tests share: records, the golden state file, and helpers that write
states and leave journals as an interrupted apply would."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from reconciler.core.resources import Record, ResourceKey
from reconciler.state import journal
from reconciler.state.codec import State
from reconciler.state.store import StateStore, load_state
from tests.builders import recorded

SF = "SALESFORCE"
ACME = recorded("client", SF, "ACC-1", 101, name="Acme", website="https://acme.example")
BRAND = recorded("brand", SF, "BR-1", 201, name="Acme Premium", client_id="ACC-1")
PRODUCT = recorded("product", SF, "P-1", 301, name="Widget", client_id="ACC-1", brand_id="BR-1")
JIRA_CLIENT = recorded("client", "JIRA", "Z-9", 7, name="Zed")
EMPTY = recorded("client", "JIRA", "EMPTY", 8)

GOLDEN = """\
{
  "format_version": 2,
  "lineage": "LINEAGE",
  "serial": 1,
  "resources": [
    {
      "kind": "client",
      "source": "JIRA",
      "id": "EMPTY",
      "cor_id": 8,
      "attributes": {}
    },
    {
      "kind": "client",
      "source": "SALESFORCE",
      "id": "ACC-1",
      "cor_id": 101,
      "attributes": {
        "name": "Acme",
        "website": "https://acme.example"
      }
    },
    {
      "kind": "brand",
      "source": "SALESFORCE",
      "id": "BR-1",
      "cor_id": 201,
      "attributes": {
        "client_id": "ACC-1",
        "name": "Acme Premium"
      }
    },
    {
      "kind": "product",
      "source": "SALESFORCE",
      "id": "P-1",
      "cor_id": 301,
      "attributes": {
        "brand_id": "BR-1",
        "client_id": "ACC-1",
        "name": "Widget"
      }
    }
  ]
}
"""


def journal_of(path: Path) -> Path:
    return path.with_name(path.name + ".journal")


def backup_of(path: Path) -> Path:
    return path.with_name(path.name + ".backup")


def write_records(path: Path, *records: Record) -> State:
    with StateStore.open(path) as store:
        for record in records:
            store.record(record)
    return load_state(path)


def leave_journal(path: Path, lineage: str, serial: int, *lines: bytes) -> None:
    """A journal as an interrupted apply leaves it."""
    data = journal.header_line(lineage, serial) + b"".join(lines)
    journal_of(path).write_bytes(data)


def snapshot(folder: Path) -> dict[str, bytes]:
    return {entry.name: entry.read_bytes() for entry in sorted(folder.iterdir())}


def as_dict(state: State) -> dict[ResourceKey, Record]:
    return dict(state.records)


def fail_on(monkeypatch: pytest.MonkeyPatch, name: str, when: Callable[..., bool]) -> None:
    real = getattr(os, name)

    def failing(*args: Any) -> Any:
        if when(*args):
            raise OSError(28, "No space left on device")
        return real(*args)

    monkeypatch.setattr(os, name, failing)
