"""Following the pipeline on GitHub: the real workflow and GitHub forge over HTTP against the local GitHub
server, whose Actions model runs the workflows LaunchPad itself wrote into the infra repository. The plan
summary comes from the pull request's one comment; polls are conditional (304s cost no rate limit); a failed
apply names the unit and a retry re-runs the failed jobs; a pipeline that never starts ends the wait."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bench.delivery import PIPELINE_READS
from bot.workflow.api import State
from tests.faults.support import GitHubWorld, build_world, web_spec
from tests.support.github_server import GitHubServer
from tests.workflow.support import ALICE, Recorder

INFRA = "platform/infra-live"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[GitHubWorld, Recorder]]:
    recorder = Recorder()
    with GitHubServer() as server:
        built = build_world(tmp_path, server, notifier=recorder)
        # the server's Actions run on the workflow's clock, so a test can let a run take minutes
        server.actions.clock = lambda: built.clock.now().timestamp()
        yield built, recorder
        built.services.close()


def texts(recorder: Recorder) -> list[str]:
    return [str(t) for k, t in recorder.events if k == "step_progress"]


def test_a_request_follows_plan_and_apply_with_conditional_polls(world: tuple[GitHubWorld, Recorder]) -> None:
    w, recorder = world
    w.server.actions.duration = 3600.0  # each run takes an hour: several looks see the same answer
    info = w.drive(w.workflow.submit_create(web_spec(["devel"]), ALICE).id, rounds=200)
    assert info.state == State.SUCCEEDED, info.error
    plan = next(t for t in texts(recorder) if t.startswith("Plan of PR #1 in infra"))
    assert "devel/search/ranking-web/security-group (plan): +1 ~0 -0" in plan
    assert any(t.startswith("The pipeline applied for PR #1 in infra") for t in texts(recorder))
    reads = w.server.calls_matching("GET", PIPELINE_READS.pattern)
    assert reads and all(c.repos == (INFRA,) for c in reads)
    assert any(c.status == 304 for c in reads), "a poll of an unchanged answer is conditional"
    charged = [c for c in reads if c.status != 304]
    assert len(charged) <= 8, [c.path for c in charged]


def test_a_failed_apply_names_the_unit_and_retry_reruns_the_failed_jobs(world: tuple[GitHubWorld, Recorder]) -> None:
    w, _ = world
    w.server.actions.fail("/devel/search/ranking-web/dns", event="push",
                          message="creating Route53 Record: InvalidChangeBatch")
    failed = w.drive(w.workflow.submit_create(web_spec(["devel"]), ALICE).id)
    assert failed.state == State.FAILED
    step = failed.failed_step()
    assert step is not None and step.kind == "wait_apply"
    assert "devel/search/ranking-web/dns failed to apply" in (step.error or "")
    assert "Error: creating Route53 Record: InvalidChangeBatch" in (step.error or "")
    assert "/actions/runs/" in (step.error or "")  # the link to the job's log
    w.workflow.retry(failed.id, ALICE)
    done = w.drive(failed.id)
    assert done.state == State.SUCCEEDED, done.error
    assert len(w.server.calls_matching("POST", r"/rerun-failed-jobs$")) == 1
    [run] = [r for r in w.server.actions.runs if r.event == "push" and r.repo == INFRA]
    assert [a.number for a in run.attempts] == [1, 2]


def test_a_pipeline_that_never_starts_ends_the_wait_with_a_message(world: tuple[GitHubWorld, Recorder]) -> None:
    w, _ = world
    w.server.actions.enabled = False  # Actions disabled on the repository
    started = w.clock.now()
    info = w.drive(w.workflow.submit_create(web_spec(["devel"]), ALICE).id)
    assert info.state == State.FAILED
    step = info.failed_step()
    assert step is not None and step.kind == "wait_plan"
    assert "no plan has started for PR #1 in infra" in (step.error or "")
    assert "launchpad-infra-plan.yaml is missing, disabled, or not allowed to run" in (step.error or "")
    assert (w.clock.now() - started).total_seconds() >= 15 * 60
    assert datetime.now(UTC).year  # the wait ended on the workflow's clock, not the wall clock
