"""Domain lookup against 50 hosted zones x 1,000 records on moto server: AWS calls and latency per lookup.

Each lookup runs cold (a fresh DomainLookup: zone and load balancer listings not cached) and warm (the
same lookup again on a primed DomainLookup). The AWS call counts are the figure that carries over to
a real account; latencies are against a local moto server and only compare cold with warm. The
baseline is a script that lists zones and reads each until the name shows. Reported,
not asserted: `python -m bench.lookup` prints one line per figure and writes bench/results/lookup.json.
"""

from __future__ import annotations

import json
import logging
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import boto3
from moto.server import ThreadedMotoServer

from bot.aws.clients import AwsClients
from bot.aws.domain_lookup import RECORD_PAGE, DomainLookup
from bot.config import Settings

RESULTS = Path(__file__).resolve().parent / "results"
REGION = "eu-west-1"
BATCH = 500  # Route53 accepts up to 1,000 changes per ChangeResourceRecordSets call
PARENT = "example.com"
HOT = "team07.example.com"  # the zone the sample lookups go to (one of 49 below the parent)


def _zone_names(zones: int) -> list[str]:
    return [PARENT] + [f"team{i:02d}.{PARENT}" for i in range(1, zones)]


def _records(zone: str, count: int, alb_dns: str) -> list[dict[str, Any]]:
    """`count` record sets: every 10th an alias to the ALB, then a CNAME to it, the rest A records."""
    out: list[dict[str, Any]] = [{"Name": f"*.preview.{zone}", "Type": "A", "AliasTarget": {
        "HostedZoneId": "Z32O12XQLNTSW2", "DNSName": alb_dns, "EvaluateTargetHealth": False}}]
    k = 0
    while len(out) < count:
        if k % 10 == 0:
            out.append({"Name": f"app{k}.{zone}", "Type": "A", "AliasTarget": {
                "HostedZoneId": "Z32O12XQLNTSW2", "DNSName": f"dualstack.{alb_dns}", "EvaluateTargetHealth": False}})
        elif k % 10 == 1:
            out.append({"Name": f"www{k}.{zone}", "Type": "CNAME", "TTL": 300,
                        "ResourceRecords": [{"Value": f"app{k - 1}.{zone}"}]})
        else:
            out.append({"Name": f"host{k}.{zone}", "Type": "A", "TTL": 300,
                        "ResourceRecords": [{"Value": f"10.{k // 250 % 250}.{k % 250}.{len(zone) % 250}"}]})
        k += 1
    return out


def seed(session: boto3.Session, url: str, zones: int, records: int) -> dict[str, Any]:
    def c(service: str, region: str = REGION) -> Any:
        return session.client(service, region_name=region, endpoint_url=url)  # type: ignore[call-overload]

    ec2, elbv2, r53, acm = c("ec2"), c("elbv2"), c("route53", "us-east-1"), c("acm")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"{REGION}{az}")
               ["Subnet"]["SubnetId"] for i, az in ((1, "a"), (2, "b"))]
    alb = elbv2.create_load_balancer(Name="shared-alb", Subnets=subnets, Scheme="internet-facing",
                                     Type="application")["LoadBalancers"][0]
    for i in range(20):  # other load balancers in the account: the listing is cached, the lookup picks by DNS name
        elbv2.create_load_balancer(Name=f"other-{i:02d}", Subnets=subnets, Type="application")
    cert = acm.request_certificate(DomainName=PARENT, SubjectAlternativeNames=[f"*.{PARENT}"])["CertificateArn"]
    listener = elbv2.create_listener(
        LoadBalancerArn=alb["LoadBalancerArn"], Protocol="HTTPS", Port=443, Certificates=[{"CertificateArn": cert}],
        DefaultActions=[{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "404"}}])["Listeners"][0]
    elbv2.create_listener(LoadBalancerArn=alb["LoadBalancerArn"], Protocol="HTTP", Port=80, DefaultActions=[
        {"Type": "redirect", "RedirectConfig": {"Protocol": "HTTPS", "Port": "443", "StatusCode": "HTTP_301"}}])
    # 100 host-header rules (the default quota per listener), one target group each, tagged like the controller does
    for rule in range(100):
        zone = _zone_names(zones)[rule % zones]
        hosts = [f"app{(rule // zones) * 10}.{zone}", f"www{(rule // zones) * 10 + 1}.{zone}"]
        if rule < zones:
            hosts.append(f"*.preview.{zone}")
        tg = elbv2.create_target_group(
            Name=f"prod-svc{rule:03d}-tg", Protocol="HTTP", Port=8080, VpcId=vpc, TargetType="ip",
            Tags=[{"Key": "elbv2.k8s.aws/cluster", "Value": "eks-main"},
                  {"Key": "ingress.k8s.aws/stack", "Value": f"team{rule % zones:02d}-prod/svc{rule:03d}"},
                  {"Key": "ingress.k8s.aws/resource", "Value": f"team{rule % zones:02d}-prod/svc{rule:03d}-svc"
                                                               f"{rule:03d}:80"}])["TargetGroups"][0]["TargetGroupArn"]
        elbv2.register_targets(TargetGroupArn=tg, Targets=[{"Id": f"10.0.1.{t}", "Port": 8080} for t in range(3)])
        elbv2.create_rule(ListenerArn=listener["ListenerArn"], Priority=rule + 1,
                          Conditions=[{"Field": "host-header", "HostHeaderConfig": {"Values": hosts}}],
                          Actions=[{"Type": "forward", "TargetGroupArn": tg}])
    for i, zone in enumerate(_zone_names(zones)):
        private = i % 10 == 9
        extra: dict[str, Any] = {"HostedZoneConfig": {"PrivateZone": True, "Comment": "private"},
                                 "VPC": {"VPCRegion": REGION, "VPCId": vpc}} if private else {}
        zone_id = r53.create_hosted_zone(Name=zone, CallerReference=f"bench-{zone}", **extra)["HostedZone"]["Id"]
        rrsets = _records(zone, records, alb["DNSName"])
        for start in range(0, len(rrsets), BATCH):
            r53.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": [
                {"Action": "CREATE", "ResourceRecordSet": r} for r in rrsets[start:start + BATCH]]})
    return {"alb_dns": alb["DNSName"]}


SAMPLES = {
    "alias_to_alb_rule_match": f"app0.{HOT}",
    "cname_chain_to_alb": f"www1.{HOT}",
    "wildcard_record_and_rule": f"feature-x.preview.{HOT}",
    "plain_a_record": f"host42.{HOT}",
    "parent_zone_alias": f"app10.{PARENT}",
    "missing_record": f"nothing.{HOT}",
    "unknown_domain": "shop.example.org",
}


def naive_scan_calls(session: boto3.Session, url: str, domain: str) -> int:
    """The baseline: what a quick script does to find a record: list zones, read every zone until the name shows."""
    r53: Any = session.client("route53", region_name="us-east-1", endpoint_url=url)  # type: ignore[call-overload]
    calls = 0
    for page in r53.get_paginator("list_hosted_zones").paginate():
        calls += 1
        for zone in page["HostedZones"]:
            for records in r53.get_paginator("list_resource_record_sets").paginate(HostedZoneId=zone["Id"]):
                calls += 1
                if any(r["Name"].rstrip(".") == domain for r in records["ResourceRecordSets"]):
                    return calls
    return calls


def _measure(lookup: DomainLookup, domain: str) -> tuple[int, float, dict[str, int]]:
    started = time.perf_counter()
    result = lookup.lookup(domain)
    elapsed = time.perf_counter() - started
    return result.aws_call_count, elapsed * 1000, result.aws_calls


def run(zones: int = 50, records: int = 1000) -> dict[str, Any]:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        url = f"http://{host}:{port}"
        session = boto3.Session(aws_access_key_id="bench", aws_secret_access_key="bench", region_name=REGION)
        started = time.perf_counter()
        seed(session, url, zones, records)
        seed_seconds = time.perf_counter() - started
        settings = Settings(aws_endpoint_url=url, aws_region=REGION)
        per_lookup: dict[str, Any] = {}
        warm_lookup = DomainLookup(AwsClients.from_settings(settings, session=session),
                                   cache_seconds=settings.lookup_cache_seconds)
        for domain in SAMPLES.values():  # prime the caches of the warm lookup
            warm_lookup.lookup(domain)
        for name, domain in SAMPLES.items():
            cold = DomainLookup(AwsClients.from_settings(settings, session=session),
                                cache_seconds=settings.lookup_cache_seconds)
            cold_calls, cold_ms, cold_detail = _measure(cold, domain)
            warm_calls, warm_ms, _ = _measure(warm_lookup, domain)
            per_lookup[name] = {"domain": domain, "cold_calls": cold_calls, "warm_calls": warm_calls,
                                "cold_ms": round(cold_ms, 1), "warm_ms": round(warm_ms, 1),
                                "record_queries": cold_detail.get("route53.ListResourceRecordSets", 0),
                                "naive_scan_route53_calls": naive_scan_calls(session, url, domain)}
    finally:
        server.stop()
    figures = list(per_lookup.values())
    result: dict[str, Any] = {
        "zones": zones,
        "records_per_zone": records,
        "records_total": zones * records,
        "seed_seconds": round(seed_seconds, 1),
        "cold_calls_mean": round(statistics.mean(f["cold_calls"] for f in figures), 1),
        "cold_calls_max": max(f["cold_calls"] for f in figures),
        "warm_calls_mean": round(statistics.mean(f["warm_calls"] for f in figures), 1),
        "warm_calls_max": max(f["warm_calls"] for f in figures),
        "cold_ms_median": round(statistics.median(f["cold_ms"] for f in figures), 1),
        "warm_ms_median": round(statistics.median(f["warm_ms"] for f in figures), 1),
        "max_records_read_per_lookup": max(f["record_queries"] for f in figures) * int(RECORD_PAGE),
        "naive_scan_route53_calls_max": max(f["naive_scan_route53_calls"] for f in figures),
        "lookups": per_lookup,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "lookup.json").write_text(json.dumps(result, indent=2) + "\n")
    for key, value in result.items():
        if key != "lookups":
            print(f"lookup.{key}: {value}")
    for name, f in per_lookup.items():
        print(f"lookup.{name}: {f['cold_calls']} calls cold / {f['warm_calls']} warm, "
              f"{f['cold_ms']} ms cold / {f['warm_ms']} ms warm; a zone scan needs {f['naive_scan_route53_calls']} "
              f"Route53 calls ({f['domain']})")
    return result


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:3]]
    run(*args)
