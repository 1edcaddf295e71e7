"""`launchpad serve`: run the Slack app (Socket Mode by default, `--http` for the Events API) and the workers.

Refuses to start without the Slack credentials the chosen mode needs (an empty variable counts as
missing) and names the variables to set. HTTP mode runs gunicorn (`bot/serving.py`) serving
`/slack/events`, `/healthz`, `/readyz` and `/metrics` on `settings.http_host:http_port`; Socket Mode
keeps one link to Slack (`bot/slack/socket_mode.py`) and serves the probes (`/readyz` is 503 while the
link is down) and metrics there too (no public URL needed). Background jobs (claim steps, TTLs,
reminders) run in each serving process unless `--no-worker`.
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
    if settings.slack_bot_token is None:  # empty values are unset too (Settings turns "" into None)
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
    problems = startup_problems_of(settings)
    if problems:
        print("\n".join(f"launchpad serve: {line}" for line in problems), file=sys.stderr)
        return 2
    host = args.host or settings.http_host
    port = settings.http_port if args.port is None else args.port
    if args.http:
        from bot.serving import serve_http

        def announce(url: str) -> None:
            print(f"launchpad: serving Slack events on {url}/slack/events", flush=True)

        code = serve_http(settings, host, port, with_jobs=not args.no_worker, announce=announce)
        print("launchpad: stopped", flush=True)
        return code
    return run_socket_mode(settings, host, port, with_jobs=not args.no_worker)


def run_socket_mode(settings: Settings, host: str, port: int, *, with_jobs: bool) -> int:
    """Socket Mode: one process, the probes and metrics on a small HTTP server, the link to Slack kept open."""
    from bot.serving import HttpServer, SocketModeLink, build_runtime

    assert settings.slack_app_token is not None
    holder: dict[str, SocketModeLink] = {}
    runtime = build_runtime(settings, http=False, with_jobs=with_jobs,
                            connection=lambda: holder["link"].problem() if "link" in holder else "starting")
    link = SocketModeLink(runtime.app, settings.slack_app_token.get_secret_value(), settings=settings,
                          on_ack=lambda seconds: runtime.metrics.observe_ack(200, seconds, mode="socket_mode"))
    holder["link"] = link
    runtime.metrics.watch_socket_mode(link)
    server = HttpServer(runtime.wsgi, host, port)
    previous = _stop_on_sigterm()
    try:
        server.start()
        print(f"launchpad: connecting to Slack with Socket Mode (probes on {server.url})", flush=True)
        link.connect()
        link.wait()
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
        link.close()
        server.stop()
        runtime.close()


def startup_problems_of(settings: Settings) -> list[str]:
    """Credentials that cannot work, checked once before any server starts (and before gunicorn forks:
    the services built here are closed again; each serving process builds its own)."""
    from bot.services import CredentialsError, build_services, startup_problems

    try:
        services = build_services(settings)
    except CredentialsError as err:
        return list(err.problems)
    try:
        return list(startup_problems(services))
    finally:
        services.close()


class Stop(Exception):
    """SIGTERM (a rolling deploy): leave the serve loop and clean up like Ctrl-C."""


def _stop_on_sigterm() -> Any:
    if threading.current_thread() is not threading.main_thread():
        return None

    def stop(signum: int, frame: Any) -> None:
        raise Stop()

    return signal.signal(signal.SIGTERM, stop)
