"""Approval policy: which requests stop at a human gate, and who may open it.

The policy is data (YAML: `templates/policy.yaml` by default, `settings.approval_policy_file` to
override). `gates(facts, policy)` is a pure function from what a request changes to the approval
gates it needs; `may_decide` says whether an actor belongs to a gate's approver group. Nothing here
touches the database or talks to anyone.
"""

from __future__ import annotations

import fnmatch
import ipaddress
from pathlib import Path

import yaml
from pydantic import BaseModel, Field, ValidationError

from bot.workflow.api import Actor, RequestKind
from provisioners.blueprint import TEMPLATES_DIR
from provisioners.platform import PlatformConfig
from provisioners.spec import ServiceSpec

DEFAULT_POLICY_FILE = TEMPLATES_DIR / "policy.yaml"
SRE_GROUP = "sre"


class PolicyError(ValueError):
    """The policy file is invalid; the message names the file and the rule."""


class Condition(BaseModel):
    """Every key given must match (AND); a list matches when any of its items matches (OR)."""

    model_config = {"extra": "forbid"}

    kinds: list[RequestKind] | None = Field(default=None, description="create, change, delete")
    environments: list[str] | None = Field(default=None, description="names or globs, e.g. prod, tmp-*")
    components: list[str] | None = Field(default=None, description="optional components, e.g. rds, s3")
    iam_beyond_defaults: bool | None = Field(default=None, description="extra IAM policy ARNs requested")
    ingress_outside_vpc: bool | None = Field(default=None, description="ingress CIDRs outside the VPC")
    ttl_expiry: bool | None = Field(default=None, description="LaunchPad's automatic teardown of an expired "
                                                              "temporary environment")
    purges_data: bool | None = Field(default=None, description="a delete empties buckets of permanent environments")


class Rule(BaseModel):
    model_config = {"extra": "forbid"}

    id: str
    when: Condition
    approvers: str = Field(description="'sre', or a team name whose members may approve")
    reason: str = Field(description="what the approver is told, e.g. 'touches prod'")


class Policy(BaseModel):
    model_config = {"extra": "forbid"}

    version: int = 1
    rules: list[Rule] = Field(default_factory=list)


class RequestFacts(BaseModel):
    """What a request changes, as the policy sees it (for a change: only what it adds)."""

    kind: RequestKind
    environments: list[str]
    components: list[str] = Field(default_factory=list)
    iam_policy_arns: list[str] = Field(default_factory=list)
    ingress_outside_vpc: list[str] = Field(default_factory=list, description="offending CIDRs")
    ttl_expiry: bool = Field(default=False, description="the automatic delete of an expired temporary environment")
    purged_buckets: list[str] = Field(default_factory=list, description="delete: buckets emptied with their data")


class Gate(BaseModel):
    """One approval step: a group and every reason the policy gave for it."""

    approvers: str
    reasons: list[str]
    rules: list[str]


def load_policy(path: Path | None = None) -> Policy:
    path = path or DEFAULT_POLICY_FILE
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise PolicyError(f"approval policy file {path} does not exist; fix approval_policy_file") from None
    except yaml.YAMLError as exc:
        raise PolicyError(f"approval policy file {path} is not valid YAML: {exc}") from None
    try:
        policy = Policy.model_validate(data or {})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise PolicyError(f"approval policy file {path}: {where}: {first['msg']}") from None
    ids = [r.id for r in policy.rules]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise PolicyError(f"approval policy file {path}: rule id {', '.join(dupes)} is used twice")
    return policy


def facts_for(kind: RequestKind, spec: ServiceSpec, platform: PlatformConfig, *,
              previous: ServiceSpec | None = None, environments: list[str] | None = None,
              ttl_expiry: bool = False) -> RequestFacts:
    """Facts of a create/change (new spec, diffed against `previous`) or a delete (of `environments`;
    `ttl_expiry`: the one LaunchPad opens when a temporary environment expires)."""
    envs = environments or [e.name for e in spec.environments]
    if kind == RequestKind.DELETE:
        buckets = [spec.names(e, platform).bucket for e in envs
                   if not e.startswith("tmp-") and "s3" in spec.components.enabled()]
        return RequestFacts(kind=kind, environments=envs, components=spec.components.enabled(),
                            ttl_expiry=ttl_expiry, purged_buckets=buckets)
    components = spec.components.enabled()
    arns = spec.iam_policy_arns
    cidrs = spec.ingress_cidrs
    if previous is not None:
        components = [c for c in components if c not in previous.components.enabled()]
        arns = [a for a in arns if a not in previous.iam_policy_arns]
        cidrs = [c for c in cidrs if c not in previous.ingress_cidrs]
    outside = sorted({c for c in cidrs for env in envs if not _inside(c, platform.target_for(env).vpc_cidr)})
    return RequestFacts(kind=kind, environments=envs, components=components, iam_policy_arns=arns,
                        ingress_outside_vpc=outside)


def gates(facts: RequestFacts, policy: Policy) -> list[Gate]:
    """The approval gates a request needs: one per approver group, in rule order."""
    by_group: dict[str, Gate] = {}
    for rule in policy.rules:
        detail = _matches(rule.when, facts)
        if detail is None:
            continue
        gate = by_group.setdefault(rule.approvers, Gate(approvers=rule.approvers, reasons=[], rules=[]))
        reason = f"{rule.reason} ({detail})" if detail else rule.reason
        gate.reasons.append(reason)
        gate.rules.append(rule.id)
    return list(by_group.values())


def may_decide(actor: Actor, approvers: str) -> bool:
    """SRE is the `sre` group (Slack user group or settings.sre_users); any other group is a team."""
    if approvers == SRE_GROUP:
        return actor.is_sre
    return approvers in actor.teams


def _matches(cond: Condition, facts: RequestFacts) -> str | None:
    """None when the condition does not hold, else the matched detail for the reason text."""
    details: list[str] = []
    if cond.kinds is not None and facts.kind not in cond.kinds:
        return None
    if cond.environments is not None:
        hit = [e for e in facts.environments if any(fnmatch.fnmatchcase(e, pat) for pat in cond.environments)]
        if not hit:
            return None
        details.append(", ".join(hit))
    if cond.components is not None:
        hit = [c for c in facts.components if c in cond.components]
        if not hit:
            return None
        details.append(", ".join(hit))
    if cond.iam_beyond_defaults is not None and bool(facts.iam_policy_arns) != cond.iam_beyond_defaults:
        return None
    if cond.iam_beyond_defaults:
        details.append(", ".join(facts.iam_policy_arns))
    if cond.ingress_outside_vpc is not None and bool(facts.ingress_outside_vpc) != cond.ingress_outside_vpc:
        return None
    if cond.ingress_outside_vpc:
        details.append(", ".join(facts.ingress_outside_vpc))
    if cond.ttl_expiry is not None and facts.ttl_expiry != cond.ttl_expiry:
        return None
    if cond.purges_data is not None and bool(facts.purged_buckets) != cond.purges_data:
        return None
    if cond.purges_data:
        details.append(", ".join(facts.purged_buckets))
    return "; ".join(details)


def _inside(cidr: str, vpc_cidr: str) -> bool:
    try:
        net, vpc = ipaddress.ip_network(cidr, strict=False), ipaddress.ip_network(vpc_cidr, strict=False)
    except ValueError:
        return False
    if isinstance(net, ipaddress.IPv4Network) and isinstance(vpc, ipaddress.IPv4Network):
        return net.subnet_of(vpc)
    if isinstance(net, ipaddress.IPv6Network) and isinstance(vpc, ipaddress.IPv6Network):
        return net.subnet_of(vpc)
    return False
