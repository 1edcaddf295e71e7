"""End to end on the local forge with the stand-in terragrunt: the local forge runs the pipeline after each PR
opens and after each merge, and the request follows it (wait_plan, wait_apply). Create applies in dependency
order; a change that drops s3 destroys that unit; a delete destroys everything, IAM last, each PR's destroy
done before the next PR; a TTL expiry destroys the environment; a failing unit reaches the thread and a retry
re-runs only what failed; a plan that replaces stops a create for an SRE; without terragrunt, steps say so."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.services import Services
from bot.store.database import Store
from bot.workflow.api import ApprovalInfo, RequestInfo, State
from bot.workflow.clock import ManualClock
from provisioners.forge.local import LocalForge
from tests.support.postgres import schema_url
from tests.support.terragrunt_standin import StandIn
from tests.workflow.support import ALICE, SRE, CountingForge, Recorder, build, drain, spec

INFRA = "platform/infra-live"


class World:
    def __init__(self, services: Services, forge: LocalForge, clock: ManualClock, recorder: Recorder) -> None:
        self.services, self.forge, self.clock, self.recorder = services, forge, clock, recorder

    @property
    def wf(self) -> Any:
        return self.services.workflow

    def run(self, request_id: int) -> RequestInfo:
        for _ in range(30):
            drain(self.services)
            info: RequestInfo = self.wf.get_request(request_id)
            if info.state.finished or (info.state == State.WAITING and any(
                    s.kind == "approval" and s.state == State.WAITING for s in info.steps)):
                return info
            self.clock.advance(minutes=10)
        return info

    def texts(self) -> list[str]:
        return [str(t) for k, t in self.recorder.events if k == "step_progress"]


@pytest.fixture
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """SQLite, unless a test asks for PostgreSQL too (indirect parametrisation)."""
    if getattr(request, "param", "sqlite") == "postgres":
        with schema_url("lp_infra") as url:
            store = Store(url)
            store.upgrade()
            store.dispose()
            yield url
    else:
        yield f"sqlite:///{tmp_path / 'lp.db'}"


@pytest.fixture
def world(tmp_path: Path, terragrunt: StandIn, database: str) -> Iterator[World]:
    clock, recorder = ManualClock(), Recorder()
    forge = LocalForge(tmp_path / "repos")
    services = build(tmp_path, database, clock=clock, forge=CountingForge(forge), notifier=recorder)
    yield World(services, forge, clock, recorder)
    services.close()


def units(standin: StandIn, command: str) -> list[str]:
    return ["/".join(u.split("/")[2:]) for _, u in standin.runs(command)]  # env/service/component


def test_create_change_delete_apply_and_destroy_every_unit_in_order(world: World, terragrunt: StandIn) -> None:
    created = world.run(world.wf.submit_create(spec("svc", components={"s3": {}}), ALICE).id)
    assert created.state == State.SUCCEEDED, created.error
    applied = units(terragrunt, "apply")
    assert sorted(applied) == ["_shared/search/svc/ci-role", "_shared/search/svc/ecr", "devel/search/svc/iam-role",
                               "devel/search/svc/s3", "devel/search/svc/security-group"]
    assert [s.kind for s in created.steps[:5]] == ["open_pr", "wait_plan", "wait_merge", "wait_apply", "bind"]
    plan = next(t for t in world.texts() if t.startswith("Plan of PR #1 in infra"))
    assert "+7 ~0 -0" in plan and "devel/search/svc/s3 (plan): +1 ~0 -0" in plan  # ci-role: 2 stand-in resources
    assert any(t.startswith("The pipeline applied for PR #1 in infra") for t in world.texts())

    terragrunt.forget_calls()
    changed = world.run(world.wf.submit_create(spec("svc"), ALICE).id)  # s3 dropped
    assert changed.state == State.SUCCEEDED, changed.error
    assert terragrunt.runs("destroy") == [("destroy", "111111111111/eu-west-1/devel/search/svc/s3")]
    destroy = next(c for c in terragrunt.calls() if c["command"] == "destroy")
    main = world.forge.repo_path(INFRA)
    merged = world.forge.get_change(INFRA, f"{changed.id}-infra-1")
    assert merged is not None and destroy["commit"] == _git(main, "rev-parse", f"{merged.merge_sha}^1")
    assert "devel/search/svc/s3" not in str(terragrunt.state())

    terragrunt.forget_calls()
    deleted = world.run(world.wf.submit_delete("svc", None, ALICE).id)
    assert deleted.state == State.SUCCEEDED, deleted.error
    destroyed = units(terragrunt, "destroy")
    assert set(destroyed) == {"_shared/search/svc/ci-role", "_shared/search/svc/ecr", "devel/search/svc/iam-role",
                              "devel/search/svc/security-group"}
    assert {u.split("/")[-1] for u in destroyed[-2:]} == {"iam-role", "ci-role"}  # IAM last
    assert terragrunt.state() == {}
    # force delete first
    assert terragrunt.runs("apply") == [("apply", "111111111111/eu-west-1/_shared/search/svc/ecr")]
    kinds = [(s.kind, s.repo) for s in deleted.steps]
    applies = [i for i, k in enumerate(kinds) if k == ("wait_apply", "infra")]
    opens = [i for i, k in enumerate(kinds) if k[0] == "open_pr"]
    assert all(any(a < o for a in applies) for o in opens[1:] if kinds[o][1] == "infra")  # destroyed before next


def test_ttl_expiry_destroys_the_environment(world: World, terragrunt: StandIn) -> None:
    created = world.run(world.wf.submit_create(spec("svc", envs=["devel", "tmp-x1"]), ALICE).id)
    assert created.state == State.SUCCEEDED, created.error
    assert any("/tmp-x1/" in u for _, u in terragrunt.runs("apply"))
    terragrunt.forget_calls()
    world.clock.advance(hours=49)
    [expiry] = world.wf.expire_environments()
    assert world.run(expiry.id).state == State.SUCCEEDED
    gone = {u for _, u in terragrunt.runs("destroy")}
    assert gone and all("/tmp-x1/" in u for u in gone)
    assert not any("/tmp-x1/" in u for u in terragrunt.state()) and any("/devel/" in u for u in terragrunt.state())


def test_a_failing_unit_reaches_the_thread_and_retry_reruns_only_what_failed(world: World,
                                                                             terragrunt: StandIn) -> None:
    terragrunt.fail("/devel/search/svc/iam-role", "apply", times=1, message="creating IAM Role (devel-svc-irsa): "
                                                                      "EntityAlreadyExists")
    failed = world.run(world.wf.submit_create(spec("svc"), ALICE).id)
    assert failed.state == State.FAILED
    step = failed.failed_step()
    assert step is not None and step.kind == "wait_apply"
    assert "111111111111/eu-west-1/devel/search/svc/iam-role failed to apply" in (step.error or "")
    assert "Error: creating IAM Role (devel-svc-irsa): EntityAlreadyExists" in (step.error or "")
    assert any("EntityAlreadyExists" in t and t.startswith("Failed:") for t in world.texts())
    applied_first = set(terragrunt.state())  # what succeeded before the failure
    assert applied_first and "111111111111/eu-west-1/devel/search/svc/iam-role" not in applied_first

    terragrunt.forget_calls()
    world.wf.retry(failed.id, ALICE)
    done = world.run(failed.id)
    assert done.state == State.SUCCEEDED, done.error
    rerun = [u for _, u in terragrunt.runs("apply")]
    assert rerun[0] == "111111111111/eu-west-1/devel/search/svc/iam-role"  # the failed unit, then what it held up
    assert set(rerun) == set(terragrunt.state()) - applied_first  # nothing that succeeded is applied again


@pytest.mark.parametrize("database", ["sqlite", "postgres"], indirect=True)  # the inserted step moves positions
def test_a_plan_that_replaces_stops_a_create_for_an_sre(world: World, terragrunt: StandIn) -> None:
    terragrunt.replace("/devel/search/svc/security-group")
    stopped = world.run(world.wf.submit_create(spec("svc"), ALICE).id)
    assert stopped.state == State.WAITING and stopped.kind == "create"
    gate = next(s for s in stopped.steps if s.kind == "approval" and s.state == State.WAITING)
    assert "replaces" in gate.title and "aws_security_group.this" in gate.title
    [approval] = [a for k, a in world.recorder.events if k == "approval_needed"]
    assert isinstance(approval, ApprovalInfo)
    assert any("security-group (plan): +1 ~0 -1; replaces aws_security_group.this" in line for line in approval.plan)
    assert not any(s.kind == "wait_merge" and s.state == State.SUCCEEDED for s in stopped.steps)  # nothing merged
    world.wf.decide(stopped.id, gate.id, SRE, True, "expected: it takes over the old group")
    assert world.run(stopped.id).state == State.SUCCEEDED


def test_without_terragrunt_the_steps_say_so(tmp_path: Path, no_terragrunt: None) -> None:
    services = build(tmp_path, f"sqlite:///{tmp_path / 'lp.db'}", clock=ManualClock())
    try:
        info = services.workflow.submit_create(spec("svc"), ALICE)
        drain(services)
        info = services.workflow.get_request(info.id)
        assert info.state == State.SUCCEEDED, info.error
        with services.store.session() as s:
            from sqlalchemy import select

            from bot.store import models as m
            details = [e.detail for e in s.scalars(select(m.AuditEvent).where(m.AuditEvent.action == "step.succeeded"))]
        assert any(d.startswith("skipped: terragrunt is not installed; nothing was planned") for d in details)
        assert any(d.startswith("skipped: terragrunt is not installed; nothing was applied") for d in details)
    finally:
        services.close()


def _git(git_dir: Path, *args: str) -> str:
    import subprocess

    return subprocess.run(["git", f"--git-dir={git_dir}", *args], capture_output=True, text=True,
                          check=True).stdout.strip()
