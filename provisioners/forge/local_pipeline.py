"""The local forge's GitHub Actions: after a pull request opens or moves it runs the infra pipeline's plan,
after a merge its apply, with the very module the infra repository's workflows run
(`provisioners/infra_pipeline.py`), and records runs, jobs, logs, checks and the plan comment in
`launchpad-runs.json` beside the repository, so LaunchPad follows them exactly as it follows GitHub.

A repository runs a pipeline only when its tree holds the pipeline script (the infra repository).
`terragrunt` runs when it is on PATH, with the shell's credentials; without it every run is recorded
as skipped with the reason, never faked as applied. It never decides what to write.
"""

from __future__ import annotations

import io
import shutil
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol

from provisioners import infra_pipeline
from provisioners.errors import PermanentError
from provisioners.forge import jsonfile
from provisioners.forge.base import CheckRun, PipelineJob, PipelineRun


class LocalRepositories(Protocol):
    """What of `LocalForge` the pipeline uses (local.py builds the pipeline and is not imported back)."""

    def repo_path(self, repo: str) -> Path: ...

    def read_file(self, repo: str, path: str, ref: str = "main") -> str | None: ...

    def _locked(self, git_dir: Path) -> AbstractContextManager[None]: ...

RUNS_FILE = "launchpad-runs.json"
PLAN_WORKFLOW = infra_pipeline.PLAN_WORKFLOW
APPLY_WORKFLOW = infra_pipeline.APPLY_WORKFLOW
NOT_INSTALLED = "terragrunt is not installed"


class LocalPipeline:
    """Runs and records the pipeline of the local forge's repositories (synchronously: a run is finished
    when the call that started it returns)."""

    def __init__(self, forge: LocalRepositories, terragrunt: str = "terragrunt") -> None:
        self.forge = forge
        self.terragrunt = terragrunt

    # --- events ---------------------------------------------------------------------------------

    def on_pull(self, repo: str, number: int, base_sha: str, head_sha: str) -> None:
        """A pull request opened or moved: plan it (and record the one plan comment)."""
        report = self._run(repo, "plan", base_sha, head_sha, PLAN_WORKFLOW, pull=number)
        if report is not None:
            git_dir = self.forge.repo_path(repo)
            with self.forge._locked(git_dir):
                data = self._load(git_dir)
                data["comments"][str(number)] = infra_pipeline.markdown(report)
                self._save(git_dir, data)

    def on_push(self, repo: str, before: str | None, after: str) -> None:
        """The base branch moved (a merge): destroy what went away, apply what changed."""
        self._run(repo, "apply", before, after, APPLY_WORKFLOW)

    def rerun_failed_jobs(self, repo: str, run_id: int) -> None:
        git_dir = self.forge.repo_path(repo)
        with self.forge._locked(git_dir):
            run = self._find(self._load(git_dir), run_id)
        job = run["jobs"][-1]
        if job["conclusion"] != "failure":
            raise PermanentError(f"{repo}: run {run_id} has no failed job to re-run")
        done = [r.key for r in infra_pipeline.results_in_log(job["log"]) if r.status == "ok"]
        self._run(repo, run["mode"], run["base"], run["sha"], run["workflow"], pull=run.get("pull"), rerun=run_id,
                  done=done)

    # --- reads ------------------------------------------------------------------------------------

    def checks(self, repo: str, sha: str) -> list[CheckRun]:
        runs = [r for r in self._runs(repo) if r["sha"] == sha]
        latest: dict[str, CheckRun] = {}
        for run in runs:
            job = run["jobs"][-1]
            latest[job["name"]] = CheckRun(name=job["name"], status=job["status"], conclusion=job["conclusion"],
                                           url=run["url"])
        return list(latest.values())

    def runs(self, repo: str, workflow: str, sha: str) -> list[PipelineRun]:
        found = [r for r in self._runs(repo) if r["sha"] == sha and r["workflow"] == workflow]
        return [PipelineRun(id=r["id"], workflow=r["workflow"], sha=r["sha"], status=r["status"],
                            conclusion=r["conclusion"], attempt=r["attempt"], url=r["url"], detail=r["detail"])
                for r in sorted(found, key=lambda r: -int(r["id"]))]

    def jobs(self, repo: str, run_id: int) -> list[PipelineJob]:
        run = self._find({"runs": self._runs(repo)}, run_id)
        job = run["jobs"][-1]
        return [PipelineJob(id=job["id"], name=job["name"], status=job["status"], conclusion=job["conclusion"],
                            url=run["url"])]

    def log(self, repo: str, job_id: int) -> str:
        for run in self._runs(repo):
            for job in run["jobs"]:
                if job["id"] == job_id:
                    return str(job["log"])
        raise PermanentError(f"{repo}: no job {job_id}")

    def comment(self, repo: str, number: int, marker: str) -> str | None:
        git_dir = self.forge.repo_path(repo)
        if not (git_dir / RUNS_FILE).exists():
            return None
        body = self._load(git_dir)["comments"].get(str(number))
        return body if isinstance(body, str) and body.startswith(marker) else None

    # --- internals --------------------------------------------------------------------------------

    def _run(self, repo: str, mode: str, base: str | None, head: str, workflow: str, *, pull: int | None = None,
             rerun: int | None = None, done: list[str] | None = None) -> infra_pipeline.Report | None:
        git_dir = self.forge.repo_path(repo)
        if self.forge.read_file(repo, infra_pipeline.SCRIPT_PATH, head) is None:
            return None  # no pipeline in this repository
        removed_only = self.forge.read_file(repo, "atlantis.yaml", head) is not None
        log = io.StringIO()
        if shutil.which(self.terragrunt) is None:
            report = infra_pipeline.Report(mode=mode, base=base, head=head, skipped=NOT_INSTALLED)
            conclusion, detail = "skipped", NOT_INSTALLED
            log.write(f"skipped: {NOT_INSTALLED}\n")
        else:
            try:
                changes = infra_pipeline.find_changes(git_dir, base, head, merge_base=mode == "plan")
                report = infra_pipeline.run(git_dir, changes, mode, infra_pipeline.Runner(log=log,
                                                                                          terragrunt=self.terragrunt),
                                            done=done or [], removed_only=removed_only)
            except infra_pipeline.PipelineError as exc:
                log.write(f"Error: {exc}\n")
                report = infra_pipeline.Report(mode=mode, base=base, head=head)
                report.results.append(infra_pipeline.UnitResult(unit="(pipeline)", action=mode, status="failed",
                                                                error=f"Error: {exc}"))
            conclusion, detail = ("success" if report.ok else "failure"), ""
            log.write(infra_pipeline.markdown(report))
        name = f"{infra_pipeline.JOB_PREFIX} {mode}"
        with self.forge._locked(git_dir):
            data = self._load(git_dir)
            if rerun is None:
                run_id = data["next"]
                data["next"] += 1
                run: dict[str, Any] = {"id": run_id, "workflow": workflow, "sha": head, "base": base, "mode": mode,
                                       "pull": pull, "event": "pull_request" if pull else "push", "attempt": 0,
                                       "url": f"{git_dir.as_uri()}#runs/{run_id}", "jobs": []}
                data["runs"].append(run)
            else:
                run = self._find(data, rerun)
            run["attempt"] += 1
            run.update(status="completed", conclusion=conclusion, detail=detail)
            run["jobs"].append({"id": run["id"] * 1000 + run["attempt"], "name": name, "status": "completed",
                                "conclusion": conclusion, "log": log.getvalue()})
            self._save(git_dir, data)
        return report

    def _runs(self, repo: str) -> list[dict[str, Any]]:
        git_dir = self.forge.repo_path(repo)
        if not (git_dir / RUNS_FILE).exists():
            return []
        with self.forge._locked(git_dir):
            runs: list[dict[str, Any]] = self._load(git_dir)["runs"]
            return runs

    def _find(self, data: dict[str, Any], run_id: int) -> dict[str, Any]:
        run = next((r for r in data["runs"] if r["id"] == run_id), None)
        if run is None:
            raise PermanentError(f"no pipeline run {run_id}")
        return run

    def _load(self, git_dir: Path) -> dict[str, Any]:
        return jsonfile.read(git_dir / RUNS_FILE, {"next": 1, "runs": [], "comments": {}})

    def _save(self, git_dir: Path, data: dict[str, Any]) -> None:
        jsonfile.write(git_dir / RUNS_FILE, data)
