"""What a request changes in each repository (pure): the renderers' change sets, plus for a change
request the files the previous spec rendered and the new one no longer does.

The workflow calls this twice: at submission (to lay out the steps) and when a step opens its pull
request (with the bindings resolved by then). Rendering is deterministic, so both agree, and a rerun
of a step delivers exactly the same content under the same forge key.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection
from typing import Any

from bot.workflow.api import RequestKind
from provisioners.bindings import Bindings
from provisioners.changeset import ChangeSet
from provisioners.errors import PermanentError
from provisioners.plan import RenderContext, plan, plan_delete
from provisioners.platform import PlatformConfig
from provisioners.spec import ServiceSpec, parse_spec


def load_spec(data: dict[str, Any], ctx: RenderContext) -> ServiceSpec:
    """A stored spec, validated again against today's platform (raises InvalidSpecError)."""
    return parse_spec(data, ctx.platform, ctx.blueprints, recorded=True)


def with_bindings(ctx: RenderContext, bindings: dict[str, Any] | None) -> RenderContext:
    if not bindings:
        return ctx
    return dataclasses.replace(ctx, bindings=Bindings.model_validate(bindings))


def request_changesets(kind: RequestKind, spec: ServiceSpec, ctx: RenderContext, *,
                       previous: ServiceSpec | None = None, environments: list[str] | None = None,
                       check: bool = True, repos: Collection[str] | None = None) -> list[ChangeSet]:
    """`check=False` skips parsing files back: for laying out steps, where only repositories count (the step
    that delivers renders again, with the checks). `repos` limits rendering to the repositories a step
    delivers; every change set of those repositories is still there, in the same order."""
    if kind == RequestKind.DELETE:
        return plan_delete(spec, ctx, environments, check=check, repos=repos)
    new = plan(spec, ctx, check=check, repos=repos)
    if previous is None:
        return new
    old = plan(previous, ctx, check=check, repos=repos)
    written: dict[str, set[str]] = {}
    for cs in new:
        written.setdefault(cs.repo, set()).update(cs.files)
    # files other services use too (a local module, root.hcl, the team's Argo CD files) stay, whatever this
    # service no longer needs: a web service turning worker must not delete every web service's module
    shared = {(cs.repo, p) for cs in (*old, *new) for p in cs.shared}
    out: list[ChangeSet] = []
    for cs in new:
        stale = {p for o in old if o.repo == cs.repo for p in o.files
                 if p not in written[cs.repo] and (cs.repo, p) not in shared}
        if stale:
            cs = cs.model_copy(update={"deletes": sorted(set(cs.deletes) | stale)})
        out.append(cs)
    for o in old:
        gone = sorted(p for p in o.files if (o.repo, p) not in shared)
        if o.repo not in written and gone:
            out.append(ChangeSet(repo=o.repo, deletes=gone, title=f"Remove {spec.name} from {o.repo}",
                                 summary=f"{spec.name} no longer uses this repository.",
                                 environments=o.environments))
    return out


def repository_for(platform: PlatformConfig, repo_key: str, spec: ServiceSpec) -> tuple[str, str]:
    """The forge's repository name and base branch for a change set's logical repository key."""
    repo = platform.repositories.get(repo_key)
    if repo is None:
        raise PermanentError(f"no repository is configured for {repo_key!r} change sets; add "
                             f"platform.repositories.{repo_key} to the settings")
    try:
        name = repo.name.format(team=spec.team, service=spec.name)
    except (KeyError, IndexError, ValueError):
        raise PermanentError(f"platform.repositories.{repo_key}.name {repo.name!r} may only use "
                             "{team} and {service}") from None
    return name, repo.base_branch
