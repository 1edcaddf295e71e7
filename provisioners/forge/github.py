"""GitHub (and GitHub Enterprise) forge on PyGithub: one commit and one pull request per change.

Two ways to talk to GitHub, chosen per forge (`api`), with the same results:

- `graphql` (the application's default): a new change costs 3 calls whatever the number of files:
  one query reads everything (`graphql.py`), one mutation document creates the branch, the commit
  (`createCommitOnBranch`, contents inline) and the PR, and one REST call adds the labels (by name,
  creating missing ones; GraphQL cannot label a PR in the document that opens it). A repeat after
  success, `get_change` and the merge check cost 1 query. Only a commit rebuilt under an open PR
  (base moved, content changed) uses the Git Data API, which can set a commit's parent.
- `rest`: the Git Data API: find the PR by head branch, read the base branch, create one tree with
  inline contents on the base tree (deletions are entries with a null sha), one commit, the
  `launchpad/<key>` ref, the PR and its labels: 7 calls; a repeat costs 3 reads.

Every call goes through `Retrier` (backoff, rate-limit waits; after a 401 with a GitHub App credential,
one retry with a new installation token) and every write through the credential's `WritePacer`. With an
App credential each call is signed with an installation token narrowed to its repository and to the
permissions it needs (`app.py`). Pull requests opened from forks are never adopted, whatever their
branch is called. It never decides what to write (see `delivery.py` and `graphql.py` for the
shared idempotency and conflict rules) and never lets a secret into a message: GitHub failures are
re-worded from status and GitHub's text only.
"""

from __future__ import annotations

import logging
import posixpath
import random
import threading
import time
import urllib.error
import urllib.request
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

from github import Auth, Github, GithubException, InputGitTreeElement
from github.GitCommit import GitCommit
from github.GitRef import GitRef
from github.GitTree import GitTree
from github.PullRequest import PullRequest
from github.Repository import Repository

from provisioners.changeset import ChangeSet
from provisioners.errors import ConflictError, PermanentError, TransientError
from provisioners.forge import graphql
from provisioners.forge.app import Access, InstallationTokens, permissions, touches_workflows
from provisioners.forge.base import Change, ChangeState, CheckRun, PipelineJob, PipelineRun, branch_for
from provisioners.forge.credentials import (
    AppCredential,
    Credential,
    TokenCredential,
    credential_problems,
    describe,
    redact_github_logs,
)
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
from provisioners.forge.retry import Clock, RateLimitedAnswer, Retrier, RetryPolicy, Sleep, WritePacer

log = logging.getLogger(__name__)

T = TypeVar("T")
DEFAULT_API_URL = "https://api.github.com"
API_MODES = ("graphql", "rest")
_PLAN_ROUNDS = 3  # re-read and re-plan this often when GitHub refuses part of a mutation (races, lost answers)
_ETAG_ENTRIES = 512  # conditional GETs remembered per forge (a 304 costs no rate limit)
# what following the infra pipeline reads (docs/forge.md): checks, Actions runs/jobs/logs, the plan comment
PIPELINE_READ = {"actions": "read", "checks": "read", "issues": "read"}


@dataclass(frozen=True)
class Quota:
    """What GitHub last said about this credential's primary rate limit (-1 before any call)."""

    remaining: int
    limit: int
    reset_at: datetime | None


class GitHubForge:
    """Forge for repositories named 'owner/name' on one GitHub host with one credential."""

    def __init__(self, credential: Credential, *, api_url: str = DEFAULT_API_URL, name: str = "default",
                 policy: RetryPolicy | None = None, pacer: WritePacer | None = None, timeout: float = 15.0,
                 sleep: Sleep = time.sleep, clock: Clock = time.time, rng: random.Random | None = None,
                 user_agent: str = "LaunchPad", api: str = "rest") -> None:
        if api not in API_MODES:
            raise ValueError(f"GitHub api mode must be one of {', '.join(API_MODES)}, not {api!r}")
        self.name = name
        self.api = api
        self.api_url = api_url.rstrip("/")
        self._credential = credential
        self._timeout = max(1, round(timeout))  # PyGithub insists on whole seconds
        self._user_agent = user_agent
        self._clock = clock
        self._retrier = Retrier(policy or RetryPolicy(), name=name, sleep=sleep, clock=clock, rng=rng,
                                who=describe(name, credential), renew=self._renew)
        self._pacer = pacer if pacer is not None else WritePacer(sleep=sleep)
        self._lock = threading.Lock()
        self._clients: dict[Access | None, Github] = {}
        self._last: Github | None = None
        self._tokens: InstallationTokens | None = None
        if isinstance(credential, AppCredential):
            minting = Retrier(policy or RetryPolicy(), name=name, sleep=sleep, clock=clock, rng=rng,
                              who=describe(name, credential))
            self._tokens = InstallationTokens(credential, name=name, api_url=self.api_url, timeout=self._timeout,
                                              user_agent=user_agent, retrier=minting, clock=clock)
        self._etags: OrderedDict[str, tuple[str, Any]] = OrderedDict()
        redact_github_logs()

    def __repr__(self) -> str:
        return f"GitHubForge(name={self.name!r}, api_url={self.api_url!r}, api={self.api!r})"

    # --- the Forge protocol --------------------------------------------------------------------

    def open_change(self, repo: str, key: str, changeset: ChangeSet, *, title: str, body: str,
                    labels: list[str] | None = None, base_branch: str = "main") -> Change:
        # One GraphQL query looks up at most PATHS_PER_QUERY blobs; past that (bulk changes) more queries would
        # make the call count grow with the number of files, while REST's one tree call does not. Decided by
        # size alone, so a retry of the same change set takes the same path.
        if self.api == "graphql" and len(changeset.paths) <= graphql.PATHS_PER_QUERY:
            return self._open_graphql(repo, key, changeset, title=title, body=body, labels=labels or [],
                                      base_branch=base_branch)
        gh_repo = self._repo(repo, write=True, workflows=touches_workflows(changeset.paths))
        branch = branch_for(key)
        pull = self._find_pull(gh_repo, repo, branch)
        if pull is not None and _state(pull) != ChangeState.OPEN:
            return self._change(repo, key, pull, wrote=False)
        base = self._read(lambda: gh_repo.get_branch(base_branch), f"read branch {base_branch} of {repo}",
                          missing=f"{repo}: base branch {base_branch!r} does not exist (or the credential "
                                  f"{self.name!r} cannot see the repository)")
        base_sha: str = base.commit.sha
        base_tree: GitTree = base.commit.commit.tree
        # the branch answer nests the commit without its sha; name the parent directly so PyGithub does not fetch it
        base_commit = GitCommit(gh_repo.requester, headers={}, completed=False,
                                attributes={"sha": base_sha, "url": f"{gh_repo.url}/git/commits/{base_sha}"})
        wrote = False
        target: str | None = None
        if pull is not None:
            target = self._reusable_head(gh_repo, repo, key, changeset, base_sha, pull.head.sha)
        if target is None:
            tree = self._create_tree(gh_repo, repo, base_tree, changeset)
            if pull is None and tree.sha == base_tree.sha:
                return no_op_change(repo, key, base_branch, base_sha)
            commit = self._write(lambda: gh_repo.create_git_commit(
                commit_message(title, key, changeset), tree, [base_commit]),
                f"create a commit in {repo}")
            target = commit.sha
            if pull is not None:
                self._move_branch(gh_repo, repo, branch, target)
            else:
                target = self._create_branch(gh_repo, repo, key, changeset, base_sha, target)
            wrote = True
        if pull is None:
            pull = self._create_pull(gh_repo, repo, branch, base_branch, title, body)
            self._add_labels(pull, repo, labels or [], already=[])
            return self._change(repo, key, pull, wrote=True, head_sha=target)
        if pull.title != title or (pull.body or "") != body:
            pull_to_edit = pull
            self._write(lambda: pull_to_edit.edit(title=title, body=body), f"update pull request in {repo}")
            wrote = True
        wrote = self._add_labels(pull, repo, labels or [], already=[label.name for label in pull.labels]) or wrote
        return self._change(repo, key, pull, wrote=wrote, head_sha=target)

    def get_change(self, repo: str, key: str) -> Change | None:
        if self.api == "graphql":
            found = self._graphql_pull(repo, key)
            return None if found is None else _pull_change(repo, key, found, wrote=False)
        pull = self._find_pull(self._repo(repo), repo, branch_for(key))
        return None if pull is None else self._change(repo, key, pull, wrote=False)

    def close_change(self, repo: str, key: str) -> None:
        if self.api == "graphql":
            found = self._graphql_pull(repo, key)
            if found is not None and found.state == ChangeState.OPEN:
                self._graphql_write([graphql.Step("closePullRequest", {"pullRequestId": found.id})], "LaunchPadClose",
                                    f"close pull request #{found.number} in {repo}", repo)
            return
        pull = self._find_pull(self._repo(repo, write=True), repo, branch_for(key))
        if pull is not None and _state(pull) == ChangeState.OPEN:
            self._write(lambda: pull.edit(state="closed"), f"close pull request #{pull.number} in {repo}")

    def read_file(self, repo: str, path: str, ref: str = "main") -> str | None:
        gh_repo = self._repo(repo)
        content = self._read(lambda: gh_repo.get_contents(path, ref=ref), f"read {path} in {repo}", missing=None)
        if content is None or isinstance(content, list) or content.type != "file":
            return None
        return content.decoded_content.decode("utf-8")

    def list_files(self, repo: str, prefix: str = "", ref: str = "main") -> list[str]:
        """Paths on `ref` starting with `prefix` (a plain string prefix: pass 'dir/' for a directory)."""
        gh_repo = self._repo(repo)
        tree = self._read(lambda: gh_repo.get_git_tree(ref, recursive=True), f"list files in {repo}", missing=None)
        if tree is None:
            return []
        if tree.raw_data.get("truncated"):
            raise PermanentError(f"{repo}: GitHub truncated the file listing of {ref!r} (repository too large "
                                 "for one recursive tree); narrow LaunchPad's repository root")
        return sorted(e.path for e in tree.tree if e.type == "blob" and e.path.startswith(prefix))

    # --- the infra pipeline: REST in both API modes (GitHub Actions has no GraphQL API) ------------

    def checks(self, repo: str, sha: str) -> list[CheckRun]:
        data = self._get(repo, f"commits/{sha}/check-runs", {"per_page": 100, "filter": "latest"},
                         f"read the checks of {sha[:12]} in {repo}")
        return [CheckRun(name=str(c.get("name", "")), status=str(c.get("status", "")), conclusion=c.get("conclusion"),
                         url=str(c.get("html_url") or c.get("details_url") or ""))
                for c in (data or {}).get("check_runs") or []]

    def pipeline_runs(self, repo: str, workflow: str, sha: str) -> list[PipelineRun]:
        """A workflow GitHub does not know (never pushed, or renamed) reads as no run, not as an error."""
        name = quote(posixpath.basename(workflow), safe="")
        data = self._get(repo, f"actions/workflows/{name}/runs", {"head_sha": sha, "per_page": 20},
                         f"read the runs of {workflow} for {sha[:12]} in {repo}", missing=None)
        runs = [PipelineRun(id=int(r["id"]), workflow=str(r.get("path") or workflow), sha=str(r.get("head_sha", sha)),
                            status=str(r.get("status", "")), conclusion=r.get("conclusion"),
                            attempt=int(r.get("run_attempt") or 1), url=str(r.get("html_url", "")))
                for r in (data or {}).get("workflow_runs") or []]
        return sorted(runs, key=lambda r: -r.id)

    def pipeline_jobs(self, repo: str, run_id: int) -> list[PipelineJob]:
        data = self._get(repo, f"actions/runs/{run_id}/jobs", {"per_page": 100, "filter": "latest"},
                         f"read the jobs of run {run_id} in {repo}")
        return [PipelineJob(id=int(j["id"]), name=str(j.get("name", "")), status=str(j.get("status", "")),
                            conclusion=j.get("conclusion"), url=str(j.get("html_url", "")))
                for j in (data or {}).get("jobs") or []]

    def job_log(self, repo: str, job_id: int) -> str:
        """GitHub answers with a redirect to a short-lived signed URL; that URL gets no token of ours."""
        self._owner_name(repo)

        def locate() -> str:
            requester = self._client(repo, extra=PIPELINE_READ).requester
            headers, _ = requester.requestJsonAndCheck("GET", f"/repos/{repo}/actions/jobs/{job_id}/logs")
            location = {k.lower(): v for k, v in headers.items()}.get("location")
            if not location:
                raise PermanentError(f"{repo}: GitHub gave no log location for job {job_id}")
            return str(location)

        location = self._read(locate, f"find the log of job {job_id} in {repo}",
                              missing=f"{repo}: the log of job {job_id} is gone (GitHub keeps logs for a while only)")
        try:
            with urllib.request.urlopen(location, timeout=self._timeout) as response:  # noqa: S310 (GitHub's URL)
                return str(response.read().decode("utf-8", "replace"))
        except (urllib.error.URLError, TimeoutError) as exc:
            raise TransientError(f"could not download the log of job {job_id} in {repo} ({exc})") from None

    def rerun_failed_jobs(self, repo: str, run_id: int) -> None:
        self._owner_name(repo)
        self._write(lambda: self._client(repo, extra={**PIPELINE_READ, "actions": "write"}).requester
                    .requestJsonAndCheck("POST", f"/repos/{repo}/actions/runs/{run_id}/rerun-failed-jobs"),
            f"re-run the failed jobs of run {run_id} in {repo}")

    def find_comment(self, repo: str, number: int, marker: str) -> str | None:
        for page in range(1, 11):
            comments = self._get(repo, f"issues/{number}/comments", {"per_page": 100, "page": page},
                                 f"read the comments of #{number} in {repo}") or []
            for comment in comments:
                if isinstance(comment, dict) and str(comment.get("body") or "").startswith(marker):
                    return str(comment["body"])
            if len(comments) < 100:
                break
        return None

    def _get(self, repo: str, sub: str, params: dict[str, Any], what: str, *, missing: Any = ...) -> Any:
        """A conditional GET: the answer is remembered with its ETag, and GitHub's 304 for an unchanged
        answer (free of rate limit) returns the remembered one."""
        self._owner_name(repo)
        path = f"/repos/{repo}/{sub}"
        key = f"{path}?{urlencode(sorted(params.items()))}"

        def call() -> Any:
            with self._lock:
                cached = self._etags.get(key)
            headers = {"If-None-Match": cached[0]} if cached else {}
            requester = self._client(repo, extra=PIPELINE_READ).requester
            answer_headers, data = requester.requestJsonAndCheck("GET", path, parameters=params, headers=headers)
            if data is None and cached is not None:
                return cached[1]
            etag = {k.lower(): v for k, v in answer_headers.items()}.get("etag")
            if etag:
                with self._lock:
                    self._etags[key] = (str(etag), data)
                    self._etags.move_to_end(key)
                    while len(self._etags) > _ETAG_ENTRIES:
                        self._etags.popitem(last=False)
            return data

        return self._read(call, what, missing=missing)

    # --- beyond the protocol -------------------------------------------------------------------

    def merge_change(self, repo: str, key: str) -> Change:
        """Merge the open pull request (demo and tests; people normally merge on GitHub)."""
        if self.api == "graphql":
            return self._merge_graphql(repo, key)
        gh_repo = self._repo(repo, write=True)
        pull = self._find_pull(gh_repo, repo, branch_for(key))
        if pull is None:
            raise PermanentError(f"{repo}: no pull request for launchpad/{key} to merge")
        if _state(pull) == ChangeState.MERGED:
            return self._change(repo, key, pull, wrote=False)
        if _state(pull) == ChangeState.CLOSED:
            raise PermanentError(f"{repo}: pull request #{pull.number} is closed; reopen it before merging")
        number = pull.number
        self._write(lambda: pull.merge(merge_method="merge"), f"merge pull request #{number} in {repo}")
        merged = self._find_pull(gh_repo, repo, branch_for(key))
        assert merged is not None
        return self._change(repo, key, merged, wrote=True)

    def check(self, repos: Sequence[str] = ()) -> list[str]:
        """What is wrong with this credential, found before any step needs it (`launchpad config --check`,
        start-up): the token's format and that GitHub accepts it, or the App's key, app and installation;
        then that each of `repos` is reachable with it. One line per problem; TransientError when GitHub
        cannot answer."""
        problems = credential_problems(self.name, self._credential)
        if problems:
            return problems
        if self._tokens is not None:
            return self._tokens.check(repos)
        try:
            self._retrier.run(lambda: self._client().get_rate_limit(), what="check its token")
        except PermanentError as err:
            return [str(err)]
        except GithubException as err:
            return [f"{describe(self.name, self._credential)}: GitHub refused to check the token "
                    f"({err.status} {_message(err)})"]
        for repo in repos:
            try:
                self._read(partial(self._client(repo).get_repo, repo, lazy=False), f"read repository {repo}",
                           missing=f"{describe(self.name, self._credential)} cannot see repository {repo}: grant "
                                   "the token access to it (docs/forge.md lists the permissions), or fix "
                                   "platform.repositories")
            except PermanentError as err:
                problems.append(str(err))
        return problems

    @property
    def pacer(self) -> WritePacer:
        """This credential's write pacer."""
        return self._pacer

    def quota(self) -> Quota:
        """Remaining primary rate limit of this credential, from the last response (no API call)."""
        client = self._last
        if client is None:
            return Quota(-1, -1, None)
        remaining, limit = client.requester.rate_limiting
        reset = client.requester.rate_limiting_resettime
        return Quota(remaining, limit, datetime.fromtimestamp(reset, UTC) if reset else None)

    # --- GraphQL delivery ----------------------------------------------------------------------------

    def _open_graphql(self, repo: str, key: str, changeset: ChangeSet, *, title: str, body: str, labels: list[str],
                      base_branch: str) -> Change:
        """Read, plan, write; again when GitHub refused part of the mutation (e.g. a lost answer's effect
        was already there), so whatever happened before, the change ends as one branch, commit and PR."""
        self._owner_name(repo)
        what = f"deliver {branch_for(key)} to {repo}"
        progress = _Progress()
        errors: list[dict[str, Any]] = []
        for _ in range(_PLAN_ROUNDS):
            try:
                outcome = self._retrier.run(partial(self._deliver_round, repo, key, changeset, title, body,
                                                    base_branch, progress), what=what)
            except GithubException as err:
                raise PermanentError(f"GitHub refused to {what} ({err.status} {_message(err)})") from None
            if isinstance(outcome, list):
                errors = outcome
                continue
            change, labelled = outcome
            break
        else:
            raise PermanentError(f"{repo}: GitHub refused to {what} ({graphql.error_text(errors)})")
        if change.no_op or change.state != ChangeState.OPEN:
            return change
        missing = sorted(set(labels) - set(labelled))
        if missing:
            progress.wrote = True
            issue = self._repo(repo, write=True).get_issue(change.number)
            self._write(lambda: issue.add_to_labels(*missing), f"label pull request #{change.number} in {repo}")
        return change.model_copy(update={"wrote": progress.wrote})

    def _deliver_round(self, repo: str, key: str, changeset: ChangeSet, title: str, body: str, base_branch: str,
                       progress: _Progress) -> tuple[Change, tuple[str, ...]] | list[dict[str, Any]]:
        """One read and (at most) one mutation; GitHub's errors come back as a list to plan again."""
        state = self._delivery_state(repo, key, changeset, base_branch)
        plan = graphql.plan_delivery(state, repo=repo, key=key, changeset=changeset, title=title, body=body,
                                     base_branch=base_branch)
        if plan.no_op:
            return no_op_change(repo, key, base_branch, state.base_oid), ()
        if plan.finished and plan.pull is not None:
            return _pull_change(repo, key, plan.pull, wrote=False), plan.pull.labels
        steps, target, pull = plan.steps, plan.head_oid, plan.pull
        if plan.rebuild:
            progress.wrote = True
            target = self._rest_commit(repo, key, changeset, title, state)
            steps = (graphql.point_branch(state, branch_for(key), target), *steps)
        if steps:
            progress.wrote = True
            self._pacer.acquire()
            data, errors = self._post_graphql(*graphql.mutation(steps), repo=repo, write=True,
                                              workflows=touches_workflows(changeset.paths))
            self._log_quota()
            if errors:
                if graphql.forbidden(errors):
                    raise PermanentError(f"credential {self.name!r} may not write to {repo} "
                                         f"({graphql.error_text(errors)}); grant the permissions listed in "
                                         "docs/forge.md")
                return errors
            for name in ("createPullRequest", "updatePullRequest"):
                node = (data.get(name) or {}).get("pullRequest")
                if node:
                    pull = graphql.read_pull(node)
            commit = (data.get("createCommitOnBranch") or {}).get("commit")
            if commit:
                target = commit["oid"]
        if pull is None:
            raise PermanentError(f"{repo}: GitHub answered without the pull request of {branch_for(key)}")
        return _pull_change(repo, key, pull, wrote=progress.wrote, head_sha=target), pull.labels

    def _delivery_state(self, repo: str, key: str, changeset: ChangeSet, base_branch: str) -> graphql.RepoState:
        """The LaunchPadChange query: one call (open_change sends larger change sets over REST)."""
        paths = changeset.paths
        data, errors = self._post_graphql(graphql.state_query(paths),
                                          graphql.state_variables(repo, base_branch, key, paths), repo=repo,
                                          write=True, workflows=touches_workflows(paths))
        self._log_quota()
        repository = self._repository(repo, data, errors)
        if not (repository.get("base") or {}).get("target"):
            raise PermanentError(f"{repo}: base branch {base_branch!r} does not exist (or the credential "
                                 f"{self.name!r} cannot see the repository)")
        state = graphql.read_state(repository, paths)
        return state

    def _rest_commit(self, repo: str, key: str, changeset: ChangeSet, title: str, state: graphql.RepoState) -> str:
        """Our one commit made again on the base tip with the Git Data API (tree + commit: 2 writes)."""
        gh_repo = self._repo(repo, write=True, workflows=touches_workflows(changeset.paths))
        base_tree = GitTree(gh_repo.requester, headers={}, completed=False,
                            attributes={"sha": state.base_tree, "url": f"{gh_repo.url}/git/trees/{state.base_tree}"})
        base_commit = GitCommit(gh_repo.requester, headers={}, completed=False,
                                attributes={"sha": state.base_oid,
                                            "url": f"{gh_repo.url}/git/commits/{state.base_oid}"})
        present = changeset.model_copy(update={"deletes": graphql.existing_deletes(state, changeset)})
        tree = self._create_tree(gh_repo, repo, base_tree, present)
        commit = self._write(lambda: gh_repo.create_git_commit(commit_message(title, key, changeset), tree,
                                                               [base_commit]), f"create a commit in {repo}")
        return str(commit.sha)

    def _merge_graphql(self, repo: str, key: str) -> Change:
        found = self._graphql_pull(repo, key)
        if found is None:
            raise PermanentError(f"{repo}: no pull request for launchpad/{key} to merge")
        if found.state == ChangeState.MERGED:
            return _pull_change(repo, key, found, wrote=False)
        if found.state == ChangeState.CLOSED:
            raise PermanentError(f"{repo}: pull request #{found.number} is closed; reopen it before merging")
        what = f"merge pull request #{found.number} in {repo}"
        try:
            data = self._graphql_write([graphql.Step("mergePullRequest", {"pullRequestId": found.id,
                                                                          "mergeMethod": "MERGE"})],
                                       "LaunchPadMerge", what, repo)
            merged = graphql.read_pull(data["mergePullRequest"]["pullRequest"])
        except PermanentError:
            again = self._graphql_pull(repo, key)  # a lost answer: the merge may have happened
            if again is None or again.state != ChangeState.MERGED:
                raise
            merged = again
        return _pull_change(repo, key, merged, wrote=True)

    def _graphql_pull(self, repo: str, key: str) -> graphql.Pull | None:
        """The change's pull request in one query (open one first, else the most recent)."""
        owner, name = self._owner_name(repo)
        branch = branch_for(key)
        what = f"look up the pull request of {branch} in {repo}"
        try:
            data, errors = self._retrier.run(partial(self._post_graphql, graphql.PULL_QUERY,
                                                     {"owner": owner, "name": name, "branch": branch}, repo=repo),
                                             what=what)
        except GithubException as err:
            raise PermanentError(f"GitHub refused to {what} ({err.status} {_message(err)})") from None
        self._log_quota()
        return graphql.choose_pull(graphql.read_pulls(self._repository(repo, data, errors)))

    def _graphql_write(self, steps: list[graphql.Step], name: str, what: str, repo: str) -> dict[str, Any]:
        """A mutation that is safe to repeat (close, merge): paced, retried, errors are permanent."""
        try:
            data, errors = self._retrier.run(partial(self._post_graphql, *graphql.mutation(steps, name), repo=repo,
                                                     write=True), what=what, pacer=self._pacer)
        except GithubException as err:
            raise PermanentError(f"GitHub refused to {what} ({err.status} {_message(err)})") from None
        self._log_quota()
        if errors:
            raise PermanentError(f"GitHub refused to {what} ({graphql.error_text(errors)})")
        return data

    def _post_graphql(self, document: str, variables: dict[str, Any], *, repo: str | None = None,
                      write: bool = False, workflows: bool = False) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """One POST to the GraphQL endpoint (<api>/graphql; GHE: https://HOST/api/graphql), not retried here.
        GitHub answers rate limits with HTTP 200 and errors (`graphql.rate_limit` knows their shapes): raised
        as RateLimitedAnswer so the Retrier waits; other errors come back with whatever data resolved.
        `repo` (default: the variables' owner/name) and `write`/`workflows` say what an App token must cover."""
        if repo is None and isinstance(variables.get("owner"), str) and isinstance(variables.get("name"), str):
            repo = f"{variables['owner']}/{variables['name']}"
        requester = self._client(repo, write=write, workflows=workflows).requester
        headers, answer = requester.requestJsonAndCheck("POST", requester.graphql_url,
                                                        input={"query": document, "variables": variables})
        answer = answer if isinstance(answer, dict) else {}
        errors = [e for e in answer.get("errors") or [] if isinstance(e, dict)]
        kind = graphql.rate_limit(errors)
        if kind is not None:
            raise RateLimitedAnswer(kind == "primary", headers, graphql.error_text(errors))
        return answer.get("data") or {}, errors

    def _repository(self, repo: str, data: dict[str, Any], errors: list[dict[str, Any]]) -> dict[str, Any]:
        """`data.repository`, or a PermanentError saying why there is none. Errors on `compare` (GitHub
        cannot compare, e.g. unrelated histories) leave it null and are not fatal."""
        repository = data.get("repository")
        if graphql.forbidden(errors):
            raise PermanentError(f"credential {self.name!r} may not read {repo} ({graphql.error_text(errors)}); "
                                 "grant the permissions listed in docs/forge.md")
        if repository is None:
            if not errors or any(e.get("type") == "NOT_FOUND" for e in errors):
                raise PermanentError(f"{repo}: repository not found, or credential {self.name!r} cannot see it")
            raise PermanentError(f"GitHub refused to read {repo} ({graphql.error_text(errors)})")
        serious = [e for e in errors if "compare" not in (e.get("path") or [])]
        if serious:
            raise PermanentError(f"GitHub refused to read {repo} ({graphql.error_text(serious)})")
        return dict(repository)

    # --- steps -----------------------------------------------------------------------------------

    def _find_pull(self, gh_repo: Repository, repo: str, branch: str) -> PullRequest | None:
        owner = repo.split("/", 1)[0]
        pulls = self._read(lambda: list(gh_repo.get_pulls(state="all", head=f"{owner}:{branch}")),
                           f"look up the pull request of {branch} in {repo}",
                           missing=f"{repo}: repository not found, or credential {self.name!r} cannot see it")
        pulls = [p for p in pulls if p.head.ref == branch and _same_repository(p)]
        return next((p for p in pulls if p.state == "open"), pulls[0] if pulls else None)

    def _reusable_head(self, gh_repo: Repository, repo: str, key: str, changeset: ChangeSet, base_sha: str,
                       head_sha: str) -> str | None:
        """The branch head when it already is our commit on this base; ConflictError when it must not be replaced."""
        head = self._read(lambda: gh_repo.get_git_commit(head_sha), f"read commit {head_sha[:12]} in {repo}")
        parents = [p.sha for p in head.parents]
        if read_mark(head.message).key != key or len(parents) != 1:
            raise ConflictError(foreign_commit_message(repo, key, head_sha), [])
        if is_current(head.message, parents[0], key, changeset, base_sha):
            return head_sha
        if parents[0] != base_sha:
            comparison = self._read(lambda: gh_repo.compare(parents[0], base_sha),
                                    f"compare the base of {repo} with our branch point")
            changed: dict[str, str | None] = {}
            for f in comparison.files:
                changed[f.filename] = None if f.status == "removed" else f.sha
                if f.status == "renamed" and f.previous_filename:
                    changed[f.previous_filename] = None
            conflicts = conflicting_paths(changeset, changed)
            if conflicts:
                raise ConflictError(conflict_message(repo, key, conflicts), conflicts)
        return None

    def _create_tree(self, gh_repo: Repository, repo: str, base_tree: GitTree, changeset: ChangeSet) -> GitTree:
        deletes = [p for p in changeset.deletes if p not in changeset.files]
        for attempt in (1, 2):
            elements = [InputGitTreeElement(path, FILE_MODE, "blob", content=content)
                        for path, content in sorted(changeset.files.items())]
            elements += [InputGitTreeElement(path, FILE_MODE, "blob", sha=None) for path in deletes]
            if not elements:
                return base_tree
            try:
                return self._write(partial(gh_repo.create_git_tree, elements, base_tree),
                                   f"create a tree in {repo}", passthrough=(422,))
            except GithubException:
                if attempt == 2 or not deletes:
                    raise PermanentError(f"{repo}: GitHub refused the tree for this change set (422)") from None
                # GitHub refuses to delete a path that is not there: keep only deletions that exist.
                existing = self._read(lambda: gh_repo.get_git_tree(base_tree.sha, recursive=True),
                                      f"list files in {repo}")
                present = {e.path for e in existing.tree}
                deletes = [p for p in deletes if p in present]
        raise AssertionError("unreachable")

    def _create_branch(self, gh_repo: Repository, repo: str, key: str, changeset: ChangeSet, base_sha: str,
                       commit_sha: str) -> str:
        """Create `launchpad/<key>`; when a partial run left it behind, keep it if current, else move it."""
        branch = branch_for(key)
        try:
            self._write(lambda: gh_repo.create_git_ref(f"refs/heads/{branch}", commit_sha),
                        f"create branch {branch} in {repo}", passthrough=(422,))
            return commit_sha
        except GithubException:
            pass  # it exists: a previous run (or a lost response of this one) created it
        ref = self._read(lambda: gh_repo.get_git_ref(f"heads/{branch}").object.sha, f"read branch {branch} in {repo}")
        if ref == commit_sha:
            return commit_sha
        existing = self._reusable_head(gh_repo, repo, key, changeset, base_sha, ref)
        if existing is not None:
            return existing
        self._move_branch(gh_repo, repo, branch, commit_sha)
        return commit_sha

    def _move_branch(self, gh_repo: Repository, repo: str, branch: str, sha: str) -> None:
        # PyGithub's lazy GitRef points at /git/ref/ (the read endpoint); updates go to /git/refs/.
        ref = GitRef(gh_repo.requester, headers={}, completed=False,
                     attributes={"ref": f"refs/heads/{branch}", "url": f"{gh_repo.url}/git/refs/heads/{quote(branch)}"})
        self._write(lambda: ref.edit(sha, force=True), f"move branch {branch} in {repo}")

    def _create_pull(self, gh_repo: Repository, repo: str, branch: str, base_branch: str, title: str,
                     body: str) -> PullRequest:
        try:
            return self._write(lambda: gh_repo.create_pull(base=base_branch, head=branch, title=title, body=body),
                               f"open a pull request in {repo}", passthrough=(422,))
        except GithubException as err:
            found = self._find_pull(gh_repo, repo, branch)  # a lost response may have opened it already
            if found is not None and _state(found) == ChangeState.OPEN:
                return found
            raise PermanentError(f"{repo}: GitHub refused to open a pull request from {branch} "
                                 f"({err.status} {_message(err)})") from None

    def _add_labels(self, pull: PullRequest, repo: str, labels: list[str], *, already: list[str]) -> bool:
        missing = sorted(set(labels) - set(already))
        if not missing:
            return False
        self._write(lambda: pull.add_to_labels(*missing), f"label pull request #{pull.number} in {repo}")
        return True

    # --- plumbing ------------------------------------------------------------------------------

    def _owner_name(self, repo: str) -> tuple[str, str]:
        if repo.count("/") != 1 or not all(repo.split("/")):
            raise PermanentError(f"GitHub repository {repo!r} must be 'owner/name'")
        owner, name = repo.split("/")
        return owner, name

    def _repo(self, repo: str, *, write: bool = False, workflows: bool = False) -> Repository:
        """The repository, on a client whose (App) token covers it with read, or write (+ Workflows) access."""
        self._owner_name(repo)
        return self._client(repo, write=write, workflows=workflows).get_repo(repo, lazy=True)

    def _client(self, repo: str | None = None, *, write: bool = False, workflows: bool = False,
                extra: dict[str, str] | None = None) -> Github:
        """One client for a token credential; for an App, one per (repository, permissions), each signing its
        requests with a current installation token narrowed to that (app.InstallationTokens). `extra` adds
        permissions beyond the delivery's (the infra pipeline's reads)."""
        wanted = {**permissions(write=write, workflows=workflows), **(extra or {})}
        access = None if self._tokens is None else Access.of(repo, wanted)
        with self._lock:
            client = self._clients.get(access)
            if client is None:
                if self._tokens is None or access is None:
                    assert isinstance(self._credential, TokenCredential)
                    auth: Auth.Auth = Auth.Token(self._credential.token)
                else:
                    auth = self._tokens.auth(access)
                client = Github(auth=auth, base_url=self.api_url, timeout=self._timeout, retry=None,
                                seconds_between_requests=None, seconds_between_writes=None, lazy=True, per_page=100,
                                user_agent=self._user_agent)
                self._clients[access] = client
            self._last = client
            return client

    def _renew(self) -> bool:
        """After a 401: drop the installation token the failed request carried (the next request mints a new
        one); False for a token credential, which has nothing to renew."""
        return self._tokens is not None and self._tokens.reject_last()

    def _read(self, fn: Callable[[], T], what: str, *, missing: Any = ...) -> T:
        """A read-only call; `missing` is returned on 404 (or, when a string, raised as PermanentError)."""
        try:
            result = self._retrier.run(fn, what=what)
        except GithubException as err:
            if err.status == 404 and missing is not ...:
                if isinstance(missing, str):
                    raise PermanentError(missing) from None
                return missing
            raise PermanentError(f"GitHub refused to {what} ({err.status} {_message(err)})") from None
        self._log_quota()
        return result

    def _write(self, fn: Callable[[], T], what: str, *, passthrough: tuple[int, ...] = ()) -> T:
        """A content-creating call: paced per credential, retried, 4xx re-worded unless passed through."""
        try:
            result = self._retrier.run(fn, what=what, pacer=self._pacer)
        except GithubException as err:
            if err.status in passthrough:
                raise
            raise PermanentError(f"GitHub refused to {what} ({err.status} {_message(err)})") from None
        self._log_quota()
        return result

    def _log_quota(self) -> None:
        if log.isEnabledFor(logging.DEBUG):
            quota = self.quota()
            log.debug("github quota credential=%s remaining=%d limit=%d", self.name, quota.remaining, quota.limit)

    def _change(self, repo: str, key: str, pull: PullRequest, *, wrote: bool, head_sha: str | None = None) -> Change:
        state = _state(pull)
        return Change(repo=repo, key=key, branch=pull.head.ref, number=pull.number, url=pull.html_url, state=state,
                      head_sha=head_sha or pull.head.sha, base_branch=pull.base.ref,
                      merge_sha=pull.merge_commit_sha if state == ChangeState.MERGED else None, wrote=wrote)


@dataclass
class _Progress:
    """Whether this open_change sent any write (across retried rounds)."""

    wrote: bool = False


def _pull_change(repo: str, key: str, pull: graphql.Pull, *, wrote: bool, head_sha: str | None = None) -> Change:
    return Change(repo=repo, key=key, branch=pull.branch, number=pull.number, url=pull.url, state=pull.state,
                  head_sha=head_sha or pull.head_oid, base_branch=pull.base_branch,
                  merge_sha=pull.merge_oid if pull.state == ChangeState.MERGED else None, wrote=wrote)


def _same_repository(pull: PullRequest) -> bool:
    """True when the pull request's head is in its base repository: one opened from a fork (or whose fork is
    gone) is never LaunchPad's, even on a `launchpad/<key>` branch and when the `head` filter was ignored."""
    head, base = pull.head.repo, pull.base.repo
    return head is not None and base is not None and head.full_name.lower() == base.full_name.lower()


def _state(pull: PullRequest) -> ChangeState:
    if pull.merged_at is not None:
        return ChangeState.MERGED
    return ChangeState.OPEN if pull.state == "open" else ChangeState.CLOSED


def _message(err: GithubException) -> str:
    data = err.data
    text = data.get("message", "") if isinstance(data, dict) else ""
    errors = data.get("errors") if isinstance(data, dict) else None
    if isinstance(errors, list):
        text += "; " + "; ".join(str(e.get("message") or e.get("code") or "") for e in errors if isinstance(e, dict))
    return str(text)[:300]

