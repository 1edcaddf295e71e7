"""Running one claimed step against the outside world: the forge, the binding resolver, Argo CD.

Each function is thin: it renders (pure), acts once through an injected client, and returns an
`Outcome`; it never touches the database (the engine records the outcome under the lease). Every
action is idempotent: a PR is opened under the step's deterministic forge key, so a step rerun after
a crash finds its own branch and PR instead of opening another.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bot.workflow import bulk, promotion
from bot.workflow.api import RequestKind
from bot.workflow.bindings import BindingResolver
from bot.workflow.changes import load_spec, repository_for, request_changesets, with_bindings
from bot.workflow.deploy import Follower
from bot.workflow.outcomes import Done as Done  # re-exported: the engine and tests take them from here
from bot.workflow.outcomes import Outcome as Outcome
from bot.workflow.outcomes import StepJob as StepJob
from bot.workflow.outcomes import Wait as Wait
from bot.workflow.pipeline import PipelineFollowing, commits, follow, lookup, repository, shared_files
from bot.workflow.steps import StepKind, numbered
from provisioners.changeset import ChangeSet
from provisioners.errors import PermanentError
from provisioners.forge.base import ChangeState
from provisioners.forge.delivery import pull_request_body
from provisioners.forge.router import ForgeRoutes
from provisioners.plan import RenderContext
from provisioners.spec import ServiceSpec


@dataclass
class Actions:
    """The clients a worker acts through; built once by the composition root."""

    ctx: RenderContext
    forges: ForgeRoutes
    resolver: BindingResolver
    auto_merge: bool = False
    merge_poll: Callable[[int], float] = lambda attempts: min(600.0, 15.0 * 2 ** min(attempts, 6))
    deploys: Follower = field(default_factory=Follower)
    pipeline: PipelineFollowing = field(default_factory=PipelineFollowing)

    def run(self, job: StepJob, now: datetime) -> Outcome:
        if job.step_kind == StepKind.OPEN_PR:
            return self.open_pr(job)
        if job.step_kind == StepKind.WAIT_MERGE:
            return self.wait_merge(job, now)
        if job.step_kind == StepKind.BIND:
            return self.bind(job)
        if job.step_kind in (StepKind.WAIT_DEPLOY, StepKind.WAIT_PRUNE):
            return self.follow(job, now)
        if job.step_kind in (StepKind.WAIT_PLAN, StepKind.WAIT_APPLY):
            return follow(self, job, now)
        if job.step_kind == StepKind.NOTIFY:
            return Done(detail=f"Request #{job.request_id} is done")
        raise PermanentError(f"step kind {job.step_kind!r} cannot be run by a worker")

    # --- actions --------------------------------------------------------------------------------
    def open_pr(self, job: StepJob) -> Outcome:
        assert job.repo is not None and job.forge_key is not None
        if job.kind == RequestKind.BULK:
            cs = bulk.step_changeset(job.params, job.services, job.repo, self.ctx)
            name, base = bulk.repository(job.params, job.repo)
        else:
            spec = load_spec(job.spec, self.ctx)
            cs = self.changeset(job, spec)
            name, base = repository_for(self.ctx.platform, job.repo, spec)
        if cs is None or cs.is_empty():
            return Done(detail=f"Nothing to change in {job.repo}")
        forge = self.forges.forge_for(name, job.environments)
        cs = shared_files(cs, forge, name, base, self.ctx.platform)  # atlantis.yaml: every service's projects
        title = cs.title or f"LaunchPad: {job.kind} {job.service} ({', '.join(job.environments)})"
        body = pull_request_body(cs) + (f"\nLaunchPad request #{job.request_id} ({job.kind} of {job.service}, "
                                        f"{', '.join(job.environments)}), requested by {job.requester}.\n")
        change = forge.open_change(name, job.forge_key, cs, title=title, body=body,
                                   labels=["launchpad", f"launchpad:{job.kind}"], base_branch=base)
        if change.number == 0:
            return Done(detail=f"{job.repo} already has this content; no PR needed")
        verb = "Opened" if change.wrote else "Found"
        return Done(detail=f"{verb} PR #{change.number} in {job.repo}: {change.url}", pr_url=change.url,
                    pr_number=change.number, result=commits(change))

    def wait_merge(self, job: StepJob, now: datetime) -> Outcome:
        assert job.repo is not None and job.forge_key is not None
        if job.opened_pr is None:
            return Done(detail=f"Nothing to merge in {job.repo}")
        name = repository(self, job)
        forge = self.forges.forge_for(name, job.environments)
        change = lookup(forge, name, job)
        pr = f"PR #{job.opened_pr} in {job.repo}"
        if change.state == ChangeState.MERGED:
            return Done(detail=f"{pr} is merged", pr_url=change.url or None, pr_number=change.number or None,
                        merge_sha=change.merge_sha, result=commits(change))
        if change.state == ChangeState.CLOSED:
            raise PermanentError(f"{pr} was closed without merging; reopen and merge it, then retry the "
                                 f"request (launchpad retry {job.request_id}), or cancel the request")
        merge = getattr(forge, "merge_change", None)
        if self.auto_merge and callable(merge):
            merged = merge(name, job.forge_key)
            return Done(detail=f"Merged {pr} (local forge)", pr_url=change.url, pr_number=change.number,
                        merge_sha=getattr(merged, "merge_sha", None), result=commits(merged))
        return Wait(detail=f"Waiting for {pr} to be merged: {change.url}",
                    until=now + timedelta(seconds=self.merge_poll(job.attempts)))

    def bind(self, job: StepJob) -> Outcome:
        spec = load_spec(job.spec, self.ctx)
        envs = [e.name for e in spec.environments]
        bindings = self.resolver.resolve(spec, envs)
        shown = ", ".join(f"{env}: {sg}" for env, sg in sorted(bindings.security_group_ids.items()))
        return Done(detail=f"Security groups: {shown}", bindings=bindings.model_dump(mode="json"))

    def follow(self, job: StepJob, now: datetime) -> Outcome:
        """wait_deploy / wait_prune: one poll of Argo CD (bot.workflow.deploy)."""
        spec = load_spec(job.spec, self.ctx)
        since = job.started_at or now
        if job.step_kind == StepKind.WAIT_PRUNE:
            result = self.deploys.wait_prune(spec, self.ctx, job.environments, since=since, now=now,
                                             attempts=job.attempts)
        else:
            result = self.deploys.wait_deploy(spec, self.ctx, job.environments, merged=job.merged,
                                              followed=job.followed, since=since, now=now, attempts=job.attempts,
                                              image_repositories=promotion.repositories(spec, self.ctx))
        if result.done or result.until is None:
            return Done(detail=result.detail, deploys=result.reports)
        return Wait(detail=result.detail, until=result.until, deploys=result.reports)

    # --- rendering ------------------------------------------------------------------------------
    def changeset(self, job: StepJob, spec: ServiceSpec) -> ChangeSet | None:
        ctx = with_bindings(self.ctx, job.bindings)
        if job.repo == promotion.VALUES_REPO and job.kind in (RequestKind.CHANGE, RequestKind.PROMOTE):
            ctx = promotion.with_current_values(ctx, spec, self.forges)  # keep what CI and developers own
        if job.kind == RequestKind.PROMOTE:
            return promotion.changeset(spec, ctx, job.params)
        previous = load_spec(job.previous_spec, ctx) if job.previous_spec else None
        # only this step's repository: rendering and checking the others here would be repeated by their steps
        changesets = request_changesets(job.kind, spec, ctx, previous=previous, environments=job.environments,
                                        repos=[job.repo] if job.repo else None)
        for cs, n in numbered(changesets):
            if cs.repo == job.repo and n == job.repo_index:
                return cs
        return None


def layout_changesets(kind: RequestKind, spec: ServiceSpec, ctx: RenderContext, *, previous: ServiceSpec | None,
                      environments: list[str], bindings: dict[str, Any] | None) -> list[ChangeSet]:
    """The change sets as known at submission (bindings resolved later may change content, not layout).

    Unchecked: submission sits inside a Slack ack, and the delivering step renders again with every check."""
    return request_changesets(kind, spec, with_bindings(ctx, bindings), previous=previous, environments=environments,
                              check=False)

