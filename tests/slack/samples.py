"""Sample workflow data and every view the Slack builders produce from it (normal and worst-case input)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bot.slack.home_view import home_view
from bot.slack.messages import (
    approval_message,
    decided_approval_message,
    delete_confirmation,
    help_message,
    request_finished_message,
    request_list_message,
    request_message,
    service_message,
    services_message,
    step_reply,
    text_message,
    ttl_reminder_message,
)
from bot.slack.modals import deny_reason_modal, new_service_modal
from bot.workflow.api import (
    ApprovalInfo,
    EnvironmentImage,
    EnvironmentInfo,
    RequestInfo,
    RequestKind,
    ServiceInfo,
    State,
    StepInfo,
    Teardown,
)
from provisioners.blueprint import BlueprintRegistry

T0 = datetime(2024, 5, 6, 9, 30, tzinfo=UTC)
T1 = datetime(2024, 5, 6, 9, 42, tzinfo=UTC)
TEAMS = ["payments", "platform", "search"]


def step(position: int, kind: str, title: str, state: State, **extra: Any) -> StepInfo:
    return StepInfo(id=100 + position, position=position, kind=kind, title=title, state=state, updated_at=T1,
                    **extra)


def running_request() -> RequestInfo:
    return RequestInfo(
        id=12, kind=RequestKind.CREATE, service="ranking-web", team="search", environments=["devel", "alpha", "prod"],
        blueprint="web-service", requester="U012ABCDEF", state=State.WAITING, created_at=T0, updated_at=T1,
        slack_channel="C0REQUESTS", slack_ts="1700000000.000001",
        description="Ranks search results. Owner: #search-team — \"ask before changing weights\" <@U999>",
        steps=[
            step(1, "open_pr", "Open PR in infra (devel, alpha, prod)", State.SUCCEEDED, repo="platform/infra-live",
                 pr_url="https://github.example.com/platform/infra-live/pull/7", pr_number=7, attempts=1),
            step(2, "open_pr", "Open PR in k8s-values", State.SUCCEEDED, repo="platform/k8s-values",
                 pr_url="https://github.example.com/platform/k8s-values/pull/3", pr_number=3, attempts=1),
            step(3, "approval", "SRE approval: prod", State.WAITING, approver_group="sre"),
            step(4, "wait_merge", "Wait for merges", State.PENDING),
            step(5, "notify", "Tell the requester", State.PENDING),
        ],
    )


def failed_request() -> RequestInfo:
    request = running_request()
    steps = [
        request.steps[0],
        step(2, "open_pr", "Open PR in k8s-values", State.FAILED, repo="platform/k8s-values", attempts=6,
             error="GitHub answered 422: Reference already exists <script>"),
        step(3, "wait_merge", "Wait for merges", State.PENDING),
    ]
    return request.model_copy(update={"id": 13, "state": State.FAILED, "steps": steps,
                                      "error": "step 2 failed: GitHub answered 422: Reference already exists"})


def decided_request(approved: bool) -> RequestInfo:
    request = running_request()
    approval = step(3, "approval", "SRE approval: prod", State.SUCCEEDED if approved else State.FAILED,
                    approver_group="sre", decided_by="U0SRE00001", decided_at=T1,
                    decision_reason=None if approved else "prod needs a runbook first")
    steps = [*request.steps[:2], approval,
             step(4, "wait_merge", "Wait for merges", State.SUCCEEDED if approved else State.CANCELLED),
             step(5, "notify", "Tell the requester", State.SUCCEEDED if approved else State.CANCELLED)]
    return request.model_copy(update={"state": State.SUCCEEDED if approved else State.FAILED, "steps": steps,
                                      "error": None if approved else "denied by <@U0SRE00001>"})


def approval() -> ApprovalInfo:
    request = running_request()
    return ApprovalInfo(request=request, step=request.steps[2], reasons=["prod environment", "IAM permissions"])


def many_approval(i: int) -> ApprovalInfo:
    base = approval()
    return base.model_copy(update={"request": base.request.model_copy(update={"id": 1000 + i})})


def service() -> ServiceInfo:
    return ServiceInfo(
        name="ranking-web", team="search", blueprint="web-service", owner="U012ABCDEF",
        environments=[EnvironmentInfo(name="devel", domain="ranking-web.devel.example.com"),
                      EnvironmentInfo(name="prod", domain="ranking.example.com"),
                      EnvironmentInfo(name="tmp-pr42", expires_at=datetime(2024, 5, 9, 9, 30, tzinfo=UTC))],
        pr_urls=["https://github.example.com/platform/infra-live/pull/7",
                 "https://github.example.com/platform/k8s-values/pull/3"],
        description="Ranks search results.",
    )


def deployed_service() -> ServiceInfo:
    """A service whose images LaunchPad followed (App Home) ..."""
    ecr = "111111111111.dkr.ecr.eu-west-1.amazonaws.com/search/ranking-web"
    return service().model_copy(update={"images": [
        EnvironmentImage(environment="devel", image=f"{ecr}:3f2a9c1@sha256:{'4' * 64}", state="live",
                         revision="ab866c2", seen_at=T1, request_id=12),
        EnvironmentImage(environment="prod", image=f"{ecr}:1.4.2", state="healthy", revision="0c1d2e3", seen_at=T0,
                         request_id=9)]})


def live_images() -> list[EnvironmentImage]:
    """... and as `status SERVICE` reads them live, one environment unreachable, one not deployed."""
    ecr = "111111111111.dkr.ecr.eu-west-1.amazonaws.com/search/ranking-web"
    link = "https://argocd.example.com/applications/argocd/search-ranking-web-"
    return [
        EnvironmentImage(environment="devel", image=f"{ecr}:3f2a9c1", declared=f"{ecr}:3f2a9c1",
                         state="Healthy at ab866c2", revision="ab866c2", link=link + "devel"),
        EnvironmentImage(environment="alpha", image=f"{ecr}:1.4.2", declared=f"{ecr}:3f2a9c1",
                         state="Progressing, 2/3 pods ready", link=link + "alpha"),
        EnvironmentImage(environment="prod", image="", declared=f"{ecr}:1.4.2",
                         state="unknown: Argo CD (prod) failed 4 times <>&", link=link + "prod"),
        EnvironmentImage(environment="tmp-pr42", image=f"{ecr}:latest", declared=f"{ecr}:latest",
                         state="skipped: Argo CD not configured"),
    ]


def huge_request() -> RequestInfo:
    """Worst case: long text everywhere and more steps than a message can hold."""
    request = running_request()
    steps = [step(i, "open_pr", f"Open PR in repo-{i} " + "x" * 400, State.FAILED if i == 3 else State.SUCCEEDED,
                  repo=f"platform/repo-{i}", pr_url=f"https://github.example.com/platform/repo-{i}/pull/{i}",
                  pr_number=i, error="E" * 5000 if i == 3 else None, attempts=2)
             for i in range(1, 1001)]
    return request.model_copy(update={"state": State.FAILED, "steps": steps, "description": "d" * 10_000,
                                      "error": "<" * 8000, "service": "s" * 63, "team": "t" * 300})


def all_views() -> dict[str, dict[str, Any]]:
    """Name -> produced view; messages are `{"text", "blocks"}`, modals and home carry their `type`."""
    registry = BlueprintRegistry.load()
    blueprints = registry.all()
    big = huge_request()
    many_services = [service().model_copy(update={"name": f"svc-{i}"}) for i in range(150)]
    many_requests = [running_request().model_copy(update={"id": i}) for i in range(150)]
    big_approval = ApprovalInfo(request=big, step=big.steps[2], reasons=["r" * 3000] * 5)
    return {
        "modal_new_web_service": new_service_modal(blueprints, "web-service", TEAMS, default_team="search",
                                                   metadata={"channel": "C0ORIGIN"}),
        "modal_new_worker": new_service_modal(blueprints, "worker", TEAMS),
        "modal_new_many_teams": new_service_modal(blueprints, "web-service", [f"team-{i:03d}" for i in range(250)]),
        "modal_deny_reason": deny_reason_modal(12, 103, "SRE approval: prod", channel="C0REQUESTS",
                                               message_ts="1700000000.000009"),
        "modal_deny_reason_long_title": deny_reason_modal(123456789, 103, "t" * 5000),
        "request_running": request_message(running_request()),
        "request_failed": request_message(failed_request()),
        "request_failed_status": request_message(failed_request(), interactive=False),
        "request_approved": request_message(decided_request(approved=True)),
        "request_denied": request_message(decided_request(approved=False)),
        "request_huge": request_message(big),
        "step_reply": step_reply(running_request(), running_request().steps[0],
                                 "Opened PR #7 in platform/infra-live"),
        "step_reply_failed": step_reply(failed_request(), failed_request().steps[1], "Failed after 6 attempts"),
        "step_reply_huge": step_reply(big, big.steps[2], "z" * 10_000),
        "approval": approval_message(approval()),
        "approval_huge": approval_message(big_approval),
        "approval_decided_approved": decided_approval_message(decided_request(True), decided_request(True).steps[2]),
        "approval_decided_denied": decided_approval_message(decided_request(False),
                                                            decided_request(False).steps[2]),
        "finished_succeeded": request_finished_message(decided_request(approved=True)),
        "finished_failed": request_finished_message(failed_request()),
        "ttl_reminder": ttl_reminder_message(service(), service().environments[2]),
        "ttl_teardown_cancelled": ttl_reminder_message(service(), service().environments[2].model_copy(update={
            "teardown": Teardown(request_id=31, outcome="cancelled",
                                 retry_at=datetime(2024, 5, 10, 9, 45, tzinfo=UTC))})),
        "ttl_teardown_failed": ttl_reminder_message(service(), service().environments[2].model_copy(update={
            "teardown": Teardown(request_id=31, outcome="failed")})),
        "help": help_message(),
        "help_unknown": help_message("I don't know `frobnicate`."),
        "text": text_message("Kept ranking-web; nothing was deleted."),
        "list_requests": request_list_message("Open requests", [running_request(), failed_request()]),
        "list_requests_empty": request_list_message("Your open requests", []),
        "list_requests_many": request_list_message("Open requests", many_requests),
        "service_status": service_message(service(), [running_request()]),
        "service_status_images": service_message(deployed_service(), [running_request()], live_images()),
        "services": services_message("Your services", [service()], [running_request()]),
        "services_many": services_message("Your services", many_services, many_requests),
        "delete_confirmation": delete_confirmation(service(), ["tmp-pr42"]),
        "delete_confirmation_all": delete_confirmation(service(), []),
        "home_developer": home_view([service()], [running_request()], None),
        "home_images": home_view([deployed_service()], [], None),
        "home_sre": home_view([], [], [approval()]),
        "home_empty_sre": home_view([], [], []),
        "home_many": home_view(many_services, many_requests, [many_approval(i) for i in range(80)]),
    }
