"""`reconciler config` (cli/config_command.py): every setting's effective value and where it
came from, as text and as JSON; with a command line, that command's flags counted."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.harness import Cli, WorkFolder, write_files

CONFIG = """\
paths = ["declared"]
parallelism = 4

[env.staging]
api_url = "https://staging.cor.example/api"
parallelism = 2
"""


def _settings(out: str) -> dict[str, list[dict[str, Any]]]:
    document = json.loads(out)
    found: dict[str, list[dict[str, Any]]] = {}
    for row in document["settings"]:
        found.setdefault(row["key"], []).append(row)
    return found


def test_json_names_the_file_the_env_and_each_source(
    cli: Cli, work_folder: WorkFolder, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_files(work_folder.root, {"reconciler.toml": CONFIG})
    monkeypatch.setenv("COR_AUTH_URL", "https://auth.example/v1")
    code, out, err = cli("--env", "staging", "config", "--format", "json")
    assert code == 0, err
    document = json.loads(out)
    assert (document["file"], document["env"], document["env_from"]) == (
        "reconciler.toml",
        "staging",
        "--env",
    )
    settings = _settings(out)
    (api,) = settings["api_url"]
    assert (api["value"], api["source"], api["origin"]) == (
        "https://staging.cor.example/api",
        "reconciler.toml [env.staging]",
        "env-section",
    )
    assert api["commands"] == ["apply", "import"]
    (parallelism,) = settings["parallelism"]
    assert (parallelism["value"], parallelism["source"]) == (2, "reconciler.toml [env.staging]")
    (paths,) = settings["paths"]
    assert (paths["value"], paths["source"], paths["origin"]) == (
        ["declared"],
        "reconciler.toml",
        "file",
    )
    (auth,) = settings["auth_url"]
    assert (auth["value"], auth["source"]) == ("https://auth.example/v1", "env var COR_AUTH_URL")
    (retries,) = settings["retry_attempts"]
    assert (retries["value"], retries["source"], retries["origin"]) == (5, "default", "default")
    (state,) = settings["state"]
    assert "state list" in state["commands"]


def test_text_lists_every_setting_with_its_source(cli: Cli, work_folder: WorkFolder) -> None:
    write_files(work_folder.root, {"reconciler.toml": CONFIG})
    code, out, _ = cli("config")
    assert code == 0
    lines = out.splitlines()
    assert lines[:3] == ["Config file: reconciler.toml", "Env: none", ""]
    rows = {line.split()[0]: line.split() for line in lines[3:]}
    assert rows["parallelism"] == ["parallelism", "4", "reconciler.toml"]
    assert rows["api_url"] == ["api_url", "https://integrations.projectcor.com", "default"]
    assert rows["paths"] == ["paths", "declared", "reconciler.toml"]
    assert rows["max_delete"] == ["max_delete", "(not", "set)", "default"]


def test_with_a_command_line_its_flags_count(
    cli: Cli, work_folder: WorkFolder, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_files(work_folder.root, {"reconciler.toml": CONFIG})
    monkeypatch.setenv("RECONCILER_ENV", "staging")
    code, out, err = cli("config", "--format", "json", "plan", "--parallelism", "9", "mine")
    assert code == 0, err
    document = json.loads(out)
    assert (document["env"], document["env_from"]) == ("staging", "RECONCILER_ENV")
    settings = _settings(out)
    assert "api_url" not in settings  # plan does not call the Integrations API
    assert [(r["value"], r["source"], r["commands"]) for r in settings["parallelism"]] == [
        (9, "flag", ["plan"])
    ]
    assert [r["value"] for r in settings["paths"]] == [["mine"]]


def test_without_a_file_everything_is_a_default_or_the_environment(
    cli: Cli, work_folder: WorkFolder
) -> None:
    code, out, _ = cli("config")
    assert code == 0
    assert out.startswith("Config file: none (no reconciler.toml in this folder or its parents)\n")
    sources = {line.split()[0]: line.split()[-1] for line in out.splitlines()[3:]}
    assert sources["cache_dir"] == "RECONCILER_CACHE_DIR"  # the test suite's own cache
    assert {source for key, source in sources.items() if key != "cache_dir"} == {"default"}


def test_a_group_s_commands_are_named_whole(cli: Cli, work_folder: WorkFolder) -> None:
    code, out, _ = cli("config", "--format", "json", "state", "list", "--state", "x.json")
    assert code == 0
    settings = _settings(out)
    assert [(r["value"], r["source"], r["commands"]) for r in settings["state"]] == [
        ("x.json", "flag", ["state list"])
    ]
