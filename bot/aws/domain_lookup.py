"""Domain lookup: Route53 -> load balancer / CloudFront / S3 / API Gateway -> rules -> target groups -> owners.

Owns the AWS calls of `launchpad lookup` and `/launchpad lookup`, and keeps them bounded: the zone,
load balancer, CloudFront and API Gateway domain listings are cached for `cache_seconds`; records are
read by name (StartRecordName), never by scanning a zone; CNAME chains stop on a loop or after
`max_depth` hops. Decisions (matching, tags, rendering) live in `lookup_tree`; owners come from an
`OwnerDirectory`. A permission the role lacks hides a branch and is reported, it does not fail the lookup.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from botocore.exceptions import ClientError

from bot.aws.cache import Clock, TtlCache
from bot.aws.clients import AwsClients
from bot.aws.errors import error_code, is_access_denied, translate
from bot.aws.lookup_tree import (
    API_GATEWAY,
    S3_BUCKET,
    S3_WEBSITE,
    SERVICE_TAGS,
    TAG_CLUSTER,
    TAG_INGRESS_STACK,
    LookupResult,
    Node,
    NodeKind,
    Owner,
    Workload,
    ZoneRef,
    decode_record_name,
    elb_region,
    host_pattern_matches,
    in_zone,
    is_cloudfront,
    is_elb,
    parse_domain,
    service_from_target_group_name,
    strip_dualstack,
    team_from_tags,
    wildcard_names,
    workload_from_tags,
    zones_for,
)
from bot.aws.owners import NoOwners, OwnerDirectory

log = logging.getLogger(__name__)

TRAFFIC_TYPES = ("A", "AAAA", "CNAME")
RECORD_PAGE = "20"
TAGS_PER_CALL = 20
PAGE_400: Any = {"PageSize": 400}  # the largest page ELBv2 serves: one call for a listener's (default 100) rules


@dataclass(frozen=True)
class LoadBalancer:
    arn: str
    name: str
    dns_name: str
    type: str  # application | network | gateway
    scheme: str
    region: str

    @property
    def short_type(self) -> str:
        return {"application": "ALB", "network": "NLB", "gateway": "GWLB"}.get(self.type, self.type)


class DomainLookup:
    """Long-lived (one per process): it holds the caches. `lookup()` is safe to call from several threads."""

    def __init__(self, clients: AwsClients, owners: OwnerDirectory | None = None, *, cache_seconds: float = 300.0,
                 clock: Clock = time.monotonic, max_depth: int = 8, max_record_queries: int = 24,
                 max_targets: int = 10) -> None:
        self.clients = clients
        self.owners: OwnerDirectory = owners or NoOwners()
        self.max_depth = max_depth
        self.max_record_queries = max_record_queries
        self.max_targets = max_targets
        self._zones: TtlCache[list[ZoneRef]] = TtlCache(cache_seconds, clock)
        self._load_balancers: TtlCache[dict[str, LoadBalancer]] = TtlCache(cache_seconds, clock)
        self._distributions: TtlCache[list[dict[str, Any]]] = TtlCache(cache_seconds, clock)
        self._api_domains: TtlCache[list[dict[str, Any]]] = TtlCache(cache_seconds, clock)

    def lookup(self, text: str) -> LookupResult:
        """Raises InvalidDomain for text that is not a hostname, AwsAccessDenied when zones cannot be listed."""
        domain = parse_domain(text)
        with self.clients.calls.scope() as calls:
            result = _Lookup(self, domain).run()
        result.aws_calls = dict(sorted(calls.items()))
        return result

    def invalidate(self) -> None:
        for cache in (self._zones, self._load_balancers, self._distributions, self._api_domains):
            cache.invalidate()

    # cached listings ------------------------------------------------------------------------------------------
    def zones(self) -> list[ZoneRef]:
        def load() -> list[ZoneRef]:
            out = []
            try:
                for page in self.clients.route53.get_paginator("list_hosted_zones").paginate():
                    for z in page["HostedZones"]:
                        out.append(ZoneRef(id=z["Id"], name=decode_record_name(z["Name"]),
                                           private=bool(z.get("Config", {}).get("PrivateZone"))))
            except ClientError as exc:
                raise translate(exc, "route53:ListHostedZones") from None
            return out
        return self._zones.get_or_load("zones", load)

    def load_balancers(self, region: str) -> dict[str, LoadBalancer]:
        def load() -> dict[str, LoadBalancer]:
            out = {}
            pages = self.clients.elbv2(region).get_paginator("describe_load_balancers").paginate(
                PaginationConfig=PAGE_400)
            for page in pages:
                for lb in page["LoadBalancers"]:
                    item = LoadBalancer(arn=lb["LoadBalancerArn"], name=lb["LoadBalancerName"],
                                        dns_name=lb["DNSName"].lower(), type=lb.get("Type", "application"),
                                        scheme=lb.get("Scheme", ""), region=region)
                    out[item.dns_name] = item
            return out
        return self._load_balancers.get_or_load(region, load)

    def distributions(self) -> list[dict[str, Any]]:
        def load() -> list[dict[str, Any]]:
            out: list[dict[str, Any]] = []
            for page in self.clients.cloudfront.get_paginator("list_distributions").paginate():
                out += [dict(d) for d in page.get("DistributionList", {}).get("Items", []) or []]
            return out
        return self._distributions.get_or_load("distributions", load)

    def api_domains(self, region: str) -> list[dict[str, Any]]:
        def load() -> list[dict[str, Any]]:
            out: list[dict[str, Any]] = []
            for page in self.clients.apigateway(region).get_paginator("get_domain_names").paginate():
                out += [dict(d) for d in page.get("items", []) or []]
            return out
        return self._api_domains.get_or_load(region, load)


@dataclass
class _PendingTargetGroup:
    arn: str
    nodes: list[Node] = field(default_factory=list)


class _Lookup:
    """The state of one lookup: the path for loop detection, what could not be seen, what was found."""

    def __init__(self, parent: DomainLookup, domain: str) -> None:
        self.p = parent
        self.domain = domain
        self.problems: list[str] = []
        self.workloads: list[Workload] = []
        self.tag_owners: list[Owner] = []
        self.tg_names: list[str] = []
        self.record_queries = 0
        self.expanded_lbs: set[str] = set()
        self.zones: list[ZoneRef] = []
        self.home_zones: list[ZoneRef] = []
        self.hosts: tuple[str, ...] = (domain,)  # the Host header(s) a load balancer on the current path sees

    # helpers --------------------------------------------------------------------------------------------------
    def _try(self, action: str, resource: str, fn: Callable[[], Any]) -> Any:
        """Run one AWS call; on a refusal record what could not be seen and return None."""
        try:
            return fn()
        except ClientError as exc:
            if is_access_denied(exc):
                self.problems.append(f"cannot see {resource}: the bot's role lacks {action}")
            else:
                self.problems.append(f"cannot see {resource}: {action} failed ({error_code(exc)})")
            return None

    def _workload(self, tags: dict[str, str], resource: str, service_hint: str | None = None) -> Node | None:
        workload = workload_from_tags(tags)
        team = team_from_tags(tags)
        if team:
            service = next((tags[k] for k in SERVICE_TAGS if tags.get(k)), None) or (
                workload.service if workload else None) or service_hint
            self.tag_owners.append(Owner(service=service, team=team[0], matched_by=f"tag {team[1]} on {resource}"))
        if workload is None:
            return None
        if workload not in self.workloads:
            self.workloads.append(workload)
        return Node(kind=NodeKind.KUBERNETES, label=f"Kubernetes {workload.describe()}",
                    facts={"from": workload.source})

    # entry ----------------------------------------------------------------------------------------------------
    def run(self) -> LookupResult:
        self.zones = self.p.zones()
        matched = self.home_zones = zones_for(self.domain, self.zones)
        tree: list[Node] = []
        for zone in matched:
            node = self._resolve_in_zone(zone, self.domain, depth=0, path=(self.domain,))
            if node.children:
                tree.append(node)
        if not matched:
            fallback = self._cloudfront_by_alias_only()
            if fallback is not None:
                tree.append(fallback)
        found = bool(tree)
        owners = self._owners() if found else []
        return LookupResult(domain=self.domain, found=found, zones=matched, zones_searched=self.zones,
                            owners=owners, workloads=self.workloads, tree=tree, problems=self.problems)

    # Route53 --------------------------------------------------------------------------------------------------
    def _records_named(self, zone: ZoneRef, name: str) -> list[dict[str, Any]]:
        """Every record set called `name`: StartRecordName=name, reading on only while names still match."""
        out: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"HostedZoneId": zone.id, "StartRecordName": name, "MaxItems": RECORD_PAGE}
        while True:
            self.record_queries += 1
            route53: Any = self.p.clients.route53
            page = self._try("route53:ListResourceRecordSets", f"records of {zone.describe()}",
                             partial(route53.list_resource_record_sets, **kwargs))
            if page is None:
                return out
            sets = page["ResourceRecordSets"]
            same = [r for r in sets if decode_record_name(r["Name"]) == name]
            out += same
            if not page.get("IsTruncated") or len(same) < len(sets):
                return out
            following = {"HostedZoneId": zone.id, "StartRecordName": page["NextRecordName"],
                         "StartRecordType": page["NextRecordType"], "MaxItems": RECORD_PAGE}
            if page.get("NextRecordIdentifier"):
                following["StartRecordIdentifier"] = page["NextRecordIdentifier"]
            if following == kwargs:  # a server that ignores StartRecordIdentifier would loop here
                return out
            kwargs = following

    def _resolve_in_zone(self, zone: ZoneRef, name: str, depth: int, path: tuple[str, ...]) -> Node:
        node = Node(kind=NodeKind.ZONE, label=f"zone {zone.describe()}")
        if self.record_queries >= self.p.max_record_queries:
            node.children.append(Node(kind=NodeKind.NOTE, label=name,
                                      note=f"not followed: {self.p.max_record_queries} record queries is the limit"))
            return node
        records = self._records_named(zone, name)
        matched_name = name
        if not records:
            for wildcard in wildcard_names(name, zone.name):
                records = self._records_named(zone, wildcard)
                if records:
                    matched_name = wildcard
                    break
        traffic = [r for r in records if r["Type"] in TRAFFIC_TYPES]
        if records and not traffic:
            kinds = ", ".join(sorted({r["Type"] for r in records}))
            node.children.append(Node(kind=NodeKind.RECORD, label=f"{matched_name} {kinds}",
                                      note="no A, AAAA or CNAME record: nothing here serves web traffic"))
        node.children += self._record_nodes(zone, name, matched_name, traffic, depth, path)
        return node

    def _record_nodes(self, zone: ZoneRef, name: str, matched_name: str, records: list[dict[str, Any]], depth: int,
                      path: tuple[str, ...]) -> list[Node]:
        # A and AAAA aliases to the same target (and the same routing set) make one node.
        groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
        for r in records:
            alias = r.get("AliasTarget")
            if alias:
                target = alias["DNSName"].rstrip(".").lower()
            elif r["Type"] == "CNAME":
                target = r["ResourceRecords"][0]["Value"].rstrip(".").lower()
            else:
                target = ""
            key = (target, r.get("SetIdentifier", ""), r["Type"] if not target else "")
            groups.setdefault(key, []).append(r)
        nodes = []
        for (target, set_id, _), rrs in groups.items():
            first = rrs[0]
            types = ", ".join(sorted({r["Type"] for r in rrs}))
            wildcard = " (wildcard)" if matched_name != name else ""
            facts = _routing_facts(first)
            if first.get("AliasTarget"):
                node = Node(kind=NodeKind.RECORD, label=f"{matched_name}{wildcard} {types} alias -> {target}",
                            facts=facts)
                node.children.append(self._endpoint(target, first["AliasTarget"].get("HostedZoneId", ""), depth + 1,
                                                    path, zone))
            elif first["Type"] == "CNAME":
                node = Node(kind=NodeKind.RECORD, label=f"{matched_name}{wildcard} CNAME -> {target}", facts=facts)
                node.children.append(self._follow(target, depth + 1, path))
            else:
                values = [v["Value"] for r in rrs for v in r.get("ResourceRecords", [])]
                node = Node(kind=NodeKind.RECORD, label=f"{matched_name}{wildcard} {types} {', '.join(values)}",
                            facts=facts, note="IP addresses: not traced further")
            if set_id:
                node.facts["set"] = set_id
            nodes.append(node)
        return nodes

    def _follow(self, name: str, depth: int, path: tuple[str, ...]) -> Node:
        """Where a CNAME (or an alias to a record) points: our zones, an AWS endpoint, or outside."""
        if name in path:
            return Node(kind=NodeKind.NOTE, label=name,
                        note=f"CNAME loop: {' -> '.join((*path, name))}; resolvers answer SERVFAIL")
        if depth > self.p.max_depth:
            return Node(kind=NodeKind.NOTE, label=name, note=f"not followed: more than {self.p.max_depth} hops")
        path = (*path, name)
        zones = zones_for(name, self.zones)
        if zones:
            for zone in zones:
                node = self._resolve_in_zone(zone, name, depth, path)
                if len(node.children) == 1:  # one record: no need for a zone line in between
                    child = node.children[0]
                    if zone not in self.home_zones:
                        child.facts = {"zone": zone.describe(), **child.facts}
                    return child
                if node.children:
                    return node
            return Node(kind=NodeKind.ENDPOINT, label=name,
                        note=f"dangling: no record in {', '.join(z.describe() for z in zones)}")
        return self._endpoint(name, "", depth, path, None)

    def _endpoint(self, dns_name: str, alias_zone_id: str, depth: int, path: tuple[str, ...],
                  zone: ZoneRef | None) -> Node:
        name = dns_name.rstrip(".").lower()
        if zone is not None and alias_zone_id and zone.id.endswith("/" + alias_zone_id.rsplit("/", 1)[-1]):
            return self._follow(name, depth, path)  # alias to another record of the same zone
        if is_elb(name):
            return self._load_balancer(name)
        if is_cloudfront(name):
            return self._cloudfront(name, depth, path)
        website = S3_WEBSITE.match(name)
        if website:
            return self._s3(website.group("bucket") or path[-1], website.group("region"), website=True)
        api = API_GATEWAY.match(name)
        if api:
            return self._api_gateway(name, api.group("region"))
        bucket = S3_BUCKET.match(name)
        if bucket:
            return self._s3(bucket.group("bucket"), bucket.group("region"), website=False)
        if any(in_zone(name, z.name) for z in self.zones):
            return self._follow(name, depth, path)
        if name.endswith(".amazonaws.com"):
            return Node(kind=NodeKind.ENDPOINT, label=name, note="an AWS endpoint this lookup does not inspect")
        return Node(kind=NodeKind.ENDPOINT, label=name, note="outside this account's hosted zones: not traced")

    # Load balancers -------------------------------------------------------------------------------------------
    def _load_balancer(self, dns_name: str) -> Node:
        """Rules are matched against the Host header the load balancer sees: `self.hosts`."""
        region = elb_region(dns_name) or self.p.clients.region
        lbs = self._try("elasticloadbalancing:DescribeLoadBalancers", f"load balancers in {region}",
                        lambda: self.p.load_balancers(region)) or {}
        lb = lbs.get(strip_dualstack(dns_name))
        if lb is None:
            return Node(kind=NodeKind.LOAD_BALANCER, label=dns_name,
                        note=f"no ALB/NLB with this DNS name in {region} (a classic ELB, or another account)")
        node = Node(kind=NodeKind.LOAD_BALANCER, label=f"{lb.short_type} {lb.name}",
                    facts={"scheme": lb.scheme, "region": lb.region})
        if lb.arn in self.expanded_lbs:
            node.note = "shown above"
            return node
        self.expanded_lbs.add(lb.arn)
        elbv2 = self.p.clients.elbv2(region)
        listeners = self._try("elasticloadbalancing:DescribeListeners", f"listeners of {lb.name}",
                              lambda: [li for page in elbv2.get_paginator("describe_listeners").paginate(
                                  LoadBalancerArn=lb.arn, PaginationConfig=PAGE_400) for li in page["Listeners"]])
        if listeners is None:
            return node
        pending: dict[str, _PendingTargetGroup] = {}
        for listener in sorted(listeners, key=lambda li: (li["Port"] != 443, li["Port"])):
            node.children.append(self._listener(lb, listener, self.hosts, pending))
        self._fill_target_groups(lb, pending, node)
        return node

    def _listener(self, lb: LoadBalancer, listener: dict[str, Any], hosts: tuple[str, ...],
                  pending: dict[str, _PendingTargetGroup]) -> Node:
        node = Node(kind=NodeKind.LISTENER, label=f"listener {listener['Protocol']}:{listener['Port']}")
        if lb.type != "application":
            node.children.append(self._action_node("default", listener.get("DefaultActions", []), pending,
                                                   expand=True))
            return node
        elbv2 = self.p.clients.elbv2(lb.region)
        rules = self._try("elasticloadbalancing:DescribeRules", f"rules of {lb.name}:{listener['Port']}",
                          lambda: [r for page in elbv2.get_paginator("describe_rules").paginate(
                              ListenerArn=listener["ListenerArn"], PaginationConfig=PAGE_400) for r in page["Rules"]])
        if rules is None:
            return node
        default = next((r for r in rules if r.get("IsDefault")), None)
        ordered = sorted((r for r in rules if not r.get("IsDefault")), key=lambda r: int(r["Priority"]))
        matching = []
        any_host = []
        for rule in ordered:
            patterns = _host_values(rule)
            if patterns is None:
                any_host.append(rule)
            elif any(host_pattern_matches(pattern, h) for pattern in patterns for h in hosts):
                matching.append(rule)
        for rule in matching:
            shown = ", ".join(_host_values(rule) or [])
            extra = _other_conditions(rule)
            node.children.append(self._action_node(f"rule {rule['Priority']}: host {shown}{extra}",
                                                   rule["Actions"], pending, expand=True))
        for rule in any_host:
            child = self._action_node(f"rule {rule['Priority']}: any host{_other_conditions(rule)}", rule["Actions"],
                                      pending, expand=True)
            child.note = "no host condition: applies to every host on this listener"
            node.children.append(child)
        default_actions = default["Actions"] if default else listener.get("DefaultActions", [])
        node.children.append(self._action_node("default", default_actions, pending, expand=not matching))
        if not matching and ordered:
            node.note = (f"no host-header rule matches {' or '.join(hosts)} ({len(ordered)} rules checked); "
                         "requests get the default action")
        node.facts["rules"] = str(len(ordered))
        return node

    def _action_node(self, label: str, actions: list[dict[str, Any]], pending: dict[str, _PendingTargetGroup],
                     expand: bool) -> Node:
        summary, tg_arns = _describe_actions(actions)
        node = Node(kind=NodeKind.RULE, label=f"{label} -> {summary}")
        if expand:
            for arn in tg_arns:
                child = Node(kind=NodeKind.TARGET_GROUP, label=_name_from_arn(arn))
                pending.setdefault(arn, _PendingTargetGroup(arn)).nodes.append(child)
                node.children.append(child)
        return node

    def _fill_target_groups(self, lb: LoadBalancer, pending: dict[str, _PendingTargetGroup], lb_node: Node) -> None:
        elbv2 = self.p.clients.elbv2(lb.region)
        arns = list(pending)
        groups: dict[str, dict[str, Any]] = {}
        if arns:
            found = self._try("elasticloadbalancing:DescribeTargetGroups", f"target groups of {lb.name}",
                              lambda: elbv2.describe_target_groups(TargetGroupArns=arns)["TargetGroups"]) or []
            groups = {g["TargetGroupArn"]: g for g in found}
        tags: dict[str, dict[str, str]] = {}
        wanted = [lb.arn, *arns]
        for i in range(0, len(wanted), TAGS_PER_CALL):
            chunk = wanted[i:i + TAGS_PER_CALL]
            described = self._try("elasticloadbalancing:DescribeTags", f"tags of {lb.name}",
                                  partial(elbv2.describe_tags, ResourceArns=chunk)) or {}
            for d in described.get("TagDescriptions", []):
                tags[d["ResourceArn"]] = {t["Key"]: t.get("Value", "") for t in d.get("Tags", [])}
        lb_tags = tags.get(lb.arn, {})
        if lb.type == "application":  # a shared ALB names its cluster and IngressGroup, not one workload
            for key, label in ((TAG_CLUSTER, "cluster"), (TAG_INGRESS_STACK, "ingress group")):
                if lb_tags.get(key):
                    lb_node.facts[label] = lb_tags[key]
        else:
            lb_workload = self._workload(lb_tags, lb.name)
            if lb_workload is not None:
                lb_node.children.insert(0, lb_workload)  # an NLB made for one Service names it on itself
        for arn, item in pending.items():
            group = groups.get(arn)
            first, *others = item.nodes
            for other in others:
                other.note = "shown above"
            if group is None:
                first.note = "target group not found (deleted?)"
                continue
            self.tg_names.append(group["TargetGroupName"])
            first.label = f"target group {group['TargetGroupName']}"
            first.facts = {"protocol": f"{group.get('Protocol', '?')}:{group.get('Port', '?')}",
                           "type": group.get("TargetType", "?")}
            workload = self._workload(tags.get(arn, {}), group["TargetGroupName"],
                                      service_from_target_group_name(group["TargetGroupName"]))
            if workload is not None:
                first.children.append(workload)
            described_health = self._try("elasticloadbalancing:DescribeTargetHealth",
                                         f"targets of {group['TargetGroupName']}",
                                         partial(elbv2.describe_target_health, TargetGroupArn=arn))
            if described_health is None:
                continue
            health = described_health["TargetHealthDescriptions"]
            first.children += _target_nodes(health, self.p.max_targets)
            if not health:
                first.note = "no registered targets"

    # CloudFront -----------------------------------------------------------------------------------------------
    def _distribution_for(self, dns_name: str | None) -> dict[str, Any] | None:
        dists = self._try("cloudfront:ListDistributions", "CloudFront distributions", self.p.distributions)
        if not dists:
            return None
        aliases = [(d, a.lower()) for d in dists for a in (d.get("Aliases", {}).get("Items") or [])]
        exact = next((d for d, a in aliases if a == self.domain), None)
        if exact is not None:
            return exact
        wildcard = next((d for d, a in aliases if a.startswith("*.") and host_pattern_matches(a, self.domain)
                         and self.domain.count(".") == a.count(".")), None)
        if wildcard is not None:
            return wildcard
        return next((d for d in dists if dns_name and d.get("DomainName", "").lower() == dns_name), None)

    def _cloudfront(self, dns_name: str, depth: int, path: tuple[str, ...]) -> Node:
        dist = self._distribution_for(dns_name)
        if dist is None or dist.get("DomainName", "").lower() != dns_name:
            api = self._api_gateway_domain(dns_name, None)  # edge-optimised API Gateway domains live here
            if api is not None:
                return api
        if dist is None:
            return Node(kind=NodeKind.CLOUDFRONT, label=dns_name,
                        note="no CloudFront distribution in this account has this domain or alias")
        return self._distribution_node(dist, depth, path)

    def _distribution_node(self, dist: dict[str, Any], depth: int, path: tuple[str, ...]) -> Node:
        aliases = dist.get("Aliases", {}).get("Items") or []
        node = Node(kind=NodeKind.CLOUDFRONT, label=f"CloudFront {dist['Id']}",
                    facts={"domain": dist.get("DomainName", ""), "status": dist.get("Status", "?"),
                           "enabled": str(dist.get("Enabled", "?")).lower()})
        if not any(host_pattern_matches(a, self.domain) for a in aliases):
            node.note = f"{self.domain} is not an alternate domain name of this distribution: CloudFront answers 403"
        paths: dict[str, list[str]] = {}
        default_origin = dist.get("DefaultCacheBehavior", {}).get("TargetOriginId")
        if default_origin:
            paths.setdefault(default_origin, []).append("default")
        for behaviour in dist.get("CacheBehaviors", {}).get("Items") or []:
            paths.setdefault(behaviour["TargetOriginId"], []).append(behaviour["PathPattern"])
        for origin in dist.get("Origins", {}).get("Items") or []:
            target = origin["DomainName"].rstrip(".").lower()
            onode = Node(kind=NodeKind.ORIGIN, label=f"origin {origin['Id']} -> {target}{origin.get('OriginPath', '')}",
                         facts={"paths": ", ".join(paths.get(origin["Id"], [])) or "none"})
            # CloudFront sends the origin's domain as Host unless a policy forwards the viewer's: match both.
            saved, self.hosts = self.hosts, (target, self.domain)
            try:
                onode.children.append(self._endpoint(target, "", depth + 1, path, None))
            finally:
                self.hosts = saved
            node.children.append(onode)
        return node

    def _cloudfront_by_alias_only(self) -> Node | None:
        """A domain in no zone of ours may still be a CloudFront alternate domain name (DNS hosted elsewhere)."""
        dist = self._distribution_for(None)
        if dist is None:
            return None
        node = self._distribution_node(dist, 1, (self.domain,))
        node.note = "DNS for this domain is not in this account's Route53; found by CloudFront alternate domain name"
        return node

    # S3 and API Gateway ---------------------------------------------------------------------------------------
    def _s3(self, bucket: str, region: str | None, website: bool) -> Node:
        label = f"S3 {'website ' if website else ''}bucket {bucket}"
        node = Node(kind=NodeKind.S3, label=label, facts={"region": region} if region else {})
        s3 = self.p.clients.s3(region)
        try:
            tags = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=bucket).get("TagSet", [])}
        except ClientError as exc:
            code = error_code(exc)
            if code == "NoSuchBucket":
                node.note = "bucket does not exist: the record dangles (anyone could create this bucket)"
            elif code != "NoSuchTagSet":
                self.problems.append(f"cannot see tags of bucket {bucket}: s3:GetBucketTagging failed ({code})")
            return node
        workload = self._workload(tags, f"bucket {bucket}")
        if workload is not None:
            node.children.append(workload)
        return node

    def _api_gateway(self, dns_name: str, region: str | None) -> Node:
        return self._api_gateway_domain(dns_name, region) or Node(
            kind=NodeKind.API_GATEWAY, label=dns_name, note="no API Gateway custom domain in this account points here")

    def _api_gateway_domain(self, dns_name: str, region: str | None) -> Node | None:
        region = region or self.p.clients.region
        domains = self._try("apigateway:GET /domainnames", f"API Gateway domains in {region}",
                            lambda: self.p.api_domains(region)) or []
        match = next((d for d in domains if d.get("domainName", "").lower() == self.domain), None) or next(
            (d for d in domains if dns_name in (d.get("regionalDomainName", "").lower(),
                                                d.get("distributionDomainName", "").lower())), None)
        if match is None:
            api = API_GATEWAY.match(dns_name)
            if api and not api.group("id").startswith("d-"):
                return self._rest_api_node(api.group("id"), region, "")
            return None
        node = Node(kind=NodeKind.API_GATEWAY, label=f"API Gateway custom domain {match['domainName']}",
                    facts={"endpoint": ", ".join(match.get("endpointConfiguration", {}).get("types", []) or ["?"])})
        gateway = self.p.clients.apigateway(region)
        mappings = self._try("apigateway:GET /domainnames/*/basepathmappings", f"mappings of {match['domainName']}",
                             lambda: [m for page in gateway.get_paginator("get_base_path_mappings").paginate(
                                 domainName=match["domainName"]) for m in page.get("items", [])]) or []
        for mapping in mappings:
            base = mapping.get("basePath", "(none)")
            node.children.append(self._rest_api_node(mapping["restApiId"], region,
                                                     f"/{'' if base == '(none)' else base} stage "
                                                     f"{mapping.get('stage', '*')} -> "))
        return node

    def _rest_api_node(self, api_id: str, region: str, prefix: str) -> Node:
        gateway = self.p.clients.apigateway(region)
        api = self._try("apigateway:GET /restapis/*", f"REST API {api_id}",
                        lambda: gateway.get_rest_api(restApiId=api_id))
        if api is None:
            return Node(kind=NodeKind.API_GATEWAY, label=f"{prefix}REST API {api_id}", note="not found")
        node = Node(kind=NodeKind.API_GATEWAY, label=f"{prefix}REST API {api.get('name', api_id)} ({api_id})")
        workload = self._workload(dict(api.get("tags") or {}), f"REST API {api_id}")
        if workload is not None:
            node.children.append(workload)
        return node

    # owners ---------------------------------------------------------------------------------------------------
    def _owners(self) -> list[Owner]:
        owners: list[Owner] = []
        directory = self.p.owners

        def add(found: Owner | None) -> None:
            if found is not None and not any((o.service, o.team) == (found.service, found.team) for o in owners):
                owners.append(found)

        try:
            add(directory.by_domain(self.domain))
            for w in self.workloads:
                for name in dict.fromkeys(n for n in (w.service, w.ingress) if n):
                    add(directory.by_service(w.namespace, name))
                for name in w.candidates:  # an IngressGroup target group: the first Service the catalogue knows
                    found = directory.by_service(w.namespace, name)
                    if found is not None:
                        add(found)
                        break
            for tg in self.tg_names:
                service = service_from_target_group_name(tg)
                if service:
                    add(directory.by_service(None, service))
        except Exception as exc:  # the database is optional for a lookup: say so, keep the AWS answer
            log.warning("owner lookup for %s failed: %s", self.domain, exc)
            self.problems.append("LaunchPad's service catalogue is unavailable; owners come from tags only")
        for owner in self.tag_owners:
            add(owner)
        return owners


# --- small pure helpers over AWS shapes ---------------------------------------------------------------------------


def _routing_facts(record: dict[str, Any]) -> dict[str, str]:
    facts = {}
    if "Weight" in record:
        facts["weight"] = str(record["Weight"])
    if "Region" in record:
        facts["latency region"] = str(record["Region"])
    if "Failover" in record:
        facts["failover"] = str(record["Failover"])
    if record.get("AliasTarget", {}).get("EvaluateTargetHealth"):
        facts["evaluates target health"] = "yes"
    return facts


def _host_values(rule: dict[str, Any]) -> list[str] | None:
    """The host-header patterns of a rule, or None when the rule has no host condition."""
    values: list[str] = []
    has = False
    for cond in rule.get("Conditions", []):
        if cond.get("Field") == "host-header":
            has = True
            values += cond.get("HostHeaderConfig", {}).get("Values") or cond.get("Values") or []
    return values if has else None


def _other_conditions(rule: dict[str, Any]) -> str:
    parts = []
    for cond in rule.get("Conditions", []):
        if cond.get("Field") == "path-pattern":
            parts.append("path " + ", ".join(cond.get("PathPatternConfig", {}).get("Values") or cond.get("Values")
                                             or []))
        elif cond.get("Field") not in (None, "host-header"):
            parts.append(str(cond["Field"]))
    return f" + {'; '.join(parts)}" if parts else ""


def _name_from_arn(arn: str) -> str:
    parts = arn.split(":", 5)[-1].split("/")
    return parts[1] if len(parts) > 2 else arn


def _describe_actions(actions: Iterable[dict[str, Any]]) -> tuple[str, list[str]]:
    """'forward to a (90), b (10)' etc., and the target group ARNs traffic may reach."""
    words: list[str] = []
    arns: list[str] = []
    for action in sorted(actions, key=lambda a: a.get("Order", 0)):
        kind = action.get("Type", "?")
        if kind == "forward":
            groups = (action.get("ForwardConfig") or {}).get("TargetGroups") or []
            if not groups and action.get("TargetGroupArn"):
                groups = [{"TargetGroupArn": action["TargetGroupArn"]}]
            names = []
            for g in groups:
                arns.append(g["TargetGroupArn"])
                weight = f" ({g['Weight']})" if len(groups) > 1 and "Weight" in g else ""
                names.append(_name_from_arn(g["TargetGroupArn"]) + weight)
            words.append("forward to " + ", ".join(names))
        elif kind == "redirect":
            cfg = action.get("RedirectConfig", {})
            words.append(f"redirect {cfg.get('StatusCode', '')} to {cfg.get('Protocol', '#{protocol}').lower()}://"
                         f"{cfg.get('Host', '#{host}')}:{cfg.get('Port', '#{port}')}{cfg.get('Path', '/#{path}')}")
        elif kind == "fixed-response":
            cfg = action.get("FixedResponseConfig", {})
            words.append(f"fixed response {cfg.get('StatusCode', '?')}")
        elif kind.startswith("authenticate-"):
            words.append(kind.replace("authenticate-", "authenticate with "))
        else:
            words.append(kind)
    return " then ".join(words) or "no action", arns


def _target_nodes(health: list[dict[str, Any]], limit: int) -> list[Node]:
    nodes = []
    for desc in health[:limit]:
        target = desc["Target"]
        state = desc.get("TargetHealth", {})
        label = f"{target['Id']}:{target.get('Port', '?')} {state.get('State', '?')}"
        if state.get("Reason"):
            label += f" ({state['Reason']})"
        nodes.append(Node(kind=NodeKind.TARGET, label=label,
                          facts={"zone": target["AvailabilityZone"]} if target.get("AvailabilityZone") else {}))
    if len(health) > limit:
        states: dict[str, int] = {}
        for desc in health[limit:]:
            s = desc.get("TargetHealth", {}).get("State", "?")
            states[s] = states.get(s, 0) + 1
        nodes.append(Node(kind=NodeKind.NOTE, label=f"+{len(health) - limit} more targets",
                          facts={k: str(v) for k, v in sorted(states.items())}))
    return nodes
