"""The embedded forge: bare git repositories on disk, with pull-request records beside the refs.

Layout under `root`: repository `infra` is the bare repository `root/infra.git`, `acme/infra` is
`root/acme/infra.git`; its pull requests live in `launchpad-pulls.json` inside that directory, and
`root/acme/infra.git.lock` is the per-repository file lock that serialises worker processes.
It builds commits with git plumbing (hash-object, a private index, write-tree, commit-tree,
update-ref) so no working tree is ever touched, and it follows GitHub's semantics exactly (same
branch, one commit on the base, one pull request, same idempotency and conflict rules, see
`delivery.py`). It never decides what to write, and it never reads git configuration of the user
running it.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from provisioners.changeset import ChangeSet
from provisioners.errors import ConflictError, PermanentError
from provisioners.forge import jsonfile
from provisioners.forge.base import Change, ChangeState, CheckRun, PipelineJob, PipelineRun, branch_for
from provisioners.forge.delivery import (
    FILE_MODE,
    commit_message,
    conflict_message,
    conflicting_paths,
    foreign_commit_message,
    is_current,
    no_op_change,
    read_mark,
)
from provisioners.forge.local_pipeline import LocalPipeline

_ZERO = "0" * 40
_PULLS_FILE = "launchpad-pulls.json"
_SCRUBBED_ENV = ("GIT_DIR", "GIT_INDEX_FILE", "GIT_WORK_TREE", "GIT_OBJECT_DIRECTORY", "GIT_NAMESPACE",
                 "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_CEILING_DIRECTORIES")


class LocalForge:
    """Forge over bare git repositories under `root`; safe across threads and processes."""

    def __init__(self, root: Path, *, author_name: str = "LaunchPad",
                 author_email: str = "launchpad@localhost") -> None:
        self.root = Path(root).absolute()  # git runs with cwd=<repo>.git: a relative --git-dir would not resolve
        env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED_ENV}
        env.update({
            "GIT_AUTHOR_NAME": author_name, "GIT_AUTHOR_EMAIL": author_email,
            "GIT_COMMITTER_NAME": author_name, "GIT_COMMITTER_EMAIL": author_email,
            "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull, "GIT_TERMINAL_PROMPT": "0",
            "LC_ALL": "C",
        })
        self._env = env
        self.pipeline = LocalPipeline(self)  # runs the infra pipeline as GitHub Actions would

    # --- the Forge protocol --------------------------------------------------------------------

    def open_change(self, repo: str, key: str, changeset: ChangeSet, *, title: str, body: str,
                    labels: list[str] | None = None, base_branch: str = "main") -> Change:
        git_dir = self.repo_path(repo)
        branch = branch_for(key)
        with self._locked(git_dir):
            self._ensure_repo(git_dir, base_branch)
            pulls = self._load_pulls(git_dir)
            pull = _find_pull(pulls, key)
            if pull is not None and pull["state"] != ChangeState.OPEN:
                return self._change(repo, git_dir, pull, wrote=False)
            base_sha = self._rev(git_dir, f"refs/heads/{base_branch}")
            if base_sha is None:
                raise PermanentError(f"{repo}: base branch {base_branch!r} does not exist; create it or "
                                     "set the repository's base branch in the platform settings")
            head_sha = self._rev(git_dir, f"refs/heads/{branch}")
            target = self._reusable_head(git_dir, repo, key, changeset, base_sha, head_sha)
            wrote = False
            if target is None:
                tree = self._build_tree(git_dir, base_sha, changeset)
                if pull is None and tree == self._tree_of(git_dir, base_sha):
                    return no_op_change(repo, key, base_branch, base_sha)
                target = self._git(git_dir, "commit-tree", tree, "-p", base_sha,
                                   input=commit_message(title, key, changeset)).strip()
                self._git(git_dir, "update-ref", f"refs/heads/{branch}", target, head_sha or _ZERO)
                wrote = True
            labels = sorted(set(labels or []))
            if pull is None:
                pull = {"number": pulls["next"], "key": key, "branch": branch, "base_branch": base_branch,
                        "title": title, "body": body, "labels": labels, "state": ChangeState.OPEN.value,
                        "head_sha": target, "merge_sha": None, "created_at": _now()}
                pulls["next"] += 1
                pulls["pulls"].append(pull)
                wrote = True
            else:
                new = {"title": title, "body": body, "head_sha": target,
                       "labels": sorted(set(pull["labels"]) | set(labels))}
                if any(pull[k] != v for k, v in new.items()):
                    pull.update(new)
                    wrote = True
            if wrote:
                self._save_pulls(git_dir, pulls)
            change = self._change(repo, git_dir, pull, wrote=wrote)
        if wrote:  # a pull request opened or moved: its checks run (outside the lock, as a CI would)
            self.pipeline.on_pull(repo, change.number, base_sha, change.head_sha)
        return change

    def get_change(self, repo: str, key: str) -> Change | None:
        git_dir = self.repo_path(repo)
        if not (git_dir / "HEAD").exists():
            return None
        with self._locked(git_dir):
            pull = _find_pull(self._load_pulls(git_dir), key)
            return None if pull is None else self._change(repo, git_dir, pull, wrote=False)

    def close_change(self, repo: str, key: str) -> None:
        git_dir = self.repo_path(repo)
        if not (git_dir / "HEAD").exists():
            return
        with self._locked(git_dir):
            pulls = self._load_pulls(git_dir)
            pull = _find_pull(pulls, key)
            if pull is not None and pull["state"] == ChangeState.OPEN:
                pull["state"] = ChangeState.CLOSED.value
                self._save_pulls(git_dir, pulls)

    def read_file(self, repo: str, path: str, ref: str = "main") -> str | None:
        git_dir = self.repo_path(repo)
        if not (git_dir / "HEAD").exists():
            return None
        result = self._run(git_dir, "cat-file", "blob", f"{ref}:{path}", check=False)
        return result.stdout.decode("utf-8") if result.returncode == 0 else None

    def list_files(self, repo: str, prefix: str = "", ref: str = "main") -> list[str]:
        """Paths on `ref` starting with `prefix` (a plain string prefix: pass 'dir/' for a directory)."""
        git_dir = self.repo_path(repo)
        if not (git_dir / "HEAD").exists():
            return []
        result = self._run(git_dir, "ls-tree", "-r", "-z", "--name-only", ref, check=False)
        if result.returncode != 0:
            return []
        paths = [p for p in result.stdout.decode("utf-8").split("\0") if p]
        return sorted(p for p in paths if p.startswith(prefix))

    # --- the infra pipeline (local_pipeline.py runs it) ---------------------------------------------

    def checks(self, repo: str, sha: str) -> list[CheckRun]:
        return self.pipeline.checks(repo, sha)

    def pipeline_runs(self, repo: str, workflow: str, sha: str) -> list[PipelineRun]:
        return self.pipeline.runs(repo, workflow, sha)

    def pipeline_jobs(self, repo: str, run_id: int) -> list[PipelineJob]:
        return self.pipeline.jobs(repo, run_id)

    def job_log(self, repo: str, job_id: int) -> str:
        return self.pipeline.log(repo, job_id)

    def rerun_failed_jobs(self, repo: str, run_id: int) -> None:
        self.pipeline.rerun_failed_jobs(repo, run_id)

    def find_comment(self, repo: str, number: int, marker: str) -> str | None:
        return self.pipeline.comment(repo, number, marker)

    # --- beyond the protocol: what the demo and tests need -------------------------------------

    def merge_change(self, repo: str, key: str) -> Change:
        """Merge the open pull request with a merge commit on its base (what a reviewer's click does).

        The base moves before the pull request is recorded as merged; a process that dies between the two
        leaves a base that already holds the merge, which the next call recognises and records instead of
        merging a second time."""
        git_dir = self.repo_path(repo)
        with self._locked(git_dir):
            pulls = self._load_pulls(git_dir) if (git_dir / "HEAD").exists() else {"pulls": []}
            pull = _find_pull(pulls, key)
            if pull is None:
                raise PermanentError(f"{repo}: no pull request for launchpad/{key} to merge")
            if pull["state"] == ChangeState.MERGED:
                return self._change(repo, git_dir, pull, wrote=False)
            if pull["state"] == ChangeState.CLOSED:
                raise PermanentError(f"{repo}: pull request #{pull['number']} is closed; reopen it before merging")
            base_ref = f"refs/heads/{pull['base_branch']}"
            base_sha = self._rev(git_dir, base_ref)
            head_sha = pull["head_sha"]
            if base_sha is None:
                raise PermanentError(f"{repo}: base branch {pull['base_branch']!r} disappeared")
            merged = self._merged_into(git_dir, base_sha, head_sha)
            if merged is not None:
                pull.update(state=ChangeState.MERGED.value, merge_sha=merged, merged_at=_now())
                self._save_pulls(git_dir, pulls)
                return self._change(repo, git_dir, pull, wrote=True)
            if self._parents(git_dir, head_sha)[:1] == [base_sha]:
                tree = self._tree_of(git_dir, head_sha)
            else:
                result = self._run(git_dir, "merge-tree", "--write-tree", "--name-only", base_sha, head_sha,
                                   check=False)
                lines = result.stdout.decode("utf-8").splitlines()
                if result.returncode != 0:
                    paths = sorted(set(lines[1:lines.index("")] if "" in lines else lines[1:]))
                    raise ConflictError(f"{repo}: pull request #{pull['number']} conflicts with "
                                        f"{pull['base_branch']}: {', '.join(paths)}", paths)
                tree = lines[0].strip()
            message = f"Merge pull request #{pull['number']} from {pull['branch']}\n\n{pull['title']}\n"
            merge_sha = self._git(git_dir, "commit-tree", tree, "-p", base_sha, "-p", head_sha, input=message).strip()
            self._git(git_dir, "update-ref", base_ref, merge_sha, base_sha)
            pull.update(state=ChangeState.MERGED.value, merge_sha=merge_sha, merged_at=_now())
            self._save_pulls(git_dir, pulls)
            change = self._change(repo, git_dir, pull, wrote=True)
        self.pipeline.on_push(repo, base_sha, merge_sha)  # the push to the base branch runs the apply
        return change

    def commit_files(self, repo: str, files: dict[str, str], deletes: list[str] | None = None, *,
                     message: str = "Update files", branch: str = "main") -> str:
        """Commit straight onto `branch` (creating the repository if needed), as a person would:
        seeds the demo's repositories and moves the base under an open change in tests."""
        git_dir = self.repo_path(repo)
        changeset = ChangeSet(repo=repo, files=files, deletes=deletes or [])
        with self._locked(git_dir):
            self._ensure_repo(git_dir, branch)
            ref = f"refs/heads/{branch}"
            parent = self._rev(git_dir, ref)
            if parent is None:
                raise PermanentError(f"{repo}: branch {branch!r} does not exist")
            tree = self._build_tree(git_dir, parent, changeset)
            sha = self._git(git_dir, "commit-tree", tree, "-p", parent, input=message + "\n").strip()
            self._git(git_dir, "update-ref", ref, sha, parent)
            return sha

    def repo_path(self, repo: str) -> Path:
        parts = repo.strip("/").split("/")
        if not repo or any(p in ("", ".", "..") or p.endswith(".lock") for p in parts):
            raise PermanentError(f"repository name {repo!r} must be 'name' or 'owner/name'")
        return self.root.joinpath(*parts[:-1], parts[-1] + ".git")

    # --- internals --------------------------------------------------------------------------------

    def _reusable_head(self, git_dir: Path, repo: str, key: str, changeset: ChangeSet, base_sha: str,
                       head_sha: str | None) -> str | None:
        """The existing branch head when it already is our commit on this base; raise on conflicts."""
        if head_sha is None:
            return None
        message = self._git(git_dir, "log", "-1", "--format=%B", head_sha)
        parents = self._parents(git_dir, head_sha)
        if read_mark(message).key != key or len(parents) != 1:
            raise ConflictError(foreign_commit_message(repo, key, head_sha), [])
        branch_point = parents[0]
        if is_current(message, branch_point, key, changeset, base_sha):
            return head_sha
        if branch_point != base_sha:
            changed = self._changed_paths(git_dir, branch_point, base_sha)
            conflicts = conflicting_paths(changeset, changed)
            if conflicts:
                raise ConflictError(conflict_message(repo, key, conflicts), conflicts)
        return None

    def _merged_into(self, git_dir: Path, base_sha: str, head_sha: str) -> str | None:
        """The commit that brought `head_sha` into the base (our merge commit, or the head itself when the
        base was moved onto it by hand), or None when the base does not contain it yet."""
        if head_sha == base_sha:
            return head_sha
        if self._run(git_dir, "merge-base", "--is-ancestor", head_sha, base_sha, check=False).returncode != 0:
            return None
        merges = self._git(git_dir, "rev-list", "--reverse", "--merges", "--parents", "--ancestry-path",
                            f"{head_sha}..{base_sha}")
        for line in merges.splitlines():
            sha, *parents = line.split()
            if parents[1:2] == [head_sha]:
                return sha
        return head_sha

    def _changed_paths(self, git_dir: Path, old: str, new: str) -> dict[str, str | None]:
        out = self._git(git_dir, "diff-tree", "-r", "-z", "--no-renames", old, new)
        fields = out.split("\0")
        changed: dict[str, str | None] = {}
        for meta, path in zip(fields[0::2], fields[1::2], strict=False):
            if not meta.startswith(":"):
                continue
            _, _, _, new_sha, status = meta[1:].split(" ")
            changed[path] = None if status.startswith("D") else new_sha
        return changed

    def _build_tree(self, git_dir: Path, base_sha: str, changeset: ChangeSet) -> str:
        with tempfile.TemporaryDirectory(prefix="launchpad-index-") as tmp:
            env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
            self._git(git_dir, "read-tree", base_sha, env=env)
            lines = []
            for path, content in sorted(changeset.files.items()):
                sha = self._git(git_dir, "hash-object", "-w", "--stdin", input=content).strip()
                lines.append(f"{FILE_MODE} {sha}\t{path}\n")
            lines += [f"0 {_ZERO}\t{path}\n" for path in changeset.deletes if path not in changeset.files]
            if lines:
                self._git(git_dir, "update-index", "--index-info", input="".join(lines), env=env)
            return self._git(git_dir, "write-tree", env=env).strip()

    def _ensure_repo(self, git_dir: Path, base_branch: str) -> None:
        if not (git_dir / "HEAD").exists():
            git_dir.parent.mkdir(parents=True, exist_ok=True)
            result = subprocess.run(["git", "init", "--quiet", "--bare", f"--initial-branch={base_branch}",
                                     str(git_dir)], env=self._env, capture_output=True, check=False)
            if result.returncode != 0:
                raise PermanentError(f"git init failed for {git_dir.name}: {result.stderr.decode(errors='replace')}")
        if self._git(git_dir, "for-each-ref", "--count=1", "refs/heads/").strip():
            return
        empty_tree = self._git(git_dir, "mktree", input="").strip()
        first = self._git(git_dir, "commit-tree", empty_tree, input="Initial commit\n").strip()
        self._git(git_dir, "update-ref", f"refs/heads/{base_branch}", first, _ZERO)

    def _rev(self, git_dir: Path, ref: str) -> str | None:
        result = self._run(git_dir, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", check=False)
        return result.stdout.decode().strip() if result.returncode == 0 else None

    def _parents(self, git_dir: Path, sha: str) -> list[str]:
        return self._git(git_dir, "log", "-1", "--format=%P", sha).split()

    def _tree_of(self, git_dir: Path, sha: str) -> str:
        return self._git(git_dir, "rev-parse", f"{sha}^{{tree}}").strip()

    def _change(self, repo: str, git_dir: Path, pull: dict[str, Any], *, wrote: bool) -> Change:
        return Change(repo=repo, key=pull["key"], branch=pull["branch"], number=pull["number"],
                      url=f"{git_dir.as_uri()}#pull/{pull['number']}", state=ChangeState(pull["state"]),
                      head_sha=pull["head_sha"], base_branch=pull["base_branch"], merge_sha=pull["merge_sha"],
                      wrote=wrote)

    def _load_pulls(self, git_dir: Path) -> dict[str, Any]:
        return jsonfile.read(git_dir / _PULLS_FILE, {"next": 1, "pulls": []})

    def _save_pulls(self, git_dir: Path, pulls: dict[str, Any]) -> None:
        jsonfile.write(git_dir / _PULLS_FILE, pulls)

    @contextmanager
    def _locked(self, git_dir: Path) -> Iterator[None]:
        git_dir.parent.mkdir(parents=True, exist_ok=True)
        with open(git_dir.with_name(git_dir.name + ".lock"), "a+b") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _git(self, git_dir: Path, *args: str, input: str | None = None, env: dict[str, str] | None = None) -> str:
        return self._run(git_dir, *args, input=input, env=env).stdout.decode("utf-8")

    def _run(self, git_dir: Path, *args: str, input: str | None = None, env: dict[str, str] | None = None,
             check: bool = True) -> subprocess.CompletedProcess[bytes]:
        result = subprocess.run(["git", f"--git-dir={git_dir}", *args], cwd=git_dir,
                                input=None if input is None else input.encode("utf-8"),
                                env={**self._env, **(env or {})}, capture_output=True, check=False)
        if check and result.returncode != 0:
            detail = result.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no output"]
            raise PermanentError(f"git {args[0]} failed in {git_dir.name}: {detail[0]}")
        return result


def _find_pull(pulls: dict[str, Any], key: str) -> dict[str, Any] | None:
    return next((p for p in pulls["pulls"] if p["key"] == key), None)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
