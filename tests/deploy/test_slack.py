"""`/launchpad promote` and `/launchpad status SERVICE` over signed HTTP, and App Home's "which image runs
where", with the local Slack Web API, the local forge and the local Argo CD server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.services import build_services
from bot.workflow.api import State
from bot.workflow.clock import ManualClock
from provisioners.forge.local import LocalForge
from tests.deploy.support import TOKEN, ci_deploys, follow, run, settle
from tests.slack import payloads
from tests.slack.conftest import (
    DEV,
    OUTSIDER,
    Launchpad,
    blocks_text,
    seed_people,
    slack_settings,
    start_launchpad,
    stop_launchpad,
)
from tests.support.argocd_server import ArgoCdServer
from tests.support.slack_server import SlackServer
from tests.workflow.support import ALICE, spec


@pytest.fixture
def argo_lp(tmp_path: Path) -> Iterator[tuple[Launchpad, ArgoCdServer, LocalForge]]:
    clock = ManualClock()
    with SlackServer() as slack, ArgoCdServer(tokens={TOKEN: None}, clock=lambda: clock.now().timestamp()) as argo:
        seed_people(slack)
        settings = slack_settings(tmp_path, slack, auto_merge_local=True,
                                  argocd={"default": {"url": argo.url, "token": TOKEN}})
        lp = start_launchpad(slack, settings, build_services(settings, clock=clock))
        lp.clock = clock
        try:
            yield lp, argo, LocalForge(tmp_path / "repos")
        finally:
            stop_launchpad(lp)
        assert argo.schema_errors == []


def test_promote_command_status_and_home_show_which_image_runs_where(argo_lp: tuple[Launchpad, ArgoCdServer,
                                                                                    LocalForge]) -> None:
    lp, argo, forge = argo_lp
    clock = lp.clock
    assert clock is not None
    wf = lp.services.workflow
    follow(argo, forge, "ranking-api", ["devel", "alpha"])
    assert run(lp.services, clock, wf.submit_create(spec(envs=["devel", "alpha"]), ALICE).id).state == State.SUCCEEDED
    ci_deploys(forge, "ranking-api", "devel", "3f2a9c1")
    settle(argo, clock)

    lp.command("promote ranking-api devel", hook="refused")
    assert "first environment: CI deploys it" in lp.wait_response("refused").body["text"]
    lp.command("promote ranking-api alpha", user=OUTSIDER, hook="outsider")
    assert "only members of team search" in lp.wait_response("outsider").body["text"]

    lp.command("promote ranking-api alpha", hook="promote")
    reply = lp.wait_response("promote").body["text"]
    assert reply.startswith(":rocket: Promoting ") and ":3f2a9c1 from devel to alpha (request #2)" in reply
    info = run(lp.services, clock, 2)
    assert info.state == State.SUCCEEDED, info.error
    lp.notifier.flush()
    roots = [c for c in lp.slack.calls_to("chat.postMessage") if "#2 Promote ranking-api (alpha)" in c.body["text"]]
    assert roots, "the promotion has its own thread"

    lp.command("status ranking-api", hook="status")
    status = blocks_text(lp.wait_response("status").body["blocks"])
    assert "Which image runs where" in status
    assert "`alpha` `ranking-api:3f2a9c1` · Healthy at" in status and "Argo CD>" in status

    lp.send(*payloads.event({"type": "app_home_opened", "user": ALICE.id, "channel": "D0HOME", "tab": "home",
                             "event_ts": "1700000000.1"}))
    home = blocks_text(lp.slack.wait_for("views.publish")[0].body["view"])
    assert "Running: devel `ranking-api:latest`" in home or "Running: alpha `ranking-api:3f2a9c1`" in home
    assert "alpha `ranking-api:3f2a9c1`" in home
    assert DEV  # the promotion was asked by a team member, not the owner
