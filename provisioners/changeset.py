"""The ChangeSet: what one request changes in one repository.

A change set is plain data (paths to write, paths to delete) so renderers stay pure and forges stay
dumb: a forge never decides what to write, it only delivers.
"""

from __future__ import annotations

from pydantic import BaseModel, Field, field_validator


class ChangeSet(BaseModel):
    """Files to write and files to delete in one repository, plus the words a reviewer sees."""

    repo: str = Field(description="logical repository key from settings, e.g. 'infra', 'values', 'gitops'")
    files: dict[str, str] = Field(default_factory=dict, description="path -> full new content")
    deletes: list[str] = Field(default_factory=list, description="paths to remove")
    title: str = ""
    summary: str = Field(default="", description="markdown for the PR body: what changes, per environment")
    environments: list[str] = Field(default_factory=list)
    shared: list[str] = Field(default_factory=list,
                              description="paths in `files` other services use too (root.hcl, local modules, a "
                                          "team's Argo CD files): written, never removed by one service's change")

    @field_validator("files")
    @classmethod
    def _relative_paths(cls, files: dict[str, str]) -> dict[str, str]:
        for path in files:
            _check_path(path)
        return files

    @field_validator("deletes")
    @classmethod
    def _relative_deletes(cls, deletes: list[str]) -> list[str]:
        for path in deletes:
            _check_path(path)
        return sorted(set(deletes))

    @property
    def paths(self) -> list[str]:
        return sorted(set(self.files) | set(self.deletes))

    def is_empty(self) -> bool:
        return not self.files and not self.deletes

    def merge(self, other: ChangeSet) -> ChangeSet:
        """Combine two change sets for the same repository (bulk changes, multi-env plans)."""
        if other.repo != self.repo:
            raise ValueError(f"cannot merge change sets of {self.repo!r} and {other.repo!r}")
        files = {**self.files, **other.files}
        deletes = sorted((set(self.deletes) | set(other.deletes)) - set(files))
        envs = sorted(set(self.environments) | set(other.environments))
        summary = "\n".join(s for s in (self.summary, other.summary) if s)
        return ChangeSet(repo=self.repo, files=files, deletes=deletes, title=self.title or other.title,
                         summary=summary, environments=envs, shared=sorted(set(self.shared) | set(other.shared)))


def _check_path(path: str) -> None:
    parts = path.split("/")
    if not path or path.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"change set path {path!r} must be relative, without '..' or empty segments")
