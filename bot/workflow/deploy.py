"""Following a request past its merges: Argo CD until every environment is Synced and Healthy at the
merged revision (then an HTTPS probe of web services' domains), and on delete until the Applications
are gone and their resources pruned.

`Follower.wait_deploy` / `wait_prune` poll once per call and return a `Followed` (done, or poll again
at `until`, with one `EnvReport` per environment); the engine records the reports (`deployments`)
and tells the thread when one changes. Reading Argo CD's answer is pure (`assess`): sync and health
are separate (`status.sync`, `status.health`, `status.operationState`), a deploy is done when both
hold at the merged revision, and the reason for Degraded comes from the resource tree, never the
Application. Argo CD and the probe are reached only through the `DeployStatus` and `Prober`
protocols (implementations in `bot.argocd`, chosen by `bot.services`); without Argo CD settings each
environment is reported as "skipped: Argo CD not configured", never guessed.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from bot.argocd.probe import ProbeResult
from provisioners import argocd
from provisioners.errors import PermanentError
from provisioners.plan import RenderContext
from provisioners.spec import ServiceSpec

log = logging.getLogger(__name__)

NOT_CONFIGURED = "skipped: Argo CD not configured"
# Phases an environment can be in; the first group ends a follow.
DONE_PHASES = ("healthy", "live", "probe-skipped", "skipped", "pruned")
SIDECARS = ("nginx", "filebeat")
VALUES_SOURCE = 1  # generated Applications: sources[0] is the chart, sources[1] the values repository (`ref`)


class DeployStatus(Protocol):
    """Argo CD as the workflow needs it (read-only); `bot.argocd.client.ArgoCdRouter` implements it."""

    def configured(self, env: str) -> bool: ...

    def application(self, env: str, app: str, project: str) -> dict[str, Any] | None: ...

    def resource_tree(self, env: str, app: str, project: str) -> dict[str, Any]: ...

    def link(self, env: str, app: str) -> str: ...

    def revision_date(self, env: str, app: str, project: str, revision: str, source: int) -> datetime | None: ...


class Prober(Protocol):
    def probe(self, url: str) -> ProbeResult: ...


class NoArgoCd:
    """The embedded default: nothing to ask, so every follow says it was skipped."""

    def configured(self, env: str) -> bool:
        return False

    def application(self, env: str, app: str, project: str) -> dict[str, Any] | None:
        raise PermanentError(NOT_CONFIGURED)

    def resource_tree(self, env: str, app: str, project: str) -> dict[str, Any]:
        raise PermanentError(NOT_CONFIGURED)

    def link(self, env: str, app: str) -> str:
        return ""

    def revision_date(self, env: str, app: str, project: str, revision: str, source: int) -> datetime | None:
        return None


@dataclass(frozen=True)
class DeployConfig:
    """Settings: deploy_timeout_seconds, prune_timeout_seconds, deploy_poll_seconds, deploy_poll_max_seconds,
    deploy_probe, deploy_probe_path."""

    timeout: timedelta = timedelta(minutes=15)
    prune_timeout: timedelta = timedelta(minutes=15)
    poll: float = 10.0
    poll_max: float = 60.0
    probe: bool = True
    probe_path: str = ""  # "" = the service's health check path

    def interval(self, attempts: int) -> float:
        """Polling with backoff: `poll`, doubling per poll, at most `poll_max`."""
        return float(min(self.poll_max, self.poll * 2 ** min(max(attempts - 1, 0), 16)))


@dataclass(frozen=True)
class EnvReport:
    """One environment at one poll: what the thread shows and the store records."""

    environment: str
    application: str
    phase: str
    detail: str
    image: str | None = None
    revision: str | None = None
    link: str = ""

    @property
    def done(self) -> bool:
        return self.phase in DONE_PHASES

    def line(self) -> str:
        return f"{self.environment}: {self.detail}"


@dataclass(frozen=True)
class Followed:
    done: bool
    detail: str
    until: datetime | None = None
    reports: tuple[EnvReport, ...] = ()


@dataclass(frozen=True)
class Merged:
    """A pull request this request merged: its repository key, merge commit and when the merge was seen."""

    repo: str
    sha: str | None
    at: datetime | None


@dataclass(frozen=True)
class Assessment:
    phase: str  # waiting | progressing | healthy | degraded
    detail: str
    revision: str | None = None
    images: tuple[str, ...] = ()
    needs_tree: bool = False


# --- reading Argo CD's answer (pure) -------------------------------------------------------------------
def assess(app: dict[str, Any], tree: dict[str, Any] | None, *, expected: str | None,
           merged_at: datetime | None = None, descendant: bool = False) -> Assessment:
    """Where one Application stands relative to the merged revision `expected` (the values repository's
    merge commit; None when the request merged nothing there). `descendant`: the values revision Argo CD
    compared is a later commit of the branch, so it contains ours. With no `expected` but a merge at
    `merged_at` (a gitops-only change), a comparison since the merge counts. `needs_tree` asks for the
    resource tree (pods, reasons) when it was not given and would say more."""
    status = app.get("status") or {}
    sync = status.get("sync") or {}
    sync_status = str(sync.get("status") or "Unknown")
    revisions = [str(r) for r in [sync.get("revision"), *(sync.get("revisions") or [])] if r]
    health = status.get("health") or {}
    health_status = str(health.get("status") or "Unknown")
    operation = status.get("operationState") or {}
    op_phase = str(operation.get("phase") or "")
    images = tuple(str(i) for i in ((status.get("summary") or {}).get("images") or []))
    reconciled = _time(status.get("reconciledAt"))
    if expected is not None:
        at_revision = expected in revisions or descendant
    else:
        at_revision = merged_at is None or (reconciled is not None and reconciled >= merged_at)
    shown = _short(expected if expected and expected in revisions else values_revision(app))
    conditions = "; ".join(f"{c.get('type')}: {c.get('message')}" for c in status.get("conditions") or []
                           if str(c.get("type", "")).endswith("Error"))
    if op_phase in ("Failed", "Error") and (at_revision or _op_revision_is(operation, expected)):
        failed = [f"{r.get('kind')} {r.get('name')}: {r.get('message')}"
                  for r in ((operation.get("syncResult") or {}).get("resources") or [])
                  if r.get("status") in ("SyncFailed", "PruneSkipped") or r.get("hookPhase") in ("Failed", "Error")]
        reason = "; ".join(failed[:3]) or str(operation.get("message") or "no message")
        return Assessment("degraded", f"sync {op_phase.lower()} at {shown}: {reason}", shown, images)
    if not at_revision:
        detail = f"waiting for Argo CD to sync {_short(expected) or 'the merge'} (now {sync_status} at {shown})"
        if op_phase == "Running":
            detail = f"syncing (now {sync_status} at {shown})"
        return Assessment("waiting", detail + (f"; {conditions}" if conditions else ""), shown, images)
    if op_phase in ("Running", "Terminating"):
        return _with_tree("progressing", f"syncing {shown}", tree, shown, images)
    if sync_status != "Synced":
        detail = f"{sync_status} at {shown}, no sync started yet"
        return Assessment("waiting", detail + (f"; {conditions}" if conditions else ""), shown, images)
    if health_status == "Healthy":
        return Assessment("healthy", f"Healthy at {shown}", shown, images)
    if health_status == "Degraded":
        if tree is None:
            return Assessment("degraded", "Degraded", shown, images, needs_tree=True)
        return Assessment("degraded", f"Degraded at {shown}: {degraded_reason(tree) or 'no resource says why'}",
                          shown, images)
    return _with_tree("progressing", health_status, tree, shown, images)


def values_revision(app: dict[str, Any]) -> str | None:
    """The revision Argo CD compared for the values repository: the last source of a generated
    Application (chart first, values `ref` second), or the single-source revision."""
    sync = (app.get("status") or {}).get("sync") or {}
    revisions = [str(r) for r in sync.get("revisions") or [] if r]
    return revisions[-1] if revisions else (str(sync["revision"]) if sync.get("revision") else None)


def degraded_reason(tree: dict[str, Any]) -> str:
    """The first unhealthy resource and its message, pods and bindings first (they carry the cause)."""
    bad = [n for n in tree.get("nodes") or [] if (n.get("health") or {}).get("status") in ("Degraded", "Missing")]
    order = {"Pod": 0, "TargetGroupBinding": 1, "SecurityGroupPolicy": 2, "ReplicaSet": 4, "Deployment": 5}
    bad.sort(key=lambda n: order.get(str(n.get("kind")), 3))
    return "; ".join(_node_reason(n) for n in bad[:2])


def pods(tree: dict[str, Any]) -> tuple[int, int, str]:
    """(ready, total, the worst pod's reason) over the tree's Pod nodes."""
    found = [n for n in tree.get("nodes") or [] if n.get("kind") == "Pod"]
    ready = sum(1 for n in found if (n.get("health") or {}).get("status") == "Healthy")
    worst = next((_node_reason(n) for n in found if (n.get("health") or {}).get("status") == "Degraded"), "")
    return ready, len(found), worst


def service_image(images: Sequence[str], repositories: Sequence[str]) -> str | None:
    """The app container's image among an Application's images (sidecars left out)."""
    for image in images:
        if any(image == r or image.startswith((f"{r}:", f"{r}@")) for r in repositories):
            return image
    rest = [i for i in images if not any(s in i.rsplit("/", 1)[-1] for s in SIDECARS)]
    return rest[0] if len(rest) == 1 else None


# --- following (one poll per call) -----------------------------------------------------------------------
@dataclass
class Follower:
    status: DeployStatus = field(default_factory=NoArgoCd)
    prober: Prober | None = None
    config: DeployConfig = field(default_factory=DeployConfig)
    _dates: dict[tuple[str, str, str], datetime] = field(default_factory=dict, repr=False)

    def wait_deploy(self, spec: ServiceSpec, ctx: RenderContext, environments: Sequence[str], *,
                    merged: Sequence[Merged], followed: dict[str, tuple[str, str]], since: datetime, now: datetime,
                    attempts: int, image_repositories: Sequence[str] = ()) -> Followed:
        expected = next((m.sha for m in reversed(merged) if m.repo == "values" and m.sha), None)
        # what an Application reads: the values and gitops repositories (an infra-only change has no constraint)
        merged_at = max((m.at for m in merged if m.at is not None and m.sha and m.repo in ("values", "gitops")),
                        default=None)
        reports = []
        for env in environments:
            app = argocd.application_name(spec.team, spec.name, env)
            if not self.status.configured(env):
                reports.append(EnvReport(env, app, "skipped", NOT_CONFIGURED))
            elif env in followed and followed[env][0] in DONE_PHASES and followed[env][0] != "skipped":
                reports.append(EnvReport(env, app, *followed[env]))  # done at an earlier poll: not asked again
            else:
                reports.append(self._deploy(spec, ctx, env, app, expected, merged_at, image_repositories))
        detail = " · ".join(r.line() for r in reports)
        if all(r.phase == "skipped" for r in reports):
            return Followed(True, f"{NOT_CONFIGURED} (set LAUNCHPAD_ARGOCD__<ENV>__URL and __TOKEN to follow "
                                  "deployments; docs/argocd.md)", reports=tuple(reports))
        failed = [r for r in reports if r.phase == "degraded"]
        if failed:
            raise PermanentError(_failure(failed, "fix it, then retry the request"))
        if all(r.done for r in reports):
            return Followed(True, detail, reports=tuple(reports))
        if now - since > self.config.timeout:
            waiting = [r for r in reports if not r.done]
            raise PermanentError(f"not live after {_minutes(self.config.timeout)}: "
                                 + _failure(waiting, "check the Application in Argo CD, then retry the request"))
        return Followed(False, detail, now + timedelta(seconds=self.config.interval(attempts)), tuple(reports))

    def wait_prune(self, spec: ServiceSpec, ctx: RenderContext, environments: Sequence[str], *, since: datetime,
                   now: datetime, attempts: int) -> Followed:
        reports = []
        for env in environments:
            app = argocd.application_name(spec.team, spec.name, env)
            if not self.status.configured(env):
                reports.append(EnvReport(env, app, "skipped", NOT_CONFIGURED))
                continue
            reports.append(self._prune(env, app, spec.team))
        if all(r.phase == "skipped" for r in reports):
            return Followed(True, f"{NOT_CONFIGURED}: the workload may still run; LaunchPad cannot confirm it is "
                                  "gone before the infrastructure goes (docs/argocd.md)", reports=tuple(reports))
        detail = " · ".join(r.line() for r in reports)
        if all(r.done for r in reports):
            return Followed(True, detail, reports=tuple(reports))
        if now - since > self.config.prune_timeout:
            raise PermanentError(f"not pruned after {_minutes(self.config.prune_timeout)}, so no infrastructure is "
                                 "destroyed yet: " + _failure([r for r in reports if not r.done],
                                                              "check the Application in Argo CD, then retry"))
        return Followed(False, detail, now + timedelta(seconds=self.config.interval(attempts)), tuple(reports))

    # --- one environment ------------------------------------------------------------------------
    def _deploy(self, spec: ServiceSpec, ctx: RenderContext, env: str, app: str, expected: str | None,
                merged_at: datetime | None, repositories: Sequence[str]) -> EnvReport:
        link = self.status.link(env, app)
        found = self.status.application(env, app, spec.team)
        if found is None:
            return EnvReport(env, app, "waiting", f"waiting for the ApplicationSet of team {spec.team} to create "
                                                  f"{app}", link=link)
        later = self._descends(env, app, spec.team, found, expected)
        result = assess(found, None, expected=expected, merged_at=merged_at, descendant=later)
        if result.needs_tree or result.phase == "progressing":
            tree = self.status.resource_tree(env, app, spec.team)
            result = assess(found, tree, expected=expected, merged_at=merged_at, descendant=later)
        image = service_image(result.images, repositories)
        report = EnvReport(env, app, result.phase, result.detail, image, result.revision, link)
        if result.phase == "healthy" and self._probes(spec, ctx):
            return self._probe(report, spec, ctx)
        return report

    def _descends(self, env: str, app: str, project: str, found: dict[str, Any], expected: str | None) -> bool:
        """True when Argo CD compared a later commit of the values branch than our merge (someone merged
        after us): its commit date is not before ours. Asked only in that case, and once per revision (a
        commit's date never changes; an unknown one is asked again next poll)."""
        seen = values_revision(found)
        if expected is None or seen is None or seen == expected:
            return False
        ours = self._revision_date(env, app, project, expected)
        theirs = self._revision_date(env, app, project, seen) if ours is not None else None
        return ours is not None and theirs is not None and theirs >= ours

    def _revision_date(self, env: str, app: str, project: str, revision: str) -> datetime | None:
        key = (env, app, revision)
        if key not in self._dates:
            date = self.status.revision_date(env, app, project, revision, VALUES_SOURCE)
            if date is None:
                return None
            if len(self._dates) > 4096:  # a long-running worker: keep the cache small
                self._dates.clear()
            self._dates[key] = date
        return self._dates[key]

    def _probes(self, spec: ServiceSpec, ctx: RenderContext) -> bool:
        return self.config.probe and self.prober is not None and ctx.blueprint(spec).needs_domain

    def _probe(self, report: EnvReport, spec: ServiceSpec, ctx: RenderContext) -> EnvReport:
        assert self.prober is not None
        path = self.config.probe_path or spec.health_check_path or ctx.blueprint(spec).defaults.health_check_path
        url = f"https://{spec.domain_for(report.environment, ctx.platform)}{path}"
        result = self.prober.probe(url)
        if result.live:
            return _replace(report, "live", f"{report.detail}, live at https://"
                                            f"{spec.domain_for(report.environment, ctx.platform)}")
        if not result.reachable:
            return _replace(report, "probe-skipped", f"{report.detail}; probe of {url} skipped: LaunchPad cannot "
                                                     f"reach it ({result.detail})")
        return _replace(report, "probing", f"{report.detail}; {url} answers {result.detail}, waiting for the "
                                           "load balancer")

    def _prune(self, env: str, app: str, project: str) -> EnvReport:
        link = self.status.link(env, app)
        found = self.status.application(env, app, project)
        if found is None:
            return EnvReport(env, app, "pruned", f"{app} and its resources are gone", link=link)
        meta = found.get("metadata") or {}
        left = len((found.get("status") or {}).get("resources") or [])
        cascades = argocd.APPLICATION_FINALIZER in (meta.get("finalizers") or [])
        warning = "" if cascades else (" (it has no resources-finalizer: its workload will stay; remove it by "
                                       "hand, docs/argocd.md)")
        if meta.get("deletionTimestamp"):
            return EnvReport(env, app, "deleting", f"Argo CD is deleting {app}, {left} resource(s) left{warning}",
                             link=link)
        return EnvReport(env, app, "waiting", f"waiting for the ApplicationSet to delete {app}{warning}", link=link)


# --- helpers ------------------------------------------------------------------------------------------------
def _with_tree(phase: str, what: str, tree: dict[str, Any] | None, shown: str | None,
               images: tuple[str, ...]) -> Assessment:
    if tree is None:
        return Assessment(phase, what, shown, images, needs_tree=True)
    ready, total, worst = pods(tree)
    detail = f"{what}, {ready}/{total} pods ready" if total else what
    return Assessment(phase, detail + (f" ({worst})" if worst else ""), shown, images)


def _node_reason(node: dict[str, Any]) -> str:
    health = node.get("health") or {}
    info = {str(i.get("name")): str(i.get("value")) for i in node.get("info") or []}
    reason = info.get("Status Reason", "")
    message = str(health.get("message") or "")
    text = f"{reason}: {message}" if reason and reason not in message else (message or reason or health.get("status"))
    return f"{node.get('kind')} {node.get('name')}: {text}"


def _op_revision_is(operation: dict[str, Any], expected: str | None) -> bool:
    result = operation.get("syncResult") or {}
    return expected is not None and expected in [result.get("revision"), *(result.get("revisions") or [])]


def _failure(reports: Sequence[EnvReport], what_next: str) -> str:
    parts = [f"{r.line()}" + (f" ({r.link})" if r.link else "") for r in reports]
    return "; ".join(parts) + f" — {what_next}"


def _replace(report: EnvReport, phase: str, detail: str) -> EnvReport:
    return EnvReport(report.environment, report.application, phase, detail, report.image, report.revision,
                     report.link)


def _short(sha: str | None) -> str | None:
    return sha[:7] if sha else None


def _minutes(delta: timedelta) -> str:
    minutes = delta.total_seconds() / 60
    return f"{minutes:g} min" if minutes >= 1 else f"{delta.total_seconds():g} s"


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
