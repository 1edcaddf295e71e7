"""SlackNotifier and ActorDirectory against the local Web API server (real slack_sdk, no app)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from bot.app import build_client
from bot.config import Settings
from bot.slack.actors import ActorDirectory
from bot.slack.notifier import SlackNotifier
from bot.workflow.api import EnvironmentInfo, State
from tests.slack.conftest import DEV, DEV2, OUTSIDER, REQUESTS, SRE, SRE_GROUP, slack_settings
from tests.slack.samples import approval, decided_request, running_request, service
from tests.support.slack_server import SlackServer


@pytest.fixture
def settings(tmp_path: Path, slack: SlackServer) -> Settings:
    return slack_settings(tmp_path, slack)


def fresh(request_id: int = 12):  # type: ignore[no-untyped-def]
    """A request that has no thread yet."""
    return running_request().model_copy(update={"id": request_id, "slack_channel": None, "slack_ts": None})


def test_first_news_posts_the_root_message_once_and_records_the_thread(slack: SlackServer, settings: Settings) -> None:
    threads: list[tuple[int, str, str]] = []
    notifier = SlackNotifier(build_client(settings), settings, coalesce_seconds=0,
                             set_thread=lambda r, c, t: threads.append((r, c, t)))
    request = fresh()
    notifier.request_changed(request)
    notifier.request_changed(request)  # the same state again (the workflow has not stored the thread yet)
    notifier.step_progress(request, request.steps[0], "Opened PR #7 in platform/infra-live")
    posts = slack.calls_to("chat.postMessage")
    assert len(posts) == 2 and slack.count("chat.update") == 0
    root, reply = posts
    assert root.body["channel"] == REQUESTS and "thread_ts" not in root.body
    assert threads == [(12, REQUESTS, root.response["ts"])]
    assert reply.body["thread_ts"] == root.response["ts"]


def test_bursts_of_changes_become_one_update(slack: SlackServer, settings: Settings) -> None:
    notifier = SlackNotifier(build_client(settings), settings, coalesce_seconds=3600)
    request = running_request()  # already has its thread
    for minutes in range(10):
        notifier.request_changed(request.model_copy(update={"updated_at": request.updated_at
                                                            + timedelta(minutes=minutes)}))
    assert slack.count("chat.update") == 0
    assert notifier.flush() == 1
    [update] = slack.calls_to("chat.update")
    assert update.body["ts"] == request.slack_ts and "09:51" in update.body["blocks"][-1]["elements"][0]["text"]
    notifier.request_changed(request.model_copy(update={"updated_at": request.updated_at + timedelta(minutes=9)}))
    assert notifier.flush() == 0, "an update identical to the last one sent is skipped"
    notifier.close()


def test_the_coalescing_timer_sends_without_an_explicit_flush(slack: SlackServer, settings: Settings) -> None:
    notifier = SlackNotifier(build_client(settings), settings, coalesce_seconds=0.05)
    notifier.request_changed(running_request())
    slack.wait_for("chat.update")
    notifier.close()


def test_a_decided_approval_prompt_is_replaced_when_the_request_changes(slack: SlackServer,
                                                                        settings: Settings) -> None:
    notifier = SlackNotifier(build_client(settings), settings, coalesce_seconds=0)
    notifier.approval_needed(approval())
    notifier.approval_needed(approval())  # the workflow's reminder posts the buttons again
    prompts = slack.calls_to("chat.postMessage")
    assert [p.body["thread_ts"] for p in prompts] == [running_request().slack_ts] * 2
    notifier.request_changed(decided_request(approved=True))
    for prompt in prompts:
        replaced = [c for c in slack.calls_to("chat.update") if c.body["ts"] == prompt.response["ts"]]
        assert len(replaced) == 1 and "Approved by <@U0SRE00001>" in str(replaced[0].body["blocks"])
    notifier.request_changed(decided_request(approved=True).model_copy(update={"description": "x"}))
    assert slack.count("chat.update") == 4, "two prompts replaced once each, the root message twice"


def test_finished_requests_dm_the_requester_and_ttl_reminders_dm_the_owner(slack: SlackServer,
                                                                          settings: Settings) -> None:
    notifier = SlackNotifier(build_client(settings), settings, coalesce_seconds=0)
    notifier.request_finished(decided_request(approved=True).model_copy(update={"state": State.SUCCEEDED}))
    notifier.ttl_reminder(service(), EnvironmentInfo(name="tmp-pr42", expires_at=running_request().updated_at))
    assert [c.body["users"] for c in slack.calls_to("conversations.open")] == [DEV]  # DM channel cached
    dms = [c for c in slack.calls_to("chat.postMessage") if c.body["channel"] == "D012ABCDEF"]
    assert len(dms) == 2
    assert "is done" in dms[0].body["text"] and "/launchpad extend ranking-web tmp-pr42 48h" in str(dms[1].body)


def test_without_a_requests_channel_the_thread_is_in_the_requesters_dm(tmp_path: Path, slack: SlackServer) -> None:
    settings = slack_settings(tmp_path, slack, requests_channel="")
    notifier = SlackNotifier(build_client(settings), settings, coalesce_seconds=0)
    notifier.request_changed(fresh())
    assert slack.calls_to("chat.postMessage")[0].body["channel"] == "D012ABCDEF"
    notifier.request_changed(fresh(13).model_copy(update={"requester": "cli:alice"}))
    assert slack.count("chat.postMessage") == 1, "a CLI request without a channel has no thread"


def test_rate_limited_posts_are_retried(slack: SlackServer, settings: Settings) -> None:
    slack.fail_next("chat.postMessage", status=429, retry_after=0, times=2)
    notifier = SlackNotifier(build_client(settings), settings, coalesce_seconds=0)
    notifier.request_changed(fresh())
    assert slack.count("chat.postMessage#failed") == 2 and slack.count("chat.postMessage") == 1


def test_slack_errors_are_logged_not_raised_and_the_next_change_tries_again(slack: SlackServer,
                                                                            settings: Settings) -> None:
    slack.fail_next("chat.postMessage", status=400)
    notifier = SlackNotifier(build_client(settings), settings, coalesce_seconds=0)
    notifier.request_changed(fresh())
    assert slack.count("chat.postMessage") == 0
    notifier.request_changed(fresh())
    assert slack.count("chat.postMessage") == 1


# --- actors -----------------------------------------------------------------------------------------


class Ticks:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_actors_come_from_user_groups_cached(slack: SlackServer, settings: Settings) -> None:
    ticks = Ticks()
    directory = ActorDirectory(build_client(settings), settings, clock=ticks)
    sre = directory.actor(SRE)
    dev = directory.actor(DEV)
    assert sre.is_sre and sre.teams == [] and sre.email == "u0sre00001@example.com"
    assert not dev.is_sre and dev.teams == ["search"]
    assert not directory.actor(OUTSIDER).is_sre and directory.actor(DEV2).teams == ["search"]
    groups = [c.body["usergroup"] for c in slack.calls_to("usergroups.users.list")]
    assert sorted(groups) == sorted([SRE_GROUP, "S0PAYMENT1", "S0SEARCH01"]), "one call per group, then cached"

    slack.set_usergroup(SRE_GROUP, [DEV])
    assert not directory.actor(DEV).is_sre, "still cached"
    ticks.now += settings.usergroup_cache_seconds + 1
    assert directory.actor(DEV).is_sre


def test_settings_sre_users_are_sre_and_a_failing_group_fails_closed(tmp_path: Path, slack: SlackServer) -> None:
    settings = slack_settings(tmp_path, slack, sre_users=[OUTSIDER], sre_usergroup="S0MISSING")
    directory = ActorDirectory(build_client(settings), settings)
    assert directory.actor(OUTSIDER).is_sre
    assert not directory.actor(SRE).is_sre  # the group cannot be read: nobody is SRE through it


def test_a_worker_process_notifies_slack_when_slack_is_configured(tmp_path: Path, slack: SlackServer) -> None:
    from bot.app import attach_notifier
    from bot.services import build_services

    services = build_services(slack_settings(tmp_path, slack))
    try:
        notifier = attach_notifier(services.settings, services)
        assert notifier is not None and services.workflow.notifier is notifier
        unconfigured = build_services(slack_settings(tmp_path / "other", slack, slack_bot_token=None))
        assert attach_notifier(unconfigured.settings, unconfigured) is None
        unconfigured.close()
    finally:
        services.close()
