"""The store side of following deployments and promotions: recording what each poll saw, and reading
back which image runs where and what a request followed.

Every function runs inside the caller's transaction (the engine's, under the step's lease; the
service's, when a promotion is submitted). Rows are plain observations: nothing here asks Argo CD.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.store import models as m
from bot.workflow.api import EnvironmentImage, PromotionInfo, State
from bot.workflow.deploy import DONE_PHASES, EnvReport, Merged
from bot.workflow.steps import StepKind


def record(s: Session, req: m.Request, reports: tuple[EnvReport, ...], now: datetime) -> bool:
    """Upsert one row per reported environment; True when a phase or detail changed (worth a thread line)."""
    rows = {r.environment: r for r in s.scalars(select(m.Deployment).where(m.Deployment.request_id == req.id))}
    changed = False
    for report in reports:
        row = rows.get(report.environment)
        if row is None:
            s.add(m.Deployment(request_id=req.id, service=req.service, environment=report.environment,
                               application=report.application, phase=report.phase, detail=report.detail[:4000],
                               image=report.image, revision=report.revision, link=report.link or None,
                               started_at=now, updated_at=now))
            changed = True
            continue
        if (row.phase, row.detail) != (report.phase, report.detail[:4000]):
            row.phase, row.detail, row.updated_at = report.phase, report.detail[:4000], now
            changed = True
        row.image = report.image or row.image
        row.revision = report.revision or row.revision
        row.link = report.link or row.link
    return changed


def followed(s: Session, request_id: int) -> dict[str, tuple[str, str]]:
    """environment -> (phase, detail) as the request's last poll left them."""
    rows = s.scalars(select(m.Deployment).where(m.Deployment.request_id == request_id))
    return {r.environment: (r.phase, r.detail) for r in rows}


def merged(s: Session, request_id: int) -> list[Merged]:
    """The pull requests this request merged, in step order (wait_deploy's targets)."""
    steps = s.scalars(select(m.Step).where(m.Step.request_id == request_id, m.Step.kind == StepKind.WAIT_MERGE,
                                           m.Step.state == State.SUCCEEDED).order_by(m.Step.position))
    return [Merged(repo=st.repo or "", sha=st.merge_sha, at=st.finished_at) for st in steps]


def images(s: Session, service: str) -> list[EnvironmentImage]:
    """Which image runs where, as LaunchPad last saw it: per environment, the newest followed deployment
    that reached a done phase with an image (requests that followed nothing are skipped)."""
    newest = (select(m.Deployment.environment, func.max(m.Deployment.id).label("id"))
              .where(m.Deployment.service == service, m.Deployment.image.is_not(None),
                     m.Deployment.phase.in_([p for p in DONE_PHASES if p not in ("skipped", "pruned")]))
              .group_by(m.Deployment.environment).subquery())
    rows = s.scalars(select(m.Deployment).join(newest, newest.c.id == m.Deployment.id)
                     .order_by(m.Deployment.environment))
    return [EnvironmentImage(environment=r.environment, image=r.image or "", revision=r.revision,
                             state=r.phase, seen_at=r.updated_at, request_id=r.request_id) for r in rows]


def add_promotion(s: Session, req: m.Request, candidate: dict[str, Any], actor: str, now: datetime) -> None:
    s.add(m.Promotion(request_id=req.id, service=req.service, source_environment=candidate["source"],
                      target_environment=candidate["target"], image=candidate["image"],
                      digest=candidate.get("digest"), source_revision=candidate.get("revision"),
                      verified=candidate.get("verified", ""), requested_by=actor, created_at=now))


def promotions(s: Session, service: str, limit: int = 20) -> list[PromotionInfo]:
    rows = s.execute(select(m.Promotion, m.Request.state).join(m.Request, m.Request.id == m.Promotion.request_id)
                     .where(m.Promotion.service == service).order_by(m.Promotion.id.desc()).limit(limit)).all()
    return [PromotionInfo(request_id=p.request_id, service=p.service, source=p.source_environment,
                          target=p.target_environment, image=p.image, digest=p.digest, verified=p.verified,
                          requested_by=p.requested_by, created_at=p.created_at, state=State(state))
            for p, state in rows]
