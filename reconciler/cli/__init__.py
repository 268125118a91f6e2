"""The command line: the imperative shell and the one error boundary.

The only package that touches argv, the environment, stdout/stderr and exit codes (and click).
`group` lists every command; each lives in its own module, imported only when it runs:
`validate_command`, `plan_command`, `apply_command`, `audit_command`, `import_command`,
`state_commands` (list, show, rm, unlock), `schema_command`, `emulator_command`. Shared:
`options` (options and defaults), `connection` (how to reach COR), `console` (stderr, colour),
`boundary` (`main`/`run`: exit codes, docs/exit-codes.md).
"""

from reconciler.cli.boundary import main, run
from reconciler.cli.group import cli

__all__ = ["cli", "main", "run"]
