"""How `launchpad serve` runs: one `Runtime` per process, under gunicorn in HTTP mode.

A `Runtime` is everything one serving process holds: services (database, forges), the Bolt app, the
Slack notifier, metrics, the background jobs (unless `--no-worker`) and the WSGI application. HTTP
mode runs gunicorn, as Bolt's WSGI adapter documents for production: the master binds the socket,
forks `http_workers` worker processes of `http_threads` threads (gthread) and never builds a runtime
itself (no database connection or thread is ever forked); each worker builds its own after the fork,
like a replica (leases keep replicas' jobs apart). SIGTERM stops gracefully within
`http_graceful_timeout_seconds`, SIGHUP reloads the workers one by one. Bodies over
`http_max_body_bytes` are refused by the WSGI edge (gunicorn limits only request lines and headers).
Nothing here decides anything about requests.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gunicorn.app.base import BaseApplication

from bot.config import Settings
from bot.slack.socket_mode import SocketModeLink as SocketModeLink  # the CLI reaches bot.slack through here
from bot.slack.web import HttpServer as HttpServer
from provisioners.plan import warm

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    services: Any
    app: Any
    notifier: Any
    metrics: Any
    wsgi: Any
    jobs: Any = None

    def close(self) -> None:
        if self.jobs is not None:
            self.jobs.shutdown(wait=False)  # a step cut short is resumed by the next worker when its lease expires
        self.notifier.close()
        self.services.close()


def build_runtime(settings: Settings, *, http: bool, with_jobs: bool,
                  connection: Callable[[], str | None] | None = None) -> Runtime:
    """Everything one serving process needs. `connection`: a readiness check of the Socket Mode link."""
    from bot.app import build_app, build_client, build_edge
    from bot.metrics import MeteredWsgi, instrument_services
    from bot.services import build_services
    from bot.slack.notifier import SlackNotifier

    client = build_client(settings)
    notifier = SlackNotifier(client, settings)
    services = build_services(settings, notifier=notifier)
    for problem in warm(services.render_context):  # before the first request, not inside a burst of them
        log.warning("could not warm the renderers: %s", problem)
    app = build_app(settings, services, client=client, notifier=notifier)
    metrics = instrument_services(services)
    metrics.watch_after_ack(app.after_ack)

    def ready() -> str | None:
        database_problem(services)
        return connection() if connection is not None else None

    wsgi = MeteredWsgi(app if http else None, metrics, ready=ready,
                       edge=build_edge(settings) if http else None)
    jobs = start_jobs(services) if with_jobs else None
    return Runtime(services=services, app=app, notifier=notifier, metrics=metrics, wsgi=wsgi, jobs=jobs)


def database_problem(services: Any) -> str | None:
    """Readiness: the database answers a trivial query (None), or what went wrong."""
    services.workflow.list_requests(limit=1)
    return None


def start_jobs(services: Any) -> Any:
    """The same scheduled jobs as `launchpad worker`, in this process (leases make replicas safe)."""
    from bot.jobs import build_scheduler
    from bot.workflow.engine import worker_name

    scheduler = build_scheduler(services.workflow, worker_name("serve"), services.settings.worker_poll_seconds)
    scheduler.start()
    return scheduler


def gunicorn_options(settings: Settings, host: str, port: int) -> dict[str, Any]:
    """gunicorn's settings for `serve --http`, from LaunchPad's (documented in docs/slack.md)."""
    return {
        "bind": f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
        "workers": settings.http_workers,
        "worker_class": "gthread",
        "threads": settings.http_threads,
        "graceful_timeout": settings.http_graceful_timeout_seconds,
        "timeout": max(30, settings.http_graceful_timeout_seconds),
        "keepalive": 5,
        "limit_request_line": 8190,
        "limit_request_fields": 100,
        "limit_request_field_size": 8190,
        "proc_name": "launchpad",
        "accesslog": None,
        "errorlog": "-",
        "loglevel": settings.log_level.lower(),
        "preload_app": False,
    }


class GunicornServer(BaseApplication):
    """gunicorn with LaunchPad's options; each worker builds its `Runtime` after the fork."""

    def __init__(self, settings: Settings, options: dict[str, Any], *, with_jobs: bool,
                 announce: Callable[[str], None]) -> None:
        self._settings = settings
        self._options = options
        self._with_jobs = with_jobs
        self._announce = announce
        self._runtime: Runtime | None = None
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            self.cfg.set(key, value)
        self.cfg.set("when_ready", self._when_ready)
        self.cfg.set("worker_exit", self._worker_exit)

    def load(self) -> Any:
        """Runs in each worker after the fork."""
        self._runtime = build_runtime(self._settings, http=True, with_jobs=self._with_jobs)
        return self._runtime.wsgi

    def _when_ready(self, server: Any) -> None:
        host, port = server.LISTENERS[0].sock.getsockname()[:2]
        self._announce(f"http://{host}:{port}")

    def _worker_exit(self, server: Any, worker: Any) -> None:
        if self._runtime is not None:
            self._runtime.close()
            self._runtime = None


def serve_http(settings: Settings, host: str, port: int, *, with_jobs: bool,
               announce: Callable[[str], None]) -> int:
    """Run gunicorn until SIGTERM/SIGINT; its exit status."""
    server = GunicornServer(settings, gunicorn_options(settings, host, port), with_jobs=with_jobs, announce=announce)
    try:
        server.run()
    except SystemExit as exc:  # gunicorn's arbiter leaves through sys.exit
        return int(exc.code or 0) if isinstance(exc.code, int | None) else 1
    return 0



