"""The AWS listeners through the real Bolt app over signed HTTP, slack_sdk against the local Slack Web API
server, boto3 against moto: the password modal end to end (and where the password may and may not be),
and `/launchpad lookup`."""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from bot.aws.operations import AUDIT_SUBJECT
from bot.aws.redact import secret_forms
from bot.services import build_services
from bot.slack import ids
from bot.slack.aws_listeners import lookup_reply
from bot.slack.aws_views import ACTION_CONFIRM, ACTION_TARGET, FIELD_CONFIRM, FIELD_TARGET, PASSWORD_VIEW
from bot.slack.blocks import check_block_kit_limits
from tests.aws.conftest import REGION, Seeded
from tests.slack import payloads
from tests.slack.conftest import DEV, DEV2, SRE, Launchpad, seed_people, slack_settings, start_launchpad, stop_launchpad
from tests.support.slack_server import Call, SlackServer


class SlackWithDirectory(SlackServer):
    """S's server, plus users.lookupByEmail (the DM to a user whose password an SRE reset needs it)."""

    def _answer(self, method: str, body: dict[str, Any]) -> dict[str, Any]:
        if method == "users.lookupByEmail":
            user = next((u for u, e in self.state.emails.items() if e == body.get("email")), None)
            return {"ok": True, "user": {"id": user}} if user else {"ok": False, "error": "users_not_found"}
        answer: dict[str, Any] = super()._answer(method, body)
        return answer


@pytest.fixture
def slack() -> Iterator[SlackServer]:
    with SlackWithDirectory() as server:
        seed_people(server)
        yield server


@pytest.fixture
def launchpad(tmp_path: Path, slack: SlackServer, moto_url: str, seeded: Seeded) -> Iterator[Launchpad]:
    settings = slack_settings(tmp_path, slack, aws_endpoint_url=moto_url, aws_region=REGION)
    lp = start_launchpad(slack, settings, build_services(settings))
    try:
        yield lp
    finally:
        stop_launchpad(lp)


@pytest.fixture
def loud_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    caplog.set_level(logging.DEBUG)
    handler = logging.StreamHandler(sys.stderr)
    logging.getLogger().addHandler(handler)
    try:
        yield caplog
    finally:
        logging.getLogger().removeHandler(handler)


def iam_user_for(lp: Launchpad, slack_user: str, iam: Any) -> str:
    """A fresh IAM user tagged with a fresh email, which becomes the Slack user's profile email."""
    name = f"{slack_user.lower()}-{uuid.uuid4().hex[:6]}"
    email = f"{name}@example.com"
    iam.create_user(UserName=name, Tags=[{"Key": "email", "Value": email}])
    lp.slack.set_user(slack_user, email=email)
    return name


def shortcut(user: str) -> tuple[str, str]:
    """A global shortcut as Slack sends it."""
    payload = {"type": "shortcut", "token": "gIkuvaNzQIHg97ATvDxqgjtO", "action_ts": "1700000200.000200",
               "team": payloads.TEAM, "user": {"id": user, "username": user.lower(), "team_id": payloads.TEAM["id"]},
               "is_enterprise_install": False, "enterprise": None, "callback_id": ids.IAM_PASSWORD_SHORTCUT,
               "trigger_id": "13345224609.738474920.8088930838d88f008e0"}
    return urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded"


def confirm_values(target: str | None = None) -> dict[str, Any]:
    values: dict[str, Any] = {FIELD_CONFIRM: {ACTION_CONFIRM: payloads.checkbox_value(["yes"])}}
    if target is not None:
        values[FIELD_TARGET] = {ACTION_TARGET: payloads.text_value(target)}
    return values


def password_in(view: dict[str, Any]) -> str:
    text = json.dumps(view)
    found = re.findall(r"```([^`]+)```", text)
    assert len(found) == 1, text
    return str(found[0])


def everything_slack_saw_except(lp: Launchpad, keep: Call) -> str:
    return json.dumps([c.body for c in lp.slack.calls if c is not keep], default=str)


def files_under(root: Path) -> bytes:
    return b"".join(p.read_bytes() for p in root.rglob("*") if p.is_file())


def test_own_password_via_the_shortcut_shown_once_and_nowhere_else(
        launchpad: Launchpad, clients: Any, loud_logs: pytest.LogCaptureFixture,
        capfd: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    lp = launchpad
    user = iam_user_for(lp, DEV, clients.iam)
    reply = lp.send(*shortcut(DEV))
    assert reply.status == 200
    form = lp.slack.wait_for("views.open")[-1].body["view"]
    assert form["callback_id"] == PASSWORD_VIEW
    assert FIELD_TARGET not in json.dumps(form)  # not SRE: no "someone else's" field
    assert check_block_kit_limits(form) == []

    submitted = lp.send(*payloads.view_submission(form, confirm_values(), user=DEV))
    assert submitted.status == 200 and submitted.json()["response_action"] == "update"
    update = lp.slack.wait_for("views.update")[-1]
    result = update.body["view"]
    assert check_block_kit_limits(result) == []
    password = password_in(result)
    assert f"your IAM user *{user}*" in json.dumps(result)
    profile = clients.iam.get_login_profile(UserName=user)["LoginProfile"]
    assert profile["UserName"] == user

    lp.services.store.dispose()  # flush SQLite so the file on disk is what we grep
    audit = lp.services.workflow.audit(AUDIT_SUBJECT)
    assert [(e.actor, e.action, e.detail) for e in audit] == [
        (f"<@{DEV}>", "aws.console_password_reset", f"console password reset for IAM user {user} (their own) by "
                                                    f"<@{DEV}>")]
    out, err = capfd.readouterr()
    on_disk = files_under(tmp_path)
    assert list(tmp_path.glob("*.db")), "the SQLite database is where we look"
    others = everything_slack_saw_except(lp, update)
    for form_ in secret_forms(password):
        assert form_ not in loud_logs.text and form_ not in out and form_ not in err
        assert form_.encode() not in on_disk
        assert all(form_ not in (e.detail or "") for e in audit)
        assert form_ not in others  # only the one views.update carried it


def test_sre_resets_someone_elses_and_they_are_told_without_the_password(launchpad: Launchpad, clients: Any) -> None:
    lp = launchpad
    target = iam_user_for(lp, DEV2, clients.iam)
    reply = lp.command(f"password {target}", SRE)
    assert reply.status == 200
    form = lp.slack.wait_for("views.open")[-1].body["view"]
    assert json.dumps(form).count(target) == 1  # prefilled in the SRE-only field
    lp.send(*payloads.view_submission(form, confirm_values(target), user=SRE))
    dm = lp.slack.wait_for("chat.postMessage")[-1]
    result = lp.slack.wait_for("views.update")[-1].body["view"]
    password = password_in(result)
    assert dm.body["channel"] == DEV2
    assert f"reset by <@{SRE}>" in dm.body["text"]
    assert password not in json.dumps(dm.body)
    assert "was told by direct message" in json.dumps(result)


def test_non_sre_cannot_reset_someone_else_even_with_a_crafted_submission(launchpad: Launchpad,
                                                                          clients: Any) -> None:
    lp = launchpad
    iam_user_for(lp, DEV, clients.iam)
    victim = iam_user_for(lp, DEV2, clients.iam)
    lp.send(*shortcut(DEV))
    form = lp.slack.wait_for("views.open")[-1].body["view"]
    lp.send(*payloads.view_submission(form, confirm_values(victim), user=DEV))
    result = lp.slack.wait_for("views.update")[-1].body["view"]
    assert "you may reset only your own console password" in json.dumps(result)
    assert "```" not in json.dumps(result)
    with pytest.raises(Exception, match=r"NoSuchEntity|cannot be found|not found"):
        clients.iam.get_login_profile(UserName=victim)


def test_submission_without_confirmation_is_refused_inline(launchpad: Launchpad) -> None:
    lp = launchpad
    lp.send(*shortcut(DEV))
    form = lp.slack.wait_for("views.open")[-1].body["view"]
    reply = lp.send(*payloads.view_submission(form, {FIELD_CONFIRM: {ACTION_CONFIRM: payloads.checkbox_value([])}},
                                              user=DEV))
    assert reply.json() == {"response_action": "errors", "errors": {FIELD_CONFIRM: "Tick this to confirm."}}
    time.sleep(0.2)
    assert lp.slack.count("views.update") == 0


def test_an_unmapped_user_is_told_what_to_do(launchpad: Launchpad) -> None:
    lp = launchpad
    lp.slack.set_user(DEV, email=f"nobody-{uuid.uuid4().hex[:6]}@example.com")
    lp.send(*shortcut(DEV))
    form = lp.slack.wait_for("views.open")[-1].body["view"]
    lp.send(*payloads.view_submission(form, confirm_values(), user=DEV))
    result = json.dumps(lp.slack.wait_for("views.update")[-1].body["view"])
    assert "no IAM user is tagged email=nobody-" in result and "ask an SRE" in result


def listeners_done(lp: Launchpad) -> None:
    """Wait until every listener (and its post-ack part) has finished: nothing more will be sent."""
    lp.app.listener_runner.listener_executor.shutdown(wait=True)  # type: ignore[attr-defined]


def test_a_failing_views_open_after_the_password_command_answers_once(launchpad: Launchpad) -> None:
    """Regression (issue 13): the AWS listeners were not wrapped; the ack turned into a 3 s timeout and the
    user got both "Something went wrong" and the help text."""
    lp = launchpad
    lp.slack.fail_next("views.open", status=200)  # {"ok": false, "error": "fatal_error"}
    reply = lp.command("password", DEV, hook="pw")
    assert (reply.status, reply.body) == (200, "")
    listeners_done(lp)
    [answer] = lp.responses("pw")
    assert "Something went wrong on our side" in json.dumps(answer.body)
    assert answer.body["response_type"] == "ephemeral"


def test_a_failing_users_info_never_leaves_the_modal_saying_setting(launchpad: Launchpad) -> None:
    lp = launchpad
    lp.send(*shortcut(DEV))
    form = lp.slack.wait_for("views.open")[-1].body["view"]
    lp.slack.fail_next("users.info", status=200)
    reply = lp.send(*payloads.view_submission(form, confirm_values(), user=DEV))
    assert reply.json()["response_action"] == "update"  # "Setting a new password…"
    listeners_done(lp)
    [update] = lp.slack.calls_to("views.update")
    shown = json.dumps(update.body["view"])
    assert "Something went wrong on our side (reference `" in shown and "Setting a new password" not in shown
    assert lp.slack.count("chat.postMessage") == 0  # told once, in the modal


def test_lookup_command_answers_ephemerally(launchpad: Launchpad) -> None:
    lp = launchpad
    reply = lp.command("lookup https://shop.apps.example.com/cart", DEV, hook="lookup")
    assert reply.status == 200
    answer = lp.wait_response("lookup").body
    assert answer["response_type"] == "ephemeral"
    text = json.dumps(answer["blocks"])
    assert "shop.apps.example.com" in text and "Owner: team payments" in text
    assert check_block_kit_limits({"blocks": answer["blocks"]}) == []
    assert answer["text"] == "shop.apps.example.com: team payments, service apps"
    # the AWS listener answered; the general /launchpad handler did not answer as well, and still has the rest
    lp.command("help", DEV, hook="help")
    lp.wait_response("help")
    assert len(lp.responses("lookup")) == 1
    [help_reply] = lp.responses("help")
    assert not help_reply.body["text"].startswith("Usage: `/launchpad lookup")


def test_lookup_reply_for_other_handlers(launchpad: Launchpad) -> None:
    usage = lookup_reply(launchpad.services, "  ")
    assert usage["text"].startswith("Usage: `/launchpad lookup &lt;domain&gt;`")  # mrkdwn: `<` would start a link
    bad = lookup_reply(launchpad.services, "not a domain")
    assert "is not a hostname" in bad["text"]
    unknown = lookup_reply(launchpad.services, "www.example.net")
    assert "Zones searched: example.com (public" in json.dumps(unknown["blocks"])
    assert unknown["text"] == "www.example.net: not found"
