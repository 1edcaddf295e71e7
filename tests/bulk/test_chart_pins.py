"""The chart honours the pins a bulk change records: the Application's chart revision and sidecar images
come from the service's gitops file, and an unpinned sidecar keeps the chart's own image (rendered for
real with Helm, values merged as Argo CD merges them)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import helm_python as helm
import pytest
import yaml

from provisioners import argocd
from provisioners.blueprint import BlueprintRegistry
from provisioners.k8s import CHART_DIR
from provisioners.plan import RenderContext
from provisioners.platform import PlatformConfig
from provisioners.spec import parse_spec
from tests.bulk.support import web_spec
from tests.test_helm import argo_values, render_chart

FILEBEAT = "docker.elastic.co/beats/filebeat:8.15.0"


@pytest.fixture(scope="module")
def ctx() -> RenderContext:
    return RenderContext(platform=PlatformConfig(), blueprints=BlueprintRegistry.load())


@pytest.fixture(scope="module")
def chart() -> Iterator[helm.Chart]:
    with helm.Chart.load(CHART_DIR) as loaded:
        yield loaded


def images(objects: list[dict[str, Any]]) -> dict[str, str]:
    deployment = next(o for o in objects if o["kind"] == "Deployment")
    return {c["name"]: c["image"] for c in deployment["spec"]["template"]["spec"]["containers"]}


def test_pinned_sidecar_and_chart_revision_reach_the_application_and_the_pod(ctx: RenderContext,
                                                                             chart: helm.Chart) -> None:
    defaults = yaml.safe_load((CHART_DIR / "values.yaml").read_text())["sidecars"]
    spec = parse_spec(web_spec("ranking-web") | {"pins": {
        "sidecars": {"filebeat": FILEBEAT}, "environments": {"prod": {"chart_revision": "v1.2.0"}}}},
        ctx.platform, ctx.blueprints)
    apps = {a["metadata"]["labels"]["launchpad.io/environment"]: a for a in argocd.applications(spec, ctx)}
    assert apps["prod"]["spec"]["sources"][0]["targetRevision"] == "v1.2.0"
    assert apps["devel"]["spec"]["sources"][0]["targetRevision"] == ctx.platform.chart_revision
    for env in ("devel", "prod"):
        found = images(render_chart(chart, argo_values(spec, ctx, env), spec, env))
        assert found["filebeat"] == FILEBEAT
        assert found["nginx"] == defaults["nginx"]["image"]


def test_without_pins_the_chart_keeps_its_own_sidecar_images(ctx: RenderContext, chart: helm.Chart) -> None:
    defaults = yaml.safe_load((CHART_DIR / "values.yaml").read_text())["sidecars"]
    spec = parse_spec(web_spec("ranking-web", envs=("devel",)), ctx.platform, ctx.blueprints)
    values = argo_values(spec, ctx, "devel")
    assert values["platform"]["sidecarImages"] == {"nginx": "", "filebeat": ""}
    found = images(render_chart(chart, values, spec, "devel"))
    assert (found["nginx"], found["filebeat"]) == (defaults["nginx"]["image"], defaults["filebeat"]["image"])
    del values["platform"]["sidecarImages"]  # an Application generated before pins existed still renders
    assert images(render_chart(chart, values, spec, "devel"))["filebeat"] == defaults["filebeat"]["image"]


def test_the_chart_refuses_a_malformed_pinned_image(ctx: RenderContext, chart: helm.Chart) -> None:
    spec = parse_spec(web_spec("ranking-web", envs=("devel",)), ctx.platform, ctx.blueprints)
    values = argo_values(spec, ctx, "devel")
    values["platform"]["sidecarImages"]["nginx"] = "nginx latest"
    with pytest.raises(helm.HelmError):
        render_chart(chart, values, spec, "devel")
