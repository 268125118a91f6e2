"""The command reference of docs/cli.md, generated from the click commands (`make docs`).

Part of the CLI (it reads click's objects), never loaded by a command. `fill` is pure: given the
root group and the text of docs/cli.md, it rewrites every block between
`<!-- generated: reconciler COMMAND -->` and `<!-- end generated -->` with that command's usage
line, help text and a table of its options (flags, value, environment variable, default, help),
and the prose around the blocks is kept as written. A command that has no block of its own gets
one under the `<!-- generated: other commands -->` block, so a new command appears at once;
a block naming a command that does not exist is an error. `python -m reconciler.cli.reference
docs/cli.md` writes the file; tests/test_cli_docs.py fails when it is stale.
"""

from __future__ import annotations

import inspect
import re
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import click

END = "<!-- end generated -->"
OTHERS = "other commands"
_BLOCK = re.compile(
    r"^<!-- generated: (?P<name>[^>]+?) -->\n.*?^<!-- end generated -->$", re.M | re.S
)


class StaleBlockError(Exception):
    """A generated block names a command that does not exist."""


def commands(root: click.Group) -> dict[str, click.Context]:
    """Every command path (`reconciler`, `reconciler plan`, `reconciler state list`) with its
    context, in the order of `--help`: the root, then each leaf command (groups are walked)."""
    found: dict[str, click.Context] = {}
    top = click.Context(root, info_name="reconciler")
    found[top.command_path] = top

    def walk(group: click.Group, parent: click.Context) -> None:
        for name in group.list_commands(parent):
            command = group.get_command(parent, name)
            if command is None or command.hidden:
                continue
            ctx = click.Context(command, info_name=name, parent=parent)
            if isinstance(command, click.Group):
                walk(command, ctx)
            else:
                found[ctx.command_path] = ctx

    walk(root, top)
    return found


def options(ctx: click.Context) -> Iterator[click.Option]:
    """The documented options of a command: all but hidden ones and the help option."""
    help_names = set(ctx.help_option_names)
    for param in ctx.command.get_params(ctx):
        if not isinstance(param, click.Option) or param.hidden:
            continue
        if not help_names.intersection(param.opts):
            yield param


def render_command(ctx: click.Context) -> str:
    """One command's block: its usage line, its help text, the table of its options."""
    command = ctx.command
    usage = " ".join([ctx.command_path, *command.collect_usage_pieces(ctx)])
    lines = [f"`{usage}`", ""]
    help_text = inspect.cleandoc((command.help or "").split("\f")[0])
    if help_text:
        lines += [_paragraphs(help_text), ""]
    rows = [_row(option) for option in options(ctx)]
    if rows:
        lines += ["| option | value | env | default | meaning |", "|---|---|---|---|---|", *rows]
    else:
        lines += ["No options but `-h` / `--help`."]
    return "\n".join(lines)


def _paragraphs(text: str) -> str:
    """Click's help text as Markdown: paragraphs kept, `\\b` (no rewrap) markers dropped."""
    kept = [line for line in text.splitlines() if line.strip() != "\b"]
    return "\n".join(line.rstrip() for line in kept)


def _row(option: click.Option) -> str:
    info = option.to_info_dict()
    flags = " / ".join(f"`{name}`" for name in (*option.opts, *option.secondary_opts))
    envvar = option.envvar if isinstance(option.envvar, str) else " ".join(option.envvar or ())
    cells = [
        flags,
        _value(option, info["type"]),
        f"`{envvar}`" if envvar else "",
        _default(option, info["default"]),
        option.help or "",
    ]
    return "| " + " | ".join(_cell(cell) for cell in cells) + " |"


def _cell(text: str) -> str:
    """A table cell: on one line, its pipes escaped (also inside code spans, as GFM needs)."""
    return " ".join(text.split()).replace("|", "\\|")


def _value(option: click.Option, kind: Mapping[str, Any]) -> str:
    if option.is_flag and not option.secondary_opts:
        return "flag"
    if option.metavar:
        value = f"`{option.metavar}`"
    elif kind["param_type"] == "Choice":
        value = "`" + "|".join(str(choice) for choice in kind["choices"]) + "`"
    else:
        value = _typed(kind)
    return f"{value}, repeatable" if option.multiple else value


_TYPE_NAMES = {"Path": "path", "String": "text", "Int": "integer", "Float": "number"}


def _typed(kind: Mapping[str, Any]) -> str:
    """A value's type in words: `integer, 1 to 64`, `seconds, at least 0.1`, `file`."""
    param_type = kind["param_type"]
    if param_type == "Path":
        return "file" if not kind["dir_okay"] else "folder" if not kind["file_okay"] else "path"
    if param_type in {"IntRange", "FloatRange"}:
        low, high = kind["min"], kind["max"]
        name = "integer" if param_type == "IntRange" else kind["name"]
        name = "number" if name == "float range" else name
        if low is not None and high is not None:
            return f"{name}, {_number(low)} to {_number(high)}"
        if low is not None:
            return f"{name}, {'above' if kind['min_open'] else 'at least'} {_number(low)}"
        return f"{name}, at most {_number(high)}"
    return _TYPE_NAMES.get(param_type, str(kind["name"]))


def _number(value: float) -> str:
    return f"{value:g}"


def _default(option: click.Option, default: Any) -> str:
    """The default as `--help` would show it, from click's info (never the environment's)."""
    if option.is_flag and not option.secondary_opts:
        return "" if not option.expose_value else "on" if default else "off"
    if isinstance(option.show_default, str):
        return f"`{option.show_default}`"
    if default is None or callable(default) or (option.multiple and not default):
        return ""
    if isinstance(default, bool):
        return "on" if default else "off"
    if isinstance(default, float):
        return f"`{_number(default)}`"
    if isinstance(default, (list, tuple)):
        return ", ".join(f"`{item}`" for item in default)
    return f"`{default}`"


def fill(root: click.Group, text: str) -> str:
    """`text` (docs/cli.md) with every generated block rewritten from `root`'s commands, and a
    block for each command without one added to the `other commands` block."""
    known = commands(root)
    placed = [found["name"] for found in _BLOCK.finditer(text)]
    unknown = sorted(set(placed) - {*known, OTHERS})
    if unknown:
        raise StaleBlockError(
            f"docs/cli.md has generated blocks for commands that do not exist: {unknown}"
        )
    unplaced = [path for path in known if path not in placed]

    def block(found: re.Match[str]) -> str:
        name = found["name"]
        if name != OTHERS:
            body = render_command(known[name]) + "\n"
        else:
            sections = (f"### `{path}`\n\n{render_command(known[path])}\n" for path in unplaced)
            body = "\n".join(sections)
        return f"<!-- generated: {name} -->\n{body}{END}"

    return _BLOCK.sub(block, text)


def main(argv: list[str]) -> int:
    """`python -m reconciler.cli.reference FILE`: regenerate FILE's blocks in place."""
    from reconciler.cli.group import cli

    if len(argv) != 1:
        sys.stderr.write("usage: python -m reconciler.cli.reference docs/cli.md\n")
        return 3
    path = Path(argv[0])
    text = path.read_text(encoding="utf-8")
    try:
        new = fill(cli, text)
    except StaleBlockError as error:
        sys.stderr.write(f"error: {error}\n")
        return 3
    if new != text:
        path.write_text(new, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
