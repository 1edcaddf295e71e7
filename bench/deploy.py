"""Following deployments: Argo CD API calls per followed deployment, polling with backoff vs a fixed interval.

One create request (devel, alpha, prod; prod approved by a second actor) runs on the local forge against the
local Argo CD server with simulated time (ManualClock shared by the workflow and the server): Argo CD
notices the merge 60 s later (its refresh) and the rollout then takes 30 s, 2 min or 10 min. Figures per
scenario: Argo CD calls per followed environment, polls, and how long after the last environment turned
Healthy LaunchPad said so (the price of backing off). The baseline polls every 10 s. Reported, not
asserted: `python -m bench.deploy` prints one line per figure and writes bench/results/deploy.json.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from sqlalchemy import select

from bot.store import models as m
from bot.workflow.api import State
from bot.workflow.clock import ManualClock
from provisioners.forge.local import LocalForge
from tests.deploy.support import TOKEN, build, follow
from tests.deploy.support import run as drive
from tests.support.argocd_server import ArgoCdServer
from tests.workflow.support import ALICE, SRE, spec

RESULTS = Path(__file__).resolve().parent / "results"
ENVS = ["devel", "alpha", "prod"]
ROLLOUTS = {"30s": 30.0, "2min": 120.0, "10min": 600.0}
POLICIES = {"backoff": (10.0, 60.0), "fixed-10s": (10.0, 10.0)}


def follow_once(rollout: float, poll: float, poll_max: float) -> dict[str, Any]:
    clock = ManualClock()
    with tempfile.TemporaryDirectory() as tmp, \
            ArgoCdServer(tokens={TOKEN: None}, clock=lambda: clock.now().timestamp()) as argo:
        root = Path(tmp)
        forge = LocalForge(root / "repos")
        services = build(root, argo, clock, forge, deploy_poll_seconds=poll, deploy_poll_max_seconds=poll_max,
                         deploy_timeout_seconds=3600)
        apps = follow(argo, forge, "ranking-api", ENVS, sync_delay=60.0, rollout=rollout)
        wf = services.workflow
        info = drive(services, clock, wf.submit_create(spec(envs=ENVS), ALICE).id, max_polls=2000)
        step = info.current_step()
        if step is not None and step.kind == "approval":
            wf.decide(info.id, step.id, SRE, True)
            info = drive(services, clock, info.id, max_polls=2000)
        assert info.state == State.SUCCEEDED, info.error
        with services.store.session() as s:
            follow_step = s.scalar(select(m.Step).where(m.Step.request_id == info.id, m.Step.kind == "wait_deploy"))
            assert follow_step is not None and follow_step.finished_at is not None
            polls, done_at = follow_step.attempts, follow_step.finished_at.timestamp()
        healthy_at = max((a.op_started or 0) + rollout for a in apps.values())
        services.close()
        calls = len(argo.calls)
        return {"argocd_calls": calls, "calls_per_environment": round(calls / len(ENVS), 1), "polls": polls,
                "noticed_after_healthy_s": round(done_at - healthy_at, 1),
                "resource_tree_calls": len(argo.calls_to("/api/v1/applications/{applicationName}/resource-tree"))}


def run_bench(write: bool = True) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for label, rollout in ROLLOUTS.items():
        result[label] = {name: follow_once(rollout, *interval) for name, interval in POLICIES.items()}
        b, f = result[label]["backoff"], result[label]["fixed-10s"]
        print(f"deploy: rollout {label}: Argo CD calls per followed environment {b['calls_per_environment']} with "
              f"backoff vs {f['calls_per_environment']} polling every 10 s ({b['polls']} vs {f['polls']} polls); "
              f"noticed {b['noticed_after_healthy_s']} s vs {f['noticed_after_healthy_s']} s after Healthy")
    if write:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "deploy.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


def run() -> dict[str, Any]:
    return run_bench()


if __name__ == "__main__":
    run_bench()
    sys.exit(0)
