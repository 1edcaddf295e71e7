"""Delete on the local forge: the repositories return to their previous trees (history aside), the
delete PRs are opened in teardown order, each waiting for the previous merge, and a create and a
delete of the same service never interleave."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from bot.workflow.api import Locked, NotFound, RequestInfo, State
from bot.workflow.changes import load_spec
from bot.workflow.clock import ManualClock
from provisioners.forge.local import LocalForge
from provisioners.plan import plan_delete
from tests.workflow.support import ALICE, BOB, CountingForge, drain, merge, pulls, spec, tree


def run_by_hand(services: Any, forge: CountingForge, clock: ManualClock, request_id: int,
                opened: list[str] | None = None) -> RequestInfo:
    """Drive a request whose PRs a person merges: after every worker pass at most one PR is open."""
    wf = services.workflow
    for _ in range(50):
        drain(services)
        info = wf.get_request(request_id)
        if info.state.finished:
            return info
        step = info.current_step()
        assert step is not None and step.kind == "wait_merge", info
        open_prs = [p["key"] for ps in pulls(forge.root).values() for p in ps if p["state"] == "open"]
        assert open_prs == [f"{request_id}-{step.repo}-{_index(info, step)}"]  # one at a time, in order
        if opened is not None:
            opened.append(step.repo or "")
        merge(forge.forge, open_prs[0])
        clock.advance(hours=1)
    raise AssertionError("request did not finish")


def _index(info: RequestInfo, step: Any) -> int:
    same = [s for s in info.steps if s.kind == "wait_merge" and s.repo == step.repo]
    return [s.id for s in same].index(step.id) + 1


def non_empty(trees: dict[str, dict[str, str | None]]) -> dict[str, dict[str, str | None]]:
    return {repo: files for repo, files in trees.items() if files}


def test_create_then_delete_restores_every_tree(make: Any, tmp_path: Path) -> None:
    clock = ManualClock()
    forge = CountingForge(LocalForge(tmp_path / "repos"))
    services = make(clock=clock, forge=forge, auto_merge_local=False)
    wf = services.workflow
    neighbour = wf.submit_create(spec("search-neighbour"), BOB)  # the team's shared files already exist
    assert run_by_hand(services, forge, clock, neighbour.id).state == State.SUCCEEDED
    forge.forge.commit_files("platform/infra-live", {"README.md": "hand-written, not LaunchPad's\n"},
                             message="docs")
    before = non_empty(tree(forge.forge))

    created = wf.submit_create(spec("ranking-api", envs=["devel", "tmp-x1"]), ALICE)
    assert run_by_hand(services, forge, clock, created.id).state == State.SUCCEEDED
    assert non_empty(tree(forge.forge)) != before

    stored = load_spec(_spec_of(services, "ranking-api"), services.render_context)
    expected_order = [cs.repo for cs in plan_delete(stored, services.render_context, ["devel", "tmp-x1"])]
    # the ECR repository is made destroyable first (force delete), then Argo CD goes, IAM last
    assert expected_order[:2] == ["infra", "gitops"] and expected_order[-1] == "infra"
    deleted = wf.submit_delete("ranking-api", None, ALICE)
    assert [s.repo for s in deleted.steps if s.kind == "open_pr"] == expected_order
    opened: list[str] = []
    assert run_by_hand(services, forge, clock, deleted.id, opened).state == State.SUCCEEDED
    assert opened == [r for r in expected_order if r]  # each PR opened only after the previous one merged
    assert non_empty(tree(forge.forge)) == before
    with pytest.raises(NotFound):
        wf.get_service("ranking-api")
    assert [s.name for s in wf.list_services()] == ["search-neighbour"]
    assert "service.deleted" in [e.action for e in wf.audit("ranking-api")]


def _spec_of(services: Any, name: str) -> dict[str, Any]:
    from sqlalchemy import select

    from bot.store import models as m

    with services.store.session() as s:
        return dict(s.scalar(select(m.Service.spec).where(m.Service.name == name)))


def test_deleting_one_environment_keeps_the_others(make: Any, tmp_path: Path) -> None:
    clock = ManualClock()
    forge = CountingForge(LocalForge(tmp_path / "repos"))
    services = make(clock=clock, forge=forge)
    wf = services.workflow
    wf.submit_create(spec("ranking-api"), ALICE)
    drain(services)
    only_devel = non_empty(tree(forge.forge))
    wf.submit_create(spec("ranking-api", envs=["devel", "tmp-x1"]), ALICE)
    drain(services)
    with pytest.raises(NotFound, match="has no environment prod; it has: devel, tmp-x1"):
        wf.submit_delete("ranking-api", ["prod"], ALICE)
    info = wf.submit_delete("ranking-api", ["tmp-x1"], ALICE)
    drain(services)
    assert wf.get_request(info.id).state == State.SUCCEEDED
    assert [e.name for e in wf.get_service("ranking-api").environments] == ["devel"]
    assert non_empty(tree(forge.forge)) == only_devel


def test_create_and_delete_of_one_service_never_interleave(make: Any, tmp_path: Path) -> None:
    clock = ManualClock()
    forge = CountingForge(LocalForge(tmp_path / "repos"))
    services = make(clock=clock, forge=forge, auto_merge_local=False)
    wf = services.workflow
    first = wf.submit_create(spec("ranking-api"), ALICE)
    run_by_hand(services, forge, clock, first.id)

    change = wf.submit_create(spec("ranking-api", cpu="500m"), ALICE)
    with pytest.raises(Locked) as err:
        wf.submit_delete("ranking-api", None, BOB)
    assert err.value.holder_request_id == change.id
    drain(services)  # the change is under way, the delete was refused: nothing of it exists
    assert all(not k.startswith(f"{change.id + 1}-") for _, k in forge.calls)
    run_by_hand(services, forge, clock, change.id)
    delete = wf.submit_delete("ranking-api", None, BOB)
    run_by_hand(services, forge, clock, delete.id)
    ops = forge.calls
    last_change = max(i for i, (_, k) in enumerate(ops) if k.startswith(f"{change.id}-"))
    first_delete = min(i for i, (_, k) in enumerate(ops) if k.startswith(f"{delete.id}-"))
    assert last_change < first_delete


def test_submitted_at_the_same_moment_exactly_one_wins(make: Any, tmp_path: Path) -> None:
    clock = ManualClock()
    forge = CountingForge(LocalForge(tmp_path / "repos"))
    services = make(clock=clock, forge=forge, auto_merge_local=False)
    wf = services.workflow
    run_by_hand(services, forge, clock, wf.submit_create(spec("ranking-api"), ALICE).id)
    barrier = threading.Barrier(2)
    results: list[object] = []

    def submit(fn: Any, *args: Any) -> None:
        barrier.wait()
        try:
            results.append(fn(*args))
        except Locked as exc:
            results.append(exc)

    threads = [threading.Thread(target=submit, args=(wf.submit_create, spec("ranking-api", cpu="1"), ALICE)),
               threading.Thread(target=submit, args=(wf.submit_delete, "ranking-api", None, BOB))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(type(r).__name__ for r in results) == ["Locked", "RequestInfo"]
    assert len(wf.list_requests(open_only=True)) == 1
