"""Bulk changes: one SRE decision (a module version, the chart revision, a sidecar image, a GitHub Action
pin) applied to every service a selector matches, as one change set per repository.

The decision is recorded on each service as pins (`ServiceSpec.pins`), which every render applies, so the
service's next request keeps it instead of undoing it. A plan renders each matched service before and
after the pin, for the provisioners the change can affect only, and keeps only the files whose content
changes: the pull request shows exactly what moves, and its size follows the files, not the number of
services it was computed from. Pure: specs in, updated specs and change sets out; it never reads a
repository, the database or a forge.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, Field, ValidationError, model_validator

from provisioners import actions, terragrunt
from provisioners.bindings import Bindings
from provisioners.changeset import ChangeSet
from provisioners.errors import PermanentError
from provisioners.plan import CREATE_ORDER, PROVISIONERS, RenderContext
from provisioners.platform import STANDARD_ENVIRONMENTS, PlatformConfig
from provisioners.render import check_file
from provisioners.spec import SIDECARS, Pins, PinSet, ServiceSpec

ChangeKind = Literal["module_version", "chart_revision", "sidecar_image", "action_pin"]
# The provisioners whose output a pin of each kind can change; the others are not rendered at all.
AFFECTS: dict[str, tuple[str, ...]] = {
    "module_version": ("terragrunt",),
    "chart_revision": ("argocd",),
    "sidecar_image": ("argocd",),
    "action_pin": ("ci",),
}
SUMMARY_SERVICES = 50


class Selector(BaseModel):
    """Which services a bulk change applies to; every criterion given must hold (none: every service)."""

    model_config = {"extra": "forbid"}

    team: str | None = None
    blueprint: str | None = None
    environment: str | None = Field(default=None, description="only services with this environment, and the "
                                                               "change applies to that environment only")
    services: list[str] = Field(default_factory=list, description="only these services (by name)")

    def matches(self, spec: ServiceSpec) -> bool:
        return ((self.team is None or spec.team == self.team)
                and (self.blueprint is None or spec.blueprint == self.blueprint)
                and (self.environment is None or any(e.name == self.environment for e in spec.environments))
                and (not self.services or spec.name in self.services))

    def is_empty(self) -> bool:
        return self.team is None and self.blueprint is None and self.environment is None and not self.services

    def describe(self) -> str:
        parts = [f"team {self.team}" if self.team else "", f"blueprint {self.blueprint}" if self.blueprint else "",
                 f"environment {self.environment}" if self.environment else "",
                 f"services {', '.join(self.services)}" if self.services else ""]
        return ", ".join(p for p in parts if p) or "every service"


class BulkChange(BaseModel):
    """What to pin: `module_version` (target: a platform.modules key), `chart_revision` (no target),
    `sidecar_image` (target: nginx or filebeat) or `action_pin` (target: a key of the actions table, value
    TAG@SHA; the service's CI workflow, service-wide only)."""

    model_config = {"extra": "forbid"}

    kind: ChangeKind
    target: str = ""
    value: str

    @model_validator(mode="after")
    def _valid(self) -> BulkChange:
        if self.kind == "chart_revision" and self.target:
            raise ValueError("a chart revision change has no target; give only the revision, e.g. v1.1.0")
        if self.kind == "sidecar_image" and self.target not in SIDECARS:
            raise ValueError(f"sidecar {self.target!r} is not one of the chart's sidecars: {', '.join(SIDECARS)}")
        if self.kind == "module_version" and not self.target:
            raise ValueError("a module version change needs the module key, e.g. rds=7.3.0")
        if self.kind == "action_pin":
            problem = actions.pin_problem(self.target, self.value)
            if problem:
                raise ValueError(problem)
        try:  # the same rules as a pin in a spec
            self.pinned(PinSet())
        except ValidationError as exc:
            raise ValueError(exc.errors()[0]["msg"].removeprefix("Value error, ")) from None
        return self

    def describe(self) -> str:
        if self.kind == "module_version":
            return f"module {self.target} {self.value}"
        if self.kind == "chart_revision":
            return f"chart revision {self.value}"
        if self.kind == "action_pin":
            tag, _, sha = self.value.partition("@")
            return f"action {self.target} {tag} ({sha[:12]})"
        return f"{self.target} image {self.value}"

    def check(self, platform: PlatformConfig, environment: str | None = None) -> None:
        """Refuse a module key the infra packages do not use (PermanentError naming the ones they do), and an
        action pin for one environment (one workflow serves them all)."""
        if self.kind == "action_pin" and environment is not None:
            raise PermanentError(f"an action pin applies to the service's one CI workflow, which serves every "
                                 f"environment; drop --env {environment}")
        if self.kind == "module_version" and self.target not in terragrunt.pinnable_modules(platform):
            raise PermanentError(f"no infra package uses a module {self.target!r}; pin one of: "
                                 f"{', '.join(terragrunt.pinnable_modules(platform))}")

    def pinned(self, pins: PinSet) -> PinSet:
        """`pins` with this change set in them."""
        if self.kind == "module_version":
            return _with(pins, modules={**pins.modules, self.target: self.value})
        if self.kind == "chart_revision":
            return _with(pins, chart_revision=self.value)
        if self.kind == "action_pin":
            return _with(pins, actions={**pins.actions, self.target: self.value})
        sidecars = {str(k): v for k, v in pins.sidecars.items()} | {self.target: self.value}
        return _with(pins, sidecars=sidecars)

    def cleared(self, pins: PinSet) -> PinSet:
        """`pins` without this change's target (an environment's own pin yields to a service-wide change)."""
        if self.kind == "module_version":
            return _with(pins, modules={k: v for k, v in pins.modules.items() if k != self.target})
        if self.kind == "chart_revision":
            return _with(pins, chart_revision=None)
        if self.kind == "action_pin":
            return _with(pins, actions={k: v for k, v in pins.actions.items() if k != self.target})
        return _with(pins, sidecars={k: v for k, v in pins.sidecars.items() if k != self.target})

    def apply(self, spec: ServiceSpec, environment: str | None = None) -> ServiceSpec:
        """The spec with this change pinned: in one environment, or service-wide (then it also replaces
        the same pin in every environment, so the whole service ends on the new value)."""
        pins = spec.pins
        if environment is not None:
            own = pins.environments.get(environment, PinSet())
            envs = {**pins.environments, environment: self.pinned(own)}
            new = Pins(**pins.service_wide().model_dump(), environments=envs)
        else:
            wide = self.pinned(pins.service_wide())
            new = Pins(**wide.model_dump(), environments={e: self.cleared(p) for e, p in pins.environments.items()})
        return spec.model_copy(update={"pins": new})


@dataclass(frozen=True)
class BulkTarget:
    """A service as it is recorded now: its spec and the platform bindings its files were rendered with."""

    spec: ServiceSpec
    bindings: Bindings | None = None


@dataclass(frozen=True)
class ServiceChange:
    """One service a bulk change moves: its new spec and the files that change, per repository."""

    spec: ServiceSpec
    environments: list[str]
    files: dict[str, list[str]]  # repo -> paths written or deleted


class ServicePreview(BaseModel):
    service: str
    team: str
    environments: list[str]
    files: dict[str, list[str]] = Field(description="repository key -> paths that would change")


class BulkPreview(BaseModel):
    """What a bulk change would do (the dry run): plain data for the CLI and Slack."""

    selector: Selector
    change: BulkChange
    matched: int = Field(description="services the selector matched")
    services: list[ServicePreview] = Field(description="matched services whose files change")
    unchanged: list[str] = Field(default_factory=list, description="matched services already on this value")
    repositories: dict[str, int] = Field(default_factory=dict, description="repository key -> files in its PR")
    environments: list[str] = Field(default_factory=list)
    approvals: list[str] = Field(default_factory=list, description="why the request will wait for approval")
    busy: dict[str, str] = Field(default_factory=dict, description="service -> the request that holds its lock")

    @property
    def files(self) -> int:
        return sum(self.repositories.values())


@dataclass
class BulkPlan:
    selector: Selector
    change: BulkChange
    matched: list[str]
    changes: list[ServiceChange] = field(default_factory=list)
    changesets: list[ChangeSet] = field(default_factory=list)

    @property
    def unchanged(self) -> list[str]:
        moved = {c.spec.name for c in self.changes}
        return [name for name in self.matched if name not in moved]

    @property
    def environments(self) -> list[str]:
        return environment_order({e for c in self.changes for e in c.environments})

    def preview(self) -> BulkPreview:
        return BulkPreview(
            selector=self.selector, change=self.change, matched=len(self.matched),
            services=[ServicePreview(service=c.spec.name, team=c.spec.team, environments=c.environments,
                                     files=c.files) for c in self.changes],
            unchanged=self.unchanged, repositories={cs.repo: len(cs.paths) for cs in self.changesets},
            environments=self.environments)


def repository_key(repo: str, spec: ServiceSpec, platform: PlatformConfig) -> str:
    """The key a service's change set is merged under: the repository key for a shared repository (infra,
    values, gitops), `<key>/<service>` for a repository of each service's own (its configured name uses
    {service} or {team}, like the service repository), so each of those gets a pull request of its own."""
    configured = platform.repositories.get(repo)
    return f"{repo}/{spec.name}" if configured is not None and "{" in configured.name else repo


def base_key(key: str) -> str:
    """`service/ranking-web` -> `service`: the repository key in platform.repositories."""
    return key.split("/", 1)[0]


def plan_bulk(targets: list[BulkTarget], selector: Selector, change: BulkChange, ctx: RenderContext, *,
              repos: list[str] | None = None) -> BulkPlan:
    """The services `selector` matches among `targets`, each with `change` pinned, and one change set per
    repository holding only the files that change (`repos`: only these keys, e.g. the one a workflow step
    delivers; see `repository_key`). Raises PermanentError when the change cannot apply on this platform."""
    change.check(ctx.platform, selector.environment)
    matched = sorted((t for t in targets if selector.matches(t.spec)), key=lambda t: t.spec.name)
    plan = BulkPlan(selector=selector, change=change, matched=[t.spec.name for t in matched])
    merged: dict[str, ChangeSet] = {}
    for target in matched:
        new_spec = change.apply(target.spec, selector.environment)
        per_repo = _changed_files(target, new_spec, change, ctx, repos)
        if not per_repo:
            continue
        envs = environment_order({env for cs in per_repo for env in cs.environments})
        plan.changes.append(ServiceChange(spec=new_spec, environments=envs,
                                          files={cs.repo: cs.paths for cs in per_repo}))
        for cs in per_repo:
            merged[cs.repo] = merged[cs.repo].merge(cs) if cs.repo in merged else cs
    order = {PROVISIONERS[p].REPO: i for i, p in enumerate(CREATE_ORDER)}
    for repo in sorted(merged, key=lambda r: (order.get(base_key(r), len(order)), r)):
        cs = merged[repo]
        whom = repo.split("/", 1)[1] if "/" in repo else _count(plan.changes)  # a service's own repository
        plan.changesets.append(cs.model_copy(update={
            "title": f"Bulk change: {change.describe()} for {whom} ({selector.describe()})",
            "summary": _summary(plan, repo),
            "environments": environment_order(set(cs.environments)),
        }))
    return plan


def environment_order(envs: set[str]) -> list[str]:
    rank = {name: i for i, name in enumerate(STANDARD_ENVIRONMENTS)}
    return sorted(envs, key=lambda e: (rank.get(e, len(rank)), e))


# --- internals ---------------------------------------------------------------------------------------
def _with(pins: PinSet, **changes: object) -> PinSet:
    """`pins` with some fields replaced, validated like a pin in a spec."""
    fields: dict[str, object] = pins.model_dump(include=set(PinSet.model_fields))
    return PinSet.model_validate({**fields, **changes})



def _changed_files(target: BulkTarget, new_spec: ServiceSpec, change: BulkChange, ctx: RenderContext,
                   repos: list[str] | None) -> list[ChangeSet]:
    spec = target.spec
    if target.bindings is not None:
        ctx = dataclasses.replace(ctx, bindings=target.bindings)
    wanted = set(ctx.blueprint(spec).provisioners)
    out = []
    for provisioner in CREATE_ORDER:
        module = PROVISIONERS[provisioner]
        if provisioner not in AFFECTS[change.kind] or provisioner not in wanted:
            continue
        key = repository_key(module.REPO, spec, ctx.platform)
        if repos is not None and key not in repos:
            continue
        before, after = module.render(spec, ctx), module.render(new_spec, ctx)
        files = {path: content for path, content in after.files.items() if before.files.get(path) != content}
        deletes = sorted(set(before.files) - set(after.files))
        if not files and not deletes:
            continue
        for path, content in files.items():
            check_file(path, content)
        envs = [e.name for e in spec.environments]
        touched = {env for path in [*files, *deletes] for env in _environments_of(path, envs)}
        out.append(ChangeSet(repo=key, files=files, deletes=deletes, environments=sorted(touched), summary=""))
    return out


def _environments_of(path: str, envs: list[str]) -> list[str]:
    """The environment a file belongs to (a directory, or the file, named after it); all of them otherwise
    (a package shared by every environment, such as the ECR repository)."""
    parts = path.split("/")
    names = set(parts[:-1]) | {parts[-1].rsplit(".", 1)[0]}
    own = [e for e in envs if e in names]
    return own or envs


def _count(changes: list[ServiceChange]) -> str:
    return f"{len(changes)} service{'' if len(changes) == 1 else 's'}"


def _summary(plan: BulkPlan, repo: str) -> str:
    changes = [c for c in plan.changes if repo in c.files]
    where = plan.selector.environment
    lines = [f"Bulk change by SRE: **{plan.change.describe()}**"
             + (f" in {where}" if where else "") + f" for {_count(changes)} matching {plan.selector.describe()}.",
             "The value is recorded with each service (pins), so later requests keep it.", ""]
    for c in changes[:SUMMARY_SERVICES]:
        files = len(c.files[repo])
        lines.append(f"- `{c.spec.name}` (team {c.spec.team}; {', '.join(c.environments)}): "
                     f"{files} file{'' if files == 1 else 's'}")
    if len(changes) > SUMMARY_SERVICES:
        lines.append(f"- … and {len(changes) - SUMMARY_SERVICES} more")
    if plan.unchanged:
        lines += ["", f"{len(plan.unchanged)} other matching service(s) already use this value."]
    return "\n".join(lines)
