"""`reconciler.toml`: found, read, checked, and turned into click's `default_map`.

Part of the CLI (docs/config.md). The group (cli/group.py) calls `configure` once the command
is known and before its options are read, so click's own precedence gives the documented one:
flag > environment variable > the selected `[env.NAME]` section > the top level > default.
`paths` (an argument, not an option) travels in `ctx.meta` to `cli/options.py`'s PATHS.

Imports the standard library (tomllib; tomli before Python 3.11), click, `errors`, `files`,
`core/limits` and `core/text`: light, as every command loads it.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from reconciler.core.limits import parse_limits
from reconciler.core.text import printable
from reconciler.errors import Location, ManifestError, Problem, UsageError
from reconciler.files import open_regular

FILE_NAME = "reconciler.toml"
MAX_BYTES = 1 << 20  # a config file is a few lines: more is not one
META = "reconciler.config"  # ctx.meta: the Config in use
PATHS_META = "reconciler.config.paths"  # ctx.meta: the configured PATHS (cli/options.py)

# What the file may set: every option of the commands that is a setting, not a choice made for
# one run. tests/cli/test_config.py checks these lists against every command's options, so a
# new option fails there until it is sorted into one of them.
SETTINGS = frozenset(
    {
        "paths",
        "state",
        "s3_endpoint_url",
        "api_url",
        "auth_url",
        "read_api_url",
        "parallelism",
        "timeout",
        "retry_attempts",
        "retry_max_wait",
        "max_delete",
        "max_delete_share",
        "max_file_size",
        "cache_dir",
        "no_cache",
        "no_color",
    }
)
PER_RUN = frozenset(
    {
        "allow_replace",
        "auto_approve",
        "base_paths",
        "base_ref",
        "detailed_exitcode",
        "dry_run",
        "force",
        "format",
        "kind",
        "out",
        "plan",
        "prune",
        "refresh",
        "remote",
        "source",
        "target",
        "to",
    }
)
GLOBAL = frozenset({"config", "env", "debug", "log_level", "help", "version"})
NOT_CONFIGURED = frozenset({"emulator", "schema"})  # a development tool; no option at all
_URLS = ("api_url", "auth_url", "read_api_url", "s3_endpoint_url")
_CREDENTIAL = re.compile(
    r"token|secret|passw|credential|api_?key|private_?key|bearer|cookie|auth_?header",
    re.IGNORECASE,
)
_CREDENTIAL_HINT = (
    "credentials come from the environment only (COR_TOKEN, or COR_API_KEY and "
    "COR_CLIENT_SECRET), never from a file: remove it from the file, and rotate it if the "
    "file was ever shared or committed"
)


class ConfigError(ManifestError):
    """The config file is wrong: every problem, each at path:line:col (printed as the
    manifests' problems are, cli/boundary.py)."""

    def __init__(self, problems: list[Problem], path: str) -> None:
        super().__init__(problems)
        count = len(self.problems)
        self.args = (f"{count} problem{'s' if count != 1 else ''} found in {printable(path)}",)


@dataclass(frozen=True)
class Layer:
    """The top level of the file, or one `[env.NAME]` section: its settings as written."""

    source: str  # as `reconciler config` names it: "reconciler.toml [env.staging]"
    table: tuple[str, ...]  # () or ("env", NAME)
    values: Mapping[str, Any]


@dataclass(frozen=True)
class Config:
    """The config file in use (`path` None: none found), and the env chosen, if any."""

    path: str | None = None
    folder: str = ""  # where its relative paths start ("" : the current folder)
    text: str = ""
    top: Layer = field(default_factory=lambda: Layer("default", (), {}))
    sections: Mapping[str, Layer] = field(default_factory=dict)
    env: str | None = None
    env_from: str | None = None  # "--env" or "RECONCILER_ENV"

    @property
    def layers(self) -> tuple[Layer, ...]:
        """Lowest precedence first: the top level, then the selected env section."""
        return (self.top,) if self.env is None else (self.top, self.sections[self.env])

    def lookup(self, key: str) -> tuple[Any, Layer] | None:
        """The value of `key` in the file, and the layer it came from (None: not set)."""
        for layer in reversed(self.layers):
            if key in layer.values:
                return layer.values[key], layer
        return None

    def locate(self, parts: tuple[str, ...], value: bool = False) -> Location:
        return _locate(self.text, self.path or FILE_NAME, parts, value)


# --- finding and reading ----------------------------------------------------------------------


def find_config(start: Path | None = None) -> Path | None:
    """`reconciler.toml` in `start` (the current folder) or the nearest of its parents, up to
    the filesystem root; shown relative to the current folder. Any kind of file found there
    counts: one that is not a regular file is refused when read, not skipped."""
    here = Path.cwd() if start is None else start
    for folder in (here, *here.parents):
        candidate = folder / FILE_NAME
        if os.path.lexists(candidate):
            return Path(os.path.relpath(candidate)) if folder != here else Path(FILE_NAME)
    return None


def load_config(given: Path | None, env: str | None, env_from: str | None) -> Config:
    """The config in use: `given` (--config; UsageError if missing) or the one found; checked
    whole (ConfigError: every problem located), with the env section `env` selected."""
    path = given if given is not None else find_config()
    if path is None:
        if env is not None:
            raise UsageError(
                f"{env_from} {printable(env)}: no {FILE_NAME} was found in this folder or its "
                "parents, so there is no [env.*] section to choose (docs/config.md)"
            )
        return Config()
    shown = str(path)
    text = _read(path, shown, given is not None)
    document = _parse(text, shown)
    folder = os.path.dirname(shown)
    config = _config(document, text, shown, folder)
    _check_structure(config, document)
    if env is None:
        return config
    if env not in config.sections:
        names = ", ".join(sorted(printable(name) for name in config.sections)) or "none"
        raise UsageError(
            f"{env_from} {printable(env)}: {printable(shown)} has no [env.{printable(env)}] "
            f"section; its envs: {names}"
        )
    return Config(config.path, config.folder, text, config.top, config.sections, env, env_from)


def _read(path: Path, shown: str, given: bool) -> str:
    fd = open_regular(path, os.O_RDONLY, "the config file")
    if fd is None:
        what = "--config" if given else "the config file"
        raise UsageError(f"{what} {printable(shown)}: no such file")
    try:
        with open(fd, "rb") as file:  # closes fd
            data = file.read(MAX_BYTES + 1)
    except OSError as error:
        raise UsageError(f"cannot read {printable(shown)}: {error.strerror}") from error
    if len(data) > MAX_BYTES:
        where = Location(shown, 1, 1)
        raise ConfigError([Problem(where, "larger than 1 MiB: not a config file")], shown)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        before = data[: error.start]
        line = before.count(b"\n") + 1
        col = len(before) - (before.rfind(b"\n") + 1) + 1
        problem = Problem(Location(shown, line, col), "not UTF-8 text (TOML is UTF-8)")
        raise ConfigError([problem], shown) from None


_AT = re.compile(r"\s*\((?:at line (\d+), column (\d+)|at end of document)\)$")


def _parse(text: str, shown: str) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    try:
        document: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        message = str(error)
        found = _AT.search(message)
        if found is None or found[1] is None:  # at the end of the document
            lines = text.split("\n")
            line, col = len(lines), len(lines[-1]) + 1
        else:
            line, col = int(found[1]), int(found[2])
        words = message[: found.start()] if found else message
        problem = Problem(Location(shown, line, col), f"not valid TOML: {printable(words)}")
        raise ConfigError([problem], shown) from None
    return document


def _config(document: dict[str, Any], text: str, shown: str, folder: str) -> Config:
    top = Layer(shown, (), {k: v for k, v in document.items() if k != "env"})
    envs = document.get("env")
    sections: dict[str, Layer] = {}
    if isinstance(envs, dict):
        for name, values in envs.items():
            if isinstance(values, dict):
                source = f"{shown} [env.{printable(name)}]"
                sections[name] = Layer(source, ("env", name), values)
    return Config(shown, folder, text, top, sections)


# --- checking ---------------------------------------------------------------------------------


def _check_structure(config: Config, document: dict[str, Any]) -> None:
    """Credentials, unknown keys, keys that are chosen per run, a malformed `env`: all of them,
    before anything is used."""
    problems = [
        Problem(
            config.locate(parts), f"{_shown(parts)} looks like a credential; {_CREDENTIAL_HINT}"
        )
        for parts in _every_key(document)
        if _CREDENTIAL.search(parts[-1])
    ]
    problems += _url_credentials(config)
    flagged = {problem.location for problem in problems}
    envs = document.get("env")
    if "env" in document and not (
        isinstance(envs, dict) and all(isinstance(v, dict) for v in envs.values())
    ):
        message = "env holds one table per env: [env.staging], [env.production] (docs/config.md)"
        problems.append(Problem(config.locate(("env",)), message))
    for layer in (config.top, *config.sections.values()):
        for key in layer.values:
            where = config.locate((*layer.table, key))
            if where not in flagged and (wrong := _key_problem(key)) is not None:
                problems.append(Problem(where, wrong))
    if "paths" in config.top.values or any("paths" in s.values for s in config.sections.values()):
        problems += _paths_problems(config)
    if problems:
        raise ConfigError(problems, config.path or FILE_NAME)


def _every_key(table: Mapping[str, Any], parts: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for key, value in table.items():
        yield (*parts, key)
        if isinstance(value, dict):
            yield from _every_key(value, (*parts, key))
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, dict):
                    yield from _every_key(item, (*parts, key))


def _url_credentials(config: Config) -> list[Problem]:
    problems = []
    for layer in (config.top, *config.sections.values()):
        for key in _URLS:
            value = layer.values.get(key)
            if isinstance(value, str) and _has_userinfo(value):
                where = config.locate((*layer.table, key), value=True)
                message = f"{key} holds a user name or password: {_CREDENTIAL_HINT}"
                problems.append(Problem(where, message))
    return problems


def _has_userinfo(url: str) -> bool:
    if "@" not in url:
        return False
    from urllib.parse import urlsplit  # only for a URL that may hold one

    try:
        return "@" in urlsplit(url).netloc
    except ValueError:
        return False


def _key_problem(key: str) -> str | None:
    if key in SETTINGS:
        return None
    if key in PER_RUN:
        return (
            f"{_shown((key,))} is chosen for each run: give --{key.replace('_', '-')} on the "
            f"command line; {FILE_NAME} holds settings only"
        )
    if key in GLOBAL:
        return f"{_shown((key,))} is an option of reconciler itself, not a setting of the file"
    import difflib  # the failure path only

    close = difflib.get_close_matches(key, sorted(SETTINGS), n=1)
    keys = ", ".join(sorted(SETTINGS))
    hint = f"; did you mean {close[0]!r}?" if close else f" (the keys: {keys})"
    return f"unknown key {_shown((key,))}{hint}"


def _paths_problems(config: Config) -> list[Problem]:
    problems = []
    for layer in (config.top, *config.sections.values()):
        value = layer.values.get("paths")
        if value is None:
            continue
        if not (
            isinstance(value, list)
            and value
            and all(isinstance(item, str) and item for item in value)
        ):
            where = config.locate((*layer.table, "paths"), value=True)
            message = 'paths: a list of files or folders, like ["manifests"]'
            problems.append(Problem(where, message))
    return problems


def _shown(parts: tuple[str, ...]) -> str:
    return f"'{printable('.'.join(parts))}'"


# --- click --------------------------------------------------------------------------------------


def setting_key(param: click.Parameter) -> str | None:
    """The key of `param` in the file: its long option name with `_` for `-` (`--api-url`:
    `api_url`); an argument's name (`paths`)."""
    if isinstance(param, click.Argument):
        return param.name
    long = [opt for opt in param.opts if opt.startswith("--")]
    return max(long, key=len)[2:].replace("-", "_") if long else None


def configured_folder() -> str | None:
    """The folder of the config file in use, if any ("" for the current folder)."""
    ctx = click.get_current_context(silent=True)
    config = ctx.meta.get(META) if ctx is not None else None
    if not isinstance(config, Config) or config.path is None:
        return None
    return config.folder


def configure(ctx: click.Context, given: Path | None, env: str | None) -> Config:
    """Load the config and hand it to the command about to run (`ctx.invoked_subcommand`):
    its `default_map` (ConfigError if a value is bad for it) and the configured PATHS."""
    source = ctx.get_parameter_source("env_name")
    env_from = "RECONCILER_ENV" if source == click.core.ParameterSource.ENVIRONMENT else "--env"
    config = load_config(given, env or None, env_from)
    ctx.meta[META] = config
    name = ctx.invoked_subcommand
    if config.path is None or name is None:
        return config
    group = ctx.command
    command = group.get_command(ctx, name) if isinstance(group, click.Group) else None
    if command is not None:
        ctx.default_map = {name: defaults_for(config, command)}
    paths = config.lookup("paths")
    if paths is not None:
        ctx.meta[PATHS_META] = tuple(_resolved(config.folder, p) for p in paths[0])
    return config


def defaults_for(config: Config, command: click.Command) -> dict[str, Any]:
    """`command`'s default_map (a group's: one per subcommand): the effective value of each of
    its settings. Every layer's value of those settings is checked (ConfigError)."""
    problems: list[Problem] = []
    found = _defaults(config, command, problems)
    if problems:  # once each: a group's subcommands share settings (`state` of `state ...`)
        raise ConfigError(sorted(set(problems)), config.path or FILE_NAME)
    return found


def _defaults(config: Config, command: click.Command, problems: list[Problem]) -> dict[str, Any]:
    if isinstance(command, click.Group):
        return {
            name: _defaults(config, sub, problems) for name, sub in sorted(command.commands.items())
        }
    found: dict[str, Any] = {}
    for param in command.params:
        key = setting_key(param)
        if not isinstance(param, click.Option) or key not in SETTINGS or param.name is None:
            continue
        for layer in (config.top, *config.sections.values()):
            if key not in layer.values:
                continue
            try:
                value = convert(param, layer.values[key], config.folder)
            except BadSetting as error:
                where = config.locate((*layer.table, key), value=True)
                problems.append(Problem(where, f"{key}: {printable(str(error))}"))
                continue
            effective = config.lookup(key)
            if effective is not None and effective[1] is layer:
                found[param.name] = value
    return found


class PathOrUrl(click.ParamType[str]):
    """A file's path or a store's URL (`--state`): in this file, a relative path starts at the
    file's folder as any path here; a URL (scheme://...) is taken as written."""

    name = "path|url"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        from reconciler.state.location import locate

        try:
            locate(str(value))  # the endpoint is checked later, with --s3-endpoint-url
        except UsageError as error:
            self.fail(str(error).removeprefix("--state "), param, ctx)
        return str(value)


def _relative_path(param: click.Option, item: object) -> bool:
    if isinstance(param.type, click.Path):
        return True
    return isinstance(param.type, PathOrUrl) and isinstance(item, str) and "://" not in item


class BadSetting(Exception):
    """A value the option would refuse (the message says why)."""


def convert(param: click.Option, value: Any, folder: str) -> Any:
    """`value` as the option takes it, by the option's own type (the rules of the flag); a
    relative path from the folder of the file. BadSetting if the option would refuse it."""
    if param.is_flag:
        if not isinstance(value, bool):
            raise BadSetting("expected true or false")
        return value
    items = value if param.multiple and isinstance(value, list) else [value]
    for item in items:
        if isinstance(item, bool) or not isinstance(item, (str, int, float)):
            raise BadSetting("expected " + ("a list of " if param.multiple else "") + "a value")
    if isinstance(param.type, (click.Path, PathOrUrl)):
        if not all(isinstance(item, str) and item for item in items):
            raise BadSetting("expected a path (a string)")
        items = [_resolved(folder, item) if _relative_path(param, item) else item for item in items]
    try:
        converted = [param.type.convert(item, param, None) for item in items]
    except click.BadParameter as error:
        raise BadSetting(error.message) from None
    _check_limits(param.name, converted)
    if isinstance(param.type, click.Path):
        converted = items  # click converts them again, to its path_type
    return converted if param.multiple else converted[0]


def _check_limits(name: str | None, values: list[Any]) -> None:
    try:
        if name == "max_delete":
            parse_limits((), values)
        elif name == "max_delete_share":
            parse_limits(values, ())
    except UsageError as error:
        raise BadSetting(str(error)) from None


def _resolved(folder: str, path: str) -> str:
    return path if not folder or os.path.isabs(path) else os.path.join(folder, path)


# --- where a key is written ----------------------------------------------------------------------

_HEADER = re.compile(r"\s*\[\[?\s*([^\]]*?)\s*\]")
_KEY = re.compile(
    r"\s*((?:[A-Za-z0-9_-]+|\"(?:[^\"\\]|\\.)*\"|'[^']*')"
    r"(?:\s*\.\s*(?:[A-Za-z0-9_-]+|\"(?:[^\"\\]|\\.)*\"|'[^']*'))*)\s*=\s*"
)
_PART = re.compile(r"[A-Za-z0-9_-]+|\"(?:[^\"\\]|\\.)*\"|'[^']*'")


def _parts(dotted: str) -> tuple[str, ...]:
    return tuple(part.strip("\"'") for part in _PART.findall(dotted))


def _locate(text: str, path: str, parts: tuple[str, ...], value: bool) -> Location:
    """Where the key `parts` (its tables first) is written: its line, and the column of its
    key (or of its value). Only on the failure path: a scan of the lines. A key the scan
    cannot place (an inline table, a quoted key with escapes) is sought by its name alone."""
    table: tuple[str, ...] = ()
    for number, line in enumerate(text.split("\n"), start=1):
        header = _HEADER.match(line)
        if header is not None and not _KEY.match(line):
            table = _parts(header[1])
            if table[: len(parts)] == parts:
                return Location(path, number, header.start(1) + 1)
            continue
        key = _KEY.match(line)
        if key is not None and (*table, *_parts(key[1]))[: len(parts)] == parts:
            return Location(path, number, (key.end() if value else key.start(1)) + 1)
    name = re.compile(
        rf"(?<![A-Za-z0-9_-]){re.escape(parts[-1] if parts else '=')}(?![A-Za-z0-9_-])"
    )
    for number, line in enumerate(text.split("\n"), start=1):
        found = name.search(line)
        if found is not None:
            return Location(path, number, found.start() + 1)
    return Location(path, 1, 1)
