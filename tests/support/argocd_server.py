"""A local Argo CD API server on 127.0.0.1 for tests, built from Argo CD's own API description.

It serves only routes `schemas/apis/argocd-swagger.json` declares, and validates every body it sends
against that route's response schema (the status's own, else `default`: runtimeError) before sending
it; a mismatch is kept in `schema_errors`, which every test using the server checks is empty.

What it models is what LaunchPad reads: an Application's `status.sync` (status, revisions of its two
sources), `status.health`, `status.operationState` (Running, Succeeded, Failed), `summary.images`,
`reconciledAt`, `metadata.finalizers` and `deletionTimestamp`; the resource tree (Deployment,
ReplicaSet, Pods with health and "Status Reason", Service, TargetGroupBinding). And Argo CD's
awkward cases: a missing Application is 403 "permission denied" unless the request names a project
(then 404, CVE-2022-41354); a bad token is 401; syncs that start late or never; rollouts that go
Degraded (ImagePullBackOff, CrashLoopBackOff, a TargetGroupBinding error); cascading deletion that
takes time; injected 5xx and 429 (Retry-After) faults.

An Application follows sources the test gives, the way the ApplicationSet and the repo server do:
`exists()` (its generator file is in the gitops repository), `revision()` (the values repository's
head) and `image()` (what its values file sets). Time is `clock()` in seconds (the workflow's
ManualClock in tests), so a rollout takes simulated time, never real time. Test support only.

    with ArgoCdServer(tokens={"t": None}, clock=lambda: clock.now().timestamp()) as argo:
        argo.add(FakeApp("search-ranking-web-devel", project="search", image=lambda: "r/x:1"))
"""

from __future__ import annotations

import json
import re
import threading
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jsonschema

SWAGGER_FILE = Path(__file__).resolve().parents[2] / "schemas" / "apis" / "argocd-swagger.json"
CHART_SOURCE = "https://github.com/platform/launchpad-chart.git"
CHART_SHA = "c" * 40
FINALIZER = "resources-finalizer.argocd.argoproj.io"


@dataclass
class Call:
    method: str
    path: str
    route: str
    query: dict[str, list[str]]
    status: int


@dataclass
class Fault:
    pattern: str
    status: int
    times: int
    retry_after: str | None = None


@dataclass
class FakeApp:
    """One Application and how its rollouts go. `outcome`: healthy, degraded (pods fail with `reason`),
    never (the new revision is seen but no sync starts), tgb (the TargetGroupBinding cannot bind)."""

    name: str
    project: str
    workload: str = "app"  # the Deployment / Service name (the service's name)
    namespace: str = "default"
    exists: Callable[[], bool] = lambda: True
    revision: Callable[[], str] = lambda: "0" * 40
    image: Callable[[], str] = lambda: "registry.local/app:1"
    outcome: str = "healthy"
    reason: tuple[str, str] = ("ImagePullBackOff", 'Back-off pulling image "registry.local/app:1"')
    bad_images: set[str] = field(default_factory=set)  # these images end Degraded whatever `outcome` says
    sync_delay: float = 20.0
    rollout: float = 90.0
    pods: int = 3
    prune_seconds: float = 40.0
    finalizer: bool = True
    dates: dict[str, str] = field(default_factory=dict)  # revision -> commit date (revision metadata)
    # state, advanced on every request
    created: float | None = None
    compared: str | None = None  # the values revision Argo CD last compared (it notices a new one late)
    synced: str | None = None
    running_image: str | None = None
    pending_since: float | None = None
    op_started: float | None = None
    op_revision: str | None = None
    op_image: str | None = None
    deleting_since: float | None = None
    gone: bool = False


class ArgoCdServer:
    """`tokens`: token -> projects it may read (None: every project)."""

    def __init__(self, *, tokens: dict[str, set[str] | None] | None = None,
                 clock: Callable[[], float] | None = None) -> None:
        self.tokens = tokens if tokens is not None else {"argocd-test-token": None}
        self.clock = clock or (lambda: datetime.now(UTC).timestamp())
        self.apps: dict[str, FakeApp] = {}
        self.calls: list[Call] = []
        self.schema_errors: list[str] = []
        self.validated: dict[tuple[str, str, int], int] = {}
        self.faults: list[Fault] = []
        self._lock = threading.RLock()
        self._swagger = json.loads(SWAGGER_FILE.read_text())
        self._routes = [(re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", p) + "$"), p)
                        for p, item in sorted(self._swagger["paths"].items(), key=lambda kv: (kv[0].count("{"),
                                                                                            -len(kv[0])))
                        if "get" in item]  # literal segments win over parameters, as grpc-gateway routes
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server._handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> ArgoCdServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    # --- configuration ----------------------------------------------------------------------------
    def add(self, app: FakeApp) -> FakeApp:
        with self._lock:
            self.apps[app.name] = app
        return app

    def fail(self, pattern: str, status: int, *, times: int = 1, retry_after: str | None = None) -> None:
        """The next `times` requests whose path matches `pattern` answer `status` (5xx, 429)."""
        with self._lock:
            self.faults.append(Fault(pattern, status, times, retry_after))

    def reconcile(self) -> None:
        """One pass of the application controller over every Application (tests call it while moving the
        clock, as the controller would keep working between LaunchPad's polls)."""
        with self._lock:
            for app in self.apps.values():
                self._advance(app)

    def calls_to(self, route: str) -> list[Call]:
        return [c for c in self.calls if c.route == route]

    # --- HTTP -------------------------------------------------------------------------------------
    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        parsed = urllib.parse.urlsplit(h.path)
        query = urllib.parse.parse_qs(parsed.query)
        route = next((template for pattern, template in self._routes if pattern.match(parsed.path)), None)
        with self._lock:
            status, body, headers = self._answer(h, parsed.path, route, query)
            if route is not None:
                self._validate(route, status, body)
            else:
                self.schema_errors.append(f"GET {parsed.path} is not a route of Argo CD's API")
            self.calls.append(Call("GET", parsed.path, route or "", query, status))
        data = json.dumps(body).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        for key, value in headers.items():
            h.send_header(key, value)
        h.end_headers()
        h.wfile.write(data)

    def _answer(self, h: BaseHTTPRequestHandler, path: str, route: str | None,
                query: dict[str, list[str]]) -> tuple[int, dict[str, Any], dict[str, str]]:
        if route is None or "get" not in self._swagger["paths"][route]:
            return 404, _error(5, "Not Found"), {}
        for fault in self.faults:
            if fault.times > 0 and re.search(fault.pattern, path):
                fault.times -= 1
                headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
                code = {429: 8, 503: 14}.get(fault.status, 13)
                return fault.status, _error(code, f"injected {fault.status}"), headers
        auth = h.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else None
        if token not in self.tokens:
            return 401, _error(16, "invalid session: token signature is invalid"), {}
        if route == "/api/v1/applications/{name}":
            name = urllib.parse.unquote(path.rsplit("/", 1)[-1])
            return self._get_app(name, token, query)
        if route == "/api/v1/applications/{applicationName}/resource-tree":
            name = urllib.parse.unquote(path.split("/")[-2])
            status, app = self._find(name, token, query)
            if app is None:
                return status, _error(7 if status == 403 else 5, _missing(name, status)), {}
            return 200, self._tree(app), {}
        if route == "/api/v1/applications/{name}/revisions/{revision}/metadata":
            parts = path.split("/")
            name, revision = urllib.parse.unquote(parts[-4]), urllib.parse.unquote(parts[-2])
            status, app = self._find(name, token, query)
            if app is None or revision not in app.dates:
                return (status if app is None else 404), _error(5, f"revision {revision} not found"), {}
            return 200, {"author": "LaunchPad <launchpad@localhost>", "date": app.dates[revision],
                         "message": f"Merge {revision[:7]}"}, {}
        return 404, _error(12, f"{route} is not modelled by this test server"), {}

    def _get_app(self, name: str, token: str, query: dict[str, list[str]]) -> tuple[int, dict[str, Any],
                                                                                      dict[str, str]]:
        status, app = self._find(name, token, query)
        if app is None:
            return status, _error(7 if status == 403 else 5, _missing(name, status)), {}
        return 200, self._application(app), {}

    def _find(self, name: str, token: str, query: dict[str, list[str]]) -> tuple[int, FakeApp | None]:
        """Argo CD since CVE-2022-41354: without a project, anything not visible is 403; with one, 404."""
        project = (query.get("project") or query.get("projects") or [None])[0]
        allowed = self.tokens[token]
        app = self.apps.get(name)
        if app is not None:
            self._advance(app)
        visible = app is not None and not app.gone and app.created is not None
        if visible and app is not None and (allowed is None or app.project in allowed) and project in (None,
                                                                                                    app.project):
            return 200, app
        if visible and app is not None and allowed is not None and app.project not in allowed:
            return 403, None
        return (404 if project is not None and (allowed is None or project in allowed) else 403), None

    # --- the model ----------------------------------------------------------------------------------
    def _advance(self, app: FakeApp) -> None:
        now = self.clock()
        present = app.exists()
        if app.created is None:
            if not present:
                return
            app.created = now
        if not present and app.deleting_since is None and not app.gone:
            app.deleting_since = now
        if app.deleting_since is not None:
            if not app.finalizer or now - app.deleting_since >= app.prune_seconds:
                app.gone = True
            return
        target = app.revision()
        if app.compared is None:
            app.compared = target  # a new Application compares at once
        if target != app.compared or (app.synced is None and app.op_started is None):
            if app.pending_since is None:
                app.pending_since = now
            if now - app.pending_since >= app.sync_delay:  # the refresh that notices the new commit
                noticed = app.pending_since + app.sync_delay  # when it happened, not when someone asked
                app.compared, app.pending_since = target, None
                if app.outcome != "never":
                    app.op_started, app.op_revision, app.op_image = noticed, target, app.image()
        if app.op_started is not None and now - app.op_started >= min(5.0, app.rollout):
            app.synced, app.running_image = app.op_revision, app.op_image

    def _phase(self, app: FakeApp) -> tuple[str, float]:
        """Health of the workload and how far its rollout got (0..1)."""
        if app.op_started is None:
            return ("Healthy" if app.synced else "Missing"), 1.0
        progress = min(1.0, (self.clock() - app.op_started) / app.rollout) if app.rollout else 1.0
        failing = app.outcome in ("degraded", "tgb") or (app.op_image or "") in app.bad_images
        if progress < 1.0:
            return "Progressing", progress
        return ("Degraded" if failing else "Healthy"), progress

    def _application(self, app: FakeApp) -> dict[str, Any]:
        now = self.clock()
        health, _ = self._phase(app)
        compared = app.compared or app.revision()
        running_op = app.op_started is not None and now - app.op_started < min(5.0, app.rollout)
        synced = app.synced == compared and not running_op
        status: dict[str, Any] = {
            "sync": {"status": "Synced" if synced else "OutOfSync", "revisions": [CHART_SHA, compared],
                     "comparedTo": {"destination": {"server": "https://kubernetes.default.svc",
                                                    "namespace": app.namespace}}},
            "health": {"status": health},
            "reconciledAt": _iso(now),
            "summary": {"images": sorted({app.running_image or app.image(),
                                          "docker.io/nginxinc/nginx-unprivileged:1.27.3-alpine",
                                          "docker.elastic.co/beats/filebeat:8.15.3"})},
            "resources": [{"group": r["group"], "version": r["version"], "kind": r["kind"], "name": r["name"],
                           "namespace": app.namespace, "status": "Synced" if synced else "OutOfSync",
                           "health": r["health"]} for r in self._managed(app)],
            "sourceTypes": ["Helm", "Directory"],
        }
        if app.op_started is not None:
            phase = "Running" if running_op else "Succeeded"
            status["operationState"] = {
                "phase": phase, "message": "successfully synced (all tasks run)" if phase == "Succeeded" else
                "waiting for healthy state of apps/Deployment/" + _service(app),
                "startedAt": _iso(app.op_started), "operation": {"sync": {"revisions": [CHART_SHA, app.op_revision]},
                                                                 "initiatedBy": {"automated": True}},
                "syncResult": {"revisions": [CHART_SHA, app.op_revision or ""], "resources": []},
            }
            if phase == "Succeeded":
                status["operationState"]["finishedAt"] = _iso(app.op_started + min(5.0, app.rollout))
        metadata: dict[str, Any] = {"name": app.name, "namespace": "argocd",
                                    "labels": {"app.kubernetes.io/managed-by": "launchpad"},
                                    "creationTimestamp": _iso(app.created or now)}
        if app.finalizer:
            metadata["finalizers"] = [FINALIZER]
        if app.deleting_since is not None:
            metadata["deletionTimestamp"] = _iso(app.deleting_since)
            left = max(0.0, 1 - (now - app.deleting_since) / app.prune_seconds) if app.prune_seconds else 0
            status["resources"] = status["resources"][: round(len(status["resources"]) * left)]
        return {"metadata": metadata,
                "spec": {"project": app.project, "destination": {"server": "https://kubernetes.default.svc",
                                                                 "namespace": app.namespace},
                         "sources": [{"repoURL": CHART_SOURCE, "path": "chart", "targetRevision": "v1.0.0"},
                                     {"repoURL": "https://github.com/platform/k8s-values.git",
                                      "targetRevision": "main", "ref": "values"}]},
                "status": status}

    def _managed(self, app: FakeApp) -> list[dict[str, Any]]:
        health, _ = self._phase(app)
        tgb = {"status": "Degraded", "message": "couldn't resolve target group: TargetGroupNotFound"} \
            if app.outcome == "tgb" and health == "Degraded" else {"status": "Healthy"}
        deployment = {"status": "Degraded" if health == "Degraded" and app.outcome != "tgb" else
                      ("Healthy" if health in ("Healthy", "Degraded") else "Progressing")}
        if deployment["status"] == "Degraded":
            deployment["message"] = f'Deployment "{_service(app)}" exceeded its progress deadline'
        name = _service(app)
        return [{"group": "apps", "version": "v1", "kind": "Deployment", "name": name, "health": deployment},
                {"group": "", "version": "v1", "kind": "Service", "name": name, "health": {"status": "Healthy"}},
                {"group": "elbv2.k8s.aws", "version": "v1beta1", "kind": "TargetGroupBinding", "name": name,
                 "health": tgb}]

    def _tree(self, app: FakeApp) -> dict[str, Any]:
        health, progress = self._phase(app)
        nodes = []
        for r in self._managed(app):
            nodes.append({"group": r["group"], "version": r["version"], "kind": r["kind"], "namespace": app.namespace,
                          "name": r["name"], "uid": f"uid-{r['kind']}", "health": r["health"],
                          "resourceVersion": "1"})
        ready = app.pods if health == "Healthy" else int(app.pods * progress) if health == "Progressing" else 0
        failing = health == "Degraded" and app.outcome != "tgb"
        for i in range(app.pods):
            ok = i < ready
            pod: dict[str, Any] = {"group": "", "version": "v1", "kind": "Pod", "namespace": app.namespace,
                                   "name": f"{_service(app)}-7d9c{i}", "uid": f"uid-pod-{i}",
                                   "parentRefs": [{"group": "apps", "kind": "ReplicaSet", "namespace": app.namespace,
                                                   "name": f"{_service(app)}-7d9c", "uid": "uid-rs"}],
                                   "images": [app.op_image or app.image()], "createdAt": _iso(app.created or 0),
                                   "info": [{"name": "Status Reason", "value": "Running" if ok else
                                             (app.reason[0] if failing else "ContainerCreating")},
                                            {"name": "Containers", "value": "3/3" if ok else "2/3"}],
                                   "health": {"status": "Healthy"} if ok else
                                   ({"status": "Degraded", "message": app.reason[1]} if failing else
                                    {"status": "Progressing"})}
            nodes.append(pod)
        return {"nodes": nodes}

    # --- the schema ---------------------------------------------------------------------------------
    def _validate(self, route: str, status: int, body: dict[str, Any]) -> None:
        responses = self._swagger["paths"][route]["get"]["responses"]
        schema = (responses.get(str(status)) or responses["default"])["schema"]
        resolver_doc = {**schema, "definitions": self._swagger["definitions"]}
        errors = sorted(jsonschema.Draft4Validator(resolver_doc).iter_errors(body), key=str)
        for err in errors[:3]:
            self.schema_errors.append(f"GET {route} {status}: {'/'.join(map(str, err.path))}: {err.message}")
        key = ("GET", route, status)
        self.validated[key] = self.validated.get(key, 0) + 1


def _error(code: int, message: str) -> dict[str, Any]:
    return {"error": message, "code": code, "message": message, "details": []}


def _missing(name: str, status: int) -> str:
    return "permission denied" if status == 403 else f'applications.argoproj.io "{name}" not found'


def _service(app: FakeApp) -> str:
    return app.workload


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
