"""Scheduled jobs, all registered here with explicit ids: run steps, poll PR merges, expire and remind;
and the worker's life around them (`work`: start, SIGTERM, grace period, exit).

Every job is safe to run on every replica at once (steps are claimed with leases, reminders with
conditional updates, decommission requests are serialised by the service locks), so the worker
runs them all; there is no leader. Jobs only call `WorkflowService`; they hold no logic of their own.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType

from apscheduler.schedulers.background import BackgroundScheduler

from bot.workflow.service import WorkflowService
from bot.workflow.steps import StepKind

log = logging.getLogger(__name__)

POLL_KINDS = (StepKind.WAIT_MERGE, StepKind.WAIT_PLAN, StepKind.WAIT_APPLY)  # steps that look at GitHub again
WORK_KINDS = frozenset(k.value for k in StepKind if k not in (*POLL_KINDS, StepKind.APPROVAL))
MERGE_KINDS = frozenset(k.value for k in POLL_KINDS)


@dataclass(frozen=True)
class Job:
    id: str
    seconds: float
    run: Callable[[], object]


def jobs(workflow: WorkflowService, worker_id: str, poll_seconds: float) -> list[Job]:
    """The one list of scheduled jobs (ids are unique; a duplicate fails at start-up)."""
    listed = [
        Job("launchpad.run_steps", poll_seconds, lambda: workflow.run_pending(worker_id, kinds=WORK_KINDS)),
        Job("launchpad.poll_merges", max(poll_seconds, 10.0),
            lambda: workflow.run_pending(worker_id, kinds=MERGE_KINDS)),
        Job("launchpad.expire_environments", 60.0, workflow.expire_environments),
        Job("launchpad.remind_approvers", 900.0, workflow.remind_approvers),
        Job("launchpad.deliver_notifications", max(poll_seconds, 1.0),
            lambda: workflow.deliver_notifications(worker_id)),
    ]
    ids = [j.id for j in listed]
    if len(set(ids)) != len(ids):
        raise ValueError(f"duplicate job id in {ids}")
    return listed


def run_once(workflow: WorkflowService, worker_id: str) -> int:
    """What the scheduled jobs would do, until nothing is runnable now (the `--once` worker, cron, tests):
    expire and remind first (they may open requests), then run steps and poll merges until idle."""
    workflow.expire_environments()
    workflow.remind_approvers()
    total = 0
    while (ran := workflow.run_pending(worker_id)) > 0:
        total += ran
    workflow.deliver_notifications(worker_id)
    return total


def work(workflow: WorkflowService, worker_id: str, poll_seconds: float, *, once: bool = False,
         started: Callable[[BackgroundScheduler], None] | None = None) -> int:
    """`launchpad worker`: run the scheduled jobs until SIGTERM or SIGINT (with `once`: until nothing is
    runnable). On the signal the worker claims nothing more, gives the steps it is running the grace
    period (`worker_shutdown_grace_seconds`) to finish, hands the others' leases back so another worker
    resumes them at once, and returns how many it handed back. Call from the main thread."""
    engine = workflow.engine
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:  # only sets events: safe in a signal handler
        engine.stopping.set()
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        if once:
            engine.watch_stopping()
            run_once(workflow, worker_id)
            return engine.released
        scheduler = build_scheduler(workflow, worker_id, poll_seconds)
        scheduler.start()
        if started is not None:
            started(scheduler)
        stop.wait()
        scheduler.pause()  # no job starts from here on; the running ones see `stopping`
        log.info("worker %s stopping: no new steps; running steps get %.0f s", worker_id,
                 engine.config.shutdown_grace)
        engine.shutdown()
        scheduler.shutdown(wait=True)
        return engine.released
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def build_scheduler(workflow: WorkflowService, worker_id: str, poll_seconds: float) -> BackgroundScheduler:
    quiet = logging.getLogger("apscheduler")
    if not quiet.isEnabledFor(logging.DEBUG):
        quiet.setLevel(logging.WARNING)  # it logs every run of every job at INFO
    scheduler = BackgroundScheduler(timezone="UTC", job_defaults={"coalesce": True, "max_instances": 1,
                                                                   "misfire_grace_time": 30})
    for job in jobs(workflow, worker_id, poll_seconds):
        scheduler.add_job(_guarded(job), "interval", seconds=job.seconds, id=job.id, name=job.id,
                          replace_existing=True)
    return scheduler


def _guarded(job: Job) -> Callable[[], None]:
    def run() -> None:
        try:
            job.run()
        except Exception:  # one failing tick must not stop the schedule; the next tick tries again
            log.exception("job %s failed", job.id)

    return run
