"""The one error boundary: run a command, map what it raised to the documented exit codes
(docs/exit-codes.md), never a traceback for a user's mistake.

`main` is the console script and `python -m reconciler` (it makes SIGTERM an interrupt, exit 130,
in every phase); `run` returns the exit code (tests).
"""

from __future__ import annotations

import itertools
import signal
import sys
import traceback
from collections.abc import Sequence
from typing import NoReturn

import click

from reconciler import __version__
from reconciler.cli.group import cli
from reconciler.errors import (
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_INVALID,
    EXIT_OK,
    ManifestError,
    Problem,
    ReconcileError,
)
from reconciler.memory import spare_the_last_collection


def run(argv: Sequence[str] | None = None) -> int:
    """Run one command and return its exit code: the error boundary."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        result = cli.main(args=args, prog_name="reconciler", standalone_mode=False)
    except (KeyboardInterrupt, click.exceptions.Abort):
        if "--debug" in args:
            traceback.print_exc()
        click.echo("Interrupted.", err=True)
        return _failed(args, EXIT_INTERRUPTED, "interrupted")
    except click.ClickException as error:
        error.show()
        return _failed(args, EXIT_INVALID, error.format_message())
    except ManifestError as error:
        for problem in error.problems:
            click.echo(str(problem), err=True)
        click.echo(f"error: {error}", err=True)
        return _failed(args, error.exit_code, str(error), error.problems)
    except ReconcileError as error:
        click.echo(f"error: {error}", err=True)
        return _failed(args, error.exit_code, str(error))
    except Exception as error:  # the boundary: anything unexpected is a bug, reported briefly
        if "--debug" in args:
            traceback.print_exc()
        click.echo(
            f"unexpected error ({type(error).__name__}): {error}\n"
            f"This is a bug in reconciler {__version__}: please report it to its maintainers "
            "with the output of the same command run with --debug (it shows the traceback).",
            err=True,
        )
        return _failed(args, EXIT_FAILURE, f"unexpected error ({type(error).__name__})")
    return result if isinstance(result, int) else EXIT_OK


def _failed(args: Sequence[str], code: int, message: str, problems: Sequence[Problem] = ()) -> int:
    """With `--format json`, wrappers get the failure as JSON on stdout too (exit-codes.md)."""
    wants_json = "--format=json" in args or any(
        a == "--format" and b == "json" for a, b in itertools.pairwise(args)
    )
    if wants_json:
        from reconciler.output.failure_json import render_failure_json

        click.echo(render_failure_json(code, message, problems), nl=False)
    return code


def main(argv: Sequence[str] | None = None) -> NoReturn:
    """The process: SIGTERM (a cancelled CI job, `kill`) is an interrupt like Ctrl-C in every
    phase — reading, planning, the prompt, applying, writing the state — so it exits 130; apply
    turns both into a clean stop while it sends (cli/apply_command.py)."""
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        code = run(argv)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # done: the outcome stands
    except KeyboardInterrupt:  # between the command's end and the line above
        code = EXIT_INTERRUPTED
    spare_the_last_collection()  # the process ends here
    sys.exit(code)
