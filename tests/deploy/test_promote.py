"""Promotion on the local forge and the local Argo CD server: CI deploys devel only; devel -> alpha needs no
approval, -> prod waits for an SRE; the image must be Healthy (and running) upstream or the promotion is refused
with the reason; each promotion is one record; `status` shows which image runs where."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.workflow.api import NotAllowed, NotFound, State
from bot.workflow.clock import ManualClock
from provisioners.forge.local import LocalForge
from tests.deploy.support import TOKEN, VALUES, build, ci_deploys, follow, run, settle
from tests.support.argocd_server import ArgoCdServer
from tests.workflow.support import ALICE, SRE, spec

DIGEST = "sha256:" + "4" * 64


def image_of(forge: LocalForge, env: str) -> dict[str, str]:
    return dict(yaml.safe_load(forge.read_file(VALUES, f"teams/search/ranking-api/values-{env}.yaml") or "")["image"])


@pytest.fixture
def live(tmp_path: Path) -> Iterator[Any]:
    """ranking-api in devel, alpha and prod, deployed; then CI builds 3f2a9c1 and deploys it to devel."""
    clock = ManualClock()
    with ArgoCdServer(tokens={TOKEN: None}, clock=lambda: clock.now().timestamp()) as argo:
        forge = LocalForge(tmp_path / "repos")
        services = build(tmp_path, argo, clock, forge)
        apps = follow(argo, forge, "ranking-api", ["devel", "alpha", "prod"], bad_images={
            "111111111111.dkr.ecr.eu-west-1.amazonaws.com/search/ranking-api:broken"})
        wf = services.workflow
        info = run(services, clock, wf.submit_create(spec(envs=["devel", "alpha", "prod"]), ALICE).id)
        step = info.current_step()
        assert step is not None and step.kind == "approval"
        wf.decide(info.id, step.id, SRE, True)
        assert run(services, clock, info.id).state == State.SUCCEEDED
        ci_deploys(forge, "ranking-api", "devel", "3f2a9c1", DIGEST)
        settle(argo, clock)
        yield services, clock, forge, argo, apps
        assert argo.schema_errors == []


def test_devel_to_alpha_without_approval_prod_after_an_sre_and_every_refusal(live: Any) -> None:
    services, clock, forge, argo, _apps = live
    wf = services.workflow
    built = image_of(forge, "devel")
    assert built["tag"] == "3f2a9c1" and image_of(forge, "alpha")["tag"] == "latest"  # CI touched devel only
    with pytest.raises(NotAllowed, match="devel is ranking-api's first environment: CI deploys it"):
        wf.submit_promote("ranking-api", "devel", ALICE)
    with pytest.raises(NotFound, match="has no environment tmp-x1"):
        wf.submit_promote("ranking-api", "tmp-x1", ALICE)

    # devel -> alpha: no approval
    info = wf.submit_promote("ranking-api", "alpha", ALICE)
    assert [s.kind for s in info.steps] == ["open_pr", "wait_merge", "wait_deploy", "notify"]
    info = run(services, clock, info.id)
    assert info.state == State.SUCCEEDED, info.error
    assert image_of(forge, "alpha") == built  # tag and digest, copied as verified upstream
    assert image_of(forge, "prod")["tag"] == "latest"
    (record,) = wf.promotions("ranking-api")
    assert (record.source, record.target, record.digest, record.state) == ("devel", "alpha", DIGEST, State.SUCCEEDED)
    assert record.image.endswith(f"/search/ranking-api:3f2a9c1@{DIGEST}") and "Healthy at" in record.verified
    assert record.requested_by == ALICE.id
    assert "promotion.submitted" in [e.action for e in wf.audit("ranking-api")]
    with pytest.raises(NotAllowed, match=r"alpha already runs .*:3f2a9c1@sha256:4+; nothing to promote"):
        wf.submit_promote("ranking-api", "alpha", ALICE)

    where = {i.environment: i for i in wf.running_images("ranking-api")}
    assert where["alpha"].image.endswith(f":3f2a9c1@{DIGEST}") and where["alpha"].state.startswith("Healthy at")
    assert (where["prod"].declared or "").endswith(":latest")
    stored = {i.environment: i.image for i in wf.get_service("ranking-api").images}
    assert stored["alpha"].endswith(f":3f2a9c1@{DIGEST}")

    # -> prod waits for an SRE
    info = run(services, clock, wf.submit_promote("ranking-api", "prod", ALICE).id)
    step = info.current_step()
    assert step is not None and step.kind == "approval" and step.approver_group == "sre"
    assert image_of(forge, "prod")["tag"] == "latest"  # nothing merged before the decision
    with pytest.raises(NotAllowed):
        wf.decide(info.id, step.id, ALICE, True)
    wf.decide(info.id, step.id, SRE, True)
    assert run(services, clock, info.id).state == State.SUCCEEDED
    assert image_of(forge, "prod") == built

    # an image that is not Healthy upstream is refused with the reason, and nothing is written
    ci_deploys(forge, "ranking-api", "devel", "broken")
    settle(argo, clock)
    before = wf.list_requests(service="ranking-api")
    with pytest.raises(NotAllowed) as refused:
        wf.submit_promote("ranking-api", "alpha", ALICE)
    message = str(refused.value)
    assert message.startswith("cannot promote ")
    assert ":broken to alpha: it is not Healthy in devel (Degraded at" in message
    assert "ImagePullBackOff" in message and "https://argocd.example.com/applications/argocd/" in message
    assert wf.list_requests(service="ranking-api") == before and len(wf.promotions("ranking-api")) == 2
    assert image_of(forge, "alpha") == built

    # merged, but Argo CD has not synced it yet: not verified either
    ci_deploys(forge, "ranking-api", "devel", "9e8d7c6")
    argo.reconcile()
    with pytest.raises(NotAllowed, match=r"not Healthy in devel|runs .*, not the image its values file sets"):
        wf.submit_promote("ranking-api", "alpha", ALICE)
