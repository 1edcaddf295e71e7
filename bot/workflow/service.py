"""WorkflowService: the one object Slack listeners, App Home and the CLI call.

Its request methods are synchronous, quick and database-only (never a forge or Slack call): they
validate, authorize, take locks, persist a request with its steps, and return plain `api` data.
The work happens in workers (`run_pending`, `launchpad worker`), which also deliver the
notifications the request methods leave in the outbox. See docs/workflow.md for the lifecycle.
"""

from __future__ import annotations

import functools
import inspect
import logging
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar, cast

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.store import models as m
from bot.store.database import Store
from bot.workflow import bulk, deployments, locks, names, promotion, records, transitions
from bot.workflow.api import (
    Actor,
    ApprovalInfo,
    AuditEvent,
    BulkChange,
    BulkPreview,
    EnvironmentImage,
    Locked,
    NotAllowed,
    NotFound,
    NothingToChange,
    Notifier,
    NullNotifier,
    PromotionInfo,
    RequestInfo,
    RequestKind,
    Selector,
    ServiceInfo,
    State,
)
from bot.workflow.changes import load_spec
from bot.workflow.clock import Clock
from bot.workflow.engine import Engine
from bot.workflow.execute import layout_changesets
from bot.workflow.pipeline import retried
from bot.workflow.policy import Gate, Policy, facts_for, gates, may_decide
from bot.workflow.steps import StepKind, StepPlan, extend_layout, forge_key, layout
from provisioners.bulk import BulkPlan
from provisioners.changeset import ChangeSet
from provisioners.errors import InvalidSpecError, LaunchPadError, PermanentError
from provisioners.plan import RenderContext
from provisioners.spec import Pins, ServiceSpec, parse_spec

log = logging.getLogger(__name__)

# How old the name-claim registry a precheck (inside a Slack ack) may use is; the submission re-reads it.
CLAIMS_FRESH_SECONDS = 1.0

SYSTEM = Actor(id="system", name="LaunchPad", is_sre=True)
PLAN_TRIES = 3  # a submission plans again when the service moved while it rendered, at most this often


@dataclass(frozen=True)
class _Snapshot:
    """What a precheck reads instead of the database: the name claims (`names.registered`) and every service
    name the database knows (any service row, any lock)."""
    read_at: float  # monotonic
    registry: names.Registry
    known: frozenset[str]


@dataclass(frozen=True)
class _CreatePlan:
    """A create/change checked and rendered outside the row lock, with the service state it was planned from."""

    spec: ServiceSpec
    kind: RequestKind
    previous: ServiceSpec | None
    existing_envs: list[str]
    environments: list[str]
    owner: str
    needed: list[Gate]
    changesets: list[ChangeSet]
    basis: tuple[Any, ...] | None


F = TypeVar("F", bound=Callable[..., Any])
REFUSALS = (NotAllowed, Locked, InvalidSpecError)


def audits_refusals(what: str) -> Callable[[F], F]:
    """Record a refusal (not allowed, locked, invalid) as an audit event before it reaches the caller: the
    refused transaction rolls back, so the event is written in a session of its own. The scheduler's own
    refusals (an expiry waiting for a lock) are not people's and are not recorded."""
    def wrap(fn: F) -> F:
        signature = inspect.signature(fn)

        @functools.wraps(fn)
        def run(self: WorkflowService, *args: Any, **kwargs: Any) -> Any:
            try:
                return fn(self, *args, **kwargs)
            except REFUSALS as exc:
                self._record_refusal(what, signature.bind(self, *args, **kwargs).arguments, exc)
                raise

        return cast(F, run)

    return wrap


class WorkflowService:
    def __init__(self, store: Store, engine: Engine, ctx: RenderContext, policy: Policy, clock: Clock,
                 notifier: Notifier | None = None) -> None:
        self.store = store
        self.engine = engine
        self.ctx = ctx
        self.policy = policy
        self.clock = clock
        self.notifier: Notifier = notifier or NullNotifier()
        self._snapshot: _Snapshot | None = None  # what prechecks read, at most CLAIMS_FRESH_SECONDS old
        self._snapshot_lock = threading.Lock()

    # --- submitting -----------------------------------------------------------------------------
    @audits_refusals("request")
    def precheck_create(self, spec_data: dict[str, Any], actor: Actor) -> ServiceSpec:
        """Every refusal submit_create would give (invalid spec, not allowed, locked), without writing or
        rendering: cheap enough to run inside a Slack ack so refusals still show on the form. The name claims,
        and the names the database knows (services, locks), come from a snapshot read at most
        `CLAIMS_FRESH_SECONDS` ago (a burst of submissions reads it once); a name in neither needs no database
        read at all. This process's own submissions refresh the snapshot; submit_create checks everything
        again, fresh, in the transaction that creates the request."""
        spec = parse_spec(spec_data, self.ctx.platform, self.ctx.blueprints)
        snapshot = self._recent_snapshot()
        if spec.name not in snapshot.known:  # a fresh name: no stored service to compare with, no lock to wait on
            self._check_create(None, spec, None, actor, registry=snapshot.registry)
            self._pinned(spec, spec_data, None, actor)
            return spec
        with self.store.read_session() as s:  # reads only: never queues behind a worker's write
            svc = s.scalar(select(m.Service).where(m.Service.name == spec.name))
            existing_envs = self._check_create(s, spec, svc, actor, registry=snapshot.registry)
            active = svc is not None and svc.active
            previous = _stored_spec(svc, self.ctx) if active else None
            _refuse_unchanged(s, self._pinned(spec, spec_data, previous, actor), previous, svc)
            promotion.refuse_owned_changes(spec, previous, self.ctx.platform)
            held = locks.holder_of(s, spec.name, [locks.SERVICE_WIDE,
                                                  *sorted({e.name for e in spec.environments} | set(existing_envs))])
            if held is not None:
                raise held
        return spec

    def _check_create(self, s: Session | None, spec: ServiceSpec, svc: m.Service | None, actor: Actor, *,
                      registry: names.Registry | None = None) -> list[str]:
        """Authorization and shape checks of a create/change; returns the service's existing environments.
        `s` may be None only for a service nobody has (`svc` None) checked against a `registry` snapshot."""
        active = svc is not None and svc.active
        kind = RequestKind.CHANGE if active else RequestKind.CREATE
        self._authorize(actor, spec.team, svc if active else None, f"{kind.value} {spec.name}", creating=not active)
        names.check(s, spec, self.ctx, registry)
        if not active or svc is None:
            return []
        assert s is not None, "an existing service is checked inside a session"
        existing_envs = self._env_names(s, svc)
        if svc.team != spec.team:
            raise InvalidSpecError({"team": f"{spec.name} belongs to team {svc.team}; moving a service "
                                            "between teams is not supported, ask SRE"})
        removed = sorted(set(existing_envs) - {e.name for e in spec.environments})
        if removed:
            raise InvalidSpecError({"environments": (
                f"{', '.join(removed)} exists and is missing from the spec; remove an environment with "
                f"`launchpad delete {spec.name} --env {removed[0]}` (or the Slack delete command)")})
        return existing_envs

    @audits_refusals("request")
    def submit_create(self, spec_data: dict[str, Any], actor: Actor) -> RequestInfo:
        """A create, or a change of an existing service. Rendering happens outside the transaction that locks
        the service row (parallel submissions used to queue behind each other's rendering); that transaction
        re-checks that the service did not move meanwhile, and plans again when it did."""
        for _ in range(PLAN_TRIES):
            plan = self._plan_create(spec_data, actor)
            now = self.clock.now()
            with self.store.session() as s:
                svc = s.scalar(select(m.Service).where(m.Service.name == plan.spec.name).with_for_update())
                if _basis(svc, self._env_names(s, svc)) != plan.basis:
                    continue  # another request changed the service while this one rendered: plan again
                spec, envs = plan.spec, plan.environments
                req = self._new_request(s, plan.kind, spec, envs, actor, now, previous=plan.previous)
                locks.acquire(s, spec.name, sorted(set(envs) | set(plan.existing_envs)), req.id, actor.id, now)
                if svc is None:
                    svc = m.Service(name=spec.name, team=spec.team, blueprint=spec.blueprint, owner=plan.owner,
                                    created_by=actor.id, description=spec.description, active=False, created_at=now,
                                    updated_at=now)
                    s.add(svc)
                elif not svc.active:
                    svc.team, svc.blueprint, svc.owner, svc.created_by = spec.team, spec.blueprint, plan.owner, actor.id
                    svc.updated_at = now
                self._add_steps(s, req, layout(plan.kind, plan.changesets, plan.needed), now, actor)
                info = records.request_info(s, req)
            self._forget_snapshot()
            return info
        raise PermanentError(f"{plan.spec.name} kept changing while this request was prepared (another request "
                             "finished meanwhile); submit it again")

    def _plan_create(self, spec_data: dict[str, Any], actor: Actor) -> _CreatePlan:
        """Every check and the rendering of a create/change, from a snapshot of the service (no row lock)."""
        spec = parse_spec(spec_data, self.ctx.platform, self.ctx.blueprints)
        with self.store.read_session() as s:  # reads only; the transaction that writes checks `basis` again
            svc = s.scalar(select(m.Service).where(m.Service.name == spec.name))
            active = svc is not None and svc.active
            previous = _stored_spec(svc, self.ctx) if active else None
            kind = RequestKind.CHANGE if active else RequestKind.CREATE
            existing_envs = self._check_create(s, spec, svc, actor)
            basis = _basis(svc, existing_envs if active else self._env_names(s, svc))
            bindings = svc.bindings if svc is not None else None
            owner = spec.owner or (svc.owner if active and svc is not None else actor.id)
            spec = self._pinned(spec, spec_data, previous, actor)
            _refuse_unchanged(s, spec, previous, svc)  # it compares with the recorded owner filled in
        promotion.refuse_owned_changes(spec, previous, self.ctx.platform)
        spec = spec.model_copy(update={"owner": owner})
        envs = [e.name for e in spec.environments]
        needed = gates(facts_for(kind, spec, self.ctx.platform, previous=previous), self.policy)
        changesets = self._render(lambda: layout_changesets(kind, spec, self.ctx, previous=previous,
                                                            environments=envs, bindings=bindings))
        return _CreatePlan(spec=spec, kind=kind, previous=previous, existing_envs=existing_envs, environments=envs,
                           owner=owner, needed=needed, changesets=changesets, basis=basis)

    @audits_refusals("delete")
    def submit_delete(self, service: str, envs: list[str] | None, actor: Actor, *,
                      _expired: bool = False) -> RequestInfo:
        now = self.clock.now()
        with self.store.session() as s:
            svc = self._active_service(s, service, for_update=True)
            self._authorize(actor, svc.team, svc, f"delete {service}")
            existing = self._env_names(s, svc)
            targets = sorted(set(envs)) if envs else existing
            unknown = [e for e in targets if e not in existing]
            if unknown:
                raise NotFound(f"{service} has no environment {', '.join(unknown)}; it has: {', '.join(existing)}")
            spec = _stored_spec(svc, self.ctx)
            if spec is None:
                raise NotFound(f"{service} has no recorded spec; ask SRE to check its history (launchpad audit)")
            order = {e.name: i for i, e in enumerate(spec.environments)}
            targets.sort(key=lambda e: order.get(e, 99))
            needed = gates(facts_for(RequestKind.DELETE, spec, self.ctx.platform, environments=targets,
                                     ttl_expiry=_expired), self.policy)
            changesets = self._render(lambda: layout_changesets(
                RequestKind.DELETE, spec, self.ctx, previous=None, environments=targets, bindings=svc.bindings))
            req = self._new_request(s, RequestKind.DELETE, spec, targets, actor, now)
            locks.acquire(s, service, existing, req.id, actor.id, now)
            if _expired:
                for env in s.scalars(select(m.Environment).where(m.Environment.service_id == svc.id,
                                                                 m.Environment.name.in_(targets))):
                    env.decommission_request_id = req.id
            self._add_steps(s, req, layout(RequestKind.DELETE, changesets, needed), now, actor)
            return records.request_info(s, req)

    @audits_refusals("extend")
    def extend(self, service: str, env: str, hours: int, actor: Actor) -> RequestInfo:
        if hours <= 0:
            raise NotAllowed("extend by a positive duration, e.g. 24h or 3d")
        now = self.clock.now()
        limit = self.ctx.platform.max_ttl_hours
        with self.store.session() as s:
            svc = self._active_service(s, service, for_update=True)
            self._authorize(actor, svc.team, svc, f"extend {service}")
            row = s.scalar(select(m.Environment).where(m.Environment.service_id == svc.id, m.Environment.name == env))
            if row is None:
                raise NotFound(f"{service} has no environment {env}; it has: {', '.join(self._env_names(s, svc))}")
            if row.expires_at is None:
                raise NotAllowed(f"{env} is permanent; only temporary (tmp-*) environments expire")
            held = locks.holder_of(s, service, [env])
            if held is not None:
                raise held
            new_expiry = max(row.expires_at, now) + timedelta(hours=hours)
            if new_expiry - now > timedelta(hours=limit):
                room = int((now + timedelta(hours=limit) - max(row.expires_at, now)).total_seconds() // 3600)
                raise NotAllowed(f"{service}/{env} would expire {int((new_expiry - now).total_seconds() // 3600)}h "
                                 f"from now; the maximum is {limit}h — extend by at most {max(room, 0)}h")
            spec = _stored_spec(svc, self.ctx)
            req = m.Request(kind=RequestKind.EXTEND, service=service, team=svc.team, blueprint=svc.blueprint,
                            environments=[env], requester=actor.id, state=State.PENDING, cursor=0,
                            spec=spec.model_dump(mode="json") if spec else None,
                            params={"hours": hours, "expires_at": new_expiry.isoformat()},
                            description=f"extend {env} by {hours}h", created_at=now, updated_at=now)
            s.add(req)
            s.flush()
            records.audit(s, now, actor.id, service, "request.submitted", request_id=req.id, to_state=State.PENDING,
                          detail=f"extend {env} by {hours}h")
            self._add_steps(s, req, extend_layout(env, hours), now, actor, activate=False)
            step = transitions.current_step(s, req)
            assert step is not None
            records.audit(s, now, actor.id, service, "environment.extended", request_id=req.id,
                          detail=f"{env}: {row.expires_at.isoformat()} -> {new_expiry.isoformat()}")
            row.expires_at, row.reminded_at, row.decommission_request_id = new_expiry, None, None
            row.updated_at = now
            transitions.step_state(s, req, step, State.SUCCEEDED, now, actor.id,
                                   f"{env} now expires at {new_expiry:%Y-%m-%d %H:%M} UTC")
            req.cursor = 1
            transitions.request_state(s, req, State.SUCCEEDED, now, actor.id)
            records.notify(s, now, "request_finished", request_id=req.id)
            return records.request_info(s, req)

    @audits_refusals("promote")
    def submit_promote(self, service: str, env: str, actor: Actor) -> RequestInfo:
        """Promote the image that is Healthy in `env`'s previous environment (platform.environment_order) to
        `env`: one values PR under the approval policy, followed to Healthy. Unlike the other request methods
        it reads the values repository and Argo CD before writing (outside any transaction), so a refusal —
        NotAllowed saying why: not Healthy upstream, already there, first environment — writes nothing."""
        with self.store.session() as s:
            svc = self._active_service(s, service)
            self._authorize(actor, svc.team, svc, f"promote {service}")
            spec = _stored_spec(svc, self.ctx)
            if spec is None:
                raise NotFound(f"{service} has no recorded spec; ask SRE to check its history (launchpad audit)")
            recorded = svc.spec
            promotion.source_of(spec, env, self.ctx)
            held = locks.holder_of(s, service, [locks.SERVICE_WIDE, env])
            if held is not None:
                raise held
        actions = self.engine.actions
        params = promotion.candidate(spec, self.ctx, env, actions.forges, actions.deploys.status)
        now = self.clock.now()
        with self.store.session() as s:
            svc = self._active_service(s, service, for_update=True)
            if svc.spec != recorded:
                raise PermanentError(f"{service} changed while the promotion was checked; run it again")
            needed = gates(promotion.facts(env), self.policy)
            req = self._new_request(s, RequestKind.PROMOTE, spec, [env], actor, now)
            req.params = params
            req.description = f"promote {params['image']} from {params['source']} to {env}"
            locks.acquire(s, service, [env], req.id, actor.id, now)
            deployments.add_promotion(s, req, params, actor.id, now)
            records.audit(s, now, actor.id, service, "promotion.submitted", request_id=req.id,
                          detail=f"{params['image']}: {params['source']} -> {env}; verified {params['verified']}")
            self._add_steps(s, req, layout(RequestKind.PROMOTE, [promotion.placeholder(spec, env)], needed), now,
                            actor)
            return records.request_info(s, req)

    def promotions(self, service: str) -> list[PromotionInfo]:
        with self.store.session() as s:
            return deployments.promotions(s, service)

    def running_images(self, service: str) -> list[EnvironmentImage]:
        """Which image runs where, read live: each environment's values file and, where Argo CD is
        configured, its Application (health, sync, the image it runs). Reads outside any transaction."""
        with self.store.session() as s:
            svc = self._active_service(s, service)
            spec = _stored_spec(svc, self.ctx)
            if spec is None:
                raise NotFound(f"{service} has no recorded spec; ask SRE to check its history (launchpad audit)")
        actions = self.engine.actions
        return promotion.running(spec, self.ctx, actions.forges, actions.deploys.status)

    @audits_refusals("bulk")
    def preview_bulk(self, selector: Selector, change: BulkChange, actor: Actor) -> BulkPreview:
        """The dry run of `submit_bulk`: which services and files would change, the approvals it would wait
        for, and which services another request holds right now. SRE only; writes nothing."""
        self._authorize_bulk(actor, "preview a bulk change")
        plan, _ = self._plan_bulk(selector, change)
        with self.store.session() as s:
            busy = locks.holders(s, [c.spec.name for c in plan.changes])
        needed = gates(bulk.facts(plan), self.policy)
        return plan.preview().model_copy(update={
            "approvals": [f"{g.approvers}: {'; '.join(g.reasons)}" for g in needed],
            "busy": {name: str(err) for name, err in busy.items()}})

    @audits_refusals("bulk")
    def submit_bulk(self, selector: Selector, change: BulkChange, actor: Actor) -> RequestInfo:
        """One request that pins `change` on every service `selector` matches whose files it changes: one
        PR per repository, approval per policy, and on success the services' recorded specs carry the pin.
        SRE only (NotAllowed); Locked names a selected service another request holds; PermanentError when
        nothing would change. Planning renders outside the transaction; the transaction re-checks that no
        selected service changed meanwhile."""
        self._authorize_bulk(actor, "run a bulk change")
        plan, planned_from = self._plan_bulk(selector, change)
        if not plan.changes:
            raise PermanentError(f"nothing to change: {len(plan.matched)} service(s) match {selector.describe()} "
                                 f"and none of their files would change with {change.describe()}")
        repositories = bulk.repositories(plan, self.ctx)
        moved = {c.spec.name: c for c in plan.changes}
        now = self.clock.now()
        with self.store.session() as s:
            rows = bulk.recorded(s, selector, names=sorted(moved), for_update=True)
            current = {r["name"]: r["spec"] for r in bulk.snapshot(rows)}
            changed = sorted(n for n in moved if current.get(n) != planned_from[n])
            if changed:
                raise PermanentError(f"{', '.join(changed[:5])} changed while the bulk change was planned; "
                                     "run it again")
            needed = gates(bulk.facts(plan), self.policy)
            what = bulk.describe(selector, change)
            teams = sorted({c.spec.team for c in plan.changes})
            req = m.Request(kind=RequestKind.BULK, service=bulk.label(len(plan.changes)),
                            team=selector.team or (teams[0] if len(teams) == 1 else "*"),
                            blueprint=selector.blueprint, environments=plan.environments, requester=actor.id,
                            state=State.PENDING, cursor=0, spec=None, previous_spec=None,
                            params=bulk.params(plan, repositories), description=f"bulk: {what}",
                            created_at=now, updated_at=now)
            s.add(req)
            s.flush()
            locks.acquire_many(s, {n: [e.name for e in c.spec.environments] for n, c in moved.items()}, req.id,
                               actor.id, now)
            records.audit(s, now, actor.id, req.service, "request.submitted", request_id=req.id,
                          to_state=State.PENDING, detail=f"bulk: {what}")
            for name, c in moved.items():
                files = sum(len(paths) for paths in c.files.values())
                records.audit(s, now, actor.id, name, "bulk.submitted", request_id=req.id,
                              detail=f"{what}: {files} file(s) in {', '.join(c.environments)}")
            records.notify(s, now, "request_changed", request_id=req.id)
            self._add_steps(s, req, layout(RequestKind.BULK, plan.changesets, needed), now, actor)
            return records.request_info(s, req)

    # --- acting on requests ---------------------------------------------------------------------
    @audits_refusals("retry")
    def retry(self, request_id: int, actor: Actor) -> RequestInfo:
        now = self.clock.now()
        with self.store.session() as s:
            req = self._request(s, request_id, for_update=True)
            self._authorize_request(s, actor, req, f"retry request #{request_id}")
            if req.state != State.FAILED:
                raise NotAllowed(f"request #{req.id} is {req.state}; only a failed request can be retried")
            if req.denied:
                raise NotAllowed(f"request #{req.id} was denied ({req.error}); submit a new request instead")
            step = transitions.current_step(s, req)
            if step is None or step.state != State.FAILED:
                raise NotAllowed(f"request #{req.id} has no failed step to resume from")
            step.failures = step.reclaims = 0
            step.error = None
            step.result = retried(step.kind, step.result)  # wait_apply: re-run the failed jobs of its run
            step.run_after = now
            step.started_at = None  # timeouts of a polling step (wait_deploy) count from the retry
            transitions.step_state(s, req, step, State.PENDING, now, actor.id, f"retry from step {step.position + 1}")
            req.error = None
            req.finished_at = None
            transitions.request_state(s, req, State.PENDING, now, actor.id, f"retry from step {step.position + 1}")
            return records.request_info(s, req)

    @audits_refusals("cancel")
    def cancel(self, request_id: int, actor: Actor) -> RequestInfo:
        now = self.clock.now()
        with self.store.session() as s:
            req = self._request(s, request_id, for_update=True)
            self._authorize_request(s, actor, req, f"cancel request #{request_id}")
            if req.state in (State.SUCCEEDED, State.CANCELLED):
                raise NotAllowed(f"request #{req.id} is already {req.state}; nothing to cancel")
            transitions.cancel(s, req, now, actor.id, f"cancelled by {actor.mention}")
            return records.request_info(s, req)

    @audits_refusals("approval")
    def decide(self, request_id: int, step_id: int, actor: Actor, approve: bool,
               reason: str | None = None) -> RequestInfo:
        now = self.clock.now()
        with self.store.session() as s:
            req = self._request(s, request_id, for_update=True)
            step = s.get(m.Step, step_id, with_for_update=True)
            if step is None or step.request_id != req.id:
                raise NotFound(f"request #{req.id} has no step {step_id}")
            if step.kind != StepKind.APPROVAL:
                raise NotAllowed(f"step {step.position + 1} of request #{req.id} ({step.title}) is not an approval")
            decided = s.scalar(select(m.Approval).where(m.Approval.step_id == step.id))
            if decided is not None:
                raise _already(decided)
            if req.state in (State.SUCCEEDED, State.FAILED, State.CANCELLED):
                raise NotAllowed(f"request #{req.id} is {req.state}; there is nothing to decide")
            if step.position != req.cursor or step.state != State.WAITING:
                raise NotAllowed(f"step {step.position + 1} of request #{req.id} is not waiting for a decision yet")
            group = step.approver_group or ""
            if not may_decide(actor, group):
                raise NotAllowed(f"only members of {group} may approve or deny this step of request #{req.id}")
            owner = (req.spec or {}).get("owner") if req.kind != RequestKind.DELETE else None
            if actor.id in (req.requester, owner):
                raise NotAllowed(f"you asked for request #{req.id}; a requester never approves their own request — "
                                 f"ask another member of {group}")
            if not approve and not (reason and reason.strip()):
                raise NotAllowed("give a reason when denying; the requester sees it")
            try:
                with s.begin_nested():
                    s.add(m.Approval(request_id=req.id, step_id=step.id, approver_group=group,
                                     decision="approved" if approve else "denied", decided_by=actor.id,
                                     decided_at=now, reason=(reason or "").strip() or None))
                    s.flush()
            except IntegrityError:
                decided = s.scalar(select(m.Approval).where(m.Approval.step_id == step.id))
                raise _already(decided) from None
            who = actor.mention
            if approve:
                records.audit(s, now, actor.id, req.service, "approval.approved", request_id=req.id, step_id=step.id,
                              detail=reason or "")
                transitions.step_state(s, req, step, State.SUCCEEDED, now, actor.id, f"approved by {who}")
                records.notify(s, now, "step_progress", request_id=req.id, step_id=step.id, text=f"Approved by {who}")
                transitions.request_state(s, req, State.RUNNING, now, actor.id)
                transitions.advance(s, req, now, actor.id, self.ctx)
            else:
                records.audit(s, now, actor.id, req.service, "approval.denied", request_id=req.id, step_id=step.id,
                              detail=reason or "")
                req.denied = True
                transitions.fail(s, req, step, f"denied by {who}: {(reason or '').strip()}", now, actor.id)
                locks.release(s, req.id)
                req.cleanup_pending = True
            return records.request_info(s, req)

    def set_thread(self, request_id: int, channel: str, ts: str) -> None:
        with self.store.session() as s:
            req = self._request(s, request_id)
            req.slack_channel, req.slack_ts = channel, ts

    # --- reading --------------------------------------------------------------------------------
    def get_request(self, request_id: int) -> RequestInfo:
        with self.store.session() as s:
            return records.request_info(s, self._request(s, request_id))

    def list_requests(self, *, requester: str | None = None, service: str | None = None, open_only: bool = False,
                      limit: int = 50) -> list[RequestInfo]:
        with self.store.session() as s:
            q = select(m.Request).order_by(m.Request.id.desc()).limit(limit)
            if requester:
                q = q.where(m.Request.requester == requester)
            if service:
                q = q.where(m.Request.service == service)
            if open_only:  # a failed request is open (it can be retried); a denied one is over
                q = q.where(m.Request.state.in_([State.PENDING, State.RUNNING, State.WAITING, State.FAILED]),
                            m.Request.denied.is_not(True))
            return [records.request_info(s, r) for r in s.scalars(q)]

    def get_service(self, name: str) -> ServiceInfo:
        with self.store.session() as s:
            return records.service_info(s, self._active_service(s, name))

    def list_services(self, *, owner: str | None = None, team: str | None = None) -> list[ServiceInfo]:
        with self.store.session() as s:
            q = select(m.Service).where(m.Service.active.is_(True)).order_by(m.Service.name)
            if owner:
                q = q.where(m.Service.owner == owner)
            if team:
                q = q.where(m.Service.team == team)
            return [records.service_info(s, svc) for svc in s.scalars(q)]

    def pending_approvals(self) -> list[ApprovalInfo]:
        with self.store.session() as s:
            rows = s.execute(
                select(m.Step, m.Request).join(m.Request, m.Request.id == m.Step.request_id)
                .where(m.Step.kind == StepKind.APPROVAL, m.Step.state == State.WAITING,
                       m.Step.position == m.Request.cursor, m.Request.state == State.WAITING)
                .order_by(m.Request.id)
            ).all()
            out = []
            for step, req in rows:
                info = records.request_info(s, req)
                step_info = next(st for st in info.steps if st.id == step.id)
                out.append(ApprovalInfo(request=info, step=step_info, reasons=list(step.reasons),
                                        plan=records.plan_before(s, req.id, step.position)))
            return out

    def audit(self, service: str) -> list[AuditEvent]:
        with self.store.session() as s:
            rows = s.scalars(select(m.AuditEvent).where(m.AuditEvent.service == service).order_by(m.AuditEvent.id))
            events = [records.audit_info(r) for r in rows]
            if not events and self._service_row(s, service) is None:
                raise NotFound(f"no service named {service!r} has any history; see `launchpad list`")
            return events

    # --- worker side ----------------------------------------------------------------------------
    def run_pending(self, worker_id: str, max_steps: int = 100, kinds: Collection[str] | None = None) -> int:
        """One worker pass: deliver notifications, close abandoned PRs, run up to `max_steps` steps."""
        return self.engine.run_pending(worker_id, self.notifier, max_steps, kinds)

    def deliver_notifications(self, worker_id: str) -> int:
        return self.engine.deliver(worker_id, self.notifier)

    def expire_environments(self) -> list[RequestInfo]:
        """Remind owners before expiry; at expiry, open the decommission request (once)."""
        self.engine.remind_owners()
        opened = []
        for service, env in self.engine.expired_environments():
            try:
                opened.append(self.submit_delete(service, [env], SYSTEM, _expired=True))
            except Locked as exc:
                log.info("decommission of %s/%s waits: %s", service, env, exc)
            except LaunchPadError as exc:
                log.warning("cannot decommission %s/%s: %s", service, env, exc)
        return opened

    def remind_approvers(self) -> int:
        return self.engine.remind_approvers()

    # --- internals ------------------------------------------------------------------------------
    def record_refusal(self, actor: Actor, what: str, reason: str, *, request_id: int | None = None,
                       service: str | None = None) -> None:
        """An audit event for a refusal (`<what>.refused`), in a transaction of its own: the refused one rolls
        back. Surfaces call it for refusals they decide before calling in (an approval click by a non-member)."""
        if actor.id == SYSTEM.id:
            return
        try:
            with self.store.session() as s:
                if service is None and request_id is not None:
                    req = s.get(m.Request, request_id)
                    service = req.service if req is not None else None
                name = service or ("bulk" if what == "bulk" else "?")
                records.audit(s, self.clock.now(), actor.id, str(name)[:63], f"{what}.refused", request_id=request_id,
                              detail=" ".join(reason.split())[:2000])
        except Exception:  # the refusal itself must still reach the user
            log.warning("could not record the refusal of %s by %s", what, actor.id, exc_info=True)

    def _record_refusal(self, what: str, arguments: dict[str, Any], exc: Exception) -> None:
        actor = arguments.get("actor")
        if not isinstance(actor, Actor):
            return
        request_id = arguments.get("request_id")
        spec_data = arguments.get("spec_data")
        service = arguments.get("service") or (spec_data.get("name") if isinstance(spec_data, dict) else None)
        kind = "not allowed" if isinstance(exc, NotAllowed) else "locked" if isinstance(exc, Locked) else "invalid"
        detail = exc.one_line() if isinstance(exc, InvalidSpecError) else str(exc)
        self.record_refusal(actor, what, f"{kind}: {detail}", request_id=request_id if isinstance(request_id, int)
                            else None, service=str(service) if service else None)

    def _recent_snapshot(self) -> _Snapshot:
        """The precheck's snapshot, read again only when the last read is older than `CLAIMS_FRESH_SECONDS`."""
        now = time.monotonic()
        with self._snapshot_lock:
            if self._snapshot is not None and now - self._snapshot.read_at < CLAIMS_FRESH_SECONDS:
                return self._snapshot
        with self.store.read_session() as s:
            known = set(s.scalars(select(m.Service.name)).all()) | set(s.scalars(select(m.Lock.service)).all())
            snapshot = _Snapshot(read_at=now, registry=names.registered(s, self.ctx), known=frozenset(known))
        with self._snapshot_lock:
            self._snapshot = snapshot
        return snapshot

    def _forget_snapshot(self) -> None:
        """After this process created a request: its own prechecks must see that name at once."""
        with self._snapshot_lock:
            self._snapshot = None

    def _authorize(self, actor: Actor, team: str, svc: m.Service | None, what: str, *,
                   requester: str | None = None, creating: bool = False) -> None:
        if actor.is_sre or team in actor.teams or actor.id == requester:
            return
        if svc is not None and svc.active:
            if actor.id in (svc.owner, svc.created_by):
                return
            raise NotAllowed(f"only members of team {team}, the owner of {svc.name} ({svc.owner}), or SRE may "
                             f"{what}")
        platform_team = self.ctx.platform.teams.get(team)
        if creating and platform_team is not None and not platform_team.slack_group:
            return  # the platform does not track this team's members: whoever creates the service owns it
        who = "the requester, " if requester else ""
        raise NotAllowed(f"only {who}members of team {team} or SRE may {what}")

    def _authorize_request(self, s: Session, actor: Actor, req: m.Request, what: str) -> None:
        if req.kind == RequestKind.BULK:
            self._authorize_bulk(actor, what)
            return
        self._authorize(actor, req.team, self._service_row(s, req.service), what, requester=req.requester)

    def _authorize_bulk(self, actor: Actor, what: str) -> None:
        if not actor.is_sre:
            raise NotAllowed(f"only SRE may {what}: a bulk change moves many teams' services at once; ask the SRE "
                             "group (or change your own service with a request)")

    def _pinned(self, spec: ServiceSpec, spec_data: dict[str, Any], previous: ServiceSpec | None,
                actor: Actor) -> ServiceSpec:
        """Pins are SRE-owned: a request that leaves them out keeps the recorded ones (the Slack modal never
        shows them), and only SRE may set or change them."""
        kept = previous.pins.only([e.name for e in spec.environments]) if previous is not None else Pins()
        if "pins" not in spec_data:
            return spec if spec.pins == kept else spec.model_copy(update={"pins": kept})
        if spec.pins != kept and not actor.is_sre:
            raise NotAllowed(f"the pins of {spec.name} (module versions, chart revision, sidecar images) are set by "
                             "SRE with `launchpad bulk`; remove `pins` from the spec and submit again")
        return spec

    def _plan_bulk(self, selector: Selector, change: BulkChange) -> tuple[BulkPlan, dict[str, Any]]:
        """Plan over a snapshot of the registry, rendering outside any transaction; also returns the specs
        it planned from (service -> recorded spec), so the submission can check nothing moved meanwhile."""
        with self.store.session() as s:
            rows = bulk.snapshot(bulk.recorded(s, selector))
        if selector.services:
            missing = sorted(set(selector.services) - {r["name"] for r in rows})
            if missing:
                raise NotFound(f"no active service named {', '.join(missing)}"
                               + (f" in team {selector.team}" if selector.team else "")
                               + "; `launchpad list` shows services")
        return bulk.plan(rows, selector, change, self.ctx), {r["name"]: r["spec"] for r in rows}

    def _render(self, fn: Any) -> Any:
        try:
            return fn()
        except LaunchPadError:
            raise
        except (ValueError, KeyError) as exc:
            raise PermanentError(f"the templates could not render this request: {exc}") from None

    def _new_request(self, s: Session, kind: RequestKind, spec: ServiceSpec, envs: list[str], actor: Actor,
                     now: Any, previous: ServiceSpec | None = None) -> m.Request:
        req = m.Request(kind=kind, service=spec.name, team=spec.team, blueprint=spec.blueprint, environments=envs,
                        requester=actor.id, state=State.PENDING, cursor=0, spec=spec.model_dump(mode="json"),
                        previous_spec=previous.model_dump(mode="json") if previous else None, params={},
                        description=spec.description, created_at=now, updated_at=now)
        s.add(req)
        s.flush()
        records.audit(s, now, actor.id, spec.name, "request.submitted", request_id=req.id, to_state=State.PENDING,
                      detail=f"{kind.value} {', '.join(envs)}")
        records.notify(s, now, "request_changed", request_id=req.id)
        return req

    def _add_steps(self, s: Session, req: m.Request, plans: list[StepPlan], now: Any, actor: Actor, *,
                   activate: bool = True) -> None:
        for position, plan in enumerate(plans):
            s.add(m.Step(request_id=req.id, position=position, kind=plan.kind, title=plan.title, state=State.PENDING,
                         repo=plan.repo, repo_index=plan.repo_index,
                         forge_key=forge_key(req.id, plan.repo, plan.repo_index) if plan.repo else None,
                         approver_group=plan.approver_group, reasons=plan.reasons, run_after=now, created_at=now,
                         updated_at=now, attempts=0, failures=0, reclaims=0))
        s.flush()
        if activate:
            transitions.activate(s, req, now, actor.id)

    def _request(self, s: Session, request_id: int, *, for_update: bool = False) -> m.Request:
        req = s.get(m.Request, request_id, with_for_update=for_update)
        if req is None:
            raise NotFound(f"no request #{request_id}; `launchpad list` shows recent requests")
        return req

    def _service_row(self, s: Session, name: str) -> m.Service | None:
        return s.scalar(select(m.Service).where(m.Service.name == name))

    def _active_service(self, s: Session, name: str, *, for_update: bool = False) -> m.Service:
        q = select(m.Service).where(m.Service.name == name, m.Service.active.is_(True))
        svc = s.scalar(q.with_for_update() if for_update else q)
        if svc is None:
            raise NotFound(f"no service named {name!r}; `launchpad list` shows services and requests")
        return svc

    def _env_names(self, s: Session, svc: m.Service | None) -> list[str]:
        if svc is None:
            return []
        return list(s.scalars(select(m.Environment.name).where(m.Environment.service_id == svc.id)
                              .order_by(m.Environment.id)))


def _basis(svc: m.Service | None, environments: list[str]) -> tuple[Any, ...] | None:
    """What a create/change was checked and rendered from: equal before and under the row lock, or plan again."""
    if svc is None:
        return None
    return (svc.id, svc.active, svc.team, svc.owner, svc.created_by, svc.spec, svc.bindings, environments)


def _stored_spec(svc: m.Service | None, ctx: RenderContext) -> ServiceSpec | None:
    if svc is None or not svc.spec:
        return None
    try:
        return load_spec(svc.spec, ctx)
    except InvalidSpecError as exc:
        raise PermanentError(f"the recorded spec of {svc.name} no longer validates against the platform "
                             f"settings ({exc}); ask SRE") from None


def _refuse_unchanged(s: Session, spec: ServiceSpec, previous: ServiceSpec | None, svc: m.Service | None) -> None:
    """A change request that asks for exactly what the service has ends here: no request, no approval to wait
    for, no pull request (and so no write on any forge). Unless the service's last request did not finish:
    a cancelled or failed change may have merged part of itself, and submitting the recorded spec converges."""
    if previous is None or svc is None:
        return
    last = s.scalar(select(m.Request.state).where(
        m.Request.service == svc.name, m.Request.kind.in_([RequestKind.CREATE, RequestKind.CHANGE]))
        .order_by(m.Request.id.desc()).limit(1))
    if last is not None and last != State.SUCCEEDED:
        return
    if spec.model_copy(update={"owner": spec.owner or svc.owner}) == previous:
        raise NothingToChange(f"nothing to change: {spec.name} already has exactly this spec; change a field and "
                              "submit again (`launchpad audit " + spec.name + "` shows its history)")


def _already(decided: m.Approval | None) -> NotAllowed:
    if decided is None:
        return NotAllowed("this step was decided just now; refresh")
    who = f"<@{decided.decided_by}>" if decided.decided_by.startswith(("U", "W")) else decided.decided_by
    return NotAllowed(f"already {decided.decision} by {who} at {decided.decided_at:%Y-%m-%d %H:%M} UTC")
