"""Socket Mode against a local server speaking Slack's protocol: refreshes keep acking, drops reconnect.

The real Bolt app and `SocketModeLink` (slack_sdk's websockets client) against `SocketModeServer`
(apps.connections.open on the local Web API server hands out one-use ws:// URLs). Behaviour and counts
only; the latency figures are in bench/ack.py.
"""

from __future__ import annotations

import logging
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.app import build_app, build_client
from bot.metrics import MeteredWsgi, Metrics
from bot.services import build_services
from bot.slack.notifier import SlackNotifier
from bot.slack.socket_mode import SocketModeLink
from bot.slack.web import HttpServer
from tests.slack.conftest import DEV, slack_settings
from tests.support.slack_server import SlackServer
from tests.support.socket_mode_server import SocketModeServer, slash_command_payload

APP_TOKEN = "xapp-1-A0LAUNCHPAD-1234567890-abcdef"


class Running:
    def __init__(self, slack: SlackServer, sm: SocketModeServer, link: SocketModeLink, metrics: Metrics,
                 probes: HttpServer) -> None:
        self.slack, self.sm, self.link, self.metrics, self.probes = slack, sm, link, metrics, probes

    def command(self, n: int) -> str:
        return self.sm.send("slash_commands", slash_command_payload("help", user=DEV, n=n,
                                                                    response_url=self.slack.response_url(f"c{n}")))

    def readyz(self) -> int:
        try:
            with urllib.request.urlopen(f"{self.probes.url}/readyz", timeout=10) as response:
                return int(response.status)
        except urllib.error.HTTPError as exc:
            return exc.code


@pytest.fixture
def running(tmp_path: Path, slack: SlackServer) -> Iterator[Running]:
    settings = slack_settings(tmp_path, slack, slack_app_token=APP_TOKEN, slack_reconnect_max_seconds=1.0)
    services = build_services(settings)
    client = build_client(settings)
    notifier = SlackNotifier(client, settings, coalesce_seconds=0)
    app = build_app(settings, services, client=client, notifier=notifier)
    metrics = Metrics()
    with SocketModeServer(slack, grace=60) as sm:
        link = SocketModeLink(app, APP_TOKEN, settings=settings,
                              on_ack=lambda s: metrics.observe_ack(200, s, mode="socket_mode"))
        metrics.watch_socket_mode(link)
        probes = HttpServer(MeteredWsgi(None, metrics, ready=link.problem), "127.0.0.1", 0).start()
        try:
            link.connect()
            yield Running(slack, sm, link, metrics, probes)
        finally:
            link.close()
            probes.stop()
            app.listener_runner.listener_executor.shutdown(wait=True)  # type: ignore[attr-defined]
            notifier.close()
            services.close()


def test_a_refresh_in_the_middle_of_50_commands_loses_no_ack_and_handles_each_once(running: Running) -> None:
    sm = running.sm
    [first] = sm.wait_for_links(1)
    ids = []
    for n in range(50):
        if n == 25:
            assert sm.refresh() == [first.number]
        ids.append(running.command(n))
    envelopes = sm.wait_for_acks(ids)
    assert sm.undelivered == 0 and all(e.acks == 1 for e in envelopes)
    # acking went on through the reconnect: everything was acked while Slack still held the old
    # connection open (its 60 s grace), and the client moved to a new one and closed the old itself
    links = sm.wait_for_links(1)
    assert [lnk.number for lnk in links] == [2] and first.closed
    on_old = [e for e in envelopes[25:] if e.link == first.number]
    assert all(e.acked_at is not None for e in on_old)
    answered = running.slack.wait_until(lambda calls: len({c.path for c in calls if c.path.startswith("/response/")})
                                        >= 50)
    per_hook = [c.path for c in answered if c.path.startswith("/response/")]
    assert sorted(per_hook) == sorted(f"/response/c{n}" for n in range(50))  # each command handled once
    assert running.link.wait_reconnects(1, timeout=10)
    exposition = running.metrics.exposition().decode()
    assert 'launchpad_slack_ack_seconds_count{mode="socket_mode",status="200"} 50.0' in exposition
    assert "launchpad_slack_socket_mode_reconnects 1.0" in exposition


def test_a_drop_is_logged_shown_in_readyz_and_repaired_when_slack_comes_back(
        running: Running, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="bot.slack.socket_mode")
    sm, link = running.sm, running.link
    sm.wait_for_links(1)
    assert running.readyz() == 200
    sm.drop()
    assert link.wait_connected(up=False, timeout=10)
    assert running.readyz() == 503
    assert "launchpad_slack_socket_mode_connected 0.0" in running.metrics.exposition().decode()
    sm.wait_until(lambda: sm.refused >= 2)  # it keeps trying (with backoff) while Slack is away
    sm.come_back()
    sm.wait_for_links(1, timeout=10)  # the requirement: reconnected within 10 s of Slack coming back
    assert link.wait_connected(up=True, timeout=10)
    assert running.readyz() == 200
    messages = [r.getMessage() for r in caplog.records if r.name == "bot.slack.socket_mode"]
    assert any(m.startswith("Socket Mode disconnected") for m in messages)
    assert any(m.startswith("Socket Mode reconnected after") for m in messages)
    envelope = sm.wait_for_acks([running.command(99)])[0]  # and it works again
    assert envelope.acks == 1
