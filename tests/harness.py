"""What the shared fixtures of tests/conftest.py hand a test: the types to annotate them with, and
the helpers behind them (also usable without the fixtures, e.g. against a test's own emulator).

- `RunningEmulator` (fixture `emulator`): the session's COR emulator, reset for the test.
- `WorkFolder` (fixture `work_folder`): a temporary folder made the current one, and a way to
  write its files from a dict.
- `Cli` (fixture `cli`): runs `reconciler ...` in-process, returns (exit code, stdout, stderr).
- `serving` and `QuietHandler`: a test's own HTTP server (a relay that bends COR's answers),
  answering on its own thread for the length of a block.
"""

from __future__ import annotations

import socketserver
import textwrap
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, Protocol

import httpx

Files = Mapping[str, str | bytes]


@contextmanager
def serving(server: socketserver.BaseServer) -> Iterator[None]:
    """`server` answering on a thread of its own until the block ends; then shut down, its
    socket closed and the thread joined."""
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


class QuietHandler(BaseHTTPRequestHandler):
    """A test server's request handler: logs nothing; `answer` writes a whole answer."""

    def answer(self, status: int, body: bytes, content_type: str | None = None) -> None:
        self.send_response(status)
        if content_type is not None:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def write_files(root: Path, files: Files) -> None:
    """Write each file under `root` (folders made as needed): text dedented, bytes as given."""
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(textwrap.dedent(content), encoding="utf-8")


class WorkFolder:
    """A temporary folder, the current one during the test.

    `work_folder({"sap.yaml": "source: SAP\\n..."})` writes manifests/sap.yaml and returns the
    folder; `under=` names another subfolder ("" for the folder itself).
    """

    def __init__(self, root: Path) -> None:
        self.root = root

    def __call__(self, files: Files, under: str = "manifests") -> Path:
        (self.root / under).mkdir(parents=True, exist_ok=True)
        write_files(self.root / under, files)
        return self.root

    @property
    def state(self) -> Path:
        """Where the CLI keeps its state by default (reconciler.state.json)."""
        return self.root / "reconciler.state.json"


class Cli(Protocol):
    """`cli("plan", "--detailed-exitcode")` -> (exit code, stdout, stderr)."""

    def __call__(self, *args: str) -> tuple[int, str, str]: ...


def emulator_records(url: str) -> list[dict[str, Any]]:
    """Every record an emulator at `url` holds (deleted ones included), through /_emulator/."""
    answer = httpx.get(f"{url}/_emulator/records")
    answer.raise_for_status()
    records: list[dict[str, Any]] = answer.json()["records"]
    return records


@dataclass(frozen=True)
class RunningEmulator:
    """A COR emulator on 127.0.0.1, as a test sees it: its URL and what it accepts."""

    url: str
    token: str  # the static bearer token it accepts
    api_key: str  # the client-credentials pair it exchanges for tokens
    client_secret: str

    def records(self) -> list[dict[str, Any]]:
        return emulator_records(self.url)

    def add_fault(self, **fault: Any) -> None:
        """The next matching requests fail as told (POST /_emulator/faults)."""
        httpx.post(f"{self.url}/_emulator/faults", json=fault).raise_for_status()

    def mutate(self, **change: Any) -> None:
        """An out-of-band change in COR (POST /_emulator/mutate)."""
        httpx.post(f"{self.url}/_emulator/mutate", json=change).raise_for_status()

    def configure(self, **config: Any) -> None:
        """Switch a setting at run time (POST /_emulator/config; the reset puts it back)."""
        httpx.post(f"{self.url}/_emulator/config", json=config).raise_for_status()

    def reset(self) -> None:
        """Forget every record, fault, issued token and statistic (POST /_emulator/reset)."""
        httpx.post(f"{self.url}/_emulator/reset").raise_for_status()
