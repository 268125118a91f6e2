"""Apply at a real terminal (a pseudo-terminal): the progress line and the lines above it, the
confirmation prompt."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from reconciler.emulator.server import EmulatorConfig, EmulatorServer
from tests.cli.terminal import run_on_terminal
from tests.harness import WorkFolder

ERASE = "\r\033[K"
TOKEN = "tty-token"
COLUMNS = 40
MANIFEST = "source: SAP\nclients:\n" + "".join(
    f"  - id: C{n}\n    name: Client {n}\n" for n in range(24)
)


@pytest.fixture
def slow_cor(work_folder: WorkFolder) -> Iterator[dict[str, str]]:
    """A slow emulator that answers some requests 429 (Retry-After: 0): retry lines mid-run."""
    work_folder({"sap.yaml": MANIFEST})
    config = EmulatorConfig(
        port=0, token=TOKEN, latency_ms=60, throttle_rate=0.3, throttle_retry_after=0, seed=7
    )
    with EmulatorServer(config) as server:
        yield {"COR_API_URL": server.url, "COR_TOKEN": TOKEN}


def rows_left_to_erase(output: str) -> list[str]:
    """What stood on the cursor's row each time it was erased: the status line, drawn whole on
    one row (what follows the last line break before each erase)."""
    pieces = output.split(ERASE)[:-1]
    return [piece.rsplit("\n", 1)[-1] for piece in pieces if piece.rsplit("\n", 1)[-1]]


def test_the_status_line_fits_one_row_so_lines_above_it_never_run_into_it(
    work_folder: WorkFolder, slow_cor: dict[str, str]
) -> None:
    # A status line longer than the terminal wraps; erasing clears only its last row, so each
    # redraw left the first rows behind and the next line ran into them.
    code, output = run_on_terminal(
        ["apply", "manifests", "--auto-approve", "--parallelism", "2", "--retry-attempts", "9"],
        cwd=work_folder.root,
        env={**os.environ, **slow_cor},
        columns=COLUMNS,
    )
    assert code == 0, output
    statuses = rows_left_to_erase(output)
    assert statuses, output  # the status line was drawn (and erased) mid-run
    assert all(len(status) < COLUMNS for status in statuses), statuses
    assert any(status.endswith("…") for status in statuses)  # cut, not wrapped
    retries = [line for line in output.split("\n") if "retrying client" in line]
    assert retries, output
    assert all(line.split(ERASE)[-1].startswith("retrying client") for line in retries), retries
    assert output.rstrip().endswith("0 in doubt, 0 skipped.")


def test_the_prompt_has_no_empty_default(work_folder: WorkFolder, slow_cor: dict[str, str]) -> None:
    code, output = run_on_terminal(
        ["apply", "manifests"], answer="no", cwd=work_folder.root, env={**os.environ, **slow_cor}
    )
    assert code == 1
    assert "Do you want to apply these changes? Only 'yes' will be accepted: " in output
    assert "[]" not in output
    assert "Apply cancelled; nothing was changed." in output
