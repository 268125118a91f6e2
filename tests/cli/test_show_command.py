"""`reconciler show PLANFILE` (cli/show_command.py): a saved plan rendered byte for byte as
`plan` rendered it, in text, JSON and Markdown, for plans of every kind of change; and the file
checked as `apply --plan` checks it."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from tests.harness import Cli, RunningEmulator, WorkFolder
from tests.paths import EXAMPLES

APPLIED = """\
source: GITHUB
clients:
  - {id: GH-1, name: Octo}
  - {id: GH-2, name: Cat}
  - {id: GH-3, name: "Gone soon"}
brands:
  - {id: GH-B1, name: Octo Home, client_id: GH-1}
products:
  - {id: GH-P1, name: Hub, client_id: GH-1, brand_id: GH-B1, description: "50% ``off``"}
"""
# An update (GH-2, GH-P1), a replacement (GH-B1 moves to GH-2: client_id cannot change, and its
# product goes with it), a create (GH-4) and, with --prune, a delete (GH-3).
CHANGED = """\
source: GITHUB
clients:
  - {id: GH-1, name: Octo}
  - {id: GH-2, name: "Cat \\"v2\\" ```x```"}
  - {id: GH-4, name: New}
brands:
  - {id: GH-B1, name: Octo Home, client_id: GH-2}
products:
  - {id: GH-P1, name: Hub, client_id: GH-2, brand_id: GH-B1, description: "50% é"}
"""
FORMATS = ("text", "json", "markdown")


@pytest.fixture
def applied(work_folder: WorkFolder, emulator_env: RunningEmulator, cli: Cli) -> Path:
    """GITHUB's records applied to the emulator, then the manifests changed."""
    root = work_folder({"github.yaml": APPLIED})
    code, _, err = cli("apply", "--auto-approve")
    assert code == 0, err
    (root / "manifests" / "github.yaml").write_text(CHANGED, encoding="utf-8")
    return root


def round_trip(cli: Cli, *options: str) -> dict[str, str]:
    """Plan with `options` in each format (the plan saved as well), show the saved plan in each
    format: the two must be the same bytes. Returns what `plan` printed, by format."""
    printed = {}
    for output_format in FORMATS:
        code, out, err = cli("plan", *options, "--format", output_format, "--out", "saved.plan")
        assert code == 0, err
        printed[output_format] = out
    for output_format in FORMATS:
        code, shown, err = cli("show", "saved.plan", "--format", output_format)
        assert code == 0, err
        assert shown == printed[output_format], output_format
    return printed


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        pytest.param(
            ("--target", "client GITHUB/GH-2", "--target", "client GITHUB/GH-4"),
            ["~ update client GITHUB/GH-2", "+ create client GITHUB/GH-4"],
            id="updates",
        ),
        pytest.param(
            ("--allow-replace",),
            ["-/+ replace brand GITHUB/GH-B1", "-/+ replace product GITHUB/GH-P1"],
            id="replacements",
        ),
        pytest.param(
            ("--allow-replace", "--prune", "--force"), ["- delete client GITHUB/GH-3"], id="prune"
        ),
        pytest.param(
            ("--allow-replace", "--refresh"), ["-/+ replace brand GITHUB/GH-B1"], id="refresh"
        ),
        pytest.param(
            ("--target", "client GITHUB/GH-4"), ["+ create client GITHUB/GH-4"], id="target"
        ),
    ],
)
def test_show_prints_the_saved_plan_as_plan_printed_it(
    applied: Path, cli: Cli, options: tuple[str, ...], expected: list[str]
) -> None:
    printed = round_trip(cli, *options)
    for line in expected:  # the plan is the one intended, not an empty one shown twice
        assert line in printed["text"]
    assert printed["markdown"].startswith("<!-- reconciler:plan manifests=manifests -->\n")


def test_show_round_trips_creates_of_the_examples_and_their_paths(
    work_folder: WorkFolder, cli: Cli
) -> None:
    root = work_folder({}, under="empty")
    (root / "manifests").symlink_to(EXAMPLES, target_is_directory=True)
    printed = round_trip(cli, "manifests/", "empty")
    assert "Plan: 38 to create" in printed["text"]
    # the Markdown marker names the paths as given: the saved plan keeps them (format 2)
    assert printed["markdown"].startswith("<!-- reconciler:plan manifests=manifests/,empty -->")
    saved = json.loads((root / "saved.plan").read_text(encoding="utf-8"))
    assert (saved["format_version"], saved["paths"]) == (2, ["manifests/", "empty"])


def test_show_round_trips_no_changes(work_folder: WorkFolder, cli: Cli) -> None:
    work_folder({})
    assert round_trip(cli)["text"] == "No changes.\n"


def test_show_never_colours_a_pipe(applied: Path, cli: Cli) -> None:
    cli("plan", "--allow-replace", "--out", "saved.plan")
    _, out, _ = cli("show", "saved.plan")
    assert "\x1b" not in out


@pytest.mark.parametrize(
    ("edit", "code", "message"),
    [
        pytest.param(
            lambda text: text.replace("GH-4", "GH-5"),
            4,
            "was altered after it was saved",
            id="altered",
        ),
        pytest.param(lambda text: "{", 4, "is not a saved plan of this format", id="not-json"),
        pytest.param(lambda text: None, 3, "cannot read", id="missing"),
    ],
)
def test_show_refuses_a_file_that_is_not_the_saved_plan(
    applied: Path, cli: Cli, edit: object, code: int, message: str
) -> None:
    cli("plan", "--allow-replace", "--out", "saved.plan")
    path = applied / "saved.plan"
    changed = edit(path.read_text(encoding="utf-8"))  # type: ignore[operator]  # a lambda
    if changed is None:
        path.unlink()
    else:
        path.write_text(changed, encoding="utf-8")
    for output_format in FORMATS:
        got, out, err = cli("show", "saved.plan", "--format", output_format)
        assert (got, out if output_format != "json" else "") == (code, "")
        assert message in err


def test_a_plan_saved_with_a_forged_digest_is_refused_not_a_crash(applied: Path, cli: Cli) -> None:
    cli("plan", "--allow-replace", "--out", "saved.plan")
    path = applied / "saved.plan"
    saved = json.loads(path.read_text(encoding="utf-8"))
    del saved["plan"]["changes"][0]["diff"]
    canonical = json.dumps(saved["plan"], sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    saved["plan_digest"] = f"sha256:{hashlib.sha256(canonical.encode()).hexdigest()}"
    path.write_text(json.dumps(saved), encoding="utf-8")
    code, out, err = cli("show", "saved.plan")
    assert (code, out) == (4, "")
    assert "does not hold a plan of this format" in err


def test_a_format_1_plan_is_shown_with_the_default_paths_and_a_warning(
    applied: Path, cli: Cli
) -> None:
    _, printed, _ = cli("plan", "--allow-replace", "--format", "markdown", "--out", "saved.plan")
    path = applied / "saved.plan"
    saved = json.loads(path.read_text(encoding="utf-8"))
    saved["format_version"] = 1
    del saved["paths"]
    path.write_text(json.dumps(saved), encoding="utf-8")
    code, shown, err = cli("show", "saved.plan", "--format", "markdown")
    assert (code, shown) == (0, printed)  # `plan` was given no paths: the default
    assert "saved by an earlier reconciler without its paths" in err
    assert cli("apply", "--plan", "saved.plan")[0] == 0  # and apply still takes it
