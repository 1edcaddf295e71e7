"""Generated names are injective and within every limit (issue 12, items 6-8).

`x-foo` in `tmp-a` and `foo` in `tmp-a-x` used to share a bucket, a database, a target group, an IAM
role and security groups. Hypothesis builds service names and environments from the words that make
such collisions (`tmp`, environment names, S3's reserved endings) and checks that two different
(service, environment) pairs that both pass validation never share a name of the same kind.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from provisioners.blueprint import BlueprintRegistry
from provisioners.errors import InvalidSpecError
from provisioners.platform import PlatformConfig
from provisioners.spec import ServiceSpec, parse_spec

PLATFORM = PlatformConfig()
BLUEPRINTS = BlueprintRegistry.load()
WORDS = ["a", "x", "foo", "1", "tmp", "devel", "alpha", "prod", "pr42", "s3alias", "ol", "s3", "irsa", "pods", "rds"]
SLUGS = ["a", "x", "x1", "devel", "prod", "tmp", "pr42"]

names = st.lists(st.sampled_from(WORDS), min_size=1, max_size=4).map("-".join)
environments = st.one_of(st.sampled_from(["devel", "alpha", "prod"]),
                         st.sampled_from(SLUGS).map(lambda slug: f"tmp-{slug}"),
                         st.sampled_from(["a-x", "x-1", "a"]).map(lambda slug: f"tmp-{slug}"))


def spec_of(name: str, env: str, team: str = "search") -> ServiceSpec | None:
    data: dict[str, Any] = {"name": name, "team": team, "blueprint": "web-service",
                            "environments": [{"name": env, **({"ttl_hours": 24} if env.startswith("tmp-") else {})}],
                            "components": {"s3": {}, "rds": {}, "elasticache": {}}}
    try:
        return parse_spec(data, PLATFORM, BLUEPRINTS)
    except InvalidSpecError:
        return None


def generated(spec: ServiceSpec, env: str) -> dict[str, set[str]]:
    """AWS/Kubernetes/DNS namespace -> the names this service takes there in `env`."""
    n = spec.names(env, PLATFORM)
    return {
        "iam role": {n.iam_role, n.ci_role},
        "security group": {n.security_group, n.rds_security_group},
        "target group": {n.target_group},
        "s3 bucket": {n.bucket},
        "rds": {n.rds},
        "elasticache": {n.elasticache},
        "ecr": {n.ecr_repository},
        "argo cd application": {n.application},
        "domain": {spec.domain_for(env, PLATFORM)},
        f"helm release in {n.namespace}": {n.release},
    }


@settings(max_examples=400, deadline=None)
@given(first=st.tuples(names, environments), second=st.tuples(names, environments))
def test_two_services_never_share_a_name(first: tuple[str, str], second: tuple[str, str]) -> None:
    assume(first != second)
    one, two = spec_of(*first), spec_of(*second)
    assume(one is not None and two is not None)
    assert one is not None and two is not None
    a, b = generated(one, first[1]), generated(two, second[1])
    for kind in set(a) & set(b):
        shared = a[kind] & b[kind]
        if first[0] == second[0]:
            shared -= {one.names(first[1], PLATFORM).ci_role, one.names(first[1], PLATFORM).ecr_repository}
        assert not shared, f"{first} and {second} share the {kind} name(s) {sorted(shared)}"


def resplits(text: str) -> list[tuple[str, str]]:
    """Every way to cut `text` at one hyphen: (left, right)."""
    return [(text[:i], text[i + 1:]) for i, ch in enumerate(text) if ch == "-"]


@settings(max_examples=300, deadline=None)
@given(pair=st.tuples(names, environments))
def test_no_other_valid_pair_reads_the_same(pair: tuple[str, str]) -> None:
    """The adversary's search: cut each generated name at another hyphen; no other valid (service,
    environment) may produce the same string (prefix `{env}-{service}`, suffix `{service}-{env}`)."""
    name, env = pair
    spec = spec_of(name, env)
    assume(spec is not None)
    for left, right in resplits(f"{env}-{name}"):  # bucket, database, cache, target group, role, groups
        if (right, left) != (name, env):
            assert spec_of(right, left) is None, f"{env}-{name} is also service {right!r} in {left!r}"
    for left, right in resplits(f"{name}-{env}"):  # Argo CD application (after the team), tmp domains
        if (left, right) != (name, env):
            assert spec_of(left, right) is None, f"{name}-{env} is also service {left!r} in {right!r}"


@pytest.mark.parametrize(("name", "env", "words"), [
    ("x-foo", "tmp-a", None),  # the pair: now one of them cannot be expressed
    ("foo", "tmp-a-x", "no hyphens"),
    ("cache--svc", "devel", "consecutive hyphens"),
    ("logs-s3alias", "devel", "S3 reserves"),
    ("foo-tmp", "devel", "'tmp'"),
    ("foo-tmp-x", "devel", "'tmp'"),
])
def test_names_that_would_collide_or_break_aws_are_refused(name: str, env: str, words: str | None) -> None:
    data = {"name": name, "team": "search", "blueprint": "worker",
            "environments": [{"name": env, **({"ttl_hours": 24} if env.startswith("tmp-") else {})}]}
    if words is None:
        assert parse_spec(data, PLATFORM, BLUEPRINTS)
        return
    with pytest.raises(InvalidSpecError) as info:
        parse_spec(data, PLATFORM, BLUEPRINTS)
    assert any(words in message for message in info.value.errors.values()), info.value.errors


def test_recorded_specs_keep_their_legacy_temporary_slugs() -> None:
    """A temporary environment created before slugs lost their hyphens can still be torn down."""
    data = {"name": "legacy", "team": "search", "blueprint": "worker",
            "environments": [{"name": "tmp-a-x", "ttl_hours": 24}]}
    with pytest.raises(InvalidSpecError):
        parse_spec(data, PLATFORM, BLUEPRINTS)
    assert parse_spec(data, PLATFORM, BLUEPRINTS, recorded=True).environments[0].name == "tmp-a-x"


@pytest.mark.parametrize(("name", "team", "env", "words"), [
    ("w" * 54, "search", "prod", "Helm release name"),  # a 54-character prod worker passed before
    ("w" * 53, "payments", "prod", "Argo CD application name"),  # payments-<53>-prod is 67 characters
])
def test_kubernetes_and_argo_cd_limits(name: str, team: str, env: str, words: str) -> None:
    data = {"name": name, "team": team, "blueprint": "worker", "environments": [{"name": env}]}
    with pytest.raises(InvalidSpecError) as info:
        parse_spec(data, PLATFORM, BLUEPRINTS)
    assert words in info.value.errors["name"], info.value.errors


def test_the_longest_valid_names_fit_every_limit() -> None:
    spec = spec_of("w" * 20, "prod")
    assert spec is not None
    n = spec.names("prod", PLATFORM)
    assert len(n.target_group) <= 32 and len(n.application) <= 63 and len(n.release) <= 53
