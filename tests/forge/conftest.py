"""Fixtures: one harness per forge so the contract suite runs unchanged against each.

A harness owns a forge plus "the outside world" for it: seeding and moving the base branch as a
person would, merging as a reviewer would, and undoing the last steps of a delivery to recreate a
partial run (branch pushed but PR not opened; commit made but branch not moved).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import pytest

from provisioners.forge.base import Forge
from provisioners.forge.local import LocalForge


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


FORGE_KINDS = ["local"]


@pytest.fixture(params=FORGE_KINDS)
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ForgeHarness]:
    if request.param == "local":
        yield LocalHarness(tmp_path / "repos")
    else:  # pragma: no cover - filled in below once the GitHub server exists
        raise AssertionError(request.param)
