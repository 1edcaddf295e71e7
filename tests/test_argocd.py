"""The gitops renderer: per-team AppProject + ApplicationSet, per service/environment config files.

Every object validates against the vendored Argo CD CRDs, including the Applications the
ApplicationSet generates from each config file; the properties that keep teams apart and deletions
safe are asserted one by one.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from provisioners import argocd
from provisioners.bindings import Bindings
from provisioners.blueprint import BlueprintRegistry
from provisioners.errors import PermanentError
from provisioners.k8s import ManifestError, object_problems, validate_manifests, validate_object
from provisioners.plan import RenderContext, plan_delete
from provisioners.platform import EnvironmentTarget, PlatformConfig, Team
from provisioners.spec import ServiceSpec, parse_spec

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))


@pytest.fixture(scope="module")
def ctx() -> RenderContext:
    return RenderContext(platform=PlatformConfig(), blueprints=BlueprintRegistry.load())


def load(example: str, ctx: RenderContext, **changes: Any) -> ServiceSpec:
    data = yaml.safe_load((ROOT / "examples" / f"{example}.yaml").read_text()) | changes
    return parse_spec(data, ctx.platform, ctx.blueprints)


def argo_policy_problem(project: str, role: str, policy: str) -> str | None:
    """Argo CD's own check of a project role policy (pkg/apis/application/v1alpha1, validatePolicy)."""
    parts = [p.strip() for p in policy.split(",")]
    if len(parts) != 6 or parts[0] != "p":
        return "must be 'p, sub, res, act, obj, eft'"
    if parts[1] != f"proj:{project}:{role}":
        return "subject must be the project's role"
    if parts[2] not in {"applications", "applicationsets", "logs", "exec", "clusters", "repositories"}:
        return "resource not project-scoped"
    if parts[3] not in {"get", "create", "update", "delete", "sync", "override", "*"} and not \
            re.match(r"^action/.*$", parts[3]):
        return "invalid action"
    if not re.match(rf"^{re.escape(project)}/[*\w.-]+$", parts[4]):
        return "object must be inside the project"
    if parts[5] not in {"allow", "deny"}:
        return "effect must be allow or deny"
    return None


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.stem for e in EXAMPLES])
def test_every_generated_object_validates_against_its_crd(example: Path, ctx: RenderContext) -> None:
    spec = parse_spec(yaml.safe_load(example.read_text()), ctx.platform, ctx.blueprints)
    cs = argocd.render(spec, ctx)
    kinds = []
    for path, content in cs.files.items():
        if "/argocd/" in path:
            kinds += [o["kind"] for o in validate_manifests(content, path)]
    assert sorted(kinds) == ["AppProject", "ApplicationSet"]
    apps = argocd.applications(spec, ctx)
    assert len(apps) == len(spec.environments)
    for app in apps:
        validate_object(app, "generated Application")


def test_layout_one_project_one_set_per_team_and_one_file_per_service_environment(ctx: RenderContext) -> None:
    spec = load("ranking-web", ctx)
    cs = argocd.render(spec, ctx)
    assert cs.repo == "gitops"
    assert sorted(cs.files) == [
        ".github/CODEOWNERS",  # the repository's notes and CODEOWNERS: the same from every service
        "LAUNCHPAD.md",
        "teams/search/argocd/applicationset.yaml",
        "teams/search/argocd/appproject.yaml",
        "teams/search/services/ranking-web/README.md",
        "teams/search/services/ranking-web/alpha.yaml",
        "teams/search/services/ranking-web/devel.yaml",
        "teams/search/services/ranking-web/prod.yaml",
    ]
    config = yaml.safe_load(cs.files["teams/search/services/ranking-web/prod.yaml"])
    assert config == {
        "service": "ranking-web",
        "environment": "prod",
        "namespace": "search-prod",
        "server": "https://kubernetes.default.svc",
        "createNamespace": False,
        "targetGroupName": "prod-ranking-web-tg",
        "securityGroupId": ctx.bindings.security_group_for("prod", "prod-ranking-web-pods"),
        "roleArn": "arn:aws:iam::333333333333:role/prod-ranking-web-irsa",
        "chartRevision": ctx.platform.chart_revision,  # no SRE pin: the platform's chart revision
        "nginxImage": "",  # no SRE pin: the chart's own sidecar images
        "filebeatImage": "",
    }


def test_applicationset_is_scoped_to_its_team_and_safe_to_delete(ctx: RenderContext) -> None:
    spec = load("ranking-web", ctx)
    appset = yaml.safe_load(argocd.render(spec, ctx).files["teams/search/argocd/applicationset.yaml"])
    s = appset["spec"]
    assert s["goTemplate"] is True
    assert s["goTemplateOptions"] == ["missingkey=error"]
    assert "preserveResourcesOnDeletion" not in s.get("syncPolicy", {})  # it would strip the finalizer below
    # the bootstrap Application never prunes or deletes the set (that would delete every team app at once)
    assert appset["metadata"]["annotations"] == {"argocd.argoproj.io/sync-options": "Prune=false,Delete=false"}
    assert [g["git"]["files"] for g in s["generators"]] == [[{"path": "teams/search/services/*/*.yaml"}]]
    assert s["generators"][0]["git"]["repoURL"] == "https://github.com/platform/gitops.git"
    template = s["template"]
    assert template["spec"]["project"] == "search"  # literal, not '{{ ... }}'
    assert "{{" not in yaml.safe_dump(template["spec"]["project"])
    # deleting an Application cascades to its workload, so delete can wait for the prune before destroying
    # the infrastructure under it
    assert template["metadata"]["finalizers"] == ["resources-finalizer.argocd.argoproj.io"]
    assert "finalizers" not in appset["metadata"]
    chart, values = template["spec"]["sources"]
    assert (chart["repoURL"], chart["path"], chart["targetRevision"]) == (
        ctx.platform.chart_repo_url, ctx.platform.chart_path, "{{ .chartRevision }}")  # from each service's file
    assert chart["helm"]["valueFiles"] == ["$values/teams/search/{{ .service }}/values.yaml",
                                           "$values/teams/search/{{ .service }}/values-{{ .environment }}.yaml"]
    assert chart["helm"]["valuesObject"]["platform"]["team"] == "search"
    assert values == {"repoURL": "https://github.com/platform/k8s-values.git", "targetRevision": "main",
                      "ref": "values"}


def test_generated_applications_carry_the_bindings_and_land_in_the_teams_namespaces(ctx: RenderContext) -> None:
    spec = load("ranking-web", ctx)
    project = argocd.appproject("search", ctx.platform)
    allowed = {(d["server"], d["namespace"]) for d in project["spec"]["destinations"]}
    for app in argocd.applications(spec, ctx):
        env = app["metadata"]["labels"]["launchpad.io/environment"]
        assert app["metadata"]["name"] == f"search-ranking-web-{env}"
        assert app["spec"]["project"] == "search"
        dest = app["spec"]["destination"]
        assert (dest["server"], dest["namespace"]) in allowed
        platform_block = app["spec"]["sources"][0]["helm"]["valuesObject"]["platform"]
        names = spec.names(env, ctx.platform)
        assert platform_block == {
            "team": "search", "service": "ranking-web", "environment": env,
            "targetGroupName": names.target_group,
            "securityGroupId": ctx.bindings.security_group_for(env, names.security_group),
            "roleArn": f"arn:aws:iam::{ctx.platform.target_for(env).account_id}:role/{names.iam_role}",
            "sidecarImages": {"nginx": "", "filebeat": ""},
        }
        assert app["spec"]["sources"][0]["targetRevision"] == ctx.platform.chart_revision
        assert "CreateNamespace=false" in app["spec"]["syncPolicy"]["syncOptions"]
        assert "{{" not in yaml.safe_dump(app)


def test_temporary_environment_works_the_same(ctx: RenderContext) -> None:
    spec = load("invoice-worker", ctx)
    cs = argocd.render(spec, ctx)
    config = yaml.safe_load(cs.files["teams/payments/services/invoice-worker/tmp-q4mig.yaml"])
    assert config["namespace"] == "payments-tmp-q4mig"
    assert config["createNamespace"] is True
    assert config["targetGroupName"] == ""  # a worker binds no target group
    [app] = argocd.applications(spec, ctx)
    assert "CreateNamespace=true" in app["spec"]["syncPolicy"]["syncOptions"]
    project = argocd.appproject("payments", ctx.platform)
    assert {"server": "https://kubernetes.default.svc", "namespace": "payments-tmp-*"} in \
        project["spec"]["destinations"]
    # The only cluster-scoped objects: the team's temporary namespaces, by name.
    assert project["spec"]["clusterResourceWhitelist"] == [
        {"group": "", "kind": "Namespace", "name": "payments-tmp-*"}]


def test_appproject_admits_only_the_teams_repos_namespaces_and_group(ctx: RenderContext) -> None:
    project = argocd.appproject("search", ctx.platform)
    assert project["metadata"]["finalizers"] == ["resources-finalizer.argocd.argoproj.io"]
    spec = project["spec"]
    assert spec["sourceRepos"] == ["https://github.com/platform/launchpad-chart.git",
                                   "https://github.com/platform/k8s-values.git"]
    assert sorted(d["namespace"] for d in spec["destinations"]) == [
        "search-alpha", "search-devel", "search-prod", "search-tmp-*"]
    [role] = spec["roles"]
    assert role["groups"] == ["search-devs"]
    for policy in role["policies"]:
        assert argo_policy_problem("search", role["name"], policy) is None, policy
    grants = {tuple(p.split(", ")[2:4]): p.split(", ")[5] for p in role["policies"]}
    assert grants[("applications", "sync")] == "allow"
    assert grants[("applications", "get")] == "allow"
    assert grants[("applications", "delete")] == "deny"
    assert grants[("applications", "override")] == "deny"
    assert all(p.split(", ")[4] == "search/*" for p in role["policies"])


def test_nothing_spans_teams(ctx: RenderContext) -> None:
    search = argocd.render(load("ranking-web", ctx), ctx)
    payments = argocd.render(load("invoice-worker", ctx), ctx)
    shared = set(argocd.shared_files(ctx))  # README and CODEOWNERS, identical for every team
    assert {p: c for p, c in search.files.items() if p in shared} == {p: c for p, c in payments.files.items()
                                                                      if p in shared}
    assert all(p.startswith("teams/search/") for p in set(search.files) - shared)
    assert all(p.startswith("teams/payments/") for p in set(payments.files) - shared)
    namespaces = {team: {d["namespace"] for d in argocd.appproject(team, ctx.platform)["spec"]["destinations"]}
                  for team in ctx.platform.teams}
    for team, mine in namespaces.items():
        for other, theirs in namespaces.items():
            if other != team:
                assert not mine & theirs
                assert not any(re.fullmatch(p.replace("*", ".*"), ns) for p in mine for ns in theirs)


def test_a_team_whose_globs_would_cover_another_teams_namespaces_is_refused() -> None:
    teams = {"search": Team(name="search"), "search-tmp": Team(name="search-tmp")}
    with pytest.raises(PermanentError, match="search-tmp"):
        argocd.appproject("search", PlatformConfig(teams=teams))


def test_gitops_path_must_separate_teams() -> None:
    with pytest.raises(PermanentError, match=r"\{team\}"):
        argocd.team_dir("search", PlatformConfig(gitops_path="apps"))


def test_configured_cluster_resources_and_namespaces_and_destinations() -> None:
    platform = PlatformConfig(
        teams={"search": Team(name="search", sso_group="g", namespaces=["search-a"],
                              cluster_resources=["networking.k8s.io/IngressClass"])},
        environments={"devel": EnvironmentTarget(argocd_destination="https://devel.example"),
                      "prod": EnvironmentTarget(argocd_destination="https://prod.example")},
    )
    project = argocd.appproject("search", platform)
    assert project["spec"]["destinations"] == [{"server": "https://devel.example", "namespace": "search-a"},
                                               {"server": "https://prod.example", "namespace": "search-a"}]
    assert {"group": "networking.k8s.io", "kind": "IngressClass"} in project["spec"]["clusterResourceWhitelist"]
    validate_object(project)


def test_missing_config_field_fails_like_missingkey_error(ctx: RenderContext) -> None:
    template = argocd.applicationset("search", ctx.platform)["spec"]["template"]
    config = argocd.service_config(load("ranking-web", ctx), ctx, "devel")
    del config["roleArn"]
    with pytest.raises(KeyError, match="roleArn"):
        argocd.expand(template, config)


def test_delete_removes_exactly_the_services_config_files(ctx: RenderContext) -> None:
    spec = load("ranking-web", ctx)
    [cs] = argocd.render_delete(spec, ctx, ["alpha", "prod"])
    assert cs.repo == "gitops" and not cs.files
    assert cs.deletes == ["teams/search/services/ranking-web/alpha.yaml", "teams/search/services/ranking-web/prod.yaml"]
    [everything] = argocd.render_delete(spec, ctx, [e.name for e in spec.environments])
    assert not any("/argocd/" in p for p in everything.deletes)  # the team's project and set stay
    # only the infra change that makes ECR and buckets destroyable (it removes nothing) may come before
    first = next(cs for cs in plan_delete(spec, ctx) if cs.deletes)
    assert first.repo == "gitops", "Applications go first, before the values and the infrastructure"


def test_rerender_is_identical_so_shared_team_files_do_not_change(ctx: RenderContext) -> None:
    one = load("ranking-web", ctx)
    two = load("ranking-web", ctx, name="ranking-api", domain="api.example.com", image=None)
    a, b = argocd.render(one, ctx), argocd.render(two, ctx)
    assert a.files == argocd.render(one, ctx).files
    for shared in ("teams/search/argocd/appproject.yaml", "teams/search/argocd/applicationset.yaml"):
        assert a.files[shared] == b.files[shared]


def test_bindings_from_the_infra_change_reach_the_config(ctx: RenderContext) -> None:
    bound = RenderContext(platform=ctx.platform, blueprints=ctx.blueprints,
                          bindings=Bindings(security_group_ids={"prod": "sg-0123456789abcdef0"}))
    spec = load("ranking-web", bound)
    assert argocd.service_config(spec, bound, "prod")["securityGroupId"] == "sg-0123456789abcdef0"


def test_crd_validation_is_strict(ctx: RenderContext) -> None:
    appset = argocd.applicationset("search", ctx.platform)
    appset["spec"]["syncPolicy"] = {"preserveResourcesOnDelete": True}  # a typo Argo CD would silently prune
    assert any("preserveResourcesOnDelete" in p for p in object_problems(appset))
    app = argocd.applications(load("ranking-web", ctx), ctx)[0]
    app["spec"]["destination"]["namespace"] = 42
    with pytest.raises(ManifestError, match="namespace"):
        validate_object(app)
    bad_name = argocd.appproject("search", ctx.platform)
    bad_name["metadata"]["name"] = "Search_Team"
    assert any("metadata.name" in p for p in object_problems(bad_name))
