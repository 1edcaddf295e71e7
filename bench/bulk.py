"""Bulk change: GitHub API calls and time for one `launchpad bulk` over 500 services, next to 5 services.

500 recorded web services (two teams, every third with a database) have their files in the local
GitHub-API server's repositories, which adds `latency` seconds to every call. One bulk request runs
through the real workflow (SQLite) and GitHub forge (PyGithub over HTTP), exactly as a worker runs it;
a second SRE approves the prod gate and a reviewer merges the PR on the server (no API calls). Two
changes: the chart revision of every service (gitops repository) and the rds module in prod (infra),
each with the GitHub forge over GraphQL (the default `github_api_mode`) and over REST. The figure that
matters is that the calls do not grow with the services: one commit carries every file.
`python -m bench.bulk [services] [latency]` prints one line per figure and writes bench/results/bulk.json.
"""

from __future__ import annotations

import json
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from bot.workflow.api import BulkChange, Selector
from tests.bulk.support import GitHubRun, bulk_on_github

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
API_MODES = ("graphql", "rest")
CHANGES = {
    "chart_revision": (BulkChange(kind="chart_revision", value="v1.2.0"), Selector()),
    "rds_module_prod": (BulkChange(kind="module_version", target="rds", value="7.3.0"), Selector(environment="prod")),
}


def figures(run: GitHubRun) -> dict[str, Any]:
    return {"services": run.services, "services_changed": run.changed_services, "pull_requests": run.pulls,
            "files": run.files, "api_calls": len(run.calls), "api_writes": run.writes,
            "seconds_to_merged": round(run.seconds, 2), "seconds_to_submit": round(run.submit_seconds, 2),
            "state": run.request.state.value}


def _why(large: GitHubRun, few: GitHubRun) -> str:
    """Name the calls only the larger run made (the GraphQL forge reads blob ids in chunks of paths)."""
    extra = Counter(op or path for _, path, op in large.calls) - Counter(op or path for _, path, op in few.calls)
    return f" (extra: {', '.join(f'{n} x {what}' for what, n in extra.items())})" if extra else ""


def run(services: int = 500, latency: float = 0.1, *, small: int = 5, write: bool = True,
        apis: tuple[str, ...] = API_MODES) -> dict[str, Any]:
    """Each change over `services` and over `small` services, per GitHub API mode; `write=False` keeps
    bench/results untouched."""
    result: dict[str, Any] = {"latency_per_call_seconds": latency}
    with tempfile.TemporaryDirectory() as tmp:
        for api in apis:
            for name, (change, selector) in CHANGES.items():
                where = Path(tmp) / api / name
                large = bulk_on_github(where / str(services), services, change, selector=selector, latency=latency,
                                       api=api)
                few = bulk_on_github(where / str(small), small, change, selector=selector, latency=latency, api=api)
                result.setdefault(api, {})[name] = {str(services): figures(large), str(small): figures(few),
                                                    "calls_grow_with_services": large.calls != few.calls}
                print(f"bulk [{api}]: {change.describe()} over {services} services: {large.changed_services} "
                      f"changed, {large.pulls} PR ({large.files} files), {len(large.calls)} GitHub API calls "
                      f"({large.writes} writes), {large.seconds:.2f} s to merged (submit {large.submit_seconds:.2f} s)")
                same = ("the same calls as" if large.calls == few.calls
                        else f"{len(large.calls) - len(few.calls)} fewer than")
                print(f"bulk [{api}]: {change.describe()} over {small} services: {few.changed_services} changed, "
                      f"{few.pulls} PR ({few.files} files), {len(few.calls)} GitHub API calls, {same} over "
                      f"{services}{_why(large, few)}")
    if write:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "bulk.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    run(int(sys.argv[1]) if len(sys.argv) > 1 else 500, float(sys.argv[2]) if len(sys.argv) > 2 else 0.1)
