"""The gitops repository: per team one AppProject and one ApplicationSet, per service and environment
one platform-owned config file that the team's ApplicationSet turns into an Argo CD Application.

Nothing spans teams: a team's ApplicationSet reads only `teams/<team>/services/*/*.yaml`, its
`project:` is written literally into the template (never taken from a file), and its AppProject
admits only the chart and values repositories and the team's own namespaces. The config files carry
the AWS bindings (target group, security group, IAM role) that the chart takes only from the
platform block, so a developer who edits values files cannot repoint them. Deleting a service's
config file deletes its Application *and* its workload: every generated Application carries Argo
CD's cascading `resources-finalizer`, so LaunchPad can wait until the resources are pruned before the
infrastructure under them is destroyed; the ApplicationSet itself is never pruned or deleted by the
bootstrap Application (`Prune=false,Delete=false`), so no accident removes every team service at
once. Each config file is refused unless it names only its own service's AWS resources
(`provisioners.tenancy`). The repository's README and CODEOWNERS (each team reviews its own services
folder, SRE everything else) and a README per service folder come with every change set. This module
renders and checks; it never talks to Argo CD.
"""

from __future__ import annotations

import fnmatch
import re
from typing import TYPE_CHECKING, Any

from provisioners import ownership, tenancy
from provisioners.changeset import ChangeSet
from provisioners.context import per_platform
from provisioners.errors import PermanentError
from provisioners.k8s import ManifestError, validate_manifest_text, validate_object
from provisioners.ownership import FileRow, Rule
from provisioners.platform import PlatformConfig
from provisioners.render import GeneratedFileError, to_yaml
from provisioners.spec import ServiceSpec, application_name

if TYPE_CHECKING:
    from provisioners.context import RenderContext

REPO = "gitops"
API_VERSION = "argoproj.io/v1alpha1"
# Argo CD's declarative-setup docs: an AppProject is not deleted while an Application references it; on an
# Application the same finalizer makes its deletion cascade to the resources it deployed.
PROJECT_FINALIZER = "resources-finalizer.argocd.argoproj.io"
APPLICATION_FINALIZER = PROJECT_FINALIZER
# Sync options of the ApplicationSet object itself: the bootstrap Application never prunes or deletes it.
APPSET_SYNC_OPTIONS = {"argocd.argoproj.io/sync-options": "Prune=false,Delete=false"}
ROLE = "developers"
# The team role may look, sync and run resource actions (restart, ...) on its own project's
# Applications. It may never delete them (LaunchPad's delete flow does, by removing config files),
# nor update or override them (that would let it change the platform block). Explicit denies also
# beat any broader grant a global policy might add.
ROLE_GRANTS = [("applications", "get", "allow"), ("applications", "sync", "allow"),
               ("applications", "action/*", "allow"), ("logs", "get", "allow"),
               ("applications", "delete", "deny"), ("applications", "update", "deny"),
               ("applications", "override", "deny")]
_PARAM = re.compile(r"\{\{\s*\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


# --- paths -------------------------------------------------------------------------------------------
def team_dir(team: str, platform: PlatformConfig) -> str:
    if "{team}" not in platform.gitops_path:
        raise PermanentError(f"gitops_path {platform.gitops_path!r} must contain '{{team}}': every team needs "
                             "its own directory, or one team's ApplicationSet would read another's services")
    return platform.gitops_path.format(team=team)


def project_file(team: str, platform: PlatformConfig) -> str:
    return f"{team_dir(team, platform)}/argocd/appproject.yaml"


def applicationset_file(team: str, platform: PlatformConfig) -> str:
    return f"{team_dir(team, platform)}/argocd/applicationset.yaml"


def config_file(spec: ServiceSpec, env: str, platform: PlatformConfig) -> str:
    return f"{team_dir(spec.team, platform)}/services/{spec.name}/{env}.yaml"


def service_readme_file(spec: ServiceSpec, platform: PlatformConfig) -> str:
    return f"{team_dir(spec.team, platform)}/services/{spec.name}/{ownership.README_FILE}"


def generator_glob(team: str, platform: PlatformConfig) -> str:
    return f"{team_dir(team, platform)}/services/*/*.yaml"


# --- render ------------------------------------------------------------------------------------------
def render(spec: ServiceSpec, ctx: RenderContext) -> ChangeSet:
    platform = ctx.platform
    envs = [e.name for e in spec.environments]
    files, appset = _team_files(spec.team, platform)
    for env in envs:
        config = service_config(spec, ctx, env)
        path = config_file(spec, env, platform)
        refused = tenancy.config_problems(spec.team, spec.name, env, config, platform)
        if refused:  # the render-time policy check: nothing but the service's own AWS resources
            raise PermanentError(f"{path} would bind resources that are not {spec.name}'s: {'; '.join(refused)}")
        files[path] = _document(
            f"{spec.name} in {env}: read by the ApplicationSet of team {spec.team}; platform-owned, the AWS "
            "bindings here reach the chart's platform block", config)
        try:  # the Application this file will generate must be valid too
            validate_object(expand(appset["spec"]["template"], config) | _app_head(), path)
        except (ManifestError, KeyError) as exc:
            raise GeneratedFileError(f"{path} would generate an invalid Application: {exc}") from exc
    files[service_readme_file(spec, platform)] = _service_readme(spec, ctx)
    common = shared_files(ctx)
    files.update(common)
    return ChangeSet(
        repo=REPO,
        files=files,
        title=f"{spec.name}: Argo CD applications for {', '.join(envs)} (team {spec.team})",
        summary=_summary(spec, platform, envs),
        environments=envs,
        shared=sorted([project_file(spec.team, platform), applicationset_file(spec.team, platform), *common]),
    )


def render_delete(spec: ServiceSpec, ctx: RenderContext, envs: list[str]) -> list[ChangeSet]:
    """Remove the service's config files for `envs`; the team's AppProject and ApplicationSet stay (shared)."""
    if not envs:
        return []
    names = ", ".join(f"`{application_name(spec.team, spec.name, env)}`" for env in envs)
    deletes = [config_file(spec, env, ctx.platform) for env in envs]
    if {e.name for e in spec.environments} <= set(envs):
        deletes.append(service_readme_file(spec, ctx.platform))
    return [ChangeSet(
        repo=REPO,
        deletes=deletes,
        title=f"{spec.name}: remove Argo CD applications for {', '.join(envs)} (team {spec.team})",
        summary=(f"Removes {names}. The ApplicationSet deletes the Application(s), and their cascading "
                 "finalizer prunes the workload; LaunchPad waits until Argo CD reports them gone before any "
                 "infrastructure is destroyed (see docs/argocd.md, 'Deletion')."),
        environments=sorted(envs),
    )]


_TEAM_FILES: dict[tuple[int, str], tuple[PlatformConfig, dict[str, str], dict[str, Any]]] = {}


def _team_files(team: str, platform: PlatformConfig) -> tuple[dict[str, str], dict[str, Any]]:
    """The team's AppProject and ApplicationSet files (rendered and validated once per platform config:
    every service of the team shares them), and the ApplicationSet object."""
    hit = _TEAM_FILES.get((id(platform), team))
    if hit is not None and hit[0] is platform:
        return dict(hit[1]), hit[2]
    appset = applicationset(team, platform)
    files = {
        project_file(team, platform): _document(f"Argo CD project of team {team}", appproject(team, platform)),
        applicationset_file(team, platform): _document(f"Argo CD ApplicationSet of team {team}", appset),
    }
    for path, content in files.items():
        try:
            validate_manifest_text(content, path)
        except ManifestError as exc:
            raise GeneratedFileError(f"generated {path} is not a valid Argo CD object: {exc}") from exc
    if len(_TEAM_FILES) > 256:
        _TEAM_FILES.clear()
    _TEAM_FILES[(id(platform), team)] = (platform, files, appset)
    return dict(files), appset


# --- objects (pure data) ---------------------------------------------------------------------------------
def service_config(spec: ServiceSpec, ctx: RenderContext, env: str) -> dict[str, Any]:
    """The generator file: everything the ApplicationSet templates from, all platform-owned."""
    platform = ctx.platform
    names = spec.names(env, platform)
    target = platform.target_for(env)
    binds_target_group = "target_group" in ctx.blueprint(spec).components
    pins = spec.pins.for_environment(env)
    return {
        "service": spec.name,
        "environment": env,
        "namespace": names.namespace,
        "server": target.argocd_destination,
        "createNamespace": spec.environment(env).temporary,
        "targetGroupName": names.target_group if binds_target_group else "",
        "securityGroupId": ctx.bindings.security_group_for(env, names.security_group),
        "roleArn": f"arn:aws:iam::{target.account_id}:role/{names.iam_role}",
        # SRE pins (launchpad bulk); an empty image means "the chart's own default"
        "chartRevision": pins.chart_revision or platform.chart_revision,
        "nginxImage": pins.sidecars.get("nginx", ""),
        "filebeatImage": pins.sidecars.get("filebeat", ""),
    }


def appproject(team: str, platform: PlatformConfig) -> dict[str, Any]:
    settings = platform.teams[team]
    role: dict[str, Any] = {
        "name": ROLE,
        "description": f"members of team {team}: view, sync and run actions on the team's applications",
        "policies": [f"p, proj:{team}:{ROLE}, {resource}, {action}, {team}/*, {effect}"
                     for resource, action, effect in ROLE_GRANTS],
    }
    if settings.sso_group:
        role["groups"] = [settings.sso_group]
    return {
        "apiVersion": API_VERSION,
        "kind": "AppProject",
        "metadata": {
            "name": team,
            "namespace": platform.argocd_namespace,
            "labels": _labels(team),
            "finalizers": [PROJECT_FINALIZER],
        },
        "spec": {
            "description": f"Services of team {team}, generated by LaunchPad",
            "sourceRepos": [platform.chart_repo_url, platform.repositories["values"].clone_url()],
            "destinations": destinations(team, platform),
            "clusterResourceWhitelist": cluster_resources(team, platform),
            "namespaceResourceWhitelist": [_group_kind(k) for k in platform.chart_resource_kinds],
            "orphanedResources": {"warn": False},
            "roles": [role],
        },
    }


def applicationset(team: str, platform: PlatformConfig) -> dict[str, Any]:
    values_repo = platform.repositories["values"]
    values_dir = platform.values_path.format(service="{{ .service }}", team=team)
    gitops = platform.repositories["gitops"]
    return {
        "apiVersion": API_VERSION,
        "kind": "ApplicationSet",
        "metadata": {"name": team, "namespace": platform.argocd_namespace, "labels": _labels(team),
                     "annotations": dict(APPSET_SYNC_OPTIONS)},
        "spec": {
            "goTemplate": True,
            "goTemplateOptions": ["missingkey=error"],
            "generators": [{"git": {
                "repoURL": gitops.clone_url(),
                "revision": gitops.base_branch,
                "files": [{"path": generator_glob(team, platform)}],
            }}],
            # Generated Applications carry the cascading finalizer (preserveResourcesOnDeletion would strip
            # it): removing a config file prunes the workload, and LaunchPad waits for that (wait_prune).
            "template": {
                "metadata": {
                    "name": application_name(team, "{{ .service }}", "{{ .environment }}"),
                    "finalizers": [APPLICATION_FINALIZER],
                    "labels": {**_labels(team), "launchpad.io/service": "{{ .service }}",
                               "launchpad.io/environment": "{{ .environment }}"},
                },
                "spec": {
                    "project": team,  # hard-coded: a file can never move an app into another project
                    "destination": {"server": "{{ .server }}", "namespace": "{{ .namespace }}"},
                    "sources": [
                        {
                            "repoURL": platform.chart_repo_url,
                            # per service file: platform.chart_revision unless SRE pinned another
                            "targetRevision": "{{ .chartRevision }}",
                            "path": platform.chart_path,
                            "helm": {
                                "releaseName": "{{ .service }}",
                                # Later files win; the valuesObject below wins over both.
                                "valueFiles": [f"$values/{values_dir}/values.yaml",
                                               f"$values/{values_dir}/values-{{{{ .environment }}}}.yaml"],
                                "valuesObject": {"platform": {
                                    "team": team,
                                    "service": "{{ .service }}",
                                    "environment": "{{ .environment }}",
                                    "targetGroupName": "{{ .targetGroupName }}",
                                    "securityGroupId": "{{ .securityGroupId }}",
                                    "roleArn": "{{ .roleArn }}",
                                    "sidecarImages": {"nginx": "{{ .nginxImage }}",
                                                      "filebeat": "{{ .filebeatImage }}"},
                                }},
                            },
                        },
                        {"repoURL": values_repo.clone_url(), "targetRevision": values_repo.base_branch,
                         "ref": "values"},
                    ],
                    "syncPolicy": {
                        "automated": {"prune": True, "selfHeal": True},
                        "syncOptions": ["CreateNamespace={{ .createNamespace }}", "PruneLast=true"],
                        "managedNamespaceMetadata": {"labels": {
                            **_labels(team),
                            "launchpad.io/environment": "{{ .environment }}",
                            "pod-security.kubernetes.io/enforce": "restricted",
                        }},
                    },
                },
            },
        },
    }


def destinations(team: str, platform: PlatformConfig) -> list[dict[str, str]]:
    """The team's namespaces only: `<team>-<env>` per standard environment, `<team>-tmp-*` for temporary
    ones (or the namespaces the platform configured for the team), and no other team's."""
    settings = platform.teams[team]
    temp_server = platform.target_for(platform.temporary_environment_base).argocd_destination
    if settings.namespaces:
        servers = sorted({t.argocd_destination for t in platform.environments.values()})
        found = [{"server": s, "namespace": ns} for ns in settings.namespaces for s in servers]
    else:
        found = [{"server": target.argocd_destination, "namespace": f"{team}-{env}"}
                 for env, target in platform.environments.items()]
        found.append({"server": temp_server, "namespace": f"{team}-tmp-*"})
    _refuse_overlap(team, [d["namespace"] for d in found], platform)
    return found


def cluster_resources(team: str, platform: PlatformConfig) -> list[dict[str, str]]:
    """None, except what the platform configured for the team, and Namespace objects named like the
    team's temporary namespaces (Argo CD creates those with CreateNamespace)."""
    allowed = [{"group": "", "kind": "Namespace", "name": f"{team}-tmp-*"}]
    return allowed + [_group_kind(k) for k in platform.teams[team].cluster_resources]


def expand(template: Any, params: dict[str, Any]) -> Any:
    """What the ApplicationSet controller does with our template for one generator file. Our template
    only uses `{{ .field }}`; a missing field fails, as `missingkey=error` does in Argo CD."""
    if isinstance(template, dict):
        return {expand(k, params): expand(v, params) for k, v in template.items()}
    if isinstance(template, list):
        return [expand(v, params) for v in template]
    if isinstance(template, str):
        return _PARAM.sub(lambda m: _go_format(_param(params, m.group(1))), template)
    return template


def applications(spec: ServiceSpec, ctx: RenderContext) -> list[dict[str, Any]]:
    """The Applications the team's ApplicationSet generates for this service (one per environment)."""
    template = applicationset(spec.team, ctx.platform)["spec"]["template"]
    return [expand(template, service_config(spec, ctx, e.name)) | _app_head() for e in spec.environments]


# --- helpers -----------------------------------------------------------------------------------------------
def _app_head() -> dict[str, Any]:
    return {"apiVersion": API_VERSION, "kind": "Application"}


def _param(params: dict[str, Any], name: str) -> Any:
    if name not in params:
        raise KeyError(f"map has no entry for key {name!r} (missingkey=error)")
    return params[name]


def _go_format(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _labels(team: str) -> dict[str, str]:
    return {"app.kubernetes.io/managed-by": "launchpad", "launchpad.io/team": team}


def _group_kind(spec: str) -> dict[str, str]:
    group, _, kind = spec.rpartition("/")
    return {"group": group, "kind": kind}


def _refuse_overlap(team: str, patterns: list[str], platform: PlatformConfig) -> None:
    """A glob like `search-tmp-*` must not also match another team's namespace."""
    for other in platform.teams:
        if other == team:
            continue
        theirs = [*(platform.teams[other].namespaces or [f"{other}-{env}" for env in platform.environments]),
                  f"{other}-tmp-x"]
        clash = [ns for ns in theirs for p in patterns if fnmatch.fnmatchcase(ns, p)]
        if clash:
            raise PermanentError(f"team {team}'s namespaces would include {clash[0]} of team {other}; "
                                 "rename one team or configure explicit namespaces for it")


def _document(title: str, data: dict[str, Any]) -> str:
    header = f"# {title}.\n# Generated by LaunchPad; change the platform settings or the request, not this file.\n"
    return header + to_yaml(data)


# --- ownership (README, CODEOWNERS) --------------------------------------------------------------------
def codeowners_rules(platform: PlatformConfig) -> list[Rule]:
    rules = [Rule("*", ownership.sre(platform), "everything else: AppProjects, ApplicationSets, LAUNCHPAD.md")]
    for team in sorted(platform.teams):
        rules.append(Rule(f"/{team_dir(team, platform)}/services/", ownership.team_owners(team, platform),
                          f"team {team}: its services' Argo CD config (each file checked by the tenancy policy)"))
    return rules


@per_platform
def shared_files(ctx: RenderContext) -> dict[str, str]:
    """The repository's README and CODEOWNERS: the same from every service's change set."""
    platform = ctx.platform
    rules = codeowners_rules(platform)
    sre = ownership.owners_text(ownership.sre(platform))
    team_path = ownership.example_path(platform.gitops_path)
    readme = ownership.repository_readme(
        ctx, title="Argo CD registration of LaunchPad services",
        intro=["One AppProject and one ApplicationSet per team; the team's ApplicationSet turns each service config "
               "file in its folder into an Application (`<team>-<service>-<env>`). The config files carry the AWS "
               "bindings (target group, security group, IAM role) that reach the chart's platform block."],
        layout=[FileRow(f"{team_path}/argocd/appproject.yaml", "the team's AppProject: repositories, namespaces, "
                        "kinds, the developers role", sre),
                FileRow(f"{team_path}/argocd/applicationset.yaml", "the team's ApplicationSet", sre),
                FileRow(f"{team_path}/services/<service>/<env>.yaml", "one service in one environment", "the team"),
                FileRow(ownership.CODEOWNERS_FILE, "who reviews what", sre)],
        rules=rules,
        changes=["A service's environments, bindings or chart revision: a LaunchPad request for the service "
                 "(chart revisions and sidecar images for many services: SRE, `launchpad bulk`).",
                 "AppProjects and ApplicationSets: SRE, through LaunchPad's platform settings.",
                 "Each config file may name only its own service's target group, role, namespace and cluster; "
                 "LaunchPad refuses to write anything else, and this repository's CI should run "
                 "`python -m provisioners.tenancy .` (from LaunchPad) to refuse hand edits that do."])
    return {ownership.REPOSITORY_NOTES: readme, ownership.CODEOWNERS_FILE: ownership.codeowners(rules, platform)}


def _service_readme(spec: ServiceSpec, ctx: RenderContext) -> str:
    """The same whatever environments the service has, so removing one leaves it as it was."""
    team = ownership.owners_text(ownership.team_owners(spec.team, ctx.platform))
    files = [FileRow("<env>.yaml", f"Application `{application_name(spec.team, spec.name, '<env>')}` in the team's "
                     "namespace of that environment", team)]
    return ownership.folder_readme(
        ctx, title=f"{spec.name}: Argo CD config (team {spec.team})",
        intro=[f"What the ApplicationSet of team {spec.team} reads to deploy `{spec.name}`. Platform-owned: the "
               "AWS bindings here reach the chart's platform block, which no values file can override."],
        files=files,
        changes=["Environments, domain, components: a LaunchPad request for the service; it writes these files again.",
                 "Chart revision or sidecar images: SRE, `launchpad bulk`.",
                 f"Find the Applications: `argocd app list -p {spec.team} -l launchpad.io/service={spec.name}`."])


def _summary(spec: ServiceSpec, platform: PlatformConfig, envs: list[str]) -> str:
    lines = [f"Argo CD applications of `{spec.name}` in project `{spec.team}` "
             f"(ApplicationSet `{spec.team}`, namespace `{platform.argocd_namespace}`):"]
    for env in envs:
        names = spec.names(env, platform)
        lines.append(f"- `{application_name(spec.team, spec.name, env)}` → namespace `{names.namespace}`")
    lines.append(f"Find them with `argocd app list -p {spec.team} -l launchpad.io/service={spec.name}`.")
    return "\n".join(lines)
