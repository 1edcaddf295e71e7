"""A worker killed with SIGKILL in the middle of a request: a new worker finishes it, exactly one PR
per repository exists, and no step that had succeeded ran again. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bot.workflow.api import State
from tests.workflow.support import ALICE, build, pulls, spec

ROOT = Path(__file__).resolve().parents[2]


def start_worker(db_url: str, data: Path, *args: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "tests.workflow.worker_proc", "--db", db_url, "--data", str(data),
                             *args], cwd=ROOT, env=env, stderr=subprocess.PIPE)


def wait_for(path: Path, proc: subprocess.Popen[bytes], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            raise AssertionError(f"worker exited early: {proc.stderr.read().decode() if proc.stderr else ''}")
        if time.monotonic() > deadline:
            raise AssertionError("worker never reached the blocking step")
        time.sleep(0.02)


def calls(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def test_a_killed_worker_loses_nothing(db_url: str, tmp_path: Path) -> None:
    services = build(tmp_path, db_url)
    try:
        wf = services.workflow
        info = wf.submit_create(spec("crash-api"), ALICE)
        opens = [s for s in info.steps if s.kind == "open_pr"]
        victim = opens[1] if len(opens) > 1 else opens[0]
        block_key = f"{info.id}-{victim.repo}-1"
        log, marker = tmp_path / "calls.jsonl", tmp_path / "blocked"

        first = start_worker(db_url, tmp_path, "--log", str(log), "--block-key", block_key,
                             "--blocked-marker", str(marker), "--id", "doomed")
        try:
            wait_for(marker, first)
            during = wf.get_request(info.id)
            done_before = {s.id: s.attempts for s in during.steps if s.state == State.SUCCEEDED}
            assert done_before and next(s for s in during.steps if s.id == victim.id).state == State.RUNNING
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait()
        assert first.returncode == -signal.SIGKILL

        # a new worker; its clock is past the dead worker's lease (no waiting for real time to pass)
        second = start_worker(db_url, tmp_path, "--log", str(log), "--clock-offset", "600", "--id", "rescuer")
        _, err = second.communicate(timeout=300)
        assert second.returncode == 0, err.decode()

        after = wf.get_request(info.id)
        assert after.state == State.SUCCEEDED, after.error
        assert {s.id: s.attempts for s in after.steps if s.id in done_before} == done_before  # none reran
        assert next(s for s in after.steps if s.id == victim.id).attempts == 2  # the interrupted one resumed
        assert "step.reclaimed" in [e.action for e in wf.audit("crash-api")]

        ours = {repo: [p for p in prs if p["key"].startswith(f"{info.id}-")] for repo, prs in pulls(tmp_path /
                                                                                                      "repos").items()}
        assert all(len(prs) == 1 for prs in ours.values())  # exactly one PR per repository
        assert sum(len(prs) for prs in ours.values()) == len([s for s in after.steps if s.kind == "open_pr"
                                                              and s.pr_number])
        assert all(p["state"] == "merged" for prs in ours.values() for p in prs)
        opened = Counter(c["key"] for c in calls(log) if c["op"] == "open_change")
        assert opened[block_key] == 2 and all(n == 1 for k, n in opened.items() if k != block_key)
    finally:
        services.close()
