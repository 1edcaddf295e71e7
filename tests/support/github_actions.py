"""GitHub Actions for the local GitHub server: the infra pipeline's runs, jobs, check runs, logs and the plan
comment, as GitHub's REST API shows them.

It reacts to the same events GitHub does: a pull request opened or moved (`pull_request`) runs the
repository's plan workflow on the head commit, a push to the default branch runs the apply workflow
on the new tip, but only when the commit holds that workflow file. Jobs are read from the workflow
file itself (their `name`s), and each job's units from the diff, as `infra_pipeline.py` would find them;
nothing runs terragrunt: each unit "succeeds" with a plausible count unless a rule makes it fail or
replace. Time comes from `clock`: a run is queued, then in progress, then completed after `duration`
seconds. Logs carry GitHub's timestamp prefix and come from a redirect to an unauthenticated URL, as
GitHub's do. What it cannot model (a real runner, OIDC, job outputs) is listed in docs/pipeline.md.
Test support only.
"""

from __future__ import annotations

import json
import posixpath
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import yaml

from provisioners import infra_pipeline as ip

if TYPE_CHECKING:
    from tests.support.github_server import GitHubServer, Repo

LOG_PATH = "/_actions-logs/"


class RawText(str):
    """A response body sent as text/plain (job logs)."""


@dataclass
class Job:
    id: int
    name: str
    results: list[ip.UnitResult]
    failed_before_units: str = ""  # e.g. the OIDC role could not be assumed

    @property
    def conclusion(self) -> str:
        return "failure" if self.failed_before_units or any(r.status == "failed" for r in self.results) else "success"


@dataclass
class Attempt:
    number: int
    started: float
    jobs: list[Job]


@dataclass
class Run:
    id: int
    repo: str
    workflow: str
    event: str
    sha: str
    base: str | None
    pull: int | None
    attempts: list[Attempt] = field(default_factory=list)


@dataclass
class Comment:
    id: int
    number: int
    versions: list[tuple[float, str]]  # (visible from, body)


class ActionsModel:
    """The Actions side of one GitHubServer. Tests steer it: `enabled`, `duration`, `fail(...)`, `replace(...)`."""

    def __init__(self, server: GitHubServer, clock: Callable[[], float] = time.time) -> None:
        self.server = server
        self.clock = clock
        self.enabled = True
        self.duration = 0.0
        self.rules: list[dict[str, Any]] = []
        self.replacing: list[str] = []
        self.runs: list[Run] = []
        self.comments: list[Comment] = []
        self._next = 1000
        self._seen: dict[str, tuple[str | None, dict[int, tuple[str, str]]]] = {}

    # --- steering ---------------------------------------------------------------------------------

    def fail(self, unit: str, *, event: str = "push", message: str = "creating resource: AccessDenied",
             times: int = 1, before_units: bool = False) -> None:
        """The next `times` runs of `event` fail at units containing `unit` (or the whole job fails before its
        first unit, e.g. the role could not be assumed, with `before_units`)."""
        self.rules.append({"unit": unit, "event": event, "message": message, "times": times, "before": before_units})

    def replace(self, unit: str) -> None:
        self.replacing.append(unit)

    # --- events -------------------------------------------------------------------------------------

    def observe(self) -> None:
        """Compare refs and pull requests with the last look and fire what GitHub would (caller holds the lock)."""
        for name, repo in self.server.repos.items():
            tip = repo.refs.get(f"refs/heads/{repo.default_branch}")
            pulls = {p.number: (p.state, p.head_sha) for p in repo.pulls.values()}
            before = self._seen.get(name)
            self._seen[name] = (tip, pulls)
            if before is None:
                continue
            old_tip, old_pulls = before
            for number, (state, head) in pulls.items():
                if state == "open" and old_pulls.get(number) != (state, head):
                    self._on_pull(repo, number, head)
            if tip is not None and tip != old_tip:
                self._on_push(repo, old_tip, tip)

    def _workflow(self, repo: Repo, sha: str, path: str) -> dict[str, Any] | None:
        files = self.server.objects.flatten(self.server.objects.read_commit(sha)["tree"])
        entry = files.get(path)
        if entry is None:
            return None
        data: dict[str, Any] = yaml.safe_load(self.server.objects.read_blob(entry[1]))
        return data

    def _on_pull(self, repo: Repo, number: int, head: str) -> None:
        pull = repo.pulls[number]
        base_tip = repo.refs.get(f"refs/heads/{pull.base}")
        ancestors = set(self.server.objects.ancestors(head))
        base = next((c for c in self.server.objects.ancestors(base_tip) if c in ancestors), None) if base_tip else None
        self._start(repo, ip.PLAN_WORKFLOW, "pull_request", head, base, number)

    def _on_push(self, repo: Repo, before: str | None, after: str) -> None:
        self._start(repo, ip.APPLY_WORKFLOW, "push", after, before, None)

    def _start(self, repo: Repo, workflow: str, event: str, sha: str, base: str | None, pull: int | None) -> None:
        data = self._workflow(repo, sha, workflow)
        if not self.enabled or data is None:
            return
        run = Run(id=self._id(), repo=repo.full_name, workflow=workflow, event=event, sha=sha, base=base, pull=pull)
        self.runs.append(run)
        run.attempts.append(Attempt(1, self.clock(), self._jobs(run, data, [])))
        if pull is not None:
            self._plan_comment(run)

    # --- what a run does -------------------------------------------------------------------------------

    def _units(self, run: Run) -> tuple[list[str], list[str], dict[str, bool]]:
        objects = self.server.objects
        head = objects.flatten(objects.read_commit(run.sha)["tree"])
        base = objects.flatten(objects.read_commit(run.base)["tree"]) if run.base else {}
        head_units, base_units = ip.units_in(head), ip.units_in(base)
        touched = {p for p in set(head) | set(base) if head.get(p) != base.get(p)}
        changed = [u for u in head_units if any(p.startswith(u + "/") for p in touched)]
        removed = [u for u in base_units if u not in head_units]
        return changed, removed, {u: u in base_units for u in changed}

    def _jobs(self, run: Run, workflow: dict[str, Any], done: list[str]) -> list[Job]:
        changed, removed, existed = self._units(run)
        mode = "plan" if run.event == "pull_request" else "apply"
        jobs = []
        for key, spec in (workflow.get("jobs") or {}).items():
            name = str(spec.get("name") or key)
            if "summary" in name:
                jobs.append(Job(self._id(), name, []))
                continue
            account = (spec.get("env") or {}).get("ACCOUNT", "")
            mine = lambda u, a=account: not a or a in u.split("/")  # noqa: E731
            todo = [(u, "plan-destroy" if mode == "plan" else "destroy") for u in removed if mine(u)]
            todo += [(u, mode) for u in changed if mine(u)]
            job = Job(self._id(), name, [])
            rule = self._rule(run.event, [u for u, _ in todo] or [account])
            if rule is not None and rule["before"]:
                job.failed_before_units = rule["message"]
            else:
                stopped = False
                for unit, action in todo:
                    result = ip.UnitResult(unit=unit, action=action)
                    if stopped:
                        result.note = "failed first"
                    elif f"{action} {unit}" in done:
                        result.status, result.note = "ok", "done in an earlier attempt"
                    elif rule is not None and rule["unit"] in unit:
                        result.status = "failed"
                        result.error = f"Error: {rule['message']}\n\n  with aws_resource.this,\n  on main.tf line 1"
                        stopped = mode == "apply"
                        rule = None
                    else:
                        result.status = "ok"
                        if action in ("plan-destroy", "destroy"):
                            result.destroy, result.destroyed = 1, ["aws_resource.this"]
                        elif any(p in unit for p in self.replacing):
                            result.add, result.destroy, result.replaced = 1, 1, ["aws_resource.this"]
                        elif existed.get(unit):
                            result.change = 1
                        else:
                            result.add = 1
                    job.results.append(result)
            jobs.append(job)
        return jobs

    def _rule(self, event: str, units: list[str]) -> dict[str, Any] | None:
        for rule in self.rules:
            if rule["times"] != 0 and rule["event"] == event and any(rule["unit"] in u for u in units):
                rule["times"] -= 1
                return rule
        return None

    def _plan_comment(self, run: Run) -> None:
        attempt = run.attempts[-1]
        report = ip.Report(mode="plan", base=run.base, head=run.sha)
        for job in attempt.jobs:
            report.results += job.results
        body = ip.markdown(report)
        visible = attempt.started + self.duration
        existing = next((c for c in self.comments if c.number == run.pull and c.versions[-1][1].startswith(
            ip.PLAN_MARKER)), None)
        if existing is None:
            self.comments.append(Comment(self._id(), int(run.pull or 0), [(visible, body)]))
        else:
            existing.versions.append((visible, body))

    def _id(self) -> int:
        self._next += 1
        return self._next

    # --- REST -------------------------------------------------------------------------------------------

    def status(self, attempt: Attempt) -> str:
        elapsed = self.clock() - attempt.started
        if elapsed >= self.duration:
            return "completed"
        return "in_progress" if elapsed >= self.duration / 3 else "queued"

    def route(self, repo: Repo, method: str, sub: str, query: dict[str, str], body: Any) -> tuple[int, Any] | None:
        """The Actions, checks and comments endpoints; None when `sub` is none of them."""
        from tests.support.github_server import ApiError

        base = f"{self.server.api_url}/repos/{repo.full_name}"
        m = re.fullmatch(r"/commits/([^/]+)/check-runs", sub)
        if m and method == "GET":
            runs = [c for c in self._check_runs(repo, m.group(1))
                    if not query.get("check_name") or c["name"] == query["check_name"]]
            return 200, {"total_count": len(runs), "check_runs": runs}
        m = re.fullmatch(r"/actions/workflows/([^/]+)/runs", sub)
        if m and method == "GET":
            path = f".github/workflows/{m.group(1)}"
            tip = repo.refs.get(f"refs/heads/{repo.default_branch}")
            known = any(r.workflow == path and r.repo == repo.full_name for r in self.runs) or (
                tip is not None and self._workflow(repo, tip, path) is not None)
            if not known:
                raise ApiError(404, "Not Found")
            runs = [r for r in self.runs if r.repo == repo.full_name and r.workflow == path
                    and (not query.get("head_sha") or r.sha == query["head_sha"])
                    and (not query.get("event") or r.event == query["event"])]
            runs.sort(key=lambda r: -r.id)
            return 200, {"total_count": len(runs), "workflow_runs": [self._run_json(r, base) for r in runs]}
        m = re.fullmatch(r"/actions/runs/(\d+)(/attempts/(\d+))?/jobs", sub)
        if m and method == "GET":
            run = self._run(repo, int(m.group(1)))
            attempt = run.attempts[int(m.group(3)) - 1] if m.group(3) else run.attempts[-1]
            jobs = [self._job_json(run, attempt, j, base) for j in attempt.jobs]
            return 200, {"total_count": len(jobs), "jobs": jobs}
        m = re.fullmatch(r"/actions/runs/(\d+)", sub)
        if m and method == "GET":
            return 200, self._run_json(self._run(repo, int(m.group(1))), base)
        m = re.fullmatch(r"/actions/runs/(\d+)/rerun-failed-jobs", sub)
        if m and method == "POST":
            run = self._run(repo, int(m.group(1)))
            last = run.attempts[-1]
            if self.status(last) != "completed":
                raise ApiError(403, "This workflow is already running")
            if all(j.conclusion == "success" for j in last.jobs):
                raise ApiError(403, "This workflow run cannot be retried")
            data = self._workflow(repo, run.sha, run.workflow) or {}
            done = [r.key for j in last.jobs for r in j.results if r.status == "ok"]
            fresh = {j.name: j for j in self._jobs(run, data, done)}
            jobs = [fresh[j.name] if j.conclusion != "success" else j for j in last.jobs]
            run.attempts.append(Attempt(len(run.attempts) + 1, self.clock(), jobs))
            if run.pull is not None:
                self._plan_comment(run)
            return 201, {}
        m = re.fullmatch(r"/actions/jobs/(\d+)/logs", sub)
        if m and method == "GET":
            self._find_job(repo, int(m.group(1)))
            return 302, {"__location__": f"{self.server.url}{LOG_PATH}{repo.full_name}/{m.group(1)}?sig=fake"}
        m = re.fullmatch(r"/issues/(\d+)/comments", sub)
        if m and method == "GET":
            number = int(m.group(1))
            shown = [self._comment_json(c, repo) for c in self.comments if c.number == number]
            shown = [c for c in shown if c is not None]
            page, per_page = int(query.get("page", 1)), int(query.get("per_page", 30))
            return 200, shown[(page - 1) * per_page: page * per_page]
        if m and method == "POST":
            comment = Comment(self._id(), int(m.group(1)), [(0.0, str(body.get("body", "")))])
            self.comments.append(comment)
            return 201, self._comment_json(comment, repo)
        m = re.fullmatch(r"/issues/comments/(\d+)", sub)
        if m and method == "PATCH":
            comment = next((c for c in self.comments if c.id == int(m.group(1))), None)
            if comment is None:
                raise ApiError(404, "Not Found")
            comment.versions.append((0.0, str(body.get("body", ""))))
            return 200, self._comment_json(comment, repo)
        return None

    def log(self, full_name: str, job_id: int) -> RawText:
        repo = self.server.repos[full_name]
        _, attempt, job = self._find_job(repo, job_id)
        stamp = datetime.fromtimestamp(attempt.started, UTC).strftime("%Y-%m-%dT%H:%M:%S.0000000Z")
        lines = [f"{stamp} ##[group]Run python3 {ip.SCRIPT_PATH}", f"{stamp} ##[endgroup]"]
        if job.failed_before_units:
            lines.append(f"{stamp} ##[error]{job.failed_before_units}")
        for result in job.results:
            if result.status == "not-run":
                continue
            lines.append(f"{stamp} ::group::{result.action} {result.unit}")
            lines += [f"{stamp} {line}" for line in result.error.splitlines()]
            lines.append(f"{stamp} ::endgroup::")
            lines.append(f"{stamp} {ip.RESULT_PREFIX}{json.dumps(result.__dict__, sort_keys=True)}")
        return RawText("\n".join(lines) + "\n")

    # --- JSON shapes --------------------------------------------------------------------------------------

    def _run(self, repo: Repo, run_id: int) -> Run:
        from tests.support.github_server import ApiError

        run = next((r for r in self.runs if r.id == run_id and r.repo == repo.full_name), None)
        if run is None:
            raise ApiError(404, "Not Found")
        return run

    def _find_job(self, repo: Repo, job_id: int) -> tuple[Run, Attempt, Job]:
        from tests.support.github_server import ApiError

        for run in self.runs:
            for attempt in run.attempts:
                for job in attempt.jobs:
                    if job.id == job_id and run.repo == repo.full_name:
                        return run, attempt, job
        raise ApiError(404, "Not Found")

    def _check_runs(self, repo: Repo, sha: str) -> list[dict[str, Any]]:
        latest: dict[str, dict[str, Any]] = {}
        base = f"{self.server.url}/{repo.full_name}"
        for run in sorted((r for r in self.runs if r.repo == repo.full_name and r.sha == sha), key=lambda r: r.id):
            attempt = run.attempts[-1]
            status = self.status(attempt)
            for job in attempt.jobs:
                latest[job.name] = {
                    "id": job.id, "name": job.name, "head_sha": sha, "status": status,
                    "conclusion": job.conclusion if status == "completed" else None,
                    "html_url": f"{base}/actions/runs/{run.id}/job/{job.id}",
                    "details_url": f"{base}/actions/runs/{run.id}/job/{job.id}",
                    "started_at": _iso(attempt.started), "app": {"slug": "github-actions"},
                    "check_suite": {"id": run.id}, "output": {"title": None, "summary": None, "text": None,
                                                              "annotations_count": 0}}
        return list(latest.values())

    def _run_json(self, run: Run, base: str) -> dict[str, Any]:
        attempt = run.attempts[-1]
        status = self.status(attempt)
        conclusion = None
        if status == "completed":
            conclusion = "failure" if any(j.conclusion == "failure" for j in attempt.jobs) else "success"
        return {"id": run.id, "name": posixpath.basename(run.workflow), "path": run.workflow, "head_sha": run.sha,
                "event": run.event, "status": status, "conclusion": conclusion, "run_attempt": attempt.number,
                "html_url": f"{self.server.url}/{run.repo}/actions/runs/{run.id}",
                "jobs_url": f"{base}/actions/runs/{run.id}/jobs", "created_at": _iso(run.attempts[0].started),
                "run_started_at": _iso(attempt.started)}

    def _job_json(self, run: Run, attempt: Attempt, job: Job, base: str) -> dict[str, Any]:
        status = self.status(attempt)
        return {"id": job.id, "run_id": run.id, "run_attempt": attempt.number, "name": job.name, "status": status,
                "conclusion": job.conclusion if status == "completed" else None, "head_sha": run.sha,
                "html_url": f"{self.server.url}/{run.repo}/actions/runs/{run.id}/job/{job.id}",
                "url": f"{base}/actions/jobs/{job.id}"}

    def _comment_json(self, comment: Comment, repo: Repo) -> dict[str, Any] | None:
        now = self.clock()
        visible = [body for at, body in comment.versions if at <= now]
        if not visible:
            return None
        return {"id": comment.id, "body": visible[-1], "user": {"login": "github-actions[bot]", "type": "Bot"},
                "html_url": f"{self.server.url}/{repo.full_name}/pull/{comment.number}#issuecomment-{comment.id}"}


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
