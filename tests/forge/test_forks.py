"""Pull requests opened from forks on LaunchPad's predictable branch name (`launchpad/<key>`) are never
adopted, in either API mode: GraphQL's `pullRequests(headRefName:)` returns them (it ignores the head
repository), and REST's `head=owner:branch` filter returns them too when the fork belongs to the same
owner. LaunchPad opens its own pull request and never updates, labels, closes or reports a fork's."""

from __future__ import annotations

import pytest

from provisioners.changeset import ChangeSet
from provisioners.forge.base import ChangeState
from tests.forge.conftest import FakeClock, github_forge
from tests.support.github_server import GitHubServer

REPO, KEY, BRANCH = "acme/infra", "req-7/infra", "launchpad/req-7/infra"
FORKS = pytest.mark.parametrize(("api", "fork"), [("graphql", "mallory/infra"), ("graphql", "acme/infra-fork"),
                                                 ("rest", "mallory/infra"), ("rest", "acme/infra-fork")])


@pytest.fixture
def server(github_server: GitHubServer) -> GitHubServer:
    github_server.seed_repo(REPO, {"root.hcl": "remote_state {}\n"})
    return github_server


def change_set() -> ChangeSet:
    return ChangeSet(repo="infra", files={"prod/ranking/terragrunt.hcl": "# ranking\n"}, environments=["prod"],
                     title="Add ranking")


@FORKS
def test_an_open_fork_pull_request_on_our_branch_name_is_never_adopted(server: GitHubServer, clock: FakeClock,
                                                                        api: str, fork: str) -> None:
    server.fork_repo(REPO, fork)
    theirs = server.open_fork_pull(REPO, fork, BRANCH, {"root.hcl": "evil\n"}, title="Add ranking")
    forge = github_forge(server, clock, api=api)
    assert forge.get_change(REPO, KEY) is None
    ours = forge.open_change(REPO, KEY, change_set(), title="Add ranking", body="prod", labels=["launchpad"])
    assert ours.wrote and ours.number != theirs.number and ours.state == ChangeState.OPEN
    assert server.file(REPO, "prod/ranking/terragrunt.hcl", BRANCH) == "# ranking\n"  # our branch, in the base
    again = forge.open_change(REPO, KEY, change_set(), title="Add ranking", body="prod", labels=["launchpad"])
    assert not again.wrote and again.number == ours.number
    assert forge.get_change(REPO, KEY) == ours.model_copy(update={"wrote": False})
    forge.close_change(REPO, KEY)
    pulls = {p.number: p for p in server.pulls(REPO)}
    assert pulls[ours.number].state == "closed"
    fork_pull = pulls[theirs.number]
    assert (fork_pull.state, fork_pull.labels, fork_pull.body, fork_pull.head_repo) == ("open", [], "", fork)


@FORKS
def test_a_merged_fork_pull_request_does_not_count_as_delivered(server: GitHubServer, clock: FakeClock, api: str,
                                                                 fork: str) -> None:
    server.fork_repo(REPO, fork)
    theirs = server.open_fork_pull(REPO, fork, BRANCH, {"other.hcl": "x\n"})
    server.merge_pull(REPO, theirs.number)
    forge = github_forge(server, clock, api=api)
    assert forge.get_change(REPO, KEY) is None
    ours = forge.open_change(REPO, KEY, change_set(), title="Add ranking", body="prod")
    assert ours.state == ChangeState.OPEN and ours.number != theirs.number and not ours.no_op
