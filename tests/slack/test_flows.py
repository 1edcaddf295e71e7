"""Whole conversations over signed HTTP on the local forge: threads, approvals, deny, delete, App Home.

Requests run through the real workflow (SQLite, local git repositories that merge their own PRs);
every Slack effect is asserted on the calls the local Web API server recorded.
"""

from __future__ import annotations

import threading

from bot.slack import ids
from bot.workflow.api import RequestInfo, State
from tests.slack import payloads
from tests.slack.conftest import DEV, DEV2, OUTSIDER, REQUESTS, SRE, SRE2, Launchpad, blocks_text
from tests.slack.payloads import new_service_values
from tests.support.slack_server import Call


def submit(lp: Launchpad, *, user: str = DEV, name: str = "ranking-web",
           environments: list[str] | None = None, team: str = "search") -> RequestInfo:
    before = len(lp.requests())
    confirmations = lp.slack.count("chat.postEphemeral")
    view = lp.open_new_form(user)
    reply = lp.submit(view, new_service_values(name=name, team=team, environments=environments or ["devel"]),
                      user=user)
    assert reply.status == 200 and reply.body == "", reply.body
    # the listener's last call: the request is written and its thread recorded (it runs after the ack, and the
    # submission no longer holds the database while it renders, so nothing else makes the read below wait)
    lp.slack.wait_for("chat.postEphemeral", confirmations + 1)
    requests = lp.requests()
    assert len(requests) == before + 1
    return requests[0]


def root_ts(lp: Launchpad, request_id: int) -> str:
    ts = lp.services.workflow.get_request(request_id).slack_ts
    assert ts is not None
    return ts


def approval_prompt(lp: Launchpad, request_id: int) -> Call:
    ts = root_ts(lp, request_id)
    prompts = [c for c in lp.thread_posts(ts) if ids.APPROVE in blocks_text(c.body.get("blocks"))]
    assert len(prompts) == 1, [c.body.get("text") for c in lp.thread_posts(ts)]
    return prompts[0]


def approve_value(prompt: Call) -> str:
    actions = next(b for b in prompt.body["blocks"] if b["type"] == "actions")
    return str(actions["elements"][0]["value"])


def prompt_ts(prompt: Call) -> str:
    return str(prompt.response["ts"])


def test_prod_request_waits_for_sre_and_refuses_everyone_else(flowing: Launchpad) -> None:
    lp = flowing
    request = submit(lp, environments=["devel", "prod"])
    lp.work()
    assert lp.request_state(request.id) == State.WAITING
    ts = root_ts(lp, request.id)
    assert next(c.body["channel"] for c in lp.slack.calls_to("chat.postMessage")) == REQUESTS
    replies = lp.thread_posts(ts)
    assert any("Opened" in c.body["text"] or "PR" in c.body["text"] for c in replies)
    updates = [c for c in lp.slack.calls_to("chat.update") if c.body["ts"] == ts]
    assert updates and "waiting" in updates[-1].body["text"]
    prompt = approval_prompt(lp, request.id)
    message_ts = prompt_ts(prompt)

    for user, hook, words in [(OUTSIDER, "outsider", "Only members of the SRE group"),
                              (DEV2, "teammate", "Only members of the SRE group"),
                              (DEV, "requester", "nobody approves their own request")]:
        assert lp.click(ids.APPROVE, approve_value(prompt), user, hook=hook, message_ts=message_ts).status == 200
        refusal = lp.wait_response(hook).body
        assert refusal["response_type"] == "ephemeral" and refusal["replace_original"] is False
        assert words in refusal["text"]
    assert lp.request_state(request.id) == State.WAITING
    assert lp.services.workflow.pending_approvals()[0].request.id == request.id

    before = lp.slack.count("chat.update")
    assert lp.click(ids.APPROVE, approve_value(prompt), SRE, hook="sre", message_ts=message_ts).status == 200
    decided = lp.slack.wait_for("chat.update", before + 2)  # the prompt, and the root message
    replaced = next(c for c in decided if c.body["ts"] == message_ts)
    assert f"Approved by <@{SRE}>" in blocks_text(replaced.body["blocks"])
    assert ids.APPROVE not in blocks_text(replaced.body["blocks"])
    assert lp.responses("sre") == []

    lp.work()
    done = lp.services.workflow.get_request(request.id)
    assert done.state == State.SUCCEEDED
    root = [c for c in lp.slack.calls_to("chat.update") if c.body["ts"] == ts][-1]
    assert f"approved by <@{SRE}>" in blocks_text(root.body["blocks"])
    dm = lp.slack.wait_for("conversations.open")[0]
    assert dm.body["users"] == DEV
    assert any(c.body["channel"] == "D012ABCDEF" and "is done" in c.body["text"]
               for c in lp.slack.calls_to("chat.postMessage"))


def test_an_sre_never_approves_their_own_request(flowing: Launchpad) -> None:
    lp = flowing
    request = submit(lp, user=SRE2, environments=["prod"])
    lp.work()
    prompt = approval_prompt(lp, request.id)
    lp.click(ids.APPROVE, approve_value(prompt), SRE2, hook="self")
    assert "nobody approves their own request" in lp.wait_response("self").body["text"]
    assert lp.request_state(request.id) == State.WAITING


def test_two_clicks_at_once_record_one_decision(flowing: Launchpad) -> None:
    lp = flowing
    request = submit(lp, environments=["prod"])
    lp.work()
    prompt = approval_prompt(lp, request.id)
    message_ts = prompt_ts(prompt)
    replies: dict[str, payloads.Reply] = {}
    start = threading.Barrier(2)

    def click(user: str, hook: str) -> None:
        start.wait()
        replies[hook] = lp.click(ids.APPROVE, approve_value(prompt), user, hook=hook, message_ts=message_ts)

    threads = [threading.Thread(target=click, args=(SRE, "a")), threading.Thread(target=click, args=(SRE2, "b"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert {r.status for r in replies.values()} == {200}
    calls = lp.slack.wait_until(lambda calls: sum(c.method in ("/response/a", "/response/b") for c in calls) >= 1
                                and sum(c.method == "chat.update" for c in calls) >= 2)
    losers = [c for c in calls if c.method in ("/response/a", "/response/b")]
    assert len(losers) == 1
    assert "lready approved by" in losers[0].body["text"]
    step = next(s for s in lp.services.workflow.get_request(request.id).steps if s.kind == "approval")
    assert step.state == State.SUCCEEDED and step.decided_by in (SRE, SRE2)
    events = [e for e in lp.services.workflow.audit("ranking-web") if e.action == "approval.approved"]
    assert len(events) == 1


def test_deny_asks_for_a_reason_and_stops_the_request(flowing: Launchpad) -> None:
    lp = flowing
    request = submit(lp, environments=["prod"])
    lp.work()
    prompt = approval_prompt(lp, request.id)
    message_ts = prompt_ts(prompt)
    lp.click(ids.DENY, approve_value(prompt), SRE, hook="deny", message_ts=message_ts)
    modal = lp.slack.wait_for("views.open", 2)[-1].body["view"]
    assert modal["callback_id"] == ids.DENY_REASON_VIEW
    assert lp.request_state(request.id) == State.WAITING

    empty = lp.submit(modal, {"reason": {"reason": payloads.text_value("  ")}}, user=SRE).json()
    assert empty["response_action"] == "errors" and "reason" in empty["errors"]
    assert lp.request_state(request.id) == State.WAITING

    before = lp.slack.count("chat.update")
    reply = lp.submit(modal, {"reason": {"reason": payloads.text_value("prod needs a runbook first")}}, user=SRE)
    assert reply.status == 200 and reply.body == ""
    updates = lp.slack.wait_for("chat.update", before + 2)  # the prompt, and the root message
    denied_text = blocks_text([c.body["blocks"] for c in updates if c.body["ts"] == message_ts])
    assert f"Denied by <@{SRE}>" in denied_text and "prod needs a runbook first" in denied_text
    assert lp.request_state(request.id) == State.FAILED


def test_non_sre_deny_click_opens_no_modal(flowing: Launchpad) -> None:
    lp = flowing
    request = submit(lp, environments=["prod"])
    lp.work()
    prompt = approval_prompt(lp, request.id)
    lp.click(ids.DENY, approve_value(prompt), DEV2, hook="deny")
    assert "Only members of the SRE group" in lp.wait_response("deny").body["text"]
    assert lp.slack.count("views.open") == 1  # only the new-service form


def test_home_tab_shows_services_requests_and_sre_approvals(flowing: Launchpad) -> None:
    lp = flowing
    done = submit(lp, name="search-api", environments=["devel"])
    lp.work()
    waiting = submit(lp, environments=["prod"])
    lp.work()
    assert lp.request_state(done.id) == State.SUCCEEDED

    lp.send(*payloads.event({"type": "app_home_opened", "user": DEV, "channel": "D0HOME", "tab": "home",
                             "event_ts": "1700000000.1"}))
    home = lp.slack.wait_for("views.publish")[0].body
    assert home["user_id"] == DEV
    text = blocks_text(home["view"])
    assert "search-api" in text and f"#{waiting.id} Create ranking-web" in text
    assert "Pending approvals" not in text

    lp.send(*payloads.event({"type": "app_home_opened", "user": SRE, "channel": "D0HOME2", "tab": "home",
                             "event_ts": "1700000000.2"}))
    sre_home = lp.slack.wait_for("views.publish", 2)[1].body["view"]
    assert "Pending approvals (1)" in blocks_text(sre_home)
    approve = [e for b in sre_home["blocks"] if b["type"] == "actions" for e in b["elements"]
               if e["action_id"] == ids.APPROVE]
    assert len(approve) == 1

    # approving from the Home tab: no message to update, the tab is republished
    view = {"id": "V0HOME0001", "type": "home", "blocks": sre_home["blocks"]}
    lp.send(*payloads.block_actions({"action_id": ids.APPROVE, "block_id": ids.approval_block_id(waiting.id, 0),
                                     "value": approve[0]["value"]}, user=SRE, view=view))
    lp.slack.wait_for("views.publish", 3)
    assert lp.services.workflow.pending_approvals() == []


def test_status_list_and_retry_commands(flowing: Launchpad) -> None:
    lp = flowing
    request = submit(lp, environments=["devel"])
    lp.work()
    lp.command(f"status {request.id}", hook="status-id")
    status = lp.wait_response("status-id").body
    assert f"#{request.id} Create ranking-web" in status["text"] and ids.RETRY not in blocks_text(status["blocks"])
    lp.command("status ranking-web", hook="status-svc")
    assert "ranking-web" in lp.wait_response("status-svc").body["text"]
    lp.command("list", hook="list")
    assert "Your services: 1 services" in lp.wait_response("list").body["text"]
    lp.command("list all", hook="all")
    assert lp.wait_response("all").body["text"] == "Open requests: 0"
    lp.command(f"retry {request.id}", hook="retry")
    assert "only a failed request can be retried" in lp.wait_response("retry").body["text"]


def test_delete_asks_for_confirmation_and_only_owners_or_sre_may(flowing: Launchpad) -> None:
    lp = flowing
    request = submit(lp, environments=["devel"])
    lp.work()
    assert lp.request_state(request.id) == State.SUCCEEDED

    lp.command("delete ranking-web", OUTSIDER, hook="outsider")
    assert "Only the owner" in lp.wait_response("outsider").body["text"]
    lp.command("delete ranking-web prod", DEV, hook="wrong-env")
    assert "has no environment prod" in lp.wait_response("wrong-env").body["text"]

    lp.command("delete ranking-web", DEV, hook="owner")
    confirmation = lp.wait_response("owner").body
    buttons = [e for b in confirmation["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert [b["action_id"] for b in buttons] == [ids.DELETE_CONFIRM, ids.DELETE_CANCEL]
    assert "confirm" in buttons[0]
    assert len(lp.requests()) == 1, "nothing is queued before the confirmation"

    lp.click(ids.DELETE_CANCEL, buttons[1]["value"], DEV, hook="cancel")
    assert lp.wait_response("cancel").body["replace_original"] is True
    assert len(lp.requests()) == 1

    lp.click(ids.DELETE_CONFIRM, buttons[0]["value"], DEV, hook="confirm")
    queued = lp.wait_response("confirm").body
    assert queued["replace_original"] is True and "Delete request #2" in queued["text"]
    delete = lp.requests()[0]
    assert delete.kind == "delete" and delete.requester == DEV
    lp.work()
    assert lp.request_state(delete.id) == State.SUCCEEDED


def test_a_notifier_failure_never_fails_the_request(flowing: Launchpad) -> None:
    lp = flowing
    request = submit(lp, environments=["devel"])
    lp.slack.fail_next("chat.postMessage", status=400, times=20)  # Slack errors that are not retried
    lp.slack.fail_next("chat.update", status=400, times=20)
    lp.slack.fail_next("conversations.open", status=400, times=20)
    lp.work()
    assert lp.request_state(request.id) == State.SUCCEEDED

