"""The bounded pool that runs what a listener does after its ack, so acks never wait behind that work.

Slack gives an ack 3 s. Bolt runs a listener on one thread from start to end: the ack part (validate,
`ack()`) and then the rest (render, write, call Slack). When fifty submissions arrive at once, fifty
threads doing the rest compete for the same two cores (and the GIL) with the acks still to come, and
acks turn late. `AfterAckPool` bounds the rest: the wrapper every listener gets at registration
(`bot.slack.registry`) calls `enter()` right after the listener's `ack()` returned, so at most
`workers` listeners run their post-ack part at once and at most `queue` wait for a turn; one more is
refused with `Busy` (the user is told, nothing was done). The ack part itself never waits here, and
while requests are still on their way to an ack (`acking()`), and for `quiet_seconds` after the last
one, post-ack parts hold back (up to `max_defer_seconds`), so a burst is acked first and worked on after. The
turn is also where a replayed signed request stops (`claim`): acked like the original, acted on once.
It owns no Slack or workflow logic and never runs a listener itself.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from provisioners.errors import TransientError


class Busy(TransientError):
    """More post-ack work is waiting than the queue holds: refuse it now rather than answer in minutes."""


class Replayed(Exception):
    """This signed request was acted on before (by this or another replica): ack it, do nothing more."""


class AfterAckPool:
    """At most `workers` post-ack parts run at once; at most `queue` more wait (in arrival order of
    the threads, as `threading.Semaphore` wakes them); `on_change(running, waiting)` sees every change."""

    def __init__(self, workers: int, queue: int, on_change: Callable[[int, int], None] | None = None,
                 first_delivery: Callable[[str], bool] | None = None, max_defer_seconds: float = 1.0,
                 quiet_seconds: float = 0.05) -> None:
        if workers < 1 or queue < 0:
            raise ValueError("the post-ack pool needs at least one worker and a queue of zero or more")
        self.workers = workers
        self.queue = queue
        self._turns = threading.Semaphore(workers)
        self._lock = threading.Lock()
        self._quiet = threading.Condition(self._lock)
        self._running = 0
        self._waiting = 0
        self._acking = 0
        self._last_acked = 0.0  # monotonic time the last ack finished
        self.max_defer_seconds = max_defer_seconds
        self.quiet_seconds = quiet_seconds
        self.on_change = on_change
        self.first_delivery = first_delivery

    def claim(self, signature: str) -> None:
        """Raise `Replayed` unless this is the first time `signature` (a signed HTTP request) is acted on.
        Called in the post-ack part, so the database write never delays an ack."""
        if signature and self.first_delivery is not None and not self.first_delivery(signature):
            raise Replayed(signature[:12])

    @property
    def threads_needed(self) -> int:
        """Listener threads the pool may hold at once (running plus waiting)."""
        return self.workers + self.queue

    @contextmanager
    def acking(self) -> Iterator[None]:
        """Bracket one request's way from arrival to its ack (the WSGI app and the Socket Mode link do).
        While any request is on that way, post-ack parts do not start (for at most `max_defer_seconds`):
        on two cores every cycle they take is a cycle an ack waits for."""
        with self._lock:
            self._acking += 1
        try:
            yield
        finally:
            with self._lock:
                self._acking -= 1
                self._last_acked = time.monotonic()
                if self._acking == 0:
                    self._quiet.notify_all()

    def enter(self) -> None:
        """Wait for a turn (raises `Busy` when the queue is full); pair every successful call with `leave()`."""
        with self._lock:
            if self._waiting >= self.queue and self._running >= self.workers:
                raise Busy(f"LaunchPad is busy right now ({self._waiting} tasks are waiting); nothing was done, "
                           "so try again in a minute")
            self._waiting += 1
            self._changed()
        self._turns.acquire()
        deadline = time.monotonic() + self.max_defer_seconds
        with self._lock:
            self._wait_for_quiet(deadline)
            self._waiting -= 1
            self._running += 1
            self._changed()

    def _wait_for_quiet(self, deadline: float) -> None:
        """Until no request has been on its way to an ack for `quiet_seconds` (a burst reaches the app in
        waves, one per free server thread: the gap between two waves is not the end of the burst), or
        until `deadline`. Called with the lock held."""
        while (now := time.monotonic()) < deadline:
            if self._acking == 0:
                idle = now - self._last_acked
                if idle >= self.quiet_seconds:
                    return
                self._quiet.wait(timeout=min(self.quiet_seconds - idle, deadline - now))
            else:
                self._quiet.wait(timeout=deadline - now)

    def leave(self) -> None:
        with self._lock:
            self._running -= 1
            self._changed()
        self._turns.release()

    def snapshot(self) -> tuple[int, int]:
        """(running, waiting) now."""
        with self._lock:
            return self._running, self._waiting

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change(self._running, self._waiting)
