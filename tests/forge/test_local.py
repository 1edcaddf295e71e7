"""LocalForge beyond the contract: layout, merging, no git identity, and concurrent workers."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from provisioners.changeset import ChangeSet
from provisioners.errors import ConflictError, PermanentError
from provisioners.forge.base import ChangeState
from provisioners.forge.local import _PULLS_FILE as PULLS
from provisioners.forge.local import LocalForge

CS = ChangeSet(repo="infra", files={"a.txt": "a\n", "dir/b.txt": "b\n"})


def git(forge: LocalForge, repo: str, *args: str) -> str:
    return subprocess.run(["git", f"--git-dir={forge.repo_path(repo)}", *args], check=True, capture_output=True,
                          text=True).stdout


def test_layout_and_initial_commit_on_the_base_branch(tmp_path: Path) -> None:
    forge = LocalForge(tmp_path)
    change = forge.open_change("acme/infra", "k1", CS, title="t", body="b", base_branch="trunk")
    git_dir = tmp_path / "acme" / "infra.git"
    assert forge.repo_path("acme/infra") == git_dir and (git_dir / "HEAD").exists()
    assert (tmp_path / "acme" / "infra.git.lock").exists() and (git_dir / "launchpad-pulls.json").exists()
    assert change.base_branch == "trunk"
    assert git(forge, "acme/infra", "rev-list", "--count", "trunk").strip() == "1"  # empty initial commit
    log = git(forge, "acme/infra", "log", "-1", "--format=%an <%ae>%n%B", change.head_sha)
    assert log.startswith("LaunchPad <launchpad@localhost>\nt\n") and "LaunchPad-Key: k1" in log
    # a plain git client can clone it
    subprocess.run(["git", "clone", "-q", "-b", change.branch, str(git_dir), str(tmp_path / "clone")], check=True)
    assert (tmp_path / "clone" / "dir" / "b.txt").read_text() == "b\n"


@pytest.mark.parametrize("name", ["", "../x", "a//b", "a/./b", "x.lock"])
def test_bad_repository_names_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(PermanentError):
        LocalForge(tmp_path).repo_path(name)


def test_missing_base_branch_in_an_existing_repository(tmp_path: Path) -> None:
    forge = LocalForge(tmp_path)
    forge.commit_files("infra", {"x": "1\n"})
    with pytest.raises(PermanentError, match="base branch 'develop'"):
        forge.open_change("infra", "k", CS, title="t", body="b", base_branch="develop")


def test_works_without_any_git_identity(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    for var in ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL", "EMAIL"):
        monkeypatch.delenv(var, raising=False)
    forge = LocalForge(tmp_path / "repos")
    assert forge.open_change("infra", "k", CS, title="t", body="b").wrote
    assert forge.merge_change("infra", "k").state == ChangeState.MERGED


def test_merge_after_the_base_moved_makes_a_merge_commit(tmp_path: Path) -> None:
    forge = LocalForge(tmp_path)
    change = forge.open_change("infra", "k", CS, title="t", body="b")
    other = forge.commit_files("infra", {"other.txt": "o\n"})
    merged = forge.merge_change("infra", "k")
    assert merged.wrote and merged.merge_sha is not None
    assert git(forge, "infra", "log", "-1", "--format=%P", merged.merge_sha).split() == [other, change.head_sha]
    assert forge.list_files("infra") == ["a.txt", "dir/b.txt", "other.txt"]
    assert forge.merge_change("infra", "k").wrote is False


class _DiesRecordingTheMerge(LocalForge):
    """Killed after the base moved and before the merge is written down (the crash window of a merge)."""

    def _save_pulls(self, git_dir: Path, pulls: dict[str, object]) -> None:
        if any(p["state"] == ChangeState.MERGED for p in pulls["pulls"]):  # type: ignore[attr-defined]
            os.kill(os.getpid(), signal.SIGKILL)
        super()._save_pulls(git_dir, pulls)


def _merge_and_die(root: str) -> None:
    _DiesRecordingTheMerge(Path(root)).merge_change("infra", "k")


@pytest.mark.parametrize("base_moved", [False, True], ids=["base-unchanged", "base-moved"])
def test_a_merge_killed_before_it_is_recorded_is_recognised_not_repeated(tmp_path: Path, base_moved: bool) -> None:
    forge = LocalForge(tmp_path)
    change = forge.open_change("infra", "k", CS, title="t", body="b")
    if base_moved:
        forge.commit_files("infra", {"other.txt": "o\n"})
    proc = multiprocessing.get_context("fork").Process(target=_merge_and_die, args=(str(tmp_path),))
    proc.start()
    proc.join()
    assert proc.exitcode == -signal.SIGKILL
    moved = git(forge, "infra", "rev-parse", "main").strip()
    assert git(forge, "infra", "log", "-1", "--format=%P", moved).split()[1:] == [change.head_sha]  # merged...
    assert forge.get_change("infra", "k").state == ChangeState.OPEN  # type: ignore[union-attr]  # ...not recorded
    assert "merged" not in (forge.repo_path("infra") / PULLS).read_text()

    merged = forge.merge_change("infra", "k")  # the next worker's attempt
    assert merged.state == ChangeState.MERGED and merged.merge_sha == moved
    assert git(forge, "infra", "rev-parse", "main").strip() == moved  # the base did not move again
    merges = git(forge, "infra", "rev-list", "--merges", "main").split()
    assert merges == [moved]  # one merge commit, not two
    assert forge.merge_change("infra", "k").wrote is False


def test_merge_conflict_is_reported_with_paths(tmp_path: Path) -> None:
    forge = LocalForge(tmp_path)
    forge.commit_files("infra", {"a.txt": "base\n"})
    forge.open_change("infra", "k", CS, title="t", body="b")
    forge.commit_files("infra", {"a.txt": "theirs\n"})
    with pytest.raises(ConflictError) as err:
        forge.merge_change("infra", "k")
    assert err.value.paths == ["a.txt"]


def test_merge_refuses_unknown_and_closed(tmp_path: Path) -> None:
    forge = LocalForge(tmp_path)
    with pytest.raises(PermanentError, match="no pull request"):
        forge.merge_change("infra", "k")
    forge.open_change("infra", "k", CS, title="t", body="b")
    forge.close_change("infra", "k")
    with pytest.raises(PermanentError, match="closed"):
        forge.merge_change("infra", "k")


def test_labels_title_and_body_are_recorded_and_updated(tmp_path: Path) -> None:
    forge = LocalForge(tmp_path)
    forge.open_change("infra", "k", CS, title="t", body="b", labels=["launchpad"])
    again = forge.open_change("infra", "k", CS, title="t2", body="b", labels=["prod"])
    assert again.wrote
    pull = json.loads((forge.repo_path("infra") / "launchpad-pulls.json").read_text())["pulls"][0]
    assert pull["title"] == "t2" and pull["labels"] == ["launchpad", "prod"]


def test_threads_opening_the_same_key_make_one_pull(tmp_path: Path) -> None:
    forge = LocalForge(tmp_path)
    with ThreadPoolExecutor(4) as pool:
        changes = list(pool.map(lambda _: forge.open_change("infra", "k", CS, title="t", body="b"), range(8)))
    assert len({c.number for c in changes}) == 1 and len({c.head_sha for c in changes}) == 1
    assert sum(c.wrote for c in changes) == 1
    assert git(forge, "infra", "rev-list", "--count", "main..launchpad/k").strip() == "1"


def _open_in_process(root: str, key: str) -> int:
    change = LocalForge(Path(root)).open_change("infra", key, CS, title="t", body="b")
    return change.number


def test_processes_opening_keys_at_once_get_distinct_pulls(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    keys = ["k1", "k2", "k1", "k2"]
    with ctx.Pool(2) as pool:
        numbers = pool.starmap(_open_in_process, [(str(tmp_path), k) for k in keys])
    assert numbers[0] == numbers[2] and numbers[1] == numbers[3] and sorted(set(numbers)) == [1, 2]
