"""The Terragrunt live repository: what a service needs in AWS, one infra package per file.

This module owns the infra repository's layout — `root.hcl`, one package per component at
`<account>/<region>/<env>/<service>/<component>/terragrunt.hcl` (`platform.infra_path`), and the small
local target-group module — and the exact reverse of it for deletes. It decides which packages exist
and what goes into them; the templates in `templates/terragrunt/` decide how they read. It never calls
AWS or a forge, and user text reaches a file only through the `hcl` encoder.

Two packages are shared by every environment of a service and live under the `_shared` environment
segment in the artifact environment's account (`platform.artifact_environment`): the ECR repository
(build once, run the same image everywhere; the other accounts pull cross-account) and the CI role
that GitHub Actions assumes through OIDC to push to it. They are removed only with the last
environment. IAM packages depend on no other package, so a delete can remove them last.

A domain the environment's shared HTTPS listener does not already cover gets a `certificate` package
(ACM, validated in the zone its own account holds) that the target group attaches to the listener. The
repository's README and CODEOWNERS, and a README per service folder, come with every change set
(`provisioners.ownership`).
"""

from __future__ import annotations

import posixpath
import re
import unicodedata
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from provisioners import infra_ci, ownership
from provisioners.changeset import ChangeSet
from provisioners.context import per_platform
from provisioners.errors import PermanentError
from provisioners.helm import PROXY_PORT
from provisioners.k8s import chart_defaults
from provisioners.ownership import FileRow, Rule
from provisioners.platform import EnvironmentTarget, ModuleSource, PlatformConfig
from provisioners.render import hcl_expr, hcl_string, render_template
from provisioners.spec import ServiceSpec, ci_role_name, resolved

if TYPE_CHECKING:
    from provisioners.blueprint import Blueprint
    from provisioners.context import RenderContext

REPO = "infra"
SHARED_ENV = "_shared"
ROOT_FILE = "root.hcl"
PACKAGE_FILE = "terragrunt.hcl"
TARGET_GROUP_MODULE = "modules/launchpad-target-group"
TARGET_GROUP_MODULE_FILES = ("main.tf", "variables.tf", "outputs.tf", "versions.tf")

# Package directory -> key in platform.modules. "target_group" is optional: without it the local
# module above is used, because no registry module adds a lone target group to an existing ALB.
MODULE_KEYS = {
    "ecr": "ecr",
    "ci-role": "ci_role",
    "security-group": "security_group",
    "target-group": "target_group",
    "dns": "route53",
    "certificate": "acm",
    "iam-role": "iam_role",
    "s3": "s3",
    "rds-security-group": "security_group",
    "rds": "rds",
    "elasticache": "elasticache",
}
# Used when platform.modules has no entry of that name (so older settings files keep working).
FALLBACK_MODULES = {
    "ci_role": ModuleSource(source="terraform-aws-modules/iam/aws//modules/iam-role", version="6.5.0"),
    "acm": ModuleSource(source="terraform-aws-modules/acm/aws", version="6.3.0"),
}
IAM_PACKAGES = frozenset({"iam-role", "ci-role"})
# Packages only SRE reviews (CODEOWNERS): who may assume what, and what may reach the pods and data stores.
ACCESS_PACKAGES = ("iam-role", "ci-role", "security-group", "rds-security-group")
FILEBEAT_MONITORING_PORT = 9601  # the chart's filebeat sidecar: its liveness probe
# Daily snapshots of prod caches, kept a week; the maintenance window stays clear of the snapshot window.
CACHE_SNAPSHOT_DAYS = 7
CACHE_SNAPSHOT_WINDOW = "03:00-04:00"
CACHE_MAINTENANCE_WINDOW = "sun:05:00-sun:06:00"
SPEC_OPTIONAL = ("s3", "rds", "elasticache")  # the components a request can switch on (spec.components)
DB_PORTS = {"postgres": 5432, "mysql": 3306}
DB_LABELS = {"postgres": "PostgreSQL", "mysql": "MySQL"}
TAG_VALUE_MAX = 256
_TAG_PUNCTUATION = frozenset("_.:/=+-@")
_PLACEHOLDER = re.compile(r"(\{account_id\}|\{region\})")


@dataclass(frozen=True)
class Package:
    """One infra package: a component of a service in one environment (or `_shared`)."""

    component: str
    env: str
    path: str

    @property
    def iam(self) -> bool:
        return self.component in IAM_PACKAGES

    @property
    def directory(self) -> str:
        return posixpath.dirname(self.path)


# --- pure helpers other renderers use ---------------------------------------------------------

def aws_tag_value(text: str) -> str:
    """Text reduced to what AWS accepts in a tag value: letters, digits, spaces and `_.:/=+-@`, 256 max.

    Anything else (quotes, `$`, braces, newlines, emoji) becomes a space; runs of spaces collapse. The
    verbatim text stays in the package's `locals`, so nothing a user typed is lost, only kept out of tags.
    """
    out = []
    for ch in unicodedata.normalize("NFC", text):
        category = unicodedata.category(ch)
        keep = ch in _TAG_PUNCTUATION or category[0] in "LN"
        out.append(ch if keep else " ")
    return " ".join("".join(out).split())[:TAG_VALUE_MAX].rstrip()


def service_repository(spec: ServiceSpec, platform: PlatformConfig) -> str:
    """'owner/name' of the service's own repository, where the CI workflow runs."""
    return platform.repositories["service"].name.format(team=spec.team, service=spec.name)


def ci_role_arn(spec: ServiceSpec, platform: PlatformConfig) -> str:
    """The role the service's CI workflow assumes; deterministic, so the workflow needs no lookup."""
    return f"arn:aws:iam::{platform.artifact_target().account_id}:role/{ci_role_name(spec.name)}"


def ecr_repository_arn(spec: ServiceSpec, platform: PlatformConfig) -> str:
    target = platform.artifact_target()
    repository = spec.names(platform.artifact_environment, platform).ecr_repository
    return f"arn:aws:ecr:{target.region}:{target.account_id}:repository/{repository}"


# --- layout -----------------------------------------------------------------------------------

def _layout(platform: PlatformConfig) -> list[str]:
    """The segments of `platform.infra_path`; root.hcl reads account and region back from a path."""
    segments = platform.infra_path.split("/")
    problems = [p for p in ("{account_id}", "{region}") if p not in segments]
    problems += [p for p in ("{env}", "{service}", "{component}") if p not in platform.infra_path]
    if problems or re.search(r"\s", platform.infra_path):
        raise PermanentError(
            f"platform.infra_path {platform.infra_path!r} must hold {{account_id}} and {{region}} as whole path "
            "segments (root.hcl reads them back) and {env}, {service} and {component}, without spaces; "
            "the default is {account_id}/{region}/{env}/{service}/{component}")
    return segments


def _target(platform: PlatformConfig, env: str) -> EnvironmentTarget:
    return platform.artifact_target() if env == SHARED_ENV else platform.target_for(env)


def package_path(spec: ServiceSpec, platform: PlatformConfig, env: str, component: str) -> str:
    _layout(platform)
    target = _target(platform, env)
    try:
        directory = platform.infra_path.format(account_id=target.account_id, region=target.region, env=env,
                                               service=spec.name, team=spec.team, component=component)
    except (KeyError, IndexError) as exc:
        raise PermanentError(f"platform.infra_path has an unknown placeholder {exc}; use account_id, region, "
                             "env, service, team and component") from None
    return f"{directory}/{PACKAGE_FILE}"


def _wants(kind: str, spec: ServiceSpec, blueprint: Blueprint) -> bool:
    rule = blueprint.components.get(kind)  # type: ignore[call-overload]
    if rule is None:
        return False
    if kind in SPEC_OPTIONAL:
        return bool(rule.required or kind in spec.components.enabled())
    return bool(rule.required or rule.default)


def _env_components(spec: ServiceSpec, blueprint: Blueprint) -> list[str]:
    components = []
    if _wants("security_group", spec, blueprint):
        components.append("security-group")
    if _wants("target_group", spec, blueprint):
        components.append("target-group")
    if _wants("dns", spec, blueprint):
        components.append("dns")
    if _wants("iam_role", spec, blueprint):
        components.append("iam-role")
    if _wants("s3", spec, blueprint):
        components.append("s3")
    if _wants("rds", spec, blueprint):
        components += ["rds-security-group", "rds"]
    if _wants("elasticache", spec, blueprint):
        components.append("elasticache")
    needs_pods_sg = {"rds", "elasticache", "target-group"} & set(components)
    if needs_pods_sg and "security-group" not in components:
        raise PermanentError(f"blueprint {blueprint.id} has {', '.join(sorted(needs_pods_sg))} but no "
                             "security_group component; add security_group to the blueprint")
    return components


def _shared_components(spec: ServiceSpec, blueprint: Blueprint) -> list[str]:
    if not _wants("ecr", spec, blueprint):
        return []
    return ["ecr", "ci-role"] if "ci" in blueprint.provisioners else ["ecr"]


def packages(spec: ServiceSpec, ctx: RenderContext, envs: list[str], *, shared: bool) -> list[Package]:
    """The packages of `envs` (plus the shared ones when `shared`), in a stable order."""
    blueprint = ctx.blueprint(spec)
    out = []
    if shared:
        out += [Package(c, SHARED_ENV, package_path(spec, ctx.platform, SHARED_ENV, c))
                for c in _shared_components(spec, blueprint)]
    for env in envs:
        components = _env_components(spec, blueprint)
        if "dns" in components and certificate_domain(spec, ctx.platform, env) is not None:
            components.insert(components.index("dns") + 1, "certificate")
        out += [Package(c, env, package_path(spec, ctx.platform, env, c)) for c in components]
    return out


def certificate_domain(spec: ServiceSpec, platform: PlatformConfig, env: str) -> str | None:
    """The service's domain in `env` when the shared listener's own certificate does not cover it (it covers
    `*.<hosted_zone>` when `listener_wildcard_certificate`): that domain needs an ACM certificate of its own."""
    domain = spec.domain_for(env, platform)
    target = platform.target_for(env)
    label, _, parent = domain.partition(".")
    covered = target.listener_wildcard_certificate and parent == target.hosted_zone and bool(label)
    return None if covered else domain


# --- rendering --------------------------------------------------------------------------------

def render(spec: ServiceSpec, ctx: RenderContext) -> ChangeSet:
    """Every package of the service in all its environments, plus root.hcl and the local module."""
    envs = [e.name for e in spec.environments]
    _check_pins(spec, ctx.platform)
    pkgs = packages(spec, ctx, envs, shared=True)
    files = {ROOT_FILE: render_root(ctx)}
    for pkg in pkgs:
        files[pkg.path] = _render_package(pkg, pkgs, spec, ctx)
    shared = [ROOT_FILE]
    if any(p.component == "target-group" for p in pkgs) and _uses_local_target_group(ctx.platform):
        _check_deregistration_delay(ctx)
        module_dir = ctx.templates_dir / "terragrunt" / TARGET_GROUP_MODULE
        for name in TARGET_GROUP_MODULE_FILES:
            files[f"{TARGET_GROUP_MODULE}/{name}"] = (module_dir / name).read_text()
            shared.append(f"{TARGET_GROUP_MODULE}/{name}")
    for directory, group in _folders(pkgs, ctx.platform).items():
        files[f"{directory}/{ownership.README_FILE}"] = _folder_readme(spec, ctx, group)
    common = shared_files(ctx)
    files.update(common)
    delivered = infra_ci.with_pipeline_files(files, ctx)
    shared += [*common, *(p for p in delivered if p not in files)]  # README, CODEOWNERS, the pipeline's files
    return ChangeSet(repo=REPO, files=delivered, environments=envs,
                     title=f"{spec.name}: infrastructure for {', '.join(envs)}",
                     summary=_summary(spec, pkgs, "adds or updates"), shared=sorted(shared))


def render_delete(spec: ServiceSpec, ctx: RenderContext, envs: list[str]) -> list[ChangeSet]:
    """Remove exactly what `render` wrote for `envs`: everything else first, IAM roles last.

    The shared packages go only with the last environment; root.hcl and the local module stay, other
    services use them.
    """
    all_envs = [e.name for e in spec.environments]
    envs = [e for e in all_envs if e in envs] + sorted(set(envs) - set(all_envs))
    pkgs = packages(spec, ctx, envs, shared=set(all_envs) <= set(envs))
    label = ", ".join(envs)
    steps = [
        ([p for p in pkgs if not p.iam], f"{spec.name}: remove infrastructure in {label}", "removes"),
        ([p for p in pkgs if p.iam], f"{spec.name}: remove IAM roles in {label} (last)", "removes"),
    ]
    readmes = [f"{directory}/{ownership.README_FILE}" for directory in _folders(pkgs, ctx.platform)]
    steps = [step for step in steps if step[0]]
    last = len(steps) - 1  # a folder's README goes with its last package
    return [ChangeSet(repo=REPO, files=infra_ci.with_pipeline_files({}, ctx),
                      deletes=[p.path for p in group] + (readmes if i == last else []),
                      environments=envs, title=title, summary=_summary(spec, group, verb))
            for i, (group, title, verb) in enumerate(steps)]


def render_prepare_delete(spec: ServiceSpec, ctx: RenderContext, envs: list[str]) -> list[ChangeSet]:
    """What must change before `envs` can be destroyed, as one change set delivered (and applied) first:
    the shared ECR repository may go with its images (force delete), a prod database drops its deletion
    protection and keeps a final snapshot, a permanent bucket is emptied with it (force destroy; the
    policy's purge rule asks SRE). Empty when nothing in `envs` resists a destroy."""
    all_envs = [e.name for e in spec.environments]
    envs = [e for e in all_envs if e in envs]
    pkgs = packages(spec, ctx, envs, shared=set(all_envs) <= set(envs))
    flipped = [p for p in pkgs if p.component == "ecr" or (p.component == "rds" and p.env == "prod")
               or (p.component == "s3" and not p.env.startswith("tmp-"))]
    if not flipped:
        return []
    files = {p.path: _render_package(p, pkgs, spec, ctx, destroying=True) for p in flipped}
    what = ", ".join(DESTROYABLE[p.component] for p in flipped)
    summary = (f"Before {spec.name} is removed from {', '.join(envs)}: {what}. The next pull request of this "
               "request removes the packages; this one only makes them destroyable.")
    return [ChangeSet(repo=REPO, files=infra_ci.with_pipeline_files(files, ctx), environments=envs,
                      title=f"{spec.name}: make {', '.join(sorted({p.component for p in flipped}))} destroyable "
                            f"in {', '.join(envs)}", summary=summary)]


DESTROYABLE = {"ecr": "the ECR repository is deleted with its images (`repository_force_delete`)",
               "rds": "the prod database drops its deletion protection and keeps a final snapshot",
               "s3": "the bucket is emptied and deleted (`force_destroy`: its objects are not recoverable)"}


def render_root(ctx: RenderContext) -> str:
    segments = _layout(ctx.platform)
    state = ctx.platform.state
    parts = _PLACEHOLDER.split(state.bucket)
    bucket = "".join("${local." + p[1:-1] + "}" if _PLACEHOLDER.fullmatch(p) else hcl_string(p)[1:-1]
                     for p in parts if p)
    return render_template("terragrunt/root.hcl.j2", ctx.templates_dir, layout=ctx.platform.infra_path,
                           account_index=segments.index("{account_id}"), region_index=segments.index("{region}"),
                           bucket=hcl_expr(f'"{bucket}"'), state=state)


def _uses_local_target_group(platform: PlatformConfig) -> bool:
    return "target_group" not in platform.modules


def pinnable_modules(platform: PlatformConfig) -> list[str]:
    """The module keys a service may pin to another version (`spec.pins.modules`, `launchpad bulk --module`)."""
    keys = set(platform.modules) | set(FALLBACK_MODULES)
    if _uses_local_target_group(platform):
        keys.discard("target_group")  # the local module lives in the repository: it has no version
    return sorted(keys & set(MODULE_KEYS.values()))


def _check_pins(spec: ServiceSpec, platform: PlatformConfig) -> None:
    known = pinnable_modules(platform)
    pinned = set(spec.pins.modules).union(*(p.modules for p in spec.pins.environments.values()))
    unknown = sorted(pinned - set(known))
    if unknown:
        raise PermanentError(f"{spec.name} pins module {', '.join(unknown)}, which the infra packages do not use; "
                             f"pin one of: {', '.join(known)}")


def _source(pkg: Package, spec: ServiceSpec, platform: PlatformConfig) -> Any:
    key = MODULE_KEYS[pkg.component]
    if key == "target_group" and _uses_local_target_group(platform):
        return hcl_expr(f'"${{get_repo_root()}}/{TARGET_GROUP_MODULE}"')
    module = platform.modules.get(key) or FALLBACK_MODULES.get(key)
    if module is None:
        raise PermanentError(f"platform.modules has no {key!r} entry; add one with a source and a version")
    pins = spec.pins.service_wide() if pkg.env == SHARED_ENV else spec.pins.for_environment(pkg.env)
    pinned = pins.modules.get(key)
    if pinned:  # an SRE pin (launchpad bulk): same module, another version
        module = ModuleSource(source=module.source, version=pinned)
    return module.terraform_source()


def _render_package(pkg: Package, pkgs: list[Package], spec: ServiceSpec, ctx: RenderContext, *,
                    destroying: bool = False) -> str:
    platform = ctx.platform
    env = pkg.env
    names = spec.names(platform.artifact_environment if env == SHARED_ENV else env, platform)
    target = _target(platform, env)
    where = "all environments" if env == SHARED_ENV else env
    context: dict[str, Any] = {
        "header": [f"{spec.name} (team {spec.team}), {where}: {HEADLINES[pkg.component]}."],
        "source_notes": [],
        "source": _source(pkg, spec, platform),
        "dependencies": [],
        "description": spec.description,
        "tags": _tags(spec, env),
        "names": names,
        "target": target,
        "env": env,
        "temporary": env.startswith("tmp-"),
        "production": env == "prod",
        "destroying": destroying,
    }
    if context["temporary"]:
        ttl = spec.environment(env).ttl_hours
        context["header"].append(f"Temporary environment: LaunchPad removes it when its TTL ({ttl} hours) runs out.")
    if pkg.component == "target-group" and _uses_local_target_group(platform):
        context["source_notes"] = ["A local module: the registry's alb module creates a load balancer, and this",
                                   "package only adds a target group and a rule to the shared one."]
    context.update(COMPONENT_CONTEXT[pkg.component](spec, ctx, pkg, pkgs, names, target))
    for line in context["header"] + context["source_notes"]:
        _check_comment(line)
    return render_template(f"terragrunt/{pkg.component}.hcl.j2", ctx.templates_dir, **context)


def _check_comment(line: str) -> None:
    # Comment lines carry validated names only; a line break would turn the rest into HCL.
    if "\n" in line or "\r" in line:
        raise ValueError(f"comment line {line!r} spans lines")


def _tags(spec: ServiceSpec, env: str) -> dict[str, str]:
    tags = {"service": spec.name, "team": spec.team, "environment": "shared" if env == SHARED_ENV else env}
    for key, text in (("description", spec.description), ("requested-by", spec.owner)):
        value = aws_tag_value(text)
        if value:
            tags[key] = value
    return tags


def _dependency(pkg: Package, pkgs: list[Package], component: str, name: str,
                mock_outputs: dict[str, Any], notes: list[str]) -> dict[str, Any]:
    other = next(p for p in pkgs if p.component == component and p.env == pkg.env)
    return {"name": name, "config_path": posixpath.relpath(other.directory, pkg.directory),
            "mock_outputs": mock_outputs, "notes": notes}


def _pods_sg_dependency(pkg: Package, pkgs: list[Package]) -> dict[str, Any]:
    return _dependency(pkg, pkgs, "security-group", "security_group",
                       {"security_group_id": "sg-00000000000000000"},
                       ["The security group of the service's pods."])


# --- per-component context (what goes into each template) --------------------------------------

Context = dict[str, Any]

HEADLINES = {
    "ecr": "container image repository",
    "ci-role": "IAM role the service's GitHub Actions workflow assumes to push images",
    "security-group": "security group of the service's pods",
    "target-group": "target group and host-header rule on the shared load balancer",
    "dns": "DNS record pointing the service's host name at the shared load balancer",
    "certificate": "TLS certificate of the service's own domain (ACM, DNS-validated) for the shared HTTPS listener",
    "iam-role": "IAM role of the service's Kubernetes service account (IRSA)",
    "s3": "S3 bucket",
    "rds-security-group": "security group of the service's database",
    "rds": "database",
    "elasticache": "Redis cache",
}


def _ecr(spec: ServiceSpec, ctx: RenderContext, pkg: Package, pkgs: list[Package], names: Any,
         target: EnvironmentTarget) -> Context:
    # the ECR package lives in the artifact environment (`target`), which `accounts()` includes
    return {"reader_arns": [f"arn:aws:iam::{account}:root" for account in ctx.platform.accounts()],
            "keep_tagged": ctx.platform.ecr_keep_tagged_images}


def _ci_role(spec: ServiceSpec, ctx: RenderContext, pkg: Package, pkgs: list[Package], names: Any,
             target: EnvironmentTarget) -> Context:
    repo = service_repository(spec, ctx.platform)
    branch = ctx.platform.repositories["service"].base_branch
    repository_arn = ecr_repository_arn(spec, ctx.platform)
    push = ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:CompleteLayerUpload",
            "ecr:DescribeImages", "ecr:GetDownloadUrlForLayer", "ecr:InitiateLayerUpload", "ecr:PutImage",
            "ecr:UploadLayerPart"]
    return {
        "role_name": ci_role_name(spec.name),
        "role_description": f"GitHub Actions of {repo} push images to ECR {names.ecr_repository}",
        "oidc_subject": f"repo:{repo}:ref:refs/heads/{branch}",
        "permissions": {
            "EcrLogin": {"actions": ["ecr:GetAuthorizationToken"], "resources": ["*"]},
            "EcrPush": {"actions": push, "resources": [repository_arn]},
        },
    }


def probe_ports(spec: ServiceSpec, ctx: RenderContext) -> dict[str, int]:
    """What the kubelet probes on every pod of the chart: the app's port, nginx's and filebeat's monitoring."""
    return {"app": resolved(spec, ctx.blueprint(spec))["port"], "nginx sidecar": PROXY_PORT,
            "filebeat sidecar": FILEBEAT_MONITORING_PORT}


def _security_group(spec: ServiceSpec, ctx: RenderContext, pkg: Package, pkgs: list[Package], names: Any,
                    target: EnvironmentTarget) -> Context:
    # traffic from the load balancer (and its health checks) enters through the chart's nginx sidecar
    port = PROXY_PORT
    alb = [{"description": "HTTP from the shared load balancer to the nginx sidecar", "from_port": port,
            "to_port": port,
            "protocol": "tcp", "source_security_group_id": target.alb_security_group_id}]
    # With security groups for pods the kubelet's probes come from the node security group; without this
    # rule they are dropped and no pod ever becomes ready.
    nodes = [{"description": f"Kubelet probes from the cluster's nodes ({what} port)", "from_port": probe,
              "to_port": probe, "protocol": "tcp", "source_security_group_id": target.node_security_group_id}
             for what, probe in probe_ports(spec, ctx).items()]
    cidrs = [{"description": "Service (nginx sidecar) port from the CIDRs in the request", "from_port": port,
              "to_port": port,
              "protocol": "tcp", "cidr_blocks": ",".join(spec.ingress_cidrs)}]
    has_alb = any(p.component == "target-group" and p.env == pkg.env for p in pkgs)
    return {
        "sg_description": f"Pods of {spec.team}/{spec.name} in {pkg.env}",
        "alb_ingress": alb if has_alb else [],
        "node_ingress": nodes,
        "cidr_ingress": cidrs if spec.ingress_cidrs else [],
    }


def _target_group(spec: ServiceSpec, ctx: RenderContext, pkg: Package, pkgs: list[Package], names: Any,
                  target: EnvironmentTarget) -> Context:
    values = resolved(spec, ctx.blueprint(spec))
    context: Context = {"port": PROXY_PORT, "health_check_path": values["health_check_path"],
                        "domain": spec.domain_for(pkg.env, ctx.platform),
                        "deregistration_delay": ctx.platform.deregistration_delay_seconds, "certificate": False}
    if any(p.component == "certificate" and p.env == pkg.env for p in pkgs):
        context["certificate"] = True
        context["dependencies"] = [_dependency(
            pkg, pkgs, "certificate", "certificate",
            {"acm_certificate_arn": f"arn:aws:acm:{target.region}:{target.account_id}:certificate/00000000-0000-0000"
                                    "-0000-000000000000"},
            ["The certificate of the service's own domain, attached to the shared HTTPS listener."])]
    return context


def _dns(spec: ServiceSpec, ctx: RenderContext, pkg: Package, pkgs: list[Package], names: Any,
         target: EnvironmentTarget) -> Context:
    domain = spec.domain_for(pkg.env, ctx.platform)
    zone = ctx.platform.zone_for(domain, pkg.env)  # a zone this environment's own account holds
    if zone is None:
        raise PermanentError(f"domain {domain!r} is in no zone that {pkg.env}'s account "
                             f"{target.account_id} holds; use a name under one of: "
                             f"{', '.join(ctx.platform.zones_held(pkg.env))}")
    alias = {"name": target.alb_dns_name, "zone_id": target.alb_zone_id, "evaluate_target_health": True}
    return {"zone": zone, "tags": None,  # records take no tags, and the zone is not ours
            "records": {domain: {"full_name": domain, "type": "A", "alias": alias}}}


def _certificate(spec: ServiceSpec, ctx: RenderContext, pkg: Package, pkgs: list[Package], names: Any,
                 target: EnvironmentTarget) -> Context:
    domain = certificate_domain(spec, ctx.platform, pkg.env)
    assert domain is not None  # the package exists only for a domain the listener does not cover
    dependency = _dependency(pkg, pkgs, "dns", "dns", {"id": "Z00000000000000000000"},
                             ["The domain's hosted zone (this account's own), where ACM's validation record goes."])
    return {"dependencies": [dependency], "domain": domain}


def _iam_role(spec: ServiceSpec, ctx: RenderContext, pkg: Package, pkgs: list[Package], names: Any,
              target: EnvironmentTarget) -> Context:
    policies: dict[str, str] = {}
    for arn in spec.iam_policy_arns:
        key = arn.rsplit("/", 1)[-1]
        policies[key if key not in policies else f"{key}-{len(policies) + 1}"] = arn
    permissions: dict[str, Any] = {}
    if spec.components.s3 is not None:
        bucket = f"arn:aws:s3:::{names.bucket}"
        permissions["S3ListBucket"] = {"actions": ["s3:ListBucket"], "resources": [bucket]}
        permissions["S3Objects"] = {"actions": ["s3:DeleteObject", "s3:GetObject", "s3:PutObject"],
                                    "resources": [f"{bucket}/*"]}
    if spec.components.rds is not None:
        # RDS tags the secret holding the master password with the instance's ARN.
        instance = f"arn:aws:rds:{target.region}:{target.account_id}:db:{names.rds}"
        permissions["DatabaseSecret"] = {
            "actions": ["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"],
            "resources": [f"arn:aws:secretsmanager:{target.region}:{target.account_id}:secret:rds!db-*"],
            "condition": [{"test": "StringEquals",
                           "variable": "secretsmanager:ResourceTag/aws:rds:primaryDBInstanceArn",
                           "values": [instance]}],
        }
    return {
        "role_description": f"Service account {names.service_account} of {spec.team}/{spec.name} in {pkg.env}",
        "oidc_providers": {"main": {"provider_arn": target.cluster_oidc_provider_arn,
                                    "namespace_service_accounts": [f"{names.namespace}:{names.service_account}"]}},
        "policies": policies,
        "permissions": permissions,
    }


def _s3(spec: ServiceSpec, ctx: RenderContext, pkg: Package, pkgs: list[Package], names: Any,
        target: EnvironmentTarget) -> Context:
    s3 = spec.components.s3
    return {"versioning": bool(s3 and s3.versioning)}


def _rds_engine(spec: ServiceSpec) -> tuple[Any, int, str, str]:
    rds = spec.components.rds
    assert rds is not None  # the package exists only when the request asked for a database
    parts = rds.engine_version.split(".")
    if rds.engine == "postgres":
        return rds, DB_PORTS["postgres"], f"postgres{parts[0]}", ""
    major = ".".join([*parts, "0"][:2])
    return rds, DB_PORTS["mysql"], f"mysql{major}", major


def _rds_security_group(spec: ServiceSpec, ctx: RenderContext, pkg: Package, pkgs: list[Package], names: Any,
                        target: EnvironmentTarget) -> Context:
    rds, port, _, _ = _rds_engine(spec)
    label = DB_LABELS[rds.engine]
    return {
        "dependencies": [_pods_sg_dependency(pkg, pkgs)],
        "sg_name": names.rds_security_group,
        "sg_description": f"{label} of {spec.team}/{spec.name} in {pkg.env}",
        "rule_description": f"{label} from the pods of {spec.name}",
        "db_port": port,
    }


def _rds(spec: ServiceSpec, ctx: RenderContext, pkg: Package, pkgs: list[Package], names: Any,
         target: EnvironmentTarget) -> Context:
    rds, port, family, major = _rds_engine(spec)
    dependency = _dependency(pkg, pkgs, "rds-security-group", "rds_security_group",
                             {"security_group_id": "sg-00000000000000000"},
                             ["The database's security group (reachable from the service's pods only)."])
    return {
        "dependencies": [dependency],
        "rds": rds,
        "db_port": port,
        "family": family,
        "major_engine_version": major,
        "db_name": spec.name.replace("-", "_"),
        "backup_days": 7 if pkg.env == "prod" else 1,
    }


def _elasticache(spec: ServiceSpec, ctx: RenderContext, pkg: Package, pkgs: list[Package], names: Any,
                 target: EnvironmentTarget) -> Context:
    return {
        "snapshot_days": CACHE_SNAPSHOT_DAYS if pkg.env == "prod" else 0,
        "snapshot_window": CACHE_SNAPSHOT_WINDOW,
        "maintenance_window": CACHE_MAINTENANCE_WINDOW,
        "dependencies": [_pods_sg_dependency(pkg, pkgs)],
        "cache": spec.components.elasticache,
        "cache_description": f"Cache of {spec.team}/{spec.name} in {pkg.env}",
        "cache_nodes": 2 if pkg.env == "prod" else 1,
        "rule_description": f"Redis from the pods of {spec.name}",
    }


COMPONENT_CONTEXT = {
    "ecr": _ecr,
    "ci-role": _ci_role,
    "security-group": _security_group,
    "target-group": _target_group,
    "dns": _dns,
    "certificate": _certificate,
    "iam-role": _iam_role,
    "s3": _s3,
    "rds-security-group": _rds_security_group,
    "rds": _rds,
    "elasticache": _elasticache,
}


def _summary(spec: ServiceSpec, pkgs: list[Package], verb: str) -> str:
    if not pkgs:
        return ""
    lines = [f"Terragrunt {verb} {len(pkgs)} package(s) of **{spec.name}** (team {spec.team}):", ""]
    for env in dict.fromkeys(p.env for p in pkgs):
        label = "shared by all environments" if env == SHARED_ENV else env
        lines.append(f"- {label}: " + ", ".join(f"`{p.component}`" for p in pkgs if p.env == env))
    iam = [p for p in pkgs if p.iam]
    if iam:
        lines += ["", "IAM: " + ", ".join(f"`{p.path}`" for p in iam)]
    return "\n".join(lines)


# --- graceful draining: the chart's preStop must outlast the target group's deregistration delay ------------
def _check_deregistration_delay(ctx: RenderContext) -> None:
    """Refuse a target group that drains longer than the chart keeps its pods serving (the chart copy in
    `templates/chart/` says how long: `pod.deregistrationDelaySeconds` plus a margin)."""
    pod = chart_defaults(ctx.templates_dir / "chart").get("pod") or {}
    chart_delay = pod.get("deregistrationDelaySeconds")
    if isinstance(chart_delay, int) and ctx.platform.deregistration_delay_seconds > chart_delay:
        raise PermanentError(
            f"platform.deregistration_delay_seconds is {ctx.platform.deregistration_delay_seconds} but the service "
            f"chart keeps a stopping pod serving for only {chart_delay} seconds (pod.deregistrationDelaySeconds): "
            "requests would reach pods that are gone; lower the setting or release the chart with a larger value")


# --- ownership (README, CODEOWNERS) -------------------------------------------------------------------------
def _folders(pkgs: list[Package], platform: PlatformConfig) -> dict[str, list[Package]]:
    """Service folder (one environment of one service, or its shared packages) -> its packages. Empty when
    the layout does not end in `/{component}` under a folder of the service's own."""
    out: dict[str, list[Package]] = {}
    if not _folder_layout_ok(platform):
        return out
    for pkg in pkgs:
        out.setdefault(posixpath.dirname(pkg.directory), []).append(pkg)
    return out


def _folder_layout_ok(platform: PlatformConfig) -> bool:
    head, _, tail = platform.infra_path.rpartition("/")
    return tail == "{component}" and "{service}" in head


def _package_owners(component: str, spec: ServiceSpec, platform: PlatformConfig) -> tuple[str, ...]:
    return ownership.sre(platform) if component in ACCESS_PACKAGES else ownership.team_owners(spec.team, platform)


def _folder_readme(spec: ServiceSpec, ctx: RenderContext, pkgs: list[Package]) -> str:
    env = pkgs[0].env
    where = "all its environments (shared)" if env == SHARED_ENV else env
    files = [FileRow(f"{p.component}/terragrunt.hcl", HEADLINES[p.component],
                     ownership.owners_text(_package_owners(p.component, spec, ctx.platform))) for p in pkgs]
    return ownership.folder_readme(
        ctx, title=f"{spec.name} (team {spec.team}): infrastructure in {where}",
        intro=[f"Terragrunt packages of `{spec.name}` in {where}: one AWS component per package, each with its own "
               "state. The infra pipeline plans them on the pull request and applies them on merge."],
        files=files,
        changes=["Components, domain, port, environments: a LaunchPad request for the service; it writes these "
                 "files again (hand edits are undone).",
                 "Module versions: SRE, `launchpad bulk --module KEY=VERSION` (one service or many).",
                 "IAM and security group packages are SRE's to review (CODEOWNERS); so are the templates they "
                 "come from, in LaunchPad's `templates/terragrunt/`.",
                 "Remove: `/launchpad delete` — the pipeline destroys these packages, IAM last."])


def codeowners_rules(platform: PlatformConfig) -> list[Rule]:
    sre = ownership.sre(platform)
    rules = [Rule("*", sre, "everything else: root.hcl, modules/, the pipeline, LAUNCHPAD.md")]
    rules += ownership.team_rules(platform.infra_path, platform, what="its services' infrastructure packages")
    for component in ACCESS_PACKAGES:
        pattern = "/" + ownership.glob(platform.infra_path, component=component) + "/"
        rules.append(Rule(pattern, sre, f"{component} packages (access control): SRE only"))
    return rules


@per_platform
def shared_files(ctx: RenderContext) -> dict[str, str]:
    """The repository's README and CODEOWNERS: the same from every service's change set."""
    platform = ctx.platform
    rules = codeowners_rules(platform)
    note = "" if "{team}" in platform.infra_path else ownership.no_team_segment("infra_path")
    sre = ownership.owners_text(ownership.sre(platform))
    layout = ownership.example_path(platform.infra_path)
    readme = ownership.repository_readme(
        ctx, title="Infrastructure of LaunchPad services",
        intro=["Terragrunt packages for every service LaunchPad manages: one AWS component of one service in one "
               "environment per package, each with its own state file. Modules are pinned registry versions "
               "(terraform-aws-modules by default) or the local modules here."],
        layout=[FileRow(ROOT_FILE, "remote state (S3 + DynamoDB lock table) and the AWS provider, per account", sre),
                FileRow(f"{TARGET_GROUP_MODULE}/", "local module: a service's target group, listener rule and "
                        "certificate attachment on the shared load balancer", sre),
                FileRow(f"{layout}/terragrunt.hcl", "one package; `<env>` is `_shared` for the ECR repository and "
                        "CI role every environment uses", "the team; IAM and security groups: SRE"),
                FileRow(ownership.CODEOWNERS_FILE, "who reviews what", sre)],
        rules=rules,
        changes=["A service's infrastructure: a LaunchPad request (`/launchpad new` in Slack or "
                 "`launchpad new SPEC.yaml`); it writes that service's packages again.",
                 "Module versions for one service or many: SRE, `launchpad bulk --module KEY=VERSION`.",
                 "root.hcl, the packages' shape, the local modules: SRE, in LaunchPad's templates and settings.",
                 "Removing a service or environment: `/launchpad delete`; the pipeline destroys its packages "
                 "(IAM last) before the folders go."])
    return {ownership.REPOSITORY_NOTES: readme, ownership.CODEOWNERS_FILE: ownership.codeowners(rules, platform, note)}
