"""The one contract every forge keeps (issue 3, acceptance 1), run against each forge in conftest."""

from __future__ import annotations

import pytest

from provisioners.changeset import ChangeSet
from provisioners.errors import ConflictError
from provisioners.forge.base import ChangeState, Forge
from tests.forge.conftest import ForgeHarness

KEY = "req-42/infra"


def changeset(files: dict[str, str] | None = None, deletes: list[str] | None = None) -> ChangeSet:
    return ChangeSet(repo="infra", files=files if files is not None else {
        "devel/ranking/terragrunt.hcl": 'name = "ranking"\n',
        "prod/ranking/terragrunt.hcl": 'name = "ranking"\nreplicas = 3\n',
    }, deletes=deletes or [], environments=["devel", "prod"])


def open_(h: ForgeHarness, cs: ChangeSet | None = None, key: str = KEY, **kw: object):  # type: ignore[no-untyped-def]
    return h.forge.open_change(h.repo, key, cs or changeset(), title="Add ranking", body="what changes",
                               labels=["launchpad"], **kw)  # type: ignore[arg-type]


@pytest.fixture
def h(harness: ForgeHarness) -> ForgeHarness:
    harness.commit({"root.hcl": "remote_state {}\n", "old/thing.hcl": "x = 1\n"})
    return harness


def test_is_a_forge(h: ForgeHarness) -> None:
    assert isinstance(h.forge, Forge)


def test_open_makes_one_branch_one_commit_one_pull(h: ForgeHarness) -> None:
    base = h.tip()
    change = open_(h, changeset(deletes=["old/thing.hcl"]))
    assert change.state == ChangeState.OPEN and change.wrote and change.number >= 1
    assert change.branch == f"launchpad/{KEY}" and change.repo == h.repo and change.url
    assert h.branch_commits(KEY) == 1 and h.pull_count() == 1
    assert h.parent_of(change.head_sha) == base and h.tip(change.branch) == change.head_sha
    assert h.forge.read_file(h.repo, "prod/ranking/terragrunt.hcl", ref=change.branch) == \
        'name = "ranking"\nreplicas = 3\n'
    assert h.forge.list_files(h.repo, ref=change.branch) == [
        "devel/ranking/terragrunt.hcl", "prod/ranking/terragrunt.hcl", "root.hcl"]
    assert h.forge.list_files(h.repo, "old/") == ["old/thing.hcl"]  # base untouched
    assert h.forge.read_file(h.repo, "devel/ranking/terragrunt.hcl") is None
    assert h.forge.get_change(h.repo, KEY) == change.model_copy(update={"wrote": False})


def test_repeat_after_success_writes_nothing(h: ForgeHarness) -> None:
    first = open_(h)
    before = h.state()
    again = open_(h)
    assert not again.wrote and again.number == first.number and again.head_sha == first.head_sha
    assert h.state() == before
    assert h.pull_count() == 1 and h.branch_commits(KEY) == 1


def test_resume_when_branch_was_pushed_but_pull_not_opened(h: ForgeHarness) -> None:
    first = open_(h)
    h.drop_pull(KEY)
    assert h.forge.get_change(h.repo, KEY) is None
    resumed = open_(h)
    assert resumed.wrote and resumed.state == ChangeState.OPEN
    assert resumed.head_sha == first.head_sha  # the pushed commit is reused, not rebuilt
    assert h.pull_count() == 1 and h.branch_commits(KEY) == 1


def test_resume_when_commit_was_made_but_branch_not_moved(h: ForgeHarness) -> None:
    open_(h)
    h.drop_pull(KEY)
    h.drop_branch(KEY)
    resumed = open_(h)
    assert resumed.wrote and resumed.state == ChangeState.OPEN
    assert h.pull_count() == 1 and h.branch_commits(KEY) == 1
    assert f"launchpad/{KEY}" in h.branch_names()
    assert open_(h).wrote is False


def test_base_moved_rebuilds_the_commit_on_the_new_base(h: ForgeHarness) -> None:
    first = open_(h)
    moved = h.commit({"root.hcl": "remote_state { bucket = \"b\" }\n"})
    again = open_(h)
    assert again.wrote and again.number == first.number and again.head_sha != first.head_sha
    assert h.parent_of(again.head_sha) == moved and h.branch_commits(KEY) == 1
    assert h.forge.read_file(h.repo, "root.hcl", ref=again.branch) == "remote_state { bucket = \"b\" }\n"
    assert h.pull_count() == 1
    assert open_(h).wrote is False


def test_someone_else_changing_our_path_is_a_conflict(h: ForgeHarness) -> None:
    first = open_(h)
    h.commit({"prod/ranking/terragrunt.hcl": "name = \"theirs\"\n"})
    with pytest.raises(ConflictError) as err:
        open_(h)
    assert err.value.paths == ["prod/ranking/terragrunt.hcl"]
    assert "prod/ranking/terragrunt.hcl" in str(err.value)
    assert h.tip(first.branch) == first.head_sha  # nothing clobbered


def test_someone_else_writing_the_same_content_is_not_a_conflict(h: ForgeHarness) -> None:
    open_(h)
    h.commit({"prod/ranking/terragrunt.hcl": 'name = "ranking"\nreplicas = 3\n'})
    again = open_(h)
    assert again.wrote and h.branch_commits(KEY) == 1


def test_someone_else_deleting_a_path_we_write_is_a_conflict(h: ForgeHarness) -> None:
    open_(h, changeset({"old/thing.hcl": "x = 2\n"}))
    h.commit({}, deletes=["old/thing.hcl"])
    with pytest.raises(ConflictError) as err:
        open_(h, changeset({"old/thing.hcl": "x = 2\n"}))
    assert err.value.paths == ["old/thing.hcl"]


def test_a_commit_pushed_onto_our_branch_is_not_overwritten(h: ForgeHarness) -> None:
    first = open_(h)
    theirs = h.commit({"notes.md": "hand edit\n"}, branch=first.branch)
    with pytest.raises(ConflictError):
        open_(h, changeset({"devel/ranking/terragrunt.hcl": "changed\n"}))
    assert h.tip(first.branch) == theirs


def test_new_content_for_the_same_key_updates_the_same_pull(h: ForgeHarness) -> None:
    first = open_(h)
    again = open_(h, changeset({"devel/ranking/terragrunt.hcl": "name = \"ranking2\"\n"}))
    assert again.wrote and again.number == first.number and again.head_sha != first.head_sha
    assert h.branch_commits(KEY) == 1 and h.pull_count() == 1
    assert h.forge.list_files(h.repo, "devel/", ref=again.branch) == ["devel/ranking/terragrunt.hcl"]
    assert h.forge.read_file(h.repo, "prod/ranking/terragrunt.hcl", ref=again.branch) is None


def test_delete_paths(h: ForgeHarness) -> None:
    change = open_(h, changeset({}, deletes=["old/thing.hcl", "never/existed.hcl"]))
    assert change.state == ChangeState.OPEN and h.branch_commits(KEY) == 1
    assert h.forge.list_files(h.repo, ref=change.branch) == ["root.hcl"]
    h.merge(KEY)
    assert h.forge.list_files(h.repo) == ["root.hcl"]


def test_nothing_to_change_opens_no_pull(h: ForgeHarness) -> None:
    change = open_(h, changeset({"root.hcl": "remote_state {}\n"}, deletes=["not/here.hcl"]))
    assert change.no_op and change.state == ChangeState.MERGED and not change.wrote
    assert change.merge_sha == h.tip() and change.number == 0
    assert h.pull_count() == 0 and h.forge.get_change(h.repo, KEY) is None
    assert f"launchpad/{KEY}" not in h.branch_names()


def test_close_is_idempotent_and_sticks(h: ForgeHarness) -> None:
    open_(h)
    h.forge.close_change(h.repo, KEY)
    h.forge.close_change(h.repo, KEY)
    closed = h.forge.get_change(h.repo, KEY)
    assert closed is not None and closed.state == ChangeState.CLOSED
    before = h.state()
    again = open_(h)
    assert again.state == ChangeState.CLOSED and not again.wrote and h.state() == before
    h.forge.close_change(h.repo, "never-opened")


def test_state_after_merge(h: ForgeHarness) -> None:
    first = open_(h)
    h.merge(KEY)
    merged = h.forge.get_change(h.repo, KEY)
    assert merged is not None and merged.state == ChangeState.MERGED and merged.number == first.number
    assert merged.merge_sha == h.tip()
    assert h.forge.read_file(h.repo, "devel/ranking/terragrunt.hcl") == 'name = "ranking"\n'
    before = h.state()
    again = open_(h)
    assert again.state == ChangeState.MERGED and not again.wrote and h.state() == before
    h.forge.close_change(h.repo, KEY)  # closing a merged change is a no-op
    after = h.forge.get_change(h.repo, KEY)
    assert after is not None and after.state == ChangeState.MERGED


def test_unknown_things_are_none_or_empty(h: ForgeHarness) -> None:
    assert h.forge.get_change(h.repo, "nope") is None
    assert h.forge.read_file(h.repo, "missing.txt") is None
    assert h.forge.list_files(h.repo, "missing/") == []
    assert h.forge.list_files(h.repo, "", ref="no-such-branch") == []
    assert h.forge.read_file(h.repo, "root.hcl", ref="no-such-branch") is None


def test_two_keys_are_two_pulls(h: ForgeHarness) -> None:
    a = open_(h, key="req-1/infra")
    b = open_(h, changeset({"x.txt": "x\n"}), key="req-2/infra")
    assert a.number != b.number and a.branch != b.branch and h.pull_count() == 2
