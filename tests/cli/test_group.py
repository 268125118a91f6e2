"""The `reconciler` group (cli/group.py): every registered command resolves, unknown names are
refused with a suggestion, and no command's module is imported before it runs."""

from __future__ import annotations

import subprocess
import sys

import click
import pytest

from reconciler.cli.group import COMMANDS
from reconciler.cli.group import cli as group
from tests.harness import Cli


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_registered_command_resolves_to_a_click_command_of_that_name(name: str) -> None:
    command = group.get_command(click.Context(group), name)
    assert isinstance(command, click.Command)
    assert command.name == name


def test_help_lists_every_registered_command(cli: Cli) -> None:
    code, out, _ = cli("--help")
    assert code == 0
    listed = {line.split()[0] for line in out.split("Commands:")[1].splitlines() if line.strip()}
    assert listed == set(COMMANDS)


def test_an_unknown_command_is_refused_with_a_suggestion(cli: Cli) -> None:
    code, out, err = cli("plna")
    assert code == 3
    assert out == ""
    assert "No such command 'plna'" in err
    assert "Did you mean 'plan'?" in err


def test_the_group_imports_no_command_module_until_one_runs() -> None:
    probe = (
        "import sys\n"
        "import reconciler.cli.group\n"
        "loaded = sorted(m for m in sys.modules if m.endswith(('_command', '_commands')))\n"
        "print(loaded)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
