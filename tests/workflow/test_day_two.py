"""Day-two changes and what a request says about itself (issue 12, items 7, 10, 11, 12 and 17), on SQLite
and the local forge: names another service already has are refused at submission, a blueprint change
never removes files other services use, an unchanged spec ends at once, steps are numbered from 1,
a denial reads as final, and refusals leave audit events."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.services import Services
from bot.workflow.api import Actor, BulkChange, Locked, NotAllowed, NothingToChange, Selector, State
from bot.workflow.clock import ManualClock
from provisioners.errors import InvalidSpecError
from provisioners.forge.local import LocalForge
from provisioners.platform import PlatformConfig, Team
from tests.workflow.support import ALICE, MALLORY, SRE, CountingForge, build, drain, pulls, spec, tree


@pytest.fixture
def world(tmp_path: Path) -> Iterator[Any]:
    built: list[Services] = []

    def make(**kwargs: Any) -> Services:
        forge = CountingForge(LocalForge(tmp_path / "repos"))
        services = build(tmp_path, f"sqlite:///{tmp_path / 'lp.db'}", clock=ManualClock(), forge=forge, **kwargs)
        built.append(services)
        return services

    yield make
    for services in built:
        services.close()


def web(name: str, **extra: Any) -> dict[str, Any]:
    return spec(name, blueprint="web-service", **extra)


def test_a_blueprint_change_never_removes_files_other_services_use(world: Any, tmp_path: Path) -> None:
    """web-service -> worker used to delete modules/launchpad-target-group/, which every web service uses."""
    services = world()
    wf = services.workflow
    for name in ("shop-web", "cart-web"):
        wf.submit_create(web(name), ALICE)
        drain(services)
    forge = services.local_forge or services.forges.forge.forge  # type: ignore[attr-defined]
    module = "modules/launchpad-target-group/main.tf"
    assert module in tree(forge)["platform/infra-live"]
    info = wf.submit_create(spec("shop-web"), ALICE)  # the same service as a worker
    drain(services)
    assert wf.get_request(info.id).state == State.SUCCEEDED
    files = tree(forge)["platform/infra-live"]
    assert module in files and "root.hcl" in files  # cart-web still needs them
    assert not any("/shop-web/target-group/" in p for p in files)  # what only shop-web used is gone
    assert any("/cart-web/target-group/" in p for p in files)


def test_an_unchanged_spec_ends_at_once(world: Any, tmp_path: Path) -> None:
    services = world()
    wf = services.workflow
    wf.submit_create(spec("ledger", envs=["devel", "prod"]), ALICE)
    drain(services)
    gate = next(s for s in wf.get_request(1).steps if s.kind == "approval")
    wf.decide(1, gate.id, SRE, True)
    drain(services)
    assert wf.get_request(1).state == State.SUCCEEDED
    writes = len(services.forges.forge.calls)  # type: ignore[attr-defined]
    for check in (wf.precheck_create, wf.submit_create):  # the Slack form's check and the submission
        with pytest.raises(NothingToChange, match="nothing to change: ledger already has exactly this spec"):
            check(spec("ledger", envs=["devel", "prod"]), ALICE)
    drain(services)
    assert [r.id for r in wf.list_requests()] == [1]  # no request, so no approval waits and no PR
    assert wf.pending_approvals() == []
    assert len(services.forges.forge.calls) == writes  # type: ignore[attr-defined]
    changed = wf.submit_create(spec("ledger", envs=["devel", "prod"], description="now with a change"), ALICE)
    assert changed.kind == "change"


def test_names_another_service_has_are_refused_at_submission(world: Any) -> None:
    """Teams `a` and `a-b` make the Argo CD application `a-b-c-devel` twice: names are injective per team
    prefix only, so the submission checks the registry (issue 12, item 7)."""
    teams = {**PlatformConfig().teams, "a": Team(name="a"), "a-b": Team(name="a-b")}
    services = world(platform=PlatformConfig(teams=teams))
    wf = services.workflow
    wf.submit_create(spec("b-c", team="a"), ALICE)
    with pytest.raises(InvalidSpecError) as info:  # refused while the first request is still in flight
        wf.submit_create(spec("c", team="a-b"), ALICE)
    assert "Argo CD application 'a-b-c-devel', which service b-c already has in devel" in info.value.errors["name"]
    drain(services)
    with pytest.raises(InvalidSpecError, match="a-b-c-devel"):  # and once it is registered
        wf.precheck_create(spec("c", team="a-b"), ALICE)
    domain = "shop.example.com"
    wf.submit_create(web("shop-one", envs=["prod"], domain=domain), SRE)
    with pytest.raises(InvalidSpecError, match=f"domain {domain}"):
        wf.submit_create(web("shop-two", envs=["prod"], domain=domain), SRE)


def test_steps_are_numbered_from_one_and_titles_never_look_like_pr_numbers(world: Any) -> None:
    from bot.slack.messages import request_message, step_line, step_reply

    services = world()
    wf = services.workflow
    wf.submit_create(spec("numbered", envs=["devel", "tmp-x1"]), ALICE)
    drain(services)
    info = wf.submit_delete("numbered", None, ALICE)
    titles = [s.title for s in info.steps]
    assert any(t.startswith("Open PR 1 of ") and " in infra (devel, tmp-x1)" in t for t in titles), titles
    assert any(t.startswith("Wait for the infra PR 2 of ") and t.endswith(" to merge") for t in titles), titles
    assert not any("#" in t for t in titles)
    first = info.steps[0]
    assert step_line(first).split(" ", 2)[1] == "1."
    assert "*1. " in step_reply(info, first, "x")["blocks"][0]["text"]["text"]
    assert "step 1" in request_message(info)["text"] or "1. " in str(request_message(info)["blocks"])


def test_a_denied_request_reads_as_final(world: Any, tmp_path: Path) -> None:
    from bot.slack.messages import request_finished_message, request_message, step_reply

    services = world(auto_merge_local=False)
    wf = services.workflow
    info = wf.submit_create(spec("denied-api", envs=["prod"]), ALICE)
    drain(services)
    gate = next(s for s in info.steps if s.kind == "approval")
    info = wf.decide(info.id, gate.id, SRE, False, "needs a capacity review")
    assert info.denied
    shown = str(request_message(info)["blocks"])
    assert "Retry" not in shown and "cannot be retried" in shown
    failed = info.failed_step()
    assert failed is not None and "Retry" not in str(step_reply(info, failed, "denied")["blocks"])
    assert "was denied" in request_finished_message(info)["text"]
    assert wf.list_requests(open_only=True) == []  # `list all` counted it as open
    with pytest.raises(NotAllowed, match="already denied by <@U0SRE>"):  # not "no approval waiting"
        wf.decide(info.id, gate.id, SRE, True)
    drain(services)
    closed = [e for e in wf.audit("denied-api") if e.action == "request.prs_closed"]
    opened = [s for s in info.steps if s.kind == "open_pr" and s.pr_number]
    assert len(opened) == 1 and closed[0].detail == f"PR #{opened[0].pr_number} in infra"  # not the PRs never opened
    assert [p["state"] for ps in pulls(tmp_path / "repos").values() for p in ps] == ["closed"]


def test_refusals_leave_an_audit_event(world: Any) -> None:
    teams = {**PlatformConfig().teams, "search": Team(name="search", slack_group="S0SEARCH")}
    services = world(auto_merge_local=False, platform=PlatformConfig(teams=teams))
    wf = services.workflow
    info = wf.submit_create(spec("guarded", envs=["devel"]), ALICE)
    with pytest.raises(NotAllowed):
        wf.submit_create(spec("guarded", description="take it"), MALLORY)
    with pytest.raises(Locked):
        wf.submit_create(spec("guarded", description="again"), ALICE)
    with pytest.raises(InvalidSpecError):
        wf.submit_create(spec("guarded", port=0), ALICE)
    with pytest.raises(NotAllowed):
        wf.cancel(info.id, MALLORY)
    with pytest.raises(NotAllowed):
        wf.preview_bulk(Selector(team="search"), BulkChange(kind="chart_revision", value="v2"), MALLORY)
    wf.record_refusal(Actor(id="U0EVE", name="eve"), "approval", "not a member of sre", request_id=info.id)
    refused = [(e.actor, e.action, e.detail.split(":")[0]) for e in wf.audit("guarded") if ".refused" in e.action]
    assert refused == [("U0MALLORY", "request.refused", "not allowed"), ("U0ALICE", "request.refused", "locked"),
                       ("U0ALICE", "request.refused", "invalid"), ("U0MALLORY", "cancel.refused", "not allowed"),
                       ("U0EVE", "approval.refused", "not a member of sre")]
    assert [e.action for e in wf.audit("bulk")] == ["bulk.refused"]


def test_a_precheck_may_use_a_moment_old_registry_and_the_submission_checks_again(world: Any,
                                                                                 monkeypatch: Any) -> None:
    """Inside a Slack ack the name claims come from a snapshot read at most CLAIMS_FRESH_SECONDS ago (a burst
    of submissions reads it once); the submission itself re-reads them, so a claim another replica took
    meanwhile is refused. A process's own submission refreshes its snapshot at once."""
    from bot.workflow import service as service_module

    monkeypatch.setattr(service_module, "CLAIMS_FRESH_SECONDS", 3600.0)
    wf, other_replica = world().workflow, world().workflow  # two serving processes on one database
    domain = "shop.example.com"
    wf.precheck_create(web("shop-one", envs=["prod"], domain=domain), SRE)  # reads the (empty) registry
    other_replica.submit_create(web("shop-one", envs=["prod"], domain=domain), SRE)
    wf.precheck_create(web("shop-two", envs=["prod"], domain=domain), SRE)  # the moment-old snapshot: passes
    with pytest.raises(InvalidSpecError, match=f"domain {domain}"):
        wf.submit_create(web("shop-two", envs=["prod"], domain=domain), SRE)
    with pytest.raises(InvalidSpecError, match=f"domain {domain}"):  # its own submission refreshed the snapshot
        other_replica.precheck_create(web("shop-two", envs=["prod"], domain=domain), SRE)
    monkeypatch.setattr(service_module, "CLAIMS_FRESH_SECONDS", 0.0)
    with pytest.raises(InvalidSpecError, match=f"domain {domain}"):  # a fresh read refuses it on the form
        wf.precheck_create(web("shop-two", envs=["prod"], domain=domain), SRE)


def test_a_burst_of_prechecks_for_new_names_reads_the_database_once(world: Any, monkeypatch: Any) -> None:
    """Prechecks run inside Slack's 3 s ack: fifty new names in a burst cost one snapshot read, not fifty
    sessions; a name the database knows (a service, a lock) is still read fresh."""
    from bot.workflow import service as service_module

    monkeypatch.setattr(service_module, "CLAIMS_FRESH_SECONDS", 3600.0)
    services = world()
    wf = services.workflow
    first = wf.submit_create(spec("ledger"), ALICE)
    sessions: list[str] = []
    real = services.store.read_session

    def counted() -> Any:
        sessions.append("read")
        return real()

    monkeypatch.setattr(services.store, "read_session", counted)
    for i in range(50):
        wf.precheck_create(spec(f"new-{i:02d}"), ALICE)
    assert len(sessions) == 1  # the snapshot, read once
    with pytest.raises(Locked) as held:  # a known name: read fresh, its lock found
        wf.precheck_create(spec("ledger", description="more"), ALICE)
    assert held.value.holder_request_id == first.id
    assert len(sessions) == 2
