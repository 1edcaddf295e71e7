"""Bulk requests in the workflow: find the recorded services a selector names, plan the change, lock the
services it moves, and on success record the new pins on each of them.

A bulk request stores only the selector, the change, the names of the services it moves and the
repositories it writes (`Request.params`). Each open_pr step plans again from those services' recorded
specs and bindings, which the request's locks keep unchanged until it finishes, so a rerun delivers the
same content under the same forge key. The functions here run inside the caller's transaction (or, for
planning, outside any); they never call a forge or Slack.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.store import models as m
from bot.workflow import records
from bot.workflow.api import RequestKind
from bot.workflow.changes import load_spec, repository_for
from bot.workflow.policy import RequestFacts
from provisioners.bindings import Bindings
from provisioners.bulk import BulkChange, BulkPlan, BulkTarget, Selector, base_key, plan_bulk
from provisioners.changeset import ChangeSet
from provisioners.errors import InvalidSpecError, PermanentError
from provisioners.plan import RenderContext
from provisioners.spec import ServiceSpec


# --- reading the registry ---------------------------------------------------------------------------
def recorded(s: Session, selector: Selector, *, names: list[str] | None = None,
             for_update: bool = False) -> list[m.Service]:
    """Active services with a recorded spec that the selector's team, blueprint and names allow
    (environments are checked on the spec); `names` narrows to exactly these services. `for_update`
    locks the rows (in name order) until the transaction ends, so no request can record a new spec
    for one of them meanwhile."""
    q = select(m.Service).where(m.Service.active.is_(True), m.Service.spec.is_not(None)).order_by(m.Service.name)
    if selector.team:
        q = q.where(m.Service.team == selector.team)
    if selector.blueprint:
        q = q.where(m.Service.blueprint == selector.blueprint)
    wanted = names if names is not None else (selector.services or None)
    if wanted is not None:
        q = q.where(m.Service.name.in_(wanted))
    return list(s.scalars(q.with_for_update() if for_update else q))


def snapshot(rows: list[m.Service]) -> list[dict[str, Any]]:
    """What planning needs from each row, copied out of the session: name, spec and bindings."""
    return [{"name": r.name, "spec": dict(r.spec or {}), "bindings": r.bindings} for r in rows]


def targets(rows: list[dict[str, Any]], ctx: RenderContext) -> list[BulkTarget]:
    out = []
    for row in rows:
        try:
            spec = load_spec(row["spec"], ctx)
        except InvalidSpecError as exc:
            raise PermanentError(f"the recorded spec of {row['name']} no longer validates against the platform "
                                 f"settings ({exc}); fix it with a change request, or leave it out of the bulk "
                                 "change (narrow the selector)") from None
        bindings = Bindings.model_validate(row["bindings"]) if row.get("bindings") else None
        out.append(BulkTarget(spec=spec, bindings=bindings))
    return out


def plan(rows: list[dict[str, Any]], selector: Selector, change: BulkChange, ctx: RenderContext, *,
         repos: list[str] | None = None) -> BulkPlan:
    """Pure planning over a snapshot; template errors become PermanentError (the user's next step)."""
    try:
        return plan_bulk(targets(rows, ctx), selector, change, ctx, repos=repos)
    except PermanentError:
        raise
    except (ValueError, KeyError) as exc:
        raise PermanentError(f"the templates could not render this bulk change: {exc}") from None


# --- what the request records ---------------------------------------------------------------------------
def repositories(plan: BulkPlan, ctx: RenderContext) -> dict[str, list[str]]:
    """Change set key -> [forge repository name, base branch]; one repository per key (a shared repository's
    key, or `<key>/<service>` for each service's own repository, e.g. its CI workflow's)."""
    out: dict[str, list[str]] = {}
    for cs in plan.changesets:
        found = {repository_for(ctx.platform, base_key(cs.repo), c.spec) for c in plan.changes if cs.repo in c.files}
        if len(found) != 1:
            raise PermanentError(f"the {cs.repo} change sets of this bulk change go to {len(found)} repositories; "
                                 "give each service a repository of its own (platform.repositories name with "
                                 "{service}) or narrow the selector")
        name, base = found.pop()
        out[cs.repo] = [name, base]
    return out


def params(plan: BulkPlan, repos: dict[str, list[str]]) -> dict[str, Any]:
    return {"selector": plan.selector.model_dump(mode="json"), "change": plan.change.model_dump(mode="json"),
            "services": [c.spec.name for c in plan.changes], "repositories": repos}


def facts(plan: BulkPlan) -> RequestFacts:
    return RequestFacts(kind=RequestKind.BULK, environments=plan.environments)


def label(count: int) -> str:
    """The request's `service` column: what the thread title shows ('#12 Bulk change 30 services (prod)')."""
    return f"{count} service{'' if count == 1 else 's'}"


def describe(selector: Selector, change: BulkChange) -> str:
    where = f" in {selector.environment}" if selector.environment else ""
    return f"{change.describe()}{where} for {selector.describe()}"


# --- the worker side ------------------------------------------------------------------------------------
def step_changeset(request_params: dict[str, Any], rows: list[dict[str, Any]], repo: str,
                   ctx: RenderContext) -> ChangeSet | None:
    """The change set an open_pr step of a bulk request delivers (planned again, for its repository only)."""
    selector = Selector.model_validate(request_params["selector"])
    change = BulkChange.model_validate(request_params["change"])
    found = plan(rows, selector, change, ctx, repos=[repo])
    return next((cs for cs in found.changesets if cs.repo == repo), None)


def repository(request_params: dict[str, Any], repo: str) -> tuple[str, str]:
    """Forge repository name and base branch of a bulk request's repository key."""
    entry = (request_params.get("repositories") or {}).get(repo)
    if not entry:
        raise PermanentError(f"this bulk request recorded no repository for {repo!r}; cancel it and submit again")
    return str(entry[0]), str(entry[1])


def step_rows(s: Session, req: m.Request) -> list[dict[str, Any]]:
    """The services of a bulk request as recorded now (its locks keep them as they were at submission)."""
    request_params = dict(req.params or {})
    names = list(request_params.get("services") or [])
    return snapshot(recorded(s, Selector(), names=names))


def record(s: Session, req: m.Request, now: datetime, ctx: RenderContext) -> None:
    """The request succeeded: each service's recorded spec gets the new pins (a revision and an audit row)."""
    request_params = dict(req.params or {})
    selector = Selector.model_validate(request_params["selector"])
    change = BulkChange.model_validate(request_params["change"])
    what = describe(selector, change)
    for svc in recorded(s, Selector(), names=list(request_params.get("services") or [])):
        try:
            spec: ServiceSpec = load_spec(dict(svc.spec or {}), ctx)
        except InvalidSpecError as exc:  # the platform changed under the request: say so, keep the old record
            records.audit(s, now, req.requester, svc.name, "service.not_recorded", request_id=req.id,
                          detail=f"bulk: {what}; the recorded spec no longer validates ({exc})")
            continue
        spec_data = change.apply(spec, selector.environment).model_dump(mode="json")
        svc.spec = spec_data
        svc.updated_at = now
        s.add(m.ServiceRevision(service_id=svc.id, request_id=req.id, kind=req.kind, spec=spec_data,
                                actor=req.requester, created_at=now))
        records.audit(s, now, req.requester, svc.name, "service.changed", request_id=req.id, detail=f"bulk: {what}")
