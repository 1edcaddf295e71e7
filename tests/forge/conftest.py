"""Fixtures: one harness per forge so the contract suite runs unchanged against each (local git, GitHub
over REST, GitHub over GraphQL).

A harness owns a forge plus "the outside world" for it: seeding and moving the base branch as a
person would, merging as a reviewer would, and undoing the last steps of a delivery to recreate a
partial run (branch pushed but PR not opened; commit made but branch not moved).
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from provisioners.forge.base import Forge
from provisioners.forge.credentials import TokenCredential
from provisioners.forge.github import GitHubForge
from provisioners.forge.local import LocalForge
from provisioners.forge.retry import RetryPolicy, WritePacer
from tests.support.github_server import GitHubServer


class ForgeHarness(Protocol):
    kind: str
    forge: Forge
    repo: str

    def commit(self, files: dict[str, str], deletes: list[str] | None = None, branch: str = "main") -> str: ...
    def merge(self, key: str) -> None: ...
    def drop_pull(self, key: str) -> None: ...
    def drop_branch(self, key: str) -> None: ...
    def state(self) -> Any: ...
    def branch_commits(self, key: str, base: str = "main") -> int: ...
    def pull_count(self) -> int: ...
    def branch_names(self) -> list[str]: ...
    def parent_of(self, sha: str) -> str: ...
    def tip(self, branch: str = "main") -> str: ...


class LocalHarness:
    kind = "local"

    def __init__(self, root: Path) -> None:
        self.forge = LocalForge(root)
        self.local = self.forge
        self.repo = "acme/infra"
        self.git_dir = self.forge.repo_path(self.repo)

    def _git(self, *args: str) -> str:
        return subprocess.run(["git", f"--git-dir={self.git_dir}", *args], check=True, capture_output=True,
                              text=True).stdout

    def commit(self, files: dict[str, str], deletes: list[str] | None = None, branch: str = "main") -> str:
        return self.forge.commit_files(self.repo, files, deletes, message="someone else's change", branch=branch)

    def merge(self, key: str) -> None:
        self.forge.merge_change(self.repo, key)

    def _pulls(self) -> dict[str, Any]:
        path = self.git_dir / "launchpad-pulls.json"
        return json.loads(path.read_text()) if path.exists() else {"next": 1, "pulls": []}

    def drop_pull(self, key: str) -> None:
        pulls = self._pulls()
        pulls["pulls"] = [p for p in pulls["pulls"] if p["key"] != key]
        (self.git_dir / "launchpad-pulls.json").write_text(json.dumps(pulls))

    def drop_branch(self, key: str) -> None:
        self._git("update-ref", "-d", f"refs/heads/launchpad/{key}")

    def state(self) -> Any:
        """Everything a write would change: refs, objects and pull-request records."""
        objects = sorted(str(p.relative_to(self.git_dir)) for p in (self.git_dir / "objects").rglob("*")
                         if p.is_file())
        return (self._git("for-each-ref"), objects, self._pulls())

    def branch_commits(self, key: str, base: str = "main") -> int:
        return int(self._git("rev-list", "--count", f"refs/heads/{base}..refs/heads/launchpad/{key}").strip())

    def pull_count(self) -> int:
        return len(self._pulls()["pulls"])

    def branch_names(self) -> list[str]:
        return sorted(self._git("for-each-ref", "--format=%(refname:short)", "refs/heads/").split())

    def parent_of(self, sha: str) -> str:
        return self._git("rev-parse", f"{sha}^").strip()

    def tip(self, branch: str = "main") -> str:
        return self._git("rev-parse", f"refs/heads/{branch}").strip()


class FakeClock:
    """Injected into forges so waits are recorded and time advances without really sleeping."""

    def __init__(self) -> None:
        self.now = time.time()
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def github_forge(server: GitHubServer, clock: FakeClock, token: str = "ghp_contracttoken0000000000",
                 **kw: Any) -> GitHubForge:
    kw.setdefault("policy", RetryPolicy(max_retries=4, wait_cap=300))
    kw.setdefault("pacer", WritePacer(clock=clock, sleep=clock.sleep))
    return GitHubForge(TokenCredential(token), api_url=server.api_url, sleep=clock.sleep, clock=clock, **kw)


class GitHubHarness:
    kind = "github"

    def __init__(self, server: GitHubServer, clock: FakeClock, api: str = "rest") -> None:
        self.server = server
        self.clock = clock
        self.repo = "acme/infra"
        self.kind = f"github-{api}"
        server.seed_repo(self.repo)
        self.forge = github_forge(server, clock, api=api)

    def _pull_of(self, key: str) -> int:
        return next(p.number for p in self.server.pulls(self.repo) if p.head == f"launchpad/{key}")

    def commit(self, files: dict[str, str], deletes: list[str] | None = None, branch: str = "main") -> str:
        return self.server.commit(self.repo, files, deletes, branch=branch)

    def merge(self, key: str) -> None:
        self.server.merge_pull(self.repo, self._pull_of(key))

    def drop_pull(self, key: str) -> None:
        self.server.delete_pull(self.repo, self._pull_of(key))

    def drop_branch(self, key: str) -> None:
        self.server.delete_ref(self.repo, f"refs/heads/launchpad/{key}")

    def state(self) -> Any:
        """Writes seen by the server (REST writes and GraphQL mutations), plus refs and pull requests."""
        writes = len([c for c in self.server.calls if c.is_write])
        pulls = [(p.number, p.state, p.head_sha, p.title, tuple(p.labels)) for p in self.server.pulls(self.repo)]
        return writes, dict(self.server.repos[self.repo].refs), pulls

    def branch_commits(self, key: str, base: str = "main") -> int:
        return self.server.commits_ahead(self.repo, f"launchpad/{key}", base)

    def pull_count(self) -> int:
        return len(self.server.pulls(self.repo))

    def branch_names(self) -> list[str]:
        return self.server.branches(self.repo)

    def parent_of(self, sha: str) -> str:
        return str(self.server.objects.read_commit(sha)["parents"][0])

    def tip(self, branch: str = "main") -> str:
        return self.server.tip(self.repo, branch)


@pytest.fixture
def github_server() -> Iterator[GitHubServer]:
    with GitHubServer() as server:
        yield server


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=["local", "github-rest", "github-graphql"])
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ForgeHarness]:
    if request.param == "local":
        yield LocalHarness(tmp_path / "repos")
    else:
        with GitHubServer() as server:
            yield GitHubHarness(server, FakeClock(), api=request.param.removeprefix("github-"))


def rsa_key_pair() -> tuple[str, str]:
    """A GitHub App's private key (PEM, as GitHub hands it out) and the public key the server checks JWTs with."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return private, public


@pytest.fixture(scope="session")
def app_key() -> tuple[str, str]:
    return rsa_key_pair()
