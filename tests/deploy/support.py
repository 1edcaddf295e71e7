"""Test support for following deployments: the local Argo CD server wired to the local forge (each
Application appears when its gitops file is merged, follows the values repository's head and runs
the image its values file sets), services built on it, and a driver that moves the clock to each poll."""

from __future__ import annotations

import random
import subprocess
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select

from bot.services import Services, build_services
from bot.store import models as m
from bot.workflow.api import RequestInfo
from bot.workflow.clock import ManualClock
from bot.workflow.deploy import Prober
from provisioners import argocd, helm
from provisioners.forge.local import LocalForge
from provisioners.forge.router import StaticForgeRouter
from tests.support.argocd_server import ArgoCdServer, FakeApp
from tests.workflow.support import Recorder, settings_for

TOKEN = "argocd-test-token"
VALUES = "platform/k8s-values"
GITOPS = "platform/gitops"


def head(forge: LocalForge, repo: str) -> str:
    git_dir = forge.repo_path(repo)
    if not (git_dir / "HEAD").exists():
        return "0" * 40
    out = subprocess.run(["git", f"--git-dir={git_dir}", "rev-parse", "--verify", "-q", "main"],
                         capture_output=True, text=True, check=False)
    return out.stdout.strip() or "0" * 40


def values_image(forge: LocalForge, service: str, env: str) -> str:
    text = forge.read_file(VALUES, f"teams/search/{service}/values-{env}.yaml")
    if text is None:
        return "registry.local/none:0"
    return helm.image_reference(yaml.safe_load(text)["image"])


def follow(argo: ArgoCdServer, forge: LocalForge, service: str, envs: list[str], team: str = "search",
           **behaviour: Any) -> dict[str, FakeApp]:
    """One FakeApp per environment, driven by the forge's repositories as the ApplicationSet would be."""
    apps = {}
    for env in envs:
        config = f"teams/{team}/services/{service}/{env}.yaml"
        apps[env] = argo.add(FakeApp(
            name=argocd.application_name(team, service, env), project=team, workload=service,
            namespace=f"{team}-{env}",
            exists=lambda c=config: forge.read_file(GITOPS, c) is not None,  # type: ignore[misc]
            revision=lambda: head(forge, VALUES),
            image=lambda e=env: values_image(forge, service, e),  # type: ignore[misc]
            **behaviour))
    return apps


def build(tmp_path: Path, argo: ArgoCdServer | None, clock: ManualClock, forge: LocalForge, *,
          prober: Prober | None = None, notifier: Recorder | None = None, **overrides: Any) -> Services:
    values: dict[str, Any] = {"deploy_poll_seconds": 10.0, "deploy_poll_max_seconds": 60.0,
                              "deploy_timeout_seconds": 900, "prune_timeout_seconds": 600}
    if argo is not None:
        values["argocd"] = {"default": {"url": argo.url, "token": TOKEN, "ui_url": "https://argocd.example.com"}}
    values.update(overrides)
    settings = settings_for(tmp_path, f"sqlite:///{tmp_path / 'launchpad.db'}", **values)
    return build_services(settings, notifier, forges=StaticForgeRouter(forge), clock=clock, rng=random.Random(7),
                          prober=prober)


def run(services: Services, clock: ManualClock, request_id: int, *, max_polls: int = 200,
        until: str | None = None) -> RequestInfo:
    """Run the worker, moving the clock to each poll, until the request finishes, waits for a person, or
    (`until`) polls a step of that kind for the first time."""
    wf = services.workflow
    for _ in range(max_polls):
        while wf.run_pending("test-worker") > 0:
            pass
        info = wf.get_request(request_id)
        step = info.current_step()
        if info.state.finished or step is None or step.kind in ("approval", until):
            return info
        with services.store.session() as s:
            due = s.scalar(select(m.Step.run_after).where(m.Step.id == step.id))
        clock.set(max(due or clock.now(), clock.now() + timedelta(seconds=1)))
    raise AssertionError(f"request #{request_id} did not finish: {wf.get_request(request_id)}")


def settle(argo: ArgoCdServer, clock: ManualClock, seconds: float = 300, step: float = 10) -> None:
    """Let Argo CD work for `seconds` of simulated time (CI merged something; nobody is polling)."""
    for _ in range(int(seconds // step)):
        argo.reconcile()
        clock.advance(seconds=step)
    argo.reconcile()


def ci_deploys(forge: LocalForge, service: str, env: str, tag: str, digest: str | None = None) -> str:
    """What the generated CI workflow's yq edit does: set the image of one environment, commit to main."""
    path = f"teams/search/{service}/values-{env}.yaml"
    data = yaml.safe_load(forge.read_file(VALUES, path) or "{}")
    data["image"] = {"repository": data["image"]["repository"], "tag": tag, **({"digest": digest} if digest else {})}
    header = "".join(line for line in (forge.read_file(VALUES, path) or "").splitlines(keepends=True)
                     if line.startswith("#"))
    text = header + yaml.safe_dump(data, sort_keys=False)  # yq keeps comments, re-emits in its own style
    return forge.commit_files(VALUES, {path: text}, message=f"{service}: deploy image {tag} to {env}")


def progress(recorder: Recorder) -> list[str]:
    return [text for kind, text in recorder.events if kind == "step_progress"]

