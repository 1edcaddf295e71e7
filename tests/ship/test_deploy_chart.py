"""LaunchPad's own Helm chart (deploy/helm/launchpad), rendered for real with Helm (helm-python-sdk,
offline) with default and with production-like values: it lints clean, the values schema holds, and
every rendered object validates — built-in kinds strictly against Kubernetes 1.30 (kubernetes-validate),
the ServiceMonitor (a Prometheus Operator CRD we do not vendor) by its selectors and ports only.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import helm_python as helm
import pytest
import yaml

from bot.config import Settings
from provisioners.k8s import validate_manifests

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "launchpad"
KUBE_VERSION = "v1.30.0"
NAMESPACE = "platform"

PRODUCTION: dict[str, Any] = {
    "image": {"repository": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/platform/launchpad", "tag": "0.1.0",
              "digest": "sha256:" + "ab" * 32},
    "slack": {"mode": "http"},
    "existingSecret": "launchpad-secrets",
    "config": {
        "forge": "github", "log_json": True, "aws_region": "eu-west-1", "requests_channel": "C0123456789",
        "sre_usergroup": "S0123456789", "github_api_mode": "graphql", "worker_lease_seconds": 180,
        "platform": {"organisation": "acme"},
    },
    "web": {"replicas": 3, "topologySpreadConstraints": [{
        "maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "ScheduleAnyway",
        "labelSelector": {"matchLabels": {"app.kubernetes.io/component": "web"}}}]},
    "worker": {"replicas": 2, "shutdownGraceSeconds": 120},
    "ingress": {"enabled": True, "className": "alb", "host": "launchpad.example.com",
                "tlsSecretName": "launchpad-tls",
                "annotations": {"alb.ingress.kubernetes.io/scheme": "internet-facing"}},
    "aws": {"roleArn": "arn:aws:iam::123456789012:role/launchpad-bot"},
    "serviceMonitor": {"enabled": True, "labels": {"release": "prometheus"}},
    "networkPolicy": {
        "ingressFrom": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress"}}}],
        "metricsFrom": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}],
        "databaseTo": [{"ipBlock": {"cidr": "10.0.32.0/20"}}],
    },
}
SOCKET: dict[str, Any] = {"slack": {"mode": "socket"}, "aws": {"roleArn": PRODUCTION["aws"]["roleArn"]}}


@pytest.fixture(scope="module")
def chart() -> Iterator[helm.Chart]:
    with helm.Chart.load(CHART) as loaded:
        yield loaded


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in override.items():
        out[key] = merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def defaults() -> dict[str, Any]:
    values: dict[str, Any] = yaml.safe_load((CHART / "values.yaml").read_text())
    return values


def render(chart: helm.Chart, overrides: dict[str, Any], *, upgrade: bool = False) -> list[dict[str, Any]]:
    """Lint, check the schema, render and validate; returns every object (hooks included). Memoised per
    values set: the chart and its inputs do not change within a test run."""
    key = (yaml.safe_dump(overrides), upgrade)
    if key not in _rendered:
        _rendered[key] = _render(chart, overrides, upgrade)
    return copy.deepcopy(_rendered[key])


_rendered: dict[tuple[str, bool], list[dict[str, Any]]] = {}


def _render(chart: helm.Chart, overrides: dict[str, Any], upgrade: bool) -> list[dict[str, Any]]:
    values = merge(defaults(), overrides)
    report = helm.lint(CHART, overrides, strict=True, kube_version=KUBE_VERSION, namespace=NAMESPACE)
    assert report["messages"] == [] and report["errors"] == [], report
    chart.validate_schema(values)
    manifests = chart.render(values=overrides, name="launchpad", namespace=NAMESPACE, is_install=not upgrade,
                             is_upgrade=upgrade)
    objects: list[dict[str, Any]] = []
    for path, text in sorted(manifests.items()):
        docs = [d for d in yaml.safe_load_all(text) if d]
        built_in = [d for d in docs if d["apiVersion"] != "monitoring.coreos.com/v1"]
        validate_manifests(yaml.safe_dump_all(built_in), path)
        objects += docs
    return objects


def find(objects: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    (found,) = [o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]
    return found


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    (only,) = deployment["spec"]["template"]["spec"]["containers"]
    return only


def env(c: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in c.get("env", [])}


def matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


@pytest.mark.parametrize("overrides", [{}, PRODUCTION, SOCKET], ids=["defaults", "production", "socket"])
def test_renders_lints_and_validates(chart: helm.Chart, overrides: dict[str, Any]) -> None:
    objects = render(chart, overrides)
    kinds = sorted(o["kind"] for o in objects)
    assert {"ConfigMap", "Deployment", "Job", "PodDisruptionBudget", "NetworkPolicy", "ServiceAccount"} <= set(kinds)
    assert "Secret" not in kinds, "secrets come from the existing Secret, never from the chart"
    assert render(chart, overrides, upgrade=True) == objects


def test_migration_job_runs_db_upgrade_before_install_and_upgrade(chart: helm.Chart) -> None:
    job = find(render(chart, PRODUCTION), "Job")
    annotations = job["metadata"]["annotations"]
    assert set(annotations["helm.sh/hook"].split(",")) == {"pre-install", "pre-upgrade"}
    assert "before-hook-creation" in annotations["helm.sh/hook-delete-policy"]
    pod = job["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    assert c["args"] == ["db", "upgrade"] and pod["restartPolicy"] == "Never"
    assert c["envFrom"] == [{"secretRef": {"name": "launchpad-secrets"}}]
    assert "serviceAccountName" not in pod, "hooks run before the chart's ServiceAccount exists"
    assert not [v for v in pod["volumes"] if "configMap" in v], "hooks run before the chart's ConfigMap exists"


def test_web_serves_slack_over_http_with_both_probes(chart: helm.Chart) -> None:
    objects = render(chart, PRODUCTION)
    web = find(objects, "Deployment", "launchpad-web")
    c = container(web)
    assert c["args"] == ["serve", "--http", "--no-worker"]
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert env(c)["LAUNCHPAD_HTTP_PORT"] == str(c["ports"][0]["containerPort"])
    service = find(objects, "Service", "launchpad-web")
    assert matches(service["spec"]["selector"], web["spec"]["template"]["metadata"]["labels"])
    rule = find(objects, "Ingress")["spec"]["rules"][0]
    assert rule["host"] == "launchpad.example.com"
    (path,) = rule["http"]["paths"]
    assert path["path"] == "/slack/events" and path["pathType"] == "Exact", "only Slack's endpoint is public"
    assert path["backend"]["service"] == {"name": "launchpad-web", "port": {"name": "http"}}
    assert service["spec"]["ports"][0]["name"] == "http"
    assert c["image"] == PRODUCTION["image"]["repository"] + ":0.1.0@" + PRODUCTION["image"]["digest"]


def test_worker_termination_follows_its_shutdown_grace_period(chart: helm.Chart) -> None:
    worker = find(render(chart, PRODUCTION), "Deployment", "launchpad-worker")
    c = container(worker)
    assert c["args"] == ["worker", "--metrics-port", "9102"]
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    assert env(c)["LAUNCHPAD_WORKER_SHUTDOWN_GRACE_SECONDS"] == "120"
    assert worker["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] == 120 + 15


def test_socket_mode_has_no_service_or_ingress_for_slack(chart: helm.Chart) -> None:
    objects = render(chart, SOCKET)
    assert container(find(objects, "Deployment", "launchpad-web"))["args"] == ["serve", "--no-worker"]
    assert not [o for o in objects if o["kind"] in ("Service", "Ingress")]
    with pytest.raises(helm.HelmError, match="enabled"):
        chart.validate_schema(merge(defaults(), {**SOCKET, "ingress": {"enabled": True, "host": "x.example.com"}}))


def test_service_monitors_select_services_by_their_port_names(chart: helm.Chart) -> None:
    objects = render(chart, PRODUCTION)
    monitors = [o for o in objects if o["kind"] == "ServiceMonitor"]
    assert len(monitors) == 2
    services = [o for o in objects if o["kind"] == "Service"]
    for monitor in monitors:
        assert monitor["metadata"]["labels"]["release"] == "prometheus"
        (service,) = [s for s in services if matches(monitor["spec"]["selector"]["matchLabels"],
                                                     s["metadata"]["labels"])]
        (endpoint,) = monitor["spec"]["endpoints"]
        assert endpoint["path"] == "/metrics"
        assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}


def test_irsa_role_on_the_service_account_and_pods_use_it(chart: helm.Chart) -> None:
    objects = render(chart, PRODUCTION)
    account = find(objects, "ServiceAccount")
    assert account["metadata"]["annotations"] == {"eks.amazonaws.com/role-arn": PRODUCTION["aws"]["roleArn"]}
    for deployment in (o for o in objects if o["kind"] == "Deployment"):
        pod = deployment["spec"]["template"]["spec"]
        assert pod["serviceAccountName"] == account["metadata"]["name"]
        assert pod["enableServiceLinks"] is False, "a Service named launchpad would inject LAUNCHPAD_* variables"
    assert "annotations" not in find(render(chart, {}), "ServiceAccount")["metadata"]


def test_pods_are_non_root_read_only_and_selected_by_their_budgets_and_policy(chart: helm.Chart) -> None:
    objects = render(chart, PRODUCTION)
    budgets = [o for o in objects if o["kind"] == "PodDisruptionBudget"]
    policy = find(objects, "NetworkPolicy")
    for deployment in (o for o in objects if o["kind"] == "Deployment"):
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert matches(deployment["spec"]["selector"]["matchLabels"], labels)
        assert len([b for b in budgets if matches(b["spec"]["selector"]["matchLabels"], labels)]) == 1
        assert matches(policy["spec"]["podSelector"]["matchLabels"], labels)
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0
        c = container(deployment)
        assert c["securityContext"]["readOnlyRootFilesystem"] is True
        assert {m["mountPath"] for m in c["volumeMounts"]} >= {"/tmp", "/var/lib/launchpad"}
        assert c["envFrom"] == [{"secretRef": {"name": "launchpad-secrets"}}]
    egress_ports = {p["port"] for rule in policy["spec"]["egress"] for p in rule["ports"]}
    assert egress_ports == {53, 443, 5432}
    scrape = next(r for r in policy["spec"]["ingress"] if r["from"] == PRODUCTION["networkPolicy"]["metricsFrom"])
    assert {p["port"] for p in scrape["ports"]} == {"http", "metrics"}, "web serves /metrics on its http port"


def test_settings_come_from_the_configmap_as_launchpads_settings_file(chart: helm.Chart, tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    objects = render(chart, PRODUCTION)
    text = find(objects, "ConfigMap")["data"]["config.yaml"]
    data = yaml.safe_load(text)
    assert data == PRODUCTION["config"]
    assert set(data) <= set(Settings.model_fields), "every key is a LaunchPad setting (a typo would be ignored)"
    for name in [k for k in os.environ if k.startswith("LAUNCHPAD_")]:
        monkeypatch.delenv(name)
    (tmp_path / "config.yaml").write_text(text)
    settings = Settings(config_file=tmp_path / "config.yaml")
    assert settings.requests_channel == "C0123456789" and settings.platform.organisation == "acme"
    web = container(find(objects, "Deployment", "launchpad-web"))
    mount = next(m for m in web["volumeMounts"] if m["name"] == "config")
    assert env(web)["LAUNCHPAD_CONFIG_FILE"] == f"{mount['mountPath']}/config.yaml"


@pytest.mark.parametrize("config", [
    {"slack_bot_token": "xoxb-1"}, {"slack_signing_secret": "s"}, {"database_url": "postgresql://u:p@db/x"},
    {"github_credentials": {"default": {"token": "t"}}}, {"data_dir": "/elsewhere"},
])
def test_schema_refuses_secrets_and_chart_owned_settings_in_values(chart: helm.Chart, config: dict[str, Any]) -> None:
    with pytest.raises(helm.HelmError):
        chart.validate_schema(merge(defaults(), {"config": config}))


@pytest.mark.parametrize("overrides", [
    {"slack": {"mode": "events"}},
    {"securityContext": {"readOnlyRootFilesystem": False}},
    {"podSecurityContext": {"runAsNonRoot": False}},
    {"image": {"digest": "latest"}},
    {"aws": {"roleArn": "arn:aws:iam::1:role/x"}},
    {"ingress": {"enabled": True}},
    {"webReplicas": 2},
])
def test_schema_refuses_bad_values(chart: helm.Chart, overrides: dict[str, Any]) -> None:
    with pytest.raises(helm.HelmError):
        chart.validate_schema(merge(defaults(), overrides))
