"""The pipeline files LaunchPad writes into the infra repository: valid GitHub workflows (checked against the
vendored workflow schema), one job and one OIDC role per account, least permissions, pinned actions,
inputs through env only; the script is the module verbatim; atlantis.yaml keeps other services' projects."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from provisioners import infra_ci, infra_pipeline, terragrunt
from provisioners.blueprint import BlueprintRegistry
from provisioners.changeset import ChangeSet
from provisioners.plan import RenderContext
from provisioners.platform import PlatformConfig
from provisioners.spec import parse_spec

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "schemas/ci/github-workflow.json").read_text())
BLUEPRINTS = BlueprintRegistry.load()


def ctx_for(**platform: Any) -> RenderContext:
    return RenderContext(platform=PlatformConfig(**platform), blueprints=BLUEPRINTS)


def workflows(ctx: RenderContext) -> dict[str, dict[str, Any]]:
    files = infra_ci.files(ctx)
    return {p: yaml.safe_load(files[p]) for p in (infra_ci.PLAN_WORKFLOW, infra_ci.APPLY_WORKFLOW)}


@pytest.mark.parametrize("mode", ["actions", "atlantis"])
def test_workflows_validate_against_the_workflow_schema(mode: str) -> None:
    for path, data in workflows(ctx_for(infra_pipeline=mode)).items():
        assert "on" in data, "to_yaml quotes the key: YAML 1.1 would read a bare on as True"
        jsonschema.validate(data, SCHEMA, cls=jsonschema.Draft7Validator)
        assert data["permissions"] == {}, f"{path}: permissions are granted per job, none at the top"


def test_one_job_per_account_with_its_role_and_concurrency_group() -> None:
    ctx = ctx_for(infra_pipeline_roles={"333333333333": "arn:aws:iam::333333333333:role/prod-infra"})
    plan, apply = workflows(ctx).values()
    accounts = ["111111111111", "222222222222", "333333333333"]
    assert sorted(apply["jobs"]) == [f"apply-{a}" for a in accounts]
    for account in accounts:
        job = apply["jobs"][f"apply-{account}"]
        assert job["name"] == f"launchpad-infra apply ({account})" == job["env"]["JOB_NAME"]
        assert job["concurrency"] == {"group": f"launchpad-infra-{account}", "cancel-in-progress": False}
        assert job["permissions"] == {"contents": "read", "id-token": "write", "actions": "read"}
        [assume] = [s for s in job["steps"] if s.get("uses", "").startswith("aws-actions/configure-aws-credentials")]
        expected = ("arn:aws:iam::333333333333:role/prod-infra" if account == "333333333333"
                    else f"arn:aws:iam::{account}:role/launchpad-infra")
        assert assume["with"]["role-to-assume"] == expected
        assert plan["jobs"][f"plan-{account}"]["permissions"] == {"contents": "read", "id-token": "write"}
    assert plan["jobs"]["summary"]["permissions"] == {"contents": "read", "pull-requests": "write"}
    assert plan["jobs"]["summary"]["needs"] == [f"plan-{a}" for a in accounts]
    assert all(j["name"].startswith(infra_ci.JOB_PREFIX) for w in (plan, apply) for j in w["jobs"].values())
    assert apply["on"] == {"push": {"branches": ["main"]}} and plan["on"] == {"pull_request": {"branches": ["main"]}}


def test_actions_are_pinned_and_scripts_read_env_only() -> None:
    files = infra_ci.files(ctx_for())
    for path in (infra_ci.PLAN_WORKFLOW, infra_ci.APPLY_WORKFLOW):
        data = yaml.safe_load(files[path])
        for job in data["jobs"].values():
            for step in job["steps"]:
                if "uses" in step:
                    assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", step["uses"]), step["uses"]
                if "run" in step:
                    assert "${{" not in step["run"], f"{path}: {step['name']} pastes an expression into shell"
        assert "# v4.2.2" in files[path]
    assert files[infra_ci.SCRIPT_PATH] == Path(infra_pipeline.__file__).read_text()


def test_atlantis_mode_destroys_only_removed_units_and_none_writes_nothing() -> None:
    _, apply = workflows(ctx_for(infra_pipeline="atlantis")).values()
    runs = [s["run"] for j in apply["jobs"].values() for s in j["steps"] if "run" in s and "infra_pipeline" in s["run"]]
    assert runs and all("--removed-only" in r for r in runs)
    assert infra_ci.files(ctx_for(infra_pipeline="none")) == {}


def test_every_infra_change_set_carries_the_pipeline_and_the_layout_it_reads() -> None:
    ctx = ctx_for()
    spec = parse_spec(yaml.safe_load((ROOT / "examples/ranking-web.yaml").read_text()), ctx.platform, BLUEPRINTS)
    created = terragrunt.render(spec, ctx)
    removed = terragrunt.render_delete(spec, ctx, ["devel"])
    for cs in [created, *removed]:
        assert {k: cs.files[k] for k in infra_ci.files(ctx)} == infra_ci.files(ctx)
    units = infra_pipeline.units_in(created.files)
    index = infra_ci.account_index(ctx.platform)
    assert {u.split("/")[index] for u in units} <= set(ctx.platform.accounts())


def test_atlantis_yaml_keeps_other_services_and_drops_removed_units() -> None:
    ctx = ctx_for(infra_pipeline="atlantis")
    spec = parse_spec(yaml.safe_load((ROOT / "examples/ranking-web.yaml").read_text()), ctx.platform, BLUEPRINTS)
    created = terragrunt.render(spec, ctx)
    other = ChangeSet(repo="infra", files={"999/eu-west-1/devel/other/s3/terragrunt.hcl": "inputs = {}\n"})
    base = infra_ci.merged_atlantis(None, other)
    merged = yaml.safe_load(infra_ci.merged_atlantis(base, created))
    dirs = [p["dir"] for p in merged["projects"]]
    assert "999/eu-west-1/devel/other/s3" in dirs and len(dirs) == 1 + len(infra_pipeline.units_in(created.files))
    assert all(p["workflow"] == infra_ci.ATLANTIS_WORKFLOW for p in merged["projects"])
    target_group = next(p for p in merged["projects"] if p["dir"].endswith("/devel/search/ranking-web/target-group"))
    assert "../../../../../../modules/launchpad-target-group/*.tf*" in target_group["autoplan"]["when_modified"]
    removed = terragrunt.render_delete(spec, ctx, ["devel", "alpha", "prod"])
    after = infra_ci.merged_atlantis(infra_ci.merged_atlantis(yaml.safe_dump(merged), removed[0]), removed[1])
    assert [p["dir"] for p in yaml.safe_load(after)["projects"]] == ["999/eu-west-1/devel/other/s3"]
    steps = merged["workflows"][infra_ci.ATLANTIS_WORKFLOW]["plan"]["steps"]
    assert all("--non-interactive" in s["run"] and "run-all" not in s["run"] for s in steps)
