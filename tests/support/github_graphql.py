"""GitHub's GraphQL API for the local GitHub server: a real schema (graphql-core) over the same model.

The schema below is a subset of GitHub's public schema with GitHub's own type, field, argument and
input names (Repository, Ref, Commit, Tree, Blob, TreeEntry, PullRequest, Label, CreateRefInput,
UpdateRefInput, CreateCommitOnBranchInput, CommittableBranch, CommitMessage, FileChanges,
FileAddition, FileDeletion, CreatePullRequestInput, ...), holding only what LaunchPad's forge asks, so
a query for anything else fails validation as it would on GitHub. Its resolvers read and write the very
objects the REST endpoints use (`GitHubServer.repos` and its git objects): what one API writes, the
other reads. Answers come back as GitHub sends them: HTTP 200 with `data` (what could be resolved)
and `errors: [{type, path, message}]` (NOT_FOUND, UNPROCESSABLE, MISSING_PAGINATION_BOUNDARIES...);
a document that fails validation gets errors and no data. Mutation fields run in document order, and
one failing does not stop the next (the GraphQL spec's serial execution). With an installation token,
a repository outside its reach resolves to NOT_FOUND and a mutation without the permission it needs is
FORBIDDEN ("Resource not accessible by integration"). `pullRequests(headRefName:)` returns pull
requests from forks too, as GitHub's does. Test support only: nothing in `bot/` or `provisioners/`
may import it.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from graphql import (
    FieldNode,
    GraphQLError,
    GraphQLResolveInfo,
    OperationDefinitionNode,
    build_schema,
    graphql_sync,
    parse,
)

from tests.support.github_server import ApiError, Pull, Repo, _person, _set_ref, node_id, parse_node_id

if TYPE_CHECKING:
    from tests.support.github_server import Call, GitHubServer

SCHEMA_SDL = """
scalar Base64String
scalar DateTime
scalar GitObjectID
scalar URI

interface Node { id: ID! }

interface GitObject {
  abbreviatedOid: String!
  id: ID!
  oid: GitObjectID!
  repository: Repository!
}

type Query {
  rateLimit(dryRun: Boolean = false): RateLimit
  repository(followRenames: Boolean = true, name: String!, owner: String!): Repository
}

type RateLimit { cost: Int! limit: Int! nodeCount: Int! remaining: Int! resetAt: DateTime! used: Int! }

type Repository implements Node {
  defaultBranchRef: Ref
  id: ID!
  name: String!
  nameWithOwner: String!
  object(expression: String, oid: GitObjectID): GitObject
  pullRequests(after: String, baseRefName: String, before: String, first: Int, headRefName: String,
               labels: [String!], last: Int, orderBy: IssueOrder, states: [PullRequestState!]): PullRequestConnection!
  ref(qualifiedName: String!): Ref
  url: URI!
}

type Ref implements Node {
  compare(headRef: String!): Comparison
  id: ID!
  name: String!
  prefix: String!
  repository: Repository!
  target: GitObject
}

type Comparison { aheadBy: Int! behindBy: Int! status: ComparisonStatus! }
enum ComparisonStatus { AHEAD BEHIND DIVERGED IDENTICAL }

type Commit implements GitObject & Node {
  abbreviatedOid: String!
  committedDate: DateTime!
  file(path: String!): TreeEntry
  id: ID!
  message: String!
  messageBody: String!
  messageHeadline: String!
  oid: GitObjectID!
  parents(after: String, before: String, first: Int, last: Int): CommitConnection!
  repository: Repository!
  tree: Tree!
  url: URI!
}

type CommitConnection { nodes: [Commit] totalCount: Int! }

type Tree implements GitObject & Node {
  abbreviatedOid: String!
  entries: [TreeEntry!]
  id: ID!
  oid: GitObjectID!
  repository: Repository!
}

type Blob implements GitObject & Node {
  abbreviatedOid: String!
  byteSize: Int!
  id: ID!
  isBinary: Boolean
  oid: GitObjectID!
  repository: Repository!
  text: String
}

type TreeEntry { mode: Int! name: String! object: GitObject oid: GitObjectID! path: String type: String! }

type PullRequest implements Node {
  baseRefName: String!
  baseRefOid: GitObjectID!
  body: String!
  closed: Boolean!
  closedAt: DateTime
  createdAt: DateTime!
  headRefName: String!
  headRefOid: GitObjectID!
  headRepository: Repository
  id: ID!
  isCrossRepository: Boolean!
  isDraft: Boolean!
  labels(after: String, before: String, first: Int, last: Int): LabelConnection
  mergeCommit: Commit
  merged: Boolean!
  mergedAt: DateTime
  number: Int!
  repository: Repository!
  state: PullRequestState!
  title: String!
  url: URI!
}

type PullRequestConnection { nodes: [PullRequest] totalCount: Int! }
type Label implements Node { color: String! description: String id: ID! name: String! }
type LabelConnection { nodes: [Label] totalCount: Int! }

enum PullRequestState { CLOSED MERGED OPEN }
enum PullRequestUpdateState { CLOSED OPEN }
enum PullRequestMergeMethod { MERGE REBASE SQUASH }
enum IssueOrderField { COMMENTS CREATED_AT UPDATED_AT }
enum OrderDirection { ASC DESC }
input IssueOrder { direction: OrderDirection! field: IssueOrderField! }

type Mutation {
  closePullRequest(input: ClosePullRequestInput!): ClosePullRequestPayload
  createCommitOnBranch(input: CreateCommitOnBranchInput!): CreateCommitOnBranchPayload
  createPullRequest(input: CreatePullRequestInput!): CreatePullRequestPayload
  createRef(input: CreateRefInput!): CreateRefPayload
  mergePullRequest(input: MergePullRequestInput!): MergePullRequestPayload
  updatePullRequest(input: UpdatePullRequestInput!): UpdatePullRequestPayload
  updateRef(input: UpdateRefInput!): UpdateRefPayload
}

input CreateRefInput { clientMutationId: String name: String! oid: GitObjectID! repositoryId: ID! }
type CreateRefPayload { clientMutationId: String ref: Ref }

input UpdateRefInput { clientMutationId: String force: Boolean = false oid: GitObjectID! refId: ID! }
type UpdateRefPayload { clientMutationId: String ref: Ref }

input CommittableBranch { branchName: String id: ID repositoryNameWithOwner: String }
input CommitMessage { body: String headline: String! }
input FileAddition { contents: Base64String! path: String! }
input FileDeletion { path: String! }
input FileChanges { additions: [FileAddition!] = [] deletions: [FileDeletion!] = [] }
input CreateCommitOnBranchInput {
  branch: CommittableBranch!
  clientMutationId: String
  expectedHeadOid: GitObjectID!
  fileChanges: FileChanges
  message: CommitMessage!
}
type CreateCommitOnBranchPayload { clientMutationId: String commit: Commit ref: Ref }

input CreatePullRequestInput {
  baseRefName: String!
  body: String
  clientMutationId: String
  draft: Boolean = false
  headRefName: String!
  headRepositoryId: ID
  maintainerCanModify: Boolean = true
  repositoryId: ID!
  title: String!
}
type CreatePullRequestPayload { clientMutationId: String pullRequest: PullRequest }

input UpdatePullRequestInput {
  baseRefName: String
  body: String
  clientMutationId: String
  pullRequestId: ID!
  state: PullRequestUpdateState
  title: String
}
type UpdatePullRequestPayload { clientMutationId: String pullRequest: PullRequest }

input ClosePullRequestInput { clientMutationId: String pullRequestId: ID! }
type ClosePullRequestPayload { clientMutationId: String pullRequest: PullRequest }

input MergePullRequestInput {
  clientMutationId: String
  commitBody: String
  commitHeadline: String
  expectedHeadOid: GitObjectID
  mergeMethod: PullRequestMergeMethod = MERGE
  pullRequestId: ID!
}
type MergePullRequestPayload { clientMutationId: String pullRequest: PullRequest }
"""

SCHEMA = build_schema(SCHEMA_SDL)
_MAX_PAGE = 100


@dataclass(frozen=True)
class Operation:
    """What a GraphQL request asks, read before it runs (for call records and fault matching)."""

    kind: str  # "query", "mutation", or "" when the body does not parse
    name: str
    fields: tuple[str, ...]
    repos: tuple[str, ...]


def describe(body: bytes) -> Operation:
    try:
        request = json.loads(body)
        document = parse(request["query"])
    except (ValueError, KeyError, TypeError, GraphQLError):
        return Operation("", "", (), ())
    wanted = request.get("operationName")
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    op = next((d for d in operations if d.name is not None and d.name.value == wanted), operations[0]) \
        if operations else None
    if op is None:
        return Operation("", "", (), ())
    fields = tuple(s.name.value for s in op.selection_set.selections if isinstance(s, FieldNode))
    return Operation(op.operation.value, op.name.value if op.name else "", fields,
                     tuple(sorted(_named_repos(request.get("variables") or {}))))


def _named_repos(value: Any) -> set[str]:
    """Repositories a request's variables name: owner + name, repositoryNameWithOwner, or a node id."""
    found: set[str] = set()
    if isinstance(value, dict):
        if isinstance(value.get("owner"), str) and isinstance(value.get("name"), str):
            found.add(f"{value['owner']}/{value['name']}")
        if isinstance(value.get("repositoryNameWithOwner"), str):
            found.add(value["repositoryNameWithOwner"])
        for item in value.values():
            found |= _named_repos(item)
    elif isinstance(value, list):
        for item in value:
            found |= _named_repos(item)
    elif isinstance(value, str):
        parsed = parse_node_id(value)
        if parsed is not None and parsed[0] in ("R", "REF", "PR", "C") and parsed[1] and "/" in parsed[1][0]:
            found.add(parsed[1][0])
    return found


def execute(server: GitHubServer, request: Any, call: Call) -> dict[str, Any]:
    """Run one GraphQL request against the server's model (the caller holds the server's lock)."""
    if not isinstance(request, dict) or not isinstance(request.get("query"), str):
        return {"errors": [{"message": "A query attribute must be specified and must be a string."}]}
    context = _Context(server, call.token)
    result = graphql_sync(SCHEMA, request["query"], root_value=_Root(), context_value=context,
                          variable_values=request.get("variables") or {},
                          operation_name=request.get("operationName"), type_resolver=_type_of)
    call.repos = tuple(sorted(set(call.repos) | context.touched))
    answer: dict[str, Any] = {}
    if result.data is not None:
        answer["data"] = result.data
    if result.errors:
        answer["errors"] = [_github_error(e) for e in result.errors]
    return answer


def _github_error(error: GraphQLError) -> dict[str, Any]:
    formatted = dict(error.formatted)
    extensions = dict(formatted.pop("extensions", None) or {})
    if "type" in extensions:
        formatted = {"type": extensions.pop("type"), **formatted}
    if extensions:
        formatted["extensions"] = extensions
    return formatted


def _type_of(value: Any, info: GraphQLResolveInfo, abstract: Any) -> str:
    return str(value.typename)


def _fail(kind: str, message: str) -> GraphQLError:
    return GraphQLError(message, extensions={"type": kind})


def _refused(err: ApiError) -> GraphQLError:
    """A REST-model refusal as GitHub's GraphQL reports it."""
    details = [str(e.get("message") or e.get("code")) for e in err.body.get("errors", []) if isinstance(e, dict)]
    message = details[0] if details and details[0] != "invalid" else str(err.body.get("message", ""))
    kind = {404: "NOT_FOUND", 403: "FORBIDDEN", 401: "UNAUTHORIZED"}.get(err.status, "UNPROCESSABLE")
    return _fail(kind, message)


def _page(items: list[Any], first: int | None, last: int | None, connection: str) -> dict[str, Any]:
    if first is None and last is None:
        raise _fail("MISSING_PAGINATION_BOUNDARIES",
                    f"You must provide a `first` or `last` value to properly paginate the `{connection}` connection.")
    for value, name in ((first, "first"), (last, "last")):
        if value is not None and not 0 <= value <= _MAX_PAGE:
            raise _fail("EXCESSIVE_PAGINATION", f"Requesting {value} records on the `{connection}` connection "
                                                f"exceeds the `{name}` limit of {_MAX_PAGE} records.")
    nodes = items[:first] if first is not None else items
    if last is not None:
        nodes = nodes[len(nodes) - last:] if last else []
    return {"nodes": nodes, "totalCount": len(items)}


@dataclass
class _Context:
    server: GitHubServer
    token: str | None = None
    touched: set[str] = field(default_factory=set)

    def repo(self, full_name: str) -> Repo | None:
        repo = self.server.repos.get(full_name)
        if repo is not None and not self.server.installation_can_see(self.token, full_name):
            repo = None
        if repo is not None:
            self.touched.add(full_name)
        return repo

    def allow(self, permission: str, *, paths: list[str] | None = None) -> None:
        """An installation token must carry `permission` write (and Workflows write for workflow files)."""
        if not self.server.installation_may(self.token, permission, "write"):
            raise _fail("FORBIDDEN", "Resource not accessible by integration")
        try:
            self.server.check_workflow_permission(self.token, paths or [])
        except ApiError as err:
            raise _fail("FORBIDDEN", str(err.body.get("message", ""))) from None

    def node(self, value: str, kind: str) -> tuple[Repo, list[str]]:
        parsed = parse_node_id(value)
        repo = self.repo(parsed[1][0]) if parsed is not None and parsed[0] == kind and parsed[1] else None
        if parsed is None or repo is None:
            raise _fail("NOT_FOUND", f"Could not resolve to a node with the global id of '{value}'")
        return repo, parsed[1][1:]

    def pull(self, value: str) -> tuple[Repo, Pull]:
        repo, rest = self.node(value, "PR")
        pull = repo.pulls.get(int(rest[0])) if rest and rest[0].isdigit() else None
        if pull is None:
            raise _fail("NOT_FOUND", f"Could not resolve to a node with the global id of '{value}'")
        return repo, pull


def _qualified(repo: Repo, name: str) -> str | None:
    candidates = [name] if name.startswith("refs/") else [f"refs/heads/{name}", f"refs/tags/{name}"]
    return next((c for c in candidates if c in repo.refs), None)


def _object(ctx: _Context, repo: Repo, sha: str) -> _CommitNode | _TreeNode | _BlobNode | None:
    kind = ctx.server.objects.kind(sha)
    if kind == "commit":
        return _CommitNode(ctx, repo, sha)
    if kind == "tree":
        return _TreeNode(ctx, repo, sha)
    if kind == "blob":
        return _BlobNode(ctx, repo, sha)
    return None


class _GitObject:
    typename = ""

    def __init__(self, ctx: _Context, repo: Repo, sha: str) -> None:
        self.ctx, self.repo, self.oid = ctx, repo, sha
        self.abbreviatedOid = sha[:7]
        self.id = node_id(self.typename[:1] or "O", repo.full_name, sha)

    def repository(self, info: GraphQLResolveInfo) -> _RepositoryNode:
        return _RepositoryNode(self.ctx, self.repo)


class _BlobNode(_GitObject):
    typename = "Blob"

    def __init__(self, ctx: _Context, repo: Repo, sha: str) -> None:
        super().__init__(ctx, repo, sha)
        self.data = ctx.server.objects.read_blob(sha)
        self.byteSize = len(self.data)
        self.isBinary = b"\0" in self.data
        self.text = None if self.isBinary else self.data.decode("utf-8", errors="replace")


class _TreeEntryNode:
    def __init__(self, ctx: _Context, repo: Repo, path: str, mode: str, sha: str) -> None:
        self.ctx, self.repo = ctx, repo
        self.path, self.name, self.oid = path, path.rsplit("/", 1)[-1], sha
        self.mode = int(mode, 8)
        self.type = "tree" if mode == "40000" else "blob"

    def object(self, info: GraphQLResolveInfo) -> _GitObject | None:
        return _object(self.ctx, self.repo, self.oid)


class _TreeNode(_GitObject):
    typename = "Tree"

    def entries(self, info: GraphQLResolveInfo) -> list[_TreeEntryNode]:
        return [_TreeEntryNode(self.ctx, self.repo, name, mode, sha)
                for name, (mode, sha) in sorted(self.ctx.server.objects.read_tree(self.oid).items())]


def _entry(ctx: _Context, repo: Repo, tree: str, path: str) -> _TreeEntryNode | None:
    parts = [p for p in path.strip("/").split("/") if p]
    mode, sha = "40000", tree
    for i, part in enumerate(parts):
        if mode != "40000":
            return None
        found = ctx.server.objects.read_tree(sha).get(part)
        if found is None:
            return None
        mode, sha = found
        if i == len(parts) - 1:
            return _TreeEntryNode(ctx, repo, "/".join(parts), mode, sha)
    return None


class _CommitNode(_GitObject):
    typename = "Commit"

    def __init__(self, ctx: _Context, repo: Repo, sha: str) -> None:
        super().__init__(ctx, repo, sha)
        self.info = ctx.server.objects.read_commit(sha)
        self.message = str(self.info["message"])
        headline, _, body = self.message.partition("\n")
        self.messageHeadline, self.messageBody = headline, body.strip("\n")
        self.committedDate = self.info["committer"]["date"]
        self.url = f"{ctx.server.url}/{repo.full_name}/commit/{sha}"

    def tree(self, info: GraphQLResolveInfo) -> _TreeNode:
        return _TreeNode(self.ctx, self.repo, self.info["tree"])

    def parents(self, info: GraphQLResolveInfo, first: int | None = None, last: int | None = None,
                **_: Any) -> dict[str, Any]:
        nodes = [_CommitNode(self.ctx, self.repo, p) for p in self.info["parents"]]
        return _page(nodes, first, last, "parents")

    def file(self, info: GraphQLResolveInfo, path: str) -> _TreeEntryNode | None:
        return _entry(self.ctx, self.repo, self.info["tree"], path)


class _RefNode:
    typename = "Ref"

    def __init__(self, ctx: _Context, repo: Repo, ref: str) -> None:
        self.ctx, self.repo, self.ref = ctx, repo, ref
        self.id = node_id("REF", repo.full_name, ref)
        parts = ref.split("/", 2)
        self.prefix, self.name = f"{parts[0]}/{parts[1]}/", parts[2]

    def target(self, info: GraphQLResolveInfo) -> _GitObject | None:
        sha = self.repo.refs.get(self.ref)
        return None if sha is None else _object(self.ctx, self.repo, sha)

    def repository(self, info: GraphQLResolveInfo) -> _RepositoryNode:
        return _RepositoryNode(self.ctx, self.repo)

    def compare(self, info: GraphQLResolveInfo, headRef: str) -> dict[str, Any] | None:
        """This ref as the base, `headRef` as the head: aheadBy = commits only the head has."""
        head_ref = _qualified(self.repo, headRef)
        if head_ref is None or self.ref not in self.repo.refs:
            return None
        objects = self.ctx.server.objects
        base_anc = set(objects.ancestors(self.repo.refs[self.ref]))
        head_anc = set(objects.ancestors(self.repo.refs[head_ref]))
        ahead, behind = len(head_anc - base_anc), len(base_anc - head_anc)
        status = "IDENTICAL" if not ahead and not behind else "AHEAD" if not behind else \
            "BEHIND" if not ahead else "DIVERGED"
        return {"aheadBy": ahead, "behindBy": behind, "status": status}


class _PullNode:
    typename = "PullRequest"

    def __init__(self, ctx: _Context, repo: Repo, pull: Pull) -> None:
        self.ctx, self.repo, self.pull = ctx, repo, pull
        self.id = node_id("PR", repo.full_name, pull.number)
        self.number, self.title, self.body = pull.number, pull.title, pull.body
        self.url = f"{ctx.server.url}/{repo.full_name}/pull/{pull.number}"
        self.merged = pull.merged_at is not None
        self.state = "MERGED" if self.merged else "OPEN" if pull.state == "open" else "CLOSED"
        self.closed = pull.state != "open"
        self.mergedAt, self.closedAt, self.createdAt = pull.merged_at, pull.closed_at, pull.created_at
        self.headRefName, self.headRefOid, self.baseRefName = pull.head, pull.head_sha, pull.base
        self.baseRefOid = repo.refs.get(f"refs/heads/{pull.base}", "")
        self.isDraft = False
        self.isCrossRepository = pull.head_repo is not None and pull.head_repo != repo.full_name

    def headRepository(self, info: GraphQLResolveInfo) -> _RepositoryNode | None:
        if self.pull.head_repo is None:
            return _RepositoryNode(self.ctx, self.repo)
        fork = self.ctx.server.repos.get(self.pull.head_repo)
        return None if fork is None else _RepositoryNode(self.ctx, fork)

    def mergeCommit(self, info: GraphQLResolveInfo) -> _CommitNode | None:
        sha = self.pull.merge_commit_sha
        return None if sha is None else _CommitNode(self.ctx, self.repo, sha)

    def labels(self, info: GraphQLResolveInfo, first: int | None = None, last: int | None = None,
               **_: Any) -> dict[str, Any]:
        nodes = [{"id": node_id("LA", self.repo.full_name, n), "name": n, "color": "ededed", "description": None}
                 for n in self.pull.labels]
        return _page(nodes, first, last, "labels")

    def repository(self, info: GraphQLResolveInfo) -> _RepositoryNode:
        return _RepositoryNode(self.ctx, self.repo)


class _RepositoryNode:
    typename = "Repository"

    def __init__(self, ctx: _Context, repo: Repo) -> None:
        self.ctx, self.repo = ctx, repo
        self.id = node_id("R", repo.full_name)
        self.nameWithOwner = repo.full_name
        self.name = repo.full_name.split("/", 1)[1]
        self.url = f"{ctx.server.url}/{repo.full_name}"

    def defaultBranchRef(self, info: GraphQLResolveInfo) -> _RefNode | None:
        return self.ref(info, _default_ref(self.repo))

    def ref(self, info: GraphQLResolveInfo, qualifiedName: str) -> _RefNode | None:
        ref = _qualified(self.repo, qualifiedName)
        return None if ref is None else _RefNode(self.ctx, self.repo, ref)

    def object(self, info: GraphQLResolveInfo, expression: str | None = None,
               oid: str | None = None) -> _GitObject | None:
        """`oid`, or a git revision expression: 'rev' or 'rev:path' (rev: branch, qualified ref or sha)."""
        if oid is not None:
            return _object(self.ctx, self.repo, oid)
        if expression is None:
            return None
        rev, sep, path = expression.partition(":")
        try:
            sha = self.ctx.server._resolve(self.repo, rev)
        except ApiError:
            return None
        if not sep:
            return _object(self.ctx, self.repo, sha)
        entry = _entry(self.ctx, self.repo, self.ctx.server.objects.read_commit(sha)["tree"], path)
        return None if entry is None else _object(self.ctx, self.repo, entry.oid)

    def pullRequests(self, info: GraphQLResolveInfo, first: int | None = None, last: int | None = None,
                     headRefName: str | None = None, baseRefName: str | None = None,
                     states: list[str] | None = None, orderBy: dict[str, str] | None = None,
                     labels: list[str] | None = None, **_: Any) -> dict[str, Any]:
        nodes = [_PullNode(self.ctx, self.repo, p) for p in sorted(self.repo.pulls.values(), key=lambda p: p.number)]
        nodes = [n for n in nodes if (headRefName is None or n.headRefName == headRefName)
                 and (baseRefName is None or n.baseRefName == baseRefName)
                 and (not states or n.state in states)
                 and (not labels or set(labels) & set(n.pull.labels))]
        if orderBy is not None and orderBy.get("direction") == "DESC":
            nodes.reverse()
        return _page(nodes, first, last, "pullRequests")


def _default_ref(repo: Repo) -> str:
    return f"refs/heads/{repo.default_branch}"


class _Root:
    """Query and Mutation root fields."""

    # --- Query ----------------------------------------------------------------------------------

    def repository(self, info: GraphQLResolveInfo, owner: str, name: str, **_: Any) -> _RepositoryNode:
        ctx: _Context = info.context
        repo = ctx.repo(f"{owner}/{name}")
        if repo is None:
            raise _fail("NOT_FOUND", f"Could not resolve to a Repository with the name '{owner}/{name}'.")
        return _RepositoryNode(ctx, repo)

    def rateLimit(self, info: GraphQLResolveInfo, **_: Any) -> dict[str, Any]:
        ctx: _Context = info.context
        limit = ctx.server.rate_limit
        return {"cost": 1, "limit": limit, "nodeCount": 0, "remaining": limit, "used": 0,
                "resetAt": (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")}

    # --- Mutation -------------------------------------------------------------------------------

    def createRef(self, info: GraphQLResolveInfo, input: dict[str, Any]) -> dict[str, Any]:
        ctx: _Context = info.context
        repo, _ = ctx.node(input["repositoryId"], "R")
        ctx.allow("contents")
        name = input["name"]
        if name in repo.refs:
            raise _fail("UNPROCESSABLE", f'A ref named "{name}" already exists in the repository.')
        try:
            ctx.server._create_ref(repo, {"ref": name, "sha": input["oid"]})
        except ApiError as err:
            raise _refused(err) from None
        return {"clientMutationId": input.get("clientMutationId"), "ref": _RefNode(ctx, repo, name)}

    def updateRef(self, info: GraphQLResolveInfo, input: dict[str, Any]) -> dict[str, Any]:
        ctx: _Context = info.context
        repo, rest = ctx.node(input["refId"], "REF")
        ref = rest[0] if rest else ""
        ctx.allow("contents")
        try:
            ctx.server._update_ref(repo, ref, {"sha": input["oid"], "force": bool(input.get("force"))})
        except ApiError as err:
            raise _refused(err) from None
        return {"clientMutationId": input.get("clientMutationId"), "ref": _RefNode(ctx, repo, ref)}

    def createCommitOnBranch(self, info: GraphQLResolveInfo, input: dict[str, Any]) -> dict[str, Any]:
        ctx: _Context = info.context
        branch = input["branch"]
        if branch.get("id"):
            repo, rest = ctx.node(branch["id"], "REF")
            ref = rest[0] if rest else ""
        else:
            found = ctx.repo(str(branch.get("repositoryNameWithOwner")))
            if found is None:
                raise _fail("NOT_FOUND", f"Could not resolve to a Repository with the name "
                                         f"'{branch.get('repositoryNameWithOwner')}'.")
            repo = found
            name = str(branch.get("branchName") or "")
            ref = name if name.startswith("refs/heads/") else f"refs/heads/{name}"
        changes = input.get("fileChanges") or {}
        ctx.allow("contents", paths=[str(c.get("path", "")) for kind in ("additions", "deletions")
                                     for c in changes.get(kind) or []])
        head = repo.refs.get(ref)
        if head is None:
            raise _fail("NOT_FOUND", f"A ref named \"{ref}\" does not exist in '{repo.full_name}'.")
        if input["expectedHeadOid"] != head:
            raise _fail("STALE_DATA", f'Expected branch to point to "{input["expectedHeadOid"]}" but it did not. '
                                      "Pull and try again.")
        message = input["message"]
        if not str(message.get("headline") or "").strip():
            raise _fail("UNPROCESSABLE", "A commit message headline is required.")
        text = message["headline"] + (f"\n\n{message['body']}" if message.get("body") else "")
        objects = ctx.server.objects
        flat = objects.flatten(objects.read_commit(head)["tree"])
        for deletion in changes.get("deletions") or []:
            if deletion["path"] not in flat:
                raise _fail("UNPROCESSABLE", "A path was requested for deletion which does not exist as of commit "
                                             f"oid `{head}`")
            del flat[deletion["path"]]
        for addition in changes.get("additions") or []:
            try:
                data = base64.b64decode(addition["contents"], validate=True)
            except (binascii.Error, ValueError):
                raise _fail("UNPROCESSABLE", f"The contents of {addition['path']} are not valid base64.") from None
            flat[addition["path"].strip("/")] = ("100644", objects.blob(data))
        author = _person("LaunchPad bot")
        sha = objects.commit(objects.build(flat), [head], text, author, _person("GitHub"))
        _set_ref(repo, ref, sha)
        return {"clientMutationId": input.get("clientMutationId"), "commit": _CommitNode(ctx, repo, sha),
                "ref": _RefNode(ctx, repo, ref)}

    def createPullRequest(self, info: GraphQLResolveInfo, input: dict[str, Any]) -> dict[str, Any]:
        ctx: _Context = info.context
        repo, _ = ctx.node(input["repositoryId"], "R")
        ctx.allow("pull_requests")
        head = str(input["headRefName"]).split(":", 1)[-1].removeprefix("refs/heads/")
        try:
            pull = ctx.server.open_pull_request(repo, head, str(input["baseRefName"]).removeprefix("refs/heads/"),
                                                str(input["title"]), input.get("body") or "")
        except ApiError as err:
            raise _refused(err) from None
        return {"clientMutationId": input.get("clientMutationId"), "pullRequest": _PullNode(ctx, repo, pull)}

    def updatePullRequest(self, info: GraphQLResolveInfo, input: dict[str, Any]) -> dict[str, Any]:
        ctx: _Context = info.context
        repo, pull = ctx.pull(input["pullRequestId"])
        ctx.allow("pull_requests")
        if input.get("title") is not None:
            pull.title = input["title"]
        if input.get("body") is not None:
            pull.body = input["body"]
        if input.get("state") == "CLOSED" and pull.state == "open":
            pull.state, pull.closed_at = "closed", datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        elif input.get("state") == "OPEN" and pull.merged_at is None:
            pull.state, pull.closed_at = "open", None
        return {"clientMutationId": input.get("clientMutationId"), "pullRequest": _PullNode(ctx, repo, pull)}

    def closePullRequest(self, info: GraphQLResolveInfo, input: dict[str, Any]) -> dict[str, Any]:
        ctx: _Context = info.context
        repo, pull = ctx.pull(input["pullRequestId"])
        ctx.allow("pull_requests")
        if pull.state == "open":
            pull.state, pull.closed_at = "closed", datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {"clientMutationId": input.get("clientMutationId"), "pullRequest": _PullNode(ctx, repo, pull)}

    def mergePullRequest(self, info: GraphQLResolveInfo, input: dict[str, Any]) -> dict[str, Any]:
        ctx: _Context = info.context
        repo, pull = ctx.pull(input["pullRequestId"])
        ctx.allow("contents")
        if input.get("expectedHeadOid") and input["expectedHeadOid"] != pull.head_sha:
            raise _fail("UNPROCESSABLE", "Head branch was modified. Review and try the merge again.")
        try:
            ctx.server._merge(repo, pull.number)
        except ApiError as err:
            raise _refused(err) from None
        return {"clientMutationId": input.get("clientMutationId"), "pullRequest": _PullNode(ctx, repo, pull)}
