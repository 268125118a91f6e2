"""How hard one request to COR is retried: attempts, full-jitter backoff and Retry-After.

Part of the COR edge, free of HTTP: the client asks `RetryPolicy.delay` how long to wait
before the next attempt (None: give up). Imports the standard library and `errors` only.
"""

from __future__ import annotations

import email.utils
import math
import random
from dataclasses import dataclass
from datetime import timezone

from reconciler.errors import UsageError

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
ASKED_MIN_CHARGE = 1.0  # seconds of the budget each 429 + Retry-After wait costs at least


@dataclass(frozen=True)
class RetryPolicy:
    """How hard one request is retried: attempts in all, and seconds of backoff summed."""

    max_attempts: int = 5
    max_total_wait: float = 60.0
    base_delay: float = 0.5
    max_delay: float = 20.0

    def __post_init__(self) -> None:
        delays = (self.max_total_wait, self.base_delay, self.max_delay)
        if self.max_attempts < 1 or not all(0 <= delay < math.inf for delay in delays):
            raise UsageError(
                "retry policy: max_attempts must be at least 1, delays finite and not negative"
            )

    def delay(
        self, attempt: int, retry_after: float | None, waited: float, rng: random.Random
    ) -> float | None:
        """Seconds to wait after attempt number `attempt` failed, having waited `waited`
        already: Retry-After if given (capped by the wait left), else full jitter; None: stop."""
        if attempt >= self.max_attempts:
            return None
        left = self.max_total_wait - waited
        if retry_after is not None:
            return min(retry_after, left) if left > 0 else None
        ceiling = min(self.max_delay, self.base_delay * 2 ** min(attempt - 1, 64))
        delay = rng.uniform(0, ceiling)
        return delay if delay <= left else None

    def asked_wait(self, retry_after: float, waited: float) -> float | None:
        """Seconds to wait when COR answered 429 with Retry-After, having waited `waited`: what
        it asks, cut to the wait left; None when the budget is spent. Such a wait spends no
        attempt: the total-wait budget alone bounds it (`charge_asked`)."""
        left = self.max_total_wait - waited
        return min(retry_after, left) if left > 0 else None

    @staticmethod
    def charge_asked(delay: float) -> float:
        """What an asked wait costs of the budget: at least ASKED_MIN_CHARGE, so that a server
        answering 429 with `Retry-After: 0` cannot keep a request going for ever."""
        return max(delay, ASKED_MIN_CHARGE)


def retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date."""
    if not value or not value.strip():
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        seconds = when.timestamp() - now
    return max(0.0, seconds) if math.isfinite(seconds) else None
