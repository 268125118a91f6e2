"""When a whole run stops instead of one record failing: the one stop policy of apply, import
and read-back (docs/cli.md, "When a run stops early").

Orchestration; imports `errors` only. One record's failure is that record's: a request that COR
refused, or that still failed after the client's retries (TransientError), fails its record (its
dependants are skipped) and the run goes on. A run stops early only when going on could only
fail the same way, record after record:
- an authentication failure that renewing the token could not fix (AuthError) stops at once;
- COR down as a whole: `GIVE_UPS_TO_STOP` requests in a row that gave up after their retries,
  with no answer in between (any answer, even a refusal, shows COR is there and resets the
  count), open the breaker;
- an interrupt (Ctrl-C, SIGTERM) is not a failure: each command handles its own.
A stopped run starts nothing new, lets the requests in flight finish, and lists what it did not
attempt. `StopPolicy` is thread-safe: read-back calls it from its worker threads.
"""

from __future__ import annotations

import threading

from reconciler.errors import ApiError, AuthError, TransientError

GIVE_UPS_TO_STOP = 5  # requests in a row that gave up after their retries: COR is down

STOPS_AT_ONCE: tuple[type[ApiError], ...] = (AuthError,)  # every later request would meet it


class StopPolicy:
    """Watches how each request ended and says when, and why, the whole run must stop."""

    def __init__(self, give_ups_to_stop: int = GIVE_UPS_TO_STOP) -> None:
        if give_ups_to_stop < 1:
            raise ValueError("give_ups_to_stop must be at least 1")
        self._limit = give_ups_to_stop
        self._in_a_row = 0
        self._reason = ""
        self._lock = threading.Lock()

    @property
    def reason(self) -> str:
        """Why the run stops ("" while it goes on)."""
        return self._reason

    @property
    def stopped(self) -> bool:
        return bool(self._reason)

    def answered(self) -> None:
        """COR answered a request (success or refusal): it is up."""
        with self._lock:
            self._in_a_row = 0

    def failed(self, error: ApiError) -> bool:
        """A request ended with `error`; True if the run must stop now (see `reason`)."""
        with self._lock:
            if isinstance(error, STOPS_AT_ONCE):
                self._reason = self._reason or str(error)
            elif isinstance(error, TransientError):
                self._in_a_row += 1
                if self._in_a_row >= self._limit and not self._reason:
                    self._reason = (
                        f"COR looks down: {self._in_a_row} requests in a row failed after "
                        f"their retries, the last: {error}"
                    )
            else:
                self._in_a_row = 0  # COR answered, if with an error
            return bool(self._reason)
