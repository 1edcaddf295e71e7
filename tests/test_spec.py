"""ServiceSpec validation: every invalid input names its field and says how to fix it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from provisioners.blueprint import BlueprintRegistry
from provisioners.errors import InvalidSpecError
from provisioners.platform import PlatformConfig
from provisioners.spec import parse_spec

PLATFORM = PlatformConfig()
BLUEPRINTS = BlueprintRegistry.load()


def base(**overrides: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "name": "ranking-web",
        "team": "search",
        "blueprint": "web-service",
        "environments": [{"name": "devel"}, {"name": "alpha"}, {"name": "prod"}],
        "domain": "ranking.example.com",
    }
    spec.update(overrides)
    return spec


def test_valid_spec_derives_names_and_domains() -> None:
    spec = parse_spec(base(), PLATFORM, BLUEPRINTS)
    assert [e.name for e in spec.environments] == ["devel", "alpha", "prod"]
    assert spec.names("devel", PLATFORM).target_group == "devel-ranking-web-tg"
    assert spec.domain_for("devel", PLATFORM) == "ranking-web.devel.example.com"
    assert spec.domain_for("prod", PLATFORM) == "ranking.example.com"


INVALID = [
    ("too long for target group", base(name="a" * 24), "name", "target group name"),
    ("uppercase", base(name="Ranking"), "name", "DNS-1123"),
    ("underscore", base(name="ranking_web"), "name", "DNS-1123"),
    ("leading digit", base(name="1ranking"), "name", "DNS-1123"),
    ("trailing hyphen", base(name="ranking-"), "name", "DNS-1123"),
    ("empty name", base(name=""), "name", "empty"),
    ("unknown team", base(team="nobody"), "team", "unknown team"),
    ("unknown blueprint", base(blueprint="lambda"), "blueprint", "unknown blueprint"),
    ("domain outside zones", base(domain="ranking.evil.org"), "domain", "outside the hosted zones"),
    ("domain not a hostname", base(domain="not a domain"), "domain", "not a valid"),
    ("duplicate environments", base(environments=[{"name": "devel"}, {"name": "devel"}]), "environments", "twice"),
    ("no environments", base(environments=[]), "environments", "at least one"),
    ("unknown environment", base(environments=[{"name": "staging"}]), "environments.0.name", "tmp-<slug>"),
    ("port zero", base(port=0), "port", "out of range"),
    ("port too high", base(port=70000), "port", "out of range"),
    ("port reserved", base(port=8081), "port", "nginx"),
    ("temporary without ttl", base(environments=[{"name": "tmp-pr1"}]), "environments.0", "ttl_hours"),
    ("ttl too long", base(environments=[{"name": "tmp-pr1", "ttl_hours": 100000}]), "environments.0", "out of range"),
    ("ttl on permanent", base(environments=[{"name": "devel", "ttl_hours": 5}]), "environments.0", "permanent"),
    ("bad image", base(image="Not An Image!"), "image", "image reference"),
    ("bad cpu", base(cpu="lots"), "cpu", "CPU quantity"),
    ("bad memory", base(memory="1GB"), "memory", "Mi or Gi"),
    ("control characters", base(description="bell\x07"), "description", "control characters"),
    ("lone surrogate", base(description="half \ud800 a pair"), "description", "surrogate"),
    ("description too long", base(description="x" * 501), "description", "500"),
    ("worker with domain", base(blueprint="worker", domain="w.example.com"), "domain", "no HTTP"),
    ("unknown field", base(replicas=3), "replicas", "belongs under environments"),
    # unknown keys at every level are refused, naming the closest valid key (issue 12, item 5)
    ("unknown component", base(components={"rsd": {}}), "components.rsd", "did you mean 'rds'?"),
    ("unknown environment key", base(environments=[{"name": "devel", "replica": 5}]), "environments.0.replica",
     "did you mean 'replicas'?"),
    ("unknown rds key", base(components={"rds": {"engin": "mysql"}}), "components.rds.engin",
     "did you mean 'engine'?"),
    ("unknown rds key 2", base(components={"rds": {"instance_clas": "db.t4g.small"}}), "components.rds.instance_clas",
     "did you mean 'instance_class'?"),
    ("unknown s3 key", base(components={"s3": {"versoning": False}}), "components.s3.versoning",
     "did you mean 'versioning'?"),
    ("unknown cache key", base(components={"elasticache": {"nodetype": "cache.t4g.small"}}),
     "components.elasticache.nodetype", "did you mean 'node_type'?"),
    ("unknown pins key", base(pins={"chart_revison": "v1"}), "pins.chart_revison", "did you mean 'chart_revision'?"),
    # CI pushes to the service's ECR repository and rewrites the tag (issue 12, item 9)
    ("image elsewhere", base(image="ghcr.io/acme/ranking-web:1.4.2"), "image", "not in the service's ECR repository"),
    ("another ecr repository", base(image="111111111111.dkr.ecr.eu-west-1.amazonaws.com/search/other:1"), "image",
     "not in the service's ECR repository"),
    ("image by digest", base(image="111111111111.dkr.ecr.eu-west-1.amazonaws.com/search/ranking:1@sha256:"
                                   + "a" * 64), "image", "pinned by digest"),
    ("zero cpu", base(cpu="0"), "cpu", "zero"),
    ("zero cpu decimal", base(cpu="0.0"), "cpu", "zero"),
    ("bad policy arn", base(iam_policy_arns=["admin"]), "iam_policy_arns", "policy ARN"),
    ("bad cidr", base(ingress_cidrs=["10.0.0.0/33"]), "ingress_cidrs", "CIDR"),
    ("missing team", {k: v for k, v in base().items() if k != "team"}, "team", "required"),
]


@pytest.mark.parametrize(("case", "data", "field", "words"), INVALID, ids=[c[0] for c in INVALID])
def test_invalid_spec_names_field_and_fix(case: str, data: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(InvalidSpecError) as info:
        parse_spec(data, PLATFORM, BLUEPRINTS)
    assert field in info.value.errors, info.value.errors
    assert words in info.value.errors[field]


def test_name_length_message_says_how_long_it_may_be() -> None:
    with pytest.raises(InvalidSpecError) as info:
        parse_spec(base(name="a" * 30), PLATFORM, BLUEPRINTS)
    assert "use at most 23 characters" in info.value.errors["name"]


def test_not_a_mapping() -> None:
    with pytest.raises(InvalidSpecError):
        parse_spec(["name"], PLATFORM, BLUEPRINTS)


def test_blueprint_files_refuse_unknown_keys(tmp_path: Path) -> None:
    """Blueprints are YAML an SRE writes: a typo is refused with the closest key (issue 12, item 5)."""
    (tmp_path / "svc.yaml").write_text("id: svc\ntitle: Svc\nprovisioners: [helm]\ncomponents: {}\n"
                                       "defaults: {replica: {devel: 1}}\n")
    with pytest.raises(ValueError, match="did you mean 'replicas'"):
        BlueprintRegistry.load(tmp_path)
