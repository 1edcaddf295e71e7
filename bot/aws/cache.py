"""A small TTL cache with an injectable clock, for AWS listings that change rarely (zones, load balancers).

It must not cache per-request answers (records, rules, target health): those are read fresh every time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")

Clock = Callable[[], float]


class TtlCache(Generic[T]):
    """Values loaded on first use and kept for `ttl_seconds`; a `ttl_seconds` of 0 disables caching."""

    def __init__(self, ttl_seconds: float, clock: Clock = time.monotonic) -> None:
        self.ttl_seconds = ttl_seconds
        self._clock = clock
        self._values: dict[str, tuple[float, T]] = {}
        self._lock = threading.Lock()

    def get_or_load(self, key: str, load: Callable[[], T]) -> T:
        now = self._clock()
        with self._lock:
            hit = self._values.get(key)
            if hit is not None and now - hit[0] < self.ttl_seconds:
                return hit[1]
        value = load()  # outside the lock: two concurrent misses may both load, which is harmless
        with self._lock:
            self._values[key] = (now, value)
        return value

    def invalidate(self, key: str | None = None) -> None:
        with self._lock:
            if key is None:
                self._values.clear()
            else:
                self._values.pop(key, None)
