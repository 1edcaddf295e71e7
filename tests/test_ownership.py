"""Tenancy and ownership in what LaunchPad writes: each repository's CODEOWNERS (checked by resolving every
generated file the way GitHub does), READMEs per repository and service folder, per-team paths, and the
gitops policy check that refuses a service config naming another service's AWS resources."""

from __future__ import annotations

import fnmatch
from pathlib import Path
from typing import Any

import pytest
import yaml

from provisioners import argocd, ci, helm, infra_ci, ownership, tenancy, terragrunt
from provisioners.blueprint import BlueprintRegistry
from provisioners.errors import PermanentError
from provisioners.plan import RenderContext, plan, plan_delete
from provisioners.platform import PlatformConfig, Team
from provisioners.spec import ServiceSpec, parse_spec

ROOT = Path(__file__).resolve().parent.parent
CTX = RenderContext(platform=PlatformConfig(), blueprints=BlueprintRegistry.load())
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
SRE = ("@example/sre",)
SHARED_REPOS = ("infra", "values", "gitops")


def example(path: Path, ctx: RenderContext = CTX) -> ServiceSpec:
    return parse_spec(yaml.safe_load(path.read_text()), ctx.platform, ctx.blueprints)


def trees(spec: ServiceSpec, ctx: RenderContext = CTX) -> dict[str, dict[str, str]]:
    return {cs.repo: cs.files for cs in plan(spec, ctx)}


def owners(codeowners: str, path: str) -> tuple[str, ...]:
    """Who GitHub asks to review `path`: the last matching line wins (gitignore-style patterns)."""
    found: tuple[str, ...] = ()
    for line in codeowners.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        pattern, *names = line.split()
        if _matches(pattern, path):
            found = tuple(names)
    return found


def _matches(pattern: str, path: str) -> bool:
    if pattern == "*":
        return True
    assert pattern.startswith("/") and pattern.endswith("/"), pattern  # all ours are anchored directories
    wanted = pattern.strip("/").split("/")
    parts = path.split("/")
    return len(parts) > len(wanted) and all(fnmatch.fnmatchcase(p, w) for p, w in zip(parts, wanted, strict=False))


@pytest.mark.parametrize("repo", SHARED_REPOS)
def test_codeowners_and_notes_are_the_same_from_every_service(repo: str) -> None:
    shared = {ownership.CODEOWNERS_FILE, ownership.REPOSITORY_NOTES}
    seen = {}
    for path in EXAMPLES:  # services of two teams, two blueprints
        files = trees(example(path))[repo]
        assert shared <= set(files), (path.name, repo)
        seen[path.stem] = {p: files[p] for p in shared}
    assert len({tuple(sorted(v.items())) for v in seen.values()}) == 1


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_every_generated_file_resolves_to_its_owners(path: Path) -> None:
    spec = example(path)
    team = ("@example/" + spec.team, *SRE)
    files = trees(spec)
    for repo in SHARED_REPOS:
        codeowners = files[repo][ownership.CODEOWNERS_FILE]
        for name in files[repo]:
            got = owners(codeowners, name)
            if name in (ownership.CODEOWNERS_FILE, ownership.REPOSITORY_NOTES, terragrunt.ROOT_FILE) \
                    or (repo == "infra" and name in infra_ci.files(CTX)) \
                    or name.startswith(("modules/", "teams/" + spec.team + "/argocd/")):
                assert got == SRE, (repo, name)
            elif repo == "infra" and name.split("/")[-2] in terragrunt.ACCESS_PACKAGES:
                assert got == SRE, (repo, name)  # IAM and security groups: SRE alone
            else:
                assert got == team, (repo, name)
    # another team's paths are never this team's
    other = "payments" if spec.team == "search" else "search"
    values = files["values"][ownership.CODEOWNERS_FILE]
    assert owners(values, f"teams/{other}/x/values.yaml") == ("@example/" + other, *SRE)


def test_a_team_without_a_github_team_and_a_layout_without_team_fall_back_to_sre() -> None:
    teams = {**CTX.platform.teams, "search": Team(name="search", sso_group="search-devs")}
    platform = PlatformConfig(teams=teams, values_path="services/{service}")
    ctx = RenderContext(platform=platform, blueprints=CTX.blueprints)
    spec = example(ROOT / "examples" / "ranking-web.yaml", ctx)
    files = trees(spec, ctx)
    infra = files["infra"][ownership.CODEOWNERS_FILE]
    assert owners(infra, terragrunt.package_path(spec, platform, "prod", "dns")) == SRE
    values = files["values"][ownership.CODEOWNERS_FILE]
    assert "values_path has no {team} segment" in values
    assert owners(values, helm.values_file(spec, ctx)) == SRE


def test_readmes_per_repository_and_service_folder_without_free_text() -> None:
    data = yaml.safe_load((ROOT / "examples" / "ranking-web.yaml").read_text())
    data["description"] = "MARKER <b>[link](https://evil.example)</b>"
    spec = parse_spec(data, CTX.platform, CTX.blueprints)
    files = trees(spec)
    readmes = {f"{repo}:{p}": text for repo, tree in files.items() for p, text in tree.items()
               if p.endswith((ownership.README_FILE, ownership.REPOSITORY_NOTES))}
    assert {k for k in readmes if k.endswith(ownership.REPOSITORY_NOTES)} == {f"{r}:LAUNCHPAD.md" for r in SHARED_REPOS}
    folders = {k.rsplit("/", 1)[0] for k in readmes if k.endswith("/README.md")}
    infra_folders = {f"infra:{terragrunt.package_path(spec, CTX.platform, env, 'dns').rsplit('/', 2)[0]}"
                     for env in ("devel", "alpha", "prod")}
    assert infra_folders <= folders
    assert {"values:teams/search/ranking-web", "gitops:teams/search/services/ranking-web"} <= folders
    assert f"service:{ci.README_PATH}" in readmes
    for where, text in readmes.items():
        assert "MARKER" not in text, where  # only validated names reach a README
        assert "## How to change it" in text and ("| file |" in text or "| path |" in text), where


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_deleting_the_service_removes_its_folder_readmes_and_never_the_shared_files(path: Path) -> None:
    spec = example(path)
    created = {(repo, p) for repo, tree in trees(spec).items() for p in tree}
    deleted = {(cs.repo, p) for cs in plan_delete(spec, CTX) for p in cs.deletes}
    readmes = {(repo, p) for repo, p in created if p.endswith("/" + ownership.README_FILE) or p == ci.README_PATH}
    assert readmes <= deleted
    assert not {(r, p) for r, p in deleted if p in (ownership.CODEOWNERS_FILE, ownership.REPOSITORY_NOTES)}


# --- tenancy: a service config names only its own resources ----------------------------------------------
def gitops_tree(*specs: ServiceSpec) -> dict[str, str]:
    out: dict[str, str] = {}
    for spec in specs:
        out.update(argocd.render(spec, CTX).files)
    return out


def test_generated_gitops_trees_pass_the_policy() -> None:
    assert tenancy.gitops_problems(gitops_tree(*(example(p) for p in EXAMPLES)), CTX.platform) == []


@pytest.mark.parametrize(("edit", "needle"), [
    ({"targetGroupName": "prod-shop-web-tg"}, "not ranking-web's own target group"),
    ({"roleArn": "arn:aws:iam::333333333333:role/prod-shop-web-irsa"}, "not ranking-web's own role"),
    ({"namespace": "payments-prod"}, "not team search's"),
    ({"service": "shop-web"}, "differ from its path"),
    ({"server": "https://elsewhere.example"}, "not prod's cluster"),
    ({"securityGroupId": "sg-nope"}, "not a security group id"),
])
def test_a_hand_edit_naming_another_services_resources_is_refused(edit: dict[str, Any], needle: str) -> None:
    ranking, shop = example(ROOT / "examples" / "ranking-web.yaml"), example(ROOT / "examples" / "shop-web.yaml")
    tree = gitops_tree(ranking, shop)
    path = argocd.config_file(ranking, "prod", CTX.platform)
    tree[path] = yaml.safe_dump(yaml.safe_load(tree[path]) | edit)
    problems = tenancy.gitops_problems(tree, CTX.platform)
    assert any(p.startswith(path) and needle in p for p in problems), problems


def test_two_services_naming_one_security_group_or_one_service_in_two_teams_is_refused() -> None:
    ranking, shop = example(ROOT / "examples" / "ranking-web.yaml"), example(ROOT / "examples" / "shop-web.yaml")
    tree = gitops_tree(ranking, shop)
    theirs = yaml.safe_load(tree[argocd.config_file(shop, "prod", CTX.platform)])["securityGroupId"]
    mine = argocd.config_file(ranking, "prod", CTX.platform)
    tree[mine] = yaml.safe_dump(yaml.safe_load(tree[mine]) | {"securityGroupId": theirs})
    problems = tenancy.gitops_problems(tree, CTX.platform)
    assert any("is named by payments/shop-web, search/ranking-web" in p for p in problems)
    squatter = "teams/search/services/shop-web/prod.yaml"  # search claims payments' service name
    tree = gitops_tree(ranking, shop)
    tree[squatter] = tree[argocd.config_file(shop, "prod", CTX.platform)]
    problems = tenancy.gitops_problems(tree, CTX.platform)
    assert any("appears under teams payments, search" in p for p in problems)
    assert any(p.startswith(squatter) and "not team search's" in p for p in problems)


def test_the_render_refuses_a_config_outside_the_teams_own_resources() -> None:
    # the platform confined team search to one namespace, but services still derive <team>-<env>
    teams = {**CTX.platform.teams, "search": Team(name="search", namespaces=["search-apps"])}
    ctx = RenderContext(platform=PlatformConfig(teams=teams), blueprints=CTX.blueprints)
    with pytest.raises(PermanentError, match=r"not team search's \(search-apps\)"):
        argocd.render(example(ROOT / "examples" / "ranking-web.yaml", ctx), ctx)


def test_the_policy_runs_on_a_checkout(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tree = gitops_tree(*(example(p) for p in EXAMPLES))
    for path, text in tree.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
    assert tenancy.main([str(tmp_path)]) == 0
    victim = tmp_path / "teams/search/services/ranking-web/devel.yaml"
    victim.write_text(victim.read_text().replace("devel-ranking-web-tg", "devel-shop-web-tg"))
    assert tenancy.main([str(tmp_path)]) == 1
    assert "devel-shop-web-tg" in capsys.readouterr().out
