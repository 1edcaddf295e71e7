"""Bulk requests through the real workflow on the local forge: 30 recorded services, one PR per repository,
approval by a second SRE when prod is touched, pins recorded with history and audit, nothing undone by
the services' next requests, SRE-only, locks, dry run, cancel. The world (30 services and their files in
the repositories) is built once per module and copied for each test."""

from __future__ import annotations

import io
import shutil
import subprocess
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import func, select

from bot.services import Services
from bot.store import models as m
from bot.workflow.api import BulkChange, Locked, NotAllowed, NotFound, RequestInfo, Selector, State
from bot.workflow.changes import repository_for
from bot.workflow.clock import ManualClock
from provisioners.errors import PermanentError
from provisioners.forge.local import LocalForge
from provisioners.plan import plan
from provisioners.spec import parse_spec
from tests.bulk.support import fleet, seed, worker_spec
from tests.workflow.support import ALICE, SRE, SRE2, CountingForge, Recorder, build, drain, pulls

CHART = BulkChange(kind="chart_revision", value="v1.2.0")
SEARCH = Selector(team="search")
SPECS = [*fleet(30), worker_spec("queue-worker", team="payments")]


@dataclass
class World:
    services: Services
    forge: CountingForge
    recorder: Recorder

    @property
    def wf(self) -> Any:
        return self.services.workflow

    def rows(self, model: Any) -> int:
        with self.services.store.session() as s:
            return int(s.scalar(select(func.count()).select_from(model)) or 0)

    def run(self, request_id: int, approver: Any = SRE2) -> RequestInfo:
        for _ in range(10):
            drain(self.services)
            info = self.wf.get_request(request_id)
            waiting = [a for a in self.wf.pending_approvals() if a.request.id == request_id]
            if info.state.finished or not waiting:
                return info
            self.wf.decide(request_id, waiting[0].step.id, approver, True, "reviewed the bulk PR")
        return self.wf.get_request(request_id)


def _build(root: Path) -> World:
    recorder = Recorder()
    forge = CountingForge(LocalForge(root / "repos"))
    services = build(root, f"sqlite:///{root / 'launchpad.db'}", forge=forge, notifier=recorder, clock=ManualClock())
    return World(services=services, forge=forge, recorder=recorder)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("bulk-world")
    world = _build(root)
    try:
        for repo, files in seed(world.services, SPECS).items():
            world.forge.forge.commit_files(repo, files, message="services as their create requests left them")
    finally:
        world.services.close()
    return root


@pytest.fixture
def world(seeded: Path, tmp_path: Path) -> Iterator[World]:
    root = tmp_path / "world"
    shutil.copytree(seeded, root)
    built = _build(root)
    try:
        yield built
    finally:
        built.services.close()


def repo_files(world: World, repo: str) -> dict[str, str]:
    """Every file on main, read in one `git archive` (not one git call per file)."""
    archive = subprocess.run(["git", f"--git-dir={world.forge.forge.repo_path(repo)}", "archive", "main"],
                             capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        return {member.name: tar.extractfile(member).read().decode()  # type: ignore[union-attr]
                for member in tar.getmembers() if member.isfile()}


def test_bulk_opens_one_pr_per_repository_and_records_the_pins(world: World) -> None:
    wf = world.wf
    before = repo_files(world, "platform/gitops")
    info = wf.submit_bulk(SEARCH, CHART, SRE)
    assert (info.kind, info.service, info.team, info.environments) == ("bulk", "15 services", "search",
                                                                       ["devel", "alpha", "prod"])
    assert [s.kind for s in info.steps] == ["open_pr", "approval", "wait_merge", "notify"]
    gate = info.steps[1]
    assert gate.approver_group == "sre" and "bulk change reaching prod" in gate.title
    drain(world.services)
    with pytest.raises(NotAllowed, match="never approves their own"):
        wf.decide(info.id, gate.id, SRE, True, "mine")  # a different SRE must review it
    info = world.run(info.id)
    assert info.state == State.SUCCEEDED, info.error
    assert info.steps[1].decided_by == SRE2.id

    [pr] = [p for prs in pulls(world.forge.root).values() for p in prs]
    assert pr["key"] == f"{info.id}-gitops-1" and pr["state"] == "merged" and pr["labels"] == ["launchpad",
                                                                                              "launchpad:bulk"]
    after = repo_files(world, "platform/gitops")
    changed = sorted(p for p in after if after[p] != before.get(p))
    search = [d["name"] for d in SPECS if d["team"] == "search"]
    assert changed == sorted(f"teams/search/services/{n}/{e}.yaml" for n in search for e in ("devel", "alpha", "prod"))
    assert all(yaml.safe_load(after[p])["chartRevision"] == "v1.2.0" for p in changed)

    for name in search:
        assert wf._plan_bulk(Selector(services=[name]), CHART)[0].changes == []  # recorded: nothing left to do
        events = [e for e in wf.audit(name) if e.request_id == info.id]
        assert [e.action for e in events] == ["bulk.submitted", "service.changed"]
    assert world.recorder.kinds().count("request_finished") == 1
    with world.services.store.session() as s:
        bulk_revisions = s.scalar(select(func.count()).select_from(m.ServiceRevision)
                                  .where(m.ServiceRevision.request_id == info.id))
        assert bulk_revisions == 15
        assert s.scalar(select(func.count()).select_from(m.Lock)) == 0


def test_later_renders_keep_what_the_bulk_wrote(world: World) -> None:
    wf = world.wf
    info = world.run(wf.submit_bulk(SEARCH, CHART, SRE).id)
    assert info.state == State.SUCCEEDED, info.error
    ctx = world.services.render_context
    repos: dict[str, dict[str, str]] = {}
    with world.services.store.session() as s:
        recorded = {svc.name: dict(svc.spec or {}) for svc in s.scalars(select(m.Service))}
    for data in recorded.values():  # every service's next render is exactly what the repositories hold
        spec = parse_spec(data, ctx.platform, ctx.blueprints)
        for cs in plan(spec, ctx, check=False):
            name, _ = repository_for(ctx.platform, cs.repo, spec)
            if name not in repos:
                repos[name] = repo_files(world, name)
            for path, content in cs.files.items():
                assert repos[name].get(path) == content, (spec.name, path)

    data = dict(SPECS[0])  # a developer's change, as the Slack modal sends it: their fields, no pins
    data["environments"] = [{"name": "devel", "replicas": 2}, {"name": "alpha"}, {"name": "prod"}]
    change = world.run(wf.submit_create(data, ALICE).id)
    assert change.state == State.SUCCEEDED, change.error
    assert not any(s.repo == "gitops" and s.pr_number for s in change.steps)  # nothing to redo there
    prod = yaml.safe_load(repo_files(world, "platform/gitops")["teams/search/services/svc-000/prod.yaml"])
    assert prod["chartRevision"] == "v1.2.0"
    with world.services.store.session() as s:
        spec_data = s.scalar(select(m.Service.spec).where(m.Service.name == "svc-000"))
    assert spec_data is not None and spec_data["pins"]["chart_revision"] == "v1.2.0"
    assert spec_data["environments"][0]["replicas"] == 2

    with pytest.raises(PermanentError, match="nothing to change: 15 service"):
        wf.submit_bulk(SEARCH, CHART, SRE)
    with pytest.raises(NotFound, match="no-such-api"):
        wf.preview_bulk(Selector(services=["svc-000", "no-such-api"]), CHART, SRE)


def test_pins_are_sre_owned_in_ordinary_requests_too(world: World) -> None:
    data = dict(SPECS[0]) | {"pins": {"chart_revision": "v9.9.9"}}
    with pytest.raises(NotAllowed, match="set by SRE"):
        world.wf.submit_create(data, ALICE)
    info = world.wf.submit_create(data, SRE)  # an SRE may pin one service by hand
    assert info.kind == "change"
    requests = world.rows(m.Request)
    with pytest.raises(NotAllowed, match="set by SRE"):
        world.wf.submit_create(worker_spec("fresh-worker") | {"pins": {"modules": {"rds": "7.3.0"}}}, ALICE)
    assert world.rows(m.Request) == requests


def test_action_pin_opens_one_pull_request_in_each_service_repository(world: World) -> None:
    pin = "v4.3.0@" + "d" * 40
    change = BulkChange(kind="action_pin", target="checkout", value=pin)
    info = world.run(world.wf.submit_bulk(Selector(services=["svc-000", "svc-001"]), change, SRE).id)
    assert info.state == State.SUCCEEDED, info.error
    found = {repo.removesuffix(".git"): [p["key"] for p in prs] for repo, prs in pulls(world.forge.root).items()
             if prs}
    assert found == {"search/svc-000": [f"{info.id}-service/svc-000-1"],
                     "payments/svc-001": [f"{info.id}-service/svc-001-1"]}
    for repo in found:
        workflow = world.forge.forge.read_file(repo, ".github/workflows/launchpad-deploy.yaml")
        assert workflow is not None and f"actions/checkout@{'d' * 40} # v4.3.0" in workflow
    with world.services.store.session() as s:  # recorded, so the next request keeps it
        recorded = {svc.name: dict(svc.spec or {}) for svc in s.scalars(select(m.Service))}
    assert recorded["svc-000"]["pins"]["actions"] == recorded["svc-001"]["pins"]["actions"] == {"checkout": pin}
    assert not recorded["svc-002"]["pins"].get("actions")


def test_module_pin_in_one_environment(world: World) -> None:
    change = BulkChange(kind="module_version", target="rds", value="7.3.0")
    info = world.run(world.wf.submit_bulk(Selector(environment="prod"), change, SRE).id)
    assert info.state == State.SUCCEEDED, info.error
    with_rds = sorted(d["name"] for d in SPECS if "components" in d)
    assert (info.service, info.team, info.environments) == (f"{len(with_rds)} services", "*", ["prod"])
    [pr] = [p for prs in pulls(world.forge.root).values() for p in prs]
    assert pr["key"] == f"{info.id}-infra-1"
    local = world.forge.forge
    teams = {d["name"]: d["team"] for d in SPECS}
    for name in with_rds:
        folder = f"{teams[name]}/{name}/rds/terragrunt.hcl"
        prod = local.read_file("platform/infra-live", f"333333333333/eu-west-1/prod/{folder}")
        devel = local.read_file("platform/infra-live", f"111111111111/eu-west-1/devel/{folder}")
        assert prod is not None and "rds/aws?version=7.3.0" in prod
        assert devel is not None and "rds/aws?version=7.2.0" in devel


def test_only_sre_may_preview_submit_retry_or_cancel_a_bulk_change(world: World) -> None:
    wf = world.wf
    for call in (wf.preview_bulk, wf.submit_bulk):
        with pytest.raises(NotAllowed, match="only SRE"):
            call(SEARCH, CHART, ALICE)
    info = wf.submit_bulk(SEARCH, CHART, SRE)
    member = ALICE.model_copy(update={"teams": ["search"]})  # a member of the team the bulk change selected
    with pytest.raises(NotAllowed, match="only SRE"):
        wf.cancel(info.id, member)
    with pytest.raises(NotAllowed, match="only SRE"):
        wf.retry(info.id, member)
    assert wf.cancel(info.id, SRE2).state == State.CANCELLED  # any SRE may


def test_dry_run_writes_nothing(world: World) -> None:
    counts = {model: world.rows(model) for model in (m.Request, m.Step, m.AuditEvent, m.Lock, m.OutboxMessage,
                                                     m.ServiceRevision)}
    preview = world.wf.preview_bulk(SEARCH, CHART, SRE)
    assert (preview.matched, len(preview.services), preview.repositories, preview.environments) == (
        15, 15, {"gitops": 45}, ["devel", "alpha", "prod"])
    assert preview.approvals and preview.approvals[0].startswith("sre: ") and preview.busy == {}
    assert {model: world.rows(model) for model in counts} == counts
    assert pulls(world.forge.root) == {} and world.forge.calls == []


def test_a_busy_service_refuses_the_bulk_change_and_names_it(world: World) -> None:
    data = dict(SPECS[4]) | {"description": "a change in flight"}
    busy = world.wf.submit_create(data, ALICE)
    preview = world.wf.preview_bulk(SEARCH, CHART, SRE)
    assert list(preview.busy) == ["svc-004"] and f"#{busy.id}" in preview.busy["svc-004"]
    requests = world.rows(m.Request)
    with pytest.raises(Locked, match=f"svc-004 is locked by request #{busy.id}"):
        world.wf.submit_bulk(SEARCH, CHART, SRE)
    assert world.rows(m.Request) == requests and world.rows(m.AuditEvent) > 0
    bulk = world.wf.submit_bulk(Selector(team="payments"), CHART, SRE)  # other services are free
    with pytest.raises(Locked, match=f"locked by request #{bulk.id}"):
        world.wf.submit_create(dict(SPECS[1]) | {"description": "blocked"}, SRE)


def test_cancelled_bulk_closes_its_pr_and_frees_the_services(world: World) -> None:
    wf = world.wf
    info = wf.submit_bulk(SEARCH, CHART, SRE)
    drain(world.services)  # opens the PR, then waits for approval
    assert wf.cancel(info.id, SRE).state == State.CANCELLED
    drain(world.services)
    [pr] = [p for prs in pulls(world.forge.root).values() for p in prs]
    assert pr["state"] == "closed"
    assert world.rows(m.Lock) == 0
    with world.services.store.session() as s:
        spec = s.scalar(select(m.Service.spec).where(m.Service.name == "svc-000"))
    assert spec is not None and spec["pins"]["chart_revision"] is None  # nothing recorded
