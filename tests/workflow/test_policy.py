"""Approval policy: a table of requests and the gates the default policy gives them, the file format's
errors, and who may decide. Self-approval is refused in test_engine (it needs a request)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.workflow.api import Actor, RequestKind
from bot.workflow.policy import PolicyError, facts_for, gates, load_policy, may_decide
from provisioners.blueprint import BlueprintRegistry
from provisioners.platform import PlatformConfig
from provisioners.spec import parse_spec
from tests.workflow.support import spec

PLATFORM = PlatformConfig()
BLUEPRINTS = BlueprintRegistry.load()
POLICY = load_policy()
ROLE = "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"

CASES: list[tuple[str, RequestKind, dict[str, Any], dict[str, Any] | None, list[str] | None, list[str]]] = [
    # id, kind, spec, previous spec (change), environments (delete), expected rule ids (all -> sre)
    ("devel standard", RequestKind.CREATE, spec(), None, None, []),
    ("tmp standard", RequestKind.CREATE, spec(envs=["tmp-pr42"]), None, None, []),
    ("devel with s3", RequestKind.CREATE, spec(components={"s3": {}}), None, None, []),
    ("devel+alpha", RequestKind.CREATE, spec(envs=["devel", "alpha"]), None, None, []),
    ("prod", RequestKind.CREATE, spec(envs=["devel", "prod"]), None, None, ["prod"]),
    ("rds in devel", RequestKind.CREATE, spec(components={"rds": {}}), None, None, ["data-stores"]),
    ("elasticache in tmp", RequestKind.CREATE, spec(envs=["tmp-x"], components={"elasticache": {}}), None, None,
     ["data-stores"]),
    ("extra IAM", RequestKind.CREATE, spec(iam_policy_arns=[ROLE]), None, None, ["iam-permissions"]),
    ("ingress inside VPC", RequestKind.CREATE, spec(ingress_cidrs=["10.0.5.0/24"]), None, None, []),
    ("ingress outside VPC", RequestKind.CREATE, spec(ingress_cidrs=["203.0.113.0/24"]), None, None,
     ["public-ingress"]),
    ("everything in prod", RequestKind.CREATE,
     spec(envs=["prod"], components={"rds": {}}, iam_policy_arns=[ROLE], ingress_cidrs=["0.0.0.0/0"]), None, None,
     ["prod", "iam-permissions", "public-ingress", "data-stores"]),
    ("change keeps approved IAM", RequestKind.CHANGE, spec(iam_policy_arns=[ROLE], cpu="500m"),
     spec(iam_policy_arns=[ROLE]), None, []),
    ("change adds IAM", RequestKind.CHANGE, spec(iam_policy_arns=[ROLE]), spec(), None, ["iam-permissions"]),
    ("change adds rds", RequestKind.CHANGE, spec(components={"rds": {}}), spec(), None, ["data-stores"]),
    ("change of a prod service", RequestKind.CHANGE, spec(envs=["prod"], cpu="1"), spec(envs=["prod"]), None,
     ["prod"]),
    ("delete devel", RequestKind.DELETE, spec(envs=["devel", "prod"]), None, ["devel"], []),
    ("delete prod", RequestKind.DELETE, spec(envs=["devel", "prod"]), None, ["prod"], ["prod", "delete-prod"]),
    ("delete tmp with a cache", RequestKind.DELETE, spec(envs=["tmp-x"], components={"elasticache": {}}), None,
     ["tmp-x"], ["data-stores"]),
    # a permanent bucket is emptied only when an SRE confirms; a temporary one is generated disposable
    ("delete devel with s3", RequestKind.DELETE, spec(components={"s3": {}}), None, ["devel"], ["purge-data"]),
    ("delete tmp with s3", RequestKind.DELETE, spec(envs=["devel", "tmp-x"], components={"s3": {}}), None,
     ["tmp-x"], []),
]


@pytest.mark.parametrize(("kind", "data", "previous", "envs", "expected"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_default_policy_table(kind: RequestKind, data: dict[str, Any], previous: dict[str, Any] | None,
                              envs: list[str] | None, expected: list[str]) -> None:
    parsed = parse_spec(data, PLATFORM, BLUEPRINTS)
    prev = parse_spec(previous, PLATFORM, BLUEPRINTS) if previous else None
    found = gates(facts_for(kind, parsed, PLATFORM, previous=prev, environments=envs), POLICY)
    assert [rule for gate in found for rule in gate.rules] == expected
    assert all(g.approvers == "sre" for g in found)
    assert len(found) == (1 if expected else 0)  # one gate per approver group, however many reasons
    if expected:
        assert len(found[0].reasons) == len(expected)


def test_the_automatic_teardown_of_a_temporary_data_store_needs_no_approval() -> None:
    """Decided: a temporary environment's data stores are disposable (their create was approved with the TTL),
    so the teardown LaunchPad opens at expiry does not wait for SRE; a person's delete of them still does."""
    parsed = parse_spec(spec(envs=["tmp-x"], components={"rds": {}, "elasticache": {}}), PLATFORM, BLUEPRINTS)
    expiry = facts_for(RequestKind.DELETE, parsed, PLATFORM, environments=["tmp-x"], ttl_expiry=True)
    assert gates(expiry, POLICY) == []
    by_hand = facts_for(RequestKind.DELETE, parsed, PLATFORM, environments=["tmp-x"])
    assert [r for g in gates(by_hand, POLICY) for r in g.rules] == ["data-stores"]


def test_reasons_name_what_matched() -> None:
    parsed = parse_spec(spec(envs=["prod"], ingress_cidrs=["0.0.0.0/0"]), PLATFORM, BLUEPRINTS)
    [gate] = gates(facts_for(RequestKind.CREATE, parsed, PLATFORM), POLICY)
    assert gate.reasons == ["touches prod (prod)", "security-group ingress from outside the VPC (0.0.0.0/0)"]


def test_team_approvers_and_globs(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text("rules:\n"
                    "  - {id: tmp-by-team, when: {environments: ['tmp-*']}, approvers: search, reason: temporary}\n"
                    "  - {id: deletes, when: {kinds: [delete]}, approvers: sre, reason: any delete}\n")
    policy = load_policy(path)
    parsed = parse_spec(spec(envs=["tmp-a1"]), PLATFORM, BLUEPRINTS)
    [gate] = gates(facts_for(RequestKind.CREATE, parsed, PLATFORM), policy)
    assert (gate.approvers, gate.reasons) == ("search", ["temporary (tmp-a1)"])
    found = gates(facts_for(RequestKind.DELETE, parsed, PLATFORM, environments=["tmp-a1"]), policy)
    assert [g.approvers for g in found] == ["search", "sre"]
    assert may_decide(Actor(id="U1", teams=["search"]), "search")
    assert not may_decide(Actor(id="U1", teams=["payments"]), "search")
    assert may_decide(Actor(id="U1", is_sre=True), "sre")
    assert not may_decide(Actor(id="U1", teams=["sre"]), "sre")  # SRE membership comes from the SRE group only


@pytest.mark.parametrize(("text", "message"), [
    ("rules: [{id: a, when: {colour: red}, approvers: sre, reason: x}]", "rules.0.when.colour"),
    ("rules: [{id: a, when: {kinds: [explode]}, approvers: sre, reason: x}]", "rules.0.when.kinds.0"),
    ("rules: [{id: a, when: {}, approvers: sre}]", "rules.0.reason"),
    ("rules: [{id: a, when: {}, approvers: sre, reason: x}, {id: a, when: {}, approvers: sre, reason: y}]",
     "rule id a is used twice"),
    ("rules: [unclosed", "not valid YAML"),
])
def test_invalid_policy_files_say_where(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    with pytest.raises(PolicyError, match=message.replace(".", r"\.")) as err:
        load_policy(path)
    assert str(path) in str(err.value)


def test_missing_policy_file(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="does not exist"):
        load_policy(tmp_path / "nope.yaml")
