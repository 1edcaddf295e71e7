"""A worker told to stop (SIGTERM) in the middle of a long step, and a step that kills its worker every time.

Real worker processes (`worker_proc`, running what `launchpad worker` runs) on SQLite and PostgreSQL. After
the signal a worker claims nothing more; a step that ends within the grace period is recorded, one that does
not is handed back (pending, no lease) so the next worker takes it at once instead of waiting out the lease;
the process exits 0 either way. A step whose worker dies every time fails its request once the attempts run
out ("worker died N times running this step") instead of being reclaimed forever.
"""

from __future__ import annotations

import signal
import subprocess
from collections import Counter
from datetime import timedelta
from pathlib import Path

from bot.store import models as m
from bot.workflow.api import State
from bot.workflow.clock import OffsetClock
from tests.workflow.support import ALICE, build, drain, pulls, spec
from tests.workflow.test_crash import calls, start_worker, wait_for

EXIT_TIMEOUT = 120.0  # a guard against a hung test, not a measurement


def _stop(proc: subprocess.Popen[bytes], marker: Path) -> None:
    proc.send_signal(signal.SIGTERM)
    wait_for(marker, proc)  # the worker has taken the signal in


def test_sigterm_lets_a_step_finish_within_the_grace_period_then_claims_nothing(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'launchpad.db'}"  # recording a finished step is the ordinary path: SQLite only
    services = build(tmp_path, db_url)
    try:
        wf = services.workflow
        info = wf.submit_create(spec("stop-api"), ALICE)
        first, second = info.steps[0], info.steps[1]
        key = f"{info.id}-{first.repo}-1"
        log, held, release, stopping = (tmp_path / n for n in ("calls.jsonl", "held", "release", "stopping"))
        proc = start_worker(db_url, tmp_path, "--mode", "once", "--log", str(log), "--block-key", key,
                            "--blocked-marker", str(held), "--release-marker", str(release),
                            "--stopping-marker", str(stopping), "--setting", "worker_shutdown_grace_seconds=300")
        try:
            wait_for(held, proc)  # the PR is open; the step has not returned yet
            _stop(proc, stopping)
            release.write_text("go")  # the long step ends, well within its grace period
            _, err = proc.communicate(timeout=EXIT_TIMEOUT)
        finally:
            proc.kill()
        assert proc.returncode == 0, err.decode()

        after = wf.get_request(info.id)
        done = next(s for s in after.steps if s.id == first.id)
        assert done.state == State.SUCCEEDED and done.pr_number  # finished and recorded, not released
        nxt = next(s for s in after.steps if s.id == second.id)
        assert nxt.state == State.PENDING and nxt.attempts == 0  # runnable, and nobody claimed it after the signal
        assert [c["key"] for c in calls(log)] == [key]
        assert "step.released" not in [e.action for e in wf.audit("stop-api")]
    finally:
        services.close()


def test_sigterm_releases_a_step_still_running_after_the_grace_period(db_url: str, tmp_path: Path) -> None:
    services = build(tmp_path, db_url)
    try:
        wf = services.workflow
        info = wf.submit_create(spec("stop-api"), ALICE)
        first = info.steps[0]
        key = f"{info.id}-{first.repo}-1"
        log, held, stopping = tmp_path / "calls.jsonl", tmp_path / "held", tmp_path / "stopping"
        proc = start_worker(db_url, tmp_path, "--mode", "worker", "--log", str(log), "--block-key", key,
                            "--blocked-marker", str(held), "--stopping-marker", str(stopping), "--id", "leaving",
                            "--setting", "worker_shutdown_grace_seconds=0.2",
                            "--setting", "worker_poll_seconds=0.05")
        try:
            wait_for(held, proc)  # this step never ends by itself
            _stop(proc, stopping)
            _, err = proc.communicate(timeout=EXIT_TIMEOUT)
        finally:
            proc.kill()
        assert proc.returncode == 0, err.decode()

        during = wf.get_request(info.id)
        released = next(s for s in during.steps if s.id == first.id)
        assert released.state == State.PENDING and released.attempts == 1
        with services.store.session() as s:
            row = s.get(m.Step, first.id)
            assert row is not None and row.lease_owner is None and row.lease_expires_at is None
        events = [e for e in wf.audit("stop-api") if e.step_id == first.id]
        assert [e.action for e in events][-1] == "step.released" and "leaving" in events[-1].detail
        assert all(s.attempts == 0 for s in during.steps[1:])  # nothing else was claimed

        # the next worker, on the same clock (no lease to wait out), takes it over at once and finishes
        drain(services, worker="next")
        after = wf.get_request(info.id)
        assert after.state == State.SUCCEEDED, after.error
        assert next(s for s in after.steps if s.id == first.id).attempts == 2
        assert "step.reclaimed" not in [e.action for e in wf.audit("stop-api")]
        ours = [p for prs in pulls(tmp_path / "repos").values() for p in prs if p["key"] == key]
        assert len(ours) == 1  # the rerun found the PR the stopped worker had opened
    finally:
        services.close()


def test_a_step_that_kills_its_worker_every_time_fails_the_request(db_url: str, tmp_path: Path) -> None:
    services = build(tmp_path, db_url, step_max_attempts=2)
    try:
        wf = services.workflow
        info = wf.submit_create(spec("oom-api"), ALICE)
        poison = info.steps[0]
        key = f"{info.id}-{poison.repo}-1"
        log = tmp_path / "calls.jsonl"
        proc = start_worker(db_url, tmp_path, "--log", str(log), "--die-key", key, "--id", "victim",
                            "--setting", "step_max_attempts=2")
        proc.communicate(timeout=EXIT_TIMEOUT)
        assert proc.returncode == -signal.SIGKILL
        assert Counter(c["key"] for c in calls(log)) == {key: 1}
        # the second worker dies the same way; to the database that is a claim nobody finishes
        second = build(tmp_path, db_url, step_max_attempts=2, clock=OffsetClock(timedelta(seconds=600)))
        try:
            claimed = second.workflow.engine.claim("victim-2")
            assert claimed is not None and claimed[0].step_id == poison.id and claimed[0].reclaimed_from == "victim"
        finally:
            second.close()

        rescuer = build(tmp_path, db_url, step_max_attempts=2, clock=OffsetClock(timedelta(seconds=1200)))
        try:
            assert drain(rescuer, worker="rescuer") == 0  # the third reclaim fails the step instead of running it
            failed_request = rescuer.workflow.get_request(info.id)
            rescuer.workflow.retry(info.id, ALICE)  # the cause is fixed: a retry starts the count again
            drain(rescuer, worker="rescuer")
            assert rescuer.workflow.get_request(info.id).state == State.SUCCEEDED
        finally:
            rescuer.close()
        assert Counter(c["key"] for c in calls(log)) == {key: 1}
        after = failed_request
        assert after.state == State.FAILED
        failed = next(s for s in after.steps if s.id == poison.id)
        assert failed.state == State.FAILED and "worker died 2 times running this step" in (failed.error or "")
        assert "worker died 2 times running this step" in (after.error or "")
        reclaimed = [e for e in wf.audit("oom-api") if e.action == "step.reclaimed"]
        assert len(reclaimed) == 2 and "victim-2" in reclaimed[-1].detail
    finally:
        services.close()
