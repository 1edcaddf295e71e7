"""A moto server on 127.0.0.1 (one per test process) and a seeded account that every AWS test reads.

The seeded account: a public zone example.com and a private zone internal.example.com; an internet-facing
ALB whose HTTPS listener has host-header rules; target groups with AWS Load Balancer Controller tags and
registered targets; an internal NLB made for a Kubernetes Service; a CloudFront distribution with an S3
and an ALB origin; an S3 website bucket; an API Gateway custom domain. Tests that change state (IAM users)
use names of their own, so they can share the server.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest

from bot.aws.clients import AwsClients
from bot.config import Settings
from bot.workflow.api import EnvironmentInfo, NotFound, ServiceInfo
from tests.support.moto import moto_server

REGION = "eu-west-1"


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    with moto_server() as url:
        yield url


@pytest.fixture(scope="session")
def aws_session(moto_url: str) -> boto3.Session:
    return boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)


@pytest.fixture(scope="session")
def settings(moto_url: str) -> Settings:
    return Settings(aws_endpoint_url=moto_url, aws_region=REGION, lookup_cache_seconds=300,
                    password_resets_per_hour=3, iam_user_email_tag="email")


@pytest.fixture
def clients(settings: Settings, aws_session: boto3.Session) -> AwsClients:
    """Fresh clients (and a fresh call counter) per test."""
    return AwsClients.from_settings(settings, session=aws_session)


# --- the seeded account ------------------------------------------------------------------------------------------


@dataclass
class Seeded:
    public_zone: str
    private_zone: str
    alb_dns: str
    alb_arn: str
    nlb_dns: str
    https_listener: str
    target_groups: dict[str, str]
    distribution_domain: str
    api_regional_domain: str
    instance_id: str
    extra: dict[str, Any] = field(default_factory=dict)


def _alias(name: str, dns: str, zone_id: str = "Z32O12XQLNTSW2", kind: str = "A") -> dict[str, Any]:
    return {"Action": "CREATE", "ResourceRecordSet": {"Name": name, "Type": kind, "AliasTarget": {
        "HostedZoneId": zone_id, "DNSName": dns, "EvaluateTargetHealth": False}}}


def _record(name: str, kind: str, *values: str) -> dict[str, Any]:
    return {"Action": "CREATE", "ResourceRecordSet": {"Name": name, "Type": kind, "TTL": 60,
                                                      "ResourceRecords": [{"Value": v} for v in values]}}


def _forward(arn: str) -> list[dict[str, Any]]:
    return [{"Type": "forward", "TargetGroupArn": arn}]


def _host(*values: str) -> list[dict[str, Any]]:
    return [{"Field": "host-header", "HostHeaderConfig": {"Values": list(values)}}]


@pytest.fixture(scope="session")
def seeded(aws_session: boto3.Session, moto_url: str) -> Seeded:
    def c(service: str, region: str = REGION) -> Any:
        return aws_session.client(service, region_name=region, endpoint_url=moto_url)  # type: ignore[call-overload]

    ec2, elbv2, r53, cf, s3, apigw = c("ec2"), c("elbv2"), c("route53", "us-east-1"), c("cloudfront", "us-east-1"), \
        c("s3"), c("apigateway")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"{REGION}{az}")
               ["Subnet"]["SubnetId"] for i, az in ((1, "a"), (2, "b"))]
    sg = ec2.create_security_group(GroupName="alb", Description="alb", VpcId=vpc)["GroupId"]

    alb = elbv2.create_load_balancer(Name="shared-alb", Subnets=subnets, SecurityGroups=[sg], Scheme="internet-facing",
                                     Type="application",
                                     Tags=[{"Key": "elbv2.k8s.aws/cluster", "Value": "eks-main"},
                                           {"Key": "ingress.k8s.aws/stack", "Value": "shared"}])["LoadBalancers"][0]
    nlb = elbv2.create_load_balancer(Name="admin-nlb", Subnets=subnets, Scheme="internal", Type="network",
                                     Tags=[{"Key": "elbv2.k8s.aws/cluster", "Value": "eks-main"},
                                           {"Key": "service.k8s.aws/stack", "Value": "platform-prod/admin"},
                                           {"Key": "service.k8s.aws/resource", "Value": "LoadBalancer"}]
                                     )["LoadBalancers"][0]

    def tg(name: str, tags: dict[str, str], protocol: str = "HTTP", target_type: str = "ip") -> str:
        extra = {"Tags": [{"Key": k, "Value": v} for k, v in tags.items()]} if tags else {}
        arn: str = elbv2.create_target_group(Name=name, Protocol=protocol, Port=8080, VpcId=vpc,
                                             TargetType=target_type, **extra)["TargetGroups"][0]["TargetGroupArn"]
        return arn

    groups = {
        "ranking": tg("k8s-searchpr-rankingw-1a2b3c", {
            "elbv2.k8s.aws/cluster": "eks-main", "ingress.k8s.aws/stack": "search-prod/ranking-web",
            "ingress.k8s.aws/resource": "search-prod/ranking-web-ranking-web:80"}),
        "apps": tg("devel-apps-tg", {"launchpad/service": "apps", "launchpad/team": "payments"}),
        "other": tg("other-tg", {}),
        "apex": tg("prod-homepage-tg", {}),
        "admin": tg("k8s-platform-admin-9f8e7d", {
            "elbv2.k8s.aws/cluster": "eks-main", "service.k8s.aws/stack": "platform-prod/admin",
            "service.k8s.aws/resource": "platform-prod/admin:443"}, protocol="TCP"),
        "legacy": tg("legacy-instances-tg", {}, target_type="instance"),
        "storefront": tg("prod-storefront-tg", {"Team": "web"}),
    }
    elbv2.register_targets(TargetGroupArn=groups["ranking"], Targets=[{"Id": "10.0.1.10", "Port": 8080},
                                                                      {"Id": "10.0.2.11", "Port": 8080}])
    elbv2.register_targets(TargetGroupArn=groups["admin"], Targets=[{"Id": "10.0.1.20", "Port": 443}])
    elbv2.register_targets(TargetGroupArn=groups["apex"], Targets=[{"Id": "10.0.1.30", "Port": 8080}])
    # A stopped instance is the one way moto reports a target that is not healthy ("unused").
    instance = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1, SubnetId=subnets[0])["Instances"][0]
    elbv2.register_targets(TargetGroupArn=groups["legacy"], Targets=[{"Id": instance["InstanceId"], "Port": 8080}])
    ec2.stop_instances(InstanceIds=[instance["InstanceId"]])

    certificate = c("acm").request_certificate(DomainName="example.com",
                                               SubjectAlternativeNames=["*.example.com"])["CertificateArn"]
    https = elbv2.create_listener(LoadBalancerArn=alb["LoadBalancerArn"], Protocol="HTTPS", Port=443,
                                  Certificates=[{"CertificateArn": certificate}],
                                  DefaultActions=[{"Type": "fixed-response", "FixedResponseConfig": {
                                      "StatusCode": "404", "ContentType": "text/plain"}}])["Listeners"][0]
    elbv2.create_listener(LoadBalancerArn=alb["LoadBalancerArn"], Protocol="HTTP", Port=80,
                          DefaultActions=[{"Type": "redirect", "RedirectConfig": {
                              "Protocol": "HTTPS", "Port": "443", "StatusCode": "HTTP_301"}}])
    listener = https["ListenerArn"]
    elbv2.create_rule(ListenerArn=listener, Priority=10, Conditions=_host("ranking.example.com"),
                      Actions=_forward(groups["ranking"]))
    elbv2.create_rule(ListenerArn=listener, Priority=20, Conditions=_host("*.apps.example.com"),
                      Actions=_forward(groups["apps"]))
    elbv2.create_rule(ListenerArn=listener, Priority=30, Conditions=_host("other.example.com"),
                      Actions=_forward(groups["other"]))
    elbv2.create_rule(ListenerArn=listener, Priority=40, Conditions=_host("example.com", "www2.example.com"),
                      Actions=_forward(groups["apex"]))
    elbv2.create_rule(ListenerArn=listener, Priority=50, Conditions=_host("legacy.example.com"),
                      Actions=_forward(groups["legacy"]))
    elbv2.create_rule(ListenerArn=listener, Priority=60, Conditions=_host("origin.example.com"),
                      Actions=_forward(groups["storefront"]))
    elbv2.create_listener(LoadBalancerArn=nlb["LoadBalancerArn"], Protocol="TCP", Port=443,
                          DefaultActions=_forward(groups["admin"]))

    s3.create_bucket(Bucket="static-assets", CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_bucket_tagging(Bucket="static-assets", Tagging={"TagSet": [{"Key": "launchpad/team", "Value": "web"},
                                                                      {"Key": "launchpad/service", "Value": "assets"}]})
    s3.create_bucket(Bucket="www.example.com", CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_bucket_website(Bucket="www.example.com", WebsiteConfiguration={"IndexDocument": {"Suffix": "index.html"}})
    s3.put_bucket_tagging(Bucket="www.example.com", Tagging={"TagSet": [{"Key": "Team", "Value": "marketing"}]})

    dist = cf.create_distribution(DistributionConfig={
        "CallerReference": "seed", "Comment": "cdn", "Enabled": True,
        "Aliases": {"Quantity": 2, "Items": ["cdn.example.com", "*.static.example.com"]},
        "Origins": {"Quantity": 2, "Items": [
            {"Id": "assets", "DomainName": "static-assets.s3.eu-west-1.amazonaws.com",
             "S3OriginConfig": {"OriginAccessIdentity": ""}},
            {"Id": "app", "DomainName": "origin.example.com", "CustomOriginConfig": {
                "HTTPPort": 80, "HTTPSPort": 443, "OriginProtocolPolicy": "https-only"}}]},
        "DefaultCacheBehavior": {"TargetOriginId": "assets", "ViewerProtocolPolicy": "redirect-to-https",
                                 "MinTTL": 0, "ForwardedValues": {"QueryString": False, "Cookies": {"Forward": "none"}},
                                 "TrustedSigners": {"Enabled": False, "Quantity": 0}},
        "CacheBehaviors": {"Quantity": 1, "Items": [{
            "PathPattern": "/api/*", "TargetOriginId": "app", "ViewerProtocolPolicy": "https-only", "MinTTL": 0,
            "ForwardedValues": {"QueryString": True, "Cookies": {"Forward": "all"}},
            "TrustedSigners": {"Enabled": False, "Quantity": 0}}]},
    })["Distribution"]

    api = apigw.create_rest_api(name="payments-api", tags={"launchpad/team": "payments",
                                                           "launchpad/service": "payments-api"})
    domain = apigw.create_domain_name(domainName="gw.example.com", regionalCertificateArn="arn:aws:acm:x",
                                      endpointConfiguration={"types": ["REGIONAL"]})
    root = apigw.get_resources(restApiId=api["id"])["items"][0]["id"]
    apigw.put_method(restApiId=api["id"], resourceId=root, httpMethod="GET", authorizationType="NONE")
    apigw.put_integration(restApiId=api["id"], resourceId=root, httpMethod="GET", type="MOCK")
    apigw.create_deployment(restApiId=api["id"], stageName="prod")
    apigw.create_base_path_mapping(domainName="gw.example.com", restApiId=api["id"], stage="prod", basePath="v1")

    public = r53.create_hosted_zone(Name="example.com", CallerReference="public")["HostedZone"]["Id"]
    private = r53.create_hosted_zone(Name="internal.example.com", CallerReference="private",
                                     HostedZoneConfig={"PrivateZone": True, "Comment": "vpc"},
                                     VPC={"VPCRegion": REGION, "VPCId": vpc})["HostedZone"]["Id"]
    r53.create_hosted_zone(Name="example.org", CallerReference="other")
    alb_dns = alb["DNSName"]
    changes = [
        _alias("example.com", f"dualstack.{alb_dns}"),
        _alias("ranking.example.com", f"dualstack.{alb_dns}."),
        _alias("ranking.example.com", f"dualstack.{alb_dns}.", kind="AAAA"),
        _alias("*.apps.example.com", alb_dns),
        _alias("nomatch.example.com", f"dualstack.{alb_dns}"),
        _alias("legacy.example.com", alb_dns),
        _alias("origin.example.com", alb_dns),
        _record("api.example.com", "CNAME", "api-edge.example.com"),
        _record("api-edge.example.com", "CNAME", "ranking.example.com"),
        _record("loop-a.example.com", "CNAME", "loop-b.example.com"),
        _record("loop-b.example.com", "CNAME", "loop-a.example.com"),
        _alias("cdn.example.com", dist["DomainName"], zone_id="Z2FDTNDATAQYW2"),
        _record("img.static.example.com", "CNAME", dist["DomainName"]),
        _alias("www.example.com", "s3-website-eu-west-1.amazonaws.com", zone_id="Z1BKCTXD74EZPE"),
        _alias("gw.example.com", domain["regionalDomainName"], zone_id=domain["regionalHostedZoneId"]),
        _record("ip.example.com", "A", "203.0.113.10"),
        _record("txt.example.com", "TXT", '"v=spf1 -all"'),
        _record("partner.example.com", "CNAME", "shop.partner.example.net"),
    ]
    r53.change_resource_record_sets(HostedZoneId=public, ChangeBatch={"Changes": changes})
    r53.change_resource_record_sets(HostedZoneId=private, ChangeBatch={"Changes": [
        _alias("admin.internal.example.com", nlb["DNSName"])]})
    return Seeded(public_zone=public, private_zone=private, alb_dns=alb_dns, alb_arn=alb["LoadBalancerArn"],
                  nlb_dns=nlb["DNSName"], https_listener=listener, target_groups=groups,
                  distribution_domain=dist["DomainName"], api_regional_domain=domain["regionalDomainName"],
                  instance_id=instance["InstanceId"])


# --- a service catalogue standing in for the workflow's read methods ------------------------------------------------


class Catalog:
    """The two read methods of WorkflowService that CatalogOwners uses, over a fixed list of services."""

    def __init__(self, services: list[ServiceInfo]) -> None:
        self.services = services
        self.calls = 0

    def get_service(self, name: str) -> ServiceInfo:
        self.calls += 1
        for s in self.services:
            if s.name == name:
                return s
        raise NotFound(f"no service {name}")

    def list_services(self, *, owner: str | None = None, team: str | None = None) -> list[ServiceInfo]:
        self.calls += 1
        return list(self.services)


@pytest.fixture
def catalog() -> Catalog:
    envs = [EnvironmentInfo(name="devel", domain="ranking-web.devel.example.com"),
            EnvironmentInfo(name="prod", domain="ranking.example.com")]
    return Catalog([
        ServiceInfo(name="ranking-web", team="search", blueprint="web-service", owner="U0SEARCH", environments=envs),
        ServiceInfo(name="admin", team="platform", blueprint="web-service", owner="U0PLAT",
                    environments=[EnvironmentInfo(name="prod")]),
        ServiceInfo(name="homepage", team="web", blueprint="web-service", owner="U0WEB",
                    environments=[EnvironmentInfo(name="prod")]),
    ])
