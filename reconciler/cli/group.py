"""The `reconciler` group: every command, registered by name, imported only when it runs.

Part of the CLI. `COMMANDS` is the one list of commands, each in its own module: running one
imports that module alone (and what it needs), so `reconciler --version` loads neither YAML,
pydantic nor HTTP; `--help` loads them all to show their summaries. Imports click and
`reconciler.__version__` only (and `cli/config`, once a command runs: `--config`, `--env`).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click

from reconciler import __version__

COMMANDS: Mapping[str, str] = {
    "apply": "reconciler.cli.apply_command:apply",
    "audit": "reconciler.cli.audit_command:audit",
    "config": "reconciler.cli.config_command:config",
    "emulator": "reconciler.cli.emulator_command:emulator",
    "import": "reconciler.cli.import_command:import_command",
    "plan": "reconciler.cli.plan_command:plan",
    "schema": "reconciler.cli.schema_command:schema",
    "show": "reconciler.cli.show_command:show",
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
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning"]),
    default="info",
    show_default=True,
    envvar="RECONCILER_LOG",
    show_envvar=True,
    help="Lines on stderr: debug adds one per HTTP attempt; warning keeps only warnings and "
    "errors (docs/client.md).",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="PATH",
    help="The config file (docs/config.md); by default reconciler.toml in this folder or the "
    "nearest parent that has one.",
)
@click.option(
    "--env",
    "env_name",
    envvar="RECONCILER_ENV",
    show_envvar=True,
    metavar="NAME",
    help="Use the [env.NAME] section of the config file over its top level.",
)
@click.pass_context
def cli(
    ctx: click.Context,
    debug: bool,
    log_level: str,
    config_path: Path | None,
    env_name: str | None,
) -> None:
    """Declare COR clients, brands and products in YAML; plan and apply them."""
    from reconciler.cli.console import set_log_level  # click and the standard library only

    set_log_level(log_level)
    from reconciler.cli.config import configure  # tomllib: only once a command runs

    configure(ctx, config_path, env_name)
