"""Domain lookup against moto server: every acceptance case, call counts, caching, and what stays hidden."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from bot.aws.clients import AwsClients
from bot.aws.domain_lookup import DomainLookup
from bot.aws.lookup_tree import LookupResult, Node, NodeKind, render_text
from bot.aws.owners import CatalogOwners, NoOwners
from tests.aws.conftest import Catalog, Seeded


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def lookup(clients: AwsClients, seeded: Seeded, catalog: Catalog, clock: FakeClock) -> DomainLookup:
    return DomainLookup(clients, CatalogOwners(catalog), cache_seconds=300, clock=clock)


def nodes(result: LookupResult, kind: NodeKind | None = None) -> list[Node]:
    return [n for root in result.tree for n in root.walk() if kind is None or n.kind == kind]


def labels(result: LookupResult, kind: NodeKind) -> list[str]:
    return [n.label for n in nodes(result, kind)]


def target_groups(result: LookupResult) -> list[str]:
    groups = [n for n in nodes(result, NodeKind.TARGET_GROUP) if n.note != "shown above"]
    return [n.label.removeprefix("target group ") for n in groups]


# --- the acceptance cases -----------------------------------------------------------------------------------------


def test_subdomain_alias_to_alb_with_matching_rule(lookup: DomainLookup, seeded: Seeded) -> None:
    result = lookup.lookup("ranking.example.com")
    assert result.found
    assert [z.name for z in result.zones] == ["example.com"]
    # owning team first: LaunchPad knows the domain; the controller tags say where it runs
    assert (result.owners[0].team, result.owners[0].service, result.owners[0].environment) == ("search", "ranking-web",
                                                                                              "prod")
    assert result.owners[0].matched_by == "domain"
    assert [(w.cluster, w.namespace, w.service, w.ingress) for w in result.workloads] == [
        ("eks-main", "search-prod", "ranking-web", "ranking-web")]
    # A and AAAA aliases to one ALB make one branch
    assert labels(result, NodeKind.RECORD) == [f"ranking.example.com A, AAAA alias -> dualstack.{seeded.alb_dns}"]
    assert labels(result, NodeKind.LOAD_BALANCER) == ["ALB shared-alb"]
    assert [n.label for n in nodes(result, NodeKind.RULE) if "forward" in n.label] == [
        "rule 10: host ranking.example.com -> forward to k8s-searchpr-rankingw-1a2b3c"]
    assert target_groups(result) == ["k8s-searchpr-rankingw-1a2b3c"]
    assert sorted(labels(result, NodeKind.TARGET)) == ["10.0.1.10:8080 healthy", "10.0.2.11:8080 healthy"]
    text = render_text(result)
    assert text.splitlines()[1].startswith("Owner: team search — service ranking-web")


def test_apex_record(lookup: DomainLookup) -> None:
    result = lookup.lookup("example.com")
    assert result.found
    assert labels(result, NodeKind.RECORD)[0].startswith("example.com A alias -> dualstack.")
    assert target_groups(result) == ["prod-homepage-tg"]
    # no tags on this target group: LaunchPad's naming (<env>-<service>-tg) finds the service
    assert [(o.team, o.service, o.matched_by) for o in result.owners] == [("web", "homepage", "service name")]


def test_wildcard_record_and_wildcard_host_rule(lookup: DomainLookup) -> None:
    result = lookup.lookup("shop.apps.example.com")
    assert result.found
    record = nodes(result, NodeKind.RECORD)[0]
    assert record.label.startswith("*.apps.example.com (wildcard) A alias")
    assert [n.label for n in nodes(result, NodeKind.RULE) if n.label.startswith("rule")] == [
        "rule 20: host *.apps.example.com -> forward to devel-apps-tg"]
    assert [(o.team, o.service) for o in result.owners] == [("payments", "apps")]
    assert nodes(result, NodeKind.TARGET_GROUP)[0].note == "no registered targets"


def test_cname_chain_is_followed_and_the_host_header_stays_the_queried_name(lookup: DomainLookup) -> None:
    result = lookup.lookup("api.example.com")
    assert labels(result, NodeKind.RECORD)[:3] == [
        "api.example.com CNAME -> api-edge.example.com",
        "api-edge.example.com CNAME -> ranking.example.com",
        labels(result, NodeKind.RECORD)[2]]
    assert labels(result, NodeKind.RECORD)[2].startswith("ranking.example.com A, AAAA alias")
    https = next(n for n in nodes(result, NodeKind.LISTENER) if n.label == "listener HTTPS:443")
    # the ALB sees Host: api.example.com, for which it has no rule
    assert https.note is not None and "no host-header rule matches api.example.com" in https.note
    assert target_groups(result) == []
    assert [n.label for n in https.children] == ["default -> fixed response 404"]


def test_cname_loop_is_reported_and_bounded(lookup: DomainLookup) -> None:
    result = lookup.lookup("loop-a.example.com")
    notes = [n.note or "" for n in nodes(result, NodeKind.NOTE)]
    loop = "CNAME loop: loop-a.example.com -> loop-b.example.com -> loop-a.example.com"
    assert any(n.startswith(loop) for n in notes)
    assert result.aws_calls.get("route53.ListResourceRecordSets") == 2


def test_alias_to_alb_without_a_matching_rule(lookup: DomainLookup) -> None:
    result = lookup.lookup("nomatch.example.com")
    https = next(n for n in nodes(result, NodeKind.LISTENER) if n.label == "listener HTTPS:443")
    assert https.note == ("no host-header rule matches nomatch.example.com (6 rules checked); "
                          "requests get the default action")
    assert [n.label for n in https.children] == ["default -> fixed response 404"]
    assert target_groups(result) == []
    assert result.owners == []
    assert "Owner: unknown" in render_text(result)
    # nothing to describe: no target group, tag or health calls
    assert not any(k.endswith(("DescribeTargetGroups", "DescribeTargetHealth")) for k in result.aws_calls)


def test_cloudfront_by_alias_then_origins(lookup: DomainLookup, seeded: Seeded) -> None:
    result = lookup.lookup("cdn.example.com")
    [dist] = nodes(result, NodeKind.CLOUDFRONT)
    assert dist.facts["domain"] == seeded.distribution_domain
    assert dist.note is None  # cdn.example.com is one of its alternate domain names
    origins = {n.label: n.facts["paths"] for n in nodes(result, NodeKind.ORIGIN)}
    assert origins == {"origin assets -> static-assets.s3.eu-west-1.amazonaws.com": "default",
                       "origin app -> origin.example.com": "/api/*"}
    assert labels(result, NodeKind.S3) == ["S3 bucket static-assets"]
    # the ALB origin sees Host: origin.example.com (CloudFront's default), which has a rule
    assert target_groups(result) == ["prod-storefront-tg"]
    assert [(o.team, o.service) for o in result.owners] == [("web", "assets"), ("web", "storefront")]


def test_cloudfront_wildcard_alternate_domain_name(lookup: DomainLookup) -> None:
    result = lookup.lookup("img.static.example.com")
    [dist] = nodes(result, NodeKind.CLOUDFRONT)
    assert dist.note is None
    assert labels(result, NodeKind.RECORD)[0].startswith("img.static.example.com CNAME -> ")


def test_private_zone_and_nlb_made_for_a_kubernetes_service(lookup: DomainLookup) -> None:
    result = lookup.lookup("admin.internal.example.com")
    assert [(z.name, z.private) for z in result.zones] == [("internal.example.com", True)]  # longest suffix wins
    assert labels(result, NodeKind.LOAD_BALANCER) == ["NLB admin-nlb"]
    assert [(w.namespace, w.service) for w in result.workloads] == [("platform-prod", "admin")]
    assert [(o.team, o.service, o.environment, o.matched_by) for o in result.owners] == [
        ("platform", "admin", "prod", "namespace/service")]
    assert labels(result, NodeKind.TARGET) == ["10.0.1.20:443 healthy"]


def test_unknown_domain_names_the_zones_searched(lookup: DomainLookup) -> None:
    result = lookup.lookup("shop.example.net")
    assert not result.found
    assert sorted(z.name for z in result.zones_searched) == ["example.com", "example.org", "internal.example.com"]
    text = render_text(result)
    assert "No hosted zone contains shop.example.net. Zones searched: " in text
    assert "internal.example.com (private" in text
    assert "route53.ListResourceRecordSets" not in result.aws_calls


def test_name_in_a_zone_without_a_record(lookup: DomainLookup) -> None:
    result = lookup.lookup("missing.example.com")
    assert not result.found
    assert [z.name for z in result.zones] == ["example.com"]
    assert "No record for missing.example.com (or a wildcard above it) in example.com (public" in render_text(result)
    # the name itself, then *.example.com: two record queries, no scan
    assert result.aws_calls["route53.ListResourceRecordSets"] == 2


def test_s3_website_alias(lookup: DomainLookup) -> None:
    result = lookup.lookup("www.example.com")
    assert labels(result, NodeKind.S3) == ["S3 website bucket www.example.com"]
    assert [(o.team, o.service, o.matched_by) for o in result.owners] == [
        ("marketing", None, "tag Team on bucket www.example.com")]


def test_api_gateway_custom_domain(lookup: DomainLookup) -> None:
    result = lookup.lookup("gw.example.com")
    gateways = labels(result, NodeKind.API_GATEWAY)
    assert gateways[0] == "API Gateway custom domain gw.example.com"
    assert gateways[1].startswith("/v1 stage prod -> REST API payments-api (")
    assert [(o.team, o.service) for o in result.owners] == [("payments", "payments-api")]


def test_unhealthy_target_is_shown_with_its_reason(lookup: DomainLookup, seeded: Seeded) -> None:
    result = lookup.lookup("legacy.example.com")
    assert labels(result, NodeKind.TARGET) == [f"{seeded.instance_id}:8080 unused (Target.InvalidState)"]


def test_ip_and_external_and_non_web_records(lookup: DomainLookup) -> None:
    assert labels(lookup.lookup("ip.example.com"), NodeKind.RECORD) == ["ip.example.com A 203.0.113.10"]
    txt = nodes(lookup.lookup("txt.example.com"), NodeKind.RECORD)[0]
    assert txt.note == "no A, AAAA or CNAME record: nothing here serves web traffic"
    partner = lookup.lookup("partner.example.com")
    assert [n.note for n in nodes(partner, NodeKind.ENDPOINT)] == ["outside this account's hosted zones: not traced"]


def test_what_users_type_is_normalised(lookup: DomainLookup) -> None:
    for text in ("https://Ranking.Example.com/path?q=1", "<https://ranking.example.com|ranking.example.com>",
                 "ranking.example.com.", "  RANKING.example.com  "):
        assert lookup.lookup(text).domain == "ranking.example.com"


# --- bounded calls and the cache -------------------------------------------------------------------------------------


def test_second_lookup_uses_the_cache_and_the_ttl_expires(lookup: DomainLookup, clock: FakeClock) -> None:
    cold = lookup.lookup("ranking.example.com")
    warm = lookup.lookup("ranking.example.com")
    assert cold.aws_calls["route53.ListHostedZones"] == 1
    assert cold.aws_calls["elbv2.DescribeLoadBalancers"] == 1
    assert "route53.ListHostedZones" not in warm.aws_calls
    assert "elbv2.DescribeLoadBalancers" not in warm.aws_calls
    assert warm.aws_call_count == cold.aws_call_count - 2
    # what is per-lookup is read fresh: records, listeners, rules, target groups, tags, health
    assert warm.aws_calls == {"elbv2.DescribeListeners": 1, "elbv2.DescribeRules": 2, "elbv2.DescribeTags": 1,
                              "elbv2.DescribeTargetGroups": 1, "elbv2.DescribeTargetHealth": 1,
                              "route53.ListResourceRecordSets": 1}
    clock.now += 301
    expired = lookup.lookup("ranking.example.com")
    assert expired.aws_call_count == cold.aws_call_count


def test_records_are_read_by_name_never_by_scanning(lookup: DomainLookup, clients: AwsClients) -> None:
    seen: list[dict[str, Any]] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        seen.append(dict(params))

    clients.route53.meta.events.register("provide-client-params.route53.ListResourceRecordSets", record)
    for domain in ("ranking.example.com", "shop.apps.example.com", "api.example.com", "missing.example.com"):
        lookup.lookup(domain)
    assert seen
    assert all(p.get("StartRecordName") and int(p["MaxItems"]) <= 20 for p in seen)


def test_a_permission_the_role_lacks_hides_a_branch_not_the_answer(lookup: DomainLookup, clients: AwsClients) -> None:
    # Gap: moto server does not enforce IAM policies, so the refusal is injected on this one call only.
    def deny(**_: Any) -> None:
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "not authorized"}}, "DescribeTargetHealth")

    clients.elbv2().meta.events.register("before-call.elastic-load-balancing-v2.DescribeTargetHealth", deny)
    result = lookup.lookup("ranking.example.com")
    assert result.found and result.owners[0].team == "search"
    assert labels(result, NodeKind.TARGET) == []
    assert result.problems == ["cannot see targets of k8s-searchpr-rankingw-1a2b3c: the bot's role lacks "
                               "elasticloadbalancing:DescribeTargetHealth"]


def test_zone_listing_denied_is_a_clear_error(clients: AwsClients, seeded: Seeded) -> None:
    from bot.aws.errors import AwsAccessDenied

    def deny(**_: Any) -> None:
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "ListHostedZones")

    clients.route53.meta.events.register("before-call.route-53.ListHostedZones", deny)
    with pytest.raises(AwsAccessDenied, match="may not route53:ListHostedZones"):
        DomainLookup(clients).lookup("ranking.example.com")


def test_owners_unavailable_keeps_the_aws_answer(clients: AwsClients, seeded: Seeded) -> None:
    class Broken(NoOwners):
        def by_domain(self, domain: str) -> None:
            raise RuntimeError("database is down")

    result = DomainLookup(clients, Broken()).lookup("ranking.example.com")
    assert result.found and result.owners == []
    assert result.problems == ["LaunchPad's service catalogue is unavailable; owners come from tags only"]


def test_calls_are_counted_per_lookup_even_with_a_shared_counter(lookup: DomainLookup, clients: AwsClients) -> None:
    before = sum(clients.calls.total.values())
    result = lookup.lookup("example.com")
    assert sum(clients.calls.total.values()) - before == result.aws_call_count


def test_every_aws_call_is_allowed_by_the_documented_policy(lookup: DomainLookup) -> None:
    """docs/aws.md's IAM policy is the one operators attach: every call a lookup (and a password reset)
    makes must be in it, or the bot fails in production where moto let it pass (issue 12, item 2)."""
    import ast
    import json
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    text = (root / "docs" / "aws.md").read_text()
    policy = json.loads(re.search(r"```json\n(.*?)```", text, re.S).group(1))  # type: ignore[union-attr]
    allowed: set[str] = set()
    for statement in policy["Statement"]:
        if statement["Effect"] == "Allow":
            actions = statement["Action"]
            allowed |= {actions} if isinstance(actions, str) else set(actions)
    services = {"elbv2": "elasticloadbalancing"}
    calls: set[str] = set()
    for domain in ("ranking.example.com", "cdn.example.com", "www.example.com", "gw.example.com",
                   "legacy.example.com", "admin.internal.example.com"):
        calls |= set(lookup.lookup(domain).aws_calls)
    needed = set()
    for call in calls:
        service, _, operation = call.partition(".")
        needed.add("apigateway:GET" if service == "apigateway" else f"{services.get(service, service)}:{operation}")
    # the password reset calls the IAM client directly: read them from the source
    source = (root / "bot" / "aws" / "iam_password.py").read_text()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = node.func.value
            name = node.func.attr
            if isinstance(owner, ast.Attribute) and owner.attr == "iam" and name != "get_paginator":
                needed.add("iam:" + "".join(p.title() for p in name.split("_")))
            if name == "get_paginator" and isinstance(owner, ast.Attribute) and owner.attr == "iam":
                arg = node.args[0]
                assert isinstance(arg, ast.Constant)
                needed.add("iam:" + "".join(p.title() for p in str(arg.value).split("_")))
    assert any(n.startswith("iam:") for n in needed) and len(needed) > 8
    assert needed <= allowed, f"docs/aws.md's policy lacks {sorted(needed - allowed)}"


def test_ingress_group_target_groups_name_both_owners_behind_path_rules(
        clients: AwsClients, seeded: Seeded, aws_session: Any, moto_url: str) -> None:
    """The usual shared ALB on EKS: one IngressGroup, one host, two services behind path rules. The target
    groups carry `ingress.k8s.aws/stack=<group>` (no namespace) and `ingress.k8s.aws/resource=
    <ns>/<ingress>-<service>:<port>`; both services' owners are named (issue 12, item 16)."""
    from bot.workflow.api import EnvironmentInfo, ServiceInfo
    from tests.aws.conftest import REGION, Catalog

    def c(service: str, region: str = REGION) -> Any:
        return aws_session.client(service, region_name=region, endpoint_url=moto_url)

    ec2, elbv2, r53 = c("ec2"), c("elbv2"), c("route53", "us-east-1")
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.9.{i}.0/24", AvailabilityZone=f"{REGION}{az}")
               ["Subnet"]["SubnetId"] for i, az in ((1, "a"), (2, "b"))]
    alb = elbv2.create_load_balancer(Name="shop-group", Subnets=subnets, Scheme="internet-facing",
                                     Tags=[{"Key": "ingress.k8s.aws/stack", "Value": "shop"}])["LoadBalancers"][0]

    def group_tg(name: str, resource: str) -> str:
        tags = [{"Key": "elbv2.k8s.aws/cluster", "Value": "eks-main"},
                {"Key": "ingress.k8s.aws/stack", "Value": "shop"},
                {"Key": "ingress.k8s.aws/resource", "Value": resource}]
        arn: str = elbv2.create_target_group(Name=name, Protocol="HTTP", Port=8080, VpcId=vpc, TargetType="ip",
                                             Tags=tags)["TargetGroups"][0]["TargetGroupArn"]
        return arn

    cart = group_tg("k8s-shopprod-cartapi-1", "shop-prod/storefront-ing-cart-api:80")
    web = group_tg("k8s-shopprod-shopweb-2", "shop-prod/storefront-ing-shop-web:80")
    listener = elbv2.create_listener(LoadBalancerArn=alb["LoadBalancerArn"], Protocol="HTTP", Port=80,
                                     DefaultActions=[{"Type": "fixed-response", "FixedResponseConfig": {
                                         "StatusCode": "404"}}])["Listeners"][0]["ListenerArn"]
    path = [{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/api/*"]}}]
    elbv2.create_rule(ListenerArn=listener, Priority=1, Conditions=[*_host_condition("buy.example.com"), *path],
                      Actions=[{"Type": "forward", "TargetGroupArn": cart}])
    elbv2.create_rule(ListenerArn=listener, Priority=2, Conditions=_host_condition("buy.example.com"),
                      Actions=[{"Type": "forward", "TargetGroupArn": web}])
    r53.change_resource_record_sets(HostedZoneId=seeded.public_zone, ChangeBatch={"Changes": [
        {"Action": "UPSERT", "ResourceRecordSet": {"Name": "buy.example.com", "Type": "A", "AliasTarget": {
            "HostedZoneId": "Z32O12XQLNTSW2", "DNSName": alb["DNSName"], "EvaluateTargetHealth": False}}}]})
    catalog = Catalog([
        ServiceInfo(name="cart-api", team="shop", blueprint="web-service", owner="U0CART",
                    environments=[EnvironmentInfo(name="prod")]),
        ServiceInfo(name="shop-web", team="shop", blueprint="web-service", owner="U0WEB",
                    environments=[EnvironmentInfo(name="prod")]),
    ])
    result = DomainLookup(clients, CatalogOwners(catalog)).lookup("buy.example.com")
    assert result.found
    owners = {(o.service, o.team, o.environment) for o in result.owners}
    assert owners == {("cart-api", "shop", "prod"), ("shop-web", "shop", "prod")}, result.owners
    assert all(w.source.endswith("(IngressGroup shop)") for w in result.workloads)


def _host_condition(*values: str) -> list[dict[str, Any]]:
    return [{"Field": "host-header", "HostHeaderConfig": {"Values": list(values)}}]
