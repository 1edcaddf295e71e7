"""End to end: Slack (signed HTTP in, local Web API out) -> workflow -> GitHub (PyGithub -> local GitHub API).

A developer runs `/launchpad new`, submits the form for devel + prod; workers open the pull requests
on the local GitHub server; the request's thread shows the steps; a teammate's approval click is
refused, an SRE's lets the request continue; reviewers merge; the requester is told it is done.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.services import build_services
from bot.slack import ids
from bot.workflow.api import State
from bot.workflow.bindings import PlaceholderBindings
from bot.workflow.clock import ManualClock
from tests.slack.conftest import (
    DEV,
    DEV2,
    REQUESTS,
    SRE,
    Launchpad,
    blocks_text,
    slack_settings,
    start_launchpad,
    stop_launchpad,
)
from tests.slack.payloads import new_service_values
from tests.support.github_server import GitHubServer
from tests.support.slack_server import SlackServer

TOKEN = "ghp_e2edefaulttoken000000000000000000"
PROD_TOKEN = "ghp_e2eprodtoken00000000000000000000000"
REPOS = ["platform/infra-live", "platform/k8s-values", "platform/gitops", "search/ranking-web"]


@pytest.fixture
def github() -> Iterator[GitHubServer]:
    with GitHubServer() as gh:
        gh.allow_tokens(TOKEN, PROD_TOKEN)
        for repo in REPOS:
            gh.seed_repo(repo, {"README.md": f"# {repo}\n"})
        yield gh


@pytest.fixture
def on_github(tmp_path: Path, slack: SlackServer, github: GitHubServer) -> Iterator[Launchpad]:
    settings = slack_settings(tmp_path, slack, forge="github", github_api_url=github.api_url,
                              github_credentials={"default": {"token": TOKEN}, "prod": {"token": PROD_TOKEN}},
                              github_writes_per_minute=6000)
    clock = ManualClock()
    services = build_services(settings, clock=clock, resolver=PlaceholderBindings(settings.platform))
    lp = start_launchpad(slack, settings, services)
    lp.clock = clock
    try:
        yield lp
    finally:
        stop_launchpad(lp)


def merge_open_pulls(gh: GitHubServer) -> None:
    """What reviewers do between worker passes."""
    for repo in REPOS:
        for pull in gh.pulls(repo):
            if pull.state == "open":
                gh.merge_pull(repo, pull.number)


def test_new_service_from_slack_to_merged_pull_requests(on_github: Launchpad, github: GitHubServer) -> None:
    lp, slack = on_github, on_github.slack

    # 1. /launchpad new -> views.open
    view = lp.open_new_form(DEV)
    assert view["callback_id"] == ids.NEW_SERVICE_VIEW

    # 2. the submission is acknowledged with no errors; the request is queued and its thread posted
    reply = lp.submit(view, new_service_values(name="ranking-web", environments=["devel", "prod"],
                                               domain="ranking.example.com"))
    assert reply.status == 200 and reply.body == ""
    root = slack.wait_for("chat.postMessage")[0]
    slack.wait_for("chat.postEphemeral")  # the listener's last call: the request and its thread are recorded by then
    [request] = lp.requests()
    assert root.body["channel"] == REQUESTS
    ts = root.response["ts"]
    assert lp.services.workflow.get_request(request.id).slack_ts == ts

    # 3. workers open the first pull request on GitHub and stop at the SRE gate (prod)
    lp.work()
    assert lp.request_state(request.id) == State.WAITING
    opened = [(repo, p.number) for repo in REPOS for p in github.pulls(repo)]
    assert opened, "a pull request was opened on the GitHub server"
    assert all(p.state == "open" for repo in REPOS for p in github.pulls(repo))
    assert github.calls_matching("POST", "/graphql", operation="createPullRequest"), "PyGithub opened it over HTTP"

    # 4. the root message is kept current and the thread has the step replies and the approval prompt
    updates = [c for c in slack.calls_to("chat.update") if c.body["ts"] == ts]
    assert updates, "root message updated"
    pr_url = github.pulls(opened[0][0])[0].number
    assert f"/pull/{pr_url}" in blocks_text(updates[-1].body["blocks"])
    thread = lp.thread_posts(ts)
    prompts = [c for c in thread if ids.APPROVE in blocks_text(c.body["blocks"])]
    assert len(prompts) == 1 and len(thread) > len(prompts), "step replies and one approval prompt"
    prompt = prompts[0]
    value = next(b for b in prompt.body["blocks"] if b["type"] == "actions")["elements"][0]["value"]

    # 5. a non-SRE click is refused with an ephemeral explanation; nothing changes
    lp.click(ids.APPROVE, value, DEV2, hook="teammate", message_ts=prompt.response["ts"])
    refusal = lp.wait_response("teammate").body
    assert refusal["response_type"] == "ephemeral" and "Only members of the SRE group" in refusal["text"]
    assert lp.request_state(request.id) == State.WAITING

    # 6. an SRE approves in the thread: the prompt shows who decided, and the request continues
    before = slack.count("chat.update")
    lp.click(ids.APPROVE, value, SRE, hook="sre", message_ts=prompt.response["ts"])
    decided = slack.wait_for("chat.update", before + 2)
    assert any(f"Approved by <@{SRE}>" in blocks_text(c.body["blocks"]) for c in decided
               if c.body["ts"] == prompt.response["ts"])

    # 7. reviewers merge as PRs appear; workers carry the request to the end
    lp.work(rounds=40, between=lambda: merge_open_pulls(github))
    done = lp.services.workflow.get_request(request.id)
    assert done.state == State.SUCCEEDED, [(s.title, s.state, s.error) for s in done.steps]
    for repo in REPOS:
        pulls = github.pulls(repo)
        assert len(pulls) == 1 and pulls[0].merged_at, (repo, pulls)  # one PR per repository, merged
    assert len([s for s in done.steps if s.kind == "open_pr"]) == len(REPOS)

    final = [c for c in slack.calls_to("chat.update") if c.body["ts"] == ts][-1]
    assert "succeeded" in final.body["text"]
    assert any(c.body["channel"] == "D012ABCDEF" and "is done" in c.body["text"]
               for c in slack.calls_to("chat.postMessage")), "the requester got a DM"


def test_a_failed_step_shows_its_error_and_retry_resumes_it(on_github: Launchpad, github: GitHubServer) -> None:
    lp, slack = on_github, on_github.slack
    view = lp.open_new_form(DEV)
    lp.submit(view, new_service_values(name="ranking-web", environments=["devel"]))
    slack.wait_for("chat.postEphemeral")
    [request] = lp.requests()
    github.fail("POST", "/graphql", status=422, times=1, operation="createPullRequest.*platform/k8s-values")

    lp.work(rounds=40, between=lambda: merge_open_pulls(github))
    failed = lp.services.workflow.get_request(request.id)
    assert failed.state == State.FAILED, [(s.title, s.state) for s in failed.steps]
    ts = failed.slack_ts
    assert ts is not None
    retry_replies = [c for c in lp.thread_posts(ts) if ids.RETRY in blocks_text(c.body["blocks"])]
    assert retry_replies, "the failure is posted in the thread with a Retry button"
    root = [c for c in slack.calls_to("chat.update") if c.body["ts"] == ts][-1]
    assert ids.RETRY in blocks_text(root.body["blocks"]) and "Failed" in blocks_text(root.body["blocks"])

    lp.click(ids.RETRY, str(request.id), DEV2, hook="retry")  # a teammate may retry the team's request
    assert "Retrying request" in lp.wait_response("retry").body["text"]
    lp.work(rounds=40, between=lambda: merge_open_pulls(github))
    done = lp.services.workflow.get_request(request.id)
    assert done.state == State.SUCCEEDED
    assert [len(github.pulls(repo)) for repo in REPOS] == [1, 1, 1, 1]
