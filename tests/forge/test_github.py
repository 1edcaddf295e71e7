"""GitHubForge over real HTTP against the local GitHub server, in both API modes (GraphQL and REST): call
budget, faults, credentials, secrets."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from provisioners.changeset import ChangeSet
from provisioners.errors import ConflictError, PermanentError, TransientError
from provisioners.forge.base import ChangeState
from provisioners.forge.credentials import AppCredential, TokenCredential, make_credential
from provisioners.forge.github import GitHubForge
from provisioners.forge.graphql import PATHS_PER_QUERY
from provisioners.forge.retry import RetryPolicy, WritePacer
from provisioners.forge.router import ForgeRouter, StaticForgeRouter
from tests.forge.conftest import FakeClock, github_forge
from tests.support.github_server import Fault, GitHubServer

REPO = "acme/infra"
ENVS = ["devel", "alpha", "prod"]
BOTH = pytest.mark.parametrize("api", ["graphql", "rest"])


def web_service(files_per_env: int, envs: list[str] | None = None) -> ChangeSet:
    envs = envs or ENVS
    files = {f"{env}/ranking/part{i}/terragrunt.hcl": f'env = "{env}"\npart = {i}\n'
             for env in envs for i in range(files_per_env)}
    return ChangeSet(repo="infra", files=files, environments=envs, title="Add ranking")


def open_(forge: GitHubForge, cs: ChangeSet, key: str = "req-7/infra", repo: str = REPO):  # type: ignore[no-untyped-def]
    return forge.open_change(repo, key, cs, title="Add ranking", body="devel, alpha, prod", labels=["launchpad"])


def assert_exactly_one(server: GitHubServer, key: str = "req-7/infra", repo: str = REPO) -> None:
    branches = [b for b in server.branches(repo) if b.startswith("launchpad/")]
    assert branches == [f"launchpad/{key}"]
    assert server.commits_ahead(repo, f"launchpad/{key}") == 1
    pulls = server.pulls(repo)
    assert len(pulls) == 1 and pulls[0].state == "open" and pulls[0].labels == ["launchpad"]
    assert pulls[0].head_sha == server.tip(repo, f"launchpad/{key}")


@pytest.fixture
def server(github_server: GitHubServer) -> GitHubServer:
    github_server.seed_repo(REPO, {"root.hcl": "remote_state {}\n"})
    return github_server


# --- acceptance 2: call budget ------------------------------------------------------------------


def test_graphql_new_change_costs_three_calls_whatever_the_file_count(server: GitHubServer, clock: FakeClock) -> None:
    server.seed_repo("acme/small", {"root.hcl": "x\n"})
    server.seed_repo("acme/large", {"root.hcl": "x\n"})
    forge = github_forge(server, clock, api="graphql")
    open_(forge, web_service(2), repo="acme/small")  # 6 files
    open_(forge, web_service(20), repo="acme/large")  # 60 files
    small, large = server.calls_matching(repo="acme/small"), server.calls_matching(repo="acme/large")
    shape = [(c.method, c.path.replace("small", "large"), c.operation, c.fields) for c in small]
    assert shape == [(c.method, c.path, c.operation, c.fields) for c in large]
    assert shape == [("POST", "/graphql", "LaunchPadChange", ("repository",)),
                     ("POST", "/graphql", "LaunchPadDeliver",
                      ("createRef", "createCommitOnBranch", "createPullRequest")),
                     ("POST", "/repos/acme/large/issues/1/labels", "", ())]
    assert len(large) <= 4  # the budget per repository to open a new change
    assert server.file("acme/large", "prod/ranking/part19/terragrunt.hcl", "launchpad/req-7/infra") == \
        'env = "prod"\npart = 19\n'
    server.reset_calls()
    change = forge.get_change("acme/large", "req-7/infra")  # the workflow's wait-for-merge check
    assert change is not None and change.state == ChangeState.OPEN and len(server.calls) == 1


def test_rest_new_change_costs_seven_calls_whatever_the_file_count(server: GitHubServer, clock: FakeClock) -> None:
    server.seed_repo("acme/small", {"root.hcl": "x\n"})
    server.seed_repo("acme/large", {"root.hcl": "x\n"})
    forge = github_forge(server, clock, api="rest")
    open_(forge, web_service(2), repo="acme/small")
    small = server.calls_matching(path="/repos/acme/small")
    open_(forge, web_service(20), repo="acme/large")
    large = server.calls_matching(path="/repos/acme/large")
    assert len(small) == len(large) == 7
    assert [(c.method, c.path.replace("small", "large")) for c in small] == [(c.method, c.path) for c in large]
    assert [c.method for c in large].count("GET") == 2  # find the PR, read the base branch
    assert server.file("acme/large", "prod/ranking/part19/terragrunt.hcl", "launchpad/req-7/infra") == \
        'env = "prod"\npart = 19\n'


@pytest.mark.parametrize(("api", "reads"), [("graphql", 1), ("rest", 3)])
def test_repeat_costs_reads_only(server: GitHubServer, clock: FakeClock, api: str, reads: int) -> None:
    forge = github_forge(server, clock, api=api)
    open_(forge, web_service(20))
    server.reset_calls()
    again = open_(forge, web_service(20))
    assert not again.wrote
    assert len(server.calls) == reads and not [c for c in server.calls if c.is_write]


def test_graphql_base_moved_costs_four_calls(server: GitHubServer, clock: FakeClock) -> None:
    forge = github_forge(server, clock, api="graphql")
    first = open_(forge, web_service(2))
    moved = server.commit(REPO, {"root.hcl": "remote_state { bucket = \"b\" }\n"})
    server.reset_calls()
    again = open_(forge, web_service(2))
    assert again.wrote and again.number == first.number and server.objects.read_commit(again.head_sha)["parents"] \
        == [moved]
    assert [(c.path.rsplit("/", 1)[-1], c.operation) for c in server.calls] == [
        ("graphql", "LaunchPadChange"), ("trees", ""), ("commits", ""), ("graphql", "LaunchPadDeliver")]
    assert server.calls[-1].fields == ("updateRef",)
    assert_exactly_one(server)


def test_graphql_sends_change_sets_too_large_for_one_query_over_rest(server: GitHubServer, clock: FakeClock) -> None:
    """Bulk changes: past one query's blob lookups the call count must not grow with the files, so REST."""
    forge = github_forge(server, clock, api="graphql")
    counts = []
    for files_per_env, key in ((PATHS_PER_QUERY // 3 + 10, "req-7/infra"), (PATHS_PER_QUERY, "req-8/infra")):
        cs = web_service(files_per_env)
        assert len(cs.paths) > PATHS_PER_QUERY
        before = len(server.calls)
        assert open_(forge, cs, key=key).wrote
        made = server.calls[before:]
        assert not [c for c in made if c.path == "/graphql"]
        counts.append(len(made))
        last = sorted(cs.files)[-1]
        server.commit(REPO, {last: "theirs\n"})  # conflicts are still found on the REST path
        with pytest.raises(ConflictError) as err:
            open_(forge, cs, key=key)
        assert err.value.paths == [last]
        server.commit(REPO, {last: cs.files[last]})
    assert counts[0] == counts[1] <= 8


# --- acceptance 3: faults ---------------------------------------------------------------------------

REST_FAULTS = {
    "500 on tree": lambda s: s.fail("POST", r"/git/trees$", 500, times=2),
    "502 on pulls": lambda s: s.fail("POST", r"/pulls$", 502),
    "500 on the first lookup": lambda s: s.fail("GET", r"/pulls$", 500),
    "ref created, response lost": lambda s: s.lose_response("POST", r"/git/refs$"),
    "pull opened, response lost": lambda s: s.lose_response("POST", r"/pulls$"),
    "labels added, response lost": lambda s: s.lose_response("POST", r"/labels$"),
    "primary rate limit (403)": lambda s: s.primary_rate_limit("POST", r"/git/commits$", reset_in=30),
    "primary rate limit (429)": lambda s: s.primary_rate_limit("GET", r"/branches/", reset_in=30, status=429),
    "secondary 429 with Retry-After": lambda s: s.secondary_rate_limit("POST", r"/pulls$", retry_after=7),
    "secondary 403 without Retry-After": lambda s: s.secondary_rate_limit("POST", r"/git/refs$", retry_after=None,
                                                                          status=403),
    "primary 403 by message, remaining above zero": lambda s: s.add_fault(Fault(
        "POST", r"/git/trees$", status=403, message="API rate limit exceeded for installation ID 1.",
        headers={"x-ratelimit-remaining": "12", "x-ratelimit-reset": str(int(time.time()) + 30)})),
}
QUERY, DELIVER = "LaunchPadChange", "LaunchPadDeliver"
GRAPHQL_FAULTS = {
    "500 on the query": lambda s: s.fail("POST", "/graphql", 500, times=2, operation=QUERY),
    "502 on the mutation": lambda s: s.fail("POST", "/graphql", 502, operation=DELIVER),
    "branch, commit and pull made, response lost": lambda s: s.lose_response("POST", "/graphql", operation=DELIVER),
    "labels added, response lost": lambda s: s.lose_response("POST", r"/labels$"),
    "rate limit (200 RATE_LIMITED) on the mutation": lambda s: s.graphql_rate_limit(DELIVER, reset_in=30),
    "rate limit (200 RATE_LIMITED) on the query": lambda s: s.graphql_rate_limit(QUERY, reset_in=30),
    "primary rate limit (403)": lambda s: s.primary_rate_limit("POST", "/graphql", reset_in=30, operation=DELIVER),
    "primary rate limit (429)": lambda s: s.primary_rate_limit("POST", "/graphql", reset_in=30, status=429,
                                                               operation=QUERY),
    "secondary 429 with Retry-After": lambda s: s.secondary_rate_limit("POST", "/graphql", retry_after=7,
                                                                       operation=DELIVER),
    "secondary 403 without Retry-After": lambda s: s.secondary_rate_limit("POST", "/graphql", retry_after=None,
                                                                          status=403, operation=DELIVER),
    # issue 12 item 13: every documented GraphQL rate-limit shape is transient
    "primary 200 RATE_LIMIT / graphql_rate_limit": lambda s: s.graphql_primary_rate_limit(QUERY, shape="RATE_LIMIT"),
    "primary 200 message only, remaining above zero": lambda s: s.graphql_primary_rate_limit(
        DELIVER, shape="message", exhausted=False),
    "secondary 200 message only": lambda s: s.graphql_secondary_rate_limit(DELIVER),
    "secondary 200 with Retry-After": lambda s: s.graphql_secondary_rate_limit(QUERY, retry_after=7),
    "secondary 403 with a GraphQL body": lambda s: s.graphql_secondary_rate_limit(DELIVER, status=403),
}
FAULTS = [("rest", name) for name in REST_FAULTS] + [("graphql", name) for name in GRAPHQL_FAULTS]


@pytest.mark.parametrize(("api", "fault"), FAULTS)
def test_one_branch_one_commit_one_pull_under_faults(server: GitHubServer, clock: FakeClock, api: str,
                                                     fault: str) -> None:
    injected = (REST_FAULTS if api == "rest" else GRAPHQL_FAULTS)[fault](server)
    change = open_(github_forge(server, clock, api=api), web_service(2))
    assert injected.hits >= 1
    assert change.state == ChangeState.OPEN and change.wrote
    assert_exactly_one(server)
    assert max(clock.sleeps, default=0) <= 300


@pytest.mark.parametrize(("api", "inject"), [
    ("rest", lambda s: s.primary_rate_limit("POST", r"/git/commits$", reset_in=30)),
    ("graphql", lambda s: s.graphql_rate_limit(DELIVER, reset_in=30)),
])
def test_rate_limit_waits_for_the_reset(server: GitHubServer, clock: FakeClock, api: str, inject: Any) -> None:
    inject(server)
    open_(github_forge(server, clock, api=api), web_service(1))
    assert any(25 <= s <= 40 for s in clock.sleeps)


@pytest.mark.parametrize(("api", "path", "first", "second"), [
    ("rest", "", r"/pulls$", r"/git/refs$"),
    ("graphql", "/graphql", QUERY, DELIVER),
])
def test_secondary_limit_honours_retry_after_else_waits_a_minute_then_longer(
        server: GitHubServer, clock: FakeClock, api: str, path: str, first: str, second: str) -> None:
    if api == "rest":
        server.secondary_rate_limit("POST", first, retry_after=7)
        server.secondary_rate_limit("POST", second, retry_after=None, status=403, times=2)
        expected = [60, 120, 7]
    else:
        server.secondary_rate_limit("POST", path, retry_after=7, operation=first)
        server.secondary_rate_limit("POST", path, retry_after=None, status=403, times=2, operation=second)
        expected = [7, 120, 240]  # one delivery round (query + mutation) is retried as a unit: waits escalate in it
    open_(github_forge(server, clock, api=api, pacer=WritePacer(per_minute=10**6, per_hour=10**6)), web_service(1))
    assert clock.sleeps == expected


GRAPHQL_LIMIT_SHAPES = {  # shape -> (inject, waits for the documented time before each retry)
    "RATE_LIMITED": (lambda s: s.graphql_rate_limit(DELIVER, reset_in=30, times=9), "reset"),
    "RATE_LIMIT graphql_rate_limit": (lambda s: s.graphql_primary_rate_limit(DELIVER, times=9), "reset"),
    "primary by message": (lambda s: s.graphql_primary_rate_limit(DELIVER, shape="message", exhausted=False,
                                                                  times=9), "reset"),
    "secondary 200": (lambda s: s.graphql_secondary_rate_limit(DELIVER, times=9), "escalating"),
    "secondary 200 Retry-After": (lambda s: s.graphql_secondary_rate_limit(DELIVER, retry_after=7, times=9), "7"),
    "secondary 403": (lambda s: s.graphql_secondary_rate_limit(DELIVER, status=403, times=9), "escalating"),
    "secondary 403 Retry-After": (lambda s: s.graphql_secondary_rate_limit(DELIVER, status=403, retry_after=7,
                                                                           times=9), "7"),
}


@pytest.mark.parametrize("shape", GRAPHQL_LIMIT_SHAPES)
def test_every_graphql_rate_limit_shape_waits_as_documented_and_stays_transient(
        server: GitHubServer, clock: FakeClock, shape: str) -> None:
    inject, waits = GRAPHQL_LIMIT_SHAPES[shape]
    inject(server)
    forge = github_forge(server, clock, api="graphql", policy=RetryPolicy(max_retries=3, wait_cap=1000),
                         pacer=WritePacer(per_minute=10**6, per_hour=10**6))
    with pytest.raises(TransientError) as err:  # never permanent, however long it lasts
        open_(forge, web_service(1))
    assert err.value.retry_at is not None and "rate limit" in str(err.value)
    if waits == "reset":
        assert len(clock.sleeps) == 3 and 25 <= clock.sleeps[0] <= 40  # until x-ratelimit-reset (then 1 s more)
        assert 25 <= sum(clock.sleeps) <= 45
    elif waits == "escalating":
        assert clock.sleeps == [60, 120, 240]
    else:
        assert clock.sleeps == [7, 7, 7]
    server.faults.clear()
    assert open_(forge, web_service(1)).state == ChangeState.OPEN  # and the next attempt goes through


def test_rate_limit_shapes_are_told_apart_from_other_errors() -> None:
    from provisioners.forge.graphql import rate_limit
    from provisioners.forge.retry import rate_limit_kind

    assert rate_limit([{"type": "RATE_LIMITED", "message": "API rate limit exceeded for user ID 1."}]) == "primary"
    assert rate_limit([{"type": "RATE_LIMIT", "code": "graphql_rate_limit", "message": "x"}]) == "primary"
    assert rate_limit([{"message": "You have exceeded a secondary rate limit. Please wait..."}]) == "secondary"
    assert rate_limit([{"type": "NOT_FOUND", "message": "Could not resolve to a Repository"}]) is None
    assert rate_limit([{"type": "FORBIDDEN", "message": "Resource not accessible by integration"}]) is None
    assert rate_limit_kind(403, {"x-ratelimit-remaining": "0"}, "") == "primary"
    assert rate_limit_kind(403, {"x-ratelimit-remaining": "9"}, "API rate limit exceeded for user") == "primary"
    assert rate_limit_kind(403, {"retry-after": "7", "x-ratelimit-remaining": "0"}, "") == "secondary"
    assert rate_limit_kind(429, {"x-ratelimit-remaining": "9"}, "") == "secondary"
    assert rate_limit_kind(403, {"x-ratelimit-remaining": "9"}, "Resource not accessible by integration") is None
    assert rate_limit_kind(422, {"retry-after": "7"}, "secondary rate limit") is None


@pytest.mark.parametrize(("api", "inject"), [
    ("rest", lambda s: s.primary_rate_limit(None, r"/pulls$", reset_in=3600)),
    ("graphql", lambda s: s.graphql_rate_limit(QUERY, reset_in=3600)),
])
def test_rate_limit_beyond_the_cap_is_transient_with_retry_at(server: GitHubServer, clock: FakeClock, api: str,
                                                              inject: Any) -> None:
    inject(server)
    forge = github_forge(server, clock, api=api, policy=RetryPolicy(wait_cap=300))
    with pytest.raises(TransientError) as err:
        open_(forge, web_service(1))
    assert err.value.retry_at is not None
    assert 3500 < (err.value.retry_at - datetime.now(UTC)).total_seconds() < 3700
    assert clock.sleeps == []


@pytest.mark.parametrize(("api", "method", "path", "operation"), [
    ("rest", "POST", r"/git/trees$", None), ("graphql", "POST", "/graphql", DELIVER)])
def test_persistent_5xx_is_transient_after_backing_off(server: GitHubServer, clock: FakeClock, api: str, method: str,
                                                       path: str, operation: str | None) -> None:
    server.fail(method, path, 503, times=100, operation=operation)
    forge = github_forge(server, clock, api=api, policy=RetryPolicy(max_retries=3, backoff_base=2, backoff_max=60),
                         pacer=WritePacer(per_minute=10**6, per_hour=10**6))
    with pytest.raises(TransientError, match="failed 4 times"):
        open_(forge, web_service(1))
    assert len(clock.sleeps) == 3
    for n, slept in enumerate(clock.sleeps):
        assert 2 * 2**n * 0.5 <= slept <= 2 * 2**n * 1.5  # exponential with jitter
    assert len(server.calls_matching(method, path, operation=operation)) == 4


def test_fault_between_branch_and_pull_then_rerun_finishes_without_duplicates(server: GitHubServer,
                                                                               clock: FakeClock) -> None:
    server.fail("POST", r"/pulls$", 502, times=5)
    forge = github_forge(server, clock, policy=RetryPolicy(max_retries=4))
    with pytest.raises(TransientError):
        open_(forge, web_service(2))
    assert server.pulls(REPO) == [] and "launchpad/req-7/infra" in server.branches(REPO)
    first_head = server.tip(REPO, "launchpad/req-7/infra")
    change = open_(forge, web_service(2))
    assert change.wrote and change.head_sha == first_head
    assert_exactly_one(server)


@pytest.mark.parametrize("base_moved", [False, True])
def test_graphql_branch_created_but_commit_not_then_rerun_finishes(server: GitHubServer, clock: FakeClock,
                                                                    base_moved: bool) -> None:
    """createRef ran, createCommitOnBranch did not (the mutation failed half way): the branch sits on the
    base (or, once the base moved, on an older base commit) and carries nothing of its own."""
    base = server.tip(REPO)
    server.repos[REPO].refs["refs/heads/launchpad/req-7/infra"] = base
    if base_moved:
        server.commit(REPO, {"root.hcl": "moved\n"})
    change = open_(github_forge(server, clock, api="graphql"), web_service(2))
    assert change.wrote and change.state == ChangeState.OPEN
    assert server.objects.read_commit(change.head_sha)["parents"] == [server.tip(REPO)]
    assert_exactly_one(server)


def test_graphql_mutation_lost_every_time_then_rerun_finishes(server: GitHubServer, clock: FakeClock) -> None:
    server.lose_response("POST", "/graphql", times=10, operation=DELIVER)
    forge = github_forge(server, clock, api="graphql", policy=RetryPolicy(max_retries=0))
    with pytest.raises(TransientError):
        open_(forge, web_service(2))
    assert len(server.pulls(REPO)) == 1  # it happened; the worker never heard
    server.faults.clear()
    again = open_(forge, web_service(2))
    assert again.state == ChangeState.OPEN and [c.operation for c in server.calls[-2:]] == [QUERY, ""]
    assert_exactly_one(server)


@pytest.mark.parametrize(("api", "slow"), [
    ("rest", [("POST", r"/pulls$", None), ("POST", r"/git/refs$", None)]),
    ("graphql", [("POST", "/graphql", DELIVER)]),
])
def test_slow_responses_time_out_and_are_retried_without_duplicates(server: GitHubServer, clock: FakeClock, api: str,
                                                                    slow: list[tuple[str, str, str | None]]) -> None:
    for method, path, operation in slow:
        server.slow(method, path, seconds=1.6, operation=operation)  # processed after the client gave up
    change = open_(github_forge(server, clock, api=api, timeout=1), web_service(2))
    assert change.state == ChangeState.OPEN
    time.sleep(0.8)  # let the late one land: it must find its work done and change nothing
    assert_exactly_one(server)


@pytest.mark.parametrize(("api", "per_minute", "waited"), [
    ("rest", 6, 30),  # 5 writes (tree, commit, ref, pull, labels); bucket of 2, refills 1 per 10 s
    ("graphql", 6, 0),  # 2 writes (the mutation, labels)
    ("graphql", 3, 20),  # bucket of 1, refills 1 per 20 s
])
def test_writes_are_paced_per_credential(server: GitHubServer, clock: FakeClock, api: str, per_minute: int,
                                         waited: float) -> None:
    pacer = WritePacer(per_minute=per_minute, per_hour=1000, clock=clock, sleep=clock.sleep)
    forge = github_forge(server, clock, pacer=pacer, api=api)
    open_(forge, web_service(1))
    assert pacer.waited == pytest.approx(waited, abs=0.01) and sum(clock.sleeps) == pytest.approx(waited, abs=0.01)


def test_the_default_pacing_lets_one_request_through_unpaced(server: GitHubServer, clock: FakeClock) -> None:
    """A three-environment web service writes to 4 repositories: 20 writes over REST, 8 over GraphQL."""
    for api in ("rest", "graphql"):
        pacer = WritePacer(clock=clock, sleep=clock.sleep)
        forge = github_forge(server, clock, pacer=pacer, api=api)
        for n in range(4):
            open_(forge, web_service(1), key=f"req-{api}-{n}/infra")
        assert pacer.waited == 0


@BOTH
def test_quota_is_read_from_the_last_response(server: GitHubServer, clock: FakeClock, api: str) -> None:
    forge = github_forge(server, clock, api=api)
    assert forge.quota().remaining == -1
    open_(forge, web_service(1))
    quota = forge.quota()
    rest_calls = [c for c in server.calls if c.path != "/graphql"]  # the last call is REST in both modes (labels)
    assert quota.limit == 5000 and quota.remaining == 5000 - len(rest_calls) and quota.reset_at is not None


@BOTH
def test_bad_repository_name_and_missing_base(server: GitHubServer, clock: FakeClock, api: str) -> None:
    forge = github_forge(server, clock, api=api)
    with pytest.raises(PermanentError, match="owner/name"):
        forge.get_change("infra", "k")
    with pytest.raises(PermanentError, match="owner/name"):
        forge.open_change("infra", "k", web_service(1), title="t", body="b")
    with pytest.raises(PermanentError, match="base branch 'develop'"):
        forge.open_change(REPO, "k", web_service(1), title="t", body="b", base_branch="develop")
    with pytest.raises(PermanentError, match="not found"):
        forge.get_change("acme/nope", "k")
    with pytest.raises(PermanentError, match="not found"):
        forge.open_change("acme/nope", "k", web_service(1), title="t", body="b")


@BOTH
def test_merge_change_merges_on_the_server(server: GitHubServer, clock: FakeClock, api: str) -> None:
    forge = github_forge(server, clock, api=api)
    opened = open_(forge, web_service(1))
    merged = forge.merge_change(REPO, "req-7/infra")
    assert merged.state == ChangeState.MERGED and merged.merge_sha == server.tip(REPO)
    assert merged.number == opened.number and forge.merge_change(REPO, "req-7/infra").wrote is False


def test_graphql_endpoint_for_github_com_and_enterprise(server: GitHubServer, clock: FakeClock) -> None:
    """github.com: https://api.github.com -> /graphql; GitHub Enterprise: https://HOST/api/v3 -> /api/graphql."""
    for n, api_url in enumerate([server.url, server.url + "/api/v3"]):
        forge = GitHubForge(TokenCredential("ghp_endpoints00000000000000"), api_url=api_url, api="graphql",
                            sleep=clock.sleep, clock=clock)
        change = open_(forge, web_service(1), key=f"req-{n}/infra")
        assert forge.get_change(REPO, f"req-{n}/infra") == change.model_copy(update={"wrote": False})
    assert len(server.calls_matching("POST", "/graphql")) == 6


def test_api_mode_is_checked(server: GitHubServer) -> None:
    with pytest.raises(ValueError, match="graphql, rest"):
        GitHubForge(TokenCredential("ghp_endpoints00000000000000"), api_url=server.api_url, api="soap")
    with pytest.raises(ValueError, match="graphql, rest"):
        ForgeRouter({"default": TokenCredential("ghp_endpoints00000000000000")}, api="soap")


# --- acceptance 4: per-environment credentials ----------------------------------------------------

TOKENS = {"devel": "ghp_devel000000000000000000", "alpha": "ghp_alpha000000000000000000",
          "prod": "ghp_prod0000000000000000000", "default": "ghp_default00000000000000000"}


def router(server: GitHubServer, clock: FakeClock, api: str = "rest", **credentials: object) -> ForgeRouter:
    creds = credentials or {env: TokenCredential(token) for env, token in TOKENS.items()}
    return ForgeRouter(creds, api_url=server.api_url, sleep=clock.sleep, clock=clock, api=api)  # type: ignore[arg-type]


@BOTH
def test_a_devel_request_uses_only_the_devel_token(server: GitHubServer, clock: FakeClock, api: str) -> None:
    server.allow_tokens(*TOKENS.values())
    cs = web_service(2, ["devel"])
    routes = router(server, clock, api)
    forge = routes.forge_for(REPO, cs.environments)
    open_(forge, cs)
    forge.get_change(REPO, "req-7/infra")
    forge.close_change(REPO, "req-7/infra")
    assert server.calls and {c.token for c in server.calls} == {TOKENS["devel"]}
    assert routes.quotas()["devel"].remaining < 5000
    assert server.calls_matching("POST", "/graphql") if api == "graphql" else not server.calls_matching(path="graphql")


@BOTH
def test_each_environment_gets_its_own_token_and_mixed_sets_use_the_most_privileged(
        server: GitHubServer, clock: FakeClock, api: str) -> None:
    server.allow_tokens(*TOKENS.values())
    routes = router(server, clock, api)
    for n, envs in enumerate([["alpha"], ["prod"], ["devel", "prod"], ["pr-123"], []]):
        server.reset_calls()
        open_(routes.forge_for(REPO, envs), web_service(1, envs or ["shared"]), key=f"req-{n}/infra")
        expected = {("alpha",): "alpha", ("prod",): "prod", ("devel", "prod"): "prod", ("pr-123",): "default",
                    (): "default"}[tuple(envs)]
        assert {c.token for c in server.calls} == {TOKENS[expected]}, envs
    assert routes.forge_for(REPO, ["devel"]) is routes.forge_for(REPO, ["devel"])


def test_organisation_specific_credentials_win(server: GitHubServer, clock: FakeClock) -> None:
    routes = router(server, clock, acme_prod=TokenCredential("ghp_acmeprod000000000000000"),
                    prod=TokenCredential("ghp_prod0000000000000000000"))
    assert routes.credential_for("acme/infra", ["prod"]) == "acme_prod"
    assert routes.credential_for("other/infra", ["prod"]) == "prod"
    with pytest.raises(PermanentError, match="LAUNCHPAD_GITHUB_CREDENTIALS__DEVEL__TOKEN"):
        routes.forge_for("other/infra", ["devel"])


@BOTH
def test_github_app_installation_tokens_are_fetched_once_and_refreshed_on_expiry(
        server: GitHubServer, clock: FakeClock, app_key: tuple[str, str], api: str) -> None:
    private, public = app_key
    server.register_app(42, public, [7])
    server.allow_tokens(TOKENS["devel"])
    routes = router(server, clock, api, devel=TokenCredential(TOKENS["devel"]),
                    prod=make_credential(app_id=42, private_key=private, installation_id=7))
    prod = routes.forge_for(REPO, ["prod"])
    open_(prod, web_service(1, ["prod"]))
    prod.get_change(REPO, "req-7/infra")
    grants = server.calls_matching("POST", r"/app/installations/7/access_tokens$")
    assert len(grants) == 1 and grants[0].token is not None and grants[0].token.count(".") == 2  # a JWT
    repo_tokens = {c.token for c in server.calls_matching(repo=REPO)}
    assert len(repo_tokens) == 1 and next(iter(repo_tokens)) in server.installation_tokens  # type: ignore[operator]
    clock.now += 3600  # past the one-hour expiry
    prod.get_change(REPO, "req-7/infra")
    assert len(server.calls_matching("POST", r"/access_tokens$")) == 2
    devel = routes.forge_for(REPO, ["devel"])
    server.reset_calls()
    devel.get_change(REPO, "req-7/infra")
    assert {c.token for c in server.calls} == {TOKENS["devel"]}


def test_static_router_always_gives_the_same_forge(server: GitHubServer, clock: FakeClock) -> None:
    forge = github_forge(server, clock)
    assert StaticForgeRouter(forge).forge_for("any/repo", ["prod"]) is forge


# --- no secret in logs, messages or reprs ---------------------------------------------------------


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    caplog.set_level(logging.DEBUG)
    yield caplog


@BOTH
def test_tokens_never_reach_logs_messages_or_reprs(server: GitHubServer, clock: FakeClock, app_key: tuple[str, str],
                                                   debug_logs: pytest.LogCaptureFixture, api: str) -> None:
    private, public = app_key
    server.register_app(42, public, [7])
    server.allow_tokens(TOKENS["prod"])
    app = AppCredential(app_id=42, private_key=private, installation_id=7)
    routes = router(server, clock, api, prod=TokenCredential(TOKENS["prod"]), devel=app,
                    alpha=TokenCredential("ghp_wrong00000000000000000000"))
    texts: list[str] = [repr(routes), repr(app), repr(TokenCredential(TOKENS["prod"]))]
    open_(routes.forge_for(REPO, ["devel"]), web_service(1, ["devel"]))
    open_(routes.forge_for(REPO, ["prod"]), web_service(1, ["prod"]), key="req-8/infra")
    texts.append(repr(routes.forge_for(REPO, ["prod"])))
    with pytest.raises(PermanentError) as bad:
        open_(routes.forge_for(REPO, ["alpha"]), web_service(1, ["alpha"]), key="req-9/infra")
    texts += [str(bad.value), repr(bad.value)]
    if api == "rest":
        server.fail("POST", r"/git/trees$", 403)
    else:
        server.fail("POST", "/graphql", 403, operation=DELIVER)
    with pytest.raises(PermanentError) as forbidden:
        open_(routes.forge_for(REPO, ["prod"]), web_service(1, ["prod"]), key="req-10/infra")
    texts += [str(forbidden.value)]
    if api == "rest":
        server.primary_rate_limit(None, r"/pulls$", reset_in=3600)
    else:
        server.graphql_rate_limit(QUERY, reset_in=3600)
    with pytest.raises(TransientError) as limited:
        open_(routes.forge_for(REPO, ["prod"]), web_service(1, ["prod"]), key="req-11/infra")
    texts += [str(limited.value)]
    assert "401" in str(bad.value) and "'alpha'" in str(bad.value)
    everything = "\n".join(texts) + debug_logs.text + "\n".join(str(r.__dict__) for r in debug_logs.records)
    assert "access_tokens" in debug_logs.text  # PyGithub did log the grant, masked
    secrets = [*TOKENS.values(), "ghp_wrong00000000000000000000", private.splitlines()[1],
               *server.installation_tokens]
    for secret in secrets:
        assert secret not in everything


def test_graphql_refusal_for_missing_permission_is_permanent_and_names_the_fix(server: GitHubServer,
                                                                              clock: FakeClock) -> None:
    server.add_fault(Fault("POST", "/graphql", status=200, operation=DELIVER, payload={
        "data": {"createRef": None, "createCommitOnBranch": None, "createPullRequest": None},
        "errors": [{"type": "FORBIDDEN", "path": ["createRef"],
                    "message": "Resource not accessible by personal access token"}]}))
    with pytest.raises(PermanentError, match=r"may not write to acme/infra .*docs/forge\.md"):
        open_(github_forge(server, clock, api="graphql"), web_service(1))
    assert len(server.calls_matching(operation=DELIVER)) == 1  # not retried
