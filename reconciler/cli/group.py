"""The `reconciler` group: every command, registered by name, imported only when it runs.

Part of the CLI. `COMMANDS` is the one list of commands, each in its own module: running one
imports that module alone (and what it needs), so `reconciler --version` loads neither YAML,
pydantic nor HTTP; `--help` loads them all to show their summaries. Imports click and
`reconciler.__version__` only.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

import click

from reconciler import __version__

COMMANDS: Mapping[str, str] = {
    "apply": "reconciler.cli.apply_command:apply",
    "audit": "reconciler.cli.audit_command:audit",
    "emulator": "reconciler.cli.emulator_command:emulator",
    "import": "reconciler.cli.import_command:import_command",
    "plan": "reconciler.cli.plan_command:plan",
    "schema": "reconciler.cli.schema_command:schema",
    "state": "reconciler.cli.state_commands:state",
    "validate": "reconciler.cli.validate_command:validate",
}


class LazyGroup(click.Group):
    """A group whose commands live in modules named by `lazy` ("module:attribute")."""

    def __init__(self, *args: Any, lazy: Mapping[str, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = lazy

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.lazy:
            return super().get_command(ctx, cmd_name)
        module, attribute = self.lazy[cmd_name].split(":")
        command = getattr(importlib.import_module(module), attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{self.lazy[cmd_name]} is not a click command")
        return command

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        try:
            return super().resolve_command(ctx, args)
        except click.exceptions.NoSuchCommand as error:  # suggest from every command's name
            possibilities = self.list_commands(ctx)
            raise click.exceptions.NoSuchCommand(
                error.command_name, possibilities=possibilities, ctx=ctx
            ) from None


@click.group(cls=LazyGroup, lazy=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="reconciler")
@click.option("--debug", is_flag=True, help="Show the traceback of an unexpected error.")
def cli(debug: bool) -> None:
    """Declare COR clients, brands and products in YAML; plan and apply them."""
