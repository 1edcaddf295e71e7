"""The local Argo CD server speaks Argo CD's API as its own description (schemas/apis/argocd-swagger.json)
says: every route it serves is one the file declares, and every body it returns — successes, the
awkward 403-for-missing, 404, 401, 429, 503 — validates against that route's response schema."""

from __future__ import annotations

import json

import requests

from tests.support.argocd_server import SWAGGER_FILE, ArgoCdServer, FakeApp

TOKEN = "argocd-test-token"


def get(argo: ArgoCdServer, path: str, token: str | None = TOKEN, **params: str) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.get(argo.url + path, params=params, headers=headers, timeout=5)


def test_every_route_and_body_matches_argo_cds_api_description() -> None:
    now = [1_000_000.0]
    revision = ["a" * 40]
    with ArgoCdServer(tokens={TOKEN: None, "search-only": {"search"}}, clock=lambda: now[0]) as argo:
        argo.add(FakeApp("search-web-devel", project="search", workload="web", revision=lambda: revision[0],
                         dates={"a" * 40: "2030-01-01T12:00:00Z"}))
        argo.add(FakeApp("search-web-prod", project="search", workload="web", outcome="degraded"))
        argo.add(FakeApp("payments-pay-devel", project="payments", workload="pay", outcome="tgb"))
        for step in range(6):  # pending, syncing, progressing, healthy / degraded, then a new revision
            now[0] += 30
            if step == 4:
                revision[0] = "b" * 40
            for app in ("search-web-devel", "search-web-prod", "payments-pay-devel"):
                assert get(argo, f"/api/v1/applications/{app}", project=app.split("-")[0]).status_code == 200
                assert get(argo, f"/api/v1/applications/{app}/resource-tree").status_code == 200
        assert get(argo, f"/api/v1/applications/search-web-devel/revisions/{'a' * 40}/metadata",
                   project="search", sourceIndex="1").json()["date"] == "2030-01-01T12:00:00Z"
        # Argo CD's awkward cases
        assert get(argo, "/api/v1/applications/nope").status_code == 403  # missing, no project: permission denied
        assert get(argo, "/api/v1/applications/nope", project="search").status_code == 404
        assert get(argo, "/api/v1/applications/payments-pay-devel", token="search-only").status_code == 403
        assert get(argo, "/api/v1/applications/search-web-devel", token="wrong").status_code == 401
        assert get(argo, "/api/v1/applications/search-web-devel", token=None).status_code == 401
        argo.fail(r"/resource-tree$", 503)
        argo.fail(r"search-web-devel$", 429, retry_after="2")
        assert get(argo, "/api/v1/applications/search-web-devel/resource-tree").status_code == 503
        limited = get(argo, "/api/v1/applications/search-web-devel")
        assert limited.status_code == 429 and limited.headers["Retry-After"] == "2"

        assert argo.schema_errors == []
        declared = json.loads(SWAGGER_FILE.read_text())["paths"]
        served = {c.route for c in argo.calls}
        assert served == {"/api/v1/applications/{name}", "/api/v1/applications/{applicationName}/resource-tree",
                          "/api/v1/applications/{name}/revisions/{revision}/metadata"}
        assert all("get" in declared[route] for route in served)
        statuses = {status for (_, _, status) in argo.validated}
        assert statuses == {200, 401, 403, 404, 429, 503}  # every body validated, errors against runtimeError
        bodies = [get(argo, "/api/v1/applications/search-web-prod", project="search").json(),
                  get(argo, "/api/v1/applications/search-web-prod/resource-tree").json()]
        assert bodies[0]["status"]["health"]["status"] == "Degraded"
        assert any(n["kind"] == "Pod" and n["health"]["status"] == "Degraded" for n in bodies[1]["nodes"])


def test_a_body_that_breaks_the_description_is_caught() -> None:
    with ArgoCdServer() as argo:
        argo._validate("/api/v1/applications/{name}", 200, {"status": {"health": "Healthy"}})  # not an object
        argo._validate("/api/v1/applications/{name}", 404, {"code": "five"})
    assert len(argo.schema_errors) == 2
    assert "status/health" in argo.schema_errors[0]
