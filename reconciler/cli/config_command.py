"""`reconciler config`: the effective settings, and where each came from (docs/config.md).

Part of the CLI. Reads the config the group loaded (`cli/config.py`, in `ctx.meta`) and asks
click itself what each command would receive: a flag, an environment variable, the config
file (through `default_map`) or the default. Loads every command's module to know its options.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from reconciler.cli.config import FILE_NAME, META, SETTINGS, Config, defaults_for, setting_key
from reconciler.cli.options import DEFAULT_PATHS, format_option
from reconciler.core.text import printable
from reconciler.errors import EXIT_OK


@dataclass(frozen=True)
class Setting:
    """One key's effective value for one command, and where it came from."""

    key: str
    value: Any  # as JSON holds it
    source: str  # "flag", "env var COR_API_URL", "reconciler.toml [env.staging]", "default"
    origin: str  # flag | environment | env-section | file | default


@click.command(context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@format_option("text for people, json for programs (docs/config.md).", choices=("text", "json"))
@click.argument("command_line", nargs=-1, type=click.UNPROCESSED, metavar="[COMMAND [ARGS]...]")
@click.pass_context
def config(ctx: click.Context, output_format: str, command_line: tuple[str, ...]) -> int:
    """Show the effective settings and where each came from: flag, environment variable,
    config file (its env section or top level) or default.

    With a COMMAND (and its arguments, as you would run it: `reconciler config plan --state
    x.json`), only that command's settings, its flags counted.
    """
    loaded: Config = ctx.meta.get(META) or Config()
    group = ctx.parent.command if ctx.parent is not None else None
    if not isinstance(group, click.Group) or ctx.parent is None:
        raise click.UsageError("reconciler config runs as a command of reconciler")
    rows: dict[tuple[str, str, str], list[str]] = {}
    for name, setting in _settings(ctx.parent, group, list(command_line), loaded):
        value = json.dumps(setting.value, sort_keys=True)
        rows.setdefault((setting.key, value, setting.source + "\0" + setting.origin), []).append(
            name
        )
    if output_format == "json":
        click.echo(_json(loaded, rows))
    else:
        click.echo(_text(loaded, rows), nl=False)
    return EXIT_OK


def _settings(
    parent: click.Context, group: click.Group, args: list[str], loaded: Config
) -> Iterator[tuple[str, Setting]]:
    if args:
        command = group.get_command(parent, args[0])
        if command is None:
            raise click.UsageError(f"no such command {printable(args[0])!r}")
        yield from _of_command(parent, command, args[0], args[1:], loaded)
        return
    for name in group.list_commands(parent):
        command = group.get_command(parent, name)
        if command is not None and name != "config":
            yield from _of_command(parent, command, name, [], loaded)


def _of_command(
    parent: click.Context, command: click.Command, name: str, args: list[str], loaded: Config
) -> Iterator[tuple[str, Setting]]:
    if isinstance(command, click.Group):
        defaults = defaults_for(loaded, command) if loaded.path else {}
        context = click.Context(command, info_name=name, parent=parent, default_map=defaults)
        names = args[:1] or command.list_commands(context)
        for sub_name in names:
            sub = command.get_command(context, sub_name)
            if sub is None:
                raise click.UsageError(f"no such command {printable(sub_name)!r}")
            found = _of_command(context, sub, sub_name, args[1:], loaded)
            yield from ((f"{name} {where}", setting) for where, setting in found)
        return
    defaults = defaults_for(loaded, command) if loaded.path else {}
    if args:  # parsed as the command would parse them: click says where each value came from
        context = command.make_context(name, list(args), parent=parent, default_map=defaults)
        yield from ((name, s) for s in _parsed(context, command, loaded))
    else:
        context = click.Context(command, info_name=name, parent=parent, default_map=defaults)
        yield from ((name, s) for s in _unparsed(context, command, loaded))


def _parsed(ctx: click.Context, command: click.Command, loaded: Config) -> Iterator[Setting]:
    for param in command.params:
        key = setting_key(param)
        if key not in SETTINGS or param.name is None:
            continue
        value = ctx.params.get(param.name)
        source = ctx.get_parameter_source(param.name)
        if key == "paths":
            given = source == ParameterSource.COMMANDLINE
            yield _paths(loaded, value if given else ())
        elif source == ParameterSource.COMMANDLINE:
            yield Setting(key, _plain(value), "flag", "flag")
        elif source == ParameterSource.ENVIRONMENT:
            yield Setting(key, _plain(value), f"env var {_envvar(param)}", "environment")
        else:
            yield _from_file_or_default(loaded, key, value)


def _unparsed(ctx: click.Context, command: click.Command, loaded: Config) -> Iterator[Setting]:
    for param in command.params:
        key = setting_key(param)
        if key not in SETTINGS or param.name is None:
            continue
        if key == "paths":
            yield _paths(loaded, ())
            continue
        from_env = param.value_from_envvar(ctx)
        if from_env is not None:
            value = param.type_cast_value(ctx, from_env)
            yield Setting(key, _plain(value), f"env var {_envvar(param)}", "environment")
            continue
        raw = ctx.lookup_default(param.name)
        if raw is None:
            raw = param.get_default(ctx)
        if param.multiple and not isinstance(raw, (list, tuple)):
            raw = ()  # click's "no default" for a repeatable option
        elif not isinstance(raw, (str, int, float, Path, list, tuple)):
            raw = None
        value = param.type_cast_value(ctx, raw) if raw is not None else None
        yield _from_file_or_default(loaded, key, value)


def _from_file_or_default(loaded: Config, key: str, value: Any) -> Setting:
    found = loaded.lookup(key)
    if found is None:
        return Setting(key, _plain(value), "default", "default")
    origin = "env-section" if found[1].table else "file"
    return Setting(key, _plain(value), found[1].source, origin)


def _paths(loaded: Config, given: Any) -> Setting:
    if given:
        return Setting("paths", _plain(given), "flag", "flag")
    found = loaded.lookup("paths")
    if found is None:
        return Setting("paths", list(DEFAULT_PATHS), "default", "default")
    folder = loaded.folder
    paths = [p if not folder or os.path.isabs(p) else os.path.join(folder, p) for p in found[0]]
    return Setting("paths", paths, found[1].source, "env-section" if found[1].table else "file")


def _envvar(param: click.Parameter) -> str:
    names = [param.envvar] if isinstance(param.envvar, str) else list(param.envvar or ())
    return next((name for name in names if os.environ.get(name)), names[0] if names else "?")


def _plain(value: Any) -> Any:
    """`value` as JSON holds it: a path as text, a tuple as a list."""
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (tuple, list)):
        return [_plain(item) for item in value]
    return value


def _json(loaded: Config, rows: dict[tuple[str, str, str], list[str]]) -> str:
    settings = []
    for (key, value, where), commands in sorted(rows.items()):
        source, origin = where.split("\0")
        settings.append(
            {
                "key": key,
                "value": json.loads(value),
                "source": source,
                "origin": origin,
                "commands": commands,
            }
        )
    document = {"file": loaded.path, "env": loaded.env, "env_from": loaded.env_from}
    document["settings"] = settings  # type: ignore[assignment]  # a list among the strings
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False)


def _text(loaded: Config, rows: dict[tuple[str, str, str], list[str]]) -> str:
    per_key: dict[str, int] = {}
    for key, _, _ in rows:
        per_key[key] = per_key.get(key, 0) + 1
    lines = [
        f"Config file: {printable(loaded.path)}"
        if loaded.path
        else f"Config file: none (no {FILE_NAME} in this folder or its parents)",
        f"Env: {printable(loaded.env)} (from {loaded.env_from})" if loaded.env else "Env: none",
        "",
    ]
    table = []
    for (key, value, where), commands in sorted(rows.items()):
        label = key if per_key[key] == 1 else f"{key} ({', '.join(commands)})"
        table.append((label, _shown(json.loads(value)), where.split("\0")[0]))
    width = max((len(label) for label, _, _ in table), default=0)
    value_width = max((len(value) for _, value, _ in table), default=0)
    for label, value, source in table:
        lines.append(f"{label.ljust(width)}  {value.ljust(value_width)}  {source}".rstrip())
    return "\n".join(lines) + "\n"


def _shown(value: Any) -> str:
    if value is None or value == []:
        return "(not set)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return " ".join(printable(str(item)) for item in value)
    return printable(str(value))
