"""The pure rules both forges share: what a LaunchPad commit says, how a repeat recognises its own work,
and when a moved base branch is a conflict.

Nothing here talks to git or GitHub; `local.py` and `github.py` feed it what they read and act on
its answers, so the two forges cannot drift apart on idempotency or conflict semantics.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from provisioners.changeset import ChangeSet
from provisioners.forge.base import Change, ChangeState, branch_for

KEY_TRAILER = "LaunchPad-Key"
CONTENT_TRAILER = "LaunchPad-Content"
FILE_MODE = "100644"


def fingerprint(changeset: ChangeSet) -> str:
    """A digest of what the change set writes and deletes; stored in the commit so a repeat can tell
    "already done" from "the request changed" without reading every file back."""
    data = json.dumps({"files": sorted(changeset.files.items()), "deletes": sorted(changeset.deletes)},
                      separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(data.encode("utf-8")).hexdigest()


def blob_sha(content: str) -> str:
    """The git object id of a file with this content (what both git and GitHub report for it)."""
    data = content.encode("utf-8")
    return hashlib.sha1(b"blob %d\x00" % len(data) + data, usedforsecurity=False).hexdigest()


def commit_message(title: str, key: str, changeset: ChangeSet) -> str:
    """The single commit's message: the PR title, then trailers that identify our own work."""
    headline = (title or changeset.title or f"LaunchPad change {key}").splitlines()[0]
    return f"{headline}\n\n{KEY_TRAILER}: {key}\n{CONTENT_TRAILER}: {fingerprint(changeset)}\n"


@dataclass(frozen=True)
class CommitMark:
    """What a branch head commit says about itself (empty strings when it is not ours)."""

    key: str
    content: str


def read_mark(message: str) -> CommitMark:
    key = content = ""
    for line in message.splitlines():
        name, sep, value = line.partition(":")
        if not sep:
            continue
        if name.strip() == KEY_TRAILER:
            key = value.strip()
        elif name.strip() == CONTENT_TRAILER:
            content = value.strip()
    return CommitMark(key=key, content=content)


def is_current(message: str, parent: str, key: str, changeset: ChangeSet, base_sha: str) -> bool:
    """True when the branch head already is our one commit for this exact content on this base."""
    mark = read_mark(message)
    return mark.key == key and mark.content == fingerprint(changeset) and parent == base_sha


def conflicting_paths(changeset: ChangeSet, changed_on_base: dict[str, str | None]) -> list[str]:
    """Paths someone else changed on the base since our branch point, where the base's new content
    differs from what we would write (or delete). `changed_on_base` maps path -> blob sha at the
    base tip (None: deleted there). Identical content on both sides is agreement, not a conflict."""
    conflicts = []
    for path, base_blob in changed_on_base.items():
        if path in changeset.files:
            if base_blob != blob_sha(changeset.files[path]):
                conflicts.append(path)
        elif path in changeset.deletes and base_blob is not None:
            conflicts.append(path)
    return sorted(conflicts)


def conflict_message(repo: str, key: str, paths: list[str]) -> str:
    shown = ", ".join(paths[:10]) + (f" and {len(paths) - 10} more" if len(paths) > 10 else "")
    return (f"{repo}: someone changed {shown} on the base branch after LaunchPad opened launchpad/{key}; "
            "review their change, then retry the request to rebuild the pull request on top of it "
            "(or close the pull request)")


def foreign_commit_message(repo: str, key: str, head_sha: str) -> str:
    return (f"{repo}: branch launchpad/{key} has a commit LaunchPad did not make ({head_sha[:12]}); "
            "merge or close that pull request by hand - LaunchPad will not overwrite it")


def no_op_change(repo: str, key: str, base_branch: str, base_sha: str) -> Change:
    """The base already holds exactly this content: no pull request is opened, and the change reads as
    merged at the base commit (number 0, `Change.no_op`), so the workflow can treat delivery as done."""
    return Change(repo=repo, key=key, branch=branch_for(key), number=0, url="", state=ChangeState.MERGED,
                  head_sha=base_sha, base_branch=base_branch, merge_sha=base_sha, wrote=False)


def pull_request_body(changeset: ChangeSet, *, request_url: str = "", request_label: str = "this request",
                      max_paths_per_group: int = 40) -> str:
    """The PR description: the change set's summary, then what it writes and deletes per environment
    (a path belongs to an environment when one of its directories is named after it), then a link
    back to the request. Pure, so the workflow can show the same text in Slack."""
    envs = list(changeset.environments)
    groups: dict[str, list[str]] = {env: [] for env in envs}
    groups["shared"] = []
    for path in changeset.paths:
        directories = path.split("/")[:-1]
        env = next((e for e in envs if e in directories), "shared")
        groups[env].append(f"- `{path}`" if path in changeset.files else f"- ~~`{path}`~~ (deleted)")
    sections = [changeset.summary.strip()] if changeset.summary.strip() else []
    listing = ["### What changes"]
    for env, entries in groups.items():
        if entries:
            more = len(entries) - max_paths_per_group
            listing.append(f"\n**{env}** ({len(entries)} file{'' if len(entries) == 1 else 's'})")
            listing += entries[:max_paths_per_group] + ([f"- … and {more} more"] if more > 0 else [])
    sections.append("\n".join(listing))
    if request_url:
        sections.append(f"Requested through LaunchPad: [{request_label}]({request_url})")
    return "\n\n".join(sections) + "\n"
