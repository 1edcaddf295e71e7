"""The HTTP side of `launchpad serve`: `/slack/events` (Bolt), `/healthz`, `/readyz` and extra routes.

A small WSGI application (served by gunicorn in `serve --http`, see `bot/slack/gunicorn.py`; by a
threading wsgiref server for probes in Socket Mode and in tests). Slack's requests pass `SlackEdge`
before Bolt sees them: a body over the size limit gets 413 unread; a bad, missing or stale signature,
or a malformed timestamp, gets 401 and is logged by its length and a short prefix only (Bolt's own
check would log the whole body). (An exact replay of a signed request is acked like the original and
stopped before its post-ack part: `AfterAckPool.claim`, across replicas via the database.) `/healthz` answers
while the process is up, `/readyz` asks a readiness check (the database; the Socket Mode connection),
and callers may add routes such as `/metrics`.
"""

from __future__ import annotations

import io
import logging
import threading
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk.signature import SignatureVerifier

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIEnvironment

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
Route = Callable[[], tuple[int, str, bytes]]  # -> (status, content type, body)
Readiness = Callable[[], str | None]  # -> None when ready, else what is wrong

STATUS_TEXT = {200: "200 OK", 400: "400 Bad Request", 401: "401 Unauthorized", 404: "404 Not Found",
               405: "405 Method Not Allowed", 413: "413 Content Too Large", 503: "503 Service Unavailable"}
LOGGED_PREFIX = 64  # bytes of a refused body that reach the log (never the rest: it may be huge, or hostile)


class SlackEdge:
    """What a request must pass before Bolt: its size and its signature (no database: this is the ack path)."""

    def __init__(self, signing_secret: str, *, max_body: int) -> None:
        self._verifier = SignatureVerifier(signing_secret)
        self.max_body = max_body

    def admit(self, environ: WSGIEnvironment) -> tuple[int, bytes] | None:
        """None: hand the request to Bolt (its body is re-readable); else the (status, body) to answer."""
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return 400, b"invalid content length\n"
        if length > self.max_body:
            log.info("refused a %d-byte Slack request: over the %d-byte limit", length, self.max_body)
            return 413, b"request too large\n"
        stream = environ["wsgi.input"]
        body = stream.read(length) if length else stream.read(self.max_body + 1)
        if len(body) > self.max_body:
            log.info("refused a Slack request of more than %d bytes", self.max_body)
            return 413, b"request too large\n"
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        if b"ssl_check=1" in body and parse_qs(body.decode("utf-8", "replace")).get("ssl_check") == ["1"]:
            # Slack's unsigned ssl_check ping: Bolt answers 200 by protocol and runs nothing.
            # Only a body that mentions it is parsed: decoding a 10 kB submission twice costs an ack ~1 ms.
            return None
        timestamp = environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP", "")
        signature = environ.get("HTTP_X_SLACK_SIGNATURE", "")
        if not (timestamp.isascii() and timestamp.isdigit()) or not self._verifier.is_valid(body, timestamp, signature):
            log.info("refused a Slack request without a valid signature (%d bytes, starts %r)", len(body),
                     body[:LOGGED_PREFIX])
            return 401, b"invalid request\n"
        return None


class LaunchPadWsgi:
    def __init__(self, app: App | None, *, ready: Readiness | None = None,
                 routes: dict[str, Route] | None = None, edge: SlackEdge | None = None) -> None:
        self._slack = SlackRequestHandler(app, path=EVENTS_PATH) if app is not None else None
        self._app = app
        self._edge = edge
        self._ready = ready
        self._routes = dict(routes or {})

    def add_route(self, path: str, route: Route) -> None:
        self._routes[path] = route

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == EVENTS_PATH and self._slack is not None:
            return self._slack_events(environ, start_response)
        if path == "/healthz":
            return _answer(start_response, 200, "text/plain", b"ok\n")
        if path == "/readyz":
            problem = self._readiness()
            if problem:
                return _answer(start_response, 503, "text/plain", f"not ready: {problem}\n".encode())
            return _answer(start_response, 200, "text/plain", b"ready\n")
        route = self._routes.get(path)
        if route is not None:
            status, content_type, body = route()
            return _answer(start_response, status, content_type, body)
        return _answer(start_response, 404, "text/plain", b"not found\n")

    def _slack_events(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        """Bolt, behind two checks Bolt does too late: it int()s the timestamp and parses the body before
        it verifies the signature, so either can raise (a 500) on a request nobody signed."""
        timestamp = environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP")
        if timestamp is not None and not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
            return _answer(start_response, 401, "text/plain", b"invalid request timestamp\n")
        assert self._slack is not None
        if self._edge is not None:
            refused = self._edge.admit(environ)
            if refused is not None:
                return _answer(start_response, refused[0], "text/plain", refused[1])
        pool = getattr(self._app, "after_ack", None)
        try:
            if pool is None:
                return self._slack(environ, start_response)
            with pool.acking():  # post-ack work holds back until this request is acked
                return self._slack(environ, start_response)
        except Exception as exc:  # raised before Bolt answered: the body is not something Slack sends
            log.info("rejected an unparsable Slack request (%s)", type(exc).__name__)
            return _answer(start_response, 401, "text/plain", b"invalid request\n")

    def _readiness(self) -> str | None:
        if self._ready is None:
            return None
        try:
            return self._ready()
        except Exception as exc:  # a probe must answer, whatever the check raised
            log.warning("readiness check failed: %s", exc)
            return type(exc).__name__


def _answer(start_response: StartResponse, status: int, content_type: str, body: bytes) -> list[bytes]:
    start_response(STATUS_TEXT.get(status, f"{status} Status"),
                   [("Content-Type", content_type), ("Content-Length", str(len(body)))])
    return [body]


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    # wsgiref's default backlog of 5 resets connections when Slack delivers a burst (50 submissions at once
    # in bench/ack.py); a reset is a missed ack, which Slack shows the user as an error
    request_queue_size = 256


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)


class HttpServer:
    """A threading WSGI server; `port=0` binds a free port (tests), `url` says where it listens."""

    def __init__(self, wsgi: LaunchPadWsgi, host: str, port: int) -> None:
        self._httpd = make_server(host, port, wsgi, server_class=_ThreadingWSGIServer, handler_class=_QuietHandler)
        self._thread: threading.Thread | None = None
        self._serving = False

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def serve_forever(self) -> None:
        self._serving = True
        self._httpd.serve_forever()

    def start(self) -> HttpServer:
        self._serving = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="launchpad-http", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._serving:  # shutdown() waits for a serve_forever loop; never call it without one
            self._httpd.shutdown()
            self._serving = False
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
