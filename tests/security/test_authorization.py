"""The authorization matrix: who may do what, as one table, driven through the real workflow service and
the real IAM password module (boto3 against moto's server on 127.0.0.1).

Roles: the requester (a member of the service's team, who asked for its requests), a member of another
team, and an SRE who did not ask. The world every cell starts from is built once per module (a live
service, a failed request, a prod request waiting at its SRE gate) and copied for each cell, so a cell's
action cannot leak into another. A refused action must raise the refusal and change nothing.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from bot.aws.errors import ResetNotAllowed
from bot.aws.iam_password import ConsolePasswords, InMemoryResetLimiter, ResetRequest
from bot.services import Services
from bot.workflow.api import Actor, NotAllowed, NotFound, RequestInfo, State
from bot.workflow.service import WorkflowService
from bot.workflow.steps import forge_key
from provisioners.bulk import BulkChange, Selector
from provisioners.errors import PermanentError
from provisioners.forge.local import LocalForge
from provisioners.platform import PlatformConfig, Team
from tests.security.conftest import REGION
from tests.workflow.support import ALICE, MALLORY, SRE, CountingForge, build, drain, spec

ALLOWED, REFUSED = "allowed", "refused"
ROLES: dict[str, Actor] = {"requester": ALICE, "other team's member": MALLORY, "SRE": SRE}

# The matrix. One row per action, one column per role (in ROLES' order).
MATRIX: dict[str, tuple[str, str, str]] = {
    #  action                             requester  other team  SRE
    "new":                               (ALLOWED,  REFUSED,    ALLOWED),
    "retry":                             (ALLOWED,  REFUSED,    ALLOWED),
    "delete":                            (ALLOWED,  REFUSED,    ALLOWED),
    "approve":                           (REFUSED,  REFUSED,    ALLOWED),
    "deny":                              (REFUSED,  REFUSED,    ALLOWED),
    "bulk":                              (REFUSED,  REFUSED,    ALLOWED),
    "password reset for someone else":   (REFUSED,  REFUSED,    ALLOWED),
}
CELLS = [(action, role, outcome) for action, outcomes in MATRIX.items()
         for role, outcome in zip(ROLES, outcomes, strict=True)]

PLATFORM = PlatformConfig(teams={"search": Team(name="search", slack_group="S0SEARCH01"),
                                 "payments": Team(name="payments", slack_group="S0PAYMENT1")})
IAM_USERS = {ALICE.id: "sec-alice", MALLORY.id: "sec-mallory", SRE.id: "sec-sre"}
IAM_TARGETS = {actor.id: f"sec-bob-for-{name}" for name, actor in zip(("a", "m", "s"), (ALICE, MALLORY, SRE),
                                                                       strict=True)}
EMAIL = "{}@security.example"


@dataclass(frozen=True)
class World:
    root: Path
    failed: int  # request of ALICE's failed-api that failed at its first step
    gated: int  # ALICE's devel+prod request waiting at its SRE approval
    gate: int


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    root = tmp_path_factory.mktemp("authz-world")
    forge = CountingForge(LocalForge(root / "repos"))
    services = _services(root, forge)
    try:
        wf = services.workflow
        live = wf.submit_create(spec("live-api"), ALICE)
        failing = wf.submit_create(spec("failed-api"), ALICE)
        first = next(s for s in failing.steps if s.kind == "open_pr")
        assert first.repo is not None
        forge.fail[forge_key(failing.id, first.repo, 0)] = PermanentError("the forge refused (test)")
        gated = wf.submit_create(spec("gated-api", envs=["devel", "prod"]), ALICE)
        drain(services)
        assert wf.get_request(live.id).state == State.SUCCEEDED
        assert wf.get_request(failing.id).state == State.FAILED
        waiting = wf.get_request(gated.id)
        assert waiting.state == State.WAITING
        gate = next(s for s in waiting.steps if s.kind == "approval")
        return World(root=root, failed=failing.id, gated=gated.id, gate=gate.id)
    finally:
        services.close()


def _services(root: Path, forge: CountingForge | None = None) -> Services:
    return build(root, f"sqlite:///{root / 'launchpad.db'}", platform=PLATFORM, forge=forge,
                 auto_merge_local=True)


@pytest.fixture
def services(world: World, tmp_path: Path) -> Iterator[Services]:
    root = tmp_path / "world"
    shutil.copytree(world.root, root)
    built = _services(root)
    try:
        yield built
    finally:
        built.close()


@pytest.fixture(scope="module")
def passwords(moto_url: str) -> ConsolePasswords:
    iam = boto3.client("iam", region_name=REGION, endpoint_url=moto_url, aws_access_key_id="testing",
                       aws_secret_access_key="testing")
    for name in [*IAM_USERS.values(), *IAM_TARGETS.values()]:
        iam.create_user(UserName=name, Tags=[{"Key": "email", "Value": EMAIL.format(name)}])
    return ConsolePasswords(iam, user_map={}, email_tag="email", limiter=InMemoryResetLimiter(1000))


def snapshot(wf: WorkflowService) -> Any:
    """What any action would change: every request's state and step states, and the audit trail."""
    requests = [(r.id, r.state, [(s.id, s.state, s.decided_by) for s in r.steps]) for r in wf.list_requests(limit=100)]
    audit = [len([e for e in wf.audit(name) if not e.action.endswith(".refused")])
             for name in ("live-api", "failed-api", "gated-api")]
    return requests, audit


def refusals(wf: WorkflowService) -> list[Any]:
    names = ("live-api", "failed-api", "gated-api", "fresh-api", "bulk")
    found = []
    for name in names:
        with contextlib.suppress(NotFound):
            found += [(e.actor, e.action) for e in wf.audit(name) if e.action.endswith(".refused")]
    return found


def act(action: str, actor: Actor, wf: WorkflowService, world: World, request: pytest.FixtureRequest) -> Any:
    if action == "new":
        return wf.submit_create(spec("fresh-api"), actor)
    if action == "retry":
        return wf.retry(world.failed, actor)
    if action == "delete":
        return wf.submit_delete("live-api", None, actor)
    if action in ("approve", "deny"):
        return wf.decide(world.gated, world.gate, actor, action == "approve", "reviewed in the authz matrix")
    if action == "bulk":
        return wf.submit_bulk(Selector(services=["live-api"]),
                              BulkChange(kind="module_version", target="ecr", value="3.3.0"), actor)
    if action == "password reset for someone else":
        passwords: ConsolePasswords = request.getfixturevalue("passwords")
        own = IAM_USERS[actor.id]
        return passwords.reset(ResetRequest(actor=actor.id, actor_email=EMAIL.format(own), actor_is_sre=actor.is_sre,
                                            target=EMAIL.format(IAM_TARGETS[actor.id])))
    raise AssertionError(f"no driver for {action!r}")


def has_console_password(request: pytest.FixtureRequest, actor: Actor) -> bool:
    passwords: ConsolePasswords = request.getfixturevalue("passwords")
    try:
        passwords.iam.get_login_profile(UserName=IAM_TARGETS[actor.id])
    except passwords.iam.exceptions.NoSuchEntityException:
        return False
    return True


def check_allowed(action: str, actor: Actor, result: Any, request: pytest.FixtureRequest) -> None:
    if action == "password reset for someone else":
        assert result.user.name == IAM_TARGETS[actor.id] and not result.for_self and len(result.password) >= 14
        assert has_console_password(request, actor)
        return
    assert isinstance(result, RequestInfo)
    expected = {"new": State.PENDING, "retry": State.PENDING, "delete": State.PENDING, "approve": State.RUNNING,
                "deny": State.FAILED, "bulk": State.PENDING}[action]
    assert result.state == expected
    if action in ("delete", "bulk"):
        assert result.kind == action


@pytest.mark.parametrize(("action", "role", "outcome"), CELLS, ids=[f"{a}-{r}" for a, r, _ in CELLS])
def test_authorization_matrix(action: str, role: str, outcome: str, services: Services, world: World,
                              request: pytest.FixtureRequest) -> None:
    actor = ROLES[role]
    wf = services.workflow
    before = snapshot(wf)
    if outcome == ALLOWED:
        check_allowed(action, actor, act(action, actor, wf, world, request), request)
        return
    refused_before = refusals(wf)
    with pytest.raises((NotAllowed, ResetNotAllowed)) as refused:
        act(action, actor, wf, world, request)
    assert str(refused.value)  # a refusal says who may (the message is the user's next step)
    assert snapshot(wf) == before
    if action != "password reset for someone else":  # the refusal itself is audited (issue 12, item 17)
        new = refusals(wf)
        for seen in refused_before:
            new.remove(seen)
        assert len(new) == 1 and new[0][0] == actor.id, new
    if action == "password reset for someone else":
        assert not has_console_password(request, actor)


def test_the_matrix_covers_every_role_and_action_once() -> None:
    assert len(CELLS) == len(MATRIX) * len(ROLES) == 21
    assert all(len(outcomes) == len(ROLES) for outcomes in MATRIX.values())
