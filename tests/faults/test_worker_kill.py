"""A worker SIGKILLed while GitHub holds a half-made delivery: branch and commit pushed, the request that
opens the pull request still in flight.

tests/workflow/test_crash.py (helper W) kills a worker on the local forge right after a PR was opened and
before its step was recorded. This covers the other side of that moment, over HTTP on the GitHub forge:
the worker dies before the PR exists. A new worker (here: the test, with its clock past the dead
worker's lease) reclaims the step, reuses the pushed commit, opens the one PR, and the request ends with
one branch, commit and PR per repository; no step that had succeeded ran again.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from bot.workflow.api import State
from tests.faults.support import build_world, web_spec
from tests.support.github_contents import ContentsGitHubServer
from tests.support.github_server import Fault
from tests.workflow.support import ALICE

ROOT = Path(__file__).resolve().parents[2]
VALUES = "/repos/platform/k8s-values"


def test_a_worker_killed_between_pushing_the_branch_and_opening_the_pr(tmp_path: Path) -> None:
    with ContentsGitHubServer() as server:
        world = build_world(tmp_path, server)
        try:
            wf = world.workflow
            world.clock.set(datetime.now(UTC))  # the worker process runs on real time
            request = wf.submit_create(web_spec(["devel"]), ALICE)
            key = f"{request.id}-values-1"
            # the PR request hangs at GitHub and, when it finally answers, was never processed
            server.add_fault(Fault("POST", VALUES + "/pulls$", status=502, delay=30.0))
            worker = subprocess.Popen([sys.executable, "-m", "tests.faults.worker_proc", "--data", str(tmp_path),
                                       "--api", server.api_url, "--id", "doomed"], cwd=ROOT,
                                      env={**os.environ, "PYTHONPATH": str(ROOT)}, stderr=subprocess.PIPE)
            try:
                deadline = time.monotonic() + 90
                while not server.calls_matching("POST", VALUES + "/pulls$"):
                    assert worker.poll() is None, worker.stderr.read().decode() if worker.stderr else ""
                    assert time.monotonic() < deadline, "the worker never reached the values PR"
                    world.review(request.id, ALICE)  # the reviewer merges what the worker opens
                    time.sleep(0.02)
            finally:
                worker.send_signal(signal.SIGKILL)
                worker.wait()
            assert worker.returncode == -signal.SIGKILL

            during = wf.get_request(request.id)
            values = next(s for s in during.steps if s.kind == "open_pr" and s.repo == "values")
            assert values.state == State.RUNNING  # its lease is held by a dead worker
            done_before = {s.id: s.attempts for s in during.steps if s.state == State.SUCCEEDED}
            assert done_before
            assert f"launchpad/{key}" in server.branches("platform/k8s-values")  # half-made: branch and commit...
            assert world.launchpad_commits("platform/k8s-values", key) == 1
            assert not [p for p in server.pulls("platform/k8s-values") if p.head == f"launchpad/{key}"]  # ...no PR

            world.clock.advance(hours=1)  # past the dead worker's lease
            info = world.drive(request.id, worker="rescuer")
            world.assert_delivered_exactly_once(info)
            assert {s.id: s.attempts for s in info.steps if s.id in done_before} == done_before  # none reran
            assert next(s for s in info.steps if s.id == values.id).attempts == 2
            reclaimed = [e for e in wf.audit("ranking-web") if e.action == "step.reclaimed"]
            assert [e.step_id for e in reclaimed] == [values.id] and "doomed" in reclaimed[0].detail
        finally:
            world.services.close()
