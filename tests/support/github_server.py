"""A local GitHub API (REST and GraphQL) on 127.0.0.1 for tests: real PyGithub talks to it over real HTTP.

It speaks the REST endpoints LaunchPad's forge uses (branches, git refs/trees/commits/blobs, pulls,
issue labels, compare, contents, GitHub App endpoints, rate_limit) and GraphQL at `/graphql` and
`/api/graphql` (`github_graphql.py`: a real schema resolved over this same model, so both APIs see
one state), stores real git objects (blobs, trees and commits encoded exactly as git does, so every
sha is the sha git would compute), records every call (method, path, query, token, status; for
GraphQL also the operation, its kind, root fields and repositories) with separate REST and GraphQL
rate-limit budgets, and injects faults by rule: 5xx, primary and secondary rate limits (GraphQL's
200 + RATE_LIMITED too), slow responses, and "processed but the response was lost".
GitHub Apps (see "GitHub App installations"): RS256 JWTs checked with the app's public key, one
installation per organisation with its repositories and granted permissions, installation tokens
narrowed to repositories and permissions on request, enforced on every call, and revocable. Forks
(see "forks"): a fork repository whose pull request targets the base, on any branch name.
It is test support only: nothing in `bot/` or `provisioners/` may import it.

    with GitHubServer() as gh:
        gh.seed_repo("acme/infra", {"README.md": "hi\\n"})
        Github(base_url=gh.api_url, auth=Auth.Token("t"), retry=None)...
        gh.fail("POST", r"/pulls$", status=502)
        gh.lose_response("POST", "/graphql", operation="createPullRequest.*acme/infra")
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt

from tests.support.github_actions import LOG_PATH, ActionsModel, RawText

API_PREFIX = "/api/v3"
GRAPHQL_PATH = "/graphql"  # github.com: https://api.github.com/graphql; GHE style: /api/graphql (both served)
_TREE_MODE = "40000"


class ApiError(Exception):
    def __init__(self, status: int, message: str, errors: list[dict[str, Any]] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.body: dict[str, Any] = {"message": message,
                                     "documentation_url": "https://docs.github.com/rest"}
        if errors:
            self.body["errors"] = errors
        self.headers = headers or {}


@dataclass
class Call:
    """One HTTP request as the server saw it. A GraphQL POST is one call whatever it asks: `kind` is
    'query' or 'mutation', `operation` its operation name, `fields` its root fields in order, and
    `repos` the repositories it named or touched (REST: the one in its path)."""

    method: str
    path: str
    query: dict[str, str]
    token: str | None
    status: int = 0
    kind: str = ""
    operation: str = ""
    fields: tuple[str, ...] = ()
    repos: tuple[str, ...] = ()
    document: str = ""  # GraphQL: the query text as sent (checked against GitHub's schema in a test)

    @property
    def is_write(self) -> bool:
        if self.path == GRAPHQL_PATH:
            return self.kind == "mutation"
        return self.method != "GET"

    @property
    def label(self) -> str:
        """What a fault's `operation` pattern is searched in: 'Name kind field,field owner/repo ...'."""
        return f"{self.operation} {self.kind} {','.join(self.fields)} {' '.join(self.repos)}".strip()


@dataclass
class Fault:
    """A rule: the next `times` calls matching method and path regex get this treatment.

    `status` answers with that error before doing anything (with `payload` as the body when given,
    e.g. GraphQL's 200 + RATE_LIMITED); `delay` sleeps first (then processes, so a client that timed
    out may find its work done); `lose_response` processes the call and then answers `status` anyway
    (the effect happened, the client saw a failure). `operation`, when set, must also be found (a
    regex) in the call's `label`, so a fault can aim at one GraphQL operation, field or repository."""

    method: str | None
    path: str
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    message: str = "Server Error"
    delay: float = 0.0
    lose_response: bool = False
    times: int = 1
    skip: int = 0
    hits: int = 0
    operation: str | None = None
    payload: Any = None

    def matches(self, method: str, path: str, label: str = "") -> bool:
        return ((self.method is None or self.method == method) and re.search(self.path, path) is not None
                and (self.operation is None or re.search(self.operation, label) is not None))


# --- git objects ------------------------------------------------------------------------------


class GitObjects:
    """Content-addressed store of real git objects (sha1 over 'type len\\0body')."""

    def __init__(self) -> None:
        self.data: dict[str, tuple[str, bytes]] = {}

    def put(self, kind: str, body: bytes) -> str:
        sha = hashlib.sha1(f"{kind} {len(body)}\0".encode() + body, usedforsecurity=False).hexdigest()
        self.data.setdefault(sha, (kind, body))
        return sha

    def kind(self, sha: str) -> str | None:
        entry = self.data.get(sha)
        return entry[0] if entry else None

    def blob(self, content: bytes) -> str:
        return self.put("blob", content)

    def read_blob(self, sha: str) -> bytes:
        kind, body = self.data[sha]
        assert kind == "blob"
        return body

    def tree(self, entries: dict[str, tuple[str, str]]) -> str:
        """entries: name -> (mode, sha); encoded and ordered as git does (trees sort as 'name/')."""
        def order(name: str) -> bytes:
            return (name + "/" if entries[name][0] == _TREE_MODE else name).encode()
        body = b"".join(f"{entries[n][0]} {n}".encode() + b"\0" + bytes.fromhex(entries[n][1])
                        for n in sorted(entries, key=order))
        return self.put("tree", body)

    def read_tree(self, sha: str) -> dict[str, tuple[str, str]]:
        kind, body = self.data[sha]
        assert kind == "tree"
        entries: dict[str, tuple[str, str]] = {}
        i = 0
        while i < len(body):
            nul = body.index(b"\0", i)
            mode, name = body[i:nul].decode().split(" ", 1)
            entries[name] = (mode, body[nul + 1:nul + 21].hex())
            i = nul + 21
        return entries

    def flatten(self, tree_sha: str, prefix: str = "") -> dict[str, tuple[str, str]]:
        """path -> (mode, blob sha) for every file under the tree."""
        out: dict[str, tuple[str, str]] = {}
        for name, (mode, sha) in self.read_tree(tree_sha).items():
            if mode == _TREE_MODE:
                out.update(self.flatten(sha, f"{prefix}{name}/"))
            else:
                out[f"{prefix}{name}"] = (mode, sha)
        return out

    def build(self, files: dict[str, tuple[str, str]]) -> str:
        """The nested tree for a flat path -> (mode, sha) map."""
        children: dict[str, dict[str, tuple[str, str]]] = {}
        entries: dict[str, tuple[str, str]] = {}
        for path, entry in files.items():
            head, sep, rest = path.partition("/")
            if sep:
                children.setdefault(head, {})[rest] = entry
            else:
                entries[head] = entry
        for name, sub in children.items():
            entries[name] = (_TREE_MODE, self.build(sub))
        return self.tree(entries)

    def commit(self, tree: str, parents: list[str], message: str, author: dict[str, str],
               committer: dict[str, str]) -> str:
        lines = [f"tree {tree}"] + [f"parent {p}" for p in parents]
        lines.append(f"author {_signature(author)}")
        lines.append(f"committer {_signature(committer)}")
        return self.put("commit", ("\n".join(lines) + "\n\n" + message).encode())

    def read_commit(self, sha: str) -> dict[str, Any]:
        kind, body = self.data[sha]
        assert kind == "commit"
        head, _, message = body.decode().partition("\n\n")
        info: dict[str, Any] = {"sha": sha, "parents": [], "message": message}
        for line in head.splitlines():
            name, _, value = line.partition(" ")
            if name == "parent":
                info["parents"].append(value)
            elif name in ("author", "committer"):
                m = re.match(r"(.*) <(.*)> (\d+) ([+-]\d{4})$", value)
                assert m
                info[name] = {"name": m.group(1), "email": m.group(2),
                              "date": datetime.fromtimestamp(int(m.group(3)), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}
            else:
                info[name] = value
        return info

    def ancestors(self, sha: str) -> list[str]:
        """sha and every commit reachable from it (breadth first)."""
        seen: list[str] = []
        todo = [sha]
        while todo:
            current = todo.pop(0)
            if current in seen:
                continue
            seen.append(current)
            todo.extend(self.read_commit(current)["parents"])
        return seen


def _signature(person: dict[str, str]) -> str:
    date = person.get("date")
    when = datetime.now(UTC) if not date else datetime.fromisoformat(date.replace("Z", "+00:00"))
    email = person.get("email", "unknown@example.com")
    return f"{person.get('name', 'unknown')} <{email}> {int(when.timestamp())} +0000"


# --- repositories and pull requests ----------------------------------------------------------------


@dataclass
class Pull:
    number: int
    title: str
    body: str
    head: str
    base: str
    head_sha: str
    state: str = "open"
    labels: list[str] = field(default_factory=list)
    merged_at: str | None = None
    merge_commit_sha: str | None = None
    closed_at: str | None = None
    created_at: str = field(default_factory=lambda: _now_iso())
    head_repo: str | None = None  # the fork the head branch lives in; None: the base repository itself


@dataclass
class Repo:
    full_name: str
    default_branch: str = "main"
    refs: dict[str, str] = field(default_factory=dict)  # "refs/heads/main" -> sha
    pulls: dict[int, Pull] = field(default_factory=dict)
    next_number: int = 1


# Everything an installation is granted unless a test narrows it (what LaunchPad and the infra pipeline use).
INSTALLATION_PERMISSIONS = {"actions": "write", "checks": "write", "contents": "write", "issues": "write",
                            "metadata": "read", "pull_requests": "write", "statuses": "read", "workflows": "write"}
_LEVELS = {"read": 1, "write": 2, "admin": 3}


@dataclass
class Installation:
    """A GitHub App installed on one account (organisation): all its repositories, or a selection."""

    id: int
    account: str | None = None  # organisation login; None: any owner (an installation that sees everything)
    repositories: set[str] | None = None  # full names; None: every repository of the account
    permissions: dict[str, str] = field(default_factory=lambda: dict(INSTALLATION_PERMISSIONS))
    suspended: bool = False

    def includes(self, full_name: str) -> bool:
        owner = full_name.split("/", 1)[0]
        if self.account is not None and owner.lower() != self.account.lower():
            return False
        return self.repositories is None or full_name in self.repositories


@dataclass
class App:
    app_id: int
    public_key: str
    installations: dict[int, Installation]


@dataclass
class InstallationToken:
    """An installation token as issued: what it may reach and do, and until when (GitHub's clock)."""

    installation_id: int
    expires: datetime
    repositories: set[str] | None  # None: every repository of the installation
    permissions: dict[str, str]
    revoked: bool = False


def node_id(kind: str, *parts: object) -> str:
    """A global node id as REST's `node_id` and GraphQL's `id` give it (opaque to clients; here the kind
    and what names the object, so the server can find it again)."""
    raw = "\x1f".join(str(p) for p in parts).encode()
    return f"{kind}_{base64.urlsafe_b64encode(raw).decode().rstrip('=')}"


def parse_node_id(value: str) -> tuple[str, list[str]] | None:
    kind, sep, encoded = value.partition("_")
    if not sep or not encoded:
        return None
    try:
        raw = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    return kind, raw.split("\x1f")


def _now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class GitHubServer:
    """The server and its model. Thread-safe; start() binds 127.0.0.1 on a free port."""

    def __init__(self, *, latency_seconds: float = 0.0, rate_limit: int = 5000) -> None:
        self.latency_seconds = latency_seconds
        self.rate_limit = rate_limit
        self.objects = GitObjects()
        self.repos: dict[str, Repo] = {}
        self.calls: list[Call] = []
        self.faults: list[Fault] = []
        self.tokens: set[str] | None = None  # None: any token is accepted
        self.apps: dict[int, App] = {}
        self.installation_tokens: dict[str, InstallationToken] = {}
        self.remaining: dict[str | None, int] = {}
        self.graphql_remaining: dict[str | None, int] = {}
        self._lock = threading.RLock()
        self.actions = ActionsModel(self)  # the infra pipeline's runs, checks, logs and comments
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> GitHubServer:
        server = self

        class Handler(_Handler):
            github = server

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), name="github-server",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> GitHubServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._httpd is not None, "start() the server first"
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    @property
    def api_url(self) -> str:
        """GitHub Enterprise style base URL (what PyGithub's base_url / GITHUB_API_URL take)."""
        return self.url + API_PREFIX

    # --- faults --------------------------------------------------------------------------------

    def add_fault(self, fault: Fault) -> Fault:
        with self._lock:
            self.faults.append(fault)
        return fault

    def fail(self, method: str | None, path: str, status: int = 500, *, times: int = 1, skip: int = 0,
             operation: str | None = None) -> Fault:
        return self.add_fault(Fault(method, path, status=status, times=times, skip=skip, operation=operation,
                                    message="Server Error" if status >= 500 else "Error"))

    def primary_rate_limit(self, method: str | None, path: str, *, reset_in: int = 30, status: int = 403,
                           times: int = 1, operation: str | None = None) -> Fault:
        return self.add_fault(Fault(method, path, status=status, times=times, operation=operation,
                                    message="API rate limit exceeded for installation ID 1.",
                                    headers=self._exhausted(reset_in)))

    def graphql_rate_limit(self, operation: str | None = None, *, reset_in: int = 30, times: int = 1) -> Fault:
        """GraphQL's primary rate limit as GitHub reports it: HTTP 200, an error of type RATE_LIMITED, and
        the x-ratelimit-* headers at zero (nothing is executed)."""
        payload = {"data": None, "errors": [{"type": "RATE_LIMITED", "message": "API rate limit exceeded for user "
                                             "ID 1. If you reach out to GitHub Support for help, please include the "
                                             "request ID 0000:0000:0000000:0000000:00000000."}]}
        return self.add_fault(Fault("POST", GRAPHQL_PATH, status=200, times=times, operation=operation,
                                    payload=payload, headers={**self._exhausted(reset_in),
                                                              "x-ratelimit-resource": "graphql"}))

    def _exhausted(self, reset_in: int) -> dict[str, str]:
        return {"x-ratelimit-remaining": "0", "x-ratelimit-limit": str(self.rate_limit),
                "x-ratelimit-reset": str(int(time.time()) + reset_in), "x-ratelimit-used": str(self.rate_limit)}

    def secondary_rate_limit(self, method: str | None, path: str, *, retry_after: int | None = 7, status: int = 429,
                             times: int = 1, operation: str | None = None) -> Fault:
        headers = {} if retry_after is None else {"retry-after": str(retry_after)}
        return self.add_fault(Fault(method, path, status=status, times=times, headers=headers, operation=operation,
                                    message="You have exceeded a secondary rate limit. "
                                            "Please wait a few minutes before you try again."))

    def slow(self, method: str | None, path: str, seconds: float, *, times: int = 1,
             operation: str | None = None) -> Fault:
        return self.add_fault(Fault(method, path, delay=seconds, times=times, operation=operation))

    def lose_response(self, method: str | None, path: str, status: int = 502, *, times: int = 1,
                      operation: str | None = None) -> Fault:
        return self.add_fault(Fault(method, path, status=status, lose_response=True, times=times, operation=operation,
                                    message="Bad Gateway"))

    def _take_fault(self, call: Call) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.times > 0 and fault.matches(call.method, call.path, call.label):
                    if fault.skip > 0:
                        fault.skip -= 1
                        continue
                    fault.times -= 1
                    fault.hits += 1
                    return fault
        return None

    # --- credentials ---------------------------------------------------------------------------

    def allow_tokens(self, *tokens: str) -> None:
        with self._lock:
            self.tokens = set(tokens) | (self.tokens or set())

    def register_app(self, app_id: int, public_key_pem: str, installations: list[int | Installation]) -> None:
        """Accept JWTs signed by the app's private key; issue installation tokens for its installations (a bare
        id: an installation that sees every repository)."""
        with self._lock:
            found = [i if isinstance(i, Installation) else Installation(i) for i in installations]
            self.apps[app_id] = App(app_id, public_key_pem, {i.id: i for i in found})
            if self.tokens is None:
                self.tokens = set()

    # --- rate-limit shapes (GitHub's GraphQL docs, and what GitHub has been seen to send) -----------

    def graphql_primary_rate_limit(self, operation: str | None = None, *, shape: str = "RATE_LIMIT",
                                   exhausted: bool = True, reset_in: int = 30, times: int = 1) -> Fault:
        """GraphQL's primary limit in its other shapes: HTTP 200 with `{"type": "RATE_LIMIT", "code":
        "graphql_rate_limit"}` (`shape="RATE_LIMIT"`), or with a message only (`shape="message"`);
        `exhausted=False` leaves x-ratelimit-remaining above zero, as GitHub sometimes does."""
        message = "API rate limit already exceeded for user ID 1."
        error: dict[str, Any] = {"message": message}
        if shape == "RATE_LIMIT":
            error = {"type": "RATE_LIMIT", "code": "graphql_rate_limit", "message": message}
        headers = self._exhausted(reset_in) if exhausted else {
            "x-ratelimit-remaining": "17", "x-ratelimit-reset": str(int(time.time()) + reset_in)}
        return self.add_fault(Fault("POST", GRAPHQL_PATH, status=200, times=times, operation=operation,
                                    payload={"errors": [error]},
                                    headers={**headers, "x-ratelimit-resource": "graphql"}))

    def graphql_secondary_rate_limit(self, operation: str | None = None, *, status: int = 200,
                                     retry_after: int | None = None, times: int = 1) -> Fault:
        """GraphQL's secondary limit: HTTP 200 or 403, errors with a message saying so (no type), and
        Retry-After when GitHub sends one."""
        headers = {} if retry_after is None else {"retry-after": str(retry_after)}
        payload = {"errors": [{"message": "You have exceeded a secondary rate limit. Please wait a few minutes "
                                          "before you try again. If you reach out to GitHub Support for help, "
                                          "please include the request ID 0000:0000:0000000:0000000:00000000."}]}
        return self.add_fault(Fault("POST", GRAPHQL_PATH, status=status, times=times, operation=operation,
                                    payload=payload, headers=headers))

    # --- GitHub App installations --------------------------------------------------------------

    def revoke_token(self, token: str) -> None:
        """Revoke an installation token (DELETE /installation/token, an admin, a suspended installation)."""
        with self._lock:
            self.installation_tokens[token].revoked = True

    def expire_token(self, token: str) -> None:
        """Expire an installation token by GitHub's clock (the worker's clock may say otherwise)."""
        with self._lock:
            self.installation_tokens[token].expires = datetime.now(UTC) - timedelta(seconds=1)

    def tokens_for(self, repo: str) -> list[str]:
        """Installation tokens issued so far that reach `repo`, oldest first."""
        with self._lock:
            return [t for t, grant in self.installation_tokens.items()
                    if grant.repositories is None or repo in grant.repositories]

    def _app_from_jwt(self, token: str | None) -> App:
        if not token:
            raise ApiError(401, "A JSON web token could not be decoded")
        try:
            unverified = jwt.decode(token, options={"verify_signature": False})
            app = self.apps[int(unverified["iss"])]
            jwt.decode(token, app.public_key, algorithms=["RS256"], leeway=60)
        except (jwt.PyJWTError, KeyError, ValueError) as err:
            raise ApiError(401, "A JSON web token could not be decoded") from err
        return app

    def _app_route(self, method: str, path: str, body: Any, jwt_token: str | None) -> tuple[int, Any]:
        """GET /app, GET /app/installations/{id}, POST /app/installations/{id}/access_tokens (JWT auth)."""
        app = self._app_from_jwt(jwt_token)
        if path == "/app" and method == "GET":
            return 200, {"id": app.app_id, "slug": f"app-{app.app_id}", "name": f"App {app.app_id}",
                         "owner": {"login": "platform"}, "permissions": INSTALLATION_PERMISSIONS}
        m = re.fullmatch(r"/app/installations/(\d+)(/access_tokens)?", path)
        installation = app.installations.get(int(m.group(1))) if m else None
        if m is None or installation is None:
            raise ApiError(404, "Not Found")
        if not m.group(2) and method == "GET":
            return 200, {"id": installation.id, "app_id": app.app_id,
                         "account": {"login": installation.account or "any", "type": "Organization"},
                         "repository_selection": "all" if installation.repositories is None else "selected",
                         "permissions": installation.permissions,
                         "suspended_at": _now_iso() if installation.suspended else None}
        if m.group(2) and method == "POST":
            return self._access_token(installation, body if isinstance(body, dict) else {})
        raise ApiError(404, "Not Found")

    def _access_token(self, installation: Installation, body: dict[str, Any]) -> tuple[int, Any]:
        """An installation token, narrowed as asked: `repositories` (names within the installation's account)
        and `permissions` (each at most what the installation was granted), as GitHub validates them."""
        if installation.suspended:
            raise ApiError(403, "This installation has been suspended")
        repositories: set[str] | None = None
        if body.get("repositories") is not None:
            repositories = set()
            for name in body["repositories"]:
                found = [full for full in self.repos if full.split("/", 1)[1] == name and installation.includes(full)]
                if not found:
                    raise ApiError(422, "There is at least one repository that does not exist or is not accessible "
                                        "to the parent installation.")
                repositories.update(found)
        wanted = dict(body.get("permissions") or installation.permissions)
        if any(_LEVELS.get(installation.permissions.get(k, ""), 0) < _LEVELS.get(v, 9) for k, v in wanted.items()):
            raise ApiError(422, "The permissions requested are not granted to this installation.")
        token = "ghs_" + secrets.token_hex(18)
        expires = datetime.now(UTC) + timedelta(hours=1)
        self.installation_tokens[token] = InstallationToken(installation.id, expires, repositories, wanted)
        answer: dict[str, Any] = {"token": token, "expires_at": expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
                                  "permissions": wanted,
                                  "repository_selection": "all" if repositories is None else "selected"}
        if repositories is not None:
            answer["repositories"] = [self._repo_json(self.repos[r]) for r in sorted(repositories)]
        return 201, answer

    def installation_can_see(self, token: str | None, full_name: str) -> bool:
        """Whether a request with `token` may see the repository (always, for anything but an installation token)."""
        grant = self.installation_tokens.get(token or "")
        if grant is None:
            return True
        installation = next((app.installations[grant.installation_id] for app in self.apps.values()
                             if grant.installation_id in app.installations), None)
        return (installation is not None and installation.includes(full_name)
                and (grant.repositories is None or full_name in grant.repositories))

    def installation_may(self, token: str | None, permission: str, level: str) -> bool:
        grant = self.installation_tokens.get(token or "")
        return grant is None or _LEVELS.get(grant.permissions.get(permission, ""), 0) >= _LEVELS[level]

    def _authorize_installation(self, method: str, path: str, token: str | None, body: bytes, graphql: bool) -> None:
        """REST calls with an installation token: a repository outside the token's reach is a 404, a missing
        permission a 403, and a tree touching .github/workflows/ needs Workflows write (GraphQL checks the same
        in github_graphql). Endpoints not modelled here are not checked."""
        if graphql or token not in self.installation_tokens:
            return
        m = re.fullmatch(r"/repos/([^/]+/[^/]+)(/.*)?", path)
        if m is None:
            return
        if not self.installation_can_see(token, m.group(1)):
            raise ApiError(404, "Not Found")
        sub, level = m.group(2) or "", "read" if method == "GET" else "write"
        needs: list[str] = []
        if sub == "":
            needs, level = ["metadata"], "read"
        elif re.fullmatch(r"/pulls/\d+/merge", sub):
            needs = ["contents"]
        elif sub.startswith("/pulls"):
            needs = ["pull_requests"]
        elif sub.startswith("/issues"):
            needs = ["issues", "pull_requests"]  # labels on a pull request: either will do
        elif re.fullmatch(r"/commits/[^/]+/check-runs", sub):
            needs = ["checks"]
        elif sub.startswith("/actions/"):
            needs = ["actions"]  # workflow runs, jobs, logs; re-running failed jobs needs write
        elif sub.startswith(("/git/", "/branches", "/compare", "/contents", "/commits")):
            needs = ["contents"]
        if needs and not any(self.installation_may(token, n, level) for n in needs):
            raise ApiError(403, "Resource not accessible by integration")
        if sub == "/git/trees" and method == "POST":
            paths = [str(e.get("path", "")) for e in (_json(body).get("tree") or []) if isinstance(e, dict)]
            self.check_workflow_permission(token, paths)

    def check_workflow_permission(self, token: str | None, paths: list[str]) -> None:
        """GitHub refuses an App's change to .github/workflows/ without the Workflows permission. (Modelled
        where the content arrives: tree creation, createCommitOnBranch; GitHub checks on the push.)"""
        touched = next((p for p in paths if p.startswith(".github/workflows/")), None)
        if touched is not None and not self.installation_may(token, "workflows", "write"):
            raise ApiError(403, f"refusing to allow a GitHub App to create or update workflow `{touched}` "
                                "without `workflows` permission")

    # --- forks ---------------------------------------------------------------------------------

    def fork_repo(self, source: str, fork: str) -> None:
        """`fork` as a copy of `source`'s branches (sharing its git objects, as a fork shares history)."""
        with self._lock:
            origin = self.repos[source]
            self.repos[fork] = Repo(full_name=fork, default_branch=origin.default_branch, refs=dict(origin.refs))

    def open_fork_pull(self, base: str, fork: str, branch: str, files: dict[str, str], *,
                       title: str = "from a fork") -> Pull:
        """Someone commits `files` on `branch` of their fork and opens a pull request against `base`'s
        default branch: its head is in the fork, whatever the branch is called (launchpad/<key> too)."""
        with self._lock:
            repo, origin = self.repos[fork], self.repos[base]
            parent = origin.refs[f"refs/heads/{origin.default_branch}"]
            flat = self.objects.flatten(self.objects.read_commit(parent)["tree"])
            flat.update({p: ("100644", self.objects.blob(c.encode())) for p, c in files.items()})
            sha = self.objects.commit(self.objects.build(flat), [parent], "fork change\n", _person("Mallory"),
                                      _person("Mallory"))
            repo.refs[f"refs/heads/{branch}"] = sha
            pull = Pull(number=origin.next_number, title=title, body="", head=branch, base=origin.default_branch,
                        head_sha=sha, head_repo=fork)
            origin.next_number += 1
            origin.pulls[pull.number] = pull
            return pull

    # --- seeding and acting like a person ------------------------------------------------------

    def seed_repo(self, full_name: str, files: dict[str, str] | None = None, *, branch: str = "main") -> str:
        """Create (or reset) a repository whose `branch` has one commit with `files`."""
        with self._lock:
            repo = Repo(full_name=full_name, default_branch=branch)
            self.repos[full_name] = repo
            tree = self.objects.build({p: ("100644", self.objects.blob(c.encode())) for p, c in (files or {}).items()})
            sha = self.objects.commit(tree, [], "Initial commit\n", _person("Seed"), _person("Seed"))
            repo.refs[f"refs/heads/{branch}"] = sha
            self.actions.observe()
            return sha

    def commit(self, full_name: str, files: dict[str, str], deletes: list[str] | None = None, *,
               branch: str = "main", message: str = "someone else's change") -> str:
        """Commit straight onto `branch` (moving the base under an open change)."""
        with self._lock:
            repo = self.repos[full_name]
            parent = repo.refs[f"refs/heads/{branch}"]
            flat = self.objects.flatten(self.objects.read_commit(parent)["tree"])
            for path, content in files.items():
                flat[path] = ("100644", self.objects.blob(content.encode()))
            for path in deletes or []:
                flat.pop(path, None)
            sha = self.objects.commit(self.objects.build(flat), [parent], message + "\n", _person("Someone"),
                                      _person("Someone"))
            _set_ref(repo, f"refs/heads/{branch}", sha)
            self.actions.observe()
            return sha

    def merge_pull(self, full_name: str, number: int) -> str:
        with self._lock:
            sha = self._merge(self.repos[full_name], number)
            self.actions.observe()
            return sha

    def delete_pull(self, full_name: str, number: int) -> None:
        with self._lock:
            del self.repos[full_name].pulls[number]

    def delete_ref(self, full_name: str, ref: str) -> None:
        with self._lock:
            self.repos[full_name].refs.pop(ref, None)

    def tip(self, full_name: str, branch: str = "main") -> str:
        with self._lock:
            return self.repos[full_name].refs[f"refs/heads/{branch}"]

    def branches(self, full_name: str) -> list[str]:
        with self._lock:
            return sorted(r.removeprefix("refs/heads/") for r in self.repos[full_name].refs)

    def pulls(self, full_name: str) -> list[Pull]:
        with self._lock:
            return list(self.repos[full_name].pulls.values())

    def commits_ahead(self, full_name: str, branch: str, base: str = "main") -> int:
        with self._lock:
            repo = self.repos[full_name]
            base_set = set(self.objects.ancestors(repo.refs[f"refs/heads/{base}"]))
            return len([c for c in self.objects.ancestors(repo.refs[f"refs/heads/{branch}"]) if c not in base_set])

    def file(self, full_name: str, path: str, ref: str = "main") -> str | None:
        with self._lock:
            sha = self._resolve(self.repos[full_name], ref)
            entry = self.objects.flatten(self.objects.read_commit(sha)["tree"]).get(path)
            return None if entry is None else self.objects.read_blob(entry[1]).decode()

    def calls_matching(self, method: str | None = None, path: str = "", *, repo: str | None = None,
                       operation: str | None = None) -> list[Call]:
        """Calls by method, path regex, repository (REST path or what a GraphQL call named or touched)
        and `operation` regex searched in the call's label."""
        with self._lock:
            return [c for c in self.calls if (method is None or c.method == method) and re.search(path, c.path)
                    and (repo is None or repo in c.repos)
                    and (operation is None or re.search(operation, c.label) is not None)]

    def reset_calls(self) -> None:
        with self._lock:
            self.calls.clear()

    # --- request handling ----------------------------------------------------------------------

    def handle(self, method: str, raw_path: str, headers: dict[str, str],
               body: bytes) -> tuple[int, dict[str, str], Any]:
        from tests.support import github_graphql  # it builds on this module's model

        parsed = urllib.parse.urlsplit(raw_path)
        path = urllib.parse.unquote(parsed.path)
        if path in ("/api" + GRAPHQL_PATH, GRAPHQL_PATH):
            path = GRAPHQL_PATH
        elif path.startswith(API_PREFIX):
            path = path[len(API_PREFIX):]
        query = dict(urllib.parse.parse_qsl(parsed.query))
        token = _token_of(headers.get("authorization", ""))
        call = Call(method, path, query, token)
        graphql = path == GRAPHQL_PATH
        if graphql:
            operation = github_graphql.describe(body)
            call.kind, call.operation, call.fields, call.repos = (operation.kind, operation.name, operation.fields,
                                                                  operation.repos)
            call.document = str((_json(body) or {}).get("query", "")) if body else ""
        else:
            m = re.match(r"/repos/([^/]+/[^/]+)", path)
            call.repos = (m.group(1),) if m else ()
        with self._lock:
            self.calls.append(call)
        if self.latency_seconds:
            time.sleep(self.latency_seconds)
        fault = self._take_fault(call)
        if fault is not None and fault.delay:
            time.sleep(fault.delay)
        status, extra, payload = 500, {}, None
        if path.startswith(LOG_PATH) and method == "GET":  # a signed log download: no token, plain text
            full_name, _, job_id = path[len(LOG_PATH):].rpartition("/")
            with self._lock:
                call.status = 200
                return 200, {}, self.actions.log(full_name, int(job_id))
        try:
            if fault is not None and fault.status is not None and not fault.lose_response:
                if fault.payload is not None:
                    call.status = fault.status
                    return fault.status, {**self._rate_headers(token, graphql), **fault.headers}, fault.payload
                raise ApiError(fault.status, fault.message, headers=fault.headers)
            self._authenticate(path, token)
            self._authorize_installation(method, path, token, body, graphql)
            with self._lock:
                if graphql:
                    if method != "POST":
                        raise ApiError(404, "Not Found")
                    status, payload = 200, github_graphql.execute(self, _json(body), call)
                else:
                    status, payload = self._route(method, path, query, _json(body), token)
                self.actions.observe()  # what GitHub Actions would start after this call
            if status == 302 and isinstance(payload, dict):
                extra, payload = {"location": payload["__location__"]}, None
            if fault is not None and fault.lose_response:
                raise ApiError(fault.status or 502, fault.message, headers=fault.headers)
        except ApiError as err:
            status, extra, payload = err.status, err.headers, err.body
        charged = True
        if method == "GET" and status == 200 and payload is not None and not graphql:
            digest = hashlib.sha1(json.dumps(payload, sort_keys=True).encode(), usedforsecurity=False).hexdigest()
            etag = f'"{digest}"'
            extra = {**extra, "etag": etag}
            if headers.get("if-none-match") == etag:  # GitHub: a 304 does not count against the rate limit
                status, payload, charged = 304, None, False
        call.status = status
        return status, {**self._rate_headers(token, graphql, charged), **extra}, payload

    def _rate_headers(self, token: str | None, graphql: bool = False, charged: bool = True) -> dict[str, str]:
        """REST ('core') and GraphQL have separate budgets per token, as on GitHub (here: 1 per call)."""
        pool = self.graphql_remaining if graphql else self.remaining
        with self._lock:
            left = pool.get(token, self.rate_limit) - (1 if charged else 0)
            pool[token] = max(left, 0)
        return {"x-ratelimit-limit": str(self.rate_limit), "x-ratelimit-remaining": str(max(left, 0)),
                "x-ratelimit-reset": str(int(time.time()) + 3600), "x-ratelimit-used": str(self.rate_limit - left),
                "x-ratelimit-resource": "graphql" if graphql else "core"}

    def _authenticate(self, path: str, token: str | None) -> None:
        if path == "/app" or path.startswith("/app/"):
            self._app_from_jwt(token)
            return
        with self._lock:
            if self.tokens is None:
                return
            known = token in self.tokens
            installation = self.installation_tokens.get(token or "")
            if installation is not None:
                known = not installation.revoked and installation.expires > datetime.now(UTC)
        if not known:
            raise ApiError(401, "Bad credentials")

    def _route(self, method: str, path: str, query: dict[str, str], body: Any,
               token: str | None) -> tuple[int, Any]:
        if path == "/rate_limit" and method == "GET":
            left = self.remaining.get(token, self.rate_limit)
            core = {"limit": self.rate_limit, "remaining": left, "reset": int(time.time()) + 3600,
                    "used": self.rate_limit - left}
            points = self.graphql_remaining.get(token, self.rate_limit)
            graphql = {"limit": self.rate_limit, "remaining": points, "reset": int(time.time()) + 3600,
                       "used": self.rate_limit - points}
            return 200, {"resources": {"core": core, "graphql": graphql}, "rate": core}
        if path == "/app" or path.startswith("/app/"):
            return self._app_route(method, path, body, token)
        m = re.fullmatch(r"/repos/([^/]+/[^/]+)(/.*)?", path)
        if not m:
            raise ApiError(404, "Not Found")
        repo = self.repos.get(m.group(1))
        if repo is None:
            raise ApiError(404, "Not Found")
        return self._repo_route(repo, method, m.group(2) or "", query, body)

    def _repo_route(self, repo: Repo, method: str, sub: str, query: dict[str, str],
                    body: Any) -> tuple[int, Any]:
        base = f"{self.api_url}/repos/{repo.full_name}"
        if sub == "" and method == "GET":
            return 200, self._repo_json(repo)
        m = re.fullmatch(r"/branches/(.+)", sub)
        if m and method == "GET":
            sha = repo.refs.get(f"refs/heads/{m.group(1)}")
            if sha is None:
                raise ApiError(404, "Branch not found")
            return 200, {"name": m.group(1), "commit": self._commit_json(repo, sha), "protected": False,
                         "_links": {"self": f"{base}/branches/{m.group(1)}"}}
        m = re.fullmatch(r"/git/(?:ref|refs)/(.+)", sub)
        if m and method == "GET":
            ref = "refs/" + m.group(1)
            if ref not in repo.refs:
                raise ApiError(404, "Not Found")
            return 200, self._ref_json(repo, ref)
        m = re.fullmatch(r"/git/matching-refs/(.+)", sub)
        if m and method == "GET":
            prefix = "refs/" + m.group(1)
            return 200, [self._ref_json(repo, r) for r in sorted(repo.refs) if r.startswith(prefix)]
        if sub == "/git/refs" and method == "POST":
            return self._create_ref(repo, body)
        m = re.fullmatch(r"/git/refs/(.+)", sub)
        if m and method == "PATCH":
            return self._update_ref(repo, "refs/" + m.group(1), body)
        if m and method == "DELETE":
            if repo.refs.pop("refs/" + m.group(1), None) is None:
                raise ApiError(422, "Reference does not exist")
            return 204, None
        if sub == "/git/blobs" and method == "POST":
            content = body.get("content", "")
            data = base64.b64decode(content) if body.get("encoding") == "base64" else content.encode()
            sha = self.objects.blob(data)
            return 201, {"sha": sha, "url": f"{base}/git/blobs/{sha}"}
        m = re.fullmatch(r"/git/blobs/([0-9a-f]{40})", sub)
        if m and method == "GET":
            if self.objects.kind(m.group(1)) != "blob":
                raise ApiError(404, "Not Found")
            data = self.objects.read_blob(m.group(1))
            return 200, {"sha": m.group(1), "size": len(data), "encoding": "base64",
                         "content": base64.b64encode(data).decode(), "url": f"{base}/git/blobs/{m.group(1)}"}
        if sub == "/git/trees" and method == "POST":
            return self._create_tree(repo, body)
        m = re.fullmatch(r"/git/trees/(.+)", sub)
        if m and method == "GET":
            return self._get_tree(repo, m.group(1), recursive=bool(query.get("recursive")))
        if sub == "/git/commits" and method == "POST":
            return self._create_commit(repo, body)
        m = re.fullmatch(r"/git/commits/([0-9a-f]{40})", sub)
        if m and method == "GET":
            if self.objects.kind(m.group(1)) != "commit":
                raise ApiError(404, "Not Found")
            return 200, self._git_commit_json(repo, m.group(1))
        m = re.fullmatch(r"/compare/(.+)\.\.\.(.+)", sub)
        if m and method == "GET":
            return self._compare(repo, m.group(1), m.group(2))
        m = re.fullmatch(r"/contents/(.*)", sub)
        if m and method == "GET":
            return self._contents(repo, m.group(1), query.get("ref", repo.default_branch))
        if sub == "/pulls" and method == "GET":
            return 200, self._list_pulls(repo, query)
        if sub == "/pulls" and method == "POST":
            return self._create_pull(repo, body)
        m = re.fullmatch(r"/pulls/(\d+)", sub)
        if m:
            pull = self._pull(repo, int(m.group(1)))
            if method == "GET":
                return 200, self._pull_json(repo, pull, full=True)
            if method == "PATCH":
                for name in ("title", "body"):
                    if name in body:
                        setattr(pull, name, body[name])
                if body.get("state") == "closed" and pull.state == "open":
                    pull.state, pull.closed_at = "closed", _now_iso()
                elif body.get("state") == "open" and pull.merged_at is None:
                    pull.state, pull.closed_at = "open", None
                return 200, self._pull_json(repo, pull, full=True)
        m = re.fullmatch(r"/pulls/(\d+)/merge", sub)
        if m and method == "PUT":
            sha = self._merge(repo, int(m.group(1)))
            return 200, {"sha": sha, "merged": True, "message": "Pull Request successfully merged"}
        m = re.fullmatch(r"/issues/(\d+)/labels", sub)
        if m:
            pull = self._pull(repo, int(m.group(1)))
            if method in ("POST", "PUT"):
                names = body.get("labels", []) if isinstance(body, dict) else body
                names = [n if isinstance(n, str) else n["name"] for n in names]
                pull.labels = sorted(set(names) if method == "PUT" else set(pull.labels) | set(names))
            elif method != "GET":
                raise ApiError(404, "Not Found")
            return 200, [self._label_json(repo, n) for n in pull.labels]
        answer = self.actions.route(repo, method, sub, query, body)  # Actions, checks, comments
        if answer is not None:
            return answer
        raise ApiError(404, "Not Found")

    # --- endpoint bodies -----------------------------------------------------------------------

    def _resolve(self, repo: Repo, ref: str) -> str:
        for candidate in (f"refs/heads/{ref}", f"refs/{ref}", ref):
            if candidate in repo.refs:
                return repo.refs[candidate]
        if re.fullmatch(r"[0-9a-f]{40}", ref) and self.objects.kind(ref) == "commit":
            return ref
        raise ApiError(404, "No commit found for the ref " + ref)

    def _create_ref(self, repo: Repo, body: dict[str, Any]) -> tuple[int, Any]:
        ref, sha = body.get("ref", ""), body.get("sha", "")
        if not ref.startswith("refs/") or ref.count("/") < 2:
            raise ApiError(422, "Reference name is not valid")
        if self.objects.kind(sha) != "commit":
            raise ApiError(422, "Object does not exist")
        if ref in repo.refs:
            raise ApiError(422, "Reference already exists")
        if any(r.startswith(ref + "/") or ref.startswith(r + "/") for r in repo.refs):
            raise ApiError(422, "Reference cannot be created")
        repo.refs[ref] = sha
        return 201, self._ref_json(repo, ref)

    def _update_ref(self, repo: Repo, ref: str, body: dict[str, Any]) -> tuple[int, Any]:
        if ref not in repo.refs:
            raise ApiError(422, "Reference does not exist")
        sha = body.get("sha", "")
        if self.objects.kind(sha) != "commit":
            raise ApiError(422, "Object does not exist")
        if not body.get("force") and repo.refs[ref] not in self.objects.ancestors(sha):
            raise ApiError(422, "Update is not a fast forward")
        _set_ref(repo, ref, sha)
        return 200, self._ref_json(repo, ref)

    def _create_tree(self, repo: Repo, body: dict[str, Any]) -> tuple[int, Any]:
        flat: dict[str, tuple[str, str]] = {}
        if body.get("base_tree"):
            if self.objects.kind(body["base_tree"]) != "tree":
                raise ApiError(422, "base_tree is not a valid tree oid")
            flat = self.objects.flatten(body["base_tree"])
        for entry in body.get("tree", []):
            path, mode = entry["path"], entry.get("mode", "100644")
            if "content" in entry and entry.get("sha") is not None:
                raise ApiError(422, "Must supply either tree.sha or tree.content. "
                                    "Request will be rejected if both are present.")
            if "content" in entry:
                flat[path] = (mode, self.objects.blob(entry["content"].encode()))
            elif "sha" in entry and entry["sha"] is None:
                removed = [p for p in flat if p == path or p.startswith(path + "/")]
                if not removed:
                    raise ApiError(422, "GitRPC::BadObjectState")
                for p in removed:
                    del flat[p]
            elif "sha" in entry:
                kind = self.objects.kind(entry["sha"])
                if kind == "tree":
                    for sub, value in self.objects.flatten(entry["sha"]).items():
                        flat[f"{path}/{sub}"] = value
                elif kind == "blob":
                    flat[path] = (mode, entry["sha"])
                else:
                    raise ApiError(422, "tree.sha " + entry["sha"] + " is not a valid blob")
            else:
                raise ApiError(422, "Must supply tree.sha or tree.content")
        sha = self.objects.build(flat)
        return 201, self._tree_json(repo, sha, recursive=False)

    def _get_tree(self, repo: Repo, ref: str, *, recursive: bool) -> tuple[int, Any]:
        is_tree = self.objects.kind(ref) == "tree"
        sha = ref if is_tree else self.objects.read_commit(self._resolve(repo, ref))["tree"]
        return 200, self._tree_json(repo, sha, recursive=recursive)

    def _create_commit(self, repo: Repo, body: dict[str, Any]) -> tuple[int, Any]:
        tree, parents = body.get("tree", ""), body.get("parents", [])
        if self.objects.kind(tree) != "tree":
            raise ApiError(422, "Tree SHA does not exist")
        if any(self.objects.kind(p) != "commit" for p in parents):
            raise ApiError(422, "Parent SHA does not exist or is not a commit object")
        author = body.get("author") or _person("LaunchPad bot")
        committer = body.get("committer") or author
        sha = self.objects.commit(tree, parents, body.get("message", ""), author, committer)
        return 201, self._git_commit_json(repo, sha)

    def _compare(self, repo: Repo, base_ref: str, head_ref: str) -> tuple[int, Any]:
        base, head = self._resolve(repo, base_ref), self._resolve(repo, head_ref)
        base_anc, head_anc = self.objects.ancestors(base), self.objects.ancestors(head)
        merge_base = next((c for c in head_anc if c in set(base_anc)), None)
        if merge_base is None:
            raise ApiError(404, "No common ancestor")
        ahead = [c for c in head_anc if c not in set(base_anc)]
        behind = [c for c in base_anc if c not in set(head_anc)]
        old = self.objects.flatten(self.objects.read_commit(merge_base)["tree"])
        new = self.objects.flatten(self.objects.read_commit(head)["tree"])
        files = []
        for path in sorted(set(old) | set(new)):
            if old.get(path) == new.get(path):
                continue
            status = "added" if path not in old else "removed" if path not in new else "modified"
            sha = (new.get(path) or old[path])[1]
            files.append({"sha": sha, "filename": path, "status": status, "additions": 0, "deletions": 0,
                          "changes": 0, "blob_url": "", "raw_url": "", "contents_url": ""})
        status = "identical" if base == head else "ahead" if not behind else "behind" if not ahead else "diverged"
        return 200, {"url": f"{self.api_url}/repos/{repo.full_name}/compare/{base_ref}...{head_ref}",
                     "html_url": "", "permalink_url": "", "diff_url": "", "patch_url": "",
                     "status": status, "ahead_by": len(ahead), "behind_by": len(behind),
                     "total_commits": len(ahead), "base_commit": self._commit_json(repo, base),
                     "merge_base_commit": self._commit_json(repo, merge_base),
                     "commits": [self._commit_json(repo, c) for c in reversed(ahead)], "files": files}

    def _contents(self, repo: Repo, path: str, ref: str) -> tuple[int, Any]:
        flat = self.objects.flatten(self.objects.read_commit(self._resolve(repo, ref))["tree"])
        base = f"{self.api_url}/repos/{repo.full_name}/contents"
        if path in flat:
            data = self.objects.read_blob(flat[path][1])
            return 200, {"type": "file", "encoding": "base64", "size": len(data), "name": path.rsplit("/", 1)[-1],
                         "path": path, "content": base64.b64encode(data).decode(), "sha": flat[path][1],
                         "url": f"{base}/{path}?ref={ref}", "git_url": "", "html_url": "", "download_url": "",
                         "_links": {}}
        prefix = path.rstrip("/") + "/" if path else ""
        children = sorted({p[len(prefix):].split("/")[0] for p in flat if p.startswith(prefix)})
        if not children:
            raise ApiError(404, "Not Found")
        return 200, [{"type": "file" if f"{prefix}{c}" in flat else "dir", "name": c, "path": f"{prefix}{c}",
                      "sha": flat.get(f"{prefix}{c}", ("", ""))[1], "size": 0, "url": f"{base}/{prefix}{c}"}
                     for c in children]

    def _list_pulls(self, repo: Repo, query: dict[str, str]) -> list[dict[str, Any]]:
        state = query.get("state", "open")
        pulls = sorted(repo.pulls.values(), key=lambda p: -p.number)
        out = []
        for pull in pulls:
            if state != "all" and pull.state != state:
                continue
            head_owner = (pull.head_repo or repo.full_name).split("/")[0]
            if "head" in query and query["head"] != f"{head_owner}:{pull.head}":
                continue
            if "base" in query and query["base"] != pull.base:
                continue
            out.append(self._pull_json(repo, pull, full=False))
        return out

    def _create_pull(self, repo: Repo, body: dict[str, Any]) -> tuple[int, Any]:
        pull = self.open_pull_request(repo, str(body.get("head", "")).split(":", 1)[-1], str(body.get("base", "")),
                                      str(body.get("title", "")), body.get("body") or "")
        return 201, self._pull_json(repo, pull, full=True)

    def open_pull_request(self, repo: Repo, head: str, base: str, title: str, body: str) -> Pull:
        """Open a pull request as GitHub does (REST and GraphQL): both branches must exist, the head must
        have commits the base lacks ("No commits between", e.g. a head already merged), and only one open
        pull request per head and base."""
        head_sha, base_sha = repo.refs.get(f"refs/heads/{head}"), repo.refs.get(f"refs/heads/{base}")
        if head_sha is None or base_sha is None:
            raise ApiError(422, "Validation Failed", [{"resource": "PullRequest", "field": "head", "code": "invalid"}])
        if head_sha in self.objects.ancestors(base_sha):
            raise ApiError(422, "Validation Failed", [{"resource": "PullRequest", "code": "custom",
                                                      "message": f"No commits between {base} and {head}"}])
        if any(p.head == head and p.base == base and p.state == "open" and p.head_repo is None
               for p in repo.pulls.values()):
            owner = repo.full_name.split("/")[0]
            raise ApiError(422, "Validation Failed", [{"resource": "PullRequest", "code": "custom",
                                                      "message": f"A pull request already exists for {owner}:{head}."}])
        pull = Pull(number=repo.next_number, title=title, body=body, head=head, base=base, head_sha=head_sha)
        repo.next_number += 1
        repo.pulls[pull.number] = pull
        return pull

    def _pull(self, repo: Repo, number: int) -> Pull:
        if number not in repo.pulls:
            raise ApiError(404, "Not Found")
        return repo.pulls[number]

    def _merge(self, repo: Repo, number: int) -> str:
        pull = self._pull(repo, number)
        if pull.state != "open":
            raise ApiError(405, "Pull Request is not mergeable")
        base_ref = f"refs/heads/{pull.base}"
        base_sha = repo.refs[base_ref]
        base_tree = self.objects.flatten(self.objects.read_commit(base_sha)["tree"])
        head_tree = self.objects.flatten(self.objects.read_commit(pull.head_sha)["tree"])
        head_anc = self.objects.ancestors(pull.head_sha)
        merge_base = next(c for c in self.objects.ancestors(base_sha) if c in set(head_anc))
        ancestor = self.objects.flatten(self.objects.read_commit(merge_base)["tree"])
        merged = dict(base_tree)
        for path in set(ancestor) | set(head_tree):
            if ancestor.get(path) == head_tree.get(path):
                continue  # unchanged on the PR side
            if ancestor.get(path) != base_tree.get(path) and base_tree.get(path) != head_tree.get(path):
                raise ApiError(405, "Merge conflict")
            if path in head_tree:
                merged[path] = head_tree[path]
            else:
                merged.pop(path, None)
        message = f"Merge pull request #{number} from {repo.full_name.split('/')[0]}/{pull.head}\n\n{pull.title}"
        sha = self.objects.commit(self.objects.build(merged), [base_sha, pull.head_sha], message,
                                  _person("Reviewer"), _person("GitHub"))
        repo.refs[base_ref] = sha
        pull.state, pull.merged_at, pull.closed_at, pull.merge_commit_sha = "closed", _now_iso(), _now_iso(), sha
        return sha

    # --- JSON shapes (as GitHub returns them) --------------------------------------------------

    def _repo_json(self, repo: Repo) -> dict[str, Any]:
        owner, name = repo.full_name.split("/")
        return {"id": abs(hash(repo.full_name)) % 10**8, "node_id": node_id("R", repo.full_name), "name": name,
                "full_name": repo.full_name,
                "owner": {"login": owner, "id": 1, "type": "Organization"}, "private": True,
                "default_branch": repo.default_branch, "url": f"{self.api_url}/repos/{repo.full_name}",
                "html_url": f"{self.url}/{repo.full_name}"}

    def _ref_json(self, repo: Repo, ref: str) -> dict[str, Any]:
        base = f"{self.api_url}/repos/{repo.full_name}/git"
        sha = repo.refs[ref]
        return {"ref": ref, "node_id": node_id("REF", repo.full_name, ref), "url": f"{base}/{ref}",
                "object": {"sha": sha, "type": "commit", "url": f"{base}/commits/{sha}"}}

    def _git_commit_json(self, repo: Repo, sha: str) -> dict[str, Any]:
        info = self.objects.read_commit(sha)
        base = f"{self.api_url}/repos/{repo.full_name}/git"
        return {"sha": sha, "node_id": node_id("C", repo.full_name, sha), "url": f"{base}/commits/{sha}",
                "html_url": f"{self.url}/{repo.full_name}/commit/{sha}", "author": info["author"],
                "committer": info["committer"], "message": info["message"],
                "tree": {"sha": info["tree"], "url": f"{base}/trees/{info['tree']}"},
                "parents": [{"sha": p, "url": f"{base}/commits/{p}", "html_url": ""} for p in info["parents"]],
                "verification": {"verified": False, "reason": "unsigned", "signature": None, "payload": None}}

    def _commit_json(self, repo: Repo, sha: str) -> dict[str, Any]:
        git_commit = self._git_commit_json(repo, sha)
        git_commit.pop("sha")
        url = f"{self.api_url}/repos/{repo.full_name}/commits/{sha}"
        return {"sha": sha, "node_id": node_id("C", repo.full_name, sha), "url": url,
                "html_url": git_commit["html_url"], "commit": git_commit, "author": None, "committer": None,
                "parents": [{"sha": p["sha"], "url": p["url"]} for p in git_commit["parents"]]}

    def _tree_json(self, repo: Repo, sha: str, *, recursive: bool) -> dict[str, Any]:
        base = f"{self.api_url}/repos/{repo.full_name}/git"
        entries: list[dict[str, Any]] = []

        def walk(tree_sha: str, prefix: str) -> None:
            for name, (mode, child) in sorted(self.objects.read_tree(tree_sha).items()):
                kind = "tree" if mode == _TREE_MODE else "blob"
                entry: dict[str, Any] = {"path": prefix + name, "mode": "040000" if kind == "tree" else mode,
                                         "type": kind, "sha": child, "url": f"{base}/{kind}s/{child}"}
                if kind == "blob":
                    entry["size"] = len(self.objects.read_blob(child))
                entries.append(entry)
                if kind == "tree" and recursive:
                    walk(child, prefix + name + "/")

        walk(sha, "")
        return {"sha": sha, "url": f"{base}/trees/{sha}", "tree": entries, "truncated": False}

    def _label_json(self, repo: Repo, name: str) -> dict[str, Any]:
        return {"id": abs(hash(name)) % 10**6, "node_id": "L_" + name, "name": name, "color": "ededed",
                "default": False, "description": None,
                "url": f"{self.api_url}/repos/{repo.full_name}/labels/{urllib.parse.quote(name)}"}

    def _pull_json(self, repo: Repo, pull: Pull, *, full: bool) -> dict[str, Any]:
        owner = repo.full_name.split("/")[0]
        base = f"{self.api_url}/repos/{repo.full_name}"
        user = {"login": "launchpad[bot]", "id": 2, "type": "Bot"}
        repo_json = self._repo_json(repo)
        head_repo = self.repos.get(pull.head_repo) if pull.head_repo else repo
        head_owner = (pull.head_repo or repo.full_name).split("/")[0]
        data: dict[str, Any] = {
            "url": f"{base}/pulls/{pull.number}", "id": 1000 + pull.number,
            "node_id": node_id("PR", repo.full_name, pull.number),
            "html_url": f"{self.url}/{repo.full_name}/pull/{pull.number}", "issue_url": f"{base}/issues/{pull.number}",
            "number": pull.number, "state": pull.state, "locked": False, "title": pull.title, "user": user,
            "body": pull.body, "labels": [self._label_json(repo, n) for n in pull.labels],
            "created_at": pull.created_at, "updated_at": _now_iso(), "closed_at": pull.closed_at,
            "merged_at": pull.merged_at, "merge_commit_sha": pull.merge_commit_sha, "draft": False,
            "head": {"label": f"{head_owner}:{pull.head}", "ref": pull.head, "sha": pull.head_sha, "user": user,
                     "repo": None if head_repo is None else self._repo_json(head_repo)},
            "base": {"label": f"{owner}:{pull.base}", "ref": pull.base,
                     "sha": repo.refs.get(f"refs/heads/{pull.base}", ""), "user": user, "repo": repo_json},
        }
        if full:
            data.update({"merged": pull.merged_at is not None, "mergeable": pull.state == "open",
                         "comments": 0, "commits": 1, "additions": 0, "deletions": 0, "changed_files": 0})
        return data


def _set_ref(repo: Repo, ref: str, sha: str) -> None:
    """Move a ref as a push does: open pull requests from that branch follow it."""
    repo.refs[ref] = sha
    for pull in repo.pulls.values():
        if pull.state == "open" and f"refs/heads/{pull.head}" == ref and pull.head_repo is None:
            pull.head_sha = sha


def _person(name: str) -> dict[str, str]:
    return {"name": name, "email": f"{name.lower().replace(' ', '-')}@example.com", "date": _now_iso()}


def _token_of(header: str) -> str | None:
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() in ("token", "bearer") and value.strip() else None


def _json(body: bytes) -> Any:
    if not body:
        return {}
    try:
        return json.loads(body)
    except json.JSONDecodeError as err:
        raise ApiError(400, "Problems parsing JSON") from err


class _Handler(BaseHTTPRequestHandler):
    github: GitHubServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in separate writes; avoid 40 ms delayed ACKs

    def _serve(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            status, extra, payload = self.github.handle(self.command, self.path, headers, body)
        except Exception as err:  # a bug in the fake must show up as a 500, not a hung client
            status, extra, payload = 500, {}, {"message": f"fake server error: {type(err).__name__}: {err}"}
        text = isinstance(payload, RawText)
        data = b"" if payload is None else payload.encode() if text else json.dumps(payload).encode()
        try:
            self.send_response(status)
            kind = "text/plain" if text else "application/json"
            self.send_header("Content-Type", f"{kind}; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            for name, value in extra.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout tests)
            pass

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:
        return
