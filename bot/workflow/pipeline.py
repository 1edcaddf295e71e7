"""Following the infra repository's pipeline as steps of a request: `wait_plan` and `wait_apply`.

`wait_plan` runs after an infra pull request opens: it reads the checks of the PR's head commit, and once
the pipeline's jobs are done, the one plan comment (the report `infra_pipeline.markdown` embeds), and
tells the thread each unit's `+add ~change -destroy`. A plan that destroys or replaces anything in a
create, change or bulk request asks for an SRE approval right after (the outcome's `gate`). `wait_apply`
runs after the merge: it follows the apply run of the merge commit; success lets the next step go (so
`bind` finds security groups that exist); failure names the failing unit, quotes the first error lines
of its log with a link, and keeps the run so "Retry apply" (or `launchpad retry`) re-runs only the failed
jobs. A pipeline that never starts ends the wait after `start_timeout` with a message that says so.

Like `execute.py`, it acts through the forge and returns an outcome; it never touches the database.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from bot.workflow.api import RequestKind
from bot.workflow.outcomes import Done, Outcome, StepJob, Wait
from bot.workflow.policy import SRE_GROUP, Gate
from bot.workflow.steps import StepKind
from provisioners import infra_ci, terragrunt
from provisioners import infra_pipeline as ip
from provisioners.changeset import ChangeSet
from provisioners.context import RenderContext
from provisioners.errors import PermanentError
from provisioners.forge.base import Change, ChangeState, Forge, branch_for
from provisioners.forge.router import ForgeRoutes
from provisioners.platform import PlatformConfig

SHOWN_UNITS = 30


class Actions(Protocol):
    """What of `execute.Actions` the pipeline steps use (execute.py dispatches here and is not imported back)."""

    @property
    def ctx(self) -> RenderContext: ...

    @property
    def forges(self) -> ForgeRoutes: ...

    @property
    def pipeline(self) -> PipelineFollowing: ...


def default_poll(looks: int) -> float:
    """Seconds until the next look at a pipeline: soon at first, then backing off to five minutes."""
    return min(300.0, 20.0 * 1.5 ** min(looks, 12))


@dataclass(frozen=True)
class PipelineFollowing:
    """How LaunchPad follows the pipeline (Settings.infra_pipeline_*)."""

    start_timeout: timedelta = timedelta(minutes=15)
    poll: Callable[[int], float] = field(default=default_poll)


class PipelineFailed(PermanentError):
    """The plan or apply failed; `result` keeps the run so a retry re-runs its failed jobs."""

    def __init__(self, message: str, result: dict[str, Any]) -> None:
        super().__init__(message)
        self.result = result


def follow(actions: Actions, job: StepJob, now: datetime) -> Outcome:
    platform = actions.ctx.platform
    planning = job.step_kind == StepKind.WAIT_PLAN
    verb = "plan" if planning else "apply"
    if platform.infra_pipeline == "none":
        return Done(detail=f"skipped: platform.infra_pipeline is none, so no pipeline LaunchPad knows "
                                   f"will {verb} {job.repo}; {verb} it yourself")
    if job.opened_pr is None:
        return Done(detail=f"Nothing to {verb} in {job.repo}")
    assert job.repo is not None and job.forge_key is not None
    name = repository(actions, job)
    forge = actions.forges.forge_for(name, job.environments)
    # the commit open_pr (head) or wait_merge (merge) saw: no pull-request lookup needed
    seen = str(job.pr.get("head_sha" if planning else "merge_sha") or "")
    if seen:
        change = Change(repo=name, key=job.forge_key, branch=branch_for(job.forge_key), number=job.opened_pr,
                        url=str(job.pr.get("url") or ""), state=ChangeState.OPEN if planning else ChangeState.MERGED,
                        head_sha=str(job.pr.get("head_sha") or seen), merge_sha=job.pr.get("merge_sha"))
    else:
        change = lookup(forge, name, job)
        if change.no_op:
            return Done(detail=f"Nothing to {verb}: {job.repo} already had this content")
    follow_one = _plan if planning else _apply
    return follow_one(actions, job, now, forge, name, change)


def _moved(forge: Forge, name: str, job: StepJob, change: Change, now: datetime, result: dict[str, Any],
           actions: Actions) -> Change | None:
    """The pull request's new head when its branch moved since open_pr (checked once the wait grows long)."""
    since = datetime.fromisoformat(result["since"]) if result.get("since") else now
    if now - since < actions.pipeline.start_timeout / 3:
        return None
    actual = lookup(forge, name, job)
    return actual if actual.head_sha != change.head_sha else None


def lookup(forge: Forge, name: str, job: StepJob) -> Change:
    """The step's pull request, which must still exist."""
    assert job.forge_key is not None
    found = forge.get_change(name, job.forge_key)
    if found is None:
        raise PermanentError(f"PR #{job.opened_pr} in {job.repo} ({name}) is gone; retry the request to open it again")
    return found


def commits(change: Change) -> dict[str, Any]:
    """What open_pr and wait_merge keep for the pipeline steps (so they need not look the PR up)."""
    return {"head_sha": change.head_sha, "merge_sha": change.merge_sha, "url": change.url}


def repository(actions: Actions, job: StepJob) -> str:
    """The full name of the repository the step's pull request is in."""
    from bot.workflow import bulk
    from bot.workflow.changes import load_spec, repository_for

    assert job.repo is not None
    if job.kind == RequestKind.BULK:
        return bulk.repository(job.params, job.repo)[0]
    return repository_for(actions.ctx.platform, job.repo, load_spec(job.spec, actions.ctx))[0]


# --- wait_plan ------------------------------------------------------------------------------------


def _plan(actions: Actions, job: StepJob, now: datetime, forge: Forge, name: str, change: Change) -> Outcome:
    pr = f"PR #{change.number} in {job.repo}"
    sha = change.head_sha
    result = dict(job.result)
    checks = [c for c in forge.checks(name, sha) if c.name.startswith(ip.JOB_PREFIX)]
    if not checks:
        moved = _moved(forge, name, job, change, now, result, actions)
        if moved is not None:  # someone pushed to the branch: follow its new head
            return _plan(actions, job, now, forge, name, moved)
        return _not_started(actions, job, now, result, f"no plan has started for {pr} (commit {sha[:12]})",
                            ip.PLAN_WORKFLOW)
    running = [c for c in checks if c.status != "completed"]
    if running:
        return Wait(detail=f"Waiting for the plan of {pr}: {len(running)} of {len(checks)} job(s) running",
                            until=_next(actions, job, now), result=result)
    report = ip.report_in(forge.find_comment(name, change.number, ip.PLAN_MARKER) or "")
    broken = [c for c in checks if c.conclusion not in ("success", "skipped", "neutral")]
    if report is None or (report.head and report.head != sha):
        moved = lookup(forge, name, job) if report is not None else None
        if moved is not None and moved.head_sha != sha:
            return _plan(actions, job, now, forge, name, moved)
        if broken:
            raise PipelineFailed(f"The plan of {pr} failed before it reported: "
                                 + "; ".join(f"{c.name} ({c.conclusion}) {c.url}" for c in broken)
                                 + f". Fix the pipeline, push again or retry (launchpad retry {job.request_id}).",
                                 result={})
        return _not_started(actions, job, now, result, f"no plan comment for commit {sha[:12]} on {pr}",
                            ip.PLAN_WORKFLOW)
    if report.skipped:
        return Done(detail=f"skipped: {report.skipped}; nothing was planned for {pr}",
                            result={"plan": [f"skipped: {report.skipped}"]})
    lines = plan_lines(report)
    if report.failed or broken:
        raise PipelineFailed(failure_text("plan", pr, report.failed, checks[0].url if checks else "")
                             + f"\nFix the change, then retry the request (launchpad retry {job.request_id}).",
                             result={"plan": lines})
    add, changed, destroyed = report.totals()
    detail = f"Plan of {pr}: +{add} ~{changed} -{destroyed}\n" + "\n".join(f"• {line}" for line in lines)
    if actions.ctx.platform.infra_pipeline == "atlantis":
        detail += "\nAtlantis plans the added and changed units (its comment on the PR); this covers removed ones."
    gate = destroying_gate(report) if job.kind in (RequestKind.CREATE, RequestKind.CHANGE, RequestKind.BULK) else None
    if gate is not None:
        detail += f"\nStops for an SRE approval: {gate.reasons[0]}"
    return Done(detail=detail, result={"plan": lines, "totals": [add, changed, destroyed]}, gate=gate)


def plan_lines(report: ip.Report) -> list[str]:
    """One line per unit (`unit (plan): +1 ~0 -0; replaces ...`), at most SHOWN_UNITS and a count of the rest."""
    lines = [r.line() for r in report.results] or ["no Terragrunt unit is added, changed or removed"]
    if len(lines) > SHOWN_UNITS:
        lines = [*lines[:SHOWN_UNITS], f"… and {len(lines) - SHOWN_UNITS} more units (see the PR comment)"]
    return lines


def destroying_gate(report: ip.Report) -> Gate | None:
    """An SRE approval when a plan of added or changed units destroys or replaces resources (naming them)."""
    hits = [r for r in report.results if r.action == "plan" and (r.replaced or r.destroyed)]
    if not hits:
        return None
    named = "; ".join(f"{r.unit}: {', '.join([*r.replaced, *r.destroyed][:5])}" for r in hits[:5])
    return Gate(approvers=SRE_GROUP, rules=["plan-destroys"],
                reasons=[f"the infra plan destroys or replaces resources ({named})"])


# --- wait_apply -----------------------------------------------------------------------------------


def _apply(actions: Actions, job: StepJob, now: datetime, forge: Forge, name: str, change: Change) -> Outcome:
    pr = f"PR #{change.number} in {job.repo}"
    sha = change.merge_sha or change.head_sha
    result = dict(job.result)
    if result.get("rerun") and result.get("run_id"):
        forge.rerun_failed_jobs(name, int(result["run_id"]))
        result = {"run_id": result["run_id"], "expect_attempt": int(result.get("attempt") or 1) + 1}
        return Wait(detail=f"Re-running the failed jobs of the apply of {pr}",
                            until=now + timedelta(seconds=actions.pipeline.poll(0)), result=result)
    runs = forge.pipeline_runs(name, ip.APPLY_WORKFLOW, sha)
    if not runs:
        return _not_started(actions, job, now, result, f"no apply has started for the merge of {pr} "
                                                       f"(commit {sha[:12]})", ip.APPLY_WORKFLOW)
    run = runs[0]
    if run.attempt < int(result.get("expect_attempt") or 1):
        return Wait(detail=f"Waiting for the re-run of the apply of {pr} to start",
                            until=_next(actions, job, now), result=result)
    if run.conclusion == "skipped" or run.detail:
        return Done(detail=f"skipped: {run.detail or 'the run was skipped'}; nothing was applied for {pr}")
    keep = {"run_id": run.id, "attempt": run.attempt, "url": run.url}
    if run.status != "completed":
        return Wait(detail=f"Waiting for the apply of {pr}: {run.url} is {run.status.replace('_', ' ')}",
                            until=_next(actions, job, now), result={**result, **keep})
    attempt = f" (attempt {run.attempt})" if run.attempt > 1 else ""
    if run.conclusion == "success":
        done = "destroyed its removed units" if actions.ctx.platform.infra_pipeline == "atlantis" else "applied"
        return Done(detail=f"The pipeline {done} for {pr}{attempt}: {run.url}", result=keep)
    jobs = forge.pipeline_jobs(name, run.id)
    failed = [j for j in jobs if j.conclusion not in ("success", "skipped", "neutral", None)] or jobs[:1]
    if not failed:
        raise PipelineFailed(f"The apply of {pr} ended {run.conclusion} without jobs: {run.url}; retry the request "
                             f"(launchpad retry {job.request_id}) to re-run it", result=keep)
    log = forge.job_log(name, failed[0].id)
    bad = [r for r in ip.results_in_log(log) if r.status == "failed"]
    if not bad:
        bad = [ip.UnitResult(unit=f"job {failed[0].name}", action="start", status="failed",
                             error=ip.first_error_lines(log))]
    raise PipelineFailed(failure_text("apply", pr, bad, failed[0].url or run.url)
                         + f"\nRetry apply (or `launchpad retry {job.request_id}`) re-runs only the failed jobs.",
                         result=keep)


def failure_text(verb: str, pr: str, failed: list[ip.UnitResult], url: str) -> str:
    """Names the failing unit(s) and quotes the first error lines of the first one, with a link."""
    if not failed:
        return f"The {verb} of {pr} failed: {url}"
    first = failed[0]
    action = {"plan-destroy": "plan its destroy", "destroy": "be destroyed"}.get(first.action, first.action)
    others = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
    excerpt = first.error.strip() or "no error lines in the log"
    return f"The {verb} of {pr} failed: {first.unit} failed to {action}{others}.\n```\n{excerpt}\n```\nLog: {url}"


# --- shared -------------------------------------------------------------------------------------------


def _next(actions: Actions, job: StepJob, now: datetime) -> datetime:
    return now + timedelta(seconds=actions.pipeline.poll(max(job.attempts - 1, 0)))


def _not_started(actions: Actions, job: StepJob, now: datetime, result: dict[str, Any], what: str,
                 workflow: str) -> Outcome:
    """Wait for a run to show up, but not for ever: after start_timeout say why it may never come."""
    since = datetime.fromisoformat(result["since"]) if result.get("since") else now
    limit = actions.pipeline.start_timeout
    if now - since >= limit:
        minutes = int(limit.total_seconds() // 60)
        raise PermanentError(f"{what} after {minutes} minutes: the workflow {workflow} is missing, disabled, or not "
                             "allowed to run (check the infra repository's Actions settings; docs/pipeline.md). "
                             f"Once it runs, retry the request (launchpad retry {job.request_id}).")
    return Wait(detail=f"Waiting for the pipeline: {what} yet", until=_next(actions, job, now),
                        result={**result, "since": since.isoformat()})


def retried(kind: str, result: dict[str, Any] | None) -> dict[str, Any] | None:
    """A failed pipeline step being retried: wait_apply re-runs the failed jobs of its run; any other starts
    its wait afresh (a new start timeout)."""
    if kind == StepKind.WAIT_APPLY and result and result.get("run_id"):
        return {**result, "rerun": True}
    return None if kind in (StepKind.WAIT_PLAN, StepKind.WAIT_APPLY) else result


def shared_files(cs: ChangeSet, forge: Forge, name: str, base: str, platform: PlatformConfig) -> ChangeSet:
    """The infra change set with atlantis.yaml merged into the base branch's (Atlantis reads one file)."""
    if cs.repo != terragrunt.REPO or platform.infra_pipeline != "atlantis":
        return cs
    current = forge.read_file(name, infra_ci.ATLANTIS_FILE, base)
    return cs.model_copy(update={"files": {**cs.files, infra_ci.ATLANTIS_FILE: infra_ci.merged_atlantis(current, cs)}})
