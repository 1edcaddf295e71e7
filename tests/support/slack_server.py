"""A local Slack Web API server on 127.0.0.1 that records every call, for tests of the real slack_sdk client.

Point `WebClient(base_url=server.api_url)` (or `LAUNCHPAD_SLACK_API_URL`) at it. Every request is recorded
by path with its parsed body (form or JSON; `blocks`/`view` fields decoded), and answered the way Slack
answers: chat.postMessage returns a fresh `ts`, views.* return a view id, usergroups.users.list returns
the members configured per group, users.info returns a profile with an email. Any other path (a
slash command's or button's `response_url`) is recorded and answered `{"ok": true}`.

`fail_next(method, status=429, retry_after=0)` makes the next call(s) fail, to exercise retry handling.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

JSON_FIELDS = ("blocks", "view", "attachments", "metadata", "users")


@dataclass
class Call:
    path: str
    method: str  # Web API method ("chat.postMessage") or the raw path for response_url posts
    body: dict[str, Any]
    headers: dict[str, str]
    response: dict[str, Any] = field(default_factory=dict)


@dataclass
class SlackState:
    usergroups: dict[str, list[str]] = field(default_factory=dict)
    emails: dict[str, str] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)
    failures: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    socket_mode_url: str | Callable[[], str] | None = None  # a callable mints one URL per call


class SlackServer:
    """Start with `with SlackServer() as slack:`; `slack.api_url` is the Web API base URL."""

    def __init__(self) -> None:
        self.state = SlackState()
        self.calls: list[Call] = []
        self._cond = threading.Condition()
        self._ts = itertools.count(1)
        self._views = itertools.count(1)
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                server._handle(self)

            def do_GET(self) -> None:
                server._handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/"

    def response_url(self, name: str = "hook") -> str:
        return f"{self.url}/response/{name}"

    def __enter__(self) -> SlackServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    # --- configuration ----------------------------------------------------------------------------
    def set_usergroup(self, group_id: str, members: list[str]) -> None:
        self.state.usergroups[group_id] = list(members)

    def set_user(self, user_id: str, *, email: str | None = None, name: str | None = None) -> None:
        if email:
            self.state.emails[user_id] = email
        if name:
            self.state.names[user_id] = name

    def fail_next(self, method: str, *, status: int = 429, retry_after: int = 0, times: int = 1) -> None:
        self.state.failures.setdefault(method, []).extend([(status, retry_after)] * times)

    # --- inspection -------------------------------------------------------------------------------
    def calls_to(self, method: str) -> list[Call]:
        with self._cond:
            return [c for c in self.calls if c.method == method]

    def count(self, method: str) -> int:
        return len(self.calls_to(method))

    def wait_for(self, method: str, count: int = 1, timeout: float = 30.0) -> list[Call]:
        """Block until `method` was called at least `count` times (listeners run after the ack)."""
        with self._cond:
            self._cond.wait_for(lambda: sum(c.method == method for c in self.calls) >= count, timeout=timeout)
            found = [c for c in self.calls if c.method == method]
        if len(found) < count:
            seen = sorted({c.method for c in self.calls})
            raise AssertionError(f"expected {count} call(s) to {method}, got {len(found)}; calls seen: {seen}")
        return found

    def wait_until(self, predicate: Callable[[list[Call]], bool], timeout: float = 30.0) -> list[Call]:
        """Block until `predicate(all calls so far)` holds; returns the calls then."""
        with self._cond:
            if not self._cond.wait_for(lambda: predicate(self.calls), timeout=timeout):
                raise AssertionError(f"condition not met; calls seen: {[c.method for c in self.calls]}")
            return list(self.calls)

    def reset(self) -> None:
        with self._cond:
            self.calls.clear()

    @contextmanager
    def expect_no_calls(self) -> Iterator[None]:
        before = len(self.calls)
        yield
        with self._cond:
            new = self.calls[before:]
        assert not new, f"unexpected Slack calls: {[c.method for c in new]}"

    # --- HTTP -------------------------------------------------------------------------------------
    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length).decode() if length else ""
        parsed = urlparse(handler.path)
        body = _parse_body(raw, handler.headers.get("Content-Type", ""))
        for key, values in parse_qs(parsed.query).items():
            body.setdefault(key, values[0])
        method = parsed.path.removeprefix("/api/") if parsed.path.startswith("/api/") else parsed.path
        failures = self.state.failures.get(method)
        if failures:
            status, retry_after = failures.pop(0)
            self._record(Call(parsed.path, f"{method}#failed", body, dict(handler.headers.items())))
            handler.send_response(status)
            handler.send_header("Retry-After", str(retry_after))
            handler.send_header("Content-Type", "application/json")
            payload = json.dumps({"ok": False, "error": "ratelimited" if status == 429 else "fatal_error"}).encode()
            handler.send_header("Content-Length", str(len(payload)))
            handler.end_headers()
            handler.wfile.write(payload)
            return
        answer = self._answer(method, body)
        self._record(Call(parsed.path, method, body, dict(handler.headers.items()), answer))
        payload = json.dumps(answer).encode()
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)

    def _record(self, call: Call) -> None:
        with self._cond:
            self.calls.append(call)
            self._cond.notify_all()

    def _answer(self, method: str, body: dict[str, Any]) -> dict[str, Any]:
        if method in ("chat.postMessage", "chat.update"):
            ts = body.get("ts") or f"1710000000.{next(self._ts):06d}"
            return {"ok": True, "channel": body.get("channel", ""), "ts": ts,
                    "message": {"text": body.get("text", ""), "ts": ts}}
        if method == "chat.postEphemeral":
            return {"ok": True, "message_ts": f"1710000000.{next(self._ts):06d}"}
        if method in ("views.open", "views.update", "views.push", "views.publish"):
            view_id = body.get("view_id") or f"V{next(self._views):08d}"
            view = body.get("view") if isinstance(body.get("view"), dict) else {}
            return {"ok": True, "view": {**view, "id": view_id, "hash": f"h{next(self._views)}"}}
        if method == "usergroups.users.list":
            group = body.get("usergroup", "")
            if group not in self.state.usergroups:
                return {"ok": False, "error": "no_such_subteam"}
            return {"ok": True, "users": self.state.usergroups[group]}
        if method == "users.info":
            user = body.get("user", "")
            name = self.state.names.get(user, user.lower())
            profile: dict[str, Any] = {"real_name": name, "display_name": name}
            if user in self.state.emails:
                profile["email"] = self.state.emails[user]
            return {"ok": True, "user": {"id": user, "name": name, "real_name": name, "profile": profile}}
        if method == "conversations.open":
            users = str(body.get("users", ""))
            return {"ok": True, "channel": {"id": "D" + users.split(",")[0].lstrip("U")}}
        if method == "auth.test":
            return {"ok": True, "url": "https://example.slack.com/", "team": "Example", "user": "launchpad",
                    "team_id": "T0000000001", "user_id": "U0BOT00001", "bot_id": "B0BOT00001"}
        if method == "apps.connections.open":
            url = self.state.socket_mode_url
            if url:
                return {"ok": True, "url": url() if callable(url) else url}
            return {"ok": False, "error": "invalid_auth"}
        if method == "chat.getPermalink":
            return {"ok": True, "permalink": f"https://example.slack.com/archives/{body.get('channel')}/p1"}
        return {"ok": True}


def _parse_body(raw: str, content_type: str) -> dict[str, Any]:
    if not raw:
        return {}
    if "json" in content_type:
        data = json.loads(raw)
        return data if isinstance(data, dict) else {"_": data}
    body: dict[str, Any] = {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}
    for key in JSON_FIELDS:
        value = body.get(key)
        if isinstance(value, str) and value[:1] in "[{":
            with suppress(json.JSONDecodeError):
                body[key] = json.loads(value)
    return body
