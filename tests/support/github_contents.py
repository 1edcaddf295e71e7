"""The local GitHub server plus the Contents API's writes (create, update, delete one file per commit).

`GitHubServer` speaks what LaunchPad's forge uses; a naive script (the delivery benchmark's baseline,
`bench/baseline.py`) writes one file per call with `PUT /repos/{owner}/{repo}/contents/{path}` the way
PyGithub's `create_file`/`update_file`/`delete_file` do. This subclass adds those endpoints, answering
as GitHub does: each write is one commit on the branch (default: the repository's default branch);
updating or deleting needs the current blob `sha` (422 when missing, 409 when stale); creating a path
that exists without its sha is a 422. It records, times and faults calls exactly like its parent (which
also refuses, as GitHub does, a pull request whose head the base already contains: "No commits between").
Test and benchmark support only; it does not change `tests/support/github_server.py`.
"""

from __future__ import annotations

import base64
import re
import time
from typing import Any

from tests.support.github_server import ApiError, GitHubServer, Pull, Repo, _person, _set_ref


class ContentsGitHubServer(GitHubServer):
    """GitHubServer + PUT/DELETE /contents/{path}; also remembers when each pull request was opened (REST
    POST /pulls or GraphQL createPullRequest)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.pulls_opened_at: list[float] = []  # time.perf_counter() of every pull request opened

    def __enter__(self) -> ContentsGitHubServer:
        self.start()
        return self

    def _repo_route(self, repo: Repo, method: str, sub: str, query: dict[str, str],
                    body: Any) -> tuple[int, Any]:
        m = re.fullmatch(r"/contents/(.+)", sub)
        if m and method in ("PUT", "DELETE"):
            return self._write_contents(repo, method, m.group(1), body if isinstance(body, dict) else {})
        return super()._repo_route(repo, method, sub, query, body)

    def open_pull_request(self, repo: Repo, head: str, base: str, title: str, body: str) -> Pull:
        pull = super().open_pull_request(repo, head, base, title, body)
        self.pulls_opened_at.append(time.perf_counter())
        return pull

    def _write_contents(self, repo: Repo, method: str, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        branch = body.get("branch") or repo.default_branch
        ref = f"refs/heads/{branch}"
        if ref not in repo.refs:
            raise ApiError(404, f"Branch {branch} not found")
        if not body.get("message"):
            raise ApiError(422, "Invalid request.\n\n\"message\" wasn't supplied.")
        parent = repo.refs[ref]
        flat = self.objects.flatten(self.objects.read_commit(parent)["tree"])
        current = flat.get(path)
        given = body.get("sha")
        if current is not None and given is None:
            raise ApiError(422, "Invalid request.\n\n\"sha\" wasn't supplied.")
        if current is not None and given != current[1]:
            raise ApiError(409, f"{path} does not match {given}")
        if method == "DELETE":
            if current is None:
                raise ApiError(404, "Not Found")
            del flat[path]
            content_json: dict[str, Any] | None = None
        else:
            try:
                data = base64.b64decode(body.get("content", ""), validate=True)
            except ValueError as err:
                raise ApiError(422, "content is not valid Base64") from err
            blob = self.objects.blob(data)
            flat[path] = ("100644", blob)
            base = f"{self.api_url}/repos/{repo.full_name}/contents"
            content_json = {"type": "file", "name": path.rsplit("/", 1)[-1], "path": path, "sha": blob,
                            "size": len(data), "url": f"{base}/{path}?ref={branch}", "html_url": "", "git_url": "",
                            "download_url": "", "_links": {}}
        author = body.get("author") or body.get("committer") or _person("Script")
        sha = self.objects.commit(self.objects.build(flat), [parent], body["message"], author,
                                  body.get("committer") or author)
        _set_ref(repo, ref, sha)
        status = 201 if method == "PUT" and current is None else 200
        return status, {"content": content_json, "commit": self._git_commit_json(repo, sha)}
