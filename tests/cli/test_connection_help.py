"""Help texts of the connection options (cli/connection.py): each fits its command."""

from __future__ import annotations

import click
import pytest

from reconciler.cli.group import cli


def option_help(command: str, name: str) -> str:
    ctx = click.Context(cli)
    found = cli.get_command(ctx, command)
    assert found is not None
    (option,) = [p for p in found.params if isinstance(p, click.Option) and name in p.opts]
    return option.help or ""


@pytest.mark.parametrize(
    ("command", "says"),
    [
        ("apply", "a record still waits for what it references"),
        ("import", "kind by kind"),
        ("audit", "with --remote"),
        ("plan", "with --refresh"),
    ],
)
def test_each_command_says_what_its_parallelism_is(command: str, says: str) -> None:
    assert says in option_help(command, "--parallelism")


def test_reads_are_not_said_to_wait_for_references() -> None:
    for command in ("audit", "import", "plan"):
        assert "references" not in option_help(command, "--parallelism")


@pytest.mark.parametrize(
    ("command", "name"),
    [
        ("apply", "--api-url"),
        ("apply", "--auth-url"),
        ("apply", "--timeout"),
        ("audit", "--auth-url"),
        ("import", "--api-url"),
        ("plan", "--timeout"),
    ],
)
def test_connection_options_have_help(command: str, name: str) -> None:
    assert len(option_help(command, name)) > 20
