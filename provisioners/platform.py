"""What the platform team configures: teams, environments, repositories, module sources.

These are plain pydantic models so renderers can take them without importing `bot`. `bot.config`
embeds a `PlatformConfig` in its settings and loads it from env / .env / YAML.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

STANDARD_ENVIRONMENTS = ("devel", "alpha", "prod")


class Team(BaseModel):
    """A team owns services; its Argo CD project and RBAC are scoped to it."""

    name: str
    slack_group: str = Field(default="", description="Slack user group id whose members belong to the team")
    sso_group: str = Field(default="", description="SSO/OIDC group bound to the team's Argo CD role")
    namespaces: list[str] = Field(default_factory=list,
                                  description="namespaces the team may deploy to; default: '<team>-*'")
    cluster_resources: list[str] = Field(
        default_factory=list,
        description="cluster-scoped kinds ('group/Kind', '/Kind' for core) the team's Argo CD project may "
                    "manage; default none")
    github_team: str = Field(
        default="", pattern=r"^(@[A-Za-z0-9][A-Za-z0-9-]*/[A-Za-z0-9][A-Za-z0-9._-]*)?$",
        description="GitHub team ('@org/team-slug') that owns the team's paths in the generated CODEOWNERS "
                    "files; empty: platform.sre_github_team reviews them")


class EnvironmentTarget(BaseModel):
    """Where an environment lives in AWS and Kubernetes."""

    account_id: str = "111111111111"
    region: str = "eu-west-1"
    hosted_zone: str = Field(default="example.com", description="public zone for this environment's domains")
    hosted_zones: list[str] = Field(
        default_factory=list,
        description="further public zones this environment's account holds; a service domain in this environment "
                    "must sit in hosted_zone or one of these (its DNS record and certificate validation go there)")
    vpc_id: str = "vpc-00000000000000000"
    vpc_cidr: str = "10.0.0.0/16"
    alb_listener_arn: str = Field(
        default="arn:aws:elasticloadbalancing:eu-west-1:111111111111:listener/app/shared/0/0",
        description="HTTPS listener of the environment's shared ALB (host-header rules are added to it)",
    )
    listener_wildcard_certificate: bool = Field(
        default=True,
        description="the HTTPS listener's default certificate covers '*.<hosted_zone>': a domain one label under "
                    "hosted_zone needs no certificate of its own; every other domain gets an ACM certificate "
                    "(DNS-validated) attached to the listener")
    alb_dns_name: str = Field(default="shared-alb.eu-west-1.elb.amazonaws.com",
                              description="DNS name of the shared ALB (Route53 alias target)")
    alb_zone_id: str = Field(default="Z32O12XQLNTSW2", description="canonical hosted zone id of the shared ALB")
    alb_security_group_id: str = Field(default="sg-0000000000000000a",
                                       description="the shared ALB's security group (allowed to reach pods)")
    node_security_group_id: str = Field(
        default="sg-0000000000000000b", pattern=r"^sg-[0-9a-f]{8,17}$",
        description="the EKS cluster's node security group: with security groups for pods, the kubelet probes "
                    "pods from it, so every pod security group admits it on the probe ports")
    database_subnet_group: str = Field(default="main-database",
                                       description="existing RDS DB subnet group that service databases use")
    elasticache_subnet_group: str = Field(default="main-elasticache",
                                          description="existing ElastiCache subnet group that service caches use")
    cluster_name: str = "eks-main"
    cluster_oidc_provider_arn: str = Field(
        default="arn:aws:iam::111111111111:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLE")
    argocd_destination: str = Field(default="https://kubernetes.default.svc",
                                    description="Argo CD destination server for this environment")


class ModuleSource(BaseModel):
    """A pinned Terraform module: `source` + `version` (registry) or a git URL with ?ref=."""

    source: str
    version: str = ""

    def terraform_source(self) -> str:
        """The string for a terragrunt `terraform { source = ... }` block."""
        if self.version and self.source.startswith(("git::", "github.com", "https://")):
            sep = "&" if "?" in self.source else "?"
            return f"{self.source}{sep}ref={self.version}"
        if self.version:
            return f"tfr:///{self.source}?version={self.version}"
        return self.source


def _example_target(env: str, account_id: str, zone: str) -> EnvironmentTarget:
    """Self-consistent example values (each environment's ARNs in its own account) for the embedded default."""
    region = "eu-west-1"
    return EnvironmentTarget(
        account_id=account_id,
        region=region,
        hosted_zone=zone,
        alb_listener_arn=f"arn:aws:elasticloadbalancing:{region}:{account_id}:listener/app/{env}-shared/0/0",
        alb_dns_name=f"{env}-shared-alb.{region}.elb.amazonaws.com",
        cluster_name=f"eks-{env}",
        cluster_oidc_provider_arn=f"arn:aws:iam::{account_id}:oidc-provider/oidc.eks.{region}.amazonaws.com/id/"
                                  f"EXAMPLE{env.upper()}",
    )


def _default_modules() -> dict[str, ModuleSource]:
    return {
        "ecr": ModuleSource(source="terraform-aws-modules/ecr/aws", version="3.2.0"),
        "security_group": ModuleSource(source="terraform-aws-modules/security-group/aws", version="5.3.1"),
        "alb": ModuleSource(source="terraform-aws-modules/alb/aws", version="10.5.0"),
        "iam_role": ModuleSource(
            source="terraform-aws-modules/iam/aws//modules/iam-role-for-service-accounts", version="6.5.0"),
        "iam_policy": ModuleSource(source="terraform-aws-modules/iam/aws//modules/iam-policy", version="6.5.0"),
        "route53": ModuleSource(source="terraform-aws-modules/route53/aws", version="6.4.0"),
        "s3": ModuleSource(source="terraform-aws-modules/s3-bucket/aws", version="5.15.4"),
        "rds": ModuleSource(source="terraform-aws-modules/rds/aws", version="7.2.0"),
        "elasticache": ModuleSource(source="terraform-aws-modules/elasticache/aws", version="1.10.3"),
        "acm": ModuleSource(source="terraform-aws-modules/acm/aws", version="6.3.0"),
    }


class Repository(BaseModel):
    """A target repository: `name` is 'owner/repo' on GitHub, or a folder name for the local forge."""

    name: str
    base_branch: str = "main"
    url: str = Field(default="", description="clone URL Argo CD reads it from; default https://github.com/<name>.git")

    def clone_url(self) -> str:
        return self.url or f"https://github.com/{self.name}.git"


def _default_repositories() -> dict[str, Repository]:
    return {
        "infra": Repository(name="platform/infra-live"),
        "values": Repository(name="platform/k8s-values"),
        "gitops": Repository(name="platform/gitops"),
        "service": Repository(name="{team}/{service}"),
    }


class StateBackend(BaseModel):
    """Terragrunt remote state: one S3 bucket + DynamoDB lock table per account."""

    bucket: str = "{account_id}-terraform-state"
    lock_table: str = "terraform-locks"
    region: str = "eu-west-1"


class PlatformConfig(BaseModel):
    """Everything a renderer needs to know about the platform; all fields have working defaults."""

    organisation: str = Field(default="example", description="prefix for globally unique names (S3 buckets)")
    teams: dict[str, Team] = Field(default_factory=lambda: {
        "search": Team(name="search", sso_group="search-devs", github_team="@example/search"),
        "payments": Team(name="payments", sso_group="payments-devs", github_team="@example/payments"),
        "platform": Team(name="platform", sso_group="sre", github_team="@example/sre"),
    })
    sre_github_team: str = Field(
        default="@example/sre", pattern=r"^@[A-Za-z0-9][A-Za-z0-9-]*/[A-Za-z0-9][A-Za-z0-9._-]*$",
        description="GitHub team ('@org/team-slug') of SRE: owns every shared file in the generated CODEOWNERS "
                    "files (templates, root.hcl, modules, AppProjects, IAM and security group packages) and "
                    "co-owns every team path, so one SRE can approve a bulk change")
    environments: dict[str, EnvironmentTarget] = Field(default_factory=lambda: {
        "devel": _example_target("devel", "111111111111", "devel.example.com"),
        "alpha": _example_target("alpha", "222222222222", "alpha.example.com"),
        "prod": _example_target("prod", "333333333333", "example.com"),
    })
    environment_order: list[str] = Field(
        default_factory=lambda: list(STANDARD_ENVIRONMENTS),
        description="the standard environments from least to most privileged: images are promoted in this "
                    "order, and a change set spanning several environments uses the most privileged one's "
                    "GitHub credential")
    temporary_environment_base: str = Field(
        default="devel", description="standard environment whose account/cluster temporary ones live in")
    hosted_zones: list[str] = Field(
        default_factory=lambda: ["example.com"],
        description="zones a service domain may sit in (subdomains included); in each environment the zone must "
                    "also be held by that environment's account (environments.<env>.hosted_zone / hosted_zones)")
    repositories: dict[str, Repository] = Field(default_factory=_default_repositories)
    modules: dict[str, ModuleSource] = Field(default_factory=_default_modules)
    state: StateBackend = Field(default_factory=StateBackend)
    chart_repo_url: str = Field(default="https://github.com/platform/launchpad-chart.git",
                                description="git URL of the SRE-owned service chart")
    chart_path: str = "chart"
    chart_revision: str = Field(default="v1.1.0", description="git revision (tag) of the service chart every "
                                "service runs unless SRE pins another; the tag of templates/chart/Chart.yaml's version")
    image_registry: str = Field(default="",
                                description="ECR registry host; default '<account>.dkr.ecr.<region>.amazonaws.com'")
    artifact_environment: str = Field(
        default="devel",
        description="environment whose account holds every service's ECR repository and CI push role; "
                    "the other environments' accounts pull from it")
    max_ttl_hours: int = Field(default=24 * 14, description="longest TTL a temporary environment may have")
    default_ttl_hours: int = 72
    infra_path: str = Field(
        default="{account_id}/{region}/{env}/{team}/{service}/{component}",
        description="where an infra package goes; {team} gives each team a path of its own (CODEOWNERS)")
    values_path: str = Field(
        default="teams/{team}/{service}",
        description="folder of a service's Helm values; {team} gives each team a path of its own (CODEOWNERS)")
    gitops_path: str = "teams/{team}"
    deregistration_delay_seconds: int = Field(
        default=30, ge=0, le=3600,
        description="how long the load balancer keeps sending in-flight requests to a draining pod (target "
                    "group deregistration_delay); the chart's preStop sleep is derived from it")
    ecr_keep_tagged_images: int = Field(
        default=100, ge=1, le=10000,
        description="tagged images each service's ECR repository keeps (the newest); older ones expire. Keep it "
                    "above the builds between a devel build and its prod release")
    argocd_namespace: str = Field(default="argocd",
                                  description="namespace of Argo CD's AppProjects and ApplicationSets")
    chart_resource_kinds: list[str] = Field(
        default_factory=lambda: ["apps/Deployment", "/Service", "/ServiceAccount", "/ConfigMap",
                                 "rbac.authorization.k8s.io/Role", "rbac.authorization.k8s.io/RoleBinding",
                                 "elbv2.k8s.aws/TargetGroupBinding", "vpcresources.k8s.aws/SecurityGroupPolicy",
                                 "policy/PodDisruptionBudget"],
        description="namespaced kinds ('group/Kind') the service chart renders; each team's Argo CD project "
                    "allows only these")

    infra_pipeline: Literal["actions", "atlantis", "none"] = Field(
        default="actions",
        description="what plans and applies the infra repository: 'actions' (GitHub Actions workflows LaunchPad "
                    "writes and follows), 'atlantis' (atlantis.yaml for Atlantis, plus the workflows that destroy "
                    "removed units), or 'none' (LaunchPad writes no pipeline and follows none); see docs/pipeline.md")
    infra_pipeline_role: str = Field(
        default="arn:aws:iam::{account_id}:role/launchpad-infra",
        description="IAM role the infra pipeline assumes by OIDC in each account ({account_id} is replaced); "
                    "one role per account, trusted for the infra repository only")
    infra_pipeline_roles: dict[str, str] = Field(
        default_factory=dict, description="per account id: a role ARN that replaces infra_pipeline_role there")
    infra_pipeline_runner: str = Field(default="ubuntu-latest", description="runs-on label of the pipeline's jobs")
    terragrunt_version: str = Field(default="0.90.1", description="Terragrunt the pipeline installs (0.90+ CLI)")
    opentofu_version: str = Field(default="1.9.1", description="OpenTofu the pipeline installs")

    def target_for(self, env: str) -> EnvironmentTarget:
        """Temporary environments live in the base environment's account and cluster."""
        if env in self.environments:
            return self.environments[env]
        return self.environments[self.temporary_environment_base]

    def zones_held(self, env: str) -> list[str]:
        """The public zones the account of `env` holds (every environment sharing that account counts)."""
        account = self.target_for(env).account_id
        zones = {zone for target in self.environments.values() if target.account_id == account
                 for zone in (target.hosted_zone, *target.hosted_zones)}
        return sorted(zones | {self.target_for(env).hosted_zone, *self.target_for(env).hosted_zones})

    def zone_for(self, domain: str, env: str) -> str | None:
        """The most specific zone held by `env`'s account that `domain` sits in; None when there is none."""
        matching = [z for z in self.zones_held(env) if domain == z or domain.endswith("." + z)]
        return max(matching, key=lambda z: (len(z), z)) if matching else None

    def zone_holders(self, zone: str) -> list[str]:
        """The environments whose accounts hold `zone`."""
        return [env for env in self.environments if zone in self.zones_held(env)]

    def artifact_target(self) -> EnvironmentTarget:
        """Where images are built to: one ECR repository per service, shared by all its environments."""
        return self.target_for(self.artifact_environment)

    def accounts(self) -> list[str]:
        """Every AWS account an environment (or the artifact environment) lives in."""
        return sorted({t.account_id for t in self.environments.values()} | {self.artifact_target().account_id})

    def infra_role_for(self, account_id: str) -> str:
        return self.infra_pipeline_roles.get(account_id) or self.infra_pipeline_role.format(account_id=account_id)

    def registry_host(self) -> str:
        """The ECR registry every service image lives in (and that the CI workflow pushes to)."""
        if self.image_registry:
            return self.image_registry
        target = self.artifact_target()
        return f"{target.account_id}.dkr.ecr.{target.region}.amazonaws.com"
