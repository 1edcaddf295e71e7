"""The Terragrunt live repository: inputs exist in the pinned modules, packages wire up, deletes reverse creates.

Every input of every generated package is checked against the variables of the module version it pins
(`schemas/terraform-modules/*.json`, or the local target-group module's own variables.tf), including the
attribute names of object-typed inputs, for every example and for both blueprints with and without
their optional components.
"""

from __future__ import annotations

import json
import re
from itertools import combinations
from pathlib import Path
from typing import Any

import pytest
import yaml

from provisioners import infra_ci, terragrunt
from provisioners.blueprint import TEMPLATES_DIR, BlueprintRegistry
from provisioners.errors import InvalidSpecError, PermanentError
from provisioners.helm import PROXY_PORT
from provisioners.plan import RenderContext, plan_delete
from provisioners.platform import ModuleSource, PlatformConfig
from provisioners.render import parse_hcl
from provisioners.spec import ServiceSpec, parse_spec

ROOT = Path(__file__).resolve().parent.parent
SCHEMAS = ROOT / "schemas" / "terraform-modules"
LOCAL_MODULE = TEMPLATES_DIR / "terragrunt" / terragrunt.TARGET_GROUP_MODULE
PLATFORM = PlatformConfig()
BLUEPRINTS = BlueprintRegistry.load()
CTX = RenderContext(platform=PLATFORM, blueprints=BLUEPRINTS)


def spec_of(data: dict[str, Any], ctx: RenderContext = CTX) -> ServiceSpec:
    return parse_spec(data, ctx.platform, ctx.blueprints)


def web(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"name": "shop-web", "team": "search", "blueprint": "web-service",
                            "environments": [{"name": "devel"}, {"name": "alpha"}, {"name": "prod"}],
                            "domain": "shop.example.com"}
    return {**data, **overrides}


def worker(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"name": "queue-worker", "team": "payments", "blueprint": "worker",
                            "environments": [{"name": "devel"}, {"name": "prod"}]}
    return {**data, **overrides}


ALL_COMPONENTS = {"s3": {"versioning": False}, "rds": {}, "elasticache": {}}
CASES: dict[str, dict[str, Any]] = {
    **{f"example-{p.stem}": yaml.safe_load(p.read_text()) for p in sorted((ROOT / "examples").glob("*.yaml"))},
    "web-minimal": web(),
    "web-all-components": web(components=ALL_COMPONENTS, ingress_cidrs=["10.20.0.0/16", "192.168.0.0/24"],
                              iam_policy_arns=["arn:aws:iam::aws:policy/AmazonSQSReadOnlyAccess"]),
    "worker-minimal": worker(),
    "worker-all-components": worker(components={**ALL_COMPONENTS, "rds": {"engine": "mysql",
                                                                          "engine_version": "8.0"}},
                                    environments=[{"name": "devel"}, {"name": "tmp-load", "ttl_hours": 24}]),
}


def rendered(case: str) -> tuple[ServiceSpec, dict[str, str]]:
    spec = spec_of(CASES[case])
    return spec, terragrunt.render(spec, CTX).files


def packages_of(files: dict[str, str]) -> dict[str, dict[str, Any]]:
    return {path: parse_hcl(content) for path, content in files.items() if path.endswith(terragrunt.PACKAGE_FILE)}


# --- module interfaces ---------------------------------------------------------------------------

def load_schemas() -> dict[str, dict[str, Any]]:
    """terraform source string -> {variable: {"type": ..., "required": ...}} for every pinned module."""
    out = {}
    for path in sorted(SCHEMAS.glob("*.json")):
        data = json.loads(path.read_text())
        source = ModuleSource(source=data["registry_source"], version=data["version"]).terraform_source()
        out[source] = data["variables"]
    local = parse_hcl((LOCAL_MODULE / "variables.tf").read_text())
    out["${get_repo_root()}/" + terragrunt.TARGET_GROUP_MODULE] = {
        name: {"type": body["type"], "required": "default" not in body}
        for block in local["variable"] for name, body in block.items()}
    return out


MODULES = load_schemas()


class TypeExpr:
    """A parsed Terraform type constraint, e.g. map(object({a = string, b = optional(list(string))}))."""

    def __init__(self, kind: str, args: list[TypeExpr] | None = None,
                 attrs: dict[str, tuple[TypeExpr, bool]] | None = None) -> None:
        self.kind, self.args, self.attrs = kind, args or [], attrs or {}


TOKEN = re.compile(r'\s*(?:(?P<name>[A-Za-z_][A-Za-z0-9_-]*)|(?P<str>"(?:[^"\\]|\\.)*")|(?P<num>-?[0-9.]+)'
                   r"|(?P<punct>[(){}\[\],=]))")


def parse_type(text: str) -> TypeExpr:
    text = text.strip()
    if text.startswith("${") and text.endswith("}"):
        text = text[2:-1]
    tokens = [m.group(0).strip() for m in TOKEN.finditer(text)]
    pos = 0

    def expect(tok: str) -> None:
        nonlocal pos
        assert tokens[pos] == tok, (text, pos, tokens[pos], tok)
        pos += 1

    def skip_value() -> None:  # a default inside optional(T, default)
        nonlocal pos
        depth = 0
        while depth or tokens[pos] not in (",", ")"):
            depth += tokens[pos] in "([{"
            depth -= tokens[pos] in ")]}"
            pos += 1

    def parse() -> TypeExpr:
        nonlocal pos
        kind = tokens[pos]
        pos += 1
        if pos >= len(tokens) or tokens[pos] != "(":
            return TypeExpr(kind)
        expect("(")
        if kind == "object":
            expect("{")
            attrs = {}
            while tokens[pos] != "}":
                name = tokens[pos]
                pos += 1
                expect("=")
                inner = parse()
                optional = inner.kind == "optional"
                attrs[name] = (inner.args[0] if optional else inner, optional)
                if tokens[pos] == ",":
                    pos += 1
            expect("}")
            expect(")")
            return TypeExpr("object", attrs=attrs)
        if kind == "tuple":
            skip_value()
            expect(")")
            return TypeExpr("any")
        args = [parse()]
        if tokens[pos] == ",":
            pos += 1
            skip_value()
        expect(")")
        return TypeExpr(kind, args)

    return parse()


def type_errors(value: Any, typ: TypeExpr, where: str) -> list[str]:
    """Mismatches between a parsed HCL value and a Terraform type; expressions are not checked."""
    if typ.kind == "any" or (isinstance(value, str) and value.startswith("${")):
        return []
    if typ.kind == "string":
        return [] if isinstance(value, str | int | float | bool) else [f"{where}: expected a string"]
    if typ.kind == "number":
        return [] if isinstance(value, int | float) and not isinstance(value, bool) else [f"{where}: not a number"]
    if typ.kind == "bool":
        return [] if isinstance(value, bool) else [f"{where}: expected a bool, got {value!r}"]
    if typ.kind in ("list", "set"):
        if not isinstance(value, list):
            return [f"{where}: expected a list"]
        return [e for i, v in enumerate(value) for e in type_errors(v, typ.args[0], f"{where}[{i}]")]
    if typ.kind == "map":
        if not isinstance(value, dict):
            return [f"{where}: expected a map"]
        return [e for k, v in value.items() for e in type_errors(v, typ.args[0], f"{where}.{k}")]
    if typ.kind == "object":
        if not isinstance(value, dict):
            return [f"{where}: expected an object"]
        errors = [f"{where}.{k}: not an attribute of the object type" for k in value if k not in typ.attrs]
        errors += [f"{where}.{k}: required attribute missing" for k, (_, opt) in typ.attrs.items()
                   if not opt and k not in value]
        for k, v in value.items():
            if k in typ.attrs:
                errors += type_errors(v, typ.attrs[k][0], f"{where}.{k}")
        return errors
    raise AssertionError(f"unknown type {typ.kind} at {where}")


def test_type_parser_reads_nested_object_types() -> None:
    typ = parse_type('${map(object({sid = optional(string), effect = optional(string, "Allow"), '
                     "condition = optional(list(object({test = string, values = list(string)})))}))}")
    assert typ.kind == "map" and typ.args[0].kind == "object"
    assert type_errors({"a": {"sid": "x", "condition": [{"test": "t", "values": ["v"]}]}}, typ, "p") == []
    assert type_errors({"a": {"sidd": "x"}}, typ, "p") == ["p.a.sidd: not an attribute of the object type"]
    assert type_errors({"a": {"condition": [{"values": []}]}}, typ, "p") == [
        "p.a.condition[0].test: required attribute missing"]


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_input_is_a_variable_of_the_pinned_module(case: str) -> None:
    spec, files = rendered(case)
    checked = 0
    prepared = terragrunt.render_prepare_delete(spec, CTX, [e.name for e in spec.environments])
    parsed_packages = list(packages_of(files).items())  # as created, and as a delete makes them destroyable
    parsed_packages += [(f"{p} (before delete)", v) for cs in prepared for p, v in packages_of(cs.files).items()]
    for path, parsed in parsed_packages:
        source = parsed["terraform"][0]["source"]
        assert source in MODULES, f"{path}: {source} is not a pinned module with a known interface"
        variables = MODULES[source]
        inputs = parsed["inputs"]
        unknown = sorted(set(inputs) - set(variables))
        assert not unknown, f"{path}: {unknown} are not variables of {source}"
        missing = sorted(k for k, v in variables.items() if v.get("required") and k not in inputs)
        assert not missing, f"{path}: required variables {missing} of {source} are not set"
        for key, value in inputs.items():
            assert type_errors(value, parse_type(variables[key]["type"]), f"{path}: {key}") == []
            checked += 1
    assert checked > 10


def test_module_sources_are_pinned_registry_versions_or_the_local_module() -> None:
    for case in CASES:
        for path, parsed in packages_of(rendered(case)[1]).items():
            source = parsed["terraform"][0]["source"]
            assert re.fullmatch(r"tfr:///terraform-aws-modules/[a-z0-9/-]+\?version=\d+\.\d+\.\d+", source) \
                or source.endswith("/" + terragrunt.TARGET_GROUP_MODULE), f"{path}: unpinned {source}"


# --- layout ---------------------------------------------------------------------------------------

def test_ranking_web_layout() -> None:
    _, files = rendered("example-ranking-web")
    components = ["dns", "iam-role", "s3", "security-group", "target-group"]
    expected = {"root.hcl", *(f"modules/launchpad-target-group/{f}" for f in terragrunt.TARGET_GROUP_MODULE_FILES),
                *infra_ci.files(CTX),  # the pipeline, written with every infra change set
                "LAUNCHPAD.md", ".github/CODEOWNERS",  # the repository's own, the same from every service
                "111111111111/eu-west-1/_shared/search/ranking-web/README.md",
                "111111111111/eu-west-1/_shared/search/ranking-web/ecr/terragrunt.hcl",
                "111111111111/eu-west-1/_shared/search/ranking-web/ci-role/terragrunt.hcl"}
    for account, env in (("111111111111", "devel"), ("222222222222", "alpha"), ("333333333333", "prod")):
        expected |= {f"{account}/eu-west-1/{env}/search/ranking-web/{c}/terragrunt.hcl" for c in components}
        expected.add(f"{account}/eu-west-1/{env}/search/ranking-web/README.md")
    assert set(files) == expected
    assert list(files) == sorted(files)


def test_worker_has_no_target_group_dns_or_local_module() -> None:
    _, files = rendered("worker-minimal")
    components = {path.split("/")[-2] for path in files if path.endswith(terragrunt.PACKAGE_FILE)}
    assert components == {"ecr", "ci-role", "security-group", "iam-role"}
    assert not any(path.startswith("modules/") for path in files)
    sg = parse_hcl(files["111111111111/eu-west-1/devel/payments/queue-worker/security-group/terragrunt.hcl"])
    sources = {rule["source_security_group_id"] for rule in sg["inputs"]["ingress_with_source_security_group_id"]}
    assert sources == {PLATFORM.environments["devel"].node_security_group_id}  # probes only; no load balancer


@pytest.mark.parametrize(("components", "expected"), [
    ({}, set()),
    ({"s3": {}}, {"s3"}),
    ({"rds": {}}, {"rds", "rds-security-group"}),
    ({"elasticache": {}}, {"elasticache"}),
    (ALL_COMPONENTS, {"s3", "rds", "rds-security-group", "elasticache"}),
])
def test_optional_components_come_and_go_with_the_request(components: dict[str, Any], expected: set[str]) -> None:
    files = terragrunt.render(spec_of(web(components=components)), CTX).files
    for env in ("devel", "alpha", "prod"):
        present = {p.split("/")[-2] for p in files if f"/{env}/" in p and p.endswith(terragrunt.PACKAGE_FILE)}
        assert present - {"dns", "iam-role", "security-group", "target-group"} == expected


def test_web_service_wires_alb_listener_health_check_and_domain() -> None:
    spec = spec_of(web(port=9000, health_check_path="/ready", ingress_cidrs=["10.1.0.0/16"]))
    files = terragrunt.render(spec, CTX).files
    target = PLATFORM.environments["alpha"]
    tg = parse_hcl(files["222222222222/eu-west-1/alpha/search/shop-web/target-group/terragrunt.hcl"])["inputs"]
    assert tg["listener_arn"] == target.alb_listener_arn
    assert tg["host_headers"] == ["shop-web.alpha.example.com"]
    # the load balancer reaches pods through the chart's nginx sidecar, whatever the app's own port
    assert (tg["port"], tg["health_check_path"], tg["name"]) == (PROXY_PORT, "/ready", "alpha-shop-web-tg")
    sg = parse_hcl(files["222222222222/eu-west-1/alpha/search/shop-web/security-group/terragrunt.hcl"])["inputs"]
    assert sg["ingress_with_source_security_group_id"][0]["source_security_group_id"] == target.alb_security_group_id
    assert sg["ingress_with_source_security_group_id"][0]["from_port"] == PROXY_PORT
    assert sg["ingress_with_cidr_blocks"][0]["to_port"] == PROXY_PORT
    assert sg["ingress_with_cidr_blocks"][0]["cidr_blocks"] == "10.1.0.0/16"
    dns = parse_hcl(files["333333333333/eu-west-1/prod/search/shop-web/dns/terragrunt.hcl"])["inputs"]
    assert dns["name"] == "example.com"
    assert dns["records"]["shop.example.com"]["alias"]["name"] == PLATFORM.environments["prod"].alb_dns_name


def test_irsa_role_trusts_one_service_account_and_reaches_its_own_data_stores() -> None:
    spec = spec_of(CASES["web-all-components"])
    files = terragrunt.render(spec, CTX).files
    role = parse_hcl(files["333333333333/eu-west-1/prod/search/shop-web/iam-role/terragrunt.hcl"])["inputs"]
    assert role["name"] == "prod-shop-web-irsa" and role["use_name_prefix"] is False
    assert role["oidc_providers"]["main"]["namespace_service_accounts"] == ["search-prod:shop-web"]
    assert role["policies"] == {"AmazonSQSReadOnlyAccess": "arn:aws:iam::aws:policy/AmazonSQSReadOnlyAccess"}
    assert role["permissions"]["S3Objects"]["resources"] == ["arn:aws:s3:::example-prod-shop-web/*"]
    secret = role["permissions"]["DatabaseSecret"]
    assert secret["condition"][0]["values"] == ["arn:aws:rds:eu-west-1:333333333333:db:prod-shop-web"]


def test_rds_follows_the_engine() -> None:
    _, files = rendered("worker-all-components")
    mysql = parse_hcl(files["111111111111/eu-west-1/tmp-load/payments/queue-worker/rds/terragrunt.hcl"])["inputs"]
    assert (mysql["family"], mysql["major_engine_version"], mysql["port"]) == ("mysql8.0", "8.0", "3306")
    assert mysql["skip_final_snapshot"] is True and mysql["deletion_protection"] is False
    _, files = rendered("web-all-components")
    pg = parse_hcl(files["333333333333/eu-west-1/prod/search/shop-web/rds/terragrunt.hcl"])["inputs"]
    assert (pg["family"], pg["port"], pg["db_name"]) == ("postgres16", "5432", "shop_web")
    assert "major_engine_version" not in pg and pg["deletion_protection"] is True and pg["multi_az"] is True


def test_ecr_and_ci_role_live_once_in_the_artifact_account() -> None:
    spec, files = rendered("example-ranking-web")
    ecr = parse_hcl(files["111111111111/eu-west-1/_shared/search/ranking-web/ecr/terragrunt.hcl"])["inputs"]
    assert ecr["repository_name"] == "search/ranking-web"
    assert ecr["repository_read_access_arns"] == [f"arn:aws:iam::{a}:root"
                                                  for a in ("111111111111", "222222222222", "333333333333")]
    role = parse_hcl(files["111111111111/eu-west-1/_shared/search/ranking-web/ci-role/terragrunt.hcl"])["inputs"]
    assert terragrunt.ci_role_arn(spec, PLATFORM) == f"arn:aws:iam::111111111111:role/{role['name']}"
    assert role["oidc_subjects"] == ["repo:search/ranking-web:ref:refs/heads/main"]
    assert role["inline_policy_permissions"]["EcrPush"]["resources"] == [terragrunt.ecr_repository_arn(spec, PLATFORM)]


# --- dependencies -----------------------------------------------------------------------------------

@pytest.mark.parametrize("case", sorted(CASES))
def test_dependencies_point_at_sibling_packages_and_carry_mock_outputs(case: str) -> None:
    _, files = rendered(case)
    parsed = packages_of(files)
    seen = 0
    for path, package in parsed.items():
        directory = path.rsplit("/", 1)[0]
        declared = {}
        for block in package.get("dependency", []):
            for name, body in block.items():
                target = _join(directory, body["config_path"])
                assert f"{target}/terragrunt.hcl" in files, f"{path}: dependency {name} points at nothing"
                assert body["mock_outputs"], f"{path}: dependency {name} has no mock_outputs"
                assert body["mock_outputs_allowed_terraform_commands"] == ["validate", "plan"]
                declared[name] = body["mock_outputs"]
                seen += 1
        for name, output in re.findall(r"dependency\.(\w+)\.outputs\.(\w+)", files[path]):
            assert output in declared.get(name, {}), f"{path}: dependency.{name}.outputs.{output} has no mock"
        include = package["include"][0]["root"]["path"]
        assert include == '${find_in_parent_folders("root.hcl")}'
    if "all-components" in case:
        assert seen >= 3


def _join(directory: str, relative: str) -> str:
    parts = directory.split("/")
    for part in relative.split("/"):
        parts = parts[:-1] if part == ".." else [*parts, part]
    return "/".join(parts)


@pytest.mark.parametrize("case", sorted(CASES))
def test_iam_packages_depend_on_no_other_package(case: str) -> None:
    # IAM goes last on delete; a dependency on an already-destroyed package would break that.
    for path, package in packages_of(rendered(case)[1]).items():
        if path.split("/")[-2] in terragrunt.IAM_PACKAGES:
            assert "dependency" not in package and "dependencies" not in package, path


# --- root.hcl ----------------------------------------------------------------------------------------

def test_root_keeps_state_per_account_with_a_lock_table_and_tags_everything() -> None:
    root = parse_hcl(rendered("web-minimal")[1]["root.hcl"])
    state = root["remote_state"][0]
    assert state["backend"] == "s3"
    assert state["config"]["bucket"] == "${local.account_id}-terraform-state"
    assert state["config"]["key"] == "${path_relative_to_include()}/terraform.tfstate"
    assert state["config"]["dynamodb_table"] == "terraform-locks" and state["config"]["encrypt"] is True
    assert root["locals"][0]["account_id"] == "${local.path_parts[0]}"
    provider = root["generate"][0]["provider"]["contents"]
    assert 'managed-by = "launchpad"' in provider and 'region              = "${local.region}"' in provider


def test_custom_layout_moves_account_and_region_lookups() -> None:
    platform = PlatformConfig(infra_path="live/{team}/{account_id}/{region}/{service}/{env}/{component}",
                              state={"bucket": "tfstate-{account_id}-{region}", "lock_table": "locks"})
    ctx = RenderContext(platform=platform, blueprints=BLUEPRINTS)
    files = terragrunt.render(spec_of(worker(), ctx), ctx).files
    assert "live/payments/111111111111/eu-west-1/queue-worker/devel/iam-role/terragrunt.hcl" in files
    root = parse_hcl(files["root.hcl"])
    assert root["locals"][0]["account_id"] == "${local.path_parts[2]}"
    assert root["locals"][0]["region"] == "${local.path_parts[3]}"
    assert root["remote_state"][0]["config"]["bucket"] == "tfstate-${local.account_id}-${local.region}"


def test_layout_without_account_segment_is_refused() -> None:
    ctx = RenderContext(platform=PlatformConfig(infra_path="{env}/{service}/{component}"), blueprints=BLUEPRINTS)
    with pytest.raises(PermanentError, match="account_id"):
        terragrunt.render(spec_of(worker(), ctx), ctx)


def test_platform_target_group_module_replaces_the_local_one() -> None:
    modules = {**PlatformConfig().modules,
               "target_group": ModuleSource(source="git::https://git.example.com/tf/tg.git", version="v2.1.0")}
    ctx = RenderContext(platform=PlatformConfig(modules=modules), blueprints=BLUEPRINTS)
    files = terragrunt.render(spec_of(web(), ctx), ctx).files
    assert not any(p.startswith("modules/") for p in files)
    tg = parse_hcl(files["111111111111/eu-west-1/devel/search/shop-web/target-group/terragrunt.hcl"])
    assert tg["terraform"][0]["source"] == "git::https://git.example.com/tf/tg.git?ref=v2.1.0"


def test_render_is_deterministic() -> None:
    spec = spec_of(CASES["web-all-components"])
    assert terragrunt.render(spec, CTX) == terragrunt.render(spec, CTX)


# --- delete ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("case", sorted(CASES))
def test_delete_removes_exactly_what_render_created_with_iam_last(case: str) -> None:
    spec, files = rendered(case)
    envs = [e.name for e in spec.environments]
    created = {p for p in files if p.endswith(terragrunt.PACKAGE_FILE)}
    shared = {p for p in created if f"/{terragrunt.SHARED_ENV}/" in p}
    for n in range(1, len(envs) + 1):
        for subset in combinations(envs, n):
            changesets = terragrunt.render_delete(spec, CTX, list(subset))
            assert [cs.repo for cs in changesets] == ["infra", "infra"]
            first, last = changesets
            assert first.title != last.title and "IAM" in last.title
            assert all(p.split("/")[-2] in terragrunt.IAM_PACKAGES for p in last.deletes
                       if p.endswith(terragrunt.PACKAGE_FILE))
            assert not any(p.split("/")[-2] in terragrunt.IAM_PACKAGES for p in first.deletes)
            deleted = {p for p in set(first.deletes) | set(last.deletes) if p.endswith(terragrunt.PACKAGE_FILE)}
            expected = {p for p in created if any(f"/{env}/" in p for env in subset)}
            if set(subset) == set(envs):
                expected |= shared
            assert deleted == expected, subset
            assert not (set(first.deletes) & set(last.deletes))
            # each emptied service folder loses its README with its last package (never the repository's own)
            folders = {p.rsplit("/", 2)[0] for p in expected}
            assert {p for p in last.deletes if not p.endswith(terragrunt.PACKAGE_FILE)} == {
                f"{folder}/README.md" for folder in folders} and set(files) >= set(last.deletes)
            assert all(p.endswith(terragrunt.PACKAGE_FILE) for p in first.deletes)
    # the last environment of a service takes the shared packages with it
    remaining = spec.model_copy(update={"environments": spec.environments[-1:]})
    deleted = {p for cs in terragrunt.render_delete(remaining, CTX, [envs[-1]]) for p in cs.deletes}
    assert shared <= deleted


def test_delete_plan_puts_iam_after_everything_else_and_never_touches_root() -> None:
    spec = spec_of(CASES["web-all-components"])
    changesets = plan_delete(spec, CTX)
    infra = [cs for cs in changesets if cs.repo == "infra"]
    assert len(infra) == 3 and "IAM" in infra[-1].title
    assert changesets[0] is infra[0] and "destroyable" in infra[0].title  # first: make it destroyable
    assert not infra[0].deletes and changesets[1].repo == "gitops"  # then the workload, AWS, IAM last
    assert not any(p == "root.hcl" or p.startswith("modules/") for cs in infra for p in cs.deletes)
    assert all(set(infra_ci.files(CTX)) <= set(cs.files) for cs in infra)  # the pipeline stays current


def test_a_delete_first_makes_ecr_prod_rds_and_permanent_buckets_destroyable() -> None:
    spec = spec_of(CASES["web-all-components"])
    (prepare,) = terragrunt.render_prepare_delete(spec, CTX, ["devel", "alpha", "prod"])
    inputs = {p.split("/")[2] + "/" + p.split("/")[-2]: parse_hcl(text)["inputs"]
              for p, text in prepare.files.items() if p.endswith("terragrunt.hcl")}
    assert sorted(inputs) == ["_shared/ecr", "alpha/s3", "devel/s3", "prod/rds", "prod/s3"]
    assert inputs["_shared/ecr"]["repository_force_delete"] is True
    rds = inputs["prod/rds"]  # prod only: the other environments' databases are not protected
    assert rds["deletion_protection"] is False and rds["skip_final_snapshot"] is False
    assert rds["final_snapshot_identifier_prefix"].endswith("-final")
    assert all(inputs[f"{env}/s3"]["force_destroy"] is True for env in ("devel", "alpha", "prod"))
    # one environment of several: the shared ECR repository stays, so only that environment's bucket flips
    (devel,) = terragrunt.render_prepare_delete(spec, CTX, ["devel"])
    assert [p.split("/")[-2] for p in devel.files if p.endswith("terragrunt.hcl")] == ["s3"]
    created = terragrunt.render(spec, CTX).files
    prod_rds = next(p for p in prepare.files if "/prod/" in p and p.endswith("/rds/terragrunt.hcl"))
    assert parse_hcl(created[prod_rds])["inputs"]["deletion_protection"] is True  # as created


def test_a_temporary_environment_needs_no_preparation_until_its_last_one_takes_ecr() -> None:
    spec = spec_of(web(components={"s3": {}}, environments=[{"name": "devel"}, {"name": "tmp-x", "ttl_hours": 24}]))
    assert terragrunt.render_prepare_delete(spec, CTX, ["tmp-x"]) == []


# --- tags --------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "expected"), [
    ("Ranks results", "Ranks results"),
    ('say "hi" ${x} %{y} {{z}}', "say hi x y z"),
    ("line one\nline two\ttab", "line one line two tab"),
    ("émoji 🚀 ünïcode 日本", "émoji ünïcode 日本"),
    ("e\u0301", "é"),  # combining accents are composed, not dropped
    ("keep _.:/=+-@ these", "keep _.:/=+-@ these"),
    ("   ", ""),
    ("x" * 300, "x" * 256),
])
def test_aws_tag_value_keeps_only_what_aws_accepts(text: str, expected: str) -> None:
    assert terragrunt.aws_tag_value(text) == expected


def test_tags_carry_a_sanitised_description_and_locals_the_verbatim_one() -> None:
    text = 'Line "one"\nLine ${two} — %{three}'
    spec = spec_of(web(description=text, owner="U01 <x@y>"))
    files = terragrunt.render(spec, CTX).files
    package = parse_hcl(files["111111111111/eu-west-1/devel/search/shop-web/security-group/terragrunt.hcl"])
    assert package["locals"][0]["description"] == text
    assert package["locals"][0]["tags"]["description"] == "Line one Line two three"
    assert package["locals"][0]["tags"]["requested-by"] == "U01 x@y"


# --- TLS, zones per account, probes, snapshots, image retention ---------------------------------------------

def test_a_domain_the_listener_does_not_cover_gets_a_dns_validated_certificate_on_the_listener() -> None:
    _, files = rendered("example-shop-web")  # prod: www.shop.example.com, two labels under example.com
    prod = "333333333333/eu-west-1/prod/payments/shop-web"
    cert = parse_hcl(files[f"{prod}/certificate/terragrunt.hcl"])
    assert cert["terraform"][0]["source"] == "tfr:///terraform-aws-modules/acm/aws?version=6.3.0"
    assert cert["inputs"]["domain_name"] == "www.shop.example.com"
    assert cert["inputs"]["validation_method"] == "DNS" and cert["inputs"]["wait_for_validation"] is True
    assert cert["inputs"]["zone_id"] == "${dependency.dns.outputs.id}"  # the zone the dns package looks up
    assert cert["dependency"][0]["dns"]["config_path"] == "../dns"
    tg = parse_hcl(files[f"{prod}/target-group/terragrunt.hcl"])
    assert tg["inputs"]["certificate_arn"] == "${dependency.certificate.outputs.acm_certificate_arn}"
    # the local module attaches it to the listener the rule goes on
    main = (LOCAL_MODULE / "main.tf").read_text()
    assert 'resource "aws_lb_listener_certificate" "this"' in main and "var.certificate_arn" in main
    # devel and alpha use derived names one label under their zone: the listener's wildcard covers them
    assert not any("/certificate/" in p for p in files if "/prod/" not in p)
    assert "certificate_arn" not in parse_hcl(files[
        "222222222222/eu-west-1/alpha/payments/shop-web/target-group/terragrunt.hcl"])["inputs"]


def test_without_a_wildcard_listener_certificate_every_domain_gets_its_own() -> None:
    environments = {env: target.model_copy(update={"listener_wildcard_certificate": False})
                    for env, target in PLATFORM.environments.items()}
    ctx = RenderContext(platform=PlatformConfig(environments=environments), blueprints=BLUEPRINTS)
    files = terragrunt.render(spec_of(web(), ctx), ctx).files
    certs = sorted(p.split("/")[2] for p in files if "/certificate/" in p)
    assert certs == ["alpha", "devel", "prod"]


def test_each_environment_uses_a_zone_its_own_account_holds() -> None:
    # alpha's account does not hold example.com (prod's does): refused at the edge, naming both
    with pytest.raises(InvalidSpecError) as caught:
        spec_of(web(environments=[{"name": "alpha", "domain": "shop-alpha.example.com"}, {"name": "prod"}]))
    message = caught.value.errors["environments.alpha.domain"]
    assert "222222222222" in message and "prod" in message and "alpha.example.com" in message
    # once the platform delegates a zone to alpha's account, the record and validation go there
    environments = dict(PLATFORM.environments)
    environments["alpha"] = environments["alpha"].model_copy(update={"hosted_zones": ["shop.example.com"]})
    ctx = RenderContext(platform=PlatformConfig(environments=environments), blueprints=BLUEPRINTS)
    spec = spec_of(web(environments=[{"name": "alpha", "domain": "alpha.shop.example.com"}, {"name": "prod"}]), ctx)
    files = terragrunt.render(spec, ctx).files
    dns = parse_hcl(files["222222222222/eu-west-1/alpha/search/shop-web/dns/terragrunt.hcl"])["inputs"]
    assert dns["name"] == "shop.example.com"
    assert "222222222222/eu-west-1/alpha/search/shop-web/certificate/terragrunt.hcl" in files
    prod = parse_hcl(files["333333333333/eu-west-1/prod/search/shop-web/dns/terragrunt.hcl"])["inputs"]
    assert prod["name"] == "example.com"


@pytest.mark.parametrize("case", ["example-ranking-web", "worker-minimal", "web-all-components"])
def test_the_nodes_reach_the_pods_on_the_probe_ports_only(case: str) -> None:
    spec, files = rendered(case)
    for env in (e.name for e in spec.environments):
        path = terragrunt.package_path(spec, PLATFORM, env, "security-group")
        rules = parse_hcl(files[path])["inputs"]["ingress_with_source_security_group_id"]
        node_sg = PLATFORM.target_for(env).node_security_group_id
        from_nodes = sorted(int(r["from_port"]) for r in rules if r["source_security_group_id"] == node_sg)
        assert from_nodes == sorted([spec.port or 8080, PROXY_PORT, terragrunt.FILEBEAT_MONITORING_PORT])
        assert all(r["from_port"] == r["to_port"] and r["protocol"] == "tcp" for r in rules)


def test_prod_redis_keeps_daily_snapshots_outside_its_maintenance_window() -> None:
    spec, files = rendered("example-shop-web")
    prod = parse_hcl(files[terragrunt.package_path(spec, PLATFORM, "prod", "elasticache")])["inputs"]
    assert prod["snapshot_retention_limit"] == 7
    start, end = prod["snapshot_window"].split("-")  # hh:mm-hh:mm, daily
    maintenance_from, maintenance_to = prod["maintenance_window"].split("-")  # ddd:hh:mm-ddd:hh:mm, weekly
    assert start < end <= maintenance_from.split(":", 1)[1] < maintenance_to.split(":", 1)[1]
    devel = parse_hcl(files[terragrunt.package_path(spec, PLATFORM, "devel", "elasticache")])["inputs"]
    assert "snapshot_retention_limit" not in devel


def test_ecr_keeps_the_newest_tagged_images_and_the_count_is_a_setting() -> None:
    spec, files = rendered("example-ranking-web")
    text = files[terragrunt.package_path(spec, PLATFORM, terragrunt.SHARED_ENV, "ecr")]
    assert re.search(r'tagStatus\s+= "tagged"\s+tagPatternList = \["\*"\]\s+countType\s+= "imageCountMoreThan"\s+'
                     r"countNumber\s+= 100", text)
    ctx = RenderContext(platform=PlatformConfig(ecr_keep_tagged_images=25), blueprints=BLUEPRINTS)
    text = terragrunt.render(spec, ctx).files[terragrunt.package_path(spec, ctx.platform, "_shared", "ecr")]
    assert re.search(r"countNumber\s+= 25\b", text) and "Keep the newest 25 tagged images" in text


def test_every_case_with_a_certificate_was_checked_against_the_acm_interface() -> None:
    sources = {parsed["terraform"][0]["source"] for case in CASES for parsed in packages_of(rendered(case)[1]).values()}
    assert "tfr:///terraform-aws-modules/acm/aws?version=6.3.0" in sources
