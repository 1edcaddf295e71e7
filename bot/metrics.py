"""Prometheus metrics: requests by state, step durations, GitHub quota per credential, Slack ack latency.

`Metrics` owns one `CollectorRegistry` of its own (never the process-global one, so two apps or two
tests in one process never share or collide). Values that live elsewhere are read when Prometheus
scrapes: request counts by state come from the database, GitHub quotas from `ForgeRouter.quotas()`
(the last response headers, no API call). Values that happen over time are observed as they happen:
`instrument_engine` times every step a worker runs by wrapping the engine's `Actions` (a decorator
at composition time, the workflow's code is unchanged), and `MeteredWsgi` times each Slack request
from arrival to the ack response and serves `/metrics`. This module decides nothing and never
labels a metric with a secret, a user id or free text: labels are states, kinds and credential names.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from bot.slack.web import EVENTS_PATH, LaunchPadWsgi
from bot.store import models as m
from bot.workflow.api import RequestKind, State
from provisioners.errors import PermanentError, TransientError
from provisioners.forge.github import Quota

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIEnvironment

    from bot.services import Services
    from bot.store.database import Store
    from bot.workflow.engine import Engine
    from bot.workflow.execute import Actions, Outcome, StepJob

log = logging.getLogger(__name__)

METRICS_PATH = "/metrics"
STEP_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0)
ACK_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0)

RequestCounts = Callable[[], Mapping[tuple[str, str], int]]  # -> {(state, kind): count}
Quotas = Callable[[], Mapping[str, Quota]]  # -> {credential name: quota}


class Metrics:
    """The registry and the instruments LaunchPad exposes; one per process (or per test)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.step_seconds = Histogram(
            "launchpad_step_duration_seconds", "Time a worker spent running one step, by step kind and outcome "
            "(done, wait, transient, permanent, error).", ["kind", "outcome"], buckets=STEP_BUCKETS,
            registry=self.registry)
        self.ack_seconds = Histogram(
            "launchpad_slack_ack_seconds", "Time from a Slack request's arrival to its ack: the HTTP response "
            "(mode http, by HTTP status) or the envelope ack sent back (mode socket_mode).", ["mode", "status"],
            buckets=ACK_BUCKETS, registry=self.registry)
        self._state = _StateCollector()
        self.registry.register(self._state)

    # --- sources read at scrape time ----------------------------------------------------------------
    def watch_requests(self, counts: RequestCounts) -> None:
        """Count requests by state and kind from `counts` on every scrape (e.g. `request_counts(store)`)."""
        self._state.requests = counts

    def watch_after_ack(self, pool: Any) -> None:
        """Expose the post-ack pool's load (`AfterAckPool.snapshot()`: running, waiting) on every scrape."""
        self._state.after_ack = pool.snapshot

    def watch_socket_mode(self, link: Any) -> None:
        """Expose the Socket Mode link (`SocketModeLink.stats()`: connected, reconnects) on every scrape."""
        self._state.socket_mode = link.stats

    def watch_quotas(self, quotas: Quotas) -> None:
        """Expose GitHub's remaining quota per credential from `quotas` (e.g. `ForgeRouter.quotas`)."""
        self._state.quotas = quotas

    # --- observations -----------------------------------------------------------------------------------
    def observe_step(self, kind: str, outcome: str, seconds: float) -> None:
        self.step_seconds.labels(kind=kind, outcome=outcome).observe(seconds)

    def observe_ack(self, status: int, seconds: float, mode: str = "http") -> None:
        self.ack_seconds.labels(mode=mode, status=str(status)).observe(seconds)

    # --- exposition -------------------------------------------------------------------------------------
    def exposition(self) -> bytes:
        """The text format Prometheus scrapes."""
        return bytes(generate_latest(self.registry))

    def route(self) -> tuple[int, str, bytes]:
        """A `LaunchPadWsgi` route for `/metrics`."""
        return 200, CONTENT_TYPE_LATEST, self.exposition()


class _StateCollector(Collector):
    """Gauges whose values are read from their sources when scraped; a failing source is skipped."""

    def __init__(self) -> None:
        self.requests: RequestCounts | None = None
        self.quotas: Quotas | None = None
        self.after_ack: Callable[[], tuple[int, int]] | None = None
        self.socket_mode: Callable[[], tuple[bool, int]] | None = None

    def describe(self) -> Iterable[Any]:
        return []  # values are only known at scrape time

    def collect(self) -> Iterator[GaugeMetricFamily]:
        if self.after_ack is not None:
            running, waiting = self.after_ack()
            yield GaugeMetricFamily("launchpad_slack_after_ack_running", "Listeners running their post-ack part now.",
                                    value=running)
            yield GaugeMetricFamily("launchpad_slack_after_ack_waiting", "Post-ack parts waiting for a turn "
                                    "(slack_after_ack_queue is the most that may wait).", value=waiting)
        if self.socket_mode is not None:
            connected, reconnects = self.socket_mode()
            yield GaugeMetricFamily("launchpad_slack_socket_mode_connected", "1 while the Socket Mode connection "
                                    "to Slack is open, else 0.", value=1 if connected else 0)
            yield GaugeMetricFamily("launchpad_slack_socket_mode_reconnects", "Socket Mode reconnections since "
                                    "the process started (refreshes and drops).", value=reconnects)
        if self.requests is not None:
            gauge = GaugeMetricFamily("launchpad_requests", "Requests by state and kind.", labels=["state", "kind"])
            counts = _safely(self.requests, "request counts")
            if counts is not None:
                for state in State:
                    for kind in RequestKind:
                        gauge.add_metric([state.value, kind.value], counts.get((state.value, kind.value), 0))
                yield gauge
        if self.quotas is not None:
            quotas = _safely(self.quotas, "GitHub quotas")
            if quotas is not None:
                remaining = GaugeMetricFamily("launchpad_github_quota_remaining", "GitHub primary rate limit left "
                                              "per credential, from the last response (-1: no call yet).",
                                              labels=["credential"])
                limit = GaugeMetricFamily("launchpad_github_quota_limit", "GitHub primary rate limit per "
                                          "credential (-1: no call yet).", labels=["credential"])
                reset = GaugeMetricFamily("launchpad_github_quota_reset_timestamp_seconds", "When the "
                                          "credential's GitHub rate limit resets (Unix time).", labels=["credential"])
                for name, quota in sorted(quotas.items()):
                    remaining.add_metric([name], quota.remaining)
                    limit.add_metric([name], quota.limit)
                    if quota.reset_at is not None:
                        reset.add_metric([name], quota.reset_at.timestamp())
                yield remaining
                yield limit
                yield reset


def _safely(source: Callable[[], Any], what: str) -> Any:
    try:
        return source()
    except Exception as exc:  # a scrape must answer even when the database is down
        log.warning("metrics: could not read %s: %s", what, type(exc).__name__)
        return None


def request_counts(store: Store) -> RequestCounts:
    """Counts of requests by (state, kind), one GROUP BY per scrape."""

    def counts() -> dict[tuple[str, str], int]:
        with store.session() as s:
            rows = s.execute(select(m.Request.state, m.Request.kind, func.count()).group_by(m.Request.state,
                                                                                          m.Request.kind))
            return {(str(state), str(kind)): int(n) for state, kind, n in rows}

    return counts


# --- step durations: a timing decorator around the engine's actions ----------------------------------


class TimedActions:
    """Delegates to the engine's `Actions` and records how long each `run` took and how it ended."""

    def __init__(self, actions: Actions, metrics: Metrics, clock: Callable[[], float] = time.perf_counter) -> None:
        self._actions = actions
        self._metrics = metrics
        self._clock = clock

    def __getattr__(self, name: str) -> Any:
        return getattr(self._actions, name)

    def run(self, job: StepJob, now: datetime) -> Outcome:
        started = self._clock()
        outcome = "error"
        try:
            result = self._actions.run(job, now)
            outcome = type(result).__name__.lower()  # Done -> done, Wait -> wait
            return result
        except TransientError:
            outcome = "transient"
            raise
        except PermanentError:
            outcome = "permanent"
            raise
        finally:
            self._metrics.observe_step(str(job.step_kind), outcome, self._clock() - started)


def instrument_engine(engine: Engine, metrics: Metrics) -> None:
    """Time every step this engine runs (idempotent)."""
    if not isinstance(engine.actions, TimedActions):
        engine.actions = TimedActions(engine.actions, metrics)  # type: ignore[assignment]


def instrument_services(services: Services, metrics: Metrics | None = None) -> Metrics:
    """Everything a process exposes: request states (database), GitHub quotas (when the forges are
    GitHub's) and step durations (this process's workers)."""
    metrics = metrics or Metrics()
    metrics.watch_requests(request_counts(services.store))
    quotas = getattr(services.forges, "quotas", None)
    if callable(quotas):
        metrics.watch_quotas(quotas)
    instrument_engine(services.workflow.engine, metrics)
    return metrics


# --- the HTTP side: ack latency and /metrics ----------------------------------------------------------


class MeteredWsgi(LaunchPadWsgi):
    """`LaunchPadWsgi` that also serves `/metrics` and times every `/slack/events` request until Bolt
    has answered (with `process_before_response=False` that answer is the ack; listeners run after)."""

    def __init__(self, app: Any, metrics: Metrics, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self.metrics = metrics
        self._serves_events = app is not None
        self.add_route(METRICS_PATH, metrics.route)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO", "") != EVENTS_PATH or not self._serves_events:
            return super().__call__(environ, start_response)
        started = time.perf_counter()
        seen: dict[str, int] = {}

        def timed_start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            seen["status"] = int(status.split(" ", 1)[0])
            return start_response(status, headers, exc_info)

        body = super().__call__(environ, timed_start)
        self.metrics.observe_ack(seen.get("status", 500), time.perf_counter() - started)
        return body
