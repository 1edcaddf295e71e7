"""`launchpad serve`: run the Slack app (Socket Mode by default, `--http` for the Events API) and the workers.

Refuses to start without the Slack credentials the chosen mode needs and names the variables to set.
HTTP mode serves `/slack/events`, `/healthz`, `/readyz` and `/metrics` on `settings.http_host:http_port`;
Socket Mode serves the probes and metrics there too (no public URL needed). Background jobs (claim
steps, TTLs, reminders) run in the same process unless `--no-worker`.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from typing import Any

from slack_sdk.errors import SlackApiError

from bot.config import Settings

log = logging.getLogger(__name__)


def register(sub: Any) -> None:
    p = sub.add_parser("serve", help="run the Slack app (Socket Mode; --http for the Events API) and the workers")
    p.add_argument("--http", action="store_true", help="serve Slack's Events API on /slack/events instead of "
                                                       "connecting with Socket Mode")
    p.add_argument("--host", default=None, help="listen address (default: settings.http_host)")
    p.add_argument("--port", type=int, default=None, help="listen port (default: settings.http_port; 0 = any free)")
    p.add_argument("--no-worker", action="store_true", help="do not run the background jobs in this process")
    p.set_defaults(func=run_serve)


def missing_credentials(settings: Settings, *, http: bool) -> list[str]:
    """The environment variables that must be set before `serve` can talk to Slack in this mode."""
    missing = []
    if settings.slack_bot_token is None:
        missing.append("LAUNCHPAD_SLACK_BOT_TOKEN")
    if http and settings.slack_signing_secret is None:
        missing.append("LAUNCHPAD_SLACK_SIGNING_SECRET")
    if not http and settings.slack_app_token is None:
        missing.append("LAUNCHPAD_SLACK_APP_TOKEN")
    return missing


CREDENTIAL_HELP = {
    "LAUNCHPAD_SLACK_BOT_TOKEN": "the Bot User OAuth Token (xoxb-…, OAuth & Permissions)",
    "LAUNCHPAD_SLACK_SIGNING_SECRET": "the Signing Secret (Basic Information > App Credentials)",
    "LAUNCHPAD_SLACK_APP_TOKEN": "an App-Level Token with connections:write (xapp-…, Basic Information)",
}


def run_serve(args: argparse.Namespace, settings: Settings) -> int:
    missing = missing_credentials(settings, http=args.http)
    if missing:
        mode = "HTTP mode" if args.http else "Socket Mode"
        lines = [f"launchpad serve: cannot start in {mode}: set " + " and ".join(missing) + "."]
        lines += [f"  {name}: {CREDENTIAL_HELP[name]}" for name in missing]
        other = ("without --http (Socket Mode) needs LAUNCHPAD_SLACK_APP_TOKEN instead of the signing secret"
                 if args.http else "with --http (Events API) needs LAUNCHPAD_SLACK_SIGNING_SECRET instead of the "
                                   "app token")
        lines.append(f"  Running {other}. See docs/slack.md.")
        print("\n".join(lines), file=sys.stderr)
        return 2

    from bot.app import build_app, build_client
    from bot.metrics import MeteredWsgi, instrument_services
    from bot.services import CredentialsError, build_services, startup_problems
    from bot.slack.notifier import SlackNotifier
    from bot.slack.web import HttpServer

    client = build_client(settings)
    notifier = SlackNotifier(client, settings)
    try:
        services = build_services(settings, notifier=notifier)
        problems = startup_problems(services)
    except CredentialsError as err:
        problems = err.problems
    else:
        if problems:
            services.close()
    if problems:
        print("\n".join(f"launchpad serve: {line}" for line in problems), file=sys.stderr)
        return 2
    app = build_app(settings, services, client=client, notifier=notifier)
    metrics = instrument_services(services)
    wsgi = MeteredWsgi(app if args.http else None, metrics, ready=lambda: database_problem(services))
    host = args.host or settings.http_host
    port = settings.http_port if args.port is None else args.port
    server = HttpServer(wsgi, host, port)
    jobs = None if args.no_worker else start_jobs(services)
    socket_mode: Any = None
    previous = _stop_on_sigterm()
    try:
        if args.http:
            print(f"launchpad: serving Slack events on {server.url}/slack/events", flush=True)
            server.serve_forever()
            return 0
        from slack_bolt.adapter.socket_mode import SocketModeHandler

        server.start()
        print(f"launchpad: connecting to Slack with Socket Mode (probes on {server.url})", flush=True)
        assert settings.slack_app_token is not None
        socket_mode = SocketModeHandler(app, settings.slack_app_token.get_secret_value())
        socket_mode.start()
        return 0
    except SlackApiError as exc:
        error = exc.response.get("error")
        print(f"launchpad serve: Slack refused the connection ({error}); check LAUNCHPAD_SLACK_APP_TOKEN "
              "(an xapp- token with connections:write) and that Socket Mode is enabled for the app.", file=sys.stderr)
        return 1
    except (KeyboardInterrupt, Stop):
        print("launchpad: stopping", flush=True)
        return 0
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        if socket_mode is not None:
            socket_mode.close()
        if jobs is not None:
            jobs.shutdown(wait=False)  # a step cut short is resumed by the next worker when its lease expires
        notifier.close()
        server.stop()
        services.close()


class Stop(Exception):
    """SIGTERM (a rolling deploy): leave the serve loop and clean up like Ctrl-C."""


def _stop_on_sigterm() -> Any:
    if threading.current_thread() is not threading.main_thread():
        return None

    def stop(signum: int, frame: Any) -> None:
        raise Stop()

    return signal.signal(signal.SIGTERM, stop)


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
