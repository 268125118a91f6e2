"""Which failures stop a whole run instead of failing one record: the one stop policy of
apply, import and read-back.

Orchestration; imports `errors` only. A failure stops the run when every later request would
meet it too, so that going on could only fail the same way, record after record:
- an authentication failure (COR refused the token, or the token exchange) stops every run;
- COR still unreachable after the client's retries (TransientError) stops a run that writes
  (apply, import): a re-run picks up where it stopped. A read that gives up is only that
  record's failure: an audit reports what it read and names what it could not.
A stopped run starts nothing new, lets the requests in flight finish, and lists what it did
not attempt. Interrupts (Ctrl-C, SIGTERM) are not failures: each command handles its own.
"""

from __future__ import annotations

from reconciler.errors import ApiError, AuthError, TransientError

STOPS_WRITES: tuple[type[ApiError], ...] = (AuthError, TransientError)  # apply, import
STOPS_READS: tuple[type[ApiError], ...] = (AuthError,)  # read-back (audit --remote)
