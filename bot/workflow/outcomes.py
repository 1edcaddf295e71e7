"""What running a step produces and what it needs: the outcomes (`Done`, `Wait`) and the job a worker copies
out of the database under its claim (`StepJob`). Plain data, shared by the dispatcher (`execute.py`) and
the step kinds it dispatches to (`pipeline.py`, `deploy.py`), so none of them imports another.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.workflow.api import RequestKind
from bot.workflow.deploy import EnvReport, Merged
from bot.workflow.policy import Gate
from bot.workflow.steps import StepKind


@dataclass(frozen=True)
class Done:
    detail: str
    pr_url: str | None = None
    pr_number: int | None = None
    bindings: dict[str, Any] | None = None
    merge_sha: str | None = None
    deploys: tuple[EnvReport, ...] = ()  # wait_deploy / wait_prune: what each environment looked like
    result: dict[str, Any] | None = None  # kept on the step (wait_plan's summary, wait_apply's run)
    gate: Gate | None = None  # an approval the outcome calls for, right after this step (a destroying plan)


@dataclass(frozen=True)
class Wait:
    detail: str
    until: datetime
    deploys: tuple[EnvReport, ...] = ()
    result: dict[str, Any] | None = None


Outcome = Done | Wait


@dataclass(frozen=True)
class StepJob:
    """What a worker needs to run a step, copied out of the database under its claim."""

    request_id: int
    kind: RequestKind
    service: str
    environments: list[str]
    requester: str
    spec: dict[str, Any]
    previous_spec: dict[str, Any] | None
    bindings: dict[str, Any] | None
    step_kind: StepKind
    repo: str | None
    repo_index: int
    forge_key: str | None
    title: str
    attempts: int
    opened_pr: int | None = None  # wait_merge: the PR number its open_pr step recorded (None: nothing opened)
    params: dict[str, Any] = field(default_factory=dict)  # the request's params (bulk: selector, change, ...)
    services: list[dict[str, Any]] = field(default_factory=list)  # bulk open_pr: the services' recorded rows
    merged: list[Merged] = field(default_factory=list)  # wait_deploy: what the request merged, in order
    followed: dict[str, tuple[str, str]] = field(default_factory=dict)  # env -> (phase, detail) at the last poll
    started_at: datetime | None = None  # when the step first ran (since its last retry): timeouts count from it
    result: dict[str, Any] = field(default_factory=dict)  # what the step kept from its last run (pipeline steps)
    pr: dict[str, Any] = field(default_factory=dict)  # wait_plan / wait_apply: the commits open_pr / wait_merge saw
