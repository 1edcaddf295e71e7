"""`/launchpad bulk` over signed HTTP (real Bolt, slack_sdk against the local Web API server, local forge):
SRE only, a dry run with a Submit button by default, `--apply` to submit at once, usage help."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.services import build_services
from bot.slack.bulk import DISMISS, SUBMIT
from bot.workflow.api import State
from bot.workflow.clock import ManualClock
from tests.bulk.support import seed, worker_spec
from tests.slack.conftest import (
    DEV,
    REQUESTS,
    SRE,
    SRE2,
    Launchpad,
    blocks_text,
    seed_people,
    slack_settings,
    start_launchpad,
    stop_launchpad,
)
from tests.support.slack_server import SlackServer

COMMAND = "bulk --team search --chart-revision v1.2.0"


@pytest.fixture
def lp(tmp_path: Path) -> Iterator[Launchpad]:
    with SlackServer() as slack:
        seed_people(slack)
        settings = slack_settings(tmp_path, slack, auto_merge_local=True)
        clock = ManualClock()
        services = build_services(settings, clock=clock)
        specs = [worker_spec(n) for n in ("ranking-api", "suggest-api", "index-api")]
        specs.append(worker_spec("ledger-api", team="payments"))
        assert services.local_forge is not None
        for repo, files in seed(services, specs).items():
            services.local_forge.commit_files(repo, files, message="seed")
        launchpad = start_launchpad(slack, settings, services)
        launchpad.clock = clock
        try:
            yield launchpad
        finally:
            stop_launchpad(launchpad)


def buttons(message: dict[str, object]) -> list[dict[str, object]]:
    blocks = message["blocks"]
    assert isinstance(blocks, list)
    return [e for b in blocks if b["type"] == "actions" for e in b["elements"]]


def test_only_sre_may_bulk_and_the_default_is_a_dry_run(lp: Launchpad) -> None:
    lp.command(COMMAND, DEV, hook="dev")
    refused = lp.wait_response("dev").body
    assert "for the SRE group" in refused["text"] and refused["response_type"] == "ephemeral"

    lp.command(COMMAND, SRE, hook="preview")
    preview = lp.wait_response("preview").body
    assert preview["response_type"] == "ephemeral"
    text = blocks_text(preview["blocks"])
    assert "Bulk change (dry run):* chart revision v1.2.0 for team search" in text
    assert "3 of 3 matching service(s) change: 3 file(s)" in text and "ledger-api" not in text
    assert "Approval: none" in text
    submit, dismiss = buttons(preview)
    assert (submit["action_id"], submit["value"], dismiss["action_id"]) == (SUBMIT, COMMAND.removeprefix("bulk "),
                                                                          DISMISS)
    assert lp.requests() == []  # a dry run submits nothing

    lp.click(SUBMIT, str(submit["value"]), DEV, hook="dev-click")
    assert "for the SRE group" in lp.wait_response("dev-click").body["text"]
    assert lp.requests() == []

    lp.click(DISMISS, "dismiss", SRE, hook="dismiss")
    assert lp.wait_response("dismiss").body["replace_original"] is True
    lp.click(SUBMIT, str(submit["value"]), SRE, hook="submit")
    queued = lp.wait_response("submit").body
    assert queued["replace_original"] is True and "Bulk request #1" in queued["text"]
    [request] = lp.requests()
    assert (request.kind, request.service, request.requester) == ("bulk", "3 services", SRE)
    root = lp.slack.wait_for("chat.postMessage", 1)[0]
    assert root.body["channel"] == REQUESTS and "Bulk change 3 services" in root.body["text"]
    lp.work()
    assert lp.request_state(request.id) == State.SUCCEEDED
    assert all(e.action != "request.failed" for e in lp.services.workflow.audit("ranking-api"))


def test_apply_submits_at_once_and_bad_input_gets_the_usage(lp: Launchpad) -> None:
    lp.command("bulk --team search", SRE, hook="usage")
    usage = lp.wait_response("usage").body
    assert "one of the arguments --module --chart-revision --sidecar-image --action is required" in usage["text"]
    assert "/launchpad bulk" in blocks_text(usage["blocks"])

    lp.command("bulk --service ranking-api --sidecar-image filebeat=docker.elastic.co/beats/filebeat:8.15.0 --apply",
               SRE2, hook="apply")
    assert "Bulk request #1" in lp.wait_response("apply").body["text"]
    [request] = lp.requests()
    assert (request.kind, request.service, request.requester) == ("bulk", "1 service", SRE2)

    lp.command("bulk --team search --chart-revision v1.2.0", SRE, hook="busy")
    busy = lp.wait_response("busy").body
    assert "ranking-api is locked by request #1" in blocks_text(busy["blocks"])
