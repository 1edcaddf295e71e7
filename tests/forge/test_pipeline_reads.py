"""The forge contract for the infra pipeline, on every forge: the checks of a pull request's head, the one plan
comment, the run for a merge commit, its jobs and logs, and re-running only the failed jobs. The local forge
runs the pipeline module with the stand-in terragrunt; the local GitHub server models GitHub Actions."""

from __future__ import annotations

from typing import Any

import pytest

from provisioners import infra_pipeline as ip
from provisioners.changeset import ChangeSet
from tests.forge.conftest import ForgeHarness, GitHubHarness
from tests.support.terragrunt_standin import StandIn, terragrunt

__all__ = ["terragrunt"]

UNIT = "111111111111/eu-west-1/devel/svc"
PIPELINE = {
    "root.hcl": "# state\n",
    ip.SCRIPT_PATH: "# the pipeline\n",
    ip.PLAN_WORKFLOW: "name: plan\non: pull_request\njobs:\n  plan:\n    name: launchpad-infra plan\n"
                      "    runs-on: x\n    steps: [{run: 'true'}]\n",
    ip.APPLY_WORKFLOW: "name: apply\non: push\njobs:\n  apply:\n    name: launchpad-infra apply\n"
                       "    runs-on: x\n    steps: [{run: 'true'}]\n",
}


def unit(name: str, deps: tuple[str, ...] = ()) -> dict[str, str]:
    blocks = "".join(f'dependency "{d}" {{\n  config_path = "../{d}"\n}}\n' for d in deps)
    return {f"{UNIT}/{name}/terragrunt.hcl": f'include "root" {{\n  path = find_in_parent_folders("root.hcl")\n}}\n'
                                             f"{blocks}inputs = {{}}\n"}


def fail_apply(harness: ForgeHarness, standin: StandIn, pattern: str) -> None:
    if isinstance(harness, GitHubHarness):
        harness.server.actions.fail(pattern, event="push", message="creating bucket: BucketAlreadyExists")
    else:
        standin.fail(pattern, "apply", times=1, message="creating bucket: BucketAlreadyExists")


def open_infra(harness: ForgeHarness, key: str, files: dict[str, str], deletes: list[str] | None = None) -> Any:
    cs = ChangeSet(repo="infra", files=files, deletes=deletes or [])
    return harness.forge.open_change(harness.repo, key, cs, title=f"infra {key}", body="b")


def test_plan_checks_and_comment_then_apply_run_of_the_merge(harness: ForgeHarness, terragrunt: StandIn) -> None:
    forge = harness.forge
    change = open_infra(harness, "k1", {**PIPELINE, **unit("security-group"), **unit("s3", ("security-group",))})
    checks = [c for c in forge.checks(harness.repo, change.head_sha) if c.name.startswith(ip.JOB_PREFIX)]
    assert checks and all(c.status == "completed" and c.conclusion == "success" for c in checks)
    report = ip.report_in(forge.find_comment(harness.repo, change.number, ip.PLAN_MARKER) or "")
    assert report is not None and report.head == change.head_sha
    assert sorted((r.action, r.unit, r.add) for r in report.results) == [
        ("plan", f"{UNIT}/s3", 1), ("plan", f"{UNIT}/security-group", 1)]
    assert forge.find_comment(harness.repo, change.number, "<!-- something else -->") is None

    harness.merge("k1")
    merged = forge.get_change(harness.repo, "k1")
    assert merged is not None and merged.merge_sha
    [run] = forge.pipeline_runs(harness.repo, ip.APPLY_WORKFLOW, merged.merge_sha)
    assert (run.status, run.conclusion, run.attempt) == ("completed", "success", 1)
    assert forge.pipeline_runs(harness.repo, ip.APPLY_WORKFLOW, change.head_sha) == []


def test_a_failed_apply_names_its_unit_in_the_log_and_a_rerun_does_only_what_failed(
        harness: ForgeHarness, terragrunt: StandIn) -> None:
    forge = harness.forge
    open_infra(harness, "k1", {**PIPELINE, **unit("iam-role"), **unit("s3")})  # iam-role applies first
    fail_apply(harness, terragrunt, "/s3")
    harness.merge("k1")
    merge_sha = forge.get_change(harness.repo, "k1").merge_sha  # type: ignore[union-attr]
    [run] = forge.pipeline_runs(harness.repo, ip.APPLY_WORKFLOW, merge_sha)
    assert run.conclusion == "failure"
    failed = [j for j in forge.pipeline_jobs(harness.repo, run.id) if j.conclusion == "failure"]
    assert len(failed) == 1
    results = ip.results_in_log(forge.job_log(harness.repo, failed[0].id))
    bad = [r for r in results if r.status == "failed"]
    assert [r.unit for r in bad] == [f"{UNIT}/s3"] and "BucketAlreadyExists" in bad[0].error

    forge.rerun_failed_jobs(harness.repo, run.id)
    [again] = forge.pipeline_runs(harness.repo, ip.APPLY_WORKFLOW, merge_sha)
    assert (again.id, again.attempt, again.conclusion) == (run.id, 2, "success")
    [job] = forge.pipeline_jobs(harness.repo, run.id)
    redone = ip.results_in_log(forge.job_log(harness.repo, job.id))
    assert [(r.unit.rsplit("/", 1)[1], r.status, r.note) for r in redone] == [
        ("iam-role", "ok", "done in an earlier attempt"), ("s3", "ok", "")]


def test_no_pipeline_in_the_repository_means_no_runs(harness: ForgeHarness, terragrunt: StandIn) -> None:
    change = open_infra(harness, "k1", {"README.md": "no pipeline here\n"})
    assert harness.forge.checks(harness.repo, change.head_sha) == []
    harness.merge("k1")
    merge_sha = harness.forge.get_change(harness.repo, "k1").merge_sha  # type: ignore[union-attr]
    assert harness.forge.pipeline_runs(harness.repo, ip.APPLY_WORKFLOW, merge_sha) == []


@pytest.fixture(autouse=True)
def _quiet_standin(terragrunt: StandIn) -> None:
    """The GitHub harnesses never call terragrunt; the fixture only puts it on PATH for the local one."""
