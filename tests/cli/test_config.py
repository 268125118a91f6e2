"""reconciler.toml (cli/config.py, docs/config.md): found in the folder or a parent, or given
with --config; its precedence (flag > environment variable > [env.NAME] > top level >
default) through the real CLI; every refusal located; credentials never read nor echoed."""

from __future__ import annotations

import os
from pathlib import Path

import click
import pytest

from reconciler.cli.config import GLOBAL, NOT_CONFIGURED, PER_RUN, SETTINGS, setting_key
from reconciler.cli.group import cli as group
from tests.harness import Cli, RunningEmulator, WorkFolder, write_files

MANIFEST = {"sap.yaml": "source: SAP\nclients:\n  - id: C-1\n    name: Client one\n"}
BIG = {"big.yaml": "# " + "x" * 10_000 + "\nsource: SAP\n"}  # 10 KiB


def _keys_of(command: click.Command) -> set[str]:
    if isinstance(command, click.Group):
        return set().union(*(_keys_of(sub) for sub in command.commands.values()))
    options = [p for p in command.params if isinstance(p, click.Option) or p.name == "paths"]
    return {key for param in options if (key := setting_key(param)) is not None}


def test_every_option_of_every_command_is_a_setting_or_named_as_per_run() -> None:
    """The keys cannot drift from the commands: a new option fails here until it is sorted
    into SETTINGS (the file may set it) or PER_RUN (refused, with a hint)."""
    ctx = click.Context(group)
    found: set[str] = set()
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None
        if name not in NOT_CONFIGURED:
            found |= _keys_of(command)
    assert found - SETTINGS - PER_RUN - GLOBAL == set(), "sort these into SETTINGS or PER_RUN"
    assert SETTINGS - found == set(), "settings no command has"
    assert {setting_key(p) for p in group.params} <= GLOBAL


# --- precedence, through the real CLI -----------------------------------------------------------

CONFIG = """\
max_file_size = "4KiB"

[env.staging]
max_file_size = "3KiB"
"""


@pytest.mark.parametrize(
    ("flag", "variable", "env", "top", "says"),
    [
        pytest.param(True, True, True, True, "larger than 1 KiB", id="flag-wins"),
        pytest.param(False, True, True, True, "larger than 2 KiB", id="env-var-next"),
        pytest.param(False, False, True, True, "larger than 3 KiB", id="env-section-next"),
        pytest.param(False, False, False, True, "larger than 4 KiB", id="top-level-next"),
        pytest.param(False, False, False, False, "Valid: 0 clients", id="default-last"),
    ],
)
def test_precedence(
    cli: Cli,
    work_folder: WorkFolder,
    monkeypatch: pytest.MonkeyPatch,
    flag: bool,
    variable: bool,
    env: bool,
    top: bool,
    says: str,
) -> None:
    work_folder(BIG)
    if top:
        write_files(work_folder.root, {"reconciler.toml": CONFIG})
    if variable:
        monkeypatch.setenv("RECONCILER_MAX_FILE_SIZE", "2KiB")
    args = ["--env", "staging"] if env else []
    code, out, err = cli(*args, "validate", *(["--max-file-size", "1KiB"] if flag else []))
    assert says in out + err
    assert code == (0 if says.startswith("Valid") else 3)


def test_reconciler_env_selects_the_section_and_env_flag_beats_it(
    cli: Cli, work_folder: WorkFolder, monkeypatch: pytest.MonkeyPatch
) -> None:
    work_folder(BIG)
    extra = '\n[env.other]\nmax_file_size = "5KiB"\n'
    write_files(work_folder.root, {"reconciler.toml": CONFIG + extra})
    monkeypatch.setenv("RECONCILER_ENV", "staging")
    assert "larger than 3 KiB" in cli("validate")[2]
    assert "larger than 5 KiB" in cli("--env", "other", "validate")[2]


def test_a_config_in_a_parent_folder_is_found_and_its_paths_start_at_its_folder(
    cli: Cli, work_folder: WorkFolder, monkeypatch: pytest.MonkeyPatch
) -> None:
    work_folder(MANIFEST, under="declared")
    write_files(
        work_folder.root,
        {"reconciler.toml": 'paths = ["declared"]\nstate = "team.state.json"\n'},
    )
    (work_folder.root / "deep" / "er").mkdir(parents=True)
    monkeypatch.chdir(work_folder.root / "deep" / "er")
    code, out, err = cli("validate")
    assert (code, out) == (0, "Valid: 1 clients, 0 brands, 0 products.\n"), err
    code, out, _ = cli("config", "--format", "json")
    assert code == 0
    assert '"file": "../../reconciler.toml"' in out
    assert os.path.join("..", "..", "team.state.json") in out


def test_paths_given_beat_the_configured_ones(cli: Cli, work_folder: WorkFolder) -> None:
    work_folder(MANIFEST, under="declared")
    write_files(work_folder.root, {"reconciler.toml": 'paths = ["elsewhere"]\n'})
    assert cli("validate", "declared")[0] == 0
    code, _, err = cli("validate")
    assert code == 3
    assert "elsewhere" in err


def test_config_given_by_path(cli: Cli, work_folder: WorkFolder) -> None:
    work_folder(BIG)
    write_files(work_folder.root, {"conf/team.toml": 'max_file_size = "6KiB"\n'})
    assert "larger than 6 KiB" in cli("--config", "conf/team.toml", "validate")[2]


def test_the_configured_connection_reaches_cor(
    cli: Cli, work_folder: WorkFolder, emulator: RunningEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """api_url and auth_url from an env section: apply creates the record in that COR, and
    writes the state the file names."""
    work_folder(MANIFEST)
    config = (
        'state = "prod.state.json"\n[env.local]\nstate = "local.state.json"\n'
        f'api_url = "{emulator.url}"\nauth_url = "{emulator.url}/v1"\n'
    )
    write_files(work_folder.root, {"reconciler.toml": config})
    monkeypatch.setenv("COR_TOKEN", emulator.token)
    code, _, err = cli("--env", "local", "apply", "--auto-approve")
    assert code == 0, err
    assert len(emulator.records()) == 1
    assert (work_folder.root / "local.state.json").exists()
    assert not (work_folder.root / "prod.state.json").exists()


# --- refusals -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "says"),
    [
        pytest.param('state = "a"\nstate = \n', "reconciler.toml:2:9: not valid TOML", id="syntax"),
        pytest.param(
            "paralelism = 4\n",
            "reconciler.toml:1:1: unknown key 'paralelism'; did you mean 'parallelism'?",
            id="unknown-key",
        ),
        pytest.param(
            '[env.staging]\nstate = "s"\nretries = 3\n',
            "reconciler.toml:3:1: unknown key 'retries'",
            id="unknown-key-in-env",
        ),
        pytest.param(
            "force = true\n",
            "reconciler.toml:1:1: 'force' is chosen for each run: give --force",
            id="per-run-key",
        ),
        pytest.param(
            "parallelism = 0\n",
            "reconciler.toml:1:15: parallelism: 0 is not in the range 1<=x<=64.",
            id="out-of-range",
        ),
        pytest.param(
            '\n[env.prod]\ntimeout = "soon"\n',
            "reconciler.toml:3:11: timeout: 'soon' is not a valid seconds.",
            id="not-a-number-in-env",
        ),
        pytest.param(
            "no_color = 1\n", "reconciler.toml:1:12: no_color: expected true or false", id="flag"
        ),
        pytest.param(
            "parallelism = true\n", "reconciler.toml:1:15: parallelism: expected a value", id="bool"
        ),
        pytest.param(
            'max_delete = ["product=x"]\n',
            "reconciler.toml:1:14: max_delete: --max-delete product=x: expected N or KIND=N",
            id="limit",
        ),
        pytest.param("state = 3\n", "reconciler.toml:1:9: state: expected a path", id="path"),
        pytest.param(
            'paths = "manifests"\n', "reconciler.toml:1:9: paths: a list of files", id="paths"
        ),
        pytest.param(
            'env = "staging"\n', "reconciler.toml:1:1: env holds one table per env", id="env"
        ),
        pytest.param(b"state = '\xff'\n", "reconciler.toml:1:10: not UTF-8", id="not-utf8"),
    ],
)
def test_a_wrong_file_is_refused_at_the_place(
    cli: Cli, work_folder: WorkFolder, text: str | bytes, says: str
) -> None:
    work_folder(MANIFEST)
    write_files(work_folder.root, {"reconciler.toml": text})
    code, out, err = cli("plan")
    assert code == 3
    assert out == ""
    assert says in err
    assert "Traceback" not in err


def test_every_problem_is_reported_at_once(cli: Cli, work_folder: WorkFolder) -> None:
    write_files(work_folder.root, {"reconciler.toml": "a = 1\nb = 2\n"})
    code, _, err = cli("validate")
    assert code == 3
    assert "reconciler.toml:1:1: unknown key 'a'" in err
    assert "reconciler.toml:2:1: unknown key 'b'" in err
    assert "error: 2 problems found in reconciler.toml" in err


SECRET = "S3cret-value-0123456789"


@pytest.mark.parametrize(
    ("text", "where"),
    [
        pytest.param(f'token = "{SECRET}"\n', "reconciler.toml:1:1: 'token'", id="token"),
        pytest.param(f'cor_token = "{SECRET}"\n', "reconciler.toml:1:1: 'cor_token'", id="cor"),
        pytest.param(
            f'[env.prod]\nclient_secret = "{SECRET}"\n',
            "reconciler.toml:2:1: 'env.prod.client_secret'",
            id="client-secret-in-env",
        ),
        pytest.param(f'API_KEY = "{SECRET}"\n', "reconciler.toml:1:1: 'API_KEY'", id="api-key"),
        pytest.param(f'my_password = "{SECRET}"\n', "'my_password'", id="password"),
        pytest.param(f'[vault]\nbearer = "{SECRET}"\n', "'vault.bearer'", id="nested"),
        pytest.param(
            f'api_url = "https://me:{SECRET}@cor.example"\n',
            "reconciler.toml:1:11: api_url holds a user name or password",
            id="url-with-password",
        ),
    ],
)
def test_a_credential_in_the_file_is_refused_and_never_echoed(
    cli: Cli, work_folder: WorkFolder, text: str, where: str
) -> None:
    write_files(work_folder.root, {"reconciler.toml": text})
    for args in (("validate",), ("config",), ("config", "--format", "json")):
        code, out, err = cli(*args)
        assert code == 3
        assert where in err
        assert "credentials come from the environment only" in err
        assert SECRET not in out + err


def test_an_unknown_env_names_the_envs(cli: Cli, work_folder: WorkFolder) -> None:
    write_files(work_folder.root, {"reconciler.toml": "[env.staging]\n[env.production]\n"})
    code, _, err = cli("--env", "prod", "validate")
    assert code == 3
    assert "--env prod: reconciler.toml has no [env.prod] section" in err
    assert "its envs: production, staging" in err


def test_an_env_without_a_file_is_refused(
    cli: Cli, work_folder: WorkFolder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RECONCILER_ENV", "staging")
    code, _, err = cli("validate")
    assert code == 3
    assert "RECONCILER_ENV staging: no reconciler.toml was found" in err


def test_a_missing_config_given_is_exit_3(cli: Cli, work_folder: WorkFolder) -> None:
    code, _, err = cli("--config", "nowhere.toml", "validate")
    assert (code, err) == (3, "error: --config nowhere.toml: no such file\n")


def test_a_config_that_is_not_a_regular_file_is_not_read(
    cli: Cli, work_folder: WorkFolder, tmp_path: Path
) -> None:
    os.mkfifo(work_folder.root / "reconciler.toml")
    code, _, err = cli("validate")
    assert code == 3
    assert "is a FIFO (named pipe), not a regular file" in err
