"""The one exception family of reconciler; `cli/boundary.py` maps it to exit codes.

Pure module: imports nothing but the standard library.

    ReconcileError                  exit 1   runtime failure
    ├── InputError                  exit 3   the user's input is wrong
    │   ├── ManifestError                    manifests failed validation (carries every Problem)
    │   ├── StateError                       state file corrupt, truncated or unknown version
    │   └── UsageError                       a bad option or environment variable
    ├── StateWriteError             exit 1   the state, its journal or lock could not be written
    ├── StoreError                  exit 1   a remote state store could not be reached or read
    ├── RefusedError                exit 4   refused on purpose (lock held, stale plan, unsafe)
    ├── ApplyRefusedError           exit 1   the plan holds a change the API cannot make
    └── ApiError                    exit 1   COR answered with an error or not at all
        ├── AuthError                        401/403, or the token exchange failed
        ├── NotFoundError                    ZC001 / *NotFoundError / 404
        ├── DuplicateError                   ZC004 / DuplicateExternalIdError / 409
        ├── RequestRejectedError             ValidationError, InvalidSourceError, other 4xx
        ├── DeletionError                    the record still has dependants
        └── TransientError                   429, 5xx, timeouts, connection errors

Messages never carry a token, key or secret.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_CHANGES = 2
EXIT_INVALID = 3
EXIT_REFUSED = 4
EXIT_INTERRUPTED = 130


class Location(NamedTuple):
    """A place in a manifest file; line and column are 1-based. A NamedTuple: 100,000 entries
    each carry one, made in a fraction of a frozen dataclass's time; they sort as tuples."""

    path: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.col}"


@dataclass(frozen=True, order=True)
class Problem:
    """One validation finding, printed as `path:line:col: message`."""

    location: Location
    message: str

    def __str__(self) -> str:
        return f"{self.location}: {self.message}"


class ReconcileError(Exception):
    """Base of every error reconciler raises on purpose."""

    exit_code = EXIT_FAILURE


class InputError(ReconcileError):
    exit_code = EXIT_INVALID


class ManifestError(InputError):
    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems)
        count = len(self.problems)
        super().__init__(f"{count} problem{'s' if count != 1 else ''} found in the manifests")


class StateError(InputError):
    pass


class UsageError(InputError):
    pass


class StateWriteError(ReconcileError):
    """An I/O failure writing the state (disk full, permissions): not the user's input."""


class StoreError(ReconcileError):
    """A remote state store (PostgreSQL, S3) could not be reached, or refused to answer (no
    access, no bucket...): not the state's content, which is StateError."""


class RefusedError(ReconcileError):
    exit_code = EXIT_REFUSED


class ApplyRefusedError(ReconcileError):
    pass


class ApiError(ReconcileError):
    """COR answered with an error. `status` is None when no answer came back."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        name: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.name = name
        self.code = code


class AuthError(ApiError):
    pass


class NotFoundError(ApiError):
    pass


class DuplicateError(ApiError):
    pass


class RequestRejectedError(ApiError):
    pass


class DeletionError(ApiError):
    pass


class TransientError(ApiError):
    pass
