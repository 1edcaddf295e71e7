"""Fixtures for the infra pipeline: the stand-in terragrunt on PATH, and a small Terragrunt repository."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.support.terragrunt_standin import no_terragrunt, terragrunt

__all__ = ["no_terragrunt", "terragrunt"]

UNIT = "111111111111/eu-west-1/devel/svc"


def unit_file(deps: tuple[str, ...] = (), extra: str = "") -> str:
    blocks = "".join(f'\ndependency "{d.replace("-", "_")}" {{\n  config_path = "../{d}"\n\n'
                     f'  mock_outputs = {{ id = "x" }}\n}}\n' for d in deps)
    return f'include "root" {{\n  path = find_in_parent_folders("root.hcl")\n}}\n{blocks}\ninputs = {{{extra}}}\n'


STACK = {
    "root.hcl": "# remote state\n",
    f"{UNIT}/security-group/terragrunt.hcl": unit_file(),
    f"{UNIT}/rds-security-group/terragrunt.hcl": unit_file(("security-group",)),
    f"{UNIT}/rds/terragrunt.hcl": unit_file(("rds-security-group",)),
    f"{UNIT}/s3/terragrunt.hcl": unit_file(),
    f"{UNIT}/iam-role/terragrunt.hcl": unit_file(),
}


class Repo:
    """A git working repository with helpers to commit whole trees."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir(parents=True)
        self.git("init", "--quiet", "--initial-branch=main")

    def git(self, *args: str) -> str:
        env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x", "GIT_COMMITTER_NAME": "t",
               "GIT_COMMITTER_EMAIL": "t@x", "GIT_CONFIG_GLOBAL": "/dev/null", "PATH": "/usr/bin:/bin"}
        return subprocess.run(["git", "-C", str(self.path), *args], check=True, capture_output=True, text=True,
                              env=env).stdout

    def commit(self, files: dict[str, str], deletes: tuple[str, ...] = (), message: str = "change") -> str:
        for path, content in files.items():
            target = self.path / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content)
        for path in deletes:
            (self.path / path).unlink()
        self.git("add", "-A")
        self.git("commit", "--quiet", "--allow-empty", "-m", message)
        return self.git("rev-parse", "HEAD").strip()


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    return Repo(tmp_path / "infra-live")
