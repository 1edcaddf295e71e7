"""Every user-provided text in every message is escaped for mrkdwn (issue 13): a property over all builders.

Each builder gets objects whose every free-text field (names, descriptions, titles, errors, deny reasons,
policy reasons, domains, AWS labels...) is drawn from text full of Slack control sequences (`<!channel>`,
`<https://evil.example|login here>`, `<@U…>`, `<#C…>`). In what Slack interprets as mrkdwn (a
message's `text` and every mrkdwn object) the only `<…>` left may be those the builder writes itself:
mentions of the request's own people, dates, the request channel, pull-request and sign-in links.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.aws.iam_password import IamUser, PasswordReset, TemporaryPassword
from bot.aws.lookup_tree import LookupResult, Node, NodeKind, Owner, Workload, ZoneRef
from bot.slack import aws_views, bulk, home_view, messages
from bot.slack.reporting import failure_text
from bot.workflow.api import (
    ApprovalInfo,
    EnvironmentImage,
    EnvironmentInfo,
    NotAllowed,
    RequestInfo,
    RequestKind,
    ServiceInfo,
    State,
    StepInfo,
)

REQUESTER, APPROVER = "U0REQ00001", "U0SRE00001"
PR_URL = "https://github.example/acme/infra/pull/7"
INJECTIONS = ["<!channel>", "<!here>", "<!everyone>", "<!subteam^S0123|@sre>", "<https://evil.example|login here>",
              "<https://evil.example>", "<@U0OTHER001>", "<#C0SECRET01>", "<mailto:a@evil.example|mail>",
              "&lt;!here&gt;", "*bold* _it_ `code`", "a|b>c<d", "<@" + REQUESTER + ">"]
ALLOWED = re.compile(
    r"<(?:@U0REQ00001|@U0SRE00001|#C0REQUESTS"
    r"|!date\^\d+\^[^|<>]*\|[^<>]*"
    r"|https://github\.example/acme/infra/pull/7(?:\|[^<>]*)?"
    r"|https://(?:\d+\.signin\.aws\.amazon\.com/console|console\.aws\.amazon\.com/)(?:\|[^<>]*)?)>")
NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)

nasty = st.one_of(
    st.sampled_from(INJECTIONS),
    st.lists(st.one_of(st.sampled_from(INJECTIONS), st.text(alphabet="<>&|!@#^:/ .aU0", max_size=12)),
             min_size=1, max_size=4).map("".join))


def mrkdwn_texts(obj: Any) -> list[str]:
    """Everything Slack reads as mrkdwn: top-level `text` and every mrkdwn text object."""
    found: list[str] = []
    if isinstance(obj, dict):
        if obj.get("type") == "mrkdwn" and isinstance(obj.get("text"), str):
            found.append(obj["text"])
        for key, value in obj.items():
            if key == "text" and isinstance(value, str) and obj.get("type") is None:
                found.append(value)  # a message's fallback text (mrkdwn by default)
            elif not isinstance(value, str):
                found += mrkdwn_texts(value)
    elif isinstance(obj, list):
        for item in obj:
            found += mrkdwn_texts(item)
    return found


ANY_USER = re.compile(r"<@[UW][A-Z0-9]+>")


def injected(message: Any, *, private: bool = False) -> list[str]:
    """The `<`/`>` that are not the builder's own tokens. `private` answers (only the acting person sees
    them; mentions there notify nobody) may keep any user mention the workflow wrote."""
    leaks = []
    for text in mrkdwn_texts(message):
        rest = ALLOWED.sub("", text)
        if private:
            rest = ANY_USER.sub("", rest)
        if "<" in rest or ">" in rest:
            leaks.append(text)
    return leaks


@st.composite
def steps(draw: st.DrawFn) -> list[StepInfo]:
    out = []
    for i in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["open_pr", "approval", "wait_merge"]))
        state = draw(st.sampled_from(list(State)))
        out.append(StepInfo(id=i + 1, position=i + 1, kind=kind, title=draw(nasty), state=state,
                            repo=draw(nasty), pr_url=draw(st.sampled_from([None, PR_URL])), pr_number=7,
                            error=draw(st.one_of(st.none(), nasty)), attempts=draw(st.integers(0, 3)),
                            approver_group=draw(st.sampled_from([None, "sre"])) if kind == "approval" else None,
                            decided_by=draw(st.sampled_from([None, APPROVER])) if kind == "approval" else None,
                            decided_at=NOW, decision_reason=draw(st.one_of(st.none(), nasty))))
    return out


@st.composite
def requests(draw: st.DrawFn) -> RequestInfo:
    return RequestInfo(id=draw(st.integers(1, 999)), kind=draw(st.sampled_from(list(RequestKind))),
                       service=draw(nasty), team=draw(nasty), environments=[draw(nasty)], blueprint=draw(nasty),
                       requester=draw(st.sampled_from([REQUESTER, "cli:<!channel>"])), state=draw(
                           st.sampled_from(list(State))), steps=draw(steps()), created_at=NOW, updated_at=NOW,
                       error=draw(st.one_of(st.none(), nasty)), slack_channel="C0REQUESTS", slack_ts="1.2",
                       description=draw(nasty))


@st.composite
def services(draw: st.DrawFn) -> ServiceInfo:
    return ServiceInfo(name=draw(nasty), team=draw(nasty), blueprint=draw(nasty), owner=REQUESTER,
                       environments=[EnvironmentInfo(name=draw(nasty), expires_at=NOW, domain=draw(nasty))],
                       pr_urls=[PR_URL], description=draw(nasty),
                       images=[EnvironmentImage(environment=draw(nasty), image=draw(nasty), state=draw(nasty))])


@st.composite
def lookups(draw: st.DrawFn) -> LookupResult:
    node = Node(kind=draw(st.sampled_from(list(NodeKind))), label=draw(nasty), facts={draw(nasty): draw(nasty)},
                note=draw(nasty), children=[Node(kind=next(iter(NodeKind)), label=draw(nasty))])
    zone = ZoneRef(id="Z1", name=draw(nasty), private=False)
    return LookupResult(domain=draw(nasty), found=draw(st.booleans()), zones=draw(st.sampled_from([[], [zone]])),
                        zones_searched=[zone],
                        owners=[Owner(service=draw(nasty), team=draw(nasty), owner=REQUESTER, environment=draw(nasty),
                                      matched_by=draw(nasty))],
                        workloads=[Workload(cluster=draw(nasty), namespace=draw(nasty), service=draw(nasty),
                                            source=draw(nasty))],
                        tree=[node], problems=[draw(nasty)], aws_calls={"route53": 1})


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_no_builder_lets_user_text_become_a_mention_or_a_link(data: st.DataObject) -> None:
    request = data.draw(requests())
    step = request.steps[0]
    service = data.draw(services())
    text = data.draw(nasty)
    approval = ApprovalInfo(request=request, step=step, reasons=[data.draw(nasty)], plan=[data.draw(nasty)])
    reset = PasswordReset(user=IamUser(name=data.draw(nasty), arn="arn:aws:iam::111122223333:user/x",
                                       email=data.draw(nasty)),
                          password=TemporaryPassword("Aa1!Aa1!Aa1!Aa1!"), created=True, for_self=data.draw(
                              st.booleans()), requested_by=REQUESTER, notify_email=data.draw(nasty),
                          warnings=(data.draw(nasty),))
    built = {
        "request_message": messages.request_message(request),
        "step_reply": messages.step_reply(request, step, text),
        "approval_message": messages.approval_message(approval),
        "decided_approval_message": messages.decided_approval_message(request, step),
        "request_finished_message": messages.request_finished_message(request),
        "ttl_reminder_message": messages.ttl_reminder_message(service, service.environments[0]),
        "help_message": messages.help_message(text),
        "request_list_message": messages.request_list_message(text, [request]),
        "service_message": messages.service_message(service, [request]),
        "services_message": messages.services_message(text, [service], [request]),
        "delete_confirmation": messages.delete_confirmation(service, [text]),
        "home_view": home_view.home_view([service], [request], [approval]),
        "lookup_message": aws_views.lookup_message(data.draw(lookups())),
        "lookup_error_message": aws_views.lookup_error_message(text, data.draw(nasty)),
        "password_result_modal": aws_views.password_result_modal(reset, notified=data.draw(st.booleans())),
        "password_error_modal": aws_views.password_error_modal(text),
        "password_reset_notice": aws_views.password_reset_notice(reset, f"<@{REQUESTER}>"),
        "bulk_usage_message": bulk.usage_message(text),
        "bulk_submitted_message": bulk.submitted_message(request),
        "failure_text": {"text": failure_text(NotAllowed(text), "ref")},
    }
    leaks = {name: injected(message, private=name == "failure_text") for name, message in built.items()}
    assert {name: found for name, found in leaks.items() if found} == {}, json.dumps(leaks)[:2000]


def test_a_deny_reason_with_a_channel_ping_is_shown_not_sent() -> None:
    """Regression (issue 13): the reason reached the thread reply unescaped and pinged the channel."""
    step = StepInfo(id=1, position=1, kind="approval", title="Approval by sre: prod", state=State.FAILED,
                    decided_by=APPROVER, decision_reason="<!channel> look <https://evil.example|login here>",
                    error=f"denied by <@{APPROVER}>: <!channel> look <https://evil.example|login here>")
    request = RequestInfo(id=3, kind=RequestKind.CREATE, service="web", team="search", environments=["prod"],
                          requester=REQUESTER, state=State.FAILED, steps=[step], created_at=NOW, updated_at=NOW)
    reply = messages.step_reply(request, step, f"Failed: {step.error}")
    shown = json.dumps(reply)
    assert "<!channel>" not in shown and "<https://evil.example" not in shown
    assert "&lt;!channel&gt;" in shown and f"<@{APPROVER}>" in shown  # the approver is still named
