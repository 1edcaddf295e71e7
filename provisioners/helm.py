"""Per-service Helm values in the values repository: the developer-owned half of a deployment.

`teams/<team>/<service>/values.yaml` (`platform.values_path`) holds what is the same in every
environment (description, port, health check) and `values-<env>.yaml` what differs (the image,
replicas, cpu and memory). The image is per environment so that CI's build reaches only the first
environment and every other one changes only by promotion, through the approval policy. Only keys the
chart's developer schema allows are written, and each file is checked against that schema before it
leaves. The repository's notes and CODEOWNERS (per-team paths, see `provisioners.ownership`) and a
README per service folder come with every change set. AWS bindings (target group, security group,
role) never appear here: the team's ApplicationSet passes them from the platform-owned gitops
repository (see `provisioners.argocd` and docs/chart.md). YAML is built from Python data with
`to_yaml`; no user text is spliced into a template.

What CI, promotions and developers own (`CI_OWNED`, `DEVELOPER_OWNED`) is never rendered from the
spec once a file exists: the delivering step reads the files back (`RenderContext.current`) and the
renderer keeps those keys as they are; a file whose data would not change is kept byte for byte.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import yaml

from provisioners import ownership
from provisioners.changeset import ChangeSet
from provisioners.context import per_platform
from provisioners.errors import PermanentError
from provisioners.k8s import ManifestError, validate_developer_values
from provisioners.ownership import FileRow, Rule
from provisioners.release import promoted_from
from provisioners.render import GeneratedFileError, to_yaml
from provisioners.spec import ServiceSpec, resolved, resources_for, split_image

if TYPE_CHECKING:
    from provisioners.context import RenderContext

REPO = "values"
# The chart's nginx sidecar: the pod port the Service, the TargetGroupBinding and so the ALB (traffic
# and health checks) reach. The pod security group must admit the ALB on this port, not the app's.
PROXY_PORT = 8081
# Until CI pushes the first build, a service without an explicit image points at this tag of its
# own ECR repository; the CI workflow replaces it with the built tag.
BOOTSTRAP_TAG = "latest"
# values-<env>.yaml keys that CI (first environment) and promotions (the others) own: a request writes
# them when it creates the file, and never again.
CI_OWNED = ("image",)
# Keys developers edit by hand in the values repository (any file); LaunchPad never writes them.
DEVELOPER_OWNED = ("env",)


def values_dir(spec: ServiceSpec, ctx: RenderContext) -> str:
    return ctx.platform.values_path.format(service=spec.name, team=spec.team)


def values_file(spec: ServiceSpec, ctx: RenderContext) -> str:
    return f"{values_dir(spec, ctx)}/values.yaml"


def environment_file(spec: ServiceSpec, ctx: RenderContext, env: str) -> str:
    return f"{values_dir(spec, ctx)}/values-{env}.yaml"


def readme_file(spec: ServiceSpec, ctx: RenderContext) -> str:
    return f"{values_dir(spec, ctx)}/{ownership.README_FILE}"


def render(spec: ServiceSpec, ctx: RenderContext) -> ChangeSet:
    envs = [e.name for e in spec.environments]
    per_env = {env: environment_values(spec, ctx, env) for env in envs}
    documents = {values_file(spec, ctx): ("shared by every environment", shared_values(spec, ctx))}
    for env, values in per_env.items():
        documents[environment_file(spec, ctx, env)] = (f"{env} only; overrides values.yaml", values)
    files = {}
    for path, (scope, data) in documents.items():
        current = current_values(ctx, path)
        data = _kept(data, current)
        _check(path, data, ctx)  # to_yaml round-trips data exactly (tests/test_escaping_yaml.py)
        files[path] = ctx.current[path] if current == data else _document(spec, scope, data)
    files[readme_file(spec, ctx)] = _service_readme(spec, ctx)
    common = shared_files(ctx)
    files.update(common)
    return ChangeSet(
        repo=REPO,
        files=files,
        title=f"{spec.name}: Helm values for {', '.join(envs)}",
        summary=_summary(spec, ctx, per_env),
        environments=envs,
        shared=sorted(common),  # the repository's README and CODEOWNERS: no one service removes them
    )


def render_delete(spec: ServiceSpec, ctx: RenderContext, envs: list[str]) -> list[ChangeSet]:
    """Remove the values of `envs`; values.yaml goes only with the last environment of the service."""
    all_envs = {e.name for e in spec.environments}
    deletes = [environment_file(spec, ctx, env) for env in envs]
    if all_envs <= set(envs):
        deletes += [values_file(spec, ctx), readme_file(spec, ctx)]
    if not deletes:
        return []
    return [ChangeSet(
        repo=REPO,
        deletes=deletes,
        title=f"{spec.name}: remove Helm values for {', '.join(envs)}",
        summary="Removes the developer values of " + ", ".join(f"`{env}`" for env in envs)
                + (" and the shared `values.yaml` and README (last environment)." if all_envs <= set(envs) else "."),
        environments=sorted(envs),
    )]


# --- values (pure data; tests combine them with the platform block and render the chart) ------------
def shared_values(spec: ServiceSpec, ctx: RenderContext) -> dict[str, Any]:
    """values.yaml: the developer keys that are the same in every environment."""
    r = resolved(spec, ctx.blueprint(spec))
    data: dict[str, Any] = {}
    if spec.description:  # free text: to_yaml quotes it, the chart re-quotes it into the annotation
        data["description"] = spec.description
    data["port"] = r["port"]
    data["healthCheckPath"] = r["health_check_path"]
    return data


def environment_values(spec: ServiceSpec, ctx: RenderContext, env: str) -> dict[str, Any]:
    """values-<env>.yaml: what differs per environment (replicas; cpu and memory, falling back to the
    service's and then the blueprint's)."""
    blueprint = ctx.blueprint(spec)
    replicas = spec.environment(env).replicas
    return {"image": environment_image(spec, ctx, env),
            "replicas": replicas if replicas is not None else blueprint.replicas_for(env),
            "resources": resources_for(spec, blueprint, env)}


def environment_image(spec: ServiceSpec, ctx: RenderContext, env: str) -> dict[str, str]:
    """The image `env` runs: what its values file already says (CI's or a promotion's), else — a new
    environment — what the environment it is promoted from runs, else the spec's initial image."""
    own = current_values(ctx, environment_file(spec, ctx, env))
    if own is not None and "image" in own:
        return dict(own["image"])
    shared = current_values(ctx, values_file(spec, ctx))
    if shared is not None and "image" in shared:  # written before images moved per environment
        return dict(shared["image"])
    source = promoted_from(env, [e.name for e in spec.environments], ctx.platform)
    upstream = current_values(ctx, environment_file(spec, ctx, source)) if source else None
    if upstream is not None and "image" in upstream:
        return dict(upstream["image"])
    return initial_image(spec, ctx)


def current_values(ctx: RenderContext, path: str) -> dict[str, Any] | None:
    """A values file as the repository holds it now (None when absent or not read)."""
    text = ctx.current.get(path)
    if text is None:
        return None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PermanentError(f"{path} in the values repository does not parse as YAML ({exc}); fix the file by "
                             "hand, then retry the request") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise PermanentError(f"{path} in the values repository is not a mapping of values; fix the file by hand, "
                             "then retry the request")
    return data


def render_promotion(spec: ServiceSpec, ctx: RenderContext, env: str, image: dict[str, str]) -> ChangeSet:
    """values-<env>.yaml with `image` and every other key as the repository holds it."""
    path = environment_file(spec, ctx, env)
    current = current_values(ctx, path)
    if current is None:
        raise PermanentError(f"{path} is missing from the values repository; submit {spec.name}'s spec again "
                             f"(launchpad new) to restore {env}, then promote")
    data = {"image": dict(image), **{k: v for k, v in current.items() if k != "image"}}
    _check(path, data, ctx)
    text = ctx.current[path] if data == current else _document(spec, f"{env} only; overrides values.yaml", data)
    shown = image_reference(image)
    return ChangeSet(repo=REPO, files={path: text}, environments=[env],
                     title=f"{spec.name}: promote {shown} to {env}",
                     summary=f"Promotes `{shown}` to `{env}` of `{spec.name}`: only `image` in `{path}` changes.")


def image_reference(image: dict[str, str]) -> str:
    """repository:tag[@digest], as a container runtime pulls it."""
    ref = f"{image.get('repository', '')}:{image.get('tag', '')}"
    return f"{ref}@{image['digest']}" if image.get("digest") else ref


def _kept(data: dict[str, Any], current: dict[str, Any] | None) -> dict[str, Any]:
    """`data` plus the developer-owned keys the file already has (CI-owned ones are read back by
    `environment_image`)."""
    if current is None:
        return data
    return {**data, **{k: current[k] for k in DEVELOPER_OWNED if k in current}}


def initial_image(spec: ServiceSpec, ctx: RenderContext) -> dict[str, str]:
    """The image a new service starts with: the spec's, else its own ECR repository at the bootstrap tag."""
    if spec.image is None:  # the service's own ECR repository, shared by all its environments
        platform = ctx.platform
        repository = spec.names(platform.artifact_environment, platform).ecr_repository
        return {"repository": f"{platform.registry_host()}/{repository}", "tag": BOOTSTRAP_TAG}
    repository, tag, digest = split_image(spec.image)
    image = {"repository": repository, "tag": tag or "latest"}
    if digest:
        image["digest"] = digest
    return image


def _document(spec: ServiceSpec, scope: str, data: dict[str, Any]) -> str:
    header = (
        f"# Helm values of {spec.name} (team {spec.team}): {scope}.\n"
        "# Developer-owned: only the keys of the chart's developer schema are allowed here.\n"
        "# `image` is set by CI (first environment) and `launchpad promote` (the others), `env` by hand; LaunchPad\n"
        "# requests keep both and rewrite the other keys (docs/chart.md, 'Who owns which value').\n"
        "# AWS bindings (target group, security groups, IAM role) are set by the platform via Argo CD.\n"
    )
    return header + to_yaml(data)


def _check(path: str, data: dict[str, Any], ctx: RenderContext) -> None:
    try:
        validate_developer_values(data, path, ctx.templates_dir / "chart")
    except ManifestError as exc:
        raise GeneratedFileError(f"generated {path} breaks the chart's developer schema: {exc}") from exc


def _summary(spec: ServiceSpec, ctx: RenderContext, per_env: dict[str, dict[str, Any]]) -> str:
    r = resolved(spec, ctx.blueprint(spec))
    lines = [f"Helm values for `{spec.name}` on the SRE chart: port {r['port']}, "
             f"health check `{r['health_check_path']}`."]
    for env, values in per_env.items():
        lines.append(f"- `{env}`: {values['replicas']} replica(s), {values['resources']['cpu']} CPU / "
                     f"{values['resources']['memory']} memory, image `{image_reference(values['image'])}`")
    return "\n".join(lines)


# --- ownership (README, CODEOWNERS) -------------------------------------------------------------------
def codeowners_rules(ctx: RenderContext) -> list[Rule]:
    platform = ctx.platform
    return [Rule("*", ownership.sre(platform), "everything else: LAUNCHPAD.md, CODEOWNERS"),
            *ownership.team_rules(platform.values_path, platform,
                                  what="its services' developer values (image, replicas, resources, env)")]


@per_platform
def shared_files(ctx: RenderContext) -> dict[str, str]:
    """The repository's README and CODEOWNERS: the same from every service's change set."""
    platform = ctx.platform
    rules = codeowners_rules(ctx)
    note = "" if "{team}" in platform.values_path else ownership.no_team_segment("values_path")
    sre = ownership.owners_text(ownership.sre(platform))
    readme = ownership.repository_readme(
        ctx, title="Helm values of LaunchPad services",
        intro=["Developer-owned values of every service on the SRE chart: what Argo CD hands Helm besides the "
               "platform block (AWS bindings), which comes from the gitops repository and always wins."],
        edits="Written by LaunchPad with each request for a service; the keys it does not set (such as `env`) "
              "are the team's to edit.",
        layout=[FileRow(ownership.example_path(platform.values_path) + "/values.yaml",
                        "the same in every environment: description, port, health check", "the team"),
                FileRow(ownership.example_path(platform.values_path) + "/values-<env>.yaml",
                        "one environment: image, replicas, cpu and memory (and anything else that differs)",
                        "the team"),
                FileRow(ownership.CODEOWNERS_FILE, "who reviews what", sre)],
        rules=rules,
        changes=["Replicas, cpu, memory, port or health check: a LaunchPad request for the service (`/launchpad new` "
                 "in Slack or `launchpad new SPEC.yaml`); it writes these files again.",
                 "`env` and other values LaunchPad does not set: a pull request on the service's files, reviewed by "
                 "the team; only the keys of the chart's developer schema are accepted.",
                 "The image: the service's CI workflow proposes each build for the first environment; the others get "
                 "it by promotion (`launchpad promote SERVICE ENV`).",
                 "The chart itself (probes, sidecars, security settings): SRE, with a chart release."])
    return {ownership.REPOSITORY_NOTES: readme,
            ownership.CODEOWNERS_FILE: ownership.codeowners(rules, platform, note)}


def _service_readme(spec: ServiceSpec, ctx: RenderContext) -> str:
    """The same whatever environments the service has, so removing one leaves it as it was."""
    team = ownership.owners_text(ownership.team_owners(spec.team, ctx.platform))
    files = [FileRow("values.yaml", "the same in every environment: description, port, health check", team),
             FileRow("values-<env>.yaml", "one environment: image, replicas, cpu and memory", team)]
    return ownership.folder_readme(
        ctx, title=f"{spec.name}: Helm values (team {spec.team})",
        intro=[f"The developer values of `{spec.name}` on the SRE chart, one file per environment. Argo CD reads them "
               "for the service's Applications and adds the platform block (AWS bindings) from the gitops repository."],
        files=files,
        changes=["Replicas, cpu, memory, port, health check or environments: a LaunchPad request for the service.",
                 "Environment variables (`env`): edit `values.yaml` or `values-<env>.yaml` in a pull request.",
                 "The image: the service's CI workflow proposes each build for the first environment in a pull "
                 "request; the other environments get it by promotion (`launchpad promote`).",
                 "Keys outside the chart's developer schema are refused; ask SRE for chart changes."])
