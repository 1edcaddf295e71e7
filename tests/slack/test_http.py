"""Bolt over real signed HTTP: signature checks, probes, commands and the new-service form."""

from __future__ import annotations

import http.client
import json
import logging
import time
import urllib.request

import pytest

from bot.slack.blocks import check_block_kit_limits
from tests.slack import payloads
from tests.slack.conftest import DEV, OUTSIDER, SECRET, Launchpad
from tests.slack.payloads import new_service_values


def valid_submission(lp: Launchpad, **values: object) -> tuple[str, str]:
    view = lp.open_new_form()
    return payloads.view_submission(view, new_service_values(name="ranking-web", **values), user=DEV)  # type: ignore[arg-type]


@pytest.mark.parametrize("how", ["bad", "missing", "stale", "other-secret"])
def test_unsigned_or_badly_signed_requests_get_401_and_change_nothing(launchpad: Launchpad, how: str) -> None:
    body, ctype = valid_submission(launchpad)
    launchpad.slack.reset()
    if how == "bad":
        reply = launchpad.send(body, ctype, headers={"X-Slack-Signature": "v0=" + "0" * 64})
    elif how == "missing":
        reply = launchpad.send(body, ctype, secret=None)
    elif how == "stale":
        reply = launchpad.send(body, ctype, timestamp=int(time.time()) - 6 * 60)
    else:
        reply = launchpad.send(body, ctype, secret="not-the-signing-secret")
    assert reply.status == 401
    assert launchpad.requests() == []
    assert launchpad.slack.calls == []


def test_the_signature_is_slacks_own_scheme() -> None:
    from slack_sdk.signature import SignatureVerifier

    body = "token=x&text=help"
    headers = payloads.sign(SECRET, body)
    verifier = SignatureVerifier(SECRET)
    assert verifier.is_valid(body, headers["X-Slack-Request-Timestamp"], headers["X-Slack-Signature"])


def test_probes_and_unknown_paths(launchpad: Launchpad) -> None:
    def get(path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(launchpad.server.url + path, timeout=5) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    assert get("/healthz") == (200, "ok\n")
    assert get("/readyz") == (200, "ready\n")
    assert get("/nope")[0] == 404


def test_help_and_unknown_input_answer_ephemerally(launchpad: Launchpad) -> None:
    assert launchpad.command("help", hook="help").status == 200
    help_reply = launchpad.wait_response("help").body
    assert help_reply["response_type"] == "ephemeral"
    assert "/launchpad new" in json.dumps(help_reply["blocks"])

    assert launchpad.command("frobnicate now", hook="unknown").status == 200
    unknown = launchpad.wait_response("unknown").body
    assert unknown["response_type"] == "ephemeral"
    assert "I don't know `frobnicate`" in json.dumps(unknown["blocks"])
    assert "/launchpad delete" in json.dumps(unknown["blocks"])

    assert launchpad.command("", hook="empty").status == 200
    assert "/launchpad new" in json.dumps(launchpad.wait_response("empty").body["blocks"])


def test_new_opens_the_form_within_limits(launchpad: Launchpad) -> None:
    view = launchpad.open_new_form()
    call = launchpad.slack.calls_to("views.open")[0]
    assert call.body["trigger_id"] == "13345224609.738474920.8088930838d88f008e0"
    assert call.headers["Authorization"] == f"Bearer {launchpad.settings.slack_bot_token.get_secret_value()}"  # type: ignore[union-attr]
    assert view["callback_id"] == "launchpad_new_service"
    assert check_block_kit_limits(view) == []
    team = next(b for b in view["blocks"] if b.get("block_id") == "team")
    assert team["element"]["initial_option"]["value"] == "search"  # the requester's team, from its user group


def test_choosing_a_blueprint_rebuilds_the_form(launchpad: Launchpad) -> None:
    view = {**launchpad.open_new_form(), "id": "V0FORM0001", "hash": "1.abc",
            "state": {"values": new_service_values(name="x")}}
    action = {"type": "static_select", "action_id": "blueprint_select", "block_id": "blueprint",
              "selected_option": {"text": {"type": "plain_text", "text": "Worker"}, "value": "worker"}}
    reply = launchpad.send(*payloads.block_actions(action, user=DEV, view=view))
    assert reply.status == 200
    update = launchpad.slack.wait_for("views.update")[0].body
    assert update["view_id"] == "V0FORM0001" and update["hash"] == "1.abc"
    block_ids = [b.get("block_id") for b in update["view"]["blocks"]]
    assert "domain" not in block_ids
    selected = update["view"]["blocks"][1]["element"]["initial_option"]["value"]
    assert selected == "worker"


@pytest.mark.parametrize(("values", "field", "words"), [
    ({"name": "a-very-long-service-name-for-target-groups"}, "name", "target group"),
    ({"environments": ["prod"], "domain": "ranking.evil.org"}, "domain", "outside the hosted zones"),
    ({"environments": [], "tmp_env": "pr42", "ttl": None}, "ttl_hours", "ttl_hours"),
])
def test_invalid_submission_gets_inline_errors_and_queues_nothing(launchpad: Launchpad, values: dict,
                                                                  field: str, words: str) -> None:
    view = launchpad.open_new_form()
    form = new_service_values(**{"name": "ranking-web", **values})
    reply = launchpad.submit(view, form)
    assert reply.status == 200
    answer = reply.json()
    assert answer["response_action"] == "errors"
    assert list(answer["errors"]) == [field]
    assert words in answer["errors"][field]
    assert launchpad.requests() == []
    assert launchpad.slack.count("chat.postMessage") == 0


def test_valid_submission_acks_with_no_errors_queues_and_posts_the_thread(launchpad: Launchpad) -> None:
    view = launchpad.open_new_form()
    reply = launchpad.submit(view, new_service_values(name="ranking-web", environments=["devel"]))
    assert reply.status == 200 and reply.body == ""
    root = launchpad.slack.wait_for("chat.postMessage")[0]
    assert root.body["channel"] == "C0REQUESTS"
    assert "#1 Create ranking-web (devel)" in json.dumps(root.body["blocks"])
    [request] = launchpad.requests()
    assert request.service == "ranking-web" and request.requester == DEV
    confirmation = launchpad.slack.wait_for("chat.postEphemeral")[0]
    assert confirmation.body["channel"] == "C0GENERAL" and confirmation.body["user"] == DEV
    assert launchpad.services.workflow.get_request(request.id).slack_ts is not None


def test_submission_for_a_team_you_are_not_in_is_refused_on_the_team_field(launchpad: Launchpad) -> None:
    view = launchpad.open_new_form(OUTSIDER)
    reply = launchpad.submit(view, new_service_values(name="ranking-web"), user=OUTSIDER)
    answer = reply.json()
    assert answer["response_action"] == "errors" and "team search" in answer["errors"]["team"]
    assert launchpad.requests() == []


def test_slack_429_is_retried_after_retry_after(launchpad: Launchpad) -> None:
    launchpad.slack.fail_next("views.open", status=429, retry_after=0)
    launchpad.open_new_form()
    assert launchpad.slack.count("views.open#failed") == 1
    assert launchpad.slack.count("views.open") == 1


def test_workflow_refusals_reach_the_user_ephemerally(launchpad: Launchpad) -> None:
    assert launchpad.command("status 999", hook="status").status == 200
    reply = launchpad.wait_response("status").body
    assert reply["response_type"] == "ephemeral"
    assert "999" in reply["text"]
    # a refusal raised microseconds after the ack must not undo the ack (see bot/slack/reporting.py)
    assert launchpad.command("extend ranking-web tmp-x soon", hook="extend").status == 200
    assert "not a duration" in launchpad.wait_response("extend").body["text"]


@pytest.mark.parametrize("timestamp", ["abc", "1e3", "0x10", "1.5", " 17", "9" * 40])
def test_a_malformed_timestamp_gets_401_and_posts_nowhere(launchpad: Launchpad, timestamp: str) -> None:
    body, ctype = payloads.slash_command("new", user=DEV, response_url=launchpad.slack.response_url("attacker"))
    headers = {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": "v0=" + "0" * 64}
    reply = payloads.post(launchpad.events_url, body, ctype, headers)
    assert reply.status == 401
    assert launchpad.slack.calls == []


def test_an_unparsable_body_gets_401_not_500(launchpad: Launchpad) -> None:
    body = "payload=%7Bnot-json"
    reply = launchpad.send(body, "application/x-www-form-urlencoded")
    assert reply.status == 401
    assert launchpad.slack.calls == []


def test_an_exact_replay_of_a_signed_submission_is_acted_on_once(launchpad: Launchpad) -> None:
    """Regression (issue 13): replaying the same signed form inside the 5-minute window created a second request."""
    body, ctype = valid_submission(launchpad)
    headers = payloads.sign(SECRET, body)
    first = payloads.post(launchpad.events_url, body, ctype, headers)
    replay = payloads.post(launchpad.events_url, body, ctype, headers)
    assert (first.status, first.body) == (200, "") and (replay.status, replay.body) == (200, "")
    launchpad.app.listener_runner.listener_executor.shutdown(wait=True)  # type: ignore[attr-defined]
    assert len(launchpad.requests()) == 1


def test_a_replay_is_refused_by_another_replica_sharing_the_database(launchpad: Launchpad) -> None:
    from datetime import UTC, datetime

    from bot.store.deliveries import DeliveryLog

    def now() -> datetime:
        return datetime.now(UTC)

    one, other = DeliveryLog(launchpad.services.store, now), DeliveryLog(launchpad.services.store, now)
    assert one.first("v0=abc") and not other.first("v0=abc") and not one.first("v0=abc")
    assert other.first("v0=def")


def test_a_big_unsigned_body_is_refused_and_logged_only_by_a_prefix(launchpad: Launchpad,
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    """Regression (issue 13): an unsigned 5 MB POST was logged whole."""
    caplog.set_level(logging.DEBUG)
    body = "payload=" + "A" * 500_000
    assert launchpad.send(body, "application/x-www-form-urlencoded", secret=None).status == 401
    # over the limit: refused from the Content-Length alone, before a byte of the body is read
    host, port = launchpad.server.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    conn.putrequest("POST", "/slack/events")
    conn.putheader("Content-Type", "application/x-www-form-urlencoded")
    conn.putheader("Content-Length", str(launchpad.settings.http_max_body_bytes + 1))
    conn.endheaders()
    assert conn.getresponse().status == 413
    conn.close()
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "A" * 100 not in logged
    assert "500008 bytes" in logged
    assert launchpad.slack.calls == []
