"""What a domain lookup found, as plain data, and the pure decisions the lookup makes along the way.

Owns the result tree (zone -> record -> load balancer / CloudFront / S3 / API Gateway -> rules ->
target groups -> targets), parsing what users type, hostname matching (zones, ALB host-header
patterns), endpoint classification, reading AWS Load Balancer Controller tags, and the plain-text
rendering the CLI prints. It never calls AWS; `domain_lookup` does that and builds these objects.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from enum import StrEnum

from pydantic import BaseModel, Field

from bot.aws.errors import InvalidDomain

LABEL = r"[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?"
HOSTNAME = re.compile(rf"^(?=.{{1,253}}$)(\*\.)?({LABEL}\.)*{LABEL}$")
SLACK_LINK = re.compile(r"^<([^|>]+)(?:\|([^>]+))?>$")
ELB_DNS = re.compile(r"\.elb\.amazonaws\.com(\.cn)?$|\.elb\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$")
ELB_REGION = re.compile(r"\.([a-z]{2}(?:-gov)?-[a-z]+-\d)\.elb\.amazonaws\.com|\.elb\.([a-z]{2}(?:-gov)?-[a-z]+-\d)\.")
S3_WEBSITE = re.compile(r"^(?:(?P<bucket>.+)\.)?s3-website[.-](?P<region>[a-z0-9-]+)\.amazonaws\.com(\.cn)?$")
S3_BUCKET = re.compile(r"^(?P<bucket>.+)\.s3(?:[.-](?P<region>[a-z0-9-]+))?\.amazonaws\.com(\.cn)?$")
API_GATEWAY = re.compile(r"^(?P<id>[a-z0-9-]+)\.execute-api\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(\.cn)?$")
CLOUDFRONT = re.compile(r"^[a-z0-9]+\.cloudfront\.net$")

# Tags written by the AWS Load Balancer Controller (kubernetes-sigs/aws-load-balancer-controller):
# elbv2.k8s.aws/cluster = cluster name; ingress.k8s.aws/stack = "<namespace>/<ingress>" (or the group name of an
# IngressGroup); ingress.k8s.aws/resource = "<namespace>/<ingress>-<service>:<port>" on target groups;
# service.k8s.aws/stack = "<namespace>/<service>"; service.k8s.aws/resource = "LoadBalancer" or "<ns>/<svc>:<port>".
TAG_CLUSTER = "elbv2.k8s.aws/cluster"
TAG_INGRESS_STACK = "ingress.k8s.aws/stack"
TAG_INGRESS_RESOURCE = "ingress.k8s.aws/resource"
TAG_SERVICE_STACK = "service.k8s.aws/stack"
TAG_SERVICE_RESOURCE = "service.k8s.aws/resource"
# Tags a platform team (or LaunchPad's own Terraform) may put on target groups, buckets and APIs.
SERVICE_TAGS = ("launchpad/service", "launchpad.io/service", "app.kubernetes.io/name", "Service", "service")
TEAM_TAGS = ("launchpad/team", "launchpad.io/team", "Team", "team", "Owner", "owner")
NAMESPACE_TAGS = ("launchpad/namespace", "kubernetes.io/namespace")
CLUSTER_TAGS = ("launchpad/cluster", "kubernetes.io/cluster-name")


class NodeKind(StrEnum):
    ZONE = "zone"
    RECORD = "record"
    LOAD_BALANCER = "load_balancer"
    LISTENER = "listener"
    RULE = "rule"
    TARGET_GROUP = "target_group"
    TARGET = "target"
    KUBERNETES = "kubernetes"
    CLOUDFRONT = "cloudfront"
    ORIGIN = "origin"
    S3 = "s3"
    API_GATEWAY = "api_gateway"
    ENDPOINT = "endpoint"  # an IP, an external name, or an AWS endpoint we do not inspect
    NOTE = "note"


class Node(BaseModel):
    """One line of the tree and what hangs below it."""

    kind: NodeKind
    label: str
    facts: dict[str, str] = Field(default_factory=dict)
    note: str | None = Field(default=None, description="what the reader should know (no match, loop, hidden)")
    children: list[Node] = Field(default_factory=list)

    def walk(self) -> Iterable[Node]:
        yield self
        for child in self.children:
            yield from child.walk()


class ZoneRef(BaseModel):
    id: str
    name: str
    private: bool

    @property
    def short_id(self) -> str:
        return self.id.rsplit("/", 1)[-1]

    def describe(self) -> str:
        return f"{self.name} ({'private' if self.private else 'public'}, {self.short_id})"


class Workload(BaseModel):
    """Where traffic ends in Kubernetes, read from controller (or platform) tags."""

    cluster: str | None = None
    namespace: str | None = None
    service: str | None = None
    ingress: str | None = None
    source: str = Field(description="the tag that said so, e.g. ingress.k8s.aws/resource")
    candidates: list[str] = Field(
        default_factory=list,
        description="possible Kubernetes Service names when the tags do not say where the Ingress name ends "
                    "(an IngressGroup's `<ingress>-<service>`), most specific first")

    def describe(self) -> str:
        parts = [p for p in (self.cluster, self.namespace, self.service or self.ingress) if p]
        return " / ".join(parts) or "?"


class Owner(BaseModel):
    """Who owns what serves the domain: a LaunchPad service and its team."""

    service: str | None = Field(description="None when only a team tag was found")
    team: str
    owner: str | None = Field(default=None, description="Actor id of the service's owner, when known")
    environment: str | None = None
    matched_by: str = Field(description="how it was found, e.g. 'domain', 'namespace/service', 'tag Team'")


class LookupResult(BaseModel):
    domain: str
    found: bool
    zones: list[ZoneRef] = Field(default_factory=list, description="the zones the domain belongs to")
    zones_searched: list[ZoneRef] = Field(default_factory=list)
    owners: list[Owner] = Field(default_factory=list)
    workloads: list[Workload] = Field(default_factory=list)
    tree: list[Node] = Field(default_factory=list)
    problems: list[str] = Field(default_factory=list, description="what could not be seen, and why")
    aws_calls: dict[str, int] = Field(default_factory=dict)

    @property
    def aws_call_count(self) -> int:
        return sum(self.aws_calls.values())

    def summary(self) -> str:
        if not self.found:
            return f"{self.domain}: not found"
        if self.owners:
            first = self.owners[0]
            return f"{self.domain}: team {first.team}, service {first.service or 'unknown'}"
        return f"{self.domain}: owner unknown"


# --- parsing and matching ---------------------------------------------------------------------------------------


def parse_domain(text: str) -> str:
    """What a user typed (a hostname, a URL, a Slack link) -> a lowercase hostname without trailing dot."""
    value = text.strip()
    link = SLACK_LINK.match(value)
    if link:
        value = link.group(2) or link.group(1)
    value = re.sub(r"^[a-z][a-z0-9+.-]*://", "", value, flags=re.IGNORECASE)
    value = value.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
    value = value.rsplit("@", 1)[-1]
    value = re.sub(r":\d+$", "", value).rstrip(".").lower()
    try:
        value = value.encode("idna").decode("ascii") if any(ord(c) > 127 for c in value) else value
    except UnicodeError:
        raise InvalidDomain(f"{text.strip()!r} is not a valid domain name") from None
    if not value or not HOSTNAME.match(value):
        raise InvalidDomain(f"{text.strip()!r} is not a hostname; give one like shop.example.com")
    return value


def decode_record_name(name: str) -> str:
    r"""Route53 returns names with a trailing dot and octal escapes (`\052` for `*`)."""
    decoded = re.sub(r"\\(\d{3})", lambda m: chr(int(m.group(1), 8)), name)
    return decoded.rstrip(".").lower()


def in_zone(name: str, zone_name: str) -> bool:
    return name == zone_name or name.endswith("." + zone_name)


def zones_for(domain: str, zones: Iterable[ZoneRef]) -> list[ZoneRef]:
    """The zones with the longest name that is a suffix of `domain`; public ones first."""
    matching = [z for z in zones if in_zone(domain, z.name)]
    if not matching:
        return []
    longest = max(len(z.name) for z in matching)
    return sorted((z for z in matching if len(z.name) == longest), key=lambda z: (z.private, z.id))


def wildcard_names(domain: str, zone_name: str) -> list[str]:
    """`a.b.example.com` in `example.com` -> [`*.b.example.com`, `*.example.com`]: closest encloser first."""
    labels = domain.split(".")
    out = []
    for i in range(1, len(labels)):
        parent = ".".join(labels[i:])
        if not in_zone(parent, zone_name):
            break
        out.append(f"*.{parent}")
    return out


def host_pattern_matches(pattern: str, host: str) -> bool:
    """ALB host-header / CloudFront alias semantics: case-insensitive, `*` any run of characters, `?` one."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern.lower().rstrip("."))
    return re.fullmatch(regex, host.lower()) is not None


def strip_dualstack(dns_name: str) -> str:
    name = dns_name.rstrip(".").lower()
    return name.removeprefix("dualstack.")


def is_elb(dns_name: str) -> bool:
    return ELB_DNS.search(strip_dualstack(dns_name)) is not None


def elb_region(dns_name: str) -> str | None:
    match = ELB_REGION.search(strip_dualstack(dns_name))
    return (match.group(1) or match.group(2)) if match else None


def is_cloudfront(dns_name: str) -> bool:
    return CLOUDFRONT.match(dns_name.rstrip(".").lower()) is not None


def workload_from_tags(tags: Mapping[str, str]) -> Workload | None:
    """Read the AWS Load Balancer Controller's tags (or platform tags) into a cluster/namespace/service."""
    cluster = tags.get(TAG_CLUSTER) or next((tags[k] for k in CLUSTER_TAGS if k in tags), None)
    service_stack = tags.get(TAG_SERVICE_STACK)
    if service_stack and "/" in service_stack:
        namespace, service = service_stack.split("/", 1)
        return Workload(cluster=cluster, namespace=namespace, service=service, source=TAG_SERVICE_STACK)
    resource = tags.get(TAG_INGRESS_RESOURCE, "")
    stack = tags.get(TAG_INGRESS_STACK, "")
    if "/" in resource and ":" in resource:  # <ns>/<ingress>-<service>:<port> on a target group
        namespace, rest = resource.split("/", 1)
        ingress_and_service = rest.rsplit(":", 1)[0]
        ingress = stack.split("/", 1)[1] if stack.startswith(namespace + "/") else None
        backend: str | None = None
        if ingress and ingress_and_service.startswith(ingress + "-"):
            backend = ingress_and_service[len(ingress) + 1:]
        if backend is None:  # an IngressGroup's stack is the group name: the Ingress name is not known
            group = f" (IngressGroup {stack})" if stack and "/" not in stack else ""
            return Workload(cluster=cluster, namespace=namespace, ingress=ingress or ingress_and_service,
                            source=TAG_INGRESS_RESOURCE + group, candidates=backend_candidates(ingress_and_service))
        return Workload(cluster=cluster, namespace=namespace, service=backend, ingress=ingress,
                        source=TAG_INGRESS_RESOURCE)
    if stack:
        namespace, _, ingress = stack.partition("/")
        if ingress:
            return Workload(cluster=cluster, namespace=namespace, ingress=ingress, source=TAG_INGRESS_STACK)
        return Workload(cluster=cluster, ingress=stack, source=TAG_INGRESS_STACK + " (IngressGroup)")
    tag_namespace = next((tags[k] for k in NAMESPACE_TAGS if k in tags), None)
    tag_service = next((tags[k] for k in SERVICE_TAGS if k in tags), None)
    if tag_namespace or tag_service:
        return Workload(cluster=cluster, namespace=tag_namespace, service=tag_service,
                        source=next(k for k in (*NAMESPACE_TAGS, *SERVICE_TAGS) if k in tags))
    if cluster:
        return Workload(cluster=cluster, source=TAG_CLUSTER)
    return None


def backend_candidates(ingress_and_service: str) -> list[str]:
    """`shop-cart-api` (`<ingress>-<service>`, both may hold hyphens) -> ['cart-api', 'api']: every Service
    name it may end with, longest (most specific) first."""
    parts = ingress_and_service.split("-")
    return ["-".join(parts[i:]) for i in range(1, len(parts))]


def team_from_tags(tags: Mapping[str, str]) -> tuple[str, str] | None:
    """(team, tag key) when a resource names its team in a tag."""
    key = next((k for k in TEAM_TAGS if tags.get(k)), None)
    return (tags[key], key) if key else None


def service_from_target_group_name(name: str, environments: Iterable[str] = ("devel", "alpha", "prod")) -> str | None:
    """LaunchPad names target groups `<env>-<service>-tg`; temporary environments are `tmp-<slug>`."""
    if not name.endswith("-tg"):
        return None
    stem = name[:-3]
    for env in environments:
        if stem.startswith(env + "-"):
            return stem[len(env) + 1:] or None
    match = re.match(r"^tmp-[a-z0-9]+-(.+)$", stem)
    return match.group(1) if match else None


# --- plain text --------------------------------------------------------------------------------------------------


def _line(node: Node) -> str:
    facts = ", ".join(f"{k} {v}" for k, v in node.facts.items())
    text = node.label + (f" ({facts})" if facts else "")
    if node.note:
        text += f" — {node.note}"
    return text


def render_tree(nodes: list[Node], prefix: str = "") -> list[str]:
    lines: list[str] = []
    for i, node in enumerate(nodes):
        last = i == len(nodes) - 1
        lines.append(prefix + ("└─ " if last else "├─ ") + _line(node))
        lines += render_tree(node.children, prefix + ("   " if last else "│  "))
    return lines


def owner_lines(result: LookupResult) -> list[str]:
    if not result.owners:
        return ["Owner: unknown (no LaunchPad service or team tag matches what serves this domain)"]
    lines = []
    for owner in result.owners:
        env = f", {owner.environment}" if owner.environment else ""
        who = f", owner {owner.owner}" if owner.owner else ""
        service = f"service {owner.service}" if owner.service else "service unknown"
        lines.append(f"Owner: team {owner.team} — {service}{env}{who} (by {owner.matched_by})")
    return lines


def render_text(result: LookupResult) -> str:
    """The CLI's view: owning team first, then where it runs, then the tree, then what could not be seen."""
    lines = [result.domain]
    if not result.found:
        if result.zones:
            zones = ", ".join(z.describe() for z in result.zones)
            lines.append(f"No record for {result.domain} (or a wildcard above it) in {zones}.")
        else:
            searched = ", ".join(z.describe() for z in result.zones_searched) or "none (no hosted zones visible)"
            lines.append(f"No hosted zone contains {result.domain}. Zones searched: {searched}.")
    else:
        lines += owner_lines(result)
        lines += [f"Runs in: {w.describe()} (from {w.source})" for w in result.workloads]
    lines += render_tree(result.tree)
    lines += [f"! {p}" for p in result.problems]
    count = result.aws_call_count
    lines.append(f"({count} AWS call{'' if count == 1 else 's'})")
    return "\n".join(lines)
