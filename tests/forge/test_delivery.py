"""The pure delivery rules both forges share."""

from __future__ import annotations

import subprocess

from provisioners.changeset import ChangeSet
from provisioners.forge.delivery import (
    blob_sha,
    commit_message,
    conflicting_paths,
    fingerprint,
    is_current,
    pull_request_body,
    read_mark,
)

CS = ChangeSet(repo="infra", files={"devel/svc/a.hcl": "a\n", "prod/svc/a.hcl": "p\n", "root.hcl": "r\n"},
               deletes=["prod/old/b.hcl"], environments=["devel", "prod"], summary="Adds **svc**.")


def test_blob_sha_is_what_git_computes() -> None:
    out = subprocess.run(["git", "hash-object", "--stdin"], input="héllo\n".encode(), capture_output=True, check=True)
    assert blob_sha("héllo\n") == out.stdout.decode().strip()


def test_fingerprint_depends_on_content_only() -> None:
    same = ChangeSet(repo="other", files=dict(reversed(list(CS.files.items()))), deletes=CS.deletes, title="x")
    assert fingerprint(same) == fingerprint(CS)
    assert fingerprint(CS.model_copy(update={"files": {**CS.files, "root.hcl": "changed\n"}})) != fingerprint(CS)


def test_commit_message_carries_key_and_content() -> None:
    message = commit_message("Add svc\nsecond line", "req-1/infra", CS)
    assert message.startswith("Add svc\n\n")
    mark = read_mark(message)
    assert mark.key == "req-1/infra" and mark.content == fingerprint(CS)
    assert is_current(message, "base", "req-1/infra", CS, "base")
    assert not is_current(message, "old-base", "req-1/infra", CS, "base")
    assert not is_current(message, "base", "req-2/infra", CS, "base")
    assert read_mark("a hand-written commit\n").key == ""


def test_conflicts_are_paths_where_the_base_now_differs_from_what_we_write() -> None:
    changed = {"devel/svc/a.hcl": blob_sha("a\n"), "prod/svc/a.hcl": blob_sha("theirs\n"),
               "prod/old/b.hcl": blob_sha("edited\n"), "unrelated.txt": None, "root.hcl": None}
    assert conflicting_paths(CS, changed) == ["prod/old/b.hcl", "prod/svc/a.hcl", "root.hcl"]
    assert conflicting_paths(CS, {"prod/old/b.hcl": None}) == []


def test_pull_request_body_lists_changes_per_environment_and_links_the_request() -> None:
    body = pull_request_body(CS, request_url="https://slack.example/r/1", request_label="request #1")
    assert body.startswith("Adds **svc**.\n\n### What changes\n")
    assert body.index("**devel** (1 file)") < body.index("- `devel/svc/a.hcl`") < body.index("**prod** (2 files)")
    assert "- ~~`prod/old/b.hcl`~~ (deleted)" in body and "**shared** (1 file)\n- `root.hcl`" in body
    assert body.endswith("[request #1](https://slack.example/r/1)\n")
    many = ChangeSet(repo="infra", files={f"devel/f{i}.hcl": "" for i in range(50)}, environments=["devel"])
    assert "- … and 10 more" in pull_request_body(many)
