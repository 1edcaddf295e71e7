"""GitHub failing in the middle of a request: 5xx, lost responses, primary and secondary rate limits,
timeouts, and failures that outlast the forge's retries. Each request is the three-environment web
service (four repositories), run by the real workflow over HTTP; each ends succeeded with exactly one
branch, one LaunchPad commit and one PR per repository, and every step succeeded exactly once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.workflow.api import State
from tests.faults.support import GitHubWorld, build_world, router, web_spec
from tests.support.github_contents import ContentsGitHubServer
from tests.support.github_server import GitHubServer
from tests.workflow.support import ALICE

INFRA, VALUES, GITOPS, SERVICE = ("/repos/platform/infra-live", "/repos/platform/k8s-values", "/repos/platform/gitops",
                                  "/repos/search/ranking-web")


@pytest.fixture
def server() -> Iterator[GitHubServer]:
    with ContentsGitHubServer() as gh:  # it also refuses a PR whose head is merged, as GitHub does
        yield gh


@pytest.fixture
def world(tmp_path: Path, server: GitHubServer) -> Iterator[GitHubWorld]:
    built = build_world(tmp_path, server)
    try:
        yield built
    finally:
        built.services.close()


def run(world: GitHubWorld) -> tuple[int, object]:
    request = world.workflow.submit_create(web_spec(), ALICE)
    info = world.drive(request.id)
    return request.id, info


def test_without_faults(world: GitHubWorld) -> None:
    _, info = run(world)
    world.assert_delivered_exactly_once(info)  # type: ignore[arg-type]
    assert all(s.attempts == 1 for s in info.steps if s.kind == "open_pr")  # type: ignore[attr-defined]


def test_5xx_and_lost_responses_on_every_kind_of_write(world: GitHubWorld, server: GitHubServer) -> None:
    server.fail("POST", INFRA + "/git/trees$", status=502, times=2)
    server.fail("GET", INFRA + "/branches/", status=503)
    server.lose_response("POST", VALUES + "/git/refs$")  # the branch exists; the worker saw a 502
    server.lose_response("POST", VALUES + "/git/commits$")  # an orphan commit; never referenced
    server.lose_response("POST", GITOPS + "/pulls$")  # the PR exists; the worker saw a 502
    server.fail("GET", SERVICE + "/pulls$", status=500)
    server.lose_response("POST", SERVICE + r"/issues/\d+/labels$")
    _, info = run(world)
    world.assert_delivered_exactly_once(info)  # type: ignore[arg-type]
    assert all(f.times == 0 for f in server.faults)  # every fault was hit
    assert all(s.attempts == 1 for s in info.steps if s.kind == "open_pr")  # type: ignore[attr-defined]


def test_primary_and_secondary_rate_limits(world: GitHubWorld, server: GitHubServer) -> None:
    server.secondary_rate_limit("POST", INFRA + "/git/commits$", retry_after=0, times=2)
    server.secondary_rate_limit("POST", VALUES + "/git/trees$", retry_after=None, status=403)  # no Retry-After
    server.primary_rate_limit("GET", GITOPS + "/pulls$", reset_in=0, status=429)
    # a reset an hour away is beyond the wait cap: the step fails transiently and the engine retries it then
    server.primary_rate_limit("POST", SERVICE + "/pulls$", reset_in=3600)
    request_id, info = run(world)
    world.assert_delivered_exactly_once(info)  # type: ignore[arg-type]
    steps = {s.repo: s for s in info.steps if s.kind == "open_pr"}  # type: ignore[attr-defined]
    assert steps["service"].attempts == 2 and {s.attempts for r, s in steps.items() if r != "service"} == {1}
    assert any("rate limit" in e.detail for e in world.workflow.audit("ranking-web") if e.request_id == request_id)


def test_timeouts_including_ones_that_complete_after_the_client_gave_up(tmp_path: Path,
                                                                      server: GitHubServer) -> None:
    world = build_world(tmp_path, server, forges=router(server, timeout=1.0))
    try:
        server.slow("POST", INFRA + "/git/commits$", 1.6)  # the commit is made; the worker timed out first
        server.slow("POST", GITOPS + "/pulls$", 1.6)  # the PR is opened; the worker timed out first
        server.slow("GET", SERVICE + "/branches/", 1.6)
        _, info = run(world)
        world.assert_delivered_exactly_once(info)  # type: ignore[arg-type]
        assert all(f.hits == 1 for f in server.faults)
    finally:
        world.services.close()


def test_failures_outlasting_the_forge_retries_resume_from_the_partial_delivery(world: GitHubWorld,
                                                                               server: GitHubServer) -> None:
    server.fail("POST", VALUES + "/pulls$", status=502, times=4)  # 1 try + 3 retries: the step fails transiently
    request_id, info = run(world)
    world.assert_delivered_exactly_once(info)  # type: ignore[arg-type]
    steps = {s.repo: s for s in info.steps if s.kind == "open_pr"}  # type: ignore[attr-defined]
    assert steps["values"].attempts == 2 and {s.attempts for r, s in steps.items() if r != "values"} == {1}
    # the first attempt left a branch and a commit without a PR; the second reused them
    writes = [(c.method, c.path.rsplit("/", 1)[-1], c.status) for c in server.calls
              if c.path.startswith(VALUES) and c.method == "POST"]
    assert writes.count(("POST", "refs", 201)) == 1
    assert writes.count(("POST", "pulls", 502)) == 4 and writes.count(("POST", "pulls", 201)) == 1
    transient = [e for e in world.workflow.audit("ranking-web") if e.request_id == request_id
                 and e.step_id == steps["values"].id and e.to_state == State.PENDING and "attempt 1" in e.detail]
    assert len(transient) == 1
