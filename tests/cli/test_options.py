"""Options several commands share (cli/options.py): the manifest cache's --cache-dir,
--no-cache and RECONCILER_CACHE_DIR; the output is the same with or without the cache."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.cli import run
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
