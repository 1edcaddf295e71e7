"""Per-service Helm values in the values repository: the developer-owned half of a deployment.

`services/<service>/values.yaml` holds what is the same in every environment (description, image,
port, health check, resources) and `values-<env>.yaml` what differs (replicas). Only keys the
chart's developer schema allows are written, and each file is checked against that schema before it
leaves. AWS bindings (target group, security group, role) never appear here: the team's
ApplicationSet passes them from the platform-owned gitops repository (see `provisioners.argocd` and
docs/chart.md). YAML is built from Python data with `to_yaml`; no user text is spliced into a template.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from provisioners.changeset import ChangeSet
from provisioners.k8s import ManifestError, validate_developer_values
from provisioners.render import GeneratedFileError, to_yaml
from provisioners.spec import IMAGE, ServiceSpec, resolved

if TYPE_CHECKING:
    from provisioners.context import RenderContext

REPO = "values"
# The chart's nginx sidecar: the pod port the Service, the TargetGroupBinding and so the ALB (traffic
# and health checks) reach. The pod security group must admit the ALB on this port, not the app's.
PROXY_PORT = 8081
# Until CI pushes the first build, a service without an explicit image points at this tag of its
# own ECR repository; the CI workflow replaces it with the built tag.
BOOTSTRAP_TAG = "latest"


def values_dir(spec: ServiceSpec, ctx: RenderContext) -> str:
    return ctx.platform.values_path.format(service=spec.name, team=spec.team)


def values_file(spec: ServiceSpec, ctx: RenderContext) -> str:
    return f"{values_dir(spec, ctx)}/values.yaml"


def environment_file(spec: ServiceSpec, ctx: RenderContext, env: str) -> str:
    return f"{values_dir(spec, ctx)}/values-{env}.yaml"


def render(spec: ServiceSpec, ctx: RenderContext) -> ChangeSet:
    envs = [e.name for e in spec.environments]
    documents = {values_file(spec, ctx): ("shared by every environment", shared_values(spec, ctx))}
    for env in envs:
        documents[environment_file(spec, ctx, env)] = (f"{env} only; overrides values.yaml",
                                                        environment_values(spec, ctx, env))
    files = {}
    for path, (scope, data) in documents.items():
        _check(path, data, ctx)  # to_yaml round-trips data exactly (tests/test_escaping_yaml.py)
        files[path] = _document(spec, scope, data)
    return ChangeSet(
        repo=REPO,
        files=files,
        title=f"{spec.name}: Helm values for {', '.join(envs)}",
        summary=_summary(spec, ctx, envs),
        environments=envs,
    )


def render_delete(spec: ServiceSpec, ctx: RenderContext, envs: list[str]) -> list[ChangeSet]:
    """Remove the values of `envs`; values.yaml goes only with the last environment of the service."""
    all_envs = {e.name for e in spec.environments}
    deletes = [environment_file(spec, ctx, env) for env in envs]
    if all_envs <= set(envs):
        deletes.append(values_file(spec, ctx))
    if not deletes:
        return []
    return [ChangeSet(
        repo=REPO,
        deletes=deletes,
        title=f"{spec.name}: remove Helm values for {', '.join(envs)}",
        summary="Removes the developer values of " + ", ".join(f"`{env}`" for env in envs)
                + (" and the shared `values.yaml` (last environment)." if all_envs <= set(envs) else "."),
        environments=sorted(envs),
    )]


# --- values (pure data; tests combine them with the platform block and render the chart) ------------
def shared_values(spec: ServiceSpec, ctx: RenderContext) -> dict[str, Any]:
    """values.yaml: the developer keys that are the same in every environment."""
    r = resolved(spec, ctx.blueprint(spec))
    data: dict[str, Any] = {}
    if spec.description:  # free text: to_yaml quotes it, the chart re-quotes it into the annotation
        data["description"] = spec.description
    data["image"] = _image(spec, ctx)
    data["port"] = r["port"]
    data["healthCheckPath"] = r["health_check_path"]
    data["resources"] = {"cpu": r["cpu"], "memory": r["memory"]}
    return data


def environment_values(spec: ServiceSpec, ctx: RenderContext, env: str) -> dict[str, Any]:
    """values-<env>.yaml: what differs per environment."""
    replicas = spec.environment(env).replicas
    return {"replicas": replicas if replicas is not None else ctx.blueprint(spec).replicas_for(env)}


def _image(spec: ServiceSpec, ctx: RenderContext) -> dict[str, str]:
    if spec.image is None:  # the service's own ECR repository, shared by all its environments
        platform = ctx.platform
        repository = spec.names(platform.artifact_environment, platform).ecr_repository
        return {"repository": f"{platform.registry_host()}/{repository}", "tag": BOOTSTRAP_TAG}
    reference, _, digest = spec.image.partition("@")
    match = IMAGE.match(reference)
    tag = (match.group("tag") if match else None) or "latest"
    repository = reference[: -len(tag) - 1] if reference.endswith(f":{tag}") else reference
    image = {"repository": repository, "tag": tag}
    if digest:
        image["digest"] = digest
    return image


def _document(spec: ServiceSpec, scope: str, data: dict[str, Any]) -> str:
    header = (
        f"# Helm values of {spec.name} (team {spec.team}): {scope}.\n"
        "# Developer-owned: only the keys of the chart's developer schema are allowed here.\n"
        "# AWS bindings (target group, security groups, IAM role) are set by the platform via Argo CD.\n"
    )
    return header + to_yaml(data)


def _check(path: str, data: dict[str, Any], ctx: RenderContext) -> None:
    try:
        validate_developer_values(data, path, ctx.templates_dir / "chart")
    except ManifestError as exc:
        raise GeneratedFileError(f"generated {path} breaks the chart's developer schema: {exc}") from exc


def _summary(spec: ServiceSpec, ctx: RenderContext, envs: list[str]) -> str:
    r = resolved(spec, ctx.blueprint(spec))
    lines = [f"Helm values for `{spec.name}` on the SRE chart: port {r['port']}, "
             f"health check `{r['health_check_path']}`, {r['cpu']} CPU / {r['memory']} memory."]
    for env in envs:
        lines.append(f"- `{env}`: {environment_values(spec, ctx, env)['replicas']} replica(s)")
    return "\n".join(lines)
