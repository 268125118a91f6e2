"""docs/cli.md's reference is generated from the click commands (reconciler/cli/reference.py):
the file must be what `make docs` writes, and every option must say what it does."""

from __future__ import annotations

import difflib
from pathlib import Path

import click
import pytest

from reconciler.cli.group import cli
from reconciler.cli.reference import (
    StaleBlockError,
    commands,
    fill,
    main,
    options,
    render_command,
)

CLI_MD = Path(__file__).resolve().parent.parent / "docs" / "cli.md"


def test_docs_cli_md_is_generated_from_the_commands() -> None:
    written = CLI_MD.read_text(encoding="utf-8")
    generated = fill(cli, written)
    diff = "".join(
        list(
            difflib.unified_diff(
                written.splitlines(keepends=True),
                generated.splitlines(keepends=True),
                "docs/cli.md",
                "generated",
            )
        )[:60]
    )
    assert generated == written, f"docs/cli.md is stale: run `make docs`\n{diff}"


def test_the_reference_ignores_the_environment_and_config_of_the_run(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """`make docs` documents the defaults, not the settings of whoever runs it."""
    written = CLI_MD.read_text(encoding="utf-8")
    monkeypatch.setenv("RECONCILER_STATE", "state-from-env.json")
    monkeypatch.setenv("COR_API_URL", "http://127.0.0.1:1")
    monkeypatch.setenv("COLUMNS", "40")
    (tmp_path / "reconciler.toml").write_text('state = "from-config.json"\nparallelism = 2\n')
    monkeypatch.chdir(tmp_path)
    generated = fill(cli, written)
    assert "| `--state` | path\\|url | `RECONCILER_STATE` | `reconciler.state.json` |" in generated
    assert "state-from-env" not in generated
    assert "from-config" not in generated
    assert "http://127.0.0.1:1" not in generated


def test_every_command_has_its_own_block() -> None:
    """A new command lands under "Other commands" at first; each shipped one has a section."""
    written = CLI_MD.read_text(encoding="utf-8")
    for path in commands(cli):
        assert f"<!-- generated: {path} -->" in written, (
            f"{path} has no section in docs/cli.md: write one (a heading, what it does) holding "
            f"an empty `<!-- generated: {path} -->` / `<!-- end generated -->` block, then run "
            f"`make docs`, which fills it"
        )


def test_every_option_has_help() -> None:
    missing = [
        f"{path} {option.opts[0]}"
        for path, ctx in commands(cli).items()
        for option in options(ctx)
        if not (option.help or "").strip()
    ]
    assert not missing, f"options without help= (shown empty by --help and docs/cli.md): {missing}"


def test_every_command_has_help() -> None:
    assert [path for path, ctx in commands(cli).items() if not ctx.command.help] == []


def test_commands_lists_the_root_and_every_leaf_command() -> None:
    paths = list(commands(cli))
    assert paths[0] == "reconciler"
    assert {"reconciler plan", "reconciler apply", "reconciler state list"} <= set(paths)
    assert "reconciler state unlock" in paths
    assert "reconciler state" not in paths  # a group: its commands are documented instead


# A small group of its own, so the rendering is checked independently of the real commands.
@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show tracebacks.")
def toy() -> None:
    """A toy.

    Second paragraph.
    """


@toy.command()
@click.argument("paths", nargs=-1)
@click.option("--state", envvar="TOY_STATE", default="toy.json", help="The state | its file.")
@click.option("--format", type=click.Choice(["text", "json"]), default="text", help="Format.")
@click.option("--jobs", type=click.IntRange(1, 64), default=8, help="Jobs.")
@click.option("--wait", type=click.FloatRange(min=0.5), default=30.0, help="Seconds.")
@click.option("--only", multiple=True, metavar="SOURCE", help="Repeatable.")
@click.option("--color/--no-color", default=True, help="Colour.")
@click.option("--hidden", hidden=True)
@click.option("--out", type=click.Path(dir_okay=False), help="Output file.")
def run(**_: object) -> None:
    """Run the toy."""


@toy.command()
def bare() -> None:
    """Nothing to set."""


TOY_TEXT = """# Toy

<!-- generated: reconciler run -->
old text, replaced
<!-- end generated -->

prose kept

<!-- generated: other commands -->
<!-- end generated -->
"""


def test_a_block_holds_usage_help_and_a_table_of_the_options() -> None:
    block = render_command(commands(toy)["reconciler run"])
    assert block.splitlines()[:3] == ["`reconciler run [OPTIONS] [PATHS]...`", "", "Run the toy."]
    rows = [line for line in block.splitlines() if line.startswith("| `")]
    assert rows == [
        "| `--state` | text | `TOY_STATE` | `toy.json` | The state \\| its file. |",
        "| `--format` | `text\\|json` |  | `text` | Format. |",
        "| `--jobs` | integer, 1 to 64 |  | `8` | Jobs. |",
        "| `--wait` | number, at least 0.5 |  | `30` | Seconds. |",
        "| `--only` | `SOURCE`, repeatable |  |  | Repeatable. |",
        "| `--color` / `--no-color` | boolean |  | on | Colour. |",
        "| `--out` | file |  |  | Output file. |",
    ]


def test_the_root_keeps_its_paragraphs_and_a_bare_command_says_so() -> None:
    found = commands(toy)
    assert "A toy.\n\nSecond paragraph." in render_command(found["reconciler"])
    assert render_command(found["reconciler bare"]).endswith("No options but `-h` / `--help`.")


def test_fill_rewrites_blocks_keeps_prose_and_places_new_commands() -> None:
    filled = fill(toy, TOY_TEXT)
    assert "old text" not in filled
    assert "prose kept" in filled
    assert "<!-- generated: reconciler run -->\n`reconciler run [OPTIONS] [PATHS]...`" in filled
    others = filled.split("<!-- generated: other commands -->")[1]
    assert "### `reconciler`\n" in others  # the root had no block of its own
    assert "### `reconciler bare`\n" in others
    assert "reconciler run" not in others
    assert fill(toy, filled) == filled  # generating again changes nothing


def test_a_block_for_a_command_that_does_not_exist_is_refused() -> None:
    text = TOY_TEXT + "<!-- generated: reconciler gone -->\n<!-- end generated -->\n"
    with pytest.raises(StaleBlockError, match="reconciler gone"):
        fill(toy, text)


def test_main_writes_the_file_in_place(tmp_path: Path) -> None:
    page = tmp_path / "cli.md"
    page.write_text("x\n<!-- generated: reconciler schema -->\nold\n<!-- end generated -->\n")
    assert main([str(page)]) == 0
    written = page.read_text()
    assert "`reconciler schema [OPTIONS]`" in written
    assert "old" not in written
    assert main([]) == 3
