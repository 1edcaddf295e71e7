"""The one interface every git host implements (Atlantis' vcs.Client, reduced to what we need).

A change is found by its idempotency key (`launchpad/<key>` branch), so a step that runs twice finds
its own work instead of creating a second branch or PR. Implementations: `github.GitHubForge`
(PyGithub, Git Data API) and `local.LocalForge` (plain git repositories on disk).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol, runtime_checkable

from pydantic import BaseModel, Field

from provisioners.changeset import ChangeSet


class ChangeState(StrEnum):
    OPEN = "open"
    MERGED = "merged"
    CLOSED = "closed"


class Change(BaseModel):
    """A pull request (or its local equivalent) as the workflow sees it."""

    repo: str = Field(description="repository name as the forge knows it ('owner/repo' or folder name)")
    key: str = Field(description="idempotency key; the branch is 'launchpad/<key>'")
    branch: str
    number: int
    url: str
    state: ChangeState
    head_sha: str
    base_branch: str = "main"
    merge_sha: str | None = None
    wrote: bool = Field(default=False, description="False when this call found everything already done")

    @property
    def no_op(self) -> bool:
        """True when the base branch already held exactly this content: no PR was opened (number 0,
        state MERGED, merge_sha = the base commit); the workflow treats the delivery as done."""
        return self.number == 0


class CheckRun(BaseModel):
    """A check on a commit (on GitHub: one per Actions job, named after the job)."""

    name: str
    status: str = Field(description="queued, in_progress or completed")
    conclusion: str | None = Field(default=None, description="success, failure, cancelled, skipped, ... when completed")
    url: str = ""


class PipelineRun(BaseModel):
    """One run of a workflow for a commit; `attempt` grows with every re-run."""

    id: int
    workflow: str = Field(description="path of the workflow file, e.g. .github/workflows/launchpad-infra-apply.yaml")
    sha: str
    status: str = Field(description="queued, in_progress or completed")
    conclusion: str | None = None
    attempt: int = 1
    url: str = ""
    detail: str = Field(default="", description="why a run did nothing (local forge: terragrunt is not installed)")


class PipelineJob(BaseModel):
    """A job of a run's latest attempt."""

    id: int
    name: str
    status: str
    conclusion: str | None = None
    url: str = ""


def branch_for(key: str) -> str:
    return f"launchpad/{key}"


@runtime_checkable
class Forge(Protocol):
    """Open, find, read and close changes; never decides what to write."""

    def open_change(self, repo: str, key: str, changeset: ChangeSet, *, title: str, body: str,
                    labels: list[str] | None = None, base_branch: str = "main") -> Change:
        """Create or find the branch, commit and PR for `key`; idempotent; raises ConflictError when
        another commit on the base branch touched one of the change set's paths since we branched."""
        ...

    def get_change(self, repo: str, key: str) -> Change | None:
        """The change for `key`, or None when nothing was opened yet."""
        ...

    def close_change(self, repo: str, key: str) -> None:
        """Close the PR without merging (idempotent; a no-op when already closed or merged)."""
        ...

    def read_file(self, repo: str, path: str, ref: str = "main") -> str | None:
        """Content of a file on `ref`, or None when absent (used by edits of shared files)."""
        ...

    def list_files(self, repo: str, prefix: str = "", ref: str = "main") -> list[str]:
        """Paths under `prefix` on `ref` (used by delete and bulk to find what exists)."""
        ...

    # --- the infra pipeline (read-mostly; see docs/pipeline.md) ------------------------------------

    def checks(self, repo: str, sha: str) -> list[CheckRun]:
        """The check runs of a commit, latest per name (wait_plan reads the plan jobs of a PR's head)."""
        ...

    def pipeline_runs(self, repo: str, workflow: str, sha: str) -> list[PipelineRun]:
        """Runs of the workflow file `workflow` for commit `sha`, newest first (wait_apply: the merge commit)."""
        ...

    def pipeline_jobs(self, repo: str, run_id: int) -> list[PipelineJob]:
        """The jobs of a run's latest attempt."""
        ...

    def job_log(self, repo: str, job_id: int) -> str:
        """A job's log as plain text."""
        ...

    def rerun_failed_jobs(self, repo: str, run_id: int) -> None:
        """Start a new attempt of the run with only its failed jobs."""
        ...

    def find_comment(self, repo: str, number: int, marker: str) -> str | None:
        """The body of the pull request's comment that starts with `marker`, or None."""
        ...
