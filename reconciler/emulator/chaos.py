"""Random faults for rehearsals: a request-rate limit, random 429s, random 5xx answers and lost
answers.

Part of the emulator subpackage; pure in-memory logic (the clock is injected, the random
generator seeded). `app.py` consults it on every Integrations API write, after the bearer check:
`refusal()` (rate limit, then a random 429 or 5xx; the request is not processed) before the
injected faults, and `loses()` after processing. Not thread-safe on its own: like the store, it
is only called under the emulator's one lock, which thus guards the random generator and the
bucket. Every random choice comes from one `random.Random`, so a seed makes a run reproducible;
a rate of 0 draws nothing, so the defaults cost a comparison per request.
"""

from __future__ import annotations

import math
import random
import time
from collections import Counter
from collections.abc import Callable

from reconciler.emulator.errors import CorError
from reconciler.emulator.faults import DEFAULT_NAMES
from reconciler.emulator.messages import Response, error_response

FAIL_STATUSES = (500, 502, 503)
COUNTED = ("fail", "rate_limited", "lost")


def check_rates(
    fail_rate: float,
    rate_limit: float | None,
    lost_response_rate: float,
    throttle_rate: float = 0.0,
    throttle_retry_after: int = 1,
) -> None:
    """ValueError naming every setting out of range (NaN included)."""
    problems = [
        f"{name} must be between 0 and 1"
        for name, rate in (
            ("fail_rate", fail_rate),
            ("lost_response_rate", lost_response_rate),
            ("throttle_rate", throttle_rate),
        )
        if not 0.0 <= rate <= 1.0
    ]
    if not problems and fail_rate + throttle_rate > 1.0:
        problems.append("fail_rate and throttle_rate together must be at most 1")
    if rate_limit is not None and not rate_limit > 0.0:
        problems.append("rate_limit must be above 0 (or None for no limit)")
    if isinstance(throttle_retry_after, bool) or not 0 <= throttle_retry_after <= 3600:
        problems.append("throttle_retry_after must be whole seconds from 0 to 3600")
    if problems:
        raise ValueError("; ".join(problems))


class _Bucket:
    """A token bucket: `rate` tokens a second, up to `max(1, rate)` saved (the largest burst)."""

    def __init__(self, rate: float, clock: Callable[[], float]) -> None:
        self._rate = rate
        self._capacity = max(1.0, rate)
        self._clock = clock
        self._tokens = self._capacity
        self._last = clock()

    def take(self) -> int | None:
        """None when a token was spent; else the whole seconds until one is there (at least 1)."""
        now = self._clock()
        elapsed = max(0.0, now - self._last)  # a clock that steps back refills nothing
        self._tokens = min(self._capacity, self._tokens + elapsed * self._rate)
        self._last = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return None
        return max(1, math.ceil((1.0 - self._tokens) / self._rate))


class Chaos:
    """The random faults of one emulated account, and how often each struck."""

    def __init__(
        self,
        fail_rate: float = 0.0,
        rate_limit: float | None = None,
        lost_response_rate: float = 0.0,
        seed: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        throttle_rate: float = 0.0,
        throttle_retry_after: int = 1,
    ) -> None:
        check_rates(fail_rate, rate_limit, lost_response_rate, throttle_rate, throttle_retry_after)
        self._fail_rate = fail_rate
        self._throttle_rate = throttle_rate
        self._throttle_wait = throttle_retry_after
        self._rate_limit = rate_limit
        self._lost_rate = lost_response_rate
        self._seed = seed
        self._clock = clock
        self._random = random.Random(seed)
        self._bucket = None if rate_limit is None else _Bucket(rate_limit, clock)
        self._counts: Counter[str] = Counter()

    def reset(self) -> None:
        """As new: the generator reseeded (the same sequence again), the bucket full, counts 0."""
        self._random.seed(self._seed)
        if self._rate_limit is not None:
            self._bucket = _Bucket(self._rate_limit, self._clock)
        self._counts.clear()

    def counts(self) -> dict[str, int]:
        return {name: self._counts[name] for name in COUNTED}

    def refusal(self) -> Response | None:
        """A 429 over the rate limit, else (one draw) a random 429 with Retry-After or a random
        500/502/503, else None (go on)."""
        if self._bucket is not None:
            wait = self._bucket.take()
            if wait is not None:
                self._counts["rate_limited"] += 1
                limit = f"{self._rate_limit:g}"
                error = CorError(429, DEFAULT_NAMES[429], f"Rate limit of {limit} requests/s")
                return error_response(error, retry_after=wait)
        if self._fail_rate == 0.0 and self._throttle_rate == 0.0:
            return None
        draw = self._random.random()
        if draw < self._throttle_rate:
            self._counts["rate_limited"] += 1
            error = CorError(429, DEFAULT_NAMES[429], "Random throttling")
            return error_response(error, retry_after=self._throttle_wait)
        if draw < self._throttle_rate + self._fail_rate:
            self._counts["fail"] += 1
            status = self._random.choice(FAIL_STATUSES)
            return error_response(CorError(status, DEFAULT_NAMES[status], "Random failure"))
        return None

    def loses(self) -> bool:
        """True when the answer of a processed request is to be lost (the connection closed)."""
        if self._lost_rate > 0.0 and self._random.random() < self._lost_rate:
            self._counts["lost"] += 1
            return True
        return False
