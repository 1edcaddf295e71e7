"""Block Kit builders for the AWS operations: Slack's limits, escaping, and where the password appears."""

from __future__ import annotations

import json

from bot.aws.iam_password import IamUser, PasswordReset, TemporaryPassword
from bot.aws.lookup_tree import LookupResult, Node, NodeKind, Owner, Workload, ZoneRef
from bot.slack.aws_views import (
    FIELD_TARGET,
    confirmed,
    lookup_message,
    password_reset_modal,
    password_reset_notice,
    password_result_modal,
    target_from_form,
)
from bot.slack.blocks import check_block_kit_limits

SECRET = "Abc123!#xyz-LONG-secret"
USER = IamUser(name="bob", arn="arn:aws:iam::111122223333:user/bob", email="bob@example.com")


def reset(for_self: bool = True) -> PasswordReset:
    return PasswordReset(user=USER, password=TemporaryPassword(SECRET), created=True, for_self=for_self,
                         requested_by="<@U1>", notify_email=None if for_self else "bob@example.com")


def test_modals_fit_slack_and_only_sre_may_name_someone() -> None:
    mine, theirs = password_reset_modal(is_sre=False), password_reset_modal(is_sre=True, target="bob")
    assert check_block_kit_limits(mine) == [] and check_block_kit_limits(theirs) == []
    assert FIELD_TARGET not in json.dumps(mine)
    assert '"initial_value": "bob"' in json.dumps(theirs)
    values = {FIELD_TARGET: {"target": {"value": "  bob "}},
              "aws_password_confirm": {"confirm": {"selected_options": [{"value": "yes"}]}}}
    assert target_from_form(values) == "bob" and confirmed(values)
    assert target_from_form({}) is None and not confirmed({})


def test_the_result_shows_the_password_once_and_the_notice_never() -> None:
    own = password_result_modal(reset())
    assert check_block_kit_limits(own) == []
    assert json.dumps(own).count(SECRET) == 1
    assert "https://111122223333.signin.aws.amazon.com/console" in json.dumps(own)
    other = password_result_modal(reset(for_self=False), notified=True)
    assert "bob@example.com was told by direct message" in json.dumps(other)
    assert "let them know yourself" in json.dumps(password_result_modal(reset(for_self=False)))
    notice = password_reset_notice(reset(for_self=False), "<@U0SRE>")
    assert SECRET not in json.dumps(notice) and "reset by <@U0SRE>" in notice["text"]
    assert SECRET not in repr(reset())


def test_lookup_message_puts_the_owner_first_escapes_and_fits() -> None:
    targets = [Node(kind=NodeKind.TARGET, label=f"10.0.{i // 250}.{i % 250}:8080 healthy <b>") for i in range(400)]
    tree = [Node(kind=NodeKind.ZONE, label="zone example.com", children=[
        Node(kind=NodeKind.RECORD, label="a.example.com A alias -> x", children=targets)])]
    result = LookupResult(domain="a.example.com", found=True, tree=tree,
                          owners=[Owner(service="web", team="search", matched_by="domain")],
                          workloads=[Workload(cluster="eks", namespace="search-prod", service="web", source="tag")],
                          problems=["cannot see <targets>"], aws_calls={"route53.ListResourceRecordSets": 1})
    message = lookup_message(result)
    assert check_block_kit_limits({"blocks": message["blocks"]}) == []
    text = json.dumps(message["blocks"])
    assert text.index("Owner: team search") < text.index("Runs in Kubernetes") < text.index("zone example.com")
    assert "<b>" not in text and "&lt;b&gt;" in text and "&lt;targets&gt;" in text
    assert message["text"] == "a.example.com: team search, service web"


def test_lookup_message_for_unknown_domains() -> None:
    zone = ZoneRef(id="/hostedzone/Z9", name="example.com", private=True)
    no_zone = lookup_message(LookupResult(domain="x.example.org", found=False, zones_searched=[zone]))
    assert "Zones searched: example.com (private, Z9)." in json.dumps(no_zone)
    no_record = lookup_message(LookupResult(domain="x.example.com", found=False, zones=[zone], zones_searched=[zone]))
    assert "No record for `x.example.com`" in json.dumps(no_record)
