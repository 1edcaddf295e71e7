"""How a request becomes an ordered list of steps (pure: change sets and gates in, step plans out).

Create/change: per change set "open PR" then "wait for merge"; the approval gates come right after
the first PR is opened (so the approver reviews a real pull request, and nothing merges before the
decision); the last infra merge is followed by "bind" (platform values such as security group ids,
which only exist once the infra change is applied); "wait_deploy" then follows Argo CD until every
environment is Synced and Healthy at the merged revision; "notify" records the outcome. Delete: the
change sets in `plan_delete`'s order, each PR waiting for the previous one to merge, no bind; right
after the gitops merge "wait_prune" waits until Argo CD has deleted the Applications and pruned their
resources, so nothing under a running workload is destroyed. Promote: the values PR, its gates, its
merge, wait_deploy, notify.

Every infra PR is followed through its pipeline: "wait_plan" after it opens (before the approval gates,
so the approver sees the plan) and "wait_apply" after it merges (so the next PR, and bind, start only
once the infra change is applied or destroyed; see `pipeline.py`).
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, Field

from bot.workflow.api import RequestKind
from bot.workflow.policy import Gate
from provisioners import argocd, terragrunt
from provisioners.changeset import ChangeSet

INFRA_REPO = terragrunt.REPO
GITOPS_REPO = argocd.REPO


class StepKind(StrEnum):
    OPEN_PR = "open_pr"
    WAIT_MERGE = "wait_merge"
    BIND = "bind"
    APPROVAL = "approval"
    NOTIFY = "notify"
    EXTEND = "extend"
    WAIT_DEPLOY = "wait_deploy"
    WAIT_PRUNE = "wait_prune"
    WAIT_PLAN = "wait_plan"
    WAIT_APPLY = "wait_apply"


# Steps that poll something outside until it holds: a claim does not mark their request running again.
POLLING = frozenset({StepKind.WAIT_MERGE, StepKind.WAIT_DEPLOY, StepKind.WAIT_PRUNE, StepKind.WAIT_PLAN,
                     StepKind.WAIT_APPLY})


class StepPlan(BaseModel):
    kind: StepKind
    title: str
    repo: str | None = None
    repo_index: int = Field(default=0, description="n-th change set of this repo in the request (0-based)")
    approver_group: str | None = None
    reasons: list[str] = Field(default_factory=list)


def forge_key(request_id: int, repo: str, index: int) -> str:
    """Deterministic per step, so a rerun finds its own branch and PR (`launchpad/<key>`)."""
    return f"{request_id}-{repo}-{index + 1}"


def numbered(changesets: list[ChangeSet]) -> list[tuple[ChangeSet, int]]:
    """Each change set with its index among the request's change sets for the same repository."""
    seen: dict[str, int] = {}
    out = []
    for cs in changesets:
        out.append((cs, seen.get(cs.repo, 0)))
        seen[cs.repo] = seen.get(cs.repo, 0) + 1
    return out


def layout(kind: RequestKind, changesets: list[ChangeSet], gates: list[Gate]) -> list[StepPlan]:
    steps: list[StepPlan] = []
    gate_steps = [_gate(g) for g in gates]
    binds = kind in (RequestKind.CREATE, RequestKind.CHANGE)
    last_infra = max((i for i, cs in enumerate(changesets) if cs.repo == INFRA_REPO), default=None)
    if not changesets or (binds and last_infra is None):
        steps += gate_steps
        gate_steps = []
        if binds:
            steps.append(_bind())
    for i, (cs, n) in enumerate(numbered(changesets)):
        suffix = f" #{n + 1}" if sum(1 for c in changesets if c.repo == cs.repo) > 1 else ""
        envs = f" ({', '.join(cs.environments)})" if cs.environments else ""
        infra = cs.repo == INFRA_REPO
        steps.append(StepPlan(kind=StepKind.OPEN_PR, repo=cs.repo, repo_index=n,
                              title=_cut(f"Open PR{suffix} in {cs.repo}{envs}")))
        if infra:
            steps.append(StepPlan(kind=StepKind.WAIT_PLAN, repo=cs.repo, repo_index=n,
                                  title=f"Plan the {cs.repo} PR{suffix} (per-unit summary)"))
        steps += gate_steps
        gate_steps = []
        steps.append(StepPlan(kind=StepKind.WAIT_MERGE, repo=cs.repo, repo_index=n,
                              title=f"Wait for the {cs.repo} PR{suffix} to merge"))
        if infra:
            steps.append(StepPlan(kind=StepKind.WAIT_APPLY, repo=cs.repo, repo_index=n,
                                  title=f"Apply the {cs.repo} PR{suffix} (destroy removed units, apply the rest)"))
        if binds and i == last_infra:
            steps.append(_bind())
        if kind == RequestKind.DELETE and cs.repo == GITOPS_REPO:
            steps.append(_follow(StepKind.WAIT_PRUNE, cs.environments))
    if kind in (RequestKind.CREATE, RequestKind.CHANGE, RequestKind.PROMOTE):
        steps.append(_follow(StepKind.WAIT_DEPLOY, list(dict.fromkeys(e for cs in changesets
                                                                        for e in cs.environments))))
    steps.append(StepPlan(kind=StepKind.NOTIFY, title="Record the result and notify the requester"))
    return steps


def extend_layout(env: str, hours: int) -> list[StepPlan]:
    return [StepPlan(kind=StepKind.EXTEND, title=f"Extend {env} by {hours}h")]


def _gate(gate: Gate) -> StepPlan:
    return StepPlan(kind=StepKind.APPROVAL, approver_group=gate.approvers, reasons=gate.reasons,
                    title=_cut(f"Approval by {gate.approvers}: {'; '.join(gate.reasons)}"))


def _follow(kind: StepKind, envs: list[str]) -> StepPlan:
    where = f" ({', '.join(envs)})" if envs else ""
    if kind == StepKind.WAIT_PRUNE:
        return StepPlan(kind=kind, title=_cut(f"Wait until Argo CD has pruned the workload{where}"))
    return StepPlan(kind=kind, title=_cut(f"Follow the deployment in Argo CD until Synced and Healthy{where}"))


def _bind() -> StepPlan:
    return StepPlan(kind=StepKind.BIND, title="Resolve platform bindings (security group ids)")


def _cut(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
