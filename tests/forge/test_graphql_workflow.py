"""The GraphQL forge under the real workflow: a three-environment web service (four repositories) with
GitHub failing mid-request, and the call budget of the whole request against the naive baseline.

The same worlds as tests/faults (real workflow on SQLite, real PyGithub over HTTP to the local GitHub
server, people played by the test), with the forge router in GraphQL mode and faults aimed at GraphQL
operations and repositories. Each request ends succeeded with one branch, one LaunchPad commit and one
PR per repository, and every step succeeded exactly once (or, where a failure outlasts the forge's
retries, the failed step alone ran again and finished the partial delivery)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench import delivery
from bench.delivery import PIPELINE_READS
from provisioners.forge.credentials import TokenCredential
from provisioners.forge.router import ForgeRouter
from tests.faults.support import FAST, TOKENS, GitHubWorld, build_world, web_spec
from tests.support.github_contents import ContentsGitHubServer
from tests.support.github_server import GitHubServer
from tests.workflow.support import ALICE

INFRA, VALUES, GITOPS, SERVICE = "platform/infra-live", "platform/k8s-values", "platform/gitops", "search/ranking-web"
QUERY, DELIVER = "LaunchPadChange", "LaunchPadDeliver"


def graphql_router(server: GitHubServer, *, timeout: float = 2.0) -> ForgeRouter:
    return ForgeRouter({env: TokenCredential(token) for env, token in TOKENS.items()}, api_url=server.api_url,
                       policy=FAST, writes_per_minute=60_000, writes_per_hour=600_000, timeout=timeout,
                       rng=random.Random(3), api="graphql")


@pytest.fixture
def server() -> Iterator[GitHubServer]:
    with ContentsGitHubServer() as gh:
        yield gh


def world_of(tmp_path: Path, server: GitHubServer, *, timeout: float = 2.0) -> GitHubWorld:
    return build_world(tmp_path, server, forges=graphql_router(server, timeout=timeout))


def run(world: GitHubWorld) -> tuple[int, object]:
    request = world.workflow.submit_create(web_spec(), ALICE)
    return request.id, world.drive(request.id)


def test_opening_costs_three_calls_per_repository_and_each_merge_check_one(tmp_path: Path,
                                                                           server: GitHubServer) -> None:
    world = world_of(tmp_path, server)
    try:
        _, info = run(world)
        world.assert_delivered_exactly_once(info)  # type: ignore[arg-type]
    finally:
        world.services.close()
    for repo in (INFRA, VALUES, GITOPS, SERVICE):
        calls = [(c.path.rsplit("/", 1)[-1], c.operation) for c in server.calls_matching(repo=repo)
                 if not PIPELINE_READS.search(c.path)]  # following the infra pipeline: tests/infra, bench/pipeline.py
        assert calls[:3] == [("graphql", QUERY), ("graphql", DELIVER), ("labels", "")], repo
        # then the wait-for-merge checks: one query each (this world's reviewer merges between worker passes,
        # so a check may come round before the merge; the delivery benchmark's merges at once: 4 calls in all)
        assert calls[3:] and set(calls[3:]) == {("graphql", "LaunchPadPull")}, repo
        assert len([c for c in server.calls_matching(repo=repo) if c.is_write]) == 2


def test_5xx_lost_responses_and_rate_limits_mid_request(tmp_path: Path, server: GitHubServer) -> None:
    server.fail("POST", "/graphql", 502, times=2, operation=f"{QUERY}.*{INFRA}")
    server.lose_response("POST", "/graphql", operation=f"{DELIVER}.*{VALUES}")  # all made; the worker saw a 502
    server.graphql_rate_limit(f"{DELIVER}.*{GITOPS}", reset_in=0)  # 200 + RATE_LIMITED
    server.secondary_rate_limit("POST", "/graphql", retry_after=0, operation=f"{QUERY}.*{SERVICE}")
    server.lose_response("POST", r"/repos/search/ranking-web/issues/\d+/labels$")
    world = world_of(tmp_path, server)
    try:
        _, info = run(world)
        world.assert_delivered_exactly_once(info)  # type: ignore[arg-type]
        assert all(f.times == 0 for f in server.faults)  # every fault was hit
        assert all(s.attempts == 1 for s in info.steps if s.kind == "open_pr")  # type: ignore[attr-defined]
    finally:
        world.services.close()


def test_a_mutation_answered_after_the_worker_gave_up(tmp_path: Path, server: GitHubServer) -> None:
    server.slow("POST", "/graphql", 1.6, operation=f"{DELIVER}.*{GITOPS}")  # processed after the 1 s timeout
    world = world_of(tmp_path, server, timeout=1.0)
    try:
        _, info = run(world)
        world.assert_delivered_exactly_once(info)  # type: ignore[arg-type]
    finally:
        world.services.close()


def test_failures_outlasting_the_forge_retries_resume_from_the_partial_delivery(tmp_path: Path,
                                                                               server: GitHubServer) -> None:
    # the mutation is processed and its answer lost, then the next three reads fail: 4 failures > 3 retries,
    # so the step fails transiently with branch, commit and PR made; the engine's retry finds them all
    server.lose_response("POST", "/graphql", operation=f"{DELIVER}.*{VALUES}")
    server.fail("POST", "/graphql", 502, times=3, skip=1, operation=f"{QUERY}.*{VALUES}")
    world = world_of(tmp_path, server)
    try:
        _, info = run(world)
        world.assert_delivered_exactly_once(info)  # type: ignore[arg-type]
        assert all(f.times == 0 for f in server.faults)
        steps = {s.repo: s for s in info.steps if s.kind == "open_pr"}  # type: ignore[attr-defined]
        assert steps["values"].attempts == 2 and {s.attempts for r, s in steps.items() if r != "values"} == {1}
        assert len(server.calls_matching(repo=VALUES, operation=DELIVER)) == 1  # made once, never again
    finally:
        world.services.close()


def test_the_request_costs_at_most_a_quarter_of_the_naive_baseline() -> None:
    """Issue 6, acceptance 2 (calls): the delivery benchmark's two sides, no latency, no pacing."""
    ours = delivery.launchpad(0.0, paced=False, api="graphql")
    rest = delivery.launchpad(0.0, paced=False, api="rest")
    theirs = delivery.naive(0.0, throttled=False)
    assert ours.pulls == rest.pulls == theirs.pulls == 4 and ours.files == theirs.files == 48
    assert ours.calls <= theirs.calls / 4 and ours.calls <= 4 * ours.pulls
    assert rest.calls <= 8 * rest.pulls
