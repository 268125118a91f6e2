"""The command line: the imperative shell and the one error boundary.

The only package that touches argv, the environment, stdout/stderr and exit codes (and click):
`shell` (shared options and helpers), `commands` (the group; validate, plan, schema, state,
emulator), `apply_command` (apply), `boundary` (run/main: exit codes, docs/exit-codes.md).
"""

from reconciler.cli.boundary import main, run
from reconciler.cli.commands import cli

__all__ = ["cli", "main", "run"]
