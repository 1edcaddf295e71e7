"""What the GitHub forge asks GitHub's GraphQL API, how it reads the answers, and what it writes next.

Pure: documents and variables in, parsed state and a `Plan` out; `github.GitHubForge` sends them. One
query (`LaunchPadChange`) reads everything a delivery decides on: the repository id, the base branch's
commit and tree, the blob of every path the change set touches on the base and on our branch point,
the `launchpad/<key>` branch (its head commit, and how many commits it has that the base lacks), and
the pull requests from that branch. `plan_delivery` turns that into the mutation fields to send in one
document, in order (createRef, createCommitOnBranch, createPullRequest; or updateRef / updatePullRequest
on a resume), or into "nothing to do", "no-op" or a `ConflictError`, keeping the same rules as the REST
path (`delivery.py`): a repeat writes nothing, a partial run is finished, a moved base rebuilds the one
commit unless someone changed a path we write, and a commit we did not make is never overwritten.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from provisioners.changeset import ChangeSet
from provisioners.errors import ConflictError
from provisioners.forge.base import ChangeState, branch_for
from provisioners.forge.delivery import (
    blob_sha,
    commit_message,
    conflict_message,
    conflicting_paths,
    foreign_commit_message,
    is_current,
    read_mark,
)

PATHS_PER_QUERY = 250  # blob lookups per query (two aliases each); larger change sets are delivered over REST
PULL_FIELDS = ("id number url state title body headRefName headRefOid baseRefName isCrossRepository "
               "mergeCommit { oid } labels(first: 100) { nodes { name } }")
# headRefName matches pull requests from forks too (GitHub ignores the head repository): read enough of them
# that a crowd of fork PRs on our branch name cannot push ours out of the page, and keep only our own.
_PULLS = ("pullRequests(headRefName: $branch, first: 100, states: [OPEN, CLOSED, MERGED], "
          f"orderBy: {{field: CREATED_AT, direction: DESC}}) {{ nodes {{ {PULL_FIELDS} }} }}")

PULL_QUERY = f"""query LaunchPadPull($owner: String!, $name: String!, $branch: String!) {{
  repository(owner: $owner, name: $name) {{ {_PULLS} }}
}}"""

_SELECTIONS = {
    "createRef": "ref { id }",
    "updateRef": "ref { id }",
    "createCommitOnBranch": "commit { oid }",
    "createPullRequest": f"pullRequest {{ {PULL_FIELDS} }}",
    "updatePullRequest": f"pullRequest {{ {PULL_FIELDS} }}",
    "closePullRequest": f"pullRequest {{ {PULL_FIELDS} }}",
    "mergePullRequest": f"pullRequest {{ {PULL_FIELDS} }}",
}


# --- what GitHub says ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Pull:
    id: str
    number: int
    url: str
    state: ChangeState
    title: str
    body: str
    branch: str
    head_oid: str
    base_branch: str
    merge_oid: str | None
    labels: tuple[str, ...]
    cross_repository: bool = False  # opened from a fork: never LaunchPad's, whatever its branch is called


@dataclass(frozen=True)
class Head:
    """The `launchpad/<key>` branch: its head commit and the blobs of our paths at that commit's parent."""

    ref_id: str
    oid: str
    message: str
    parents: tuple[str, ...]
    own_commits: int | None  # commits on the branch that the base lacks (None: GitHub could not compare)
    parent_files: dict[str, str | None] = field(default_factory=dict)


@dataclass(frozen=True)
class RepoState:
    repository_id: str
    base_oid: str
    base_tree: str
    base_files: dict[str, str | None]  # path -> blob oid on the base tip (None: absent)
    head: Head | None
    pulls: tuple[Pull, ...]


def read_pull(node: dict[str, Any]) -> Pull:
    state = {"OPEN": ChangeState.OPEN, "MERGED": ChangeState.MERGED}.get(str(node["state"]), ChangeState.CLOSED)
    labels = (node.get("labels") or {}).get("nodes") or []
    return Pull(id=node["id"], number=int(node["number"]), url=node["url"], state=state, title=node["title"],
                body=node.get("body") or "", branch=node["headRefName"], head_oid=node["headRefOid"],
                base_branch=node["baseRefName"], merge_oid=(node.get("mergeCommit") or {}).get("oid"),
                labels=tuple(label["name"] for label in labels if label),
                cross_repository=bool(node.get("isCrossRepository", False)))


def read_pulls(repository: dict[str, Any]) -> tuple[Pull, ...]:
    """The branch's pull requests whose head is in this repository: `pullRequests(headRefName:)` also
    returns pull requests opened from forks on a branch of the same name, which LaunchPad must never
    adopt (update, label, report as merged or close)."""
    pulls = (read_pull(n) for n in (repository.get("pullRequests") or {}).get("nodes") or [] if n)
    return tuple(p for p in pulls if not p.cross_repository)


def choose_pull(pulls: Sequence[Pull]) -> Pull | None:
    """The open pull request of the branch, else its most recent one (pulls come newest first)."""
    return next((p for p in pulls if p.state == ChangeState.OPEN), pulls[0] if pulls else None)


# --- documents ----------------------------------------------------------------------------------


def _file_fields(count: int, offset: int = 0) -> str:
    return " ".join(f"f{i}: file(path: $p{i + offset}) {{ oid }}" for i in range(count))


def _path_variables(paths: Sequence[str], offset: int = 0) -> str:
    return "".join(f", $p{i + offset}: String!" for i in range(len(paths)))


def state_query(paths: Sequence[str]) -> str:
    """`LaunchPadChange`: everything a delivery decides on, for the first PATHS_PER_QUERY paths."""
    files = _file_fields(min(len(paths), PATHS_PER_QUERY))
    return f"""query LaunchPadChange($owner: String!, $name: String!, $base: String!, $head: String!,
    $branch: String!{_path_variables(paths[:PATHS_PER_QUERY])}) {{
  repository(owner: $owner, name: $name) {{
    id
    base: ref(qualifiedName: $base) {{
      target {{ oid ... on Commit {{ tree {{ oid }} {files} }} }}
      compare(headRef: $branch) {{ aheadBy }}
    }}
    head: ref(qualifiedName: $head) {{
      id
      target {{ oid ... on Commit {{ message parents(first: 2) {{ nodes {{ oid {files} }} }} }} }}
    }}
    {_PULLS}
  }}
}}"""


def state_variables(repo: str, base_branch: str, key: str, paths: Sequence[str]) -> dict[str, Any]:
    owner, name = repo.split("/", 1)
    branch = branch_for(key)
    variables: dict[str, Any] = {"owner": owner, "name": name, "base": f"refs/heads/{base_branch}",
                                 "head": f"refs/heads/{branch}", "branch": branch}
    variables.update({f"p{i}": path for i, path in enumerate(paths[:PATHS_PER_QUERY])})
    return variables


def read_files(commit: dict[str, Any] | None, paths: Sequence[str]) -> dict[str, str | None]:
    """Blob oids of one chunk of paths (aliases f0, f1, ... in chunk order) at one commit."""
    commit = commit or {}
    return {path: (commit.get(f"f{i}") or {}).get("oid") for i, path in enumerate(paths)}


def read_state(repository: dict[str, Any], paths: Sequence[str]) -> RepoState:
    """The `LaunchPadChange` answer (repository and base branch known to exist) as a RepoState."""
    base = repository["base"]
    target = base["target"]
    first = paths[:PATHS_PER_QUERY]
    head: Head | None = None
    ref = repository.get("head")
    if ref and ref.get("target"):
        commit = ref["target"]
        nodes = [n for n in (commit.get("parents") or {}).get("nodes") or [] if n]
        compare = base.get("compare")
        head = Head(ref_id=ref["id"], oid=commit["oid"], message=commit.get("message") or "",
                    parents=tuple(n["oid"] for n in nodes),
                    own_commits=None if compare is None else int(compare["aheadBy"]),
                    parent_files=read_files(nodes[0], first) if len(nodes) == 1 else {})
    return RepoState(repository_id=repository["id"], base_oid=target["oid"], base_tree=target["tree"]["oid"],
                     base_files=read_files(target, first), head=head, pulls=read_pulls(repository))


@dataclass(frozen=True)
class Step:
    """One mutation field and its input."""

    field: str
    input: dict[str, Any]


def mutation(steps: Sequence[Step], name: str = "LaunchPadDeliver") -> tuple[str, dict[str, Any]]:
    """One document running `steps` in order (each field at most once), and its variables."""
    variables = ", ".join(f"${s.field}: {s.field[:1].upper()}{s.field[1:]}Input!" for s in steps)
    fields = "\n".join(f"  {s.field}(input: ${s.field}) {{ {_SELECTIONS[s.field]} }}" for s in steps)
    return f"mutation {name}({variables}) {{\n{fields}\n}}", {s.field: s.input for s in steps}


def error_text(errors: Sequence[dict[str, Any]]) -> str:
    return "; ".join(str(e.get("message") or e.get("type") or "error") for e in errors)[:300]


def rate_limit(errors: Sequence[dict[str, Any]]) -> str | None:
    """'primary' or 'secondary' when GitHub's (HTTP 200) errors say a rate limit stopped the request.

    Shapes seen and documented: `{"type": "RATE_LIMITED"}`; `{"type": "RATE_LIMIT", "code":
    "graphql_rate_limit"}`; a secondary limit as a message only ("You have exceeded a secondary rate
    limit..."); a primary one as a message only ("API rate limit exceeded / already exceeded...")."""
    kind: str | None = None
    for error in errors:
        message = str(error.get("message") or "").lower()
        if "secondary rate limit" in message or "abuse" in message:
            return "secondary"
        typed = str(error.get("type") or "").upper() in ("RATE_LIMITED", "RATE_LIMIT")
        if typed or str(error.get("code") or "").lower() == "graphql_rate_limit" or "api rate limit" in message:
            kind = "primary"
    return kind


def forbidden(errors: Sequence[dict[str, Any]]) -> bool:
    return any(e.get("type") in ("FORBIDDEN", "INSUFFICIENT_SCOPES") for e in errors)


# --- deciding what to write ------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """What one delivery round does. `steps` go out as one mutation, in order; with `rebuild`, a new
    commit on the base is made first (REST Git Data: GraphQL can only append to a branch) and the branch
    pointed at it ahead of `steps`."""

    pull: Pull | None = None  # the pull request as it stands (None: the steps open it)
    steps: tuple[Step, ...] = ()
    head_oid: str | None = None  # the branch head when it already is the right commit
    rebuild: bool = False
    finished: bool = False  # merged or closed: returned as is
    no_op: bool = False  # the base already holds exactly this content


def already_on_base(state: RepoState, changeset: ChangeSet) -> bool:
    return (all(state.base_files.get(p) == blob_sha(c) for p, c in changeset.files.items())
            and all(state.base_files.get(p) is None for p in changeset.deletes if p not in changeset.files))


def plan_delivery(state: RepoState, *, repo: str, key: str, changeset: ChangeSet, title: str, body: str,
                  base_branch: str) -> Plan:
    branch = branch_for(key)
    pull = choose_pull(state.pulls)
    if pull is not None and pull.state != ChangeState.OPEN:
        return Plan(pull=pull, finished=True)
    head = state.head
    if pull is not None:
        edit = () if (pull.title, pull.body) == (title, body) else (
            Step("updatePullRequest", {"pullRequestId": pull.id, "title": title, "body": body}),)
        if head is None:  # an open pull request whose branch is gone: make the commit again and restore it
            return Plan(pull=pull, rebuild=True, steps=edit)
        _check_ours(head, repo, key)
        if is_current(head.message, head.parents[0], key, changeset, state.base_oid):
            return Plan(pull=pull, head_oid=head.oid, steps=edit)
        _check_conflicts(state, head, repo, key, changeset)
        return Plan(pull=pull, rebuild=True, steps=edit)
    if already_on_base(state, changeset):
        return Plan(no_op=True)
    opening = Step("createPullRequest", {"repositoryId": state.repository_id, "baseRefName": base_branch,
                                         "headRefName": branch, "title": title, "body": body})
    commit = Step("createCommitOnBranch", commit_input(state, repo, key, changeset, title))
    if head is None:
        create = Step("createRef", {"repositoryId": state.repository_id, "name": f"refs/heads/{branch}",
                                    "oid": state.base_oid})
        return Plan(steps=(create, commit, opening))
    if head.own_commits == 0:  # a partial run left the branch without our commit: it carries nothing to keep
        reset = () if head.oid == state.base_oid else (point_branch(state, branch, state.base_oid),)
        return Plan(steps=(*reset, commit, opening))
    _check_ours(head, repo, key)
    if is_current(head.message, head.parents[0], key, changeset, state.base_oid):
        return Plan(head_oid=head.oid, steps=(opening,))
    _check_conflicts(state, head, repo, key, changeset)
    # no pull request yet, so moving the branch back to the base for a moment closes nothing
    return Plan(steps=(point_branch(state, branch, state.base_oid), commit, opening))


def point_branch(state: RepoState, branch: str, oid: str) -> Step:
    """Create `branch` at `oid`, or force it there when it exists (only ever our own branch)."""
    if state.head is None:
        return Step("createRef", {"repositoryId": state.repository_id, "name": f"refs/heads/{branch}", "oid": oid})
    return Step("updateRef", {"refId": state.head.ref_id, "oid": oid, "force": True})


def commit_input(state: RepoState, repo: str, key: str, changeset: ChangeSet, title: str) -> dict[str, Any]:
    """createCommitOnBranch on `launchpad/<key>` once it points at the base: every write inline (base64),
    deletions only of paths the base has (GitHub refuses to delete a missing path)."""
    headline, _, trailers = commit_message(title, key, changeset).partition("\n\n")
    deletions = existing_deletes(state, changeset)
    additions = [{"path": p, "contents": base64.b64encode(c.encode("utf-8")).decode("ascii")}
                 for p, c in sorted(changeset.files.items())]
    return {"branch": {"repositoryNameWithOwner": repo, "branchName": branch_for(key)},
            "message": {"headline": headline, "body": trailers},
            "fileChanges": {"additions": additions, "deletions": [{"path": p} for p in deletions]},
            "expectedHeadOid": state.base_oid}


def existing_deletes(state: RepoState, changeset: ChangeSet) -> list[str]:
    """The change set's deletions that the base actually has."""
    return [p for p in sorted(changeset.deletes) if p not in changeset.files and state.base_files.get(p)]


def _check_ours(head: Head, repo: str, key: str) -> None:
    if read_mark(head.message).key != key or len(head.parents) != 1:
        raise ConflictError(foreign_commit_message(repo, key, head.oid), [])


def _check_conflicts(state: RepoState, head: Head, repo: str, key: str, changeset: ChangeSet) -> None:
    """The base moved under our commit: a conflict when it changed a path we write (or delete) to
    something other than what we would write."""
    if head.parents[0] == state.base_oid:
        return
    changed = {p: state.base_files.get(p) for p in changeset.paths
               if head.parent_files.get(p) != state.base_files.get(p)}
    conflicts = conflicting_paths(changeset, changed)
    if conflicts:
        raise ConflictError(conflict_message(repo, key, conflicts), conflicts)
