"""How GitHub calls wait: retries with backoff on 5xx and timeouts, rate-limit waits, and write pacing.

`Retrier.run` wraps one API call. It decides from the failure alone (status, headers, GitHub's message,
exception type) whether to sleep and try again or to give up with a `TransientError` carrying
`retry_at`; anything else is re-raised for the caller to interpret (404, 422...). Every rate-limit
shape GitHub documents is waited out: 403/429 with `x-ratelimit-remaining: 0` (until
`x-ratelimit-reset`), with `Retry-After`, or with a rate-limit message, and GraphQL's HTTP 200 answers
whose errors say so (`RateLimitedAnswer`, raised by the GraphQL client). A 401 is retried once when
the credential can `renew` (a GitHub App mints a new installation token), then it is permanent.
`WritePacer` is a token bucket per credential for content-creating calls (GitHub caps them near 80
a minute and 500 an hour). All waiting goes through injected `sleep` and `clock` callables so tests never really wait.
Messages never include a token: they are built here from status codes and GitHub's own text.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import requests
from github import GithubException

from provisioners.errors import PermanentError, TransientError

log = logging.getLogger(__name__)

T = TypeVar("T")
Sleep = Callable[[float], None]
Clock = Callable[[], float]


@dataclass(frozen=True)
class RetryPolicy:
    """Knobs for one credential's calls (Settings: github_max_retries, github_rate_limit_wait_cap_seconds)."""

    max_retries: int = 5
    backoff_base: float = 1.0
    backoff_max: float = 60.0
    wait_cap: float = 300.0
    secondary_min_wait: float = 60.0


class WritePacer:
    """Token buckets (per minute and per hour) shared by every forge using one credential.

    Bursts hold a third of the minute's rate (20 at the default 60/min): one request's writes (8 over
    GraphQL, 20 over REST for a three-environment web service) go out unpaced, while a run of requests
    settles at the rate, below GitHub's ~80 content-creating requests a minute."""

    def __init__(self, per_minute: int = 60, per_hour: int = 450, *, clock: Clock = time.monotonic,
                 sleep: Sleep = time.sleep) -> None:
        if per_minute <= 0 or per_hour <= 0:
            raise ValueError("write pacing rates must be positive")
        self._buckets = [_Bucket(capacity=max(1, per_minute // 3), per_second=per_minute / 60.0, clock=clock),
                         _Bucket(capacity=max(1, per_hour // 6), per_second=per_hour / 3600.0, clock=clock)]
        self._sleep = sleep
        self._lock = threading.Lock()
        self.waited = 0.0

    def acquire(self) -> None:
        """Take one write slot, sleeping until the buckets allow it."""
        with self._lock:
            wait = max(bucket.reserve() for bucket in self._buckets)
            self.waited += wait
        if wait > 0:
            log.debug("pacing GitHub writes: waiting %.1fs", wait)
            self._sleep(wait)


class _Bucket:
    def __init__(self, capacity: int, per_second: float, clock: Clock) -> None:
        self.capacity, self.per_second, self.clock = capacity, per_second, clock
        self.tokens = float(capacity)
        self.updated = clock()

    def reserve(self) -> float:
        """Take a token (possibly going into debt) and return how long the caller must wait for it."""
        now = self.clock()
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.per_second)
        self.updated = now
        self.tokens -= 1
        return 0.0 if self.tokens >= 0 else -self.tokens / self.per_second


class RateLimitedAnswer(Exception):
    """GitHub answered (HTTP 200, GraphQL) that a rate limit stopped the request; nothing was executed."""

    def __init__(self, primary: bool, headers: dict[str, Any], message: str) -> None:
        super().__init__(message)
        self.primary = primary
        self.headers = {k.lower(): v for k, v in headers.items()}


class Retrier:
    """Runs one call under the policy; `name` identifies the credential in messages (never its secret), `who`
    describes it (for an App: its app and installation ids). `renew` is asked once per call after a 401:
    True when it replaced the credential's token, so the call is worth repeating."""

    def __init__(self, policy: RetryPolicy, *, name: str, sleep: Sleep = time.sleep, clock: Clock = time.time,
                 rng: random.Random | None = None, who: str | None = None,
                 renew: Callable[[], bool] | None = None) -> None:
        self.policy, self.name, self.sleep, self.clock = policy, name, sleep, clock
        self.who = who or f"credential {name!r}"
        self.renew = renew
        self.rng = rng or random.Random()

    def run(self, fn: Callable[[], T], *, what: str, pacer: WritePacer | None = None) -> T:
        failures = 0
        limited = 0
        renewed = False
        while True:
            if pacer is not None:
                pacer.acquire()
            try:
                return fn()
            except RateLimitedAnswer as answer:
                limited += 1
                self._wait_limited(answer.primary, answer.headers, what, limited)
                continue
            except GithubException as err:
                status, headers = err.status, {k.lower(): v for k, v in (err.headers or {}).items()}
                message = _github_message(err.data)
                kind = rate_limit_kind(status, headers, message)
                if kind is not None:
                    limited += 1
                    self._wait_limited(kind == "primary", headers, what, limited)
                    continue
                if status >= 500:
                    failures += 1
                    self._backoff(failures, what, f"HTTP {status}")
                    continue
                if status == 401:
                    if not renewed and self.renew is not None and self.renew():
                        renewed = True
                        continue
                    fix = ("even with a new installation token; check that the installation is not suspended and "
                           "that this machine's clock is right" if renewed else
                           "check its token (expired or revoked?) or GitHub App installation")
                    raise PermanentError(f"GitHub rejected {self.who} while trying to {what} "
                                         f"(401 {message or 'Bad credentials'}); {fix}") from None
                if status == 403:
                    raise PermanentError(f"{self.who} may not {what} (403 {message}); grant the "
                                         "permissions listed in docs/forge.md") from None
                raise
            except (requests.Timeout, requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as err:
                failures += 1
                self._backoff(failures, what, "timed out" if isinstance(err, requests.Timeout) else
                              "connection failed")

    def _backoff(self, failures: int, what: str, reason: str) -> None:
        if failures > self.policy.max_retries:
            raise TransientError(f"GitHub failed {failures} times while trying to {what} (last: {reason}); "
                                 "LaunchPad will retry the step later") from None
        delay = backoff_delay(self.policy, failures, self.rng)
        log.info("GitHub %s while trying to %s; retry %d/%d in %.1fs", reason, what, failures,
                 self.policy.max_retries, delay)
        self.sleep(delay)

    def _wait_limited(self, primary: bool, headers: dict[str, Any], what: str, limited: int) -> None:
        """One rate-limited answer, however it came (HTTP status or a GraphQL error body)."""
        if primary:
            self._wait_for_reset(headers, what, limited)
        else:
            self._wait_secondary(headers, what, limited)

    def _wait_for_reset(self, headers: dict[str, Any], what: str, limited: int) -> None:
        now = self.clock()
        try:
            reset = float(headers.get("x-ratelimit-reset", now + self.policy.secondary_min_wait))
        except ValueError:
            reset = now + self.policy.secondary_min_wait
        wait = max(1.0, reset - now + 1.0)
        if wait > self.policy.wait_cap or limited > self.policy.max_retries:
            retry_at = datetime.fromtimestamp(reset, UTC)
            raise TransientError(f"GitHub API rate limit of credential {self.name!r} is used up until "
                                 f"{retry_at:%H:%M:%S} UTC (while trying to {what}); LaunchPad will retry then",
                                 retry_at=retry_at) from None
        log.warning("GitHub rate limit of credential %r reached; waiting %.0fs for the reset", self.name, wait)
        self.sleep(wait)

    def _wait_secondary(self, headers: dict[str, Any], what: str, limited: int) -> None:
        """Retry-After when given; else the reset when the budget is at zero; else 60 s, 120 s, 240 s ..."""
        if "retry-after" not in headers and str(headers.get("x-ratelimit-remaining", "")) == "0":
            self._wait_for_reset(headers, what, limited)
            return
        retry_after = headers.get("retry-after")
        try:
            wait = float(retry_after) if retry_after is not None else None
        except ValueError:
            wait = None
        if wait is None:
            wait = self.policy.secondary_min_wait * 2 ** (limited - 1)
        if wait > self.policy.wait_cap or limited > self.policy.max_retries:
            retry_at = datetime.fromtimestamp(self.clock() + wait, UTC)
            raise TransientError(f"GitHub secondary rate limit hit by credential {self.name!r} (while trying to "
                                 f"{what}); LaunchPad will retry after {retry_at:%H:%M:%S} UTC",
                                 retry_at=retry_at) from None
        log.warning("GitHub secondary rate limit for credential %r; waiting %.0fs", self.name, wait)
        self.sleep(wait)


def backoff_delay(policy: RetryPolicy, failures: int, rng: random.Random) -> float:
    """Seconds before retry number `failures` (1-based): doubling from backoff_base up to backoff_max, with
    jitter so workers do not retry in lock step. Shared by every HTTP client that retries (GitHub, Argo CD)."""
    delay = min(policy.backoff_max, policy.backoff_base * 2 ** (failures - 1))
    return float(delay * (0.5 + rng.random()))


def _github_message(data: Any) -> str:
    """GitHub's text: REST's `message`, or the messages of GraphQL's `errors` (a 403 can carry either)."""
    if isinstance(data, dict) and isinstance(data.get("message"), str):
        return str(data["message"])[:200]
    if isinstance(data, dict) and isinstance(data.get("errors"), list):
        return "; ".join(str(e.get("message") or "") for e in data["errors"] if isinstance(e, dict))[:200]
    return ""


def rate_limit_kind(status: int, headers: dict[str, Any], message: str) -> str | None:
    """'primary' (wait for x-ratelimit-reset), 'secondary' (Retry-After, else escalating waits) or None.

    GitHub's documented shapes: 403 or 429 with `x-ratelimit-remaining: 0` (primary); 403 or 429 with
    `retry-after`, or with a message saying "secondary rate limit" (secondary); a 403 whose message
    says the API rate limit was exceeded, whatever the remaining header says (primary); any other 429."""
    if status not in (403, 429):
        return None
    lowered = message.lower()
    if "retry-after" in headers or "secondary rate limit" in lowered or "abuse" in lowered:
        return "secondary"
    if str(headers.get("x-ratelimit-remaining", "")) == "0" or "rate limit" in lowered:
        return "primary"
    return "secondary" if status == 429 else None


def is_rate_limited(err: GithubException) -> bool:
    headers = {k.lower(): v for k, v in (err.headers or {}).items()}
    return rate_limit_kind(err.status, headers, _github_message(err.data)) is not None
