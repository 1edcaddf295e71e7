"""The values renderer and the SRE chart, rendered for real with Helm (helm-python-sdk, offline).

Every example renders, for every environment, to objects that validate (Kubernetes 1.30 schemas for
built-in kinds, the vendored CRDs for the rest); the values come from the values files LaunchPad
writes plus the platform block the team's ApplicationSet passes, merged the way Argo CD asks Helm to
(value files in order, then valuesObject).
"""

from __future__ import annotations

import copy
import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import helm_python as helm
import pytest
import yaml

from provisioners import argocd
from provisioners import helm as helm_values
from provisioners.bindings import Bindings
from provisioners.blueprint import BlueprintRegistry
from provisioners.k8s import CHART_DIR, developer_values_problems, validate_manifests
from provisioners.plan import RenderContext, plan
from provisioners.platform import PlatformConfig
from provisioners.render import GeneratedFileError
from provisioners.spec import ServiceSpec, parse_spec

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
PLATFORM_KEYS = {"team", "service", "environment", "targetGroupName", "securityGroupId", "roleArn"}


@pytest.fixture(scope="module")
def ctx() -> RenderContext:
    return RenderContext(platform=PlatformConfig(), blueprints=BlueprintRegistry.load())


@pytest.fixture(scope="module")
def chart() -> Iterator[helm.Chart]:
    with helm.Chart.load(CHART_DIR) as loaded:
        yield loaded


def load_example(path: Path, ctx: RenderContext) -> ServiceSpec:
    return parse_spec(yaml.safe_load(path.read_text()), ctx.platform, ctx.blueprints)


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Helm's merge of successive -f files: maps merge key by key, anything else is replaced."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def argo_values(spec: ServiceSpec, ctx: RenderContext, env: str, files: dict[str, str] | None = None) -> dict[str, Any]:
    """What Argo CD hands Helm for one Application: its valueFiles in order, then its valuesObject."""
    app = next(a for a in argocd.applications(spec, ctx) if a["metadata"]["labels"]["launchpad.io/environment"] == env)
    source = app["spec"]["sources"][0]["helm"]
    files = files if files is not None else helm_values.render(spec, ctx).files
    merged: dict[str, Any] = {}
    for ref in source["valueFiles"]:
        merged = deep_merge(merged, yaml.safe_load(files[ref.removeprefix("$values/")]) or {})
    return deep_merge(merged, source["valuesObject"])


def render_chart(chart: helm.Chart, values: dict[str, Any], spec: ServiceSpec, env: str) -> list[dict[str, Any]]:
    chart.validate_schema(values)
    manifests = chart.render(values=values, name=spec.name, namespace=f"{spec.team}-{env}")
    objects: list[dict[str, Any]] = []
    for path, text in sorted(manifests.items()):
        objects += validate_manifests(text, path)
    return objects


def example_cases() -> list[tuple[Path, str]]:
    ctx = RenderContext(platform=PlatformConfig(), blueprints=BlueprintRegistry.load())
    return [(path, env.name) for path in EXAMPLES for env in load_example(path, ctx).environments]


# --- the chart, rendered for real -----------------------------------------------------------------------
@pytest.mark.parametrize(("example", "env"), example_cases(), ids=lambda v: v.stem if isinstance(v, Path) else v)
def test_every_example_renders_to_valid_objects(example: Path, env: str, ctx: RenderContext,
                                                chart: helm.Chart) -> None:
    spec = load_example(example, ctx)
    values = argo_values(spec, ctx, env)
    objects = render_chart(chart, values, spec, env)
    by_kind = {o["kind"]: o for o in objects}
    web = "target_group" in ctx.blueprint(spec).components
    expected = {"Deployment", "Service", "ServiceAccount", "Role", "RoleBinding", "ConfigMap", "SecurityGroupPolicy"}
    expected |= {"TargetGroupBinding"} if web else set()
    assert set(by_kind) == expected | ({"PodDisruptionBudget"} if values["replicas"] > 1 else set())
    assert len([o for o in objects if o["kind"] == "ConfigMap"]) == 2
    names = spec.names(env, ctx.platform)
    assert by_kind["ServiceAccount"]["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].endswith(
        f":role/{names.iam_role}")
    groups = by_kind["SecurityGroupPolicy"]["spec"]["securityGroups"]["groupIds"]
    assert groups == [ctx.bindings.security_group_for(env, names.security_group)]
    if web:
        tgb = by_kind["TargetGroupBinding"]["spec"]
        assert tgb == {"targetGroupName": names.target_group, "targetType": "ip",
                       "serviceRef": {"name": spec.name, "port": 80}}
    pod = by_kind["Deployment"]["spec"]["template"]["spec"]
    assert [c["name"] for c in pod["containers"]] == ["app", "nginx", "filebeat"]
    assert by_kind["Deployment"]["spec"]["replicas"] == values["replicas"]
    assert by_kind["Deployment"]["metadata"]["annotations"]["launchpad.io/description"] == spec.description
    # Every kind the chart renders is one the team's AppProject admits.
    admitted = {(g["group"], g["kind"]) for g in argocd.appproject(spec.team, ctx.platform)["spec"]
                ["namespaceResourceWhitelist"]}
    assert {(o["apiVersion"].rpartition("/")[0], o["kind"]) for o in objects} <= admitted


def test_nginx_sidecar_proxies_to_the_app_and_probes_use_the_health_path(ctx: RenderContext,
                                                                         chart: helm.Chart) -> None:
    spec = load_example(ROOT / "examples" / "ranking-web.yaml", ctx)
    objects = render_chart(chart, argo_values(spec, ctx, "prod"), spec, "prod")
    deployment = next(o for o in objects if o["kind"] == "Deployment")
    app, nginx, filebeat = deployment["spec"]["template"]["spec"]["containers"]
    assert app["ports"][0]["containerPort"] == 8080
    assert nginx["ports"][0]["containerPort"] == helm_values.PROXY_PORT
    assert app["readinessProbe"]["httpGet"]["path"] == "/healthz"
    assert nginx["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert filebeat["ports"][0]["containerPort"] == 9601
    for container in (app, nginx, filebeat):
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert container["resources"]["limits"]["memory"] == container["resources"]["requests"]["memory"]
    assert deployment["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True
    nginx_conf = next(o for o in objects if o["metadata"]["name"] == "ranking-web-nginx")["data"]["default.conf"]
    assert "listen 8081;" in nginx_conf
    assert "proxy_pass http://127.0.0.1:8080;" in nginx_conf
    service = next(o for o in objects if o["kind"] == "Service")
    assert service["spec"]["ports"] == [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]


def test_chart_lints_clean_with_every_example(ctx: RenderContext) -> None:
    for example, env in example_cases():
        spec = load_example(example, ctx)
        report = helm.lint(CHART_DIR, argo_values(spec, ctx, env), strict=True, kube_version="v1.30.0")
        assert report["messages"] == [] and report["errors"] == [], (example.name, env, report)


def test_chart_refuses_to_render_without_the_platform_block(ctx: RenderContext, chart: helm.Chart) -> None:
    spec = load_example(ROOT / "examples" / "ranking-web.yaml", ctx)
    values = argo_values(spec, ctx, "devel")
    del values["platform"]
    with pytest.raises(helm.HelmError, match="platform"):
        chart.validate_schema(values)
    report = helm.lint(CHART_DIR, values)
    assert report["errors"], "lint must fail without the platform block"


@pytest.mark.parametrize(("path", "bad"), [
    (("platform", "targetGroupName"), "x" * 33),
    (("platform", "securityGroupId"), "sg-NOTHEX"),
    (("platform", "roleArn"), "arn:aws:iam::1:role/x"),
    (("platform", "extra"), "anything"),
    (("port",), 8081),
    (("port",), 0),
    (("replicas",), -1),
    (("resources", "cpu"), "lots"),
    (("image", "tag"), "has space"),
    (("env",), {"AWS_ROLE_ARN": "arn:aws:iam::999999999999:role/other"}),
    (("sidecars", "nginx", "image"), "nginx"),
    (("unknownKey",), 1),
])
def test_chart_schema_rejects_invalid_values(path: tuple[str, ...], bad: Any, ctx: RenderContext,
                                             chart: helm.Chart) -> None:
    spec = load_example(ROOT / "examples" / "ranking-web.yaml", ctx)
    values = chart.merge_values(argo_values(spec, ctx, "devel"))
    chart.validate_schema(values)
    target = values
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = bad
    with pytest.raises(helm.HelmError):
        chart.validate_schema(values)


def test_platform_block_wins_over_a_values_file_that_sneaks_one_in(ctx: RenderContext, chart: helm.Chart) -> None:
    spec = load_example(ROOT / "examples" / "ranking-web.yaml", ctx)
    files = dict(helm_values.render(spec, ctx).files)
    hostile = {"platform": {"targetGroupName": "prod-payments-api-tg", "securityGroupId": "sg-0badbadbadbadbad0",
                            "roleArn": "arn:aws:iam::333333333333:role/prod-payments-api-irsa",
                            "service": "payments-api", "team": "payments", "environment": "prod"}}
    path = helm_values.environment_file(spec, ctx, "devel")
    files[path] = files[path] + yaml.safe_dump(hostile)
    assert any("platform" in p for p in developer_values_problems(yaml.safe_load(files[path])))
    objects = render_chart(chart, argo_values(spec, ctx, "devel", files), spec, "devel")
    tgb = next(o for o in objects if o["kind"] == "TargetGroupBinding")
    assert tgb["spec"]["targetGroupName"] == "devel-ranking-web-tg"
    sgp = next(o for o in objects if o["kind"] == "SecurityGroupPolicy")
    assert sgp["spec"]["securityGroups"]["groupIds"] != ["sg-0badbadbadbadbad0"]
    sa = next(o for o in objects if o["kind"] == "ServiceAccount")
    assert sa["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].endswith(":role/devel-ranking-web-irsa")
    assert {o["metadata"]["name"] for o in objects} >= {"ranking-web"}
    assert all(o["metadata"]["labels"]["launchpad.io/team"] == "search" for o in objects)


# --- the values files ---------------------------------------------------------------------------------------
def test_values_files_per_service_and_environment(ctx: RenderContext) -> None:
    spec = load_example(ROOT / "examples" / "ranking-web.yaml", ctx)
    cs = helm_values.render(spec, ctx)
    assert cs.repo == "values"
    folder = "teams/search/ranking-web"  # per-team paths (platform.values_path)
    values = [f"{folder}/values-alpha.yaml", f"{folder}/values-devel.yaml", f"{folder}/values-prod.yaml",
              f"{folder}/values.yaml"]
    assert sorted(cs.files) == sorted([*values, f"{folder}/README.md", "LAUNCHPAD.md", ".github/CODEOWNERS"])
    shared = yaml.safe_load(cs.files[f"{folder}/values.yaml"])
    assert shared == {
        "description": spec.description,
        "port": 8080,
        "healthCheckPath": "/healthz",
    }
    image = {"repository": "111111111111.dkr.ecr.eu-west-1.amazonaws.com/search/ranking-web", "tag": "1.4.2"}
    per_env = {env: yaml.safe_load(cs.files[f"{folder}/values-{env}.yaml"]) for env in cs.environments}
    resources = {"cpu": "500m", "memory": "1Gi"}  # the service's own, in every environment
    assert per_env == {"devel": {"image": image, "replicas": 1, "resources": resources},
                       "alpha": {"image": image, "replicas": 2, "resources": resources},
                       "prod": {"image": image, "replicas": 4, "resources": resources}}  # promotions move the image
    for path in values:
        assert developer_values_problems(yaml.safe_load(cs.files[path])) == [], path
        assert "platform" not in yaml.safe_load(cs.files[path])


def test_default_image_is_the_services_own_ecr_repository(ctx: RenderContext) -> None:
    spec = load_example(ROOT / "examples" / "invoice-worker.yaml", ctx)
    image = {"repository": f"{ctx.platform.registry_host()}/payments/invoice-worker", "tag": helm_values.BOOTSTRAP_TAG}
    assert "image" not in helm_values.shared_values(spec, ctx)
    assert helm_values.environment_values(spec, ctx, "tmp-q4mig") == {
        "image": image, "replicas": 1, "resources": {"cpu": "100m", "memory": "256Mi"}}  # the worker blueprint's


@pytest.mark.parametrize(("image", "expected"), [
    ("registry.local:5000/team/app:2.0", {"repository": "registry.local:5000/team/app", "tag": "2.0"}),
    ("team/app", {"repository": "team/app", "tag": "latest"}),
    ("team/app:1@sha256:" + "a" * 64, {"repository": "team/app", "tag": "1", "digest": "sha256:" + "a" * 64}),
])
def test_image_reference_is_split_into_repository_tag_and_digest(image: str, expected: dict[str, str],
                                                                 ctx: RenderContext) -> None:
    data = yaml.safe_load((ROOT / "examples" / "ranking-web.yaml").read_text()) | {"image": image}
    spec = parse_spec(data, ctx.platform, ctx.blueprints)
    assert helm_values.environment_values(spec, ctx, "devel")["image"] == expected


def test_delete_removes_env_files_and_values_yaml_only_with_the_last_environment(ctx: RenderContext) -> None:
    spec = load_example(ROOT / "examples" / "ranking-web.yaml", ctx)
    [partial] = helm_values.render_delete(spec, ctx, ["devel"])
    assert partial.deletes == ["teams/search/ranking-web/values-devel.yaml"] and not partial.files
    [full] = helm_values.render_delete(spec, ctx, ["devel", "alpha", "prod"])
    shared = set(helm_values.shared_files(ctx))  # the repository's README and CODEOWNERS serve every service
    assert sorted(full.deletes) == sorted(set(helm_values.render(spec, ctx).files) - shared)
    assert helm_values.render_delete(spec, ctx, []) == []


def test_values_path_is_configurable(ctx: RenderContext) -> None:
    platform = PlatformConfig(values_path="apps/{team}/{service}")
    custom = RenderContext(platform=platform, blueprints=ctx.blueprints, bindings=Bindings())
    spec = load_example(ROOT / "examples" / "ranking-web.yaml", custom)
    assert "apps/search/ranking-web/values.yaml" in helm_values.render(spec, custom).files
    app = argocd.applications(spec, custom)[0]
    assert app["spec"]["sources"][0]["helm"]["valueFiles"][0] == "$values/apps/search/ranking-web/values.yaml"


def test_plan_shows_values_and_gitops_files(ctx: RenderContext) -> None:
    spec = load_example(ROOT / "examples" / "ranking-web.yaml", ctx)
    repos = {cs.repo: cs for cs in plan(spec, ctx)}
    assert "teams/search/ranking-web/values.yaml" in repos["values"].files
    assert "teams/search/services/ranking-web/prod.yaml" in repos["gitops"].files


# --- the developer schema ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("data", "needle"), [
    ({"platform": {"targetGroupName": "x"}}, "platform: set by the platform"),
    ({"sidecars": {}}, "sidecars: SRE-owned"),
    ({"pod": {"runAsUser": 0}}, "pod: SRE-owned"),
    ({"fullnameOverride": "x"}, "fullnameOverride: not a value of this chart"),
    ({"image": {"repository": "a/b", "pullPolicy": "Always"}}, "image"),
    ({"env": {"AWS_ROLE_ARN": "x"}}, "env"),
    ({"port": 9601}, "port"),
    ({"replicas": "3"}, "replicas"),
])
def test_developer_schema_rejects_what_is_not_the_developers(data: dict[str, Any], needle: str) -> None:
    problems = developer_values_problems(data)
    assert problems and any(needle in p for p in problems), problems


def test_developer_schema_accepts_partial_files() -> None:
    assert developer_values_problems({"replicas": 3}) == []
    assert developer_values_problems({"env": {"LOG_LEVEL": "debug"}, "resources": {"memory": "2Gi"}}) == []
    assert developer_values_problems(None) == []


def test_renderer_refuses_to_write_values_the_schema_rejects(ctx: RenderContext, tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    shutil.copytree(CHART_DIR.parent / "blueprints", templates / "blueprints")
    (templates / "chart").mkdir()
    schema = json.loads((CHART_DIR / "values.schema.json").read_text())
    schema["properties"]["port"]["maximum"] = 1000  # a stricter chart than the spec allows for
    (templates / "chart" / "values.schema.json").write_text(json.dumps(schema))
    strict = RenderContext(platform=ctx.platform, blueprints=ctx.blueprints, templates_dir=templates)
    spec = load_example(ROOT / "examples" / "ranking-web.yaml", strict)
    with pytest.raises(GeneratedFileError, match="port"):
        helm_values.render(spec, strict)


def test_sre_knobs_render_valid_objects(ctx: RenderContext, chart: helm.Chart) -> None:
    spec = load_example(ROOT / "examples" / "ranking-web.yaml", ctx)
    values = deep_merge(argo_values(spec, ctx, "devel"), {
        "serviceAccount": {"automountToken": True},
        "rbac": {"extraRules": [{"apiGroups": ["coordination.k8s.io"], "resources": ["leases"],
                                 "verbs": ["get", "create", "update"]}]},
    })
    objects = render_chart(chart, chart.merge_values(values), spec, "devel")
    role = next(o for o in objects if o["kind"] == "Role")
    assert [r["resources"] for r in role["rules"]] == [["configmaps"], ["leases"]]
    assert next(o for o in objects if o["kind"] == "ServiceAccount")["automountServiceAccountToken"] is True


def test_chart_never_evaluates_values_as_templates() -> None:
    """`tpl` would turn a `{{ ... }}` in a developer value into template code."""
    for template in (CHART_DIR / "templates").iterdir():
        assert not re.search(r"\btpl\b", template.read_text()), template.name
