"""Plan a request: run each provisioner the blueprint names and check every file before it leaves.

Providers are listed by hand in `PROVISIONERS` (one place, duplicates impossible); order matters:
creation goes infra -> values -> gitops -> service repo, deletion the other way round, with IAM last.
"""

from __future__ import annotations

from collections.abc import Collection
from types import ModuleType

from provisioners import argocd, ci, helm, terragrunt
from provisioners.changeset import ChangeSet
from provisioners.context import RenderContext as RenderContext  # re-exported: callers plan with it
from provisioners.render import check_file
from provisioners.spec import ServiceSpec, parse_spec

# provisioner id -> module with render(spec, ctx) -> ChangeSet and render_delete(spec, ctx, envs) -> list
PROVISIONERS: dict[str, ModuleType] = {
    "terragrunt": terragrunt,
    "helm": helm,
    "argocd": argocd,
    "ci": ci,
}
CREATE_ORDER = ("terragrunt", "helm", "argocd", "ci")
DELETE_ORDER = ("argocd", "helm", "ci", "terragrunt")  # IAM (in terragrunt's last change set) goes last


def plan(spec: ServiceSpec, ctx: RenderContext, *, check: bool = True,
         repos: Collection[str] | None = None) -> list[ChangeSet]:
    """Change sets that create (or update) the service, in delivery order.

    `check` parses every file back (the default); laying out steps and benchmarks may skip it.
    `repos` renders only those repositories' provisioners (a step delivers one repository).
    """
    wanted = _wanted(spec, ctx, repos)
    changesets = [PROVISIONERS[p].render(spec, ctx) for p in CREATE_ORDER if p in wanted]
    return [_checked(cs) if check else cs for cs in changesets if not cs.is_empty()]


def plan_delete(spec: ServiceSpec, ctx: RenderContext, envs: list[str] | None = None, *,
                check: bool = True, repos: Collection[str] | None = None) -> list[ChangeSet]:
    """Change sets that remove exactly what `plan` created for `envs` (all when None), in teardown order."""
    envs = envs or [e.name for e in spec.environments]
    wanted = _wanted(spec, ctx, repos)
    # what resists a destroy (ECR images, prod database protection, bucket contents) is changed first
    out: list[ChangeSet] = terragrunt.render_prepare_delete(spec, ctx, envs) if "terragrunt" in wanted else []
    for p in DELETE_ORDER:
        if p in wanted:
            out.extend(PROVISIONERS[p].render_delete(spec, ctx, envs))
    return [_checked(cs) if check else cs for cs in out if not cs.is_empty()]


def _wanted(spec: ServiceSpec, ctx: RenderContext, repos: Collection[str] | None) -> set[str]:
    wanted: set[str] = set(ctx.blueprint(spec).provisioners)
    if repos is None:
        return wanted
    return {p for p in wanted if PROVISIONERS[p].REPO in repos}


def _checked(cs: ChangeSet) -> ChangeSet:
    for path, content in cs.files.items():
        check_file(path, content)
    return cs


def warm(ctx: RenderContext) -> list[str]:
    """Render and check a stand-in service of every blueprint once, so a serving process pays for its
    one-time work (parsing the vendored CRDs, building validators, compiling templates) before its first
    request instead of inside a burst of them. Returns what could not be warmed (the platform settings
    may not fit the stand-in); it never raises."""
    problems = []
    envs = [e for e in ctx.platform.environment_order if e in ctx.platform.environments][:1]
    team = next(iter(ctx.platform.teams), None)
    for blueprint in ctx.blueprints.all():
        try:
            spec = parse_spec({"name": "launchpad-warmup", "team": team, "blueprint": blueprint.id,
                               "environments": [{"name": e} for e in envs]}, ctx.platform, ctx.blueprints)
            plan(spec, ctx)
        except Exception as exc:  # a warm-up is an optimisation: report it, never stop a server for it
            problems.append(f"{blueprint.id}: {type(exc).__name__}: {exc}")
    return problems
