"""GitHubForge over real HTTP against the local GitHub server: call budget, faults, credentials, secrets."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from provisioners.changeset import ChangeSet
from provisioners.errors import PermanentError, TransientError
from provisioners.forge.base import ChangeState
from provisioners.forge.credentials import AppCredential, TokenCredential, make_credential
from provisioners.forge.github import GitHubForge
from provisioners.forge.retry import RetryPolicy, WritePacer
from provisioners.forge.router import ForgeRouter, StaticForgeRouter
from tests.forge.conftest import FakeClock, github_forge
from tests.support.github_server import GitHubServer

REPO = "acme/infra"
ENVS = ["devel", "alpha", "prod"]


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


def test_three_env_request_costs_at_most_8_calls_whatever_the_file_count(server: GitHubServer,
                                                                          clock: FakeClock) -> None:
    server.seed_repo("acme/small", {"root.hcl": "x\n"})
    server.seed_repo("acme/large", {"root.hcl": "x\n"})
    forge = github_forge(server, clock)
    open_(forge, web_service(2), repo="acme/small")
    small = server.calls_matching(path="/repos/acme/small")
    open_(forge, web_service(20), repo="acme/large")
    large = server.calls_matching(path="/repos/acme/large")
    assert len(small) == len(large) <= 8
    assert [(c.method, c.path.replace("small", "large")) for c in small] == [(c.method, c.path) for c in large]
    assert [c.method for c in large].count("GET") == 2  # find the PR, read the base branch
    assert server.file("acme/large", "prod/ranking/part19/terragrunt.hcl", "launchpad/req-7/infra") == \
        'env = "prod"\npart = 19\n'


def test_repeat_costs_three_reads_and_no_write(server: GitHubServer, clock: FakeClock) -> None:
    forge = github_forge(server, clock)
    open_(forge, web_service(20))
    server.reset_calls()
    again = open_(forge, web_service(20))
    assert not again.wrote
    assert [c.method for c in server.calls] == ["GET", "GET", "GET"]


# --- acceptance 3: faults ---------------------------------------------------------------------------

FAULTS = {
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
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_one_branch_one_commit_one_pull_under_faults(server: GitHubServer, clock: FakeClock, fault: str) -> None:
    injected = FAULTS[fault](server)
    change = open_(github_forge(server, clock), web_service(2))
    assert injected.hits >= 1
    assert change.state == ChangeState.OPEN and change.wrote
    assert_exactly_one(server)
    assert max(clock.sleeps, default=0) <= 300


def test_rate_limit_waits_for_the_reset(server: GitHubServer, clock: FakeClock) -> None:
    server.primary_rate_limit("POST", r"/git/commits$", reset_in=30)
    open_(github_forge(server, clock), web_service(1))
    assert any(25 <= s <= 40 for s in clock.sleeps)


def test_secondary_limit_honours_retry_after_else_waits_a_minute_then_longer(server: GitHubServer,
                                                                               clock: FakeClock) -> None:
    server.secondary_rate_limit("POST", r"/pulls$", retry_after=7)
    server.secondary_rate_limit("POST", r"/git/refs$", retry_after=None, status=403, times=2)
    open_(github_forge(server, clock, pacer=WritePacer(per_minute=10**6, per_hour=10**6)), web_service(1))
    assert clock.sleeps == [60, 120, 7]


def test_rate_limit_beyond_the_cap_is_transient_with_retry_at(server: GitHubServer, clock: FakeClock) -> None:
    server.primary_rate_limit(None, r"/pulls$", reset_in=3600)
    forge = github_forge(server, clock, policy=RetryPolicy(wait_cap=300))
    with pytest.raises(TransientError) as err:
        open_(forge, web_service(1))
    assert err.value.retry_at is not None
    assert 3500 < (err.value.retry_at - datetime.now(UTC)).total_seconds() < 3700
    assert clock.sleeps == []


def test_persistent_5xx_is_transient_after_backing_off(server: GitHubServer, clock: FakeClock) -> None:
    server.fail("POST", r"/git/trees$", 503, times=100)
    forge = github_forge(server, clock, policy=RetryPolicy(max_retries=3, backoff_base=2, backoff_max=60),
                         pacer=WritePacer(per_minute=10**6, per_hour=10**6))
    with pytest.raises(TransientError, match="failed 4 times"):
        open_(forge, web_service(1))
    assert len(clock.sleeps) == 3
    for n, slept in enumerate(clock.sleeps):
        assert 2 * 2**n * 0.5 <= slept <= 2 * 2**n * 1.5  # exponential with jitter
    assert len(server.calls_matching("POST", r"/git/trees$")) == 4


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


def test_slow_responses_time_out_and_are_retried_without_duplicates(server: GitHubServer, clock: FakeClock) -> None:
    server.slow("POST", r"/pulls$", seconds=1.6)  # processed after the client gave up
    server.slow("POST", r"/git/refs$", seconds=1.6)
    change = open_(github_forge(server, clock, timeout=1), web_service(2))
    assert change.state == ChangeState.OPEN
    assert_exactly_one(server)


def test_writes_are_paced_per_credential(server: GitHubServer, clock: FakeClock) -> None:
    pacer = WritePacer(per_minute=6, per_hour=1000, clock=clock, sleep=clock.sleep)
    forge = github_forge(server, clock, pacer=pacer)
    open_(forge, web_service(1))  # 5 writes: tree, commit, ref, pull, labels; bucket holds 1, refills 1 per 10 s
    assert pacer.waited == pytest.approx(40, abs=0.01) and sum(clock.sleeps) == pytest.approx(40, abs=0.01)


def test_quota_is_read_from_the_last_response(server: GitHubServer, clock: FakeClock) -> None:
    forge = github_forge(server, clock)
    assert forge.quota().remaining == -1
    open_(forge, web_service(1))
    quota = forge.quota()
    assert quota.limit == 5000 and quota.remaining == 5000 - len(server.calls) and quota.reset_at is not None


def test_bad_repository_name_and_missing_base(server: GitHubServer, clock: FakeClock) -> None:
    forge = github_forge(server, clock)
    with pytest.raises(PermanentError, match="owner/name"):
        forge.get_change("infra", "k")
    with pytest.raises(PermanentError, match="base branch 'develop'"):
        forge.open_change(REPO, "k", web_service(1), title="t", body="b", base_branch="develop")
    with pytest.raises(PermanentError, match="not found"):
        forge.get_change("acme/nope", "k")


def test_merge_change_merges_on_the_server(server: GitHubServer, clock: FakeClock) -> None:
    forge = github_forge(server, clock)
    opened = open_(forge, web_service(1))
    merged = forge.merge_change(REPO, "req-7/infra")
    assert merged.state == ChangeState.MERGED and merged.merge_sha == server.tip(REPO)
    assert merged.number == opened.number and forge.merge_change(REPO, "req-7/infra").wrote is False


# --- acceptance 4: per-environment credentials ----------------------------------------------------

TOKENS = {"devel": "ghp_devel000000000000000000", "alpha": "ghp_alpha000000000000000000",
          "prod": "ghp_prod0000000000000000000", "default": "ghp_default00000000000000000"}


@pytest.fixture(scope="module")
def app_key() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return private, public


def router(server: GitHubServer, clock: FakeClock, **credentials: object) -> ForgeRouter:
    creds = credentials or {env: TokenCredential(token) for env, token in TOKENS.items()}
    return ForgeRouter(creds, api_url=server.api_url, sleep=clock.sleep, clock=clock)  # type: ignore[arg-type]


def test_a_devel_request_uses_only_the_devel_token(server: GitHubServer, clock: FakeClock) -> None:
    server.allow_tokens(*TOKENS.values())
    cs = web_service(2, ["devel"])
    routes = router(server, clock)
    forge = routes.forge_for(REPO, cs.environments)
    open_(forge, cs)
    forge.get_change(REPO, "req-7/infra")
    forge.close_change(REPO, "req-7/infra")
    assert server.calls and {c.token for c in server.calls} == {TOKENS["devel"]}
    assert routes.quotas()["devel"].remaining < 5000


def test_each_environment_gets_its_own_token_and_mixed_sets_use_the_most_privileged(server: GitHubServer,
                                                                                     clock: FakeClock) -> None:
    server.allow_tokens(*TOKENS.values())
    routes = router(server, clock)
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


def test_github_app_installation_tokens_are_fetched_once_and_refreshed_on_expiry(
        server: GitHubServer, clock: FakeClock, app_key: tuple[str, str]) -> None:
    private, public = app_key
    server.register_app(42, public, [7])
    server.allow_tokens(TOKENS["devel"])
    routes = router(server, clock, devel=TokenCredential(TOKENS["devel"]),
                    prod=make_credential(app_id=42, private_key=private, installation_id=7))
    prod = routes.forge_for(REPO, ["prod"])
    open_(prod, web_service(1, ["prod"]))
    prod.get_change(REPO, "req-7/infra")
    grants = server.calls_matching("POST", r"/app/installations/7/access_tokens$")
    assert len(grants) == 1 and grants[0].token is not None and grants[0].token.count(".") == 2  # a JWT
    repo_tokens = {c.token for c in server.calls_matching(path="/repos/")}
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


def test_tokens_never_reach_logs_messages_or_reprs(server: GitHubServer, clock: FakeClock, app_key: tuple[str, str],
                                                   debug_logs: pytest.LogCaptureFixture) -> None:
    private, public = app_key
    server.register_app(42, public, [7])
    server.allow_tokens(TOKENS["prod"])
    app = AppCredential(app_id=42, private_key=private, installation_id=7)
    routes = router(server, clock, prod=TokenCredential(TOKENS["prod"]), devel=app,
                    alpha=TokenCredential("ghp_wrong00000000000000000000"))
    texts: list[str] = [repr(routes), repr(app), repr(TokenCredential(TOKENS["prod"]))]
    open_(routes.forge_for(REPO, ["devel"]), web_service(1, ["devel"]))
    open_(routes.forge_for(REPO, ["prod"]), web_service(1, ["prod"]), key="req-8/infra")
    texts.append(repr(routes.forge_for(REPO, ["prod"])))
    with pytest.raises(PermanentError) as bad:
        open_(routes.forge_for(REPO, ["alpha"]), web_service(1, ["alpha"]), key="req-9/infra")
    texts += [str(bad.value), repr(bad.value)]
    server.fail("POST", r"/git/trees$", 403)
    with pytest.raises(PermanentError) as forbidden:
        open_(routes.forge_for(REPO, ["prod"]), web_service(1, ["prod"]), key="req-10/infra")
    texts += [str(forbidden.value)]
    server.primary_rate_limit(None, r"/pulls$", reset_in=3600)
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
