"""GitHub App credentials against the local GitHub server, in both API modes: RS256 JWTs checked with the
app's public key, one installation per organisation, installation tokens narrowed to the call's repository
and permissions (and the narrowing enforced), a revoked or expired token replaced by exactly one new token
while the call still succeeds, and the usual mistakes (wrong installation id, malformed key, missing
repository) as one clear, permanent line each, from a step and from `launchpad config --check`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests

from bot.cli import main
from provisioners.changeset import ChangeSet
from provisioners.errors import PermanentError, TransientError
from provisioners.forge.app import READ, WORKFLOWS, WRITE
from provisioners.forge.base import ChangeState
from provisioners.forge.credentials import AppCredential, TokenCredential
from provisioners.forge.github import GitHubForge
from provisioners.forge.retry import RetryPolicy, WritePacer
from tests.forge.conftest import FakeClock, rsa_key_pair
from tests.support.github_server import INSTALLATION_PERMISSIONS, GitHubServer, Installation

REPO, VALUES, OTHER = "acme/infra", "acme/values", "other/infra"
APP = 42
BOTH = pytest.mark.parametrize("api", ["graphql", "rest"])
MALFORMED = "-----BEGIN RSA PRIVATE KEY-----\nbm90IGEga2V5\n-----END RSA PRIVATE KEY-----\n"


@pytest.fixture
def server(github_server: GitHubServer, app_key: tuple[str, str]) -> GitHubServer:
    for repo in (REPO, VALUES, OTHER):
        github_server.seed_repo(repo, {"root.hcl": "remote_state {}\n"})
    github_server.register_app(APP, app_key[1], [Installation(7, account="acme"), Installation(8, account="other")])
    return github_server


def app_forge(server: GitHubServer, clock: FakeClock, key: str, api: str, installation_id: int = 7) -> GitHubForge:
    return GitHubForge(AppCredential(app_id=APP, private_key=key, installation_id=installation_id),
                       api_url=server.api_url, name="prod", api=api, sleep=clock.sleep, clock=clock,
                       policy=RetryPolicy(max_retries=2), pacer=WritePacer(clock=clock, sleep=clock.sleep))


def change_set(*paths: str) -> ChangeSet:
    files = {p: f"# {p}\n" for p in paths or ("prod/ranking/terragrunt.hcl",)}
    return ChangeSet(repo="infra", files=files, environments=["prod"], title="Add ranking")


def open_(forge: GitHubForge, repo: str = REPO, key: str = "req-7/infra", cs: ChangeSet | None = None) -> Any:
    return forge.open_change(repo, key, cs or change_set(), title="Add ranking", body="prod", labels=["launchpad"])


def grants(server: GitHubServer) -> list[Any]:
    return server.calls_matching("POST", r"/access_tokens$")


def one_line(err: pytest.ExceptionInfo[Exception]) -> str:
    text = str(err.value)
    assert "\n" not in text and "Traceback" not in text
    return text


# --- narrowing ------------------------------------------------------------------------------------------


@BOTH
def test_tokens_are_narrowed_to_the_repository_and_the_permissions_the_call_needs(
        server: GitHubServer, clock: FakeClock, app_key: tuple[str, str], api: str) -> None:
    forge = app_forge(server, clock, app_key[0], api)
    assert open_(forge).state == ChangeState.OPEN
    assert len(grants(server)) == 1
    (token,) = server.tokens_for(REPO)
    grant = server.installation_tokens[token]
    assert grant.repositories == {REPO} and grant.permissions == WRITE
    assert {c.token for c in server.calls_matching(repo=REPO)} == {token}
    forge.get_change(REPO, "req-7/infra")  # a read: the cached write token covers it
    open_(forge, VALUES, "req-7/values")  # another repository: a token of its own
    assert len(grants(server)) == 2 and server.installation_tokens[server.tokens_for(VALUES)[-1]].repositories == \
        {VALUES}

    reader = app_forge(server, clock, app_key[0], api)  # a fresh worker that only checks for the merge
    assert reader.get_change(REPO, "req-7/infra") is not None
    read_token = next(t for t, g in server.installation_tokens.items() if g.permissions == READ)
    # what the server enforces: a read token cannot write, a token for one repository cannot see another
    base = f"{server.api_url}/repos"
    write = requests.post(f"{base}/{REPO}/git/refs", json={"ref": "refs/heads/x", "sha": server.tip(REPO)},
                          headers={"Authorization": f"token {read_token}"}, timeout=5)
    other = requests.get(f"{base}/{VALUES}/branches/main", headers={"Authorization": f"token {token}"}, timeout=5)
    assert (write.status_code, other.status_code) == (403, 404)


@BOTH
def test_workflow_files_need_the_workflows_permission(server: GitHubServer, clock: FakeClock,
                                                      app_key: tuple[str, str], api: str) -> None:
    workflow = change_set(".github/workflows/ci.yml", "Dockerfile")
    open_(app_forge(server, clock, app_key[0], api), cs=workflow)
    assert server.installation_tokens[server.tokens_for(REPO)[-1]].permissions == {**WRITE, **WORKFLOWS}

    server.apps[APP].installations[7].permissions = {k: v for k, v in INSTALLATION_PERMISSIONS.items()
                                                     if k != "workflows"}
    with pytest.raises(PermanentError) as err:
        open_(app_forge(server, clock, app_key[0], api), key="req-8/infra", cs=workflow)
    assert "was not granted the permissions" in one_line(err) and "workflows: write" in str(err.value)


# --- 401: one new token, one retry ------------------------------------------------------------------


@pytest.mark.parametrize("how", ["revoke", "expire"])
@BOTH
def test_a_revoked_or_expired_token_is_replaced_once_and_the_call_succeeds(
        server: GitHubServer, clock: FakeClock, app_key: tuple[str, str], api: str, how: str) -> None:
    forge = app_forge(server, clock, app_key[0], api)
    open_(forge)  # step 1
    (token,) = server.tokens_for(REPO)
    (server.revoke_token if how == "revoke" else server.expire_token)(token)  # the worker's clock says it is fine
    server.reset_calls()
    second = open_(forge, key="req-8/infra")  # step 2: a write
    assert second.state == ChangeState.OPEN and second.wrote
    assert len(grants(server)) == 1 and len(server.tokens_for(REPO)) == 2
    assert [c.status for c in server.calls if c.status == 401] == [401]
    assert forge.get_change(REPO, "req-7/infra") is not None and len(grants(server)) == 1


@BOTH
def test_401_with_a_new_token_too_is_permanent_and_names_app_and_installation(
        server: GitHubServer, clock: FakeClock, app_key: tuple[str, str], api: str) -> None:
    server.fail(None, "/graphql" if api == "graphql" else r"/pulls$", 401, times=5)
    with pytest.raises(PermanentError) as err:
        open_(app_forge(server, clock, app_key[0], api))
    text = one_line(err)
    assert "credential 'prod' (GitHub App 42, installation 7)" in text and "new installation token" in text
    assert len(grants(server)) == 2  # the first token, and exactly one more


def test_a_token_credential_is_not_retried_after_401(server: GitHubServer, clock: FakeClock) -> None:
    server.allow_tokens("ghp_good000000000000000000000")
    forge = GitHubForge(TokenCredential("ghp_revoked0000000000000000000"), api_url=server.api_url, api="graphql",
                        sleep=clock.sleep, clock=clock)
    with pytest.raises(PermanentError, match=r"401 Bad credentials\); check its token"):
        open_(forge)
    assert len(server.calls) == 1


# --- the three mistakes -----------------------------------------------------------------------------


@pytest.mark.parametrize("mistake", ["wrong installation id", "malformed key", "missing repository"])
@BOTH
def test_each_mistake_is_one_clear_permanent_line(server: GitHubServer, clock: FakeClock,
                                                  app_key: tuple[str, str], api: str, mistake: str) -> None:
    key, installation, repo = app_key[0], 7, REPO
    expected = {"wrong installation id": "GitHub App 42 has no installation 99 (credential 'prod'): set "
                                         "LAUNCHPAD_GITHUB_CREDENTIALS__PROD__INSTALLATION_ID",
                "malformed key": "credential 'prod' (GitHub App 42, installation 7): the private key does not "
                                 "parse",
                "missing repository": "credential 'prod' (GitHub App 42, installation 7) cannot access repository "
                                      "other/infra"}[mistake]
    if mistake == "wrong installation id":
        installation = 99
    elif mistake == "malformed key":
        key = MALFORMED
    else:
        repo = OTHER  # another organisation's repository: installation 7 is on 'acme'
    forge = app_forge(server, clock, key, api, installation)
    for _ in range(2):  # permanent: the same line again, not a retry storm
        with pytest.raises(PermanentError) as err:
            open_(forge, repo)
        assert not isinstance(err.value, TransientError) and expected in one_line(err)
    assert len(server.calls) == (0 if mistake == "malformed key" else 2)  # one grant asked per attempt
    assert server.tokens_for(repo) == []  # ('infra' was resolved in the installation's account: acme/infra)


def test_a_jwt_signed_with_another_key_is_rejected_in_one_line(server: GitHubServer, clock: FakeClock) -> None:
    with pytest.raises(PermanentError) as err:
        open_(app_forge(server, clock, rsa_key_pair()[0], "graphql"))
    assert "GitHub rejected the JWT of credential 'prod' (GitHub App 42, installation 7)" in one_line(err)


# --- early checks: GitHubForge.check and `launchpad config --check` -----------------------------------


def test_check_finds_each_mistake_before_a_step_does(server: GitHubServer, clock: FakeClock,
                                                     app_key: tuple[str, str]) -> None:
    good = app_forge(server, clock, app_key[0], "graphql")
    assert good.check([REPO, VALUES]) == []
    assert "has no installation 99" in app_forge(server, clock, app_key[0], "graphql", 99).check([REPO])[0]
    assert "does not parse" in app_forge(server, clock, MALFORMED, "graphql").check([REPO])[0]
    (line,) = good.check([REPO, OTHER])
    assert "is installed on 'acme', not on 'other'" in line and "one App installation covers one organisation" in line
    server.apps[APP].installations[7].repositories = {REPO}
    (line,) = app_forge(server, clock, app_key[0], "graphql").check([REPO, VALUES])
    assert "cannot access repository acme/values" in line
    server.allow_tokens("ghp_good000000000000000000000")
    token = GitHubForge(TokenCredential("ghp_good000000000000000000000"), api_url=server.api_url, name="devel")
    assert token.check([REPO]) == [] and "cannot see repository acme/nope" in token.check(["acme/nope"])[0]
    bad = GitHubForge(TokenCredential("ghp_bad0000000000000000000000"), api_url=server.api_url, name="devel")
    assert "GitHub rejected credential 'devel'" in bad.check([REPO])[0]
    assert "does not look like a GitHub token" in GitHubForge(TokenCredential("Bearer x y z"), name="devel").check()[0]


PLATFORM_REPOS = ("platform/infra-live", "platform/k8s-values", "platform/gitops")


@pytest.mark.parametrize(("mistake", "line"), [
    (None, None),
    ("wrong installation id", "GitHub App 42 has no installation 99 (credential 'default')"),
    ("malformed key", "credential 'default' (GitHub App 42, installation 7): the private key does not parse"),
    ("missing repository", "credential 'default' (GitHub App 42, installation 7) cannot access repository "
                           "platform/gitops"),
    ("bad token", "credential 'devel': the token does not look like a GitHub token"),
])
def test_config_check_prints_one_line_per_problem(github_server: GitHubServer, app_key: tuple[str, str],
                                                  tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str], mistake: str | None,
                                                  line: str | None) -> None:
    for repo in PLATFORM_REPOS:
        github_server.seed_repo(repo, {"README.md": "hi\n"})
    selected = set(PLATFORM_REPOS[:2]) if mistake == "missing repository" else None
    github_server.register_app(APP, app_key[1], [Installation(7, account="platform", repositories=selected)])
    github_server.allow_tokens("ghp_devel00000000000000000000")
    prefix = "LAUNCHPAD_GITHUB_CREDENTIALS__"
    env = {"LAUNCHPAD_DATA_DIR": str(tmp_path), "LAUNCHPAD_FORGE": "github", "GITHUB_API_URL": github_server.api_url,
           f"{prefix}DEFAULT__APP_ID": str(APP),
           f"{prefix}DEFAULT__INSTALLATION_ID": "99" if mistake == "wrong installation id" else "7",
           f"{prefix}DEFAULT__PRIVATE_KEY": MALFORMED if mistake == "malformed key" else app_key[0],
           f"{prefix}DEVEL__TOKEN": "ghp devel" if mistake == "bad token" else "ghp_devel00000000000000000000"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    code = main(["config", "--check"])
    out, err = capsys.readouterr()
    if mistake is None:
        assert code == 0 and err == "" and "ok: 2 GitHub credential(s)" in out
        assert "credential 'devel': platform/infra-live, platform/k8s-values, platform/gitops" in out
        return
    problems = err.splitlines()
    assert code == 1 and len(problems) == 1 and problems[0].startswith("problem: ") and line in problems[0], err
    assert app_key[0].splitlines()[1] not in out + err


def test_worker_refuses_to_start_with_a_credential_github_rejects(github_server: GitHubServer,
                                                                  app_key: tuple[str, str], tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    github_server.register_app(APP, app_key[1], [Installation(7, account="platform")])
    for name, value in {"LAUNCHPAD_DATA_DIR": str(tmp_path), "LAUNCHPAD_FORGE": "github",
                        "GITHUB_API_URL": github_server.api_url, "LAUNCHPAD_GITHUB_CREDENTIALS__DEFAULT__APP_ID": "42",
                        "LAUNCHPAD_GITHUB_CREDENTIALS__DEFAULT__INSTALLATION_ID": "99",
                        "LAUNCHPAD_GITHUB_CREDENTIALS__DEFAULT__PRIVATE_KEY": app_key[0]}.items():
        monkeypatch.setenv(name, value)
    assert main(["worker"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "launchpad worker: GitHub App 42 has no installation 99 (credential 'default'): set "
        "LAUNCHPAD_GITHUB_CREDENTIALS__DEFAULT__INSTALLATION_ID to the number at the end of the installation's "
        "settings URL (…/settings/installations/<id>)"]


# --- a whole request --------------------------------------------------------------------------------------


def test_a_request_survives_a_token_revoked_between_two_steps_with_exactly_one_new_token(
        tmp_path: Path, app_key: tuple[str, str]) -> None:
    """A web service (four repositories) on App credentials, one installation per organisation ('platform'
    and 'search'); between the infra PR being opened and the next infra call, that token is revoked."""
    from provisioners.forge.router import ForgeRouter
    from tests.faults.support import FAST, build_world, web_spec
    from tests.support.github_contents import ContentsGitHubServer
    from tests.workflow.support import ALICE, SRE

    infra = "platform/infra-live"
    with ContentsGitHubServer() as server:
        server.register_app(APP, app_key[1], [Installation(7, account="platform"), Installation(8, account="search")])
        routes = ForgeRouter({"default": AppCredential(app_id=APP, private_key=app_key[0], installation_id=7),
                              "search_default": AppCredential(app_id=APP, private_key=app_key[0], installation_id=8)},
                             api_url=server.api_url, policy=FAST, writes_per_minute=60_000, writes_per_hour=600_000,
                             api="graphql")
        world = build_world(tmp_path, server, forges=routes)
        try:
            request = world.workflow.submit_create(web_spec(["devel"]), ALICE)
            revoked: list[str] = []
            for _ in range(80):
                ran = world.workflow.run_pending("app-worker")
                if not revoked and server.pulls(infra):
                    revoked = server.tokens_for(infra)
                    server.revoke_token(revoked[-1])
                acted = world.review(request.id, SRE)
                info = world.workflow.get_request(request.id)
                if info.state.finished:
                    break
                if not ran and not acted:
                    world.clock.advance(minutes=20)
            world.assert_delivered_exactly_once(info)
            # the infra repository has two narrowed tokens by then (the delivery's, and the pipeline reads' of
            # wait_plan: checks, Actions, the plan comment); the revoked one is replaced exactly once
            assert 1 <= len(revoked) <= 2 and len(server.tokens_for(infra)) == len(revoked) + 1
            assert len([c for c in server.calls if c.status == 401]) == 1
            # the 401 failed no step: no failure on record, every pull request opened at the first attempt
            trail = world.workflow.audit(info.service)
            assert not [e for e in trail if "fail" in e.action or "401" in (e.detail or "")]
            assert {s.attempts for s in info.steps if s.kind == "open_pr"} == {1}
            assert {g.installation_id for g in server.installation_tokens.values()} == {7, 8}
        finally:
            world.services.close()
