"""Availability in what the chart renders, checked on the rendered objects (not the values): a disruption
budget and a spread over zones and nodes once there is more than one replica, a readiness gate on the
TargetGroupBinding's pod condition, a preStop sleep longer than the target group's deregistration delay
(which the Terragrunt package sets), per-environment resources, and no port below 1024.

The chart is rendered with Helm (helm-python-sdk) from the values files LaunchPad writes plus the platform
block of the generated Application, for several specs: the examples and a few built here.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import helm_python as helm
import pytest
import yaml

from provisioners import terragrunt
from provisioners.blueprint import BlueprintRegistry
from provisioners.errors import InvalidSpecError, PermanentError
from provisioners.k8s import CHART_DIR
from provisioners.plan import RenderContext
from provisioners.platform import PlatformConfig
from provisioners.render import parse_hcl
from provisioners.spec import ServiceSpec, parse_spec
from tests.test_helm import argo_values, render_chart

ROOT = Path(__file__).resolve().parent.parent
CTX = RenderContext(platform=PlatformConfig(), blueprints=BlueprintRegistry.load())
READINESS_PREFIX = "target-health.elbv2.k8s.aws/"


def example(name: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "examples" / f"{name}.yaml").read_text())
    return data


SPECS: dict[str, dict[str, Any]] = {
    "ranking-web": example("ranking-web"),
    "shop-web": example("shop-web"),
    "invoice-worker": example("invoice-worker"),
    "worker-three-replicas": {"name": "queue-worker", "team": "payments", "blueprint": "worker",
                              "environments": [{"name": "devel"}, {"name": "prod", "replicas": 3, "cpu": "2"}]},
    "web-scaled-to-zero": {"name": "idle-web", "team": "search", "environments": [{"name": "devel", "replicas": 0}]},
}
CASES = [(case, env["name"]) for case, data in SPECS.items() for env in data["environments"]]


@pytest.fixture(scope="module")
def chart() -> Iterator[helm.Chart]:
    with helm.Chart.load(CHART_DIR) as loaded:
        yield loaded


@pytest.fixture(scope="module")
def rendered(chart: helm.Chart) -> dict[tuple[str, str], tuple[ServiceSpec, dict[str, Any], list[dict[str, Any]]]]:
    """Every case rendered once: (spec, merged values, objects)."""
    out = {}
    for case, env in CASES:
        spec = parse_spec(SPECS[case], CTX.platform, CTX.blueprints)
        values = argo_values(spec, CTX, env)
        out[(case, env)] = (spec, values, render_chart(chart, values, spec, env))
    return out


def one(objects: list[dict[str, Any]], kind: str) -> dict[str, Any] | None:
    found = [o for o in objects if o["kind"] == kind]
    assert len(found) <= 1, kind
    return found[0] if found else None


def matches(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    return bool(selector["matchLabels"]) and selector["matchLabels"].items() <= labels.items()


def deregistration_delay(spec: ServiceSpec, env: str) -> int:
    """What the target-group package LaunchPad writes for `env` sets on the target group."""
    path = terragrunt.package_path(spec, CTX.platform, env, "target-group")
    delay = parse_hcl(terragrunt.render(spec, CTX).files[path])["inputs"]["deregistration_delay"]
    assert isinstance(delay, int)
    return delay


@pytest.mark.parametrize(("case", "env"), CASES)
def test_rendered_objects_carry_the_availability_settings(case: str, env: str, rendered: Any) -> None:
    spec, _, objects = rendered[(case, env)]
    deployment = one(objects, "Deployment")
    assert deployment is not None
    replicas = deployment["spec"]["replicas"]
    pod = deployment["spec"]["template"]["spec"]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    containers = pod["containers"]

    # PodDisruptionBudget: maxUnavailable 1 once there are several replicas, none for one (or zero)
    pdb = one(objects, "PodDisruptionBudget")
    if replicas > 1:
        assert pdb is not None and pdb["spec"]["maxUnavailable"] == 1
        assert matches(pdb["spec"]["selector"], pod_labels)
        assert pdb["spec"]["unhealthyPodEvictionPolicy"] == "AlwaysAllow"
    else:
        assert pdb is None

    # Topology spread over zones and nodes, selecting this Deployment's own pods
    spread = pod.get("topologySpreadConstraints", [])
    if replicas > 1:
        assert {c["topologyKey"] for c in spread} == {"topology.kubernetes.io/zone", "kubernetes.io/hostname"}
        for constraint in spread:
            assert constraint["maxSkew"] == 1 and matches(constraint["labelSelector"], pod_labels)
            assert constraint["matchLabelKeys"] == ["pod-template-hash"]  # per rollout, not across old and new
        zone = next(c for c in spread if c["topologyKey"] == "topology.kubernetes.io/zone")
        assert zone["whenUnsatisfiable"] == "DoNotSchedule"
    else:
        assert spread == []

    # Readiness gate on the condition the AWS Load Balancer Controller sets for the TargetGroupBinding
    tgb = one(objects, "TargetGroupBinding")
    if tgb is not None:
        assert pod["readinessGates"] == [{"conditionType": READINESS_PREFIX + tgb["metadata"]["name"]}]
        service = one(objects, "Service")
        assert service is not None and tgb["spec"]["serviceRef"]["name"] == service["metadata"]["name"]
        assert service["spec"]["selector"].items() <= pod_labels.items()
        assert tgb["spec"]["targetType"] == "ip"  # the controller gates only IP targets
    else:
        assert "readinessGates" not in pod

    # preStop: every container outlasts the target group's deregistration delay; the grace period covers it
    grace = pod["terminationGracePeriodSeconds"]
    if tgb is not None:
        delay = deregistration_delay(spec, env)
        for container in containers:
            sleep = container["lifecycle"]["preStop"]["sleep"]["seconds"]
            assert sleep > delay, container["name"]
            assert grace > sleep
    else:
        assert all("lifecycle" not in c for c in containers)
        assert grace > 0

    # Resources per environment: the environment's own, else the service's, else the blueprint's
    own = spec.environment(env)
    blueprint = CTX.blueprint(spec).defaults
    app = next(c for c in containers if c["name"] == "app")
    expected_cpu = own.cpu or spec.cpu or blueprint.cpu
    expected_memory = own.memory or spec.memory or blueprint.memory
    assert app["resources"]["requests"] == {"cpu": expected_cpu, "memory": expected_memory}
    assert app["resources"]["limits"] == {"memory": expected_memory}
    assert app["ports"][0]["containerPort"] >= 1024


def test_per_environment_resources_differ_where_the_spec_says(rendered: Any) -> None:
    requests = {}
    for env in ("devel", "alpha", "prod"):
        _, _, objects = rendered[("shop-web", env)]
        deployment = one(objects, "Deployment")
        assert deployment is not None
        app = next(c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == "app")
        requests[env] = app["resources"]["requests"]
    assert requests == {"devel": {"cpu": "100m", "memory": "256Mi"}, "alpha": {"cpu": "250m", "memory": "512Mi"},
                        "prod": {"cpu": "1", "memory": "2Gi"}}


@pytest.mark.parametrize("port", [80, 443, 1023])
def test_ports_below_1024_are_refused_with_the_reason(port: int, chart: helm.Chart) -> None:
    with pytest.raises(InvalidSpecError) as caught:
        parse_spec(SPECS["ranking-web"] | {"port": port}, CTX.platform, CTX.blueprints)
    assert "non-root" in caught.value.errors["port"] and "1024" in caught.value.errors["port"]
    spec = parse_spec(SPECS["ranking-web"], CTX.platform, CTX.blueprints)
    values = chart.merge_values(argo_values(spec, CTX, "devel")) | {"port": port}
    with pytest.raises(helm.HelmError):  # a hand-edited values file cannot get past the chart either
        chart.validate_schema(values)


def test_environment_resources_are_validated_at_the_edge() -> None:
    bad = SPECS["shop-web"] | {"environments": [{"name": "devel", "cpu": "lots"}, {"name": "prod", "memory": "2G"}]}
    with pytest.raises(InvalidSpecError) as caught:
        parse_spec(bad, CTX.platform, CTX.blueprints)
    assert "millicores" in caught.value.errors["environments.0.cpu"]
    assert "Mi or Gi" in caught.value.errors["environments.1.memory"]


def test_a_target_group_that_drains_longer_than_the_chart_waits_is_refused() -> None:
    spec = parse_spec(SPECS["ranking-web"], CTX.platform, CTX.blueprints)
    slow = RenderContext(platform=PlatformConfig(deregistration_delay_seconds=120), blueprints=CTX.blueprints)
    with pytest.raises(PermanentError, match="deregistrationDelaySeconds"):
        terragrunt.render(spec, slow)
    quick = RenderContext(platform=PlatformConfig(deregistration_delay_seconds=10), blueprints=CTX.blueprints)
    path = terragrunt.package_path(spec, quick.platform, "prod", "target-group")
    assert parse_hcl(terragrunt.render(spec, quick).files[path])["inputs"]["deregistration_delay"] == 10


def test_the_default_chart_revision_is_the_bundled_charts_version() -> None:
    chart = yaml.safe_load((CHART_DIR / "Chart.yaml").read_text())
    assert PlatformConfig().chart_revision == f"v{chart['version']}"
    assert chart["kubeVersion"] == ">=1.30.0-0"  # the preStop sleep action is on by default from 1.30
