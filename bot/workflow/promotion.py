"""Promotion: the image that is Healthy in one environment moves to the next, as a request of its own.

Kargo's idea, reduced to what LaunchPad needs: the artifact is pinned (repository, tag and — where CI
recorded it — digest, copied from the source environment's values file), the source is verified
before anything is written (its Application Synced and Healthy in Argo CD and running exactly that
image), and each promotion is one persisted record (`promotions` row + the request's thread). The
target takes the image through a values pull request under the approval policy (prod: an SRE by
default) and is followed to Healthy like any request. This module also reads back the values files
a change request must keep (what CI and developers own): renderers stay pure, and this is the one
place a values step reads the repository.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from bot.workflow.api import EnvironmentImage, NotAllowed, NotFound, RequestKind
from bot.workflow.changes import repository_for
from bot.workflow.deploy import NOT_CONFIGURED, DeployStatus, assess, service_image
from bot.workflow.policy import RequestFacts
from provisioners import argocd, helm, release
from provisioners.changeset import ChangeSet
from provisioners.errors import InvalidSpecError, LaunchPadError
from provisioners.forge.router import ForgeRoutes
from provisioners.plan import RenderContext
from provisioners.platform import PlatformConfig
from provisioners.spec import ServiceSpec

VALUES_REPO = helm.REPO


# --- reading back what CI and developers own ----------------------------------------------------------
def with_current_values(ctx: RenderContext, spec: ServiceSpec, forges: ForgeRoutes,
                        environments: Sequence[str] | None = None) -> RenderContext:
    """`ctx` with the service's values files as the values repository holds them on its base branch."""
    name, base = repository_for(ctx.platform, VALUES_REPO, spec)
    envs = list(environments) if environments is not None else [e.name for e in spec.environments]
    forge = forges.forge_for(name, envs)
    paths = [helm.values_file(spec, ctx), *(helm.environment_file(spec, ctx, env) for env in envs)]
    current = {}
    for path in paths:
        text = forge.read_file(name, path, base)
        if text is not None:
            current[path] = text
    return dataclasses.replace(ctx, current={**ctx.current, **current})


def refuse_owned_changes(spec: ServiceSpec, previous: ServiceSpec | None, platform: PlatformConfig) -> None:
    """A change request may not move what CI and promotions own: a new `image` in the spec would have to
    overwrite every environment's running image. Leaving it out (or unchanged) keeps them."""
    if previous is None or spec.image is None or spec.image == previous.image:
        return
    raise InvalidSpecError({"image": (
        f"{spec.name} exists: its image per environment belongs to CI (which deploys "
        f"{release.first_environment([e.name for e in spec.environments], platform)}) and to promotions, "
        "not to a change request, which would overwrite what runs everywhere; push to the service repository to "
        f"build a new image, then `launchpad promote {spec.name} ENV` (remove `image` or keep "
        f"{previous.image or 'it unset'})")})


# --- promotion ------------------------------------------------------------------------------------------
def source_of(spec: ServiceSpec, target: str, ctx: RenderContext) -> str:
    """The environment `target` is promoted from, or NotAllowed/NotFound saying why there is none."""
    envs = [e.name for e in spec.environments]
    if target not in envs:
        raise NotFound(f"{spec.name} has no environment {target}; it has: {', '.join(envs)}")
    if target not in ctx.platform.environment_order:
        raise NotAllowed(f"{target} is temporary: it takes its base environment's image when it is created, and "
                         "is never a promotion target")
    source = release.promoted_from(target, envs, ctx.platform)
    if source is None:
        raise NotAllowed(f"{target} is {spec.name}'s first environment: CI deploys it (push to the service "
                         "repository); promote from there to the next one")
    return source


def candidate(spec: ServiceSpec, ctx: RenderContext, target: str, forges: ForgeRoutes,
              status: DeployStatus) -> dict[str, Any]:
    """What a promotion to `target` would copy, verified: the source environment's image, Synced and Healthy
    in Argo CD and running. Raises NotAllowed with the reason when it is not. Returns the request's params."""
    source = source_of(spec, target, ctx)
    current = with_current_values(ctx, spec, forges, [source, target])
    image = helm.environment_image(spec, current, source)
    wanted = helm.image_reference(image)
    running_target = helm.current_values(current, helm.environment_file(spec, current, target)) or {}
    if running_target.get("image") == image:
        raise NotAllowed(f"{target} already runs {wanted}; nothing to promote")
    if not status.configured(source):
        raise NotAllowed(f"cannot promote to {target}: Argo CD is not configured for {source}, so LaunchPad cannot "
                         f"check that {wanted} is Healthy there (docs/argocd.md)")
    app = argocd.application_name(spec.team, spec.name, source)
    found = status.application(source, app, spec.team)
    link = status.link(source, app)
    if found is None:
        raise NotAllowed(f"cannot promote {wanted} to {target}: Argo CD has no Application {app} in {source} "
                         f"({link})")
    result = assess(found, None, expected=None, merged_at=None)
    if result.phase != "healthy":
        tree = status.resource_tree(source, app, spec.team)
        result = assess(found, tree, expected=None, merged_at=None)
        raise NotAllowed(f"cannot promote {wanted} to {target}: it is not Healthy in {source} ({result.detail}; "
                         f"{link}); fix {source} first")
    running = service_image(result.images, repositories(spec, ctx)) or ""
    if not _same_image(running, image):
        raise NotAllowed(f"cannot promote {wanted} to {target}: {source} runs {running or 'another image'}, not "
                         f"the image its values file sets; wait until Argo CD has synced {source} ({link})")
    return {"source": source, "target": target, "image": wanted, "image_values": image,
            "digest": image.get("digest"), "revision": result.revision,
            "verified": f"{source}: {result.detail}, running {running}"}


def running(spec: ServiceSpec, ctx: RenderContext, forges: ForgeRoutes, status: DeployStatus) -> list[EnvironmentImage]:
    """Per environment: the image its values file sets and, where Argo CD is configured, what runs."""
    envs = release.ordered([e.name for e in spec.environments], ctx.platform)
    current = with_current_values(ctx, spec, forges)
    out = []
    for env in envs:
        declared = helm.image_reference(helm.environment_image(spec, current, env))
        if not status.configured(env):
            out.append(EnvironmentImage(environment=env, image=declared, declared=declared, state=NOT_CONFIGURED))
            continue
        app = argocd.application_name(spec.team, spec.name, env)
        link = status.link(env, app)
        try:
            found = status.application(env, app, spec.team)
        except LaunchPadError as exc:  # a status page shows what it can; the error is the state
            out.append(EnvironmentImage(environment=env, image="", declared=declared, state=f"unknown: {exc}",
                                        link=link))
            continue
        if found is None:
            out.append(EnvironmentImage(environment=env, image="", declared=declared, state="no Application yet",
                                        link=link))
            continue
        result = assess(found, None, expected=None, merged_at=None)
        image = service_image(result.images, repositories(spec, ctx)) or ""
        out.append(EnvironmentImage(environment=env, image=image, declared=declared, state=result.detail,
                                    revision=result.revision, link=link))
    return out


def changeset(spec: ServiceSpec, ctx: RenderContext, params: dict[str, Any]) -> ChangeSet:
    return helm.render_promotion(spec, ctx, str(params["target"]), dict(params["image_values"]))


def placeholder(spec: ServiceSpec, target: str) -> ChangeSet:
    """The promotion's change set as the step layout sees it (content is rendered by its open_pr step)."""
    return ChangeSet(repo=VALUES_REPO, environments=[target], title=f"{spec.name}: promote to {target}")


def facts(target: str) -> RequestFacts:
    """A promotion adds nothing but an image in one environment: only environment rules apply."""
    return RequestFacts(kind=RequestKind.PROMOTE, environments=[target])


def repositories(spec: ServiceSpec, ctx: RenderContext) -> list[str]:
    """Image repositories of the app container (the sidecars have others)."""
    platform = ctx.platform
    ecr = f"{platform.registry_host()}/{spec.names(platform.artifact_environment, platform).ecr_repository}"
    return list(dict.fromkeys([helm.initial_image(spec, ctx)["repository"], ecr]))


def _same_image(running: str, image: dict[str, str]) -> bool:
    """Argo CD lists images as the pod specs name them: repository:tag, with @digest when pinned."""
    tagged = f"{image['repository']}:{image['tag']}"
    return running in (tagged, helm.image_reference(image)) or (
        bool(image.get("digest")) and running == f"{image['repository']}@{image['digest']}")

