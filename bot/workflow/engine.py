"""The worker side of the workflow: claim a step, run it, record the outcome; deliver notifications;
close the pull requests of cancelled or denied requests; remind and expire.

Safe to run in every replica at once: steps are claimed with leases (`lease.py`), the outbox and
reminders with conditional updates, and decommission requests are serialised by the service locks.
A step's action runs on a thread of its own while the claiming thread waits for it, so a stopping
worker (`stopping`, set from a signal handler) can give up on a step after its grace period and hand
the lease back instead of leaving the step to expire. Nothing here decides policy or builds messages
for Slack; it calls the `Notifier` it is given.
"""

from __future__ import annotations

import contextvars
import logging
import os
import random
import socket
import threading
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import aliased

from bot.logs import scrub
from bot.store import models as m
from bot.store.database import Store
from bot.workflow import bulk, deployments, lease, records, transitions
from bot.workflow.api import (
    ApprovalInfo,
    EnvironmentInfo,
    Notifier,
    NullNotifier,
    RequestInfo,
    RequestKind,
    State,
)
from bot.workflow.changes import repository_for
from bot.workflow.clock import Clock
from bot.workflow.execute import Actions, Done, Outcome, StepJob, Wait
from bot.workflow.steps import StepKind
from provisioners.errors import PermanentError, TransientError
from provisioners.spec import ServiceSpec

log = logging.getLogger(__name__)

OUTBOX_CLAIM = timedelta(seconds=30)  # a dead worker's undelivered notifications go to another worker after this
OUTBOX_BATCH = 50
UNSUCCESSFUL_TEARDOWN = (State.CANCELLED, State.FAILED)  # an expired environment is still up after these


@dataclass(frozen=True)
class EngineConfig:
    lease: timedelta = timedelta(seconds=120)
    max_attempts: int = 6
    backoff_base: float = 5.0
    backoff_max: float = 900.0
    ttl_reminder: timedelta = timedelta(hours=24)
    approval_reminder: timedelta = timedelta(hours=4)
    shutdown_grace: float = 25.0
    outbox_claim: timedelta = OUTBOX_CLAIM
    teardown_retry: timedelta = timedelta(hours=24)


@dataclass
class _Running:
    """A claimed step in this process: `wake` is set when its action ends or when shutdown gives up on it."""

    claim: lease.Claim
    wake: threading.Event = field(default_factory=threading.Event)
    outcome: Outcome | None = None
    error: BaseException | None = None
    ended: bool = False


def backoff(failures: int, base: float, cap: float, rng: random.Random) -> float:
    """Exponential backoff with "equal jitter": half fixed, half random, so retries spread out."""
    delay = min(cap, base * 2 ** max(failures - 1, 0))
    return delay / 2 + rng.uniform(0, delay / 2)


class Engine:
    def __init__(self, store: Store, clock: Clock, actions: Actions, config: EngineConfig,
                 rng: random.Random | None = None) -> None:
        self.store = store
        self.clock = clock
        self.actions = actions
        self.config = config
        self.rng = rng or random.Random()
        self.stopping = threading.Event()  # set: claim nothing more (a signal handler may set it)
        self._idle = threading.Condition()
        self._running: dict[str, _Running] = {}
        self.released = 0  # steps this engine handed back unfinished (stopping)

    # --- steps ----------------------------------------------------------------------------------
    def run_pending(self, worker: str, notifier: Notifier, max_steps: int = 100,
                    kinds: Collection[str] | None = None) -> int:
        if self.stopping.is_set():
            return 0
        self.deliver(worker, notifier)
        self.close_abandoned()
        ran = 0
        while ran < max_steps and not self.stopping.is_set():
            claimed = self.claim(worker, kinds)
            if claimed is None:
                break
            self.run(*claimed)
            ran += 1
            self.deliver(worker, notifier)
        if not self.stopping.is_set():
            self.close_abandoned()
            self.deliver(worker, notifier)
        return ran

    def claim(self, worker: str, kinds: Collection[str] | None = None) -> tuple[lease.Claim, StepJob] | None:
        if self.stopping.is_set():
            return None
        now = self.clock.now()
        with self.store.session() as s:
            claim = lease.claim_next(s, worker, now, self.config.lease, kinds, max_attempts=self.config.max_attempts)
            if claim is None:
                return None
            step = s.get(m.Step, claim.step_id)
            req = s.get(m.Request, claim.request_id)
            assert step is not None and req is not None
            opener = None
            if step.kind in (StepKind.WAIT_MERGE, StepKind.WAIT_PLAN, StepKind.WAIT_APPLY):
                opener = s.scalar(select(m.Step).where(
                    m.Step.request_id == req.id, m.Step.kind == StepKind.OPEN_PR, m.Step.repo == step.repo,
                    m.Step.repo_index == step.repo_index))
            opened = opener.pr_number if opener is not None else None
            pr: dict[str, Any] = {}  # the commit the plan or apply follows
            if step.kind == StepKind.WAIT_PLAN and opener is not None:  # the head the PR was opened at
                pr = dict(opener.result or {})
            elif step.kind == StepKind.WAIT_APPLY:  # the merge commit
                seen = s.scalar(select(m.Step.result).where(
                    m.Step.request_id == req.id, m.Step.kind == StepKind.WAIT_MERGE, m.Step.repo == step.repo,
                    m.Step.repo_index == step.repo_index))
                pr = dict(seen or {})
            rows = bulk.step_rows(s, req) if req.kind == RequestKind.BULK and step.kind == StepKind.OPEN_PR else []
            follows = step.kind == StepKind.WAIT_DEPLOY  # wait_prune reads neither merges nor earlier polls
            merged = deployments.merged(s, req.id) if follows else []
            followed = deployments.followed(s, req.id) if follows else {}
            job = StepJob(request_id=req.id, kind=RequestKind(req.kind), service=req.service,
                          environments=list(req.environments), requester=req.requester, spec=dict(req.spec or {}),
                          previous_spec=req.previous_spec, bindings=req.bindings, step_kind=StepKind(step.kind),
                          repo=step.repo, repo_index=step.repo_index, forge_key=step.forge_key, title=step.title,
                          attempts=step.attempts, opened_pr=opened, params=dict(req.params or {}), services=rows,
                          merged=merged, followed=followed, started_at=step.started_at,
                          result=dict(step.result or {}), pr=pr)
        return claim, job

    def run(self, claim: lease.Claim, job: StepJob) -> None:
        """Run the step's action on its own thread and record what it ended with; when shutdown gives up on
        it first (`abandon_running`), hand its lease back instead (the action's late result is dropped)."""
        running = _Running(claim)
        with self._idle:
            self._running[claim.token] = running
        stop = threading.Event()
        beat = threading.Thread(target=self._heartbeat, args=(claim, stop), daemon=True,
                                name=f"lease-{claim.step_id}")
        beat.start()
        try:
            if self.stopping.is_set():  # claimed just before the stop: never start it
                self._release(claim)
                return
            action = threading.Thread(target=contextvars.copy_context().run, args=(self._act, running, job),
                                      daemon=True, name=f"step-{claim.step_id}")
            action.start()
            running.wake.wait()
            with self._idle:
                ended = running.ended
            if not ended:
                self._release(claim)
                return
            exc = running.error
            if exc is not None and not isinstance(exc, Exception):
                raise exc  # SystemExit and the like end the worker as before, the step left to its lease
            if exc is None:
                assert running.outcome is not None
                self._finish(claim, outcome=running.outcome)
            elif isinstance(exc, TransientError):
                self._finish(claim, transient=exc)
            elif isinstance(exc, PermanentError):
                self._finish(claim, error=scrub(str(exc)), result=getattr(exc, "result", None))
            else:  # a bug or an unmapped client error: fail the step, keep the worker alive
                log.error("step %s of request %s failed unexpectedly", claim.step_id, claim.request_id,
                          exc_info=exc)
                self._finish(claim, error=scrub(f"unexpected error ({type(exc).__name__}: {exc}); see the worker "
                                                "log, then retry the request"))
        finally:
            stop.set()
            beat.join()
            with self._idle:
                self._running.pop(claim.token, None)
                self._idle.notify_all()

    def _act(self, running: _Running, job: StepJob) -> None:
        try:
            running.outcome = self.actions.run(job, self.clock.now())
        except BaseException as exc:  # handed to the claiming thread, which records it
            running.error = exc
        finally:
            with self._idle:
                running.ended = True
            running.wake.set()

    # --- stopping -------------------------------------------------------------------------------
    def wait_idle(self, timeout: float | None) -> bool:
        """Wait until no step runs in this process; False when `timeout` passed first."""
        with self._idle:
            return self._idle.wait_for(lambda: not self._running, timeout)

    def abandon_running(self) -> int:
        """Give up on every step still running here: their claiming threads release the leases and return."""
        with self._idle:
            running = list(self._running.values())
        for r in running:
            r.wake.set()
        return len(running)

    def shutdown(self, grace: float | None = None) -> bool:
        """Stop claiming (if not already), let running steps finish for `grace` seconds (default: the
        configured grace period), then release the ones still running. True when every step finished."""
        self.stopping.set()
        finished = self._hold_grace(grace)
        self.wait_idle(30.0)  # released steps' threads return after one transaction each
        return finished

    def watch_stopping(self, grace: float | None = None) -> threading.Thread:
        """For a worker whose main thread runs steps itself (`--once`): once `stopping` is set (by a signal
        handler, which must not block), enforce the grace period from a thread of its own."""
        def watch() -> None:
            self.stopping.wait()
            self._hold_grace(grace)

        thread = threading.Thread(target=watch, daemon=True, name="shutdown-grace")
        thread.start()
        return thread

    def _hold_grace(self, grace: float | None) -> bool:
        grace = self.config.shutdown_grace if grace is None else grace
        if self.wait_idle(grace):
            return True
        log.warning("%d step(s) still running after the %.0f s grace period: releasing their leases",
                    self.abandon_running(), grace)
        return False

    def _release(self, claim: lease.Claim) -> None:
        """Hand a step back at once (pending, no lease), so another worker takes it without waiting for the lease
        to expire. The claim's token must still hold: a step reclaimed or cancelled meanwhile is left alone."""
        now = self.clock.now()
        with self.store.session() as s:
            req = s.get(m.Request, claim.request_id, with_for_update=True)
            step = s.get(m.Step, claim.step_id, with_for_update=True)
            if req is None or step is None or not lease.holds(step, claim):
                return
            records.audit(s, now, f"worker:{claim.worker}", req.service, "step.released", request_id=req.id,
                          step_id=step.id, from_state=State.RUNNING, to_state=State.PENDING,
                          detail=f"worker {claim.worker} stopped before the step finished; another worker resumes it")
            step.state = State.PENDING
            step.run_after = now
            step.updated_at = now
            step.lease_owner = step.lease_token = None
            step.lease_expires_at = None
        self.released += 1
        log.info("released step %s of request %s", claim.step_id, claim.request_id)

    def _heartbeat(self, claim: lease.Claim, stop: threading.Event) -> None:
        """Keep the lease while a slow step (rate-limited forge, slow AWS) is still working."""
        interval = max(self.config.lease.total_seconds() / 3, 0.05)
        while not stop.wait(interval):
            try:
                with self.store.session() as s:
                    s.execute(update(m.Step).where(m.Step.id == claim.step_id, m.Step.lease_token == claim.token)
                              .values(lease_expires_at=self.clock.now() + self.config.lease)
                              .execution_options(synchronize_session=False))
            except Exception:
                log.warning("could not extend the lease of step %s", claim.step_id, exc_info=True)

    def _finish(self, claim: lease.Claim, *, outcome: Outcome | None = None, transient: TransientError | None = None,
                error: str | None = None, result: dict[str, Any] | None = None) -> None:
        now = self.clock.now()
        actor = f"worker:{claim.worker}"
        with self.store.session() as s:
            req = s.get(m.Request, claim.request_id, with_for_update=True)
            step = s.get(m.Step, claim.step_id, with_for_update=True)
            assert req is not None and step is not None
            if not lease.holds(step, claim):
                log.info("step %s: lease lost (state %s); result dropped", step.id, step.state)
                if step.state == State.CANCELLED:
                    req.cleanup_pending = True
                return
            if outcome is not None and outcome.result is not None:
                step.result = outcome.result
            if isinstance(outcome, Wait):
                first = step.state != State.WAITING and step.error is None and step.attempts == 1
                if outcome.deploys and deployments.record(s, req, outcome.deploys, now):
                    first = True  # a deployment's progress is news whenever an environment's phase or detail moved
                step.error = None
                step.run_after = outcome.until
                transitions.step_state(s, req, step, State.WAITING, now, actor, outcome.detail)
                transitions.request_state(s, req, State.WAITING, now, actor)
                if first:
                    records.notify(s, now, "step_progress", request_id=req.id, step_id=step.id, text=outcome.detail)
            elif isinstance(outcome, Done):
                if outcome.pr_number is not None:
                    step.pr_number, step.pr_url = outcome.pr_number, outcome.pr_url
                if outcome.bindings is not None:
                    req.bindings = outcome.bindings
                if outcome.merge_sha is not None:
                    step.merge_sha = outcome.merge_sha
                if outcome.deploys:
                    deployments.record(s, req, outcome.deploys, now)
                step.error = None
                transitions.step_state(s, req, step, State.SUCCEEDED, now, actor, outcome.detail)
                records.notify(s, now, "step_progress", request_id=req.id, step_id=step.id, text=outcome.detail)
                if outcome.gate is not None:  # e.g. a plan that destroys: an SRE decides before the merge
                    transitions.insert_approval(s, req, step, outcome.gate.approvers, outcome.gate.reasons, now)
                transitions.advance(s, req, now, actor, self.actions.ctx)
            elif transient is not None:
                step.failures += 1
                message = scrub(str(transient))
                if step.failures + step.reclaims >= self.config.max_attempts:  # a dead worker's run counts too
                    transitions.fail(s, req, step, f"gave up after {step.failures + step.reclaims} attempts: "
                                     f"{message}", now, actor)
                    return
                delay = backoff(step.failures, self.config.backoff_base, self.config.backoff_max, self.rng)
                at = now + timedelta(seconds=delay)
                if transient.retry_at is not None and transient.retry_at > at:
                    at = transient.retry_at
                step.run_after = at
                step.error = (f"{message} (attempt {step.failures + step.reclaims} of {self.config.max_attempts}; "
                              f"retrying at {at:%Y-%m-%d %H:%M:%S} UTC)")
                transitions.step_state(s, req, step, State.PENDING, now, actor, step.error)
                records.notify(s, now, "step_progress", request_id=req.id, step_id=step.id, text=step.error)
            else:
                if result is not None:
                    step.result = result
                transitions.fail(s, req, step, error or "failed", now, actor)

    # --- notifications --------------------------------------------------------------------------
    def deliver(self, worker: str, notifier: Notifier) -> int:
        """Deliver a batch of the outbox. Claims last `outbox_claim` and are renewed while this worker is
        still delivering, so a dead worker's messages go to another worker soon; each message is marked
        delivered as soon as it is sent, so they are the only ones that could be sent twice."""
        if self.stopping.is_set():
            return 0
        now = self.clock.now()
        with self.store.session() as s:
            rows = s.scalars(
                select(m.OutboxMessage)
                .where(m.OutboxMessage.delivered_at.is_(None),
                       or_(m.OutboxMessage.claimed_at.is_(None),
                           m.OutboxMessage.claimed_at <= now - self.config.outbox_claim))
                .order_by(m.OutboxMessage.id).limit(OUTBOX_BATCH).with_for_update(skip_locked=True)
            ).all()
            silent = isinstance(notifier, NullNotifier)  # nobody to tell: just mark the messages done
            for row in rows:
                row.claimed_by, row.claimed_at = worker, now
                if silent:
                    row.delivered_at = now
            batch = [(r.id, r.kind, r.request_id, r.step_id, r.service, r.environment, r.text) for r in rows]
        if not batch or silent:
            return len(batch)
        pending = [b[0] for b in batch]
        stop = threading.Event()
        beat = threading.Thread(target=self._renew_outbox, args=(worker, pending, stop), daemon=True,
                                name="outbox-claim")
        beat.start()
        infos: dict[int, RequestInfo] = {}
        changed: set[int] = set()
        sent = 0
        try:
            for _id, kind, request_id, step_id, service, environment, text in batch:
                if self.stopping.is_set():
                    break
                try:
                    self._deliver_one(notifier, infos, changed, kind, request_id, step_id, service, environment,
                                      text)
                except Exception:
                    log.warning("notification %s (%s) failed", _id, kind, exc_info=True)
                with self.store.session() as s:
                    s.execute(update(m.OutboxMessage).where(m.OutboxMessage.id == _id)
                              .values(delivered_at=self.clock.now()).execution_options(synchronize_session=False))
                pending.remove(_id)
                sent += 1
        finally:
            stop.set()
            beat.join()
        if pending:  # stopping: hand the rest back for another worker to deliver right away
            with self.store.session() as s:
                s.execute(update(m.OutboxMessage)
                          .where(m.OutboxMessage.id.in_(pending), m.OutboxMessage.claimed_by == worker,
                                 m.OutboxMessage.delivered_at.is_(None))
                          .values(claimed_by=None, claimed_at=None).execution_options(synchronize_session=False))
        return sent

    def _renew_outbox(self, worker: str, pending: list[int], stop: threading.Event) -> None:
        interval = max(self.config.outbox_claim.total_seconds() / 3, 0.05)
        while not stop.wait(interval):
            try:
                ids = list(pending)
                with self.store.session() as s:
                    s.execute(update(m.OutboxMessage)
                              .where(m.OutboxMessage.id.in_(ids), m.OutboxMessage.claimed_by == worker,
                                     m.OutboxMessage.delivered_at.is_(None))
                              .values(claimed_at=self.clock.now()).execution_options(synchronize_session=False))
            except Exception:
                log.warning("could not renew the claim on %d notification(s)", len(pending), exc_info=True)

    def _deliver_one(self, notifier: Notifier, infos: dict[int, RequestInfo], changed: set[int], kind: str,
                     request_id: int | None, step_id: int | None, service: str | None, environment: str | None,
                     text: str) -> None:
        if kind == "ttl_reminder" and service and environment:
            with self.store.session() as s:
                svc = s.scalar(select(m.Service).where(m.Service.name == service))
                if svc is None:
                    return
                info = records.service_info(s, svc)
                env_row = s.scalar(select(m.Environment).where(m.Environment.service_id == svc.id,
                                                               m.Environment.name == environment))
                stopped = (records.stopped_teardown(s, env_row, self.config.teardown_retry)
                           if env_row is not None else None)
            env = next((e for e in info.environments if e.name == environment), EnvironmentInfo(name=environment))
            if stopped is not None:
                env = env.model_copy(update={"teardown": stopped})
            notifier.ttl_reminder(info, env)
            return
        if request_id is None:
            return
        if request_id not in infos:
            with self.store.session() as s:
                req = s.get(m.Request, request_id)
                if req is None:
                    return
                infos[request_id] = records.request_info(s, req)
        request = infos[request_id]
        step = next((st for st in request.steps if st.id == step_id), None)
        if kind == "request_changed":
            if request_id not in changed:
                changed.add(request_id)
                notifier.request_changed(request)
        elif kind == "step_progress" and step is not None:
            notifier.step_progress(request, step, text)
        elif kind in ("approval_needed", "approval_reminder") and step is not None:
            with self.store.session() as s:
                row = s.get(m.Step, step.id)
                reasons = list(row.reasons) if row is not None else []
                plan = records.plan_before(s, request.id, step.position)
            notifier.approval_needed(ApprovalInfo(request=request, step=step, reasons=reasons, plan=plan))
        elif kind == "request_finished":
            notifier.request_finished(request)

    # --- cancelled and denied requests: close what they opened ---------------------------------
    def close_abandoned(self) -> int:
        with self.store.session() as s:
            reqs = s.scalars(select(m.Request).where(m.Request.cleanup_pending.is_(True)).limit(20)).all()
            work = []
            for req in reqs:
                steps = s.scalars(select(m.Step).where(m.Step.request_id == req.id)).all()
                merged = {(st.repo, st.repo_index) for st in steps
                          if st.kind == StepKind.WAIT_MERGE and st.state == State.SUCCEEDED}
                # only steps that ran can have opened something (a step that never ran opened no PR)
                keys = [(st.repo, st.forge_key, st.pr_number) for st in steps
                        if st.kind == StepKind.OPEN_PR and st.forge_key and st.repo
                        and (st.repo, st.repo_index) not in merged and (st.attempts > 0 or st.pr_number)]
                work.append((req.id, req.kind, req.service, dict(req.spec or {}), dict(req.params or {}),
                             list(req.environments), keys))
        closed = 0
        for request_id, kind, service, spec_data, request_params, envs, keys in work:
            ok = True
            for repo_key, key, _ in keys:
                try:
                    if kind == RequestKind.BULK:
                        name, _ = bulk.repository(request_params, str(repo_key))
                    else:
                        spec = ServiceSpec.model_construct(**spec_data)
                        name, _ = repository_for(self.actions.ctx.platform, str(repo_key), spec)
                    self.actions.forges.forge_for(name, envs).close_change(name, str(key))
                    closed += 1
                except TransientError:
                    ok = False
                except Exception:
                    log.warning("could not close %s for request %s", key, request_id, exc_info=True)
            if ok:
                now = self.clock.now()
                with self.store.session() as s:
                    row = s.get(m.Request, request_id, with_for_update=True)
                    if row is not None and row.cleanup_pending:
                        row.cleanup_pending = False
                        records.audit(s, now, "system", service, "request.prs_closed", request_id=request_id,
                                      detail=", ".join(f"PR #{n} in {r}" if n else f"launchpad/{k} in {r}"
                                                       for r, k, n in keys) or "nothing was open")
        return closed

    # --- reminders ------------------------------------------------------------------------------
    def remind_owners(self) -> int:
        """Tell owners of temporary environments that expire within `ttl_reminder` (once per expiry), and of
        expired ones whose automatic teardown did not go through (once per teardown, and every `teardown_retry`
        while a failed one waits for a retry)."""
        now = self.clock.now()
        sent = 0
        teardown = aliased(m.Request)
        with self.store.session() as s:
            rows = s.execute(
                select(m.Environment.id, m.Environment.name, m.Service.name, m.Environment.reminded_at,
                       teardown.id)
                .join(m.Service, m.Service.id == m.Environment.service_id)
                .outerjoin(teardown, teardown.id == m.Environment.decommission_request_id)
                .where(m.Service.active.is_(True), m.Environment.expires_at.is_not(None),
                       or_(and_(m.Environment.reminded_at.is_(None), m.Environment.expires_at > now,
                                m.Environment.expires_at <= now + self.config.ttl_reminder),
                           and_(m.Environment.expires_at <= now, teardown.state.in_(UNSUCCESSFUL_TEARDOWN),
                                or_(m.Environment.reminded_at.is_(None),
                                    m.Environment.reminded_at < teardown.finished_at,
                                    and_(teardown.state == State.FAILED, teardown.denied.is_(False),
                                         m.Environment.reminded_at <= now - self.config.teardown_retry)))))
            ).all()
            for env_id, env_name, service, previous, teardown_id in rows:
                cond = (m.Environment.reminded_at.is_(None) if previous is None
                        else m.Environment.reminded_at == previous)
                res = s.execute(update(m.Environment).where(m.Environment.id == env_id, cond)
                                .values(reminded_at=now).execution_options(synchronize_session=False))
                if res.rowcount == 1:  # type: ignore[attr-defined]
                    records.notify(s, now, "ttl_reminder", service=service, environment=env_name)
                    detail = env_name if teardown_id is None else (
                        f"{env_name}: expired; its teardown (request #{teardown_id}) did not go through")
                    records.audit(s, now, "system", service, "environment.reminded", request_id=teardown_id,
                                  detail=detail)
                    sent += 1
        return sent

    def expired_environments(self) -> list[tuple[str, str]]:
        """Expired temporary environments to tear down: never tried yet, or whose automatic teardown was
        cancelled or denied at least `teardown_retry` ago (a failed one keeps its locks: retry or cancel it)."""
        now = self.clock.now()
        teardown = aliased(m.Request)
        with self.store.session() as s:
            rows = s.execute(
                select(m.Service.name, m.Environment.name)
                .join(m.Service, m.Service.id == m.Environment.service_id)
                .outerjoin(teardown, teardown.id == m.Environment.decommission_request_id)
                .where(m.Service.active.is_(True), m.Environment.expires_at.is_not(None),
                       m.Environment.expires_at <= now,
                       or_(m.Environment.decommission_request_id.is_(None), teardown.id.is_(None),
                           and_(or_(teardown.state == State.CANCELLED,
                                    and_(teardown.state == State.FAILED, teardown.denied.is_(True))),
                                teardown.finished_at <= now - self.config.teardown_retry)))
                .order_by(m.Environment.expires_at)
            ).all()
        return [(svc, env) for svc, env in rows]

    def remind_approvers(self) -> int:
        now = self.clock.now()
        due = now - self.config.approval_reminder
        sent = 0
        with self.store.session() as s:
            steps = s.scalars(
                select(m.Step).join(m.Request, m.Request.id == m.Step.request_id)
                .where(m.Step.kind == StepKind.APPROVAL, m.Step.state == State.WAITING,
                       m.Step.position == m.Request.cursor, m.Request.state == State.WAITING,
                       or_(m.Step.reminded_at.is_(None), m.Step.reminded_at <= due), m.Step.updated_at <= due)
            ).all()
            for step in steps:
                previous = step.reminded_at
                cond = m.Step.reminded_at.is_(None) if previous is None else m.Step.reminded_at == previous
                res = s.execute(update(m.Step).where(m.Step.id == step.id, cond).values(reminded_at=now)
                                .execution_options(synchronize_session=False))
                if res.rowcount == 1:  # type: ignore[attr-defined]
                    records.notify(s, now, "approval_reminder", request_id=step.request_id, step_id=step.id)
                    sent += 1
        return sent


def worker_name(prefix: str = "worker") -> str:
    """A worker id unique per process and host (it shows in leases and audit events)."""
    return f"{prefix}-{socket.gethostname()}-{os.getpid()}"
