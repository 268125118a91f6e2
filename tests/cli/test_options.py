"""Options several commands share (cli/options.py): the manifest cache's --cache-dir,
--no-cache and RECONCILER_CACHE_DIR; the output is the same with or without the cache; the
size limit of a manifest file, --max-file-size and RECONCILER_MAX_FILE_SIZE."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.cli import run
from reconciler.cli.options import ByteSize
from tests.harness import Files, WorkFolder
from tests.paths import EXAMPLES

TWO_FILES: Files = {
    "clients.yaml": "source: JIRA\nclients:\n  - id: C1\n    name: Acme\n    protect: yes\n",
    "brands.yaml": "source: JIRA\nbrands: [{id: B1, name: Road, client_id: C1}]\n",
}


def test_cli_cache_options(work_folder: WorkFolder, monkeypatch: pytest.MonkeyPatch) -> None:
    work_folder(TWO_FILES, under="m")
    monkeypatch.delenv("RECONCILER_CACHE_DIR", raising=False)
    assert run(["validate", "--no-cache", "m"]) == 0
    assert not Path(".reconciler-cache").exists()
    assert run(["validate", "m"]) == 0
    assert (Path(".reconciler-cache") / "CACHEDIR.TAG").exists()
    monkeypatch.setenv("RECONCILER_CACHE_DIR", "elsewhere")
    assert run(["plan", "--state", "none.json", "m"]) == 0
    assert (Path("elsewhere") / "CACHEDIR.TAG").exists()


@pytest.mark.usefixtures("work_folder")
def test_plan_prints_the_same_with_and_without_the_cache(
    capsys: pytest.CaptureFixture[str],
) -> None:
    outputs = []
    for args in (["--no-cache"], ["--cache-dir", "c"], ["--cache-dir", "c"]):
        assert run(["plan", "--no-color", "--state", "none.json", *args, str(EXAMPLES)]) == 0
        outputs.append(capsys.readouterr().out)
    assert outputs[0] == outputs[1] == outputs[2]
    assert outputs[0].endswith("Plan: 38 to create, 0 to update, 0 to delete.\n")


@pytest.mark.parametrize(
    ("written", "size"),
    [
        ("1", 1),
        ("1048576", 1 << 20),
        ("512KiB", 512 << 10),
        ("64MiB", 64 << 20),
        ("64m", 64 << 20),
        ("1 GiB", 1 << 30),
        ("2k", 2048),
        ("10B", 10),
    ],
)
def test_a_size_is_bytes_or_binary_units(written: str, size: int) -> None:
    assert ByteSize().convert(written, None, None) == size


@pytest.mark.parametrize("written", ["0", "-1", "1.5MiB", "64MB", "lots", ""])
def test_what_is_not_a_size_is_a_usage_error(
    written: str, work_folder: WorkFolder, capsys: pytest.CaptureFixture[str]
) -> None:
    work_folder(TWO_FILES, under="m")
    assert run(["validate", "--max-file-size", written, "m"]) == 3
    assert "is not a size: write bytes, or KiB, MiB, GiB" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["validate", "plan", "apply", "audit", "import"])
def test_the_commands_that_read_manifests_take_a_size_limit(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run([command, "--help"]) == 0
    shown = " ".join(capsys.readouterr().out.split())
    assert "--max-file-size SIZE" in shown
    assert "[env var: RECONCILER_MAX_FILE_SIZE; default: 64MiB]" in shown
