"""The Slack app under test: real Bolt over signed HTTP, real slack_sdk against the local Web API server.

`launchpad` starts the same WSGI server `launchpad serve --http` runs, on a free loopback port, with a
SQLite database in tmp_path and the local forge (tests that need GitHub build their own services).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from slack_bolt import App

from bot.app import build_app, build_client, build_edge
from bot.config import Settings
from bot.services import Services, build_services
from bot.slack.blocks import check_block_kit_limits
from bot.slack.notifier import SlackNotifier
from bot.slack.web import HttpServer, LaunchPadWsgi
from bot.workflow.api import State
from bot.workflow.clock import ManualClock
from provisioners.platform import PlatformConfig, Team
from tests.slack import payloads
from tests.support.slack_server import Call, SlackServer

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
BOT_TOKEN = "xoxb-17653672481-19874698323-pdFZKVeTuE8sk7oOcBrzbqgy"
REQUESTS = "C0REQUESTS"
SRE_GROUP = "S0SRE00001"
SRE = "U0SRE00001"
SRE2 = "U0SRE00002"
DEV = "U012ABCDEF"  # team search, the usual requester
DEV2 = "U0DEV00002"  # team search too, not SRE
OUTSIDER = "U0OTHER001"  # no team


def slack_settings(tmp_path: Path, slack: SlackServer, **overrides: Any) -> Settings:
    platform = PlatformConfig()
    platform.teams["search"] = Team(name="search", slack_group="S0SEARCH01", sso_group="search-devs")
    platform.teams["payments"] = Team(name="payments", slack_group="S0PAYMENT1", sso_group="payments-devs")
    values: dict[str, Any] = {
        "data_dir": tmp_path, "database_url": f"sqlite:///{tmp_path / 'launchpad.db'}",
        "slack_bot_token": BOT_TOKEN, "slack_signing_secret": SECRET, "slack_api_url": slack.api_url,
        "requests_channel": REQUESTS, "sre_usergroup": SRE_GROUP, "platform": platform, "forge": "local",
        "auto_merge_local": False,
    }
    values.update(overrides)
    return Settings(**values)


def seed_people(slack: SlackServer) -> None:
    slack.set_usergroup(SRE_GROUP, [SRE, SRE2])
    slack.set_usergroup("S0SEARCH01", [DEV, DEV2])
    slack.set_usergroup("S0PAYMENT1", [])
    for user in (SRE, SRE2, DEV, DEV2, OUTSIDER):
        slack.set_user(user, email=f"{user.lower()}@example.com", name=user.lower())


@dataclass
class Launchpad:
    slack: SlackServer
    settings: Settings
    services: Services
    app: App
    notifier: SlackNotifier
    server: HttpServer
    clock: ManualClock | None = None

    @property
    def events_url(self) -> str:
        return f"{self.server.url}/slack/events"

    def send(self, body: str, content_type: str, *, secret: str | None = SECRET, timestamp: int | None = None,
             headers: dict[str, str] | None = None) -> payloads.Reply:
        signed = payloads.sign(secret, body, timestamp) if secret is not None else {}
        return payloads.post(self.events_url, body, content_type, {**signed, **(headers or {})})

    def command(self, text: str, user: str = DEV, *, hook: str = "cmd") -> payloads.Reply:
        return self.send(*payloads.slash_command(text, user=user, response_url=self.slack.response_url(hook)))

    def click(self, action_id: str, value: str, user: str, *, hook: str = "click", block_id: str = "b",
              **kw: Any) -> payloads.Reply:
        action = {"action_id": action_id, "block_id": block_id, "value": value,
                  "text": {"type": "plain_text", "text": action_id}}
        return self.send(*payloads.block_actions(action, user=user, response_url=self.slack.response_url(hook),
                                                 **kw))

    def submit(self, view: dict[str, Any], values: dict[str, Any], user: str = DEV) -> payloads.Reply:
        return self.send(*payloads.view_submission(view, values, user=user))

    def open_new_form(self, user: str = DEV) -> dict[str, Any]:
        before = self.slack.count("views.open")
        reply = self.command("new", user)
        assert reply.status == 200 and reply.body == ""
        call = self.slack.wait_for("views.open", before + 1)[-1]
        view: dict[str, Any] = call.body["view"]
        return view

    def responses(self, hook: str) -> list[Call]:
        return self.slack.calls_to(f"/response/{hook}")

    def wait_response(self, hook: str, count: int = 1) -> Call:
        return self.slack.wait_for(f"/response/{hook}", count)[count - 1]

    def work(self, rounds: int = 20, between: Callable[[], None] | None = None) -> int:
        """Run worker passes until one does nothing (or `rounds`); `between` acts like the outside world."""
        total = 0
        for _ in range(rounds):
            if self.clock is not None:
                self.clock.advance(hours=1)  # past any wait-for-merge poll or retry backoff
            ran = self.services.workflow.run_pending("test-worker")
            total += ran
            if between is not None:
                between()
            if ran == 0:
                break
        self.notifier.flush()
        return total

    def requests(self) -> list[Any]:
        return self.services.workflow.list_requests(limit=1000)

    def request_state(self, request_id: int) -> State:
        return self.services.workflow.get_request(request_id).state

    def thread_posts(self, ts: str) -> list[Call]:
        return [c for c in self.slack.calls_to("chat.postMessage") if c.body.get("thread_ts") == ts]


def start_launchpad(slack: SlackServer, settings: Settings, services: Services) -> Launchpad:
    client = build_client(settings)
    notifier = SlackNotifier(client, settings, coalesce_seconds=0)
    app = build_app(settings, services, client=client, notifier=notifier)
    server = HttpServer(LaunchPadWsgi(app, ready=lambda: None, edge=build_edge(settings)), "127.0.0.1",
                        0).start()
    return Launchpad(slack, settings, services, app, notifier, server)


def stop_launchpad(lp: Launchpad) -> None:
    lp.server.stop()
    lp.app.listener_runner.listener_executor.shutdown(wait=True)  # type: ignore[attr-defined]
    lp.notifier.close()
    lp.services.close()
    assert sent_views_problems(lp.slack) == []


def sent_views_problems(slack: SlackServer) -> list[str]:
    """Every view and message the app actually sent to Slack, checked against Block Kit limits."""
    problems = []
    for call in slack.calls:
        if isinstance(call.body.get("view"), dict):
            problems += [f"{call.method}: {p}" for p in check_block_kit_limits(call.body["view"])]
        elif isinstance(call.body.get("blocks"), list):
            message = {"blocks": call.body["blocks"], "text": call.body.get("text", "")}
            problems += [f"{call.method}: {p}" for p in check_block_kit_limits(message)]
    return problems


@pytest.fixture
def slack() -> Iterator[SlackServer]:
    with SlackServer() as server:
        seed_people(server)
        yield server


@pytest.fixture
def launchpad(tmp_path: Path, slack: SlackServer) -> Iterator[Launchpad]:
    settings = slack_settings(tmp_path, slack)
    lp = start_launchpad(slack, settings, build_services(settings))
    try:
        yield lp
    finally:
        stop_launchpad(lp)


@pytest.fixture
def flowing(tmp_path: Path, slack: SlackServer) -> Iterator[Launchpad]:
    """Requests run to the end: the local forge merges its own PRs, and time is moved, not waited for."""
    settings = slack_settings(tmp_path, slack, auto_merge_local=True)
    clock = ManualClock()
    lp = start_launchpad(slack, settings, build_services(settings, clock=clock))
    lp.clock = clock
    try:
        yield lp
    finally:
        stop_launchpad(lp)


def blocks_text(blocks: Any) -> str:
    return json.dumps(blocks, ensure_ascii=False)
