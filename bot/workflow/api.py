"""The workflow's public vocabulary: plain data returned to listeners and the CLI, and the Notifier.

Slack listeners, the CLI and App Home depend only on this module and on `WorkflowService`'s methods;
they never touch the store. Everything here is plain pydantic data so views stay pure functions.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Protocol

from pydantic import BaseModel, Field

from provisioners.bulk import BulkChange as BulkChange  # bulk changes' vocabulary, re-exported for callers
from provisioners.bulk import BulkPreview as BulkPreview
from provisioners.bulk import Selector as Selector
from provisioners.errors import PermanentError


class RequestKind(StrEnum):
    CREATE = "create"
    CHANGE = "change"
    DELETE = "delete"
    EXTEND = "extend"
    BULK = "bulk"
    PROMOTE = "promote"


class State(StrEnum):
    """States shared by requests and steps."""

    PENDING = "pending"
    RUNNING = "running"
    WAITING = "waiting"  # for an approval or a merge
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (State.SUCCEEDED, State.FAILED, State.CANCELLED)


class Actor(BaseModel):
    """Who is acting: a Slack user, a CLI user, or the scheduler ('system')."""

    id: str = Field(description="Slack user id, 'cli:<login>' or 'system'")
    name: str = ""
    email: str | None = None
    is_sre: bool = False
    teams: list[str] = Field(default_factory=list)

    @property
    def mention(self) -> str:
        return f"<@{self.id}>" if self.id.startswith(("U", "W")) else (self.name or self.id)


class StepInfo(BaseModel):
    id: int
    position: int
    kind: str = Field(description="e.g. open_pr, approval, wait_merge, bind, notify")
    title: str = Field(description="human label, e.g. 'Open PR in infra (devel, alpha, prod)'")
    state: State
    repo: str | None = None
    pr_url: str | None = None
    pr_number: int | None = None
    error: str | None = None
    attempts: int = 0
    approver_group: str | None = Field(default=None, description="approval steps: who may decide")
    decided_by: str | None = None
    decided_at: datetime | None = None
    decision_reason: str | None = None
    updated_at: datetime | None = None


class RequestInfo(BaseModel):
    id: int
    kind: RequestKind
    service: str
    team: str
    environments: list[str]
    blueprint: str | None = None
    requester: str = Field(description="Actor id of who asked")
    state: State
    steps: list[StepInfo] = Field(default_factory=list)
    created_at: datetime
    updated_at: datetime
    error: str | None = None
    slack_channel: str | None = None
    slack_ts: str | None = Field(default=None, description="root message of the request thread")
    description: str = ""

    def current_step(self) -> StepInfo | None:
        for step in self.steps:
            if not step.state.finished:
                return step
        return None

    def failed_step(self) -> StepInfo | None:
        return next((s for s in self.steps if s.state == State.FAILED), None)


class Teardown(BaseModel):
    """An expired temporary environment's automatic teardown that did not go through."""

    request_id: int
    outcome: str = Field(description="cancelled, denied or failed")
    retry_at: datetime | None = Field(default=None, description="when LaunchPad opens the teardown again; None "
                                                                "for a failed one (retry or cancel it)")


class EnvironmentInfo(BaseModel):
    name: str
    expires_at: datetime | None = None
    domain: str | None = None
    teardown: Teardown | None = None  # set on reminders about an expired environment that is still up


class EnvironmentImage(BaseModel):
    """Which image runs in one environment: as LaunchPad last followed it (App Home), or read live from the
    values repository and Argo CD (`status SERVICE`)."""

    environment: str
    image: str = Field(description="repository:tag[@digest]; '' when unknown")
    state: str = Field(description="e.g. Healthy, live, Degraded, OutOfSync, or 'skipped: Argo CD not configured'")
    revision: str | None = None
    seen_at: datetime | None = None
    request_id: int | None = Field(default=None, description="the request whose follow saw it (stored view)")
    declared: str | None = Field(default=None, description="live view: the image the values file sets")
    link: str | None = Field(default=None, description="the Application in the Argo CD UI")


class PromotionInfo(BaseModel):
    """One promotion: what moved from where to where, who asked, and its request's state."""

    request_id: int
    service: str
    source: str
    target: str
    image: str
    digest: str | None = None
    verified: str = Field(default="", description="what was checked upstream, e.g. 'Healthy at 3f2a9c1'")
    requested_by: str
    created_at: datetime
    state: State


class ServiceInfo(BaseModel):
    name: str
    team: str
    blueprint: str
    owner: str
    environments: list[EnvironmentInfo]
    pr_urls: list[str] = Field(default_factory=list)
    description: str = ""
    images: list[EnvironmentImage] = Field(default_factory=list,
                                           description="which image runs where, as LaunchPad last followed it")


class ApprovalInfo(BaseModel):
    request: RequestInfo
    step: StepInfo
    reasons: list[str] = Field(description="why policy asks for approval, e.g. 'prod environment'")
    plan: list[str] = Field(default_factory=list, description="the infra plan's per-unit summary, when one ran")


class NotAllowed(PermanentError):
    """The actor may not do this; the message says who may."""


class NotFound(PermanentError):
    """No such request/service/environment; the message says how to find the right one."""


class Locked(PermanentError):
    """Another request holds the service/environment lock."""

    def __init__(self, message: str, holder_request_id: int, holder: str) -> None:
        super().__init__(message)
        self.holder_request_id = holder_request_id
        self.holder = holder


class Notifier(Protocol):
    """How the workflow tells people what happened. Slack implements it; the CLI prints; tests record."""

    def request_changed(self, request: RequestInfo) -> None:
        """The request's state, a step, or a PR link changed: refresh the root message."""

    def step_progress(self, request: RequestInfo, step: StepInfo, text: str) -> None:
        """A line worth a thread reply ('Opened PR #12 in infra', 'Failed: ...')."""

    def approval_needed(self, approval: ApprovalInfo) -> None:
        """Post the approve/deny buttons in the request's thread."""

    def request_finished(self, request: RequestInfo) -> None:
        """Succeeded, failed or cancelled: tell the requester."""

    def ttl_reminder(self, service: ServiceInfo, env: EnvironmentInfo) -> None:
        """A temporary environment expires soon: tell its owner how to extend it."""


class NullNotifier:
    """A Notifier that says nothing (CLI batch jobs, tests that do not care)."""

    def request_changed(self, request: RequestInfo) -> None:
        return None

    def step_progress(self, request: RequestInfo, step: StepInfo, text: str) -> None:
        return None

    def approval_needed(self, approval: ApprovalInfo) -> None:
        return None

    def request_finished(self, request: RequestInfo) -> None:
        return None

    def ttl_reminder(self, service: ServiceInfo, env: EnvironmentInfo) -> None:
        return None


class AuditEvent(BaseModel):
    """One recorded state change or decision: who did what, when, to which request/step."""

    id: int
    at: datetime
    actor: str = Field(description="Actor id: Slack user id, 'cli:<login>' or 'system'")
    service: str
    action: str = Field(description="e.g. request.submitted, step.succeeded, approval.denied, environment.extended")
    request_id: int | None = None
    step_id: int | None = None
    from_state: str | None = None
    to_state: str | None = None
    detail: str = ""
