"""`SocketModeLink`: LaunchPad's one connection to Slack in Socket Mode, kept open and watched.

Built on slack_sdk's `websockets` client, the one of the four slack_sdk ships that kept acking through a
`refresh_requested` reconnect when measured against a local Socket Mode server (50 commands, refresh at
the 25th): it opens the new connection before closing the old one, and acks sent meanwhile go out on
the old one. The built-in client blocked while closing the old connection (about half the acks over
3 s); websocket-client closed the old one before the new was up (most never acked); aiohttp lost one
in one run. (`bench/ack.py` re-measures them; docs/slack.md has the table.) What the stock client lacks is
added here: envelopes are dispatched to the (sync) Bolt app on a thread pool, so one slow ack never
holds the event loop and the others; a drop is noticed at once and followed by reconnect attempts
with backoff (0.5 s doubling to `slack_reconnect_max_seconds`) instead of the client's 10 s checks;
every change is logged ("Socket Mode disconnected", "Socket Mode reconnected"), counted, and offered
to `/readyz` (`problem()`) and the metrics (`stats()`); each ack's latency goes to `on_ack`.
This module decides nothing about requests; Bolt and the listeners do.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from slack_bolt import App
from slack_bolt.adapter.socket_mode.async_internals import send_async_response
from slack_bolt.adapter.socket_mode.internals import run_bolt_app
from slack_sdk.http_retry.builtin_async_handlers import AsyncConnectionErrorRetryHandler, AsyncServerErrorRetryHandler
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.websockets import SocketModeClient
from slack_sdk.web.async_client import AsyncWebClient

from bot.config import Settings

log = logging.getLogger(__name__)

WATCH_SECONDS = 0.2  # how often the connection's state is looked at (a drop is seen within this)
FIRST_RETRY_SECONDS = 0.5


class SocketModeLink:
    def __init__(self, app: App, app_token: str, *, settings: Settings,
                 on_ack: Callable[[float], None] | None = None, dispatch_threads: int = 16) -> None:
        self._app = app
        self._token = app_token
        self._settings = settings
        self._on_ack = on_ack
        self._dispatch = ThreadPoolExecutor(max_workers=dispatch_threads, thread_name_prefix="launchpad-socket")
        self._loop = asyncio.new_event_loop()
        self._thread: threading.Thread | None = None
        self._client: SocketModeClient | None = None
        self._closed = threading.Event()
        self._lock = threading.Condition()
        self._connected = False
        self._down_since: float | None = None
        self._reconnects = 0
        self._session: Any = None
        self._watcher: Future[None] | None = None

    # --- lifecycle ------------------------------------------------------------------------------------
    def connect(self, timeout: float = 30.0) -> None:
        """Open the first connection; raises what Slack answered (e.g. SlackApiError invalid_auth)."""
        self._thread = threading.Thread(target=self._loop.run_forever, name="launchpad-socket-mode", daemon=True)
        self._thread.start()
        first: Future[None] = asyncio.run_coroutine_threadsafe(self._start(), self._loop)
        first.result(timeout=timeout)
        self._watcher = asyncio.run_coroutine_threadsafe(self._watch(), self._loop)

    def wait(self) -> None:
        """Block until `close()` (Ctrl-C and SIGTERM interrupt it in the main thread)."""
        while not self._closed.wait(timeout=1.0):
            pass

    def close(self) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        if self._watcher is not None:
            self._watcher.cancel()
        if self._thread is not None and self._thread.is_alive():
            if self._client is not None:
                done = asyncio.run_coroutine_threadsafe(self._shut(self._client), self._loop)
                try:
                    done.result(timeout=5)
                except Exception as exc:  # closing is best effort
                    log.debug("closing the Socket Mode client: %s", exc)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)
        self._dispatch.shutdown(wait=False)

    # --- state ----------------------------------------------------------------------------------------
    def connected(self) -> bool:
        with self._lock:
            return self._connected

    def wait_connected(self, up: bool = True, timeout: float = 30.0) -> bool:
        """Block until the link is (or, `up=False`, is no longer) connected; False on timeout."""
        with self._lock:
            return self._lock.wait_for(lambda: self._connected == up, timeout=timeout)

    def problem(self) -> str | None:
        """For `/readyz`: None while connected, else since when it is not."""
        with self._lock:
            if self._connected:
                return None
            since = f" for {time.monotonic() - self._down_since:.0f} s" if self._down_since is not None else ""
            return f"Socket Mode disconnected{since}"

    def stats(self) -> tuple[bool, int]:
        """(connected, reconnections so far), for the metrics."""
        with self._lock:
            return self._connected, self._reconnects

    def wait_reconnects(self, count: int, timeout: float = 30.0) -> bool:
        """Block until `count` reconnections happened; False on timeout."""
        with self._lock:
            return self._lock.wait_for(lambda: self._reconnects >= count, timeout=timeout)

    # --- inside the event loop ------------------------------------------------------------------------
    async def _shut(self, client: SocketModeClient) -> None:
        if client.message_receiver is not None:  # stop reading first: a close is not an error to log
            client.message_receiver.cancel()
        await client.close()

    async def _start(self) -> None:
        web = AsyncWebClient(base_url=self._settings.slack_api_url, timeout=15, retry_handlers=[
            AsyncConnectionErrorRetryHandler(max_retry_count=2), AsyncServerErrorRetryHandler(max_retry_count=2)])
        client = SocketModeClient(app_token=self._token, web_client=web, auto_reconnect_enabled=False,
                                  logger=logging.getLogger("slack_sdk.socket_mode"))
        client.socket_mode_request_listeners.append(self._handle)  # type: ignore[arg-type]
        self._client = client
        await client.connect()
        self._set_connected(True, client.current_session, first=True)

    async def _handle(self, client: SocketModeClient, req: SocketModeRequest) -> None:
        """Dispatch on a thread (Bolt is sync and waits for the ack), then send the ack from the loop."""
        started = time.perf_counter()
        response = await self._loop.run_in_executor(self._dispatch, self._run, req)
        await send_async_response(client, req, response, started)
        if self._on_ack is not None:
            self._on_ack(time.perf_counter() - started)

    def _run(self, req: SocketModeRequest) -> Any:
        pool = getattr(self._app, "after_ack", None)
        if pool is None:
            return run_bolt_app(self._app, req)
        with pool.acking():  # post-ack work holds back until this envelope is acked
            return run_bolt_app(self._app, req)

    async def _watch(self) -> None:
        """Notice drops and refreshes; reconnect with backoff while down."""
        delay = FIRST_RETRY_SECONDS
        while not self._closed.is_set():
            await asyncio.sleep(WATCH_SECONDS)
            client = self._client
            if client is None:
                continue
            session = client.current_session
            up = session is not None and session.close_code is None
            if up:
                delay = FIRST_RETRY_SECONDS
                if not self.connected() or session is not self._session:
                    self._set_connected(True, session)
                continue
            if self.connected():
                self._set_connected(False, session)
            if session is not None:  # dead: let it finish closing on its own, never inside the reconnect
                client.current_session = None
                self._loop.create_task(session.close())
            try:
                await client.connect_to_new_endpoint(force=True)
            except Exception as exc:  # Slack unreachable, refused, or the ticket expired: try again later
                log.warning("Socket Mode reconnect failed (%s: %s); next attempt in %.1f s", type(exc).__name__,
                            str(exc)[:200], delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._settings.slack_reconnect_max_seconds)

    def _set_connected(self, up: bool, session: Any, *, first: bool = False) -> None:
        with self._lock:
            was, down_since = self._connected, self._down_since
            self._connected = up
            if up:
                replaced = self._session is not None and session is not self._session
                self._session = session
                self._down_since = None
                if not first and (not was or replaced):
                    self._reconnects += 1
            else:
                self._down_since = time.monotonic()
            self._lock.notify_all()
        if first:
            log.info("Socket Mode connected")
        elif up and not was:
            took = f" after {time.monotonic() - down_since:.1f} s" if down_since is not None else ""
            log.warning("Socket Mode reconnected%s", took)
        elif up:
            log.info("Socket Mode reconnected (Slack asked for a refresh; no acks were lost)")
        else:
            log.warning("Socket Mode disconnected; reconnecting")
