"""Planning a bulk change (pure): selectors, pins, one change set per repository with only the files that
change, and renders that keep a pin once it is recorded."""

from __future__ import annotations

import dataclasses

import pytest
import yaml

from provisioners import argocd, terragrunt
from provisioners.blueprint import BlueprintRegistry
from provisioners.bulk import BulkChange, BulkTarget, Selector, plan_bulk
from provisioners.errors import InvalidSpecError, PermanentError
from provisioners.plan import RenderContext, plan
from provisioners.platform import PlatformConfig
from provisioners.spec import Pins, ServiceSpec, parse_spec
from tests.bulk.support import fleet, web_spec, worker_spec

FILEBEAT = "docker.elastic.co/beats/filebeat:8.15.0"


@pytest.fixture(scope="module")
def ctx() -> RenderContext:
    return RenderContext(platform=PlatformConfig(), blueprints=BlueprintRegistry.load())


@pytest.fixture(scope="module")
def targets(ctx: RenderContext) -> list[BulkTarget]:
    specs = [*fleet(12), worker_spec("queue-worker", team="payments", envs=("devel", "alpha"))]
    return [BulkTarget(parse_spec(data, ctx.platform, ctx.blueprints)) for data in specs]


def files(spec: ServiceSpec, ctx: RenderContext) -> dict[tuple[str, str], str]:
    return {(cs.repo, path): content for cs in plan(spec, ctx) for path, content in cs.files.items()}


def test_selector_criteria_all_hold(targets: list[BulkTarget]) -> None:
    specs = [t.spec for t in targets]
    assert [s.name for s in specs if Selector(team="payments").matches(s)] == [
        "svc-001", "svc-003", "svc-005", "svc-007", "svc-009", "svc-011", "queue-worker"]
    assert [s.name for s in specs if Selector(team="payments", blueprint="worker").matches(s)] == ["queue-worker"]
    assert [s.name for s in specs if Selector(environment="alpha", blueprint="worker").matches(s)] == ["queue-worker"]
    assert not any(Selector(blueprint="worker", environment="prod").matches(s) for s in specs)
    assert [s.name for s in specs if Selector(services=["svc-002", "svc-004"]).matches(s)] == ["svc-002", "svc-004"]
    assert all(Selector().matches(s) for s in specs) and Selector().describe() == "every service"
    assert Selector(team="search", environment="prod").describe() == "team search, environment prod"


def test_chart_revision_is_one_gitops_change_set_with_only_the_service_files(
        targets: list[BulkTarget], ctx: RenderContext) -> None:
    result = plan_bulk(targets, Selector(team="search"), BulkChange(kind="chart_revision", value="v1.2.0"), ctx)
    assert [c.spec.name for c in result.changes] == [f"svc-{i:03d}" for i in range(0, 12, 2)]
    [cs] = result.changesets
    assert cs.repo == "gitops" and cs.deletes == []
    # three environment files per service; the team's AppProject and ApplicationSet do not change
    assert sorted(cs.files) == sorted(f"teams/search/services/svc-{i:03d}/{env}.yaml"
                                      for i in range(0, 12, 2) for env in ("devel", "alpha", "prod"))
    assert all(yaml.safe_load(content)["chartRevision"] == "v1.2.0" for content in cs.files.values())
    assert cs.environments == result.environments == ["devel", "alpha", "prod"]
    assert "chart revision v1.2.0" in cs.title and "6 services" in cs.title and "team search" in cs.title
    preview = result.preview()
    assert (preview.matched, len(preview.services), preview.repositories, preview.files) == (6, 6, {"gitops": 18}, 18)
    assert preview.services[0].files == {"gitops": [f"teams/search/services/svc-000/{e}.yaml"
                                                    for e in ("alpha", "devel", "prod")]}


def test_module_version_in_one_environment_touches_only_that_package(targets: list[BulkTarget],
                                                                     ctx: RenderContext) -> None:
    change = BulkChange(kind="module_version", target="rds", value="7.3.0")
    result = plan_bulk(targets, Selector(environment="prod"), change, ctx)
    with_rds = [t.spec.name for t in targets if t.spec.components.rds is not None]
    assert [c.spec.name for c in result.changes] == with_rds  # the others match but have no rds package
    assert sorted(result.unchanged) == sorted(t.spec.name for t in targets
                                              if t.spec.name not in with_rds and Selector(environment="prod")
                                              .matches(t.spec))
    [cs] = result.changesets
    assert cs.repo == "infra" and cs.environments == ["prod"]
    assert sorted(cs.files) == sorted(f"333333333333/eu-west-1/prod/{t.spec.team}/{t.spec.name}/rds/terragrunt.hcl"
                                      for t in targets if t.spec.name in with_rds)
    assert all('source = "tfr:///terraform-aws-modules/rds/aws?version=7.3.0"' in c for c in cs.files.values())
    pins = result.changes[0].spec.pins
    assert pins.modules == {} and pins.environments["prod"].modules == {"rds": "7.3.0"}


def test_sidecar_image_service_wide_replaces_environment_pins(ctx: RenderContext) -> None:
    spec = parse_spec(web_spec("ranking-web") | {"pins": {"environments": {"prod": {"sidecars": {
        "filebeat": "docker.elastic.co/beats/filebeat:8.14.0"}}}}}, ctx.platform, ctx.blueprints)
    change = BulkChange(kind="sidecar_image", target="filebeat", value=FILEBEAT)
    moved = change.apply(spec)
    assert moved.pins == Pins(sidecars={"filebeat": FILEBEAT})  # the prod pin yields: every env ends on the new image
    for env in ("devel", "alpha", "prod"):
        assert argocd.service_config(moved, ctx, env)["filebeatImage"] == FILEBEAT
        assert argocd.service_config(moved, ctx, env)["nginxImage"] == ""  # unpinned: the chart's default
    result = plan_bulk([BulkTarget(spec)], Selector(), change, ctx)
    assert sorted(result.changesets[0].files) == [f"teams/search/services/ranking-web/{e}.yaml"
                                                  for e in ("alpha", "devel", "prod")]


def test_a_pin_survives_every_later_render(targets: list[BulkTarget], ctx: RenderContext) -> None:
    change = BulkChange(kind="chart_revision", value="v1.2.0")
    first = plan_bulk(targets, Selector(team="search"), change, ctx)
    pinned = [BulkTarget(c.spec) for c in first.changes]
    again = plan_bulk(pinned, Selector(team="search"), change, ctx)
    assert again.changes == [] and again.changesets == [] and again.unchanged == [t.spec.name for t in pinned]
    for target in pinned:  # what the next ordinary request renders: the pinned files as the bulk wrote them
        rendered = files(target.spec, ctx)
        for path, content in first.changesets[0].files.items():
            if f"/{target.spec.name}/" in path:
                assert rendered[("gitops", path)] == content


def test_bindings_of_each_service_reach_its_files(targets: list[BulkTarget], ctx: RenderContext) -> None:
    from provisioners.bindings import Bindings

    bound = dataclasses.replace(targets[0], bindings=Bindings(security_group_ids={"prod": "sg-0123456789abcdef0"}))
    result = plan_bulk([bound], Selector(), BulkChange(kind="chart_revision", value="v2.0.0"), ctx)
    prod = yaml.safe_load(result.changesets[0].files[f"teams/search/services/{bound.spec.name}/prod.yaml"])
    assert prod["securityGroupId"] == "sg-0123456789abcdef0"


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"kind": "module_version", "target": "rds", "value": "7.3?x"}, "not a version"),
    ({"kind": "module_version", "value": "7.3.0"}, "module key"),
    ({"kind": "chart_revision", "value": "v1..0"}, "not a git tag"),
    ({"kind": "chart_revision", "target": "x", "value": "v1.2.0"}, "no target"),
    ({"kind": "sidecar_image", "target": "envoy", "value": FILEBEAT}, "nginx, filebeat"),
    ({"kind": "sidecar_image", "target": "filebeat", "value": "filebeat latest"}, "registry/repository:tag"),
])
def test_a_bad_change_says_what_is_accepted(kwargs: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        BulkChange(**kwargs)


def test_a_module_no_package_uses_is_refused(targets: list[BulkTarget], ctx: RenderContext) -> None:
    with pytest.raises(PermanentError, match=r"pin one of: .*rds"):
        plan_bulk(targets, Selector(), BulkChange(kind="module_version", target="alb", value="10.6.0"), ctx)
    assert "target_group" not in terragrunt.pinnable_modules(ctx.platform)  # the local module has no version


def test_spec_pins_are_validated_like_everything_else(ctx: RenderContext) -> None:
    with pytest.raises(InvalidSpecError) as bad:
        parse_spec(web_spec("ranking-web", envs=("devel",)) | {"pins": {"environments": {"prod": {
            "chart_revision": "v1.2.0"}}}}, ctx.platform, ctx.blueprints)
    assert "pins.environments.prod" in bad.value.errors
    with pytest.raises(InvalidSpecError) as bad:
        parse_spec(web_spec("ranking-web") | {"pins": {"sidecars": {"envoy": FILEBEAT}}}, ctx.platform,
                   ctx.blueprints)
    assert any(k.startswith("pins.sidecars") for k in bad.value.errors)
    with pytest.raises(PermanentError, match="pins module alb"):
        plan(parse_spec(web_spec("ranking-web") | {"pins": {"modules": {"alb": "10.6.0"}}}, ctx.platform,
                        ctx.blueprints), ctx)


# --- GitHub Action pins: one pull request per service repository -------------------------------------------
CHECKOUT = "v4.3.0@" + "b" * 40


def test_action_pin_is_one_change_set_per_service_repository(targets: list[BulkTarget], ctx: RenderContext) -> None:
    change = BulkChange(kind="action_pin", target="checkout", value=CHECKOUT)
    result = plan_bulk(targets, Selector(team="payments"), change, ctx)
    moved = [c.spec.name for c in result.changes]
    assert moved == ["queue-worker", *(f"svc-{i:03d}" for i in range(1, 12, 2))]
    assert [cs.repo for cs in result.changesets] == sorted(f"service/{name}" for name in moved)
    for cs in result.changesets:
        assert list(cs.files) == [".github/workflows/launchpad-deploy.yaml"]  # its README does not change
        assert cs.files[".github/workflows/launchpad-deploy.yaml"].count(f"@{'b' * 40} # v4.3.0") == 2
        assert cs.repo.split("/", 1)[1] in cs.title
    assert all(c.spec.pins.actions == {"checkout": CHECKOUT} for c in result.changes)
    # a recorded pin is kept by the next render, and a second bulk change finds nothing to do
    again = plan_bulk([BulkTarget(c.spec) for c in result.changes], Selector(), change, ctx)
    assert again.changes == [] and sorted(again.unchanged) == sorted(moved)


def test_action_pin_step_plans_only_its_own_repository(targets: list[BulkTarget], ctx: RenderContext) -> None:
    change = BulkChange(kind="action_pin", target="ecr", value="v2.0.2@" + "c" * 40)
    [cs] = plan_bulk(targets, Selector(), change, ctx, repos=["service/svc-004"]).changesets
    assert cs.repo == "service/svc-004"


@pytest.mark.parametrize(("change", "selector", "needle"), [
    (dict(kind="action_pin", target="checkout", value="v4.3.0"), Selector(), "TAG@SHA"),
    (dict(kind="action_pin", target="setup-go", value=CHECKOUT), Selector(), "pinned table"),
    (dict(kind="action_pin", target="checkout", value=CHECKOUT), Selector(environment="prod"), "every environment"),
])
def test_bad_action_pins_are_refused(change: dict[str, str], selector: Selector, needle: str,
                                     targets: list[BulkTarget], ctx: RenderContext) -> None:
    with pytest.raises((PermanentError, ValueError), match=needle):
        plan_bulk(targets, selector, BulkChange(**change), ctx)
