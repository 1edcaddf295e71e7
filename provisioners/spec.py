"""ServiceSpec: what a developer asks for, validated at the edge with messages that say how to fix it.

Validation that needs the platform (known teams, hosted zones, TTL maximum) reads a `PlatformConfig`
and a `BlueprintRegistry` from the pydantic validation context; `parse_spec` is the one entry point
the CLI, the Slack modal and the workflow use, and it turns every error into `field -> message`.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError, ValidationInfo, field_validator, model_validator

from provisioners import actions
from provisioners.blueprint import Blueprint, BlueprintRegistry
from provisioners.errors import InvalidSpecError
from provisioners.keys import FORBID, unknown_key_message
from provisioners.platform import STANDARD_ENVIRONMENTS, PlatformConfig

DNS_LABEL = re.compile(r"^[a-z]([a-z0-9-]*[a-z0-9])?$")
# A temporary environment's slug has no hyphen, so `{env}-{service}` (every AWS name) reads back one way.
TEMP_ENV = re.compile(r"^tmp-[a-z0-9]{1,8}$")
LEGACY_TEMP_ENV = re.compile(r"^tmp-[a-z0-9]([a-z0-9-]{0,6}[a-z0-9])?$")  # recorded before that rule only
HOSTNAME = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
CPU = re.compile(r"^([1-9][0-9]{0,4}m|[0-9]{1,3}(\.[0-9]{1,3})?)$")
MEMORY = re.compile(r"^[1-9][0-9]{0,5}(Mi|Gi)$")
IMAGE = re.compile(
    r"^(?:(?P<registry>[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*(:[0-9]{1,5})?)/)?"
    r"(?P<path>[a-z0-9]+([._-][a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+)*)*)"
    r"(:(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?(@sha256:[a-f0-9]{64})?$"
)
IAM_POLICY_ARN = re.compile(r"^arn:aws:iam::(aws|[0-9]{12}):policy/[A-Za-z0-9+=,.@_/-]{1,128}$")
CIDR = re.compile(r"^([0-9]{1,3}\.){3}[0-9]{1,3}/([0-9]|[12][0-9]|3[0-2])$")
FORBIDDEN_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
SURROGATE = re.compile(r"[\ud800-\udfff]")

TARGET_GROUP_MAX = 32
IAM_ROLE_MAX = 64
BUCKET_MAX = 63
ELASTICACHE_MAX = 40
RDS_MAX = 63
HELM_RELEASE_MAX = 53  # Helm: release names are at most 53 characters
APPLICATION_MAX = 63  # Argo CD: the Application name becomes the app.kubernetes.io/instance label (63)
NAMESPACE_MAX = 63
S3_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", "--x-s3", "--table-s3", ".mrap")
S3_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
DESCRIPTION_MAX = 500
PORT_RESERVED = {8081: "the nginx sidecar", 9601: "the filebeat sidecar's monitoring endpoint"}
PORT_UNPRIVILEGED = 1024  # the chart runs the app as a non-root user, which cannot bind a lower port
MODULE_KEY = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
MODULE_VERSION = re.compile(r"^v?[0-9A-Za-z][0-9A-Za-z.+_-]{0,63}$")
GIT_REVISION = re.compile(r"^(?!.*\.\.)[A-Za-z0-9][A-Za-z0-9._/-]{0,99}$")
SIDECAR_IMAGE = re.compile(r"^[a-z0-9]+([._:/-][a-z0-9]+)*:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")  # the chart's schema
SIDECARS = ("nginx", "filebeat")
SidecarName = Literal["nginx", "filebeat"]


class FieldProblem(ValueError):
    """A cross-field error that still belongs to one field (so a modal can show it inline)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class S3Spec(BaseModel):
    model_config = FORBID

    versioning: bool = True


class RdsSpec(BaseModel):
    model_config = FORBID

    engine: str = Field(default="postgres", pattern="^(postgres|mysql)$")
    engine_version: str = Field(default="16", pattern=r"^[0-9]+(\.[0-9]+)*$")
    instance_class: str = Field(default="db.t4g.micro", pattern=r"^db\.[a-z0-9]+\.[a-z0-9]+$")
    allocated_storage: int = Field(default=20, ge=20, le=1000)


class ElastiCacheSpec(BaseModel):
    model_config = FORBID

    node_type: str = Field(default="cache.t4g.micro", pattern=r"^cache\.[a-z0-9]+\.[a-z0-9]+$")
    engine_version: str = Field(default="7.1", pattern=r"^[0-9]+(\.[0-9]+)*$")


class Components(BaseModel):
    """Optional infrastructure a developer may add; None means absent."""

    model_config = FORBID

    s3: S3Spec | None = None
    rds: RdsSpec | None = None
    elasticache: ElastiCacheSpec | None = None

    def enabled(self) -> list[str]:
        return [name for name in ("s3", "rds", "elasticache") if getattr(self, name) is not None]


class PinSet(BaseModel):
    """SRE-owned versions that differ from the platform defaults for one service (or one of its environments).

    Set by `launchpad bulk` (or an SRE's spec), never by developers; every render applies them, so a bulk
    change is not undone by the service's next request.
    """

    model_config = {"extra": "forbid"}

    modules: dict[str, str] = Field(default_factory=dict,
                                    description="Terraform module key (platform.modules) -> version or git ref")
    chart_revision: str | None = Field(default=None, description="git revision of the service chart")
    sidecars: dict[SidecarName, str] = Field(default_factory=dict,
                                             description="nginx / filebeat -> image reference with a tag")
    actions: dict[str, str] = Field(default_factory=dict,
                                    description="GitHub Action key (provisioners.actions.PINNED) -> TAG@SHA for "
                                                "the service's CI workflow; service-wide only")

    @field_validator("modules")
    @classmethod
    def _modules(cls, v: dict[str, str]) -> dict[str, str]:
        for key, version in v.items():
            if not MODULE_KEY.match(key):
                raise ValueError(f"module key {key!r} is not a platform.modules key like rds or security_group")
            if not MODULE_VERSION.match(version):
                raise ValueError(f"module version {version!r} for {key} is not a version or tag like 7.3.0 or v7.3.0")
        return dict(sorted(v.items()))

    @field_validator("chart_revision")
    @classmethod
    def _revision(cls, v: str | None) -> str | None:
        if v is not None and not GIT_REVISION.match(v):
            raise ValueError(f"chart revision {v!r} is not a git tag, branch or commit like v1.1.0")
        return v

    @field_validator("sidecars")
    @classmethod
    def _sidecars(cls, v: dict[str, str]) -> dict[str, str]:
        for name, image in v.items():
            if not SIDECAR_IMAGE.match(image):
                raise ValueError(f"{name} image {image!r} must be registry/repository:tag, "
                                 "e.g. docker.elastic.co/beats/filebeat:8.15.0")
        return dict(sorted(v.items()))

    @field_validator("actions")
    @classmethod
    def _actions(cls, v: dict[str, str]) -> dict[str, str]:
        for key, pin in v.items():
            problem = actions.pin_problem(key, pin)
            if problem:
                raise ValueError(problem)
        return dict(sorted(v.items()))

    def is_empty(self) -> bool:
        return not self.modules and self.chart_revision is None and not self.sidecars and not self.actions

    def over(self, base: PinSet) -> PinSet:
        """These pins, falling back to `base` for whatever they leave unset."""
        return PinSet(modules={**base.modules, **self.modules},
                      chart_revision=self.chart_revision if self.chart_revision is not None else base.chart_revision,
                      sidecars={**base.sidecars, **self.sidecars}, actions={**base.actions, **self.actions})


class Pins(PinSet):
    """Service-wide pins, plus per-environment pins that win over them in that environment."""

    environments: dict[str, PinSet] = Field(default_factory=dict, description="environment name -> its own pins")

    @field_validator("environments")
    @classmethod
    def _environments(cls, v: dict[str, PinSet]) -> dict[str, PinSet]:
        for env, pins in v.items():
            if pins.actions:
                raise ValueError(f"{env} pins actions, but one CI workflow serves every environment; pin actions "
                                 "service-wide (pins.actions)")
        return {env: pins for env, pins in sorted(v.items()) if not pins.is_empty()}

    def is_empty(self) -> bool:
        return super().is_empty() and not self.environments

    def service_wide(self) -> PinSet:
        return PinSet(modules=self.modules, chart_revision=self.chart_revision, sidecars=self.sidecars,
                      actions=self.actions)

    def for_environment(self, env: str) -> PinSet:
        """What applies in `env`; the shared (all-environment) packages use `service_wide()`."""
        own = self.environments.get(env)
        return own.over(self.service_wide()) if own is not None else self.service_wide()

    def only(self, environments: list[str]) -> Pins:
        """These pins without the environments a service no longer has."""
        return self.model_copy(update={"environments": {e: p for e, p in self.environments.items()
                                                        if e in environments}})


class EnvironmentSpec(BaseModel):
    """One environment of a service; temporary ones (`tmp-<slug>`) carry a TTL in hours."""

    model_config = FORBID

    name: str
    ttl_hours: int | None = Field(default=None, description="temporary environments only")
    replicas: int | None = Field(default=None, ge=0, le=50)
    cpu: str | None = Field(default=None, description="CPU request in this environment; default: the service's")
    memory: str | None = Field(default=None,
                               description="memory request and limit in this environment; default: the service's")
    domain: str | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, v: str, info: ValidationInfo) -> str:
        if v in STANDARD_ENVIRONMENTS or TEMP_ENV.match(v):
            return v
        if (info.context or {}).get("recorded") and LEGACY_TEMP_ENV.match(v):
            return v  # created before slugs lost their hyphens; it keeps its names until it expires
        raise ValueError(
            f"environment {v!r} is not one of devel, alpha, prod, or a temporary 'tmp-<slug>' "
            "(slug: 1-8 lowercase letters or digits, no hyphens, e.g. tmp-pr42)"
        )

    @field_validator("cpu")
    @classmethod
    def _cpu(cls, v: str | None) -> str | None:
        return _cpu_quantity(v)

    @field_validator("memory")
    @classmethod
    def _memory(cls, v: str | None) -> str | None:
        return _memory_quantity(v)

    @property
    def temporary(self) -> bool:
        return self.name.startswith("tmp-")

    @model_validator(mode="after")
    def _ttl(self, info: ValidationInfo) -> EnvironmentSpec:
        platform = _platform(info)
        if self.temporary:
            if self.ttl_hours is None:
                raise ValueError(f"temporary environment {self.name!r} needs ttl_hours (e.g. 72)")
            if not 1 <= self.ttl_hours <= platform.max_ttl_hours:
                raise ValueError(f"ttl_hours {self.ttl_hours} is out of range; use 1 to {platform.max_ttl_hours}")
        elif self.ttl_hours is not None:
            raise ValueError(f"{self.name} is permanent; remove ttl_hours or use a tmp-<slug> environment")
        return self


class ResourceNames(BaseModel):
    """Every AWS/Kubernetes name derived from a service in one environment, computed in one place.

    Injective: two different (service, environment) pairs never share a name of the same kind
    (tests/test_names.py proves it over generated names). `{env}-{service}` reads back one way because
    standard environments have no hyphen and temporary slugs have none after `tmp-`; the names that put
    the environment last (`application`) rely on service names never holding a `-tmp` word."""

    prefix: str
    target_group: str
    iam_role: str
    security_group: str
    rds_security_group: str
    ecr_repository: str
    ci_role: str
    bucket: str
    rds: str
    elasticache: str
    namespace: str
    service_account: str
    release: str = Field(description="Helm release name (unique within the namespace)")
    application: str = Field(description="Argo CD Application name")


def application_name(team: str, service: str, env: str) -> str:
    """The Argo CD Application of a service in one environment (also a `name_fields` field)."""
    return f"{team}-{service}-{env}"


def ci_role_name(service: str) -> str:
    """The IAM role the service's CI assumes; one per service, whatever the environment."""
    return f"{service}-ci"


def name_fields(service: str, team: str, env: str, organisation: str) -> dict[str, str]:
    """The fields of `ResourceNames` as a plain dict: the one place the name formats live (cheap enough to
    compute for a whole registry inside a Slack acknowledgement)."""
    prefix = f"{env}-{service}"
    return {
        "prefix": prefix,
        "target_group": f"{prefix}-tg",
        "iam_role": f"{prefix}-irsa",
        "security_group": f"{prefix}-pods",
        "rds_security_group": f"{prefix}-rds",
        "ecr_repository": f"{team}/{service}",
        "ci_role": ci_role_name(service),
        "bucket": f"{organisation}-{prefix}",
        "rds": prefix,
        "elasticache": prefix,
        "namespace": f"{team}-{env}",
        "service_account": service,
        "release": service,
        "application": application_name(team, service, env),
    }


def resource_names(service: str, team: str, env: str, platform: PlatformConfig) -> ResourceNames:
    """The names of `service` (of `team`) in `env`; pure, so a registry can be checked without its specs."""
    return ResourceNames(**name_fields(service, team, env, platform.organisation))


class ServiceSpec(BaseModel):
    """A service request as the developer fills it in (modal, YAML file or CLI)."""

    name: str = Field(description="DNS-1123 label: lowercase letters, digits, hyphens")
    team: str
    blueprint: str = "web-service"
    description: str = Field(default="", description="free text; reaches tags, annotations and PR bodies")
    environments: list[EnvironmentSpec]
    image: str | None = Field(default=None, description="a tag of the service's own ECR repository "
                                                         "(<registry>/<team>/<service>:<tag>); default: CI sets it")
    port: int | None = None
    health_check_path: str | None = None
    cpu: str | None = None
    memory: str | None = None
    domain: str | None = Field(default=None, description="production domain; other environments derive theirs")
    components: Components = Field(default_factory=Components)
    iam_policy_arns: list[str] = Field(default_factory=list, description="extra managed policies for the role")
    ingress_cidrs: list[str] = Field(default_factory=list, description="extra CIDRs allowed to reach the pods")
    owner: str = Field(default="", description="who asked: Slack user id or email")
    pins: Pins = Field(default_factory=Pins, description="SRE-owned version pins (launchpad bulk); not for developers")

    model_config = {"extra": "forbid"}

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not v:
            raise ValueError("service name is empty; use lowercase letters, digits and hyphens, e.g. ranking-web")
        if len(v) > 63 or not DNS_LABEL.match(v):
            raise ValueError(
                f"service name {v!r} is not a DNS-1123 label: start with a letter, use only lowercase "
                "letters, digits and hyphens, end with a letter or digit (e.g. ranking-web)"
            )
        if "--" in v:
            raise ValueError(f"service name {v!r} has consecutive hyphens; ECR, RDS and ElastiCache names refuse "
                             "'--': use single hyphens (e.g. cache-svc)")
        if "-tmp-" in v or v.endswith("-tmp"):
            raise ValueError(f"service name {v!r} holds the word 'tmp', which marks temporary environments: "
                             f"'{v}' in one environment would share names with another service in a tmp- "
                             "environment; use another word (e.g. temp or scratch)")
        reserved = next((x for x in S3_RESERVED_SUFFIXES if v.endswith(x)), None)
        if reserved:
            raise ValueError(f"service name {v!r} ends in {reserved!r}, which S3 reserves for its own bucket "
                             "names; choose another ending")
        if len(v) > HELM_RELEASE_MAX:
            raise ValueError(f"service name {v!r} is {len(v)} characters; it is the Helm release name, which "
                             f"allows {HELM_RELEASE_MAX} — use at most {HELM_RELEASE_MAX} characters")
        return v

    @field_validator("team")
    @classmethod
    def _team(cls, v: str, info: ValidationInfo) -> str:
        teams = _platform(info).teams
        if v not in teams:
            raise ValueError(f"unknown team {v!r}; choose one of: {', '.join(sorted(teams))}")
        return v

    @field_validator("blueprint")
    @classmethod
    def _blueprint(cls, v: str, info: ValidationInfo) -> str:
        registry = _registry(info)
        if v not in registry:
            known = ", ".join(bp.id for bp in registry.all())
            raise ValueError(f"unknown blueprint {v!r}; choose one of: {known}")
        return v

    @field_validator("description")
    @classmethod
    def _description(cls, v: str) -> str:
        if len(v) > DESCRIPTION_MAX:
            raise ValueError(f"description is {len(v)} characters; keep it to {DESCRIPTION_MAX}")
        if FORBIDDEN_CONTROL.search(v):
            raise ValueError("description contains control characters; use plain text (newlines are fine)")
        if SURROGATE.search(v):
            raise ValueError("description contains broken unicode (a lone surrogate); paste it again as plain text")
        return v

    @field_validator("environments")
    @classmethod
    def _environments(cls, v: list[EnvironmentSpec]) -> list[EnvironmentSpec]:
        if not v:
            raise ValueError("choose at least one environment (devel, alpha, prod or tmp-<slug>)")
        names = [e.name for e in v]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"environment {', '.join(dupes)} is listed twice; list each environment once")
        order = {"devel": 0, "alpha": 1, "prod": 2}
        return sorted(v, key=lambda e: (order.get(e.name, 3), e.name))

    @field_validator("image")
    @classmethod
    def _image(cls, v: str | None) -> str | None:
        if v is not None and (len(v) > 255 or not IMAGE.match(v)):
            raise ValueError(
                f"image {v!r} is not a valid image reference; use registry/repository:tag, "
                "e.g. 111111111111.dkr.ecr.eu-west-1.amazonaws.com/ranking-web:1.4.2"
            )
        return v

    @field_validator("port")
    @classmethod
    def _port(cls, v: int | None) -> int | None:
        if v is None:
            return v
        if not 1 <= v <= 65535:
            raise ValueError(f"port {v} is out of range; use the container port your app listens on (1-65535)")
        if v in PORT_RESERVED:
            raise ValueError(f"port {v} is used by {PORT_RESERVED[v]}; listen on another port, e.g. 8080")
        if v < PORT_UNPRIVILEGED:
            raise ValueError(f"port {v} is below {PORT_UNPRIVILEGED}: the app runs as a non-root user, which may not "
                             f"bind it; listen on {PORT_UNPRIVILEGED} or above, e.g. 8080 (the load balancer still "
                             "serves HTTPS on 443)")
        return v

    @field_validator("health_check_path")
    @classmethod
    def _health(cls, v: str | None) -> str | None:
        if v is not None and not re.match(r"^/[A-Za-z0-9._~/-]{0,200}$", v):
            raise ValueError(f"health check path {v!r} must start with '/' and use URL path characters")
        return v

    @field_validator("cpu")
    @classmethod
    def _cpu(cls, v: str | None) -> str | None:
        return _cpu_quantity(v)

    @field_validator("memory")
    @classmethod
    def _memory(cls, v: str | None) -> str | None:
        return _memory_quantity(v)

    @field_validator("iam_policy_arns")
    @classmethod
    def _policies(cls, v: list[str]) -> list[str]:
        for arn in v:
            if not IAM_POLICY_ARN.match(arn):
                raise ValueError(f"{arn!r} is not an IAM policy ARN (arn:aws:iam::<account>:policy/<name>)")
        return sorted(set(v))

    @field_validator("ingress_cidrs")
    @classmethod
    def _cidrs(cls, v: list[str]) -> list[str]:
        for cidr in v:
            if not CIDR.match(cidr) or any(int(o) > 255 for o in cidr.split("/")[0].split(".")):
                raise ValueError(f"{cidr!r} is not an IPv4 CIDR like 10.20.0.0/16")
        return sorted(set(v))

    @model_validator(mode="after")
    def _cross_field(self, info: ValidationInfo) -> ServiceSpec:
        platform = _platform(info)
        blueprint = _registry(info).get(self.blueprint)
        env_names = {e.name for e in self.environments}
        for pinned in self.pins.environments:
            if pinned not in env_names:
                raise FieldProblem(f"pins.environments.{pinned}",
                                   f"{pinned} has pins but the service has no environment {pinned}; remove them")
        if self.image is not None and "ci" in blueprint.provisioners:
            ecr = self.names(platform.artifact_environment, platform).ecr_repository
            _check_image(self.image, f"{platform.registry_host()}/{ecr}")
        for env in self.environments:
            if not env.temporary and env.name not in platform.environments:
                raise FieldProblem("environments", f"{env.name} is not configured on this platform; choose one of "
                                                   f"{', '.join(platform.environments)} or a tmp-<slug>")
        for comp in self.components.enabled():
            if comp not in blueprint.components:
                raise FieldProblem(f"components.{comp}",
                                   f"blueprint {blueprint.id} has no {comp} component; remove it or pick another")
        for env in self.environments:
            names = self.names(env.name, platform)
            checks = [
                ("target group name", names.target_group, TARGET_GROUP_MAX, "target_group" in blueprint.components),
                ("IAM role name", names.iam_role, IAM_ROLE_MAX, True),
                ("S3 bucket name", names.bucket, BUCKET_MAX, self.components.s3 is not None),
                ("ElastiCache id", names.elasticache, ELASTICACHE_MAX, self.components.elasticache is not None),
                ("RDS identifier", names.rds, RDS_MAX, self.components.rds is not None),
                ("Argo CD application name", names.application, APPLICATION_MAX, "argocd" in blueprint.provisioners),
                ("namespace", names.namespace, NAMESPACE_MAX, True),
            ]
            if self.components.s3 is not None and names.bucket.startswith(S3_RESERVED_PREFIXES):
                raise FieldProblem("name", f"the S3 bucket name {names.bucket!r} starts with a prefix S3 reserves "
                                           f"({', '.join(S3_RESERVED_PREFIXES)}); ask SRE to change "
                                           "platform.organisation")
            for label, value, limit, applies in checks:
                if applies and len(value) > limit:
                    room = len(self.name) - (len(value) - limit)
                    raise FieldProblem(
                        "name",
                        f"service name {self.name!r} is {len(self.name)} characters; in {env.name} it makes the "
                        f"{label} {value!r} ({len(value)} characters) but AWS allows {limit} — use at most "
                        f"{max(room, 1)} characters"
                    )
        if blueprint.needs_domain:
            for env in self.environments:
                domain = self.domain_for(env.name, platform)
                field = "domain" if env.domain is None else f"environments.{env.name}.domain"
                _check_domain(domain, platform, env.name, field)
        elif self.domain or any(e.domain for e in self.environments):
            raise FieldProblem("domain", f"blueprint {blueprint.id} serves no HTTP traffic; remove the domain")
        return self

    # --- derived values (pure; used by every renderer) -------------------------------------------
    def environment(self, name: str) -> EnvironmentSpec:
        for env in self.environments:
            if env.name == name:
                return env
        raise KeyError(name)

    def names(self, env: str, platform: PlatformConfig) -> ResourceNames:
        return resource_names(self.name, self.team, env, platform)

    def domain_for(self, env: str, platform: PlatformConfig) -> str:
        for e in self.environments:
            if e.name == env and e.domain:
                return e.domain
        if env == "prod" and self.domain:
            return self.domain
        zone = platform.target_for(env).hosted_zone
        if env.startswith("tmp-"):
            return f"{self.name}-{env}.{zone}"
        return f"{self.name}.{zone}"


def split_image(image: str) -> tuple[str, str | None, str]:
    """(repository, tag or None, digest or "") of an image reference."""
    reference, _, digest = image.partition("@")
    match = IMAGE.match(reference)
    tag = match.group("tag") if match else None
    return (reference[: -len(tag) - 1] if tag else reference), tag, digest


def _check_image(image: str, repository: str) -> None:
    """The service's CI workflow pushes to its own ECR repository and deploys by rewriting the tag in
    values.yaml: an image elsewhere, or pinned by digest, would never change what runs. Refused, saying
    what works (leave `image` out and CI sets it)."""
    name, _, digest = split_image(image)
    if digest:
        raise FieldProblem("image", f"image {image!r} is pinned by digest, but CI deploys by rewriting the tag, "
                                    f"so the digest would keep the old image running; give {repository}:<tag>, or "
                                    "leave image out (CI sets it)")
    if name != repository:
        raise FieldProblem("image", f"image {image!r} is not in the service's ECR repository {repository}: CI pushes "
                                    "there and deploys by rewriting the tag, so an image elsewhere would never "
                                    f"change; use {repository}:<tag>, or leave image out (CI sets it)")


def _cpu_quantity(v: str | None) -> str | None:
    if v is not None and not CPU.match(v):
        raise ValueError(f"cpu {v!r} is not a Kubernetes CPU quantity; use millicores like 250m or cores like 1")
    if v is not None and not v.endswith("m") and float(v) == 0:
        raise ValueError(f"cpu {v!r} is zero; a pod needs some CPU: use millicores like 250m or cores like 1")
    return v


def _memory_quantity(v: str | None) -> str | None:
    if v is not None and not MEMORY.match(v):
        raise ValueError(f"memory {v!r} is not a quantity; use Mi or Gi, e.g. 512Mi or 2Gi")
    return v


def _check_domain(domain: str, platform: PlatformConfig, env: str, field: str) -> None:
    if not HOSTNAME.match(domain):
        raise FieldProblem(field, f"domain {domain!r} for {env} is not a valid lowercase hostname "
                                  "(e.g. ranking.example.com)")
    zones = sorted(set(platform.hosted_zones) | {t.hosted_zone for t in platform.environments.values()})
    if not any(domain == z or domain.endswith("." + z) for z in zones):
        raise FieldProblem(field, f"domain {domain!r} for {env} is outside the hosted zones; "
                                  f"use a name under: {', '.join(zones)}")
    if platform.zone_for(domain, env) is None:  # its record and certificate validation go to env's own account
        account = platform.target_for(env).account_id
        zone = max((z for z in zones if domain == z or domain.endswith("." + z)), key=len)
        holders = ", ".join(platform.zone_holders(zone)) or "no environment"
        own = ", ".join(platform.zones_held(env))
        raise FieldProblem(field, f"domain {domain!r} for {env} is in zone {zone}, which {env}'s account {account} "
                                  f"does not hold ({holders} does); use a name under {own}, or ask the platform "
                                  f"team to delegate a zone to that account (environments.{env}.hosted_zones)")


def _platform(info: ValidationInfo) -> PlatformConfig:
    ctx = info.context or {}
    platform = ctx.get("platform")
    return platform if isinstance(platform, PlatformConfig) else PlatformConfig()


def _registry(info: ValidationInfo) -> BlueprintRegistry:
    ctx = info.context or {}
    registry = ctx.get("blueprints")
    return registry if isinstance(registry, BlueprintRegistry) else BlueprintRegistry.load()


def parse_spec(data: Any, platform: PlatformConfig, blueprints: BlueprintRegistry, *,
               recorded: bool = False) -> ServiceSpec:
    """Validate raw input into a ServiceSpec or raise InvalidSpecError(field -> message).

    `recorded`: a spec LaunchPad stored earlier (a service's, a request's); it keeps names that newer
    rules refuse in new input (temporary slugs with hyphens), so its teardown still renders."""
    if not isinstance(data, dict):
        raise InvalidSpecError({"spec": "expected a mapping of fields (name, team, environments, ...)"})
    try:
        return ServiceSpec.model_validate(data, context={"platform": platform, "blueprints": blueprints,
                                                         "recorded": recorded})
    except ValidationError as exc:
        errors: dict[str, str] = {}
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"]) or "spec"
            problem = (err.get("ctx") or {}).get("error")
            if isinstance(problem, FieldProblem):
                loc = problem.field
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "missing":
                msg = "is required"
            elif err["type"] == "extra_forbidden":
                msg = unknown_key_message(ServiceSpec, err["loc"])
            errors.setdefault(loc, msg)
        raise InvalidSpecError(errors) from None


def resolved(spec: ServiceSpec, blueprint: Blueprint) -> dict[str, Any]:
    """The spec with blueprint defaults filled in: what renderers actually use."""
    d = blueprint.defaults
    return {
        "port": spec.port or d.port,
        "cpu": spec.cpu or d.cpu,
        "memory": spec.memory or d.memory,
        "health_check_path": spec.health_check_path or d.health_check_path,
    }


def resources_for(spec: ServiceSpec, blueprint: Blueprint, env: str) -> dict[str, str]:
    """The app container's cpu and memory in `env`: the environment's own, else the service's, else the
    blueprint's defaults."""
    own, service = spec.environment(env), resolved(spec, blueprint)
    return {"cpu": own.cpu or service["cpu"], "memory": own.memory or service["memory"]}
