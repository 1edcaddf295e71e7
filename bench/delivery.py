"""Delivery: time from request to every pull request opened, and GitHub API calls per request.

One three-environment web-service request (`examples/ranking-web.yaml`: infra, values, gitops and
service repositories, 32 files) against the local GitHub server adding `latency` seconds to every
call, twice in the same run:

- LaunchPad: the request is submitted to the real `WorkflowService` (SQLite, GitHub forge through
  the `ForgeRouter`) and run by `run_pending` passes, exactly as a worker runs it. A reviewer stands
  in for people: it approves the SRE gate and merges each pull request the moment the thread says
  it was opened (merges happen inside the server, not as API calls), so the figure is LaunchPad's own
  cost, not human wait.
- Naive: `bench/baseline.py`, a quick PyGithub script writing one file per Contents-API call.

Both are measured with their shipped defaults (LaunchPad's write pacing; PyGithub's throttle) and
with pacing switched off (bare round trips). Figures are reported, not asserted:
`python -m bench.delivery [latency]` prints one line per figure and writes bench/results/delivery.json.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from bench import baseline
from bot.config import Settings
from bot.services import build_services
from bot.workflow.api import Actor, ApprovalInfo, EnvironmentInfo, RequestInfo, ServiceInfo, StepInfo
from bot.workflow.bindings import PlaceholderBindings
from bot.workflow.changes import repository_for
from bot.workflow.service import WorkflowService
from provisioners.blueprint import BlueprintRegistry
from provisioners.plan import RenderContext, plan
from provisioners.platform import PlatformConfig
from provisioners.spec import ServiceSpec, parse_spec
from tests.support.github_contents import ContentsGitHubServer

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
EXAMPLE = ROOT / "examples" / "ranking-web.yaml"
TOKEN = "ghp_benchdeliverytoken000000000000"
REQUESTER = Actor(id="U012ABCDEF", name="dev", teams=["search"])
APPROVER = Actor(id="U0SRE00001", name="sre", is_sre=True)
SEED = {"README.md": "seeded by the delivery benchmark\n"}


@dataclass
class Figures:
    seconds_to_prs: float
    calls: int
    writes: int
    pulls: int
    files: int

    def line(self, label: str) -> str:
        return (f"{self.pulls} PRs ({self.files} files) in {self.seconds_to_prs:.2f} s, "
                f"{self.calls} GitHub API calls ({self.writes} writes) [{label}]")


class Reviewer:
    """A Notifier standing in for people: merges each PR as soon as it is announced, approves gates."""

    def __init__(self, server: ContentsGitHubServer) -> None:
        self.server = server
        self.workflow: WorkflowService | None = None

    def request_changed(self, request: RequestInfo) -> None:
        return None

    def step_progress(self, request: RequestInfo, step: StepInfo, text: str) -> None:
        if step.kind == "open_pr" and step.pr_url and step.pr_number:
            full_name = step.pr_url.split("/pull/")[0].removeprefix(self.server.url + "/")
            if any(p.number == step.pr_number and p.state == "open" for p in self.server.pulls(full_name)):
                self.server.merge_pull(full_name, step.pr_number)

    def approval_needed(self, approval: ApprovalInfo) -> None:
        assert self.workflow is not None
        self.workflow.decide(approval.request.id, approval.step.id, APPROVER, True, "benchmark reviewer")

    def request_finished(self, request: RequestInfo) -> None:
        return None

    def ttl_reminder(self, service: ServiceInfo, env: EnvironmentInfo) -> None:
        return None


def example_spec() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text())
    return data


def _context() -> RenderContext:
    return RenderContext(platform=PlatformConfig(), blueprints=BlueprintRegistry.load())


def _repositories(spec: ServiceSpec, ctx: RenderContext) -> list[str]:
    return [repository_for(ctx.platform, cs.repo, spec)[0] for cs in plan(spec, ctx)]


def launchpad(latency: float, *, paced: bool = True) -> Figures:
    """Submit the request to the workflow and run worker passes until it finishes."""
    ctx = _context()
    spec_data = example_spec()
    spec = parse_spec(spec_data, ctx.platform, ctx.blueprints)
    files = sum(len(cs.files) for cs in plan(spec, ctx))
    with ContentsGitHubServer(latency_seconds=latency) as server, tempfile.TemporaryDirectory() as tmp:
        for name in _repositories(spec, ctx):
            server.seed_repo(name, SEED)
        root = Path(tmp)
        settings = Settings(data_dir=root, database_url=f"sqlite:///{root / 'bench.db'}", forge="github",
                            github_api_url=server.api_url, github_credentials={"default": {"token": TOKEN}},
                            github_writes_per_minute=60 if paced else 60_000)
        reviewer = Reviewer(server)
        services = build_services(settings, reviewer, resolver=PlaceholderBindings(ctx.platform))
        reviewer.workflow = services.workflow
        try:
            started = time.perf_counter()
            request = services.workflow.submit_create(spec_data, REQUESTER)
            for _ in range(200):
                services.workflow.run_pending("bench-worker")
                if services.workflow.get_request(request.id).state.finished:
                    break
            final = services.workflow.get_request(request.id)
        finally:
            services.close()
        if final.state != "succeeded":
            raise RuntimeError(f"the benchmark request ended {final.state}: {final.error}")
        calls = list(server.calls)
        return Figures(seconds_to_prs=round(max(server.pulls_opened_at) - started, 3), calls=len(calls),
                       writes=sum(c.is_write for c in calls), pulls=len(server.pulls_opened_at), files=files)


def naive(latency: float, *, throttled: bool = True) -> Figures:
    """The baseline script over the same change sets, one repository after the other."""
    ctx = _context()
    spec = parse_spec(example_spec(), ctx.platform, ctx.blueprints)
    changesets = plan(spec, ctx)
    with ContentsGitHubServer(latency_seconds=latency) as server:
        for name in _repositories(spec, ctx):
            server.seed_repo(name, SEED)
        gh = baseline.client(server.api_url, TOKEN, throttled=throttled)
        started = time.perf_counter()
        for cs in changesets:
            name, base = repository_for(ctx.platform, cs.repo, spec)
            baseline.open_pull_request(gh, name, f"naive/{spec.name}-{cs.repo}", cs, title=cs.title or spec.name,
                                       body=cs.summary, base=base)
        calls = list(server.calls)
        return Figures(seconds_to_prs=round(max(server.pulls_opened_at) - started, 3), calls=len(calls),
                       writes=sum(c.is_write for c in calls), pulls=len(server.pulls_opened_at),
                       files=sum(len(cs.files) for cs in changesets))


def run(latency: float = 0.1, *, throttled_baseline: bool = True, write: bool = True) -> dict[str, Any]:
    """Both ways with defaults, then both without pacing; `throttled_baseline=False` skips the slow
    default-throttle baseline (about 45 s at 0.1 s per call) for quick checks; `write=False` keeps
    bench/results untouched (tests)."""
    ours = launchpad(latency)
    ours_bare = launchpad(latency, paced=False)
    theirs_bare = naive(latency, throttled=False)
    theirs = naive(latency) if throttled_baseline else None
    result: dict[str, Any] = {
        "latency_per_call_seconds": latency,
        "launchpad": asdict(ours),
        "launchpad_unpaced": asdict(ours_bare),
        "naive_unthrottled": asdict(theirs_bare),
        "calls_ratio": round(ours.calls / theirs_bare.calls, 3),
        "calls_ratio_target": "<= 0.25",
        "speedup_unpaced": round(theirs_bare.seconds_to_prs / ours_bare.seconds_to_prs, 2),
    }
    print(f"delivery: launchpad {ours.line('write pacing on (default)')}")
    print(f"delivery: launchpad {ours_bare.line('write pacing off')}")
    print(f"delivery: naive     {theirs_bare.line('PyGithub throttle off')}")
    if theirs is not None:
        result["naive"] = asdict(theirs)
        result["speedup"] = round(theirs.seconds_to_prs / ours.seconds_to_prs, 2)
        result["speedup_target"] = ">= 3"
        print(f"delivery: naive     {theirs.line('PyGithub defaults')}")
        print(f"delivery: time to every PR, defaults: {result['speedup']}x shorter than naive (target >= 3x)")
    print(f"delivery: time to every PR, no pacing on either side: {result['speedup_unpaced']}x shorter")
    print(f"delivery: API calls per request: {ours.calls} vs {theirs_bare.calls} = {result['calls_ratio']} "
          "of naive (target <= 0.25)")
    if write:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "delivery.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    run(float(sys.argv[1]) if len(sys.argv) > 1 else 0.1)
