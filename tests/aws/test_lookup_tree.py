"""The lookup's pure decisions: parsing, zone and host matching, controller tags, naming conventions."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.aws.errors import InvalidDomain
from bot.aws.lookup_tree import (
    LookupResult,
    ZoneRef,
    decode_record_name,
    elb_region,
    host_pattern_matches,
    is_cloudfront,
    is_elb,
    parse_domain,
    render_text,
    service_from_target_group_name,
    strip_dualstack,
    wildcard_names,
    workload_from_tags,
    zones_for,
)

LABEL = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True)


@pytest.mark.parametrize("text", ["not a domain", "", "-bad.example.com", "exa mple.com", "<>", "a..b.com"])
def test_parse_domain_rejects_what_is_not_a_hostname(text: str) -> None:
    with pytest.raises(InvalidDomain, match="not"):
        parse_domain(text)


def test_parse_domain_accepts_urls_links_ports_and_unicode() -> None:
    assert parse_domain("<http://shop.example.com>") == "shop.example.com"
    assert parse_domain("https://user@Shop.Example.com:8443/x") == "shop.example.com"
    assert parse_domain("bücher.example.com") == "xn--bcher-kva.example.com"


def test_route53_escapes_are_decoded() -> None:
    # Gap: AWS returns wildcard names as "\052.example.com." while moto returns "*.example.com.";
    # both must read as the same name.
    assert decode_record_name("\\052.example.com.") == "*.example.com"
    assert decode_record_name("*.Example.com.") == "*.example.com"


def test_longest_zone_suffix_wins_and_public_comes_first() -> None:
    zones = [ZoneRef(id="/hostedzone/A", name="example.com", private=False),
             ZoneRef(id="/hostedzone/B", name="corp.example.com", private=True),
             ZoneRef(id="/hostedzone/C", name="corp.example.com", private=False),
             ZoneRef(id="/hostedzone/D", name="ample.com", private=False)]
    assert [z.id for z in zones_for("x.corp.example.com", zones)] == ["/hostedzone/C", "/hostedzone/B"]
    assert [z.id for z in zones_for("example.com", zones)] == ["/hostedzone/A"]
    assert zones_for("xample.com", zones) == []  # a suffix of labels, not of characters


def test_wildcards_are_tried_from_the_closest_encloser_up_to_the_zone() -> None:
    assert wildcard_names("a.b.example.com", "example.com") == ["*.b.example.com", "*.example.com"]
    assert wildcard_names("example.com", "example.com") == []


@pytest.mark.parametrize(("pattern", "host", "expected"), [
    ("shop.example.com", "SHOP.example.com", True),
    ("*.example.com", "a.example.com", True),
    ("*.example.com", "example.com", False),
    ("shop-?.example.com", "shop-1.example.com", True),
    ("shop-?.example.com", "shop-12.example.com", False),
    ("shop.example.com", "shopXexample.com", False),  # the dot is literal
])
def test_host_patterns(pattern: str, host: str, expected: bool) -> None:
    assert host_pattern_matches(pattern, host) is expected


@given(LABEL, st.lists(LABEL, min_size=1, max_size=4))
def test_a_wildcard_pattern_matches_every_name_below_it(label: str, parent: list[str]) -> None:
    domain = ".".join(parent)
    assert host_pattern_matches(f"*.{domain}", f"{label}.{domain}")
    assert host_pattern_matches(f"{label}.{domain}", f"{label}.{domain}")
    assert not host_pattern_matches(f"{label}.{domain}", f"x{label}.{domain}")


def test_endpoint_classification() -> None:
    assert is_elb("dualstack.shared-alb-123.eu-west-1.elb.amazonaws.com.")
    assert is_elb("admin-nlb-abc.elb.eu-central-1.amazonaws.com")
    assert elb_region("dualstack.x-1.eu-west-1.elb.amazonaws.com") == "eu-west-1"
    assert elb_region("x-1.elb.eu-central-1.amazonaws.com") == "eu-central-1"
    assert strip_dualstack("DualStack.x-1.eu-west-1.elb.amazonaws.com.") == "x-1.eu-west-1.elb.amazonaws.com"
    assert is_cloudfront("d111111abcdef8.cloudfront.net.")
    assert not is_elb("elb.example.com")


def test_controller_tags_map_to_cluster_namespace_service() -> None:
    ingress = workload_from_tags({"elbv2.k8s.aws/cluster": "eks", "ingress.k8s.aws/stack": "shop-prod/web",
                                  "ingress.k8s.aws/resource": "shop-prod/web-shop-api:8080"})
    assert ingress is not None
    assert (ingress.cluster, ingress.namespace, ingress.ingress, ingress.service) == ("eks", "shop-prod", "web",
                                                                                      "shop-api")
    grouped = workload_from_tags({"ingress.k8s.aws/stack": "shared-group",
                                  "ingress.k8s.aws/resource": "shop-prod/web-shop-api:8080"})
    assert grouped is not None  # an IngressGroup: the ingress and service cannot be told apart, the namespace can
    assert (grouped.namespace, grouped.service, grouped.ingress) == ("shop-prod", None, "web-shop-api")
    service = workload_from_tags({"elbv2.k8s.aws/cluster": "eks", "service.k8s.aws/stack": "ops/admin",
                                  "service.k8s.aws/resource": "LoadBalancer"})
    assert service is not None and (service.namespace, service.service) == ("ops", "admin")
    assert workload_from_tags({"Name": "x"}) is None


def test_launchpad_target_group_names() -> None:
    assert service_from_target_group_name("prod-ranking-web-tg") == "ranking-web"
    assert service_from_target_group_name("tmp-pr42-ranking-tg") == "ranking"
    assert service_from_target_group_name("k8s-ns-svc-abc") is None


def test_not_found_text_lists_the_zones() -> None:
    zone = ZoneRef(id="/hostedzone/Z1", name="example.com", private=False)
    text = render_text(LookupResult(domain="a.example.net", found=False, zones_searched=[zone]))
    assert "Zones searched: example.com (public, Z1)." in text
