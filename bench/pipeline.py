"""Following the infra pipeline: LaunchPad's GitHub API calls per followed request, and whether following 50
requests at once stays inside GitHub's hourly budget.

50 infra pull requests open at once in one repository holding the pipeline LaunchPad writes; the local GitHub
server's Actions model runs each plan and each apply for `RUN_MINUTES` simulated minutes. The real
`wait_plan` / `wait_apply` code (`bot/workflow/pipeline.py`) follows every one through the real GitHub forge
over HTTP, on a simulated clock, with LaunchPad's default polling (20 s, backing off 1.5x to 5 minutes) and
conditional requests (a 304 costs no rate limit). Each request is merged as soon as its plan is reported.
Counted per followed request: every call, and the calls GitHub charges (REST and GraphQL have separate
budgets of 5,000 an hour for an installation); the steps take the PR's head and merge commits from what
`open_pr` and `wait_merge` recorded, as in the workflow. The baseline polls every 15 s without ETags.
`python -m bench.pipeline [N]` prints one line per figure and writes bench/results/pipeline.json.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.workflow.api import RequestKind
from bot.workflow.bindings import PlaceholderBindings
from bot.workflow.execute import Actions, Done, StepJob
from bot.workflow.pipeline import PipelineFollowing, commits, default_poll, follow
from bot.workflow.steps import StepKind
from provisioners import infra_ci, terragrunt
from provisioners.blueprint import BlueprintRegistry
from provisioners.changeset import ChangeSet
from provisioners.forge.credentials import TokenCredential
from provisioners.forge.retry import RetryPolicy
from provisioners.forge.router import ForgeRouter
from provisioners.plan import RenderContext
from provisioners.platform import PlatformConfig
from provisioners.spec import ServiceSpec, parse_spec
from tests.support.github_server import GRAPHQL_PATH, GitHubServer

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
TOKEN = "_".join(("ghp", "benchpipelinetoken" + "0" * 18))  # a stand-in for the local GitHub server
REPO = "platform/infra-live"
RUN_MINUTES = 10.0
HOURLY_BUDGET = 5000  # GitHub: per installation (or token) and per API, REST and GraphQL apart
BASELINE_POLL_SECONDS = 15.0


def _spec(i: int, ctx: RenderContext) -> ServiceSpec:
    data = {"name": f"svc-{i:02d}", "team": "search", "blueprint": "worker", "owner": "U0DEV",
            "environments": [{"name": "devel"}]}
    return parse_spec(data, ctx.platform, ctx.blueprints)


def run(requests: int = 50, *, api: str = "graphql", write: bool = True) -> dict[str, Any]:
    ctx = RenderContext(platform=PlatformConfig(), blueprints=BlueprintRegistry.load())
    start = datetime(2030, 1, 1, tzinfo=UTC)
    now = start
    with GitHubServer() as server:
        server.actions.clock = lambda: now.timestamp()
        server.actions.duration = RUN_MINUTES * 60
        server.seed_repo(REPO, {**infra_ci.files(ctx), "root.hcl": terragrunt.render_root(ctx)})
        forges = ForgeRouter({"default": TokenCredential(TOKEN)}, api_url=server.api_url, api=api,
                             policy=RetryPolicy(max_retries=2), writes_per_minute=60_000, writes_per_hour=600_000)
        actions = Actions(ctx=ctx, forges=forges, resolver=PlaceholderBindings(ctx.platform),
                          pipeline=PipelineFollowing(start_timeout=timedelta(hours=2), poll=default_poll))
        forge = forges.forge_for(REPO)
        jobs: dict[int, StepJob] = {}
        due: dict[int, datetime] = {}
        for i in range(requests):
            parsed = _spec(i, ctx)
            cs: ChangeSet = terragrunt.render(parsed, ctx)
            change = forge.open_change(REPO, f"{i}-infra-1", cs, title=cs.title, body="bench")
            jobs[i] = StepJob(request_id=i, kind=RequestKind.CREATE, service=parsed.name, environments=["devel"],
                              requester="U0DEV", spec=parsed.model_dump(mode="json"), previous_spec=None, bindings=None,
                              step_kind=StepKind.WAIT_PLAN, repo="infra", repo_index=0,
                              forge_key=f"{i}-infra-1", title="wait", attempts=0, opened_pr=change.number,
                              pr=commits(change))  # what open_pr recorded
            due[i] = now
        server.reset_calls()
        finished: dict[int, datetime] = {}
        while len(finished) < requests:
            now = min(due.values())
            for i in [i for i, at in due.items() if at <= now]:
                job = jobs[i]
                job = jobs[i] = StepJob(**{**job.__dict__, "attempts": job.attempts + 1})
                outcome = follow(actions, job, now)
                result = dict(outcome.result or {})
                if isinstance(outcome, Done) and job.step_kind == StepKind.WAIT_PLAN:
                    merge_sha = server.merge_pull(REPO, int(job.opened_pr or 0))  # merged once the plan is in
                    jobs[i] = StepJob(**{**job.__dict__, "step_kind": StepKind.WAIT_APPLY, "attempts": 0,
                                         "result": {}, "pr": {**job.pr, "merge_sha": merge_sha}})
                    due[i] = now
                elif isinstance(outcome, Done):
                    finished[i] = now
                    del due[i]
                else:
                    jobs[i] = StepJob(**{**job.__dict__, "result": result})
                    due[i] = outcome.until  # type: ignore[union-attr]
        calls = [c for c in server.calls]
        hours = (max(finished.values()) - start).total_seconds() / 3600
    graphql = [c for c in calls if c.path == GRAPHQL_PATH]
    rest = [c for c in calls if c.path != GRAPHQL_PATH]
    charged_rest = [c for c in rest if c.status != 304]
    conditional = [c for c in rest if c.status == 304]
    window = max(hours, 1.0)
    baseline_per_request = 2 * (RUN_MINUTES * 60 / BASELINE_POLL_SECONDS + 1) + 2  # both runs, + comment, jobs
    result: dict[str, Any] = {
        "requests_followed_at_once": requests,
        "api_mode": api,
        "pipeline_minutes_per_run": RUN_MINUTES,
        "simulated_hours_until_all_applied": round(hours, 2),
        "calls_per_request": round(len(calls) / requests, 2),
        "rest_calls_charged_per_request": round(len(charged_rest) / requests, 2),
        "rest_calls_304_per_request": round(len(conditional) / requests, 2),
        "graphql_calls_per_request": round(len(graphql) / requests, 2),
        "rest_charged_per_hour_all_requests": round(len(charged_rest) / window),
        "graphql_per_hour_all_requests": round(len(graphql) / window),
        "hourly_budget_per_api": HOURLY_BUDGET,
        "share_of_rest_budget": round(len(charged_rest) / window / HOURLY_BUDGET, 3),
        "baseline_15s_polls_per_request": round(baseline_per_request, 1),
        "baseline_share_of_budget": round(requests * baseline_per_request / HOURLY_BUDGET, 3),
    }
    for key, value in result.items():
        print(f"pipeline.{key}: {value}")
    if write:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "pipeline.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    run(int(sys.argv[1]) if len(sys.argv) > 1 else 50)
