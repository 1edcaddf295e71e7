"""Following a request past its merges, on the local forge and the local Argo CD server: a healthy rollout
reported per environment and done at the merged revision, a degraded one failing with the resource's reason
and a link, a sync that never starts failing at the timeout, the HTTPS probe of a web service, and a delete
that waits until Argo CD has pruned the workload before anything else is torn down."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from bot.argocd.probe import HttpsProber
from bot.workflow.api import State
from bot.workflow.clock import ManualClock
from provisioners.forge.local import LocalForge
from tests.deploy.support import TOKEN, VALUES, build, follow, head, progress, run
from tests.support.argocd_server import ArgoCdServer
from tests.workflow.support import ALICE, Recorder, pulls, spec

LINK = "https://argocd.example.com/applications/argocd/search-ranking-api-devel"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[ManualClock, LocalForge, ArgoCdServer, Recorder]]:
    clock = ManualClock()
    with ArgoCdServer(tokens={TOKEN: None}, clock=lambda: clock.now().timestamp()) as argo:
        yield clock, LocalForge(tmp_path / "repos"), argo, Recorder()
        assert argo.schema_errors == []


def test_a_healthy_rollout_is_followed_per_environment_to_the_merged_revision(world: Any, tmp_path: Path) -> None:
    clock, forge, argo, recorder = world
    services = build(tmp_path, argo, clock, forge, notifier=recorder)
    follow(argo, forge, "ranking-api", ["devel", "alpha"])
    info = run(services, clock, services.workflow.submit_create(spec(envs=["devel", "alpha"]), ALICE).id)

    assert info.state == State.SUCCEEDED, info.error
    assert [s.kind for s in info.steps][-2:] == ["wait_deploy", "notify"]
    merged = head(forge, VALUES)[:7]
    lines = progress(recorder)
    assert any(re.search(r"devel: (syncing \w{7}|Progressing), [0-2]/3 pods ready", t) for t in lines), lines
    assert f"devel: Healthy at {merged} · alpha: Healthy at {merged}" in lines
    # which image runs where, as the follow saw it
    images = {i.environment: i for i in services.workflow.get_service("ranking-api").images}
    assert images["devel"].image.endswith("/search/ranking-api:latest") and images["devel"].revision == merged
    # polling with backoff: a bounded number of Argo CD calls for a 90 s rollout per environment
    assert len(argo.calls) <= 20, [c.path for c in argo.calls]

    # a change (replicas) is followed to its own merge; Argo CD reports the branch head, and when someone
    # merged after us, that commit is newer than ours: it counts
    data = spec(envs=["devel", "alpha"])
    data["environments"][0]["replicas"] = 2
    change = run(services, clock, services.workflow.submit_create(data, ALICE).id, until="wait_deploy")
    ours = head(forge, VALUES)
    assert ours[:7] != merged
    theirs = forge.commit_files(VALUES, {"teams/search/other/values.yaml": "port: 8080\n"}, message="another service")
    for app in argo.apps.values():
        app.dates.update({ours: "2030-01-01T12:00:00Z", theirs: "2030-01-01T12:01:00Z"})
    done = run(services, clock, change.id)
    assert done.state == State.SUCCEEDED, done.error
    assert any("/revisions/" in c.path for c in argo.calls)
    assert progress(recorder)[-2] == f"devel: Healthy at {theirs[:7]} · alpha: Healthy at {theirs[:7]}"


def test_degraded_names_the_failing_resource_its_message_and_the_argo_cd_link(world: Any, tmp_path: Path) -> None:
    clock, forge, argo, recorder = world
    services = build(tmp_path, argo, clock, forge, notifier=recorder)
    follow(argo, forge, "ranking-api", ["devel"], outcome="degraded",
           reason=("ImagePullBackOff", 'Back-off pulling image "registry/search/ranking-api:latest"'))
    follow(argo, forge, "ranking-api", ["alpha"], outcome="tgb")  # pods fine, the binding is not
    info = run(services, clock, services.workflow.submit_create(spec(envs=["devel", "alpha"]), ALICE).id)

    assert info.state == State.FAILED
    step = info.failed_step()
    assert step is not None and step.kind == "wait_deploy"
    error = step.error or ""
    assert re.search(r"devel: Degraded at \w{7}: Pod ranking-api-7d9c0: ImagePullBackOff: Back-off pulling image",
                     error), error
    assert "alpha: Degraded at" in error and ("TargetGroupBinding ranking-api: couldn't resolve target group: "
                                              "TargetGroupNotFound") in error
    assert LINK in error and "retry the request" in error


def test_a_sync_that_never_happens_fails_at_the_timeout_saying_where_it_stands(world: Any, tmp_path: Path) -> None:
    clock, forge, argo, _ = world
    services = build(tmp_path, argo, clock, forge, deploy_timeout_seconds=300)
    follow(argo, forge, "ranking-api", ["devel"], outcome="never")
    info = run(services, clock, services.workflow.submit_create(spec(), ALICE).id)

    assert info.state == State.FAILED
    error = info.failed_step().error or ""  # type: ignore[union-attr]
    assert error.startswith("not live after 5 min: devel: OutOfSync at"), error
    assert "no sync started yet" in error and LINK in error
    # retry starts the clock again (and succeeds once Argo CD syncs)
    argo.apps["search-ranking-api-devel"].outcome = "healthy"
    services.workflow.retry(info.id, ALICE)
    assert run(services, clock, info.id).state == State.SUCCEEDED


class _Health(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        ok = self.path == "/healthz" and self.headers["Host"] == "ranking-web.devel.example.com"
        self.send_response(200 if ok else 404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return


def test_web_services_are_probed_on_their_domain_and_unreachable_ones_say_skipped(world: Any,
                                                                                   tmp_path: Path) -> None:
    clock, forge, argo, recorder = world
    site = ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    threading.Thread(target=site.serve_forever, daemon=True).start()
    try:
        prober = HttpsProber(timeout=2, connect_to={
            "ranking-web.devel.example.com": f"http://127.0.0.1:{site.server_address[1]}",
            "ranking-web.alpha.example.com": "http://127.0.0.1:9"})  # nothing listens: unreachable
        services = build(tmp_path, argo, clock, forge, prober=prober, notifier=recorder)
        follow(argo, forge, "ranking-web", ["devel", "alpha"])
        data = spec("ranking-web", blueprint="web-service", envs=["devel", "alpha"])
        info = run(services, clock, services.workflow.submit_create(data, ALICE).id)
    finally:
        site.shutdown()
        site.server_close()
    assert info.state == State.SUCCEEDED, info.error
    final = progress(recorder)[-2]
    assert "devel: Healthy at" in final and "live at https://ranking-web.devel.example.com" in final
    assert ("probe of https://ranking-web.alpha.example.com/healthz skipped: LaunchPad cannot reach it "
            "(cannot connect (Connection refused))") in final


def test_delete_waits_until_argo_cd_has_pruned_the_workload(world: Any, tmp_path: Path) -> None:
    clock, forge, argo, recorder = world
    services = build(tmp_path, argo, clock, forge, notifier=recorder)
    apps = follow(argo, forge, "ranking-api", ["devel"], prune_seconds=120)
    assert run(services, clock, services.workflow.submit_create(spec(), ALICE).id).state == State.SUCCEEDED
    deleted = services.workflow.submit_delete("ranking-api", None, ALICE)
    kinds = [s.kind for s in deleted.steps]
    gitops = next(i for i, s in enumerate(deleted.steps) if s.repo == "gitops")  # after the infra PR that only
    assert kinds[gitops:gitops + 3] == ["open_pr", "wait_merge", "wait_prune"]  # makes ECR destroyable
    assert all(s.repo == "infra" and s.kind != "wait_prune" for s in deleted.steps[:gitops])

    wf = services.workflow
    while wf.run_pending("w") > 0:
        pass
    info = wf.get_request(deleted.id)
    assert info.current_step().kind == "wait_prune"  # type: ignore[union-attr]
    infra_prs = [p["key"] for p in pulls(forge.root).get("platform/infra-live.git", [])
                 if p["key"].startswith(f"{deleted.id}-")]
    assert infra_prs == [f"{deleted.id}-infra-1"]  # only the one making ECR destroyable: nothing under the
    # workload is removed while Argo CD still deletes it
    assert any("Argo CD is deleting search-ranking-api-devel" in t for t in progress(recorder))
    assert apps["devel"].deleting_since is not None and not apps["devel"].gone

    info = run(services, clock, deleted.id)
    assert info.state == State.SUCCEEDED
    assert "devel: search-ranking-api-devel and its resources are gone" in progress(recorder)
