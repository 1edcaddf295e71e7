"""The naive baseline the delivery benchmark compares LaunchPad with: a quick PyGithub script.

What a person writes in an afternoon to "open a PR with these files": read the repository and its
base branch, create a branch, then for every file ask whether it exists (`get_contents`, needed
because shared files such as `root.hcl` or a team's AppProject may already be there and
`update_file` wants the blob sha) and write it with one Contents-API call (`create_file` or
`update_file`; each is its own commit), then open the pull request. Per repository that is
4 + 2 x files calls, and the count grows with every file. It uses PyGithub exactly as a script would,
so by default PyGithub's own throttle applies (0.25 s between requests, 1 s between writes);
`throttled=False` measures the bare round trips. Benchmark code only: nothing imports it but bench/.
"""

from __future__ import annotations

from github import Auth, Github, UnknownObjectException

from provisioners.changeset import ChangeSet


def client(api_url: str, token: str, *, throttled: bool = True) -> Github:
    """A PyGithub client as a script builds it (defaults), or with PyGithub's throttle switched off."""
    if throttled:
        return Github(base_url=api_url, auth=Auth.Token(token))
    return Github(base_url=api_url, auth=Auth.Token(token), seconds_between_requests=None,
                  seconds_between_writes=None)


def open_pull_request(gh: Github, repo_name: str, branch: str, changeset: ChangeSet, *, title: str, body: str,
                      base: str = "main") -> int:
    """One branch, one Contents-API commit per file, one pull request; returns the PR number."""
    repo = gh.get_repo(repo_name)
    base_sha = repo.get_branch(base).commit.sha
    repo.create_git_ref(f"refs/heads/{branch}", base_sha)
    for path, content in sorted(changeset.files.items()):
        try:
            existing = repo.get_contents(path, ref=branch)
        except UnknownObjectException:
            repo.create_file(path, f"Add {path}", content, branch=branch)
            continue
        assert not isinstance(existing, list), f"{path} is a directory"
        repo.update_file(path, f"Update {path}", content, existing.sha, branch=branch)
    for path in sorted(changeset.deletes):
        try:
            existing = repo.get_contents(path, ref=branch)
        except UnknownObjectException:
            continue
        assert not isinstance(existing, list), f"{path} is a directory"
        repo.delete_file(path, f"Delete {path}", existing.sha, branch=branch)
    return repo.create_pull(base=base, head=branch, title=title, body=body).number
