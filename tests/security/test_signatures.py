"""Fuzzed Slack signatures and bodies never reach a listener.

Every request here is something Slack did not send, or did not send like this: a bad, missing or stale
signature, one made with another secret or another version prefix, a body changed after signing, a
timestamp far in the past or future. Each must get 401 from the real HTTP server and change nothing:
no request passes Bolt's verification (an app middleware probe records any that does), the local Slack
Web API server records no call (no modal, no message, no response_url post), and the database holds
no request.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.slack import ids
from tests.security.conftest import Guarded
from tests.slack import payloads
from tests.slack.conftest import DEV, SECRET, SRE

FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture],
                derandomize=True)
NEW_VIEW = {"type": "modal", "callback_id": ids.NEW_SERVICE_VIEW, "blocks": [], "private_metadata": ""}


def bodies(guarded: Guarded) -> list[tuple[str, str]]:
    """The requests that would act if they were accepted: open the form, submit it, approve, retry."""
    hook = guarded.lp.slack.response_url("attacker")
    click = {"action_id": ids.APPROVE, "block_id": ids.approval_block_id(1, 2), "value": ids.approval_value(1, 2),
             "text": {"type": "plain_text", "text": "Approve"}}
    return [
        payloads.slash_command("new", user=DEV, response_url=hook),
        payloads.slash_command("delete ranking-web", user=SRE, response_url=hook),
        payloads.view_submission(NEW_VIEW, payloads.new_service_values(name="ranking-web"), user=DEV),
        payloads.block_actions(click, user=SRE, response_url=hook),
    ]


def signature(secret: str, timestamp: str, body: str, version: str = "v0") -> str:
    digest = hmac.new(secret.encode(), f"{version}:{timestamp}:{body}".encode(), hashlib.sha256).hexdigest()
    return f"{version}={digest}"


def assert_nothing_happened(guarded: Guarded, *, settle: float = 0.0) -> None:
    """The probe records synchronously; Slack calls would come from listeners after the ack, so the tests
    also check once more after a pause (test_nothing_reached_slack_afterwards)."""
    time.sleep(settle)
    assert guarded.passed == []
    assert guarded.lp.slack.calls == []
    assert guarded.lp.requests() == []


def post(guarded: Guarded, body: str, content_type: str, headers: dict[str, str]) -> int:
    return payloads.post(guarded.lp.events_url, body, content_type, headers).status


@FUZZ
@given(which=st.integers(0, 3), forged=st.text(alphabet="0123456789abcdef", min_size=0, max_size=80),
       prefix=st.sampled_from(["v0=", "v1=", "", "V0=", "v0:", "sha256="]))
def test_made_up_signatures_get_401(guarded: Guarded, which: int, forged: str, prefix: str) -> None:
    body, content_type = bodies(guarded)[which]
    headers = {"X-Slack-Request-Timestamp": str(int(time.time())), "X-Slack-Signature": prefix + forged}
    assert post(guarded, body, content_type, headers) == 401
    assert_nothing_happened(guarded)


@FUZZ
@given(which=st.integers(0, 3), secret=st.text(min_size=1, max_size=40).filter(lambda s: s != SECRET and s.strip()),
       version=st.sampled_from(["v0", "v1", "v00", ""]))
def test_signatures_with_another_secret_or_version_get_401(guarded: Guarded, which: int, secret: str,
                                                           version: str) -> None:
    body, content_type = bodies(guarded)[which]
    ts = str(int(time.time()))
    forged = signature(secret, ts, body, version or "v0")
    if version not in ("", "v0"):  # the right secret, the wrong scheme version
        forged = signature(SECRET, ts, body, version)
    headers = {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": forged}
    assert post(guarded, body, content_type, headers) == 401
    assert_nothing_happened(guarded)


@FUZZ
@given(which=st.integers(0, 3), data=st.data())
def test_a_body_changed_after_signing_gets_401(guarded: Guarded, which: int, data: st.DataObject) -> None:
    body, content_type = bodies(guarded)[which]
    headers = payloads.sign(SECRET, body)
    at = data.draw(st.integers(0, len(body)), label="at")
    cut = data.draw(st.integers(0, 3), label="cut")
    insert = data.draw(st.text(alphabet=st.characters(codec="ascii", exclude_categories=["Cc"]), max_size=5),
                       label="insert")
    tampered = body[:at] + insert + body[at + cut:]
    if tampered == body:
        tampered = body + "&user_id=" + SRE
    assert post(guarded, tampered, content_type, headers) == 401  # parsable or not
    assert_nothing_happened(guarded)


def test_an_unparsable_payload_gets_401_not_500(guarded: Guarded) -> None:
    body = "payload=%7Bnot-json"
    assert post(guarded, body, "application/x-www-form-urlencoded", payloads.sign(SECRET, body)) == 401
    assert_nothing_happened(guarded)


@FUZZ
@given(which=st.integers(0, 3),
       skew=st.one_of(st.integers(301, 10**6), st.integers(-(10**6), -301), st.integers(10**9, 10**30),
                      st.integers(-(10**30), -(10**9))))
def test_stale_future_and_huge_timestamps_get_401_even_when_correctly_signed(guarded: Guarded, which: int,
                                                                            skew: int) -> None:
    body, content_type = bodies(guarded)[which]
    ts = str(int(time.time()) + skew)
    headers = {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": signature(SECRET, ts, body)}
    assert post(guarded, body, content_type, headers) == 401
    assert_nothing_happened(guarded)


@pytest.mark.parametrize("missing", ["signature", "timestamp", "both"])
def test_missing_headers_get_401(guarded: Guarded, missing: str) -> None:
    for body, content_type in bodies(guarded):
        headers: dict[str, Any] = payloads.sign(SECRET, body)
        if missing in ("signature", "both"):
            headers.pop("X-Slack-Signature")
        if missing in ("timestamp", "both"):
            headers.pop("X-Slack-Request-Timestamp")
        assert post(guarded, body, content_type, headers) == 401
    assert_nothing_happened(guarded)


@pytest.mark.parametrize("timestamp", ["abc", "1e3", "0x10", "1.5"])
def test_non_numeric_timestamps_get_401_and_post_nowhere(guarded: Guarded, timestamp: str) -> None:
    body, content_type = bodies(guarded)[0]
    headers = {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": signature(SECRET, timestamp, body)}
    assert post(guarded, body, content_type, headers) == 401
    assert_nothing_happened(guarded, settle=0.2)


def test_ssl_check_bodies_are_answered_without_reaching_a_listener(guarded: Guarded) -> None:
    """Slack's unsigned ssl_check pings get 200 by protocol; they must still run nothing."""
    body, content_type = payloads.slash_command("new", user=DEV, response_url=guarded.lp.slack.response_url("x"))
    assert post(guarded, body + "&ssl_check=1", content_type, {}) == 200
    assert_nothing_happened(guarded)


def test_nothing_reached_slack_afterwards(guarded: Guarded) -> None:
    assert_nothing_happened(guarded, settle=0.3)


def test_a_correctly_signed_request_does_get_through(guarded: Guarded) -> None:
    """The control: the same server accepts Slack's own signature (last, as it changes state)."""
    body, content_type = payloads.slash_command("help", user=DEV, response_url=guarded.lp.slack.response_url("ok"))
    assert post(guarded, body, content_type, payloads.sign(SECRET, body)) == 200
    guarded.lp.slack.wait_for("/response/ok")
    assert len(guarded.passed) == 1
