"""Delivery: time from request to every pull request opened, and GitHub API calls per request.

One three-environment web-service request (`examples/ranking-web.yaml`: infra, values, gitops and
service repositories, 48 files) against the local GitHub server adding `latency` seconds to every
call, three ways in the same run:

- LaunchPad over GraphQL (the default `github_api_mode`) and LaunchPad over REST (the fallback): the
  request is submitted to the real `WorkflowService` (SQLite, GitHub forge through the `ForgeRouter`,
  shipped write pacing) and run by `run_pending` passes, exactly as a worker runs it. A reviewer
  stands in for people: it approves the SRE gate and merges each pull request the moment the thread
  says it was opened (merges happen inside the server, not as API calls), so the figure is
  LaunchPad's own cost, wait-for-merge checks included, not human wait.
- Naive: `bench/baseline.py`, a quick PyGithub script writing one file per Contents-API call, with
  PyGithub's throttle off (bare round trips) and with its defaults (0.25 s between requests, 1 s
  between writes; skipped by `throttled_baseline=False`).

Figures are reported, not asserted: `python -m bench.delivery [latency]` prints one line per figure
and writes bench/results/delivery.json.
"""

from __future__ import annotations

import json
import re
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
from provisioners.forge.router import ForgeRouter
from provisioners.plan import RenderContext, plan
from provisioners.platform import PlatformConfig
from provisioners.spec import ServiceSpec, parse_spec
from tests.support.github_contents import ContentsGitHubServer

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
EXAMPLE = ROOT / "examples" / "ranking-web.yaml"
TOKEN = "_".join(("ghp", "benchdeliverytoken" + "0" * 18))  # a stand-in for the local GitHub server
REQUESTER = Actor(id="U012ABCDEF", name="dev", teams=["search"])
APPROVER = Actor(id="U0SRE00001", name="sre", is_sre=True)
SEED = {"README.md": "seeded by the delivery benchmark\n"}
PIPELINE_READS = re.compile(r"/(check-runs|actions/|issues/\d+/comments)")


@dataclass
class Figures:
    seconds_to_prs: float
    calls: int
    writes: int
    pulls: int
    files: int
    paced_seconds: float = 0.0  # how long LaunchPad's write pacer held writes back (0 for the baseline)

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


def launchpad(latency: float, *, paced: bool = True, api: str = "graphql") -> Figures:
    """Submit the request to the workflow and run worker passes until it finishes (`api`: graphql or rest)."""
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
                            github_writes_per_minute=60 if paced else 60_000, github_api_mode=api)
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
            waits = services.forges.write_waits() if isinstance(services.forges, ForgeRouter) else {}
        finally:
            services.close()
        if final.state != "succeeded":
            raise RuntimeError(f"the benchmark request ended {final.state}: {final.error}")
        # following the infra pipeline (checks, plan comment, apply run) is measured by bench/pipeline.py
        calls = [c for c in server.calls if not PIPELINE_READS.search(c.path)]
        return Figures(seconds_to_prs=round(max(server.pulls_opened_at) - started, 3), calls=len(calls),
                       writes=sum(c.is_write for c in calls), pulls=len(server.pulls_opened_at), files=files,
                       paced_seconds=round(sum(waits.values()), 3))


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
    """LaunchPad over GraphQL and over REST with shipped pacing, and the naive script bare and with
    PyGithub's defaults; `throttled_baseline=False` skips the slow default-throttle baseline (about 45 s
    at 0.1 s per call) for quick checks; `write=False` keeps bench/results untouched (tests)."""
    launchpad(0.0, api="graphql")  # warm-up (imports, template compilation), not measured
    graphql = launchpad(latency, api="graphql")
    rest = launchpad(latency, api="rest")
    bare = naive(latency, throttled=False)
    throttled = naive(latency) if throttled_baseline else None
    result: dict[str, Any] = {
        "latency_per_call_seconds": latency,
        "launchpad_graphql": asdict(graphql),
        "launchpad_rest": asdict(rest),
        "naive_unthrottled": asdict(bare),
        "calls_ratio": round(graphql.calls / bare.calls, 3),
        "calls_ratio_rest": round(rest.calls / bare.calls, 3),
        "calls_ratio_target": "<= 0.25",
        "speedup": round(bare.seconds_to_prs / graphql.seconds_to_prs, 2),
        "speedup_rest": round(bare.seconds_to_prs / rest.seconds_to_prs, 2),
        "speedup_target": ">= 3",
    }
    paced = "write pacing on (default), held writes back {:.2f} s"
    print(f"delivery: launchpad graphql {graphql.line(paced.format(graphql.paced_seconds))}")
    print(f"delivery: launchpad rest    {rest.line(paced.format(rest.paced_seconds))}")
    print(f"delivery: naive             {bare.line('PyGithub throttle off')}")
    if throttled is not None:
        result["naive"] = asdict(throttled)
        result["speedup_vs_naive_defaults"] = round(throttled.seconds_to_prs / graphql.seconds_to_prs, 2)
        defaults = "PyGithub defaults: 0.25 s between calls, 1 s between writes"
        print(f"delivery: naive             {throttled.line(defaults)}")
    print(f"delivery: API calls per request: graphql {graphql.calls}, rest {rest.calls}, naive {bare.calls} -> "
          f"{result['calls_ratio']} (graphql) and {result['calls_ratio_rest']} (rest) of naive (target <= 0.25)")
    print(f"delivery: time to every PR vs naive without its throttle: {result['speedup']}x shorter (graphql), "
          f"{result['speedup_rest']}x (rest) (target >= 3x)")
    if throttled is not None:
        print(f"delivery: time to every PR vs naive with PyGithub defaults: {result['speedup_vs_naive_defaults']}x "
              "shorter (graphql)")
    if write:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "delivery.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    run(float(sys.argv[1]) if len(sys.argv) > 1 else 0.1)
