"""Slack answering 429 while a worker reports a request: the real SlackNotifier (slack_sdk with its retry
handlers) against the local Web API server, driven by the engine's outbox. Within the retry budget nothing
is lost and nothing is posted twice; beyond it Slack's trouble never fails the request, and the thread's
root message still ends showing the final state."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.app import build_client
from bot.services import Services, build_services
from bot.slack.notifier import SlackNotifier
from bot.workflow.api import ApprovalInfo, EnvironmentInfo, RequestInfo, ServiceInfo, State, StepInfo
from provisioners.forge.local import LocalForge
from provisioners.forge.router import StaticForgeRouter
from tests.support.slack_server import SlackServer
from tests.workflow.support import ALICE, drain, settings_for, spec

CHANNEL = "C0REQUESTS"
BOT_TOKEN = "xoxb-000000000001-000000000001-faultsfaultsfaultsfault"


class Tee:
    """Forwards to the SlackNotifier and counts what the workflow asked it to say."""

    def __init__(self, inner: SlackNotifier) -> None:
        self.inner = inner
        self.progress: list[str] = []
        self.finished = 0

    def request_changed(self, request: RequestInfo) -> None:
        self.inner.request_changed(request)

    def step_progress(self, request: RequestInfo, step: StepInfo, text: str) -> None:
        self.progress.append(text)
        self.inner.step_progress(request, step, text)

    def approval_needed(self, approval: ApprovalInfo) -> None:
        self.inner.approval_needed(approval)

    def request_finished(self, request: RequestInfo) -> None:
        self.finished += 1
        self.inner.request_finished(request)

    def ttl_reminder(self, service: ServiceInfo, env: EnvironmentInfo) -> None:
        self.inner.ttl_reminder(service, env)


@pytest.fixture
def slack() -> Iterator[SlackServer]:
    with SlackServer() as server:
        yield server


@pytest.fixture
def reported(tmp_path: Path, slack: SlackServer) -> Iterator[tuple[Services, Tee]]:
    settings = settings_for(tmp_path, f"sqlite:///{tmp_path / 'lp.db'}", slack_bot_token=BOT_TOKEN,
                            slack_api_url=slack.api_url, requests_channel=CHANNEL)
    notifier = SlackNotifier(build_client(settings), settings, coalesce_seconds=0)
    tee = Tee(notifier)
    services = build_services(settings, tee, forges=StaticForgeRouter(LocalForge(tmp_path / "repos")))
    notifier.set_thread = services.workflow.set_thread
    try:
        yield services, tee
    finally:
        notifier.close()
        services.close()


def posts(slack: SlackServer) -> list[dict[str, Any]]:
    return [c.body for c in slack.calls_to("chat.postMessage")]


def test_429s_within_the_retry_budget_lose_and_duplicate_nothing(reported: tuple[Services, Tee],
                                                                 slack: SlackServer) -> None:
    services, tee = reported
    slack.fail_next("chat.postMessage", status=429, retry_after=0, times=2)
    slack.fail_next("chat.update", status=429, retry_after=0)
    info = services.workflow.submit_create(spec("slack-429"), ALICE)
    drain(services)
    assert services.workflow.get_request(info.id).state == State.SUCCEEDED
    assert slack.count("chat.postMessage#failed") == 2 and slack.count("chat.update#failed") == 1

    roots = [p for p in posts(slack) if p.get("channel") == CHANNEL and not p.get("thread_ts")]
    assert len(roots) == 1  # one thread, although its first post met a 429
    root_ts = services.workflow.get_request(info.id).slack_ts
    replies = [p for p in posts(slack) if p.get("thread_ts") == root_ts]
    assert len(replies) == len(tee.progress) > 0  # every step reply arrived, none twice
    texts = [json.dumps(p["blocks"]) for p in replies]
    assert len(set(texts)) == len(texts)
    dms = [p for p in posts(slack) if p.get("channel", "").startswith("D")]
    assert len(dms) == tee.finished == 1
    assert "succeeded" in json.dumps(slack.calls_to("chat.update")[-1].body).lower()


def test_429s_beyond_the_budget_never_fail_the_request_and_the_thread_ends_current(
        reported: tuple[Services, Tee], slack: SlackServer) -> None:
    services, tee = reported
    info = services.workflow.submit_create(spec("slack-429-long"), ALICE)
    services.workflow.run_pending("fault-worker", max_steps=1)  # the thread exists
    slack.fail_next("chat.update", status=429, retry_after=0, times=4)  # 1 try + 3 retries: this update is dropped
    drain(services)
    final = services.workflow.get_request(info.id)
    assert final.state == State.SUCCEEDED, final.error
    assert slack.count("chat.update#failed") == 4
    last = slack.calls_to("chat.update")[-1].body
    assert last["ts"] == final.slack_ts and "succeeded" in json.dumps(last).lower()
    replies = [p for p in posts(slack) if p.get("thread_ts") == final.slack_ts]
    assert len(replies) == len(tee.progress)
