"""Slack's Socket Mode on 127.0.0.1: one-use WebSocket URLs, hello, envelopes, acks, refreshes and drops.

Speaks the protocol as Slack documents it (docs.slack.dev, "Using Socket Mode"): the app calls
`apps.connections.open` on the Web API (the local `SlackServer`, whose answer this server provides)
and gets a `ws://` URL with a one-use ticket; on connecting it receives `{"type": "hello", ...}`;
requests arrive as envelopes `{"envelope_id", "type": "slash_commands" | "interactive" | "events_api",
"payload", "accepts_response_payload"}` and are acknowledged by sending `{"envelope_id", "payload"?}`
back, on any open connection of the app. `refresh()` sends `{"type": "disconnect", "reason":
"refresh_requested"}` and closes that connection `grace` seconds later (Slack warns ~10 s ahead);
`drop()` cuts every connection without a close frame and refuses new ones (HTTP 503) until
`come_back()`. Every envelope's send and ack time is recorded, with the connection that acked it.

Not modelled: Slack's retries of unacknowledged `events_api` envelopes, `too_many_websockets`, the
`link_disabled` reason, and server-side pings (the clients ping; this server answers).
"""

from __future__ import annotations

import itertools
import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.sync.server import Server, ServerConnection, serve

from tests.support.slack_server import SlackServer

APP_ID = "A0LAUNCHPAD"


@dataclass
class Link:
    number: int
    ws: ServerConnection
    opened_at: float
    send_lock: threading.Lock = field(default_factory=threading.Lock)
    refreshing: bool = False
    closed: bool = False


@dataclass
class Envelope:
    envelope_id: str
    kind: str
    payload: dict[str, Any]
    sent_at: float
    link: int | None  # None: there was no open connection to deliver it on
    acked_at: float | None = None
    acked_on: int | None = None
    ack_payload: dict[str, Any] | None = None
    acks: int = 0

    @property
    def latency(self) -> float | None:
        return None if self.acked_at is None else self.acked_at - self.sent_at


class SocketModeServer:
    """`with SocketModeServer(slack) as sm:` makes `slack`'s `apps.connections.open` hand out this server's URLs."""

    def __init__(self, slack: SlackServer, *, grace: float = 10.0) -> None:
        self.slack = slack
        self.grace = grace
        self.links: list[Link] = []
        self.envelopes: dict[str, Envelope] = {}
        self.refused = 0
        self.undelivered = 0
        self._tickets: set[str] = set()
        self._down = False
        self._numbers = itertools.count(1)
        self._cond = threading.Condition()
        self._server: Server | None = None
        self._thread: threading.Thread | None = None
        self._timers: list[threading.Timer] = []

    # --- lifecycle --------------------------------------------------------------------------------
    def __enter__(self) -> SocketModeServer:
        self._server = serve(self._serve_link, "127.0.0.1", 0, process_request=self._admit, compression=None)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True, name="socket-mode-server")
        self._thread.start()
        self.slack.state.socket_mode_url = self.new_url  # type: ignore[assignment]
        return self

    def __exit__(self, *exc: object) -> None:
        for timer in self._timers:
            timer.cancel()
        self.slack.state.socket_mode_url = None
        assert self._server is not None
        for link in list(self.links):
            self._cut(link)
        self._server.shutdown()
        if self._thread is not None:
            self._thread.join(timeout=5)

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.socket.getsockname()[1])

    def new_url(self) -> str:
        """What `apps.connections.open` answers: a fresh one-use ticket."""
        ticket = uuid.uuid4().hex
        with self._cond:
            self._tickets.add(ticket)
        return f"ws://127.0.0.1:{self.port}/link/?ticket={ticket}&app_id={APP_ID}"

    # --- what Slack does --------------------------------------------------------------------------
    def send(self, kind: str, payload: dict[str, Any]) -> str:
        """Deliver one envelope on the newest open connection that is not being refreshed away; with none
        open it is recorded as undelivered (never acked), as Slack fails the command for the user."""
        envelope_id = uuid.uuid4().hex
        message = {"envelope_id": envelope_id, "type": kind, "payload": payload,
                   "accepts_response_payload": kind != "events_api"}
        if kind == "events_api":
            message.update(retry_attempt=0, retry_reason="")
        with self._cond:
            link = self._current()
            self.envelopes[envelope_id] = Envelope(envelope_id, kind, payload, time.monotonic(),
                                                   link.number if link else None)
        if link is None:  # Slack has nowhere to deliver it: the user sees "dispatch_failed"
            self.undelivered += 1
        else:
            self._send(link, message)
        return envelope_id

    def refresh(self) -> list[int]:
        """`refresh_requested` on every open connection; each is closed `grace` seconds later."""
        with self._cond:
            links = [lnk for lnk in self.links if not lnk.closed and not lnk.refreshing]
            for link in links:
                link.refreshing = True
        for link in links:
            self._send(link, {"type": "disconnect", "reason": "refresh_requested",
                              "debug_info": {"host": "applink-local"}})
            timer = threading.Timer(self.grace, self._close, args=(link,))
            timer.daemon = True
            timer.start()
            self._timers.append(timer)
        return [link.number for link in links]

    def drop(self) -> None:
        """A network failure: every connection cut (no close frame), new ones refused until `come_back()`."""
        with self._cond:
            self._down = True
            links = list(self.links)
        for link in links:
            self._cut(link)

    def come_back(self) -> None:
        with self._cond:
            self._down = False
            self._cond.notify_all()

    # --- inspection -------------------------------------------------------------------------------
    def open_links(self) -> list[Link]:
        with self._cond:
            return [lnk for lnk in self.links if not lnk.closed]

    def wait_for_links(self, count: int, timeout: float = 30.0, *, fresh: bool = True) -> list[Link]:
        """Block until `count` open connections (not being refreshed, when `fresh`) exist."""
        def ready() -> bool:
            return len([lnk for lnk in self.links if not lnk.closed and not (fresh and lnk.refreshing)]) >= count

        with self._cond:
            if not self._cond.wait_for(ready, timeout=timeout):
                raise AssertionError(f"expected {count} open connection(s); have {len(self.open_links())}")
            return [lnk for lnk in self.links if not lnk.closed]

    def wait_for_acks(self, envelope_ids: list[str], timeout: float = 30.0) -> list[Envelope]:
        with self._cond:
            done = self._cond.wait_for(lambda: all(self.envelopes[e].acked_at or self.envelopes[e].link is None
                                                   for e in envelope_ids), timeout=timeout)
            found = [self.envelopes[e] for e in envelope_ids]
        missing = [e.envelope_id for e in found if e.acked_at is None]
        if not done or missing:
            raise AssertionError(f"{len(missing)} of {len(envelope_ids)} envelopes never acked "
                                 f"({self.undelivered} had no connection to go to)")
        return found

    def wait_until(self, predicate: Any, timeout: float = 30.0) -> None:
        with self._cond:
            if not self._cond.wait_for(predicate, timeout=timeout):
                raise AssertionError("condition not met")

    # --- plumbing ---------------------------------------------------------------------------------
    def _admit(self, connection: ServerConnection, request: Request) -> Response | None:
        ticket = request.path.split("ticket=", 1)[1].split("&", 1)[0] if "ticket=" in request.path else ""
        with self._cond:
            if self._down:
                self.refused += 1
                self._cond.notify_all()
                return connection.respond(HTTPStatus.SERVICE_UNAVAILABLE, "Socket Mode is unavailable\n")
            if ticket not in self._tickets:  # tickets are single use: a reconnect must ask for a new URL
                self.refused += 1
                self._cond.notify_all()
                return connection.respond(HTTPStatus.UNAUTHORIZED, "invalid or used ticket\n")
            self._tickets.discard(ticket)
        return None

    def _serve_link(self, ws: ServerConnection) -> None:
        link = Link(next(self._numbers), ws, time.monotonic())
        with self._cond:
            self.links.append(link)
            connections = len([lnk for lnk in self.links if not lnk.closed])
        self._send(link, {"type": "hello", "num_connections": connections,
                          "debug_info": {"host": "applink-local", "approximate_connection_time": 18060},
                          "connection_info": {"app_id": APP_ID}})
        with self._cond:
            self._cond.notify_all()  # announced: ready for envelopes
        try:
            for raw in ws:
                self._received(link, raw)
        except ConnectionClosed:
            pass
        finally:
            with self._cond:
                link.closed = True
                self._cond.notify_all()

    def _received(self, link: Link, raw: str | bytes) -> None:
        try:
            message = json.loads(raw)
        except ValueError:
            return
        envelope_id = message.get("envelope_id") if isinstance(message, dict) else None
        with self._cond:
            envelope = self.envelopes.get(str(envelope_id))
            if envelope is None:
                return
            envelope.acks += 1
            if envelope.acked_at is None:
                envelope.acked_at = time.monotonic()
                envelope.acked_on = link.number
                envelope.ack_payload = message.get("payload")
            self._cond.notify_all()

    def _current(self) -> Link | None:
        fresh = [lnk for lnk in self.links if not lnk.closed and not lnk.refreshing]
        if fresh:
            return fresh[-1]
        still = [lnk for lnk in self.links if not lnk.closed]  # during a refresh, before the new one is up
        return still[-1] if still else None

    def _send(self, link: Link, message: dict[str, Any]) -> None:
        with link.send_lock, suppress(ConnectionClosed, OSError):
            link.ws.send(json.dumps(message))

    def _close(self, link: Link) -> None:
        with suppress(Exception):
            link.ws.close()

    def _cut(self, link: Link) -> None:
        with suppress(OSError):
            link.ws.socket.shutdown(socket.SHUT_RDWR)
        with suppress(OSError):
            link.ws.socket.close()


def slash_command_payload(text: str, *, user: str, response_url: str, n: int = 0) -> dict[str, Any]:
    """A slash command's payload as a Socket Mode envelope carries it (the form fields, as a JSON object)."""
    return {"token": "gIkuvaNzQIHg97ATvDxqgjtO", "team_id": "T0000000001", "team_domain": "example",
            "channel_id": "C0GENERAL", "channel_name": "general", "user_id": user, "user_name": user.lower(),
            "command": "/launchpad", "text": text, "api_app_id": APP_ID, "is_enterprise_install": "false",
            "response_url": response_url, "trigger_id": f"13345224609.738474920.{n:08d}"}


def iter_latencies(envelopes: list[Envelope]) -> Iterator[float]:
    for envelope in envelopes:
        if envelope.latency is not None:
            yield envelope.latency
