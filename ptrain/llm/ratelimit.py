"""Per-endpoint limits shared by every client of one endpoint in this process.

``RateLimiter``: requests per minute. ``inflight_for``: a cap on requests in flight at once
(``models.*.concurrency``), so several batches running side by side never exceed what the
endpoint (or its account) allows.

Calls are spaced evenly (``60 / rpm`` seconds apart) rather than allowed in bursts: OpenAI-style
limits are enforced over short windows, and even spacing never trips them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class RateLimiter:
    def __init__(
        self,
        requests_per_minute: int,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.interval = 60.0 / requests_per_minute if requests_per_minute > 0 else 0.0
        self._next = 0.0
        self._lock = threading.Lock()
        self._clock, self._sleep = clock, sleep

    def acquire(self) -> float:
        """Block until a request may start; returns the seconds waited."""
        if not self.interval:
            return 0.0
        with self._lock:
            now = self._clock()
            start = max(now, self._next)
            self._next = start + self.interval
        wait = start - now
        if wait > 0:
            self._sleep(wait)
        return wait


_limiters: dict[tuple, RateLimiter] = {}
_limiters_lock = threading.Lock()


def limiter_for(key: tuple, requests_per_minute: int) -> RateLimiter:
    with _limiters_lock:
        lim = _limiters.get((*key, requests_per_minute))
        if lim is None:
            lim = _limiters[(*key, requests_per_minute)] = RateLimiter(requests_per_minute)
        return lim


_inflight: dict[tuple, threading.BoundedSemaphore] = {}


def inflight_for(key: tuple, concurrency: int) -> threading.BoundedSemaphore:
    """The semaphore that caps requests in flight to one endpoint (shared per process)."""
    with _limiters_lock:
        sem = _inflight.get((*key, concurrency))
        if sem is None:
            sem = _inflight[(*key, concurrency)] = threading.BoundedSemaphore(max(1, concurrency))
        return sem
