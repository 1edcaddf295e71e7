"""The service repository's deploy workflow: OIDC role, pinned actions (the table, or SRE's per-service pins),
the values file it bumps, its delete; every generated workflow validates against the workflow schema."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from provisioners import actions, ci, helm, release, terragrunt
from provisioners.blueprint import BlueprintRegistry
from provisioners.errors import InvalidSpecError
from provisioners.plan import RenderContext, plan
from provisioners.platform import PlatformConfig, Repository
from provisioners.render import parse_hcl
from provisioners.spec import ServiceSpec, parse_spec

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
CTX = RenderContext(platform=PlatformConfig(), blueprints=BlueprintRegistry.load())


def example(path: Path, ctx: RenderContext = CTX) -> ServiceSpec:
    return parse_spec(yaml.safe_load(path.read_text()), ctx.platform, ctx.blueprints)


def workflow_of(spec: ServiceSpec, ctx: RenderContext = CTX) -> dict[str, Any]:
    changeset = ci.render(spec, ctx)
    assert changeset.repo == "service" and sorted(changeset.files) == [ci.README_PATH, ci.WORKFLOW_PATH]
    data: dict[str, Any] = yaml.safe_load(changeset.files[ci.WORKFLOW_PATH])
    return data


def steps(data: dict[str, Any]) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = data["jobs"]["deploy"]["steps"]
    return result


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_triggers_permissions_and_pinned_actions(path: Path) -> None:
    data = workflow_of(example(path))
    assert data["on"] == {"push": {"branches": ["main"]}, "workflow_dispatch": {}}
    assert data["permissions"] == {"id-token": "write", "contents": "read"}
    uses = [s["uses"] for s in steps(data) if "uses" in s]
    assert "aws-actions/configure-aws-credentials@ececac1a45f3b08a01d2dd070d28d111c5fe6722" in uses
    for action in uses:
        assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", action), f"{action} is not pinned to a commit SHA"
    text = ci.render(example(path), CTX).files[ci.WORKFLOW_PATH]
    assert "# v4.1.0" in text, "the pinned tag stays readable next to the SHA"


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_role_and_repository_match_the_infra_packages(path: Path) -> None:
    spec = example(path)
    data = workflow_of(spec)
    infra = terragrunt.render(spec, CTX).files
    role_file = terragrunt.package_path(spec, CTX.platform, terragrunt.SHARED_ENV, "ci-role")
    ecr_file = role_file.replace("/ci-role/", "/ecr/")
    role = parse_hcl(infra[role_file])["inputs"]
    ecr = parse_hcl(infra[ecr_file])["inputs"]
    account = role_file.split("/")[0]
    assume = next(s for s in steps(data) if s.get("uses", "").startswith("aws-actions/configure-aws-credentials"))
    assert assume["with"]["role-to-assume"] == f"arn:aws:iam::{account}:role/{role['name']}"
    assert data["env"]["ECR_REPOSITORY"] == ecr["repository_name"]
    assert data["env"]["IMAGE_REPOSITORY"] == f"{CTX.platform.registry_host()}/{ecr['repository_name']}"
    assert data["env"]["IMAGE_TAG"] == "${{ github.sha }}"
    # the role trusts exactly this repository's default branch
    assert role["oidc_subjects"] == [f"repo:{spec.team}/{spec.name}:ref:refs/heads/main"]


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_bumps_image_tag_in_the_values_file_the_helm_renderer_writes(path: Path) -> None:
    spec = example(path)
    bump = steps(workflow_of(spec))[-1]
    first = release.first_environment([e.name for e in spec.environments], CTX.platform)
    assert first == spec.environments[0].name  # devel, or the temporary environment of a tmp-only service
    assert bump["env"]["VALUES_FILE"] == f"teams/{spec.team}/{spec.name}/values-{first}.yaml"  # never the shared file
    assert bump["env"]["ENVIRONMENT"] == first
    assert bump["env"]["GH_TOKEN"] == "${{ secrets.LAUNCHPAD_VALUES_TOKEN }}"
    assert ".image.tag = strenv(IMAGE_TAG)" in bump["run"]
    assert ".image.digest = strenv(IMAGE_DIGEST)" in bump["run"]  # the digest CI pushed: promotions copy it
    push = next(s for s in steps(workflow_of(spec)) if s["name"] == "Build and push the image")
    assert 'IMAGE_DIGEST=$digest" >> "$GITHUB_ENV"' in push["run"]
    values = helm.render(spec, CTX).files
    if values:  # the helm renderer owns the file; the workflow must edit the one it writes
        assert "tag" in yaml.safe_load(values[bump["env"]["VALUES_FILE"]])["image"]


def test_scripts_read_inputs_from_env_only() -> None:
    # `${{ }}` pasted into a shell script is the classic workflow injection; every value goes through env.
    for step in steps(workflow_of(example(EXAMPLES[0]))):
        if "run" in step:
            assert "${{" not in step["run"]
    secrets = re.findall(r"secrets\.(\w+)", ci.render(example(EXAMPLES[0]), CTX).files[ci.WORKFLOW_PATH])
    assert set(secrets) == {ci.VALUES_TOKEN_SECRET}


def test_values_repository_settings_flow_into_the_workflow() -> None:
    repos = {**PlatformConfig().repositories,
             "values": Repository(name="acme/helm-values", base_branch="trunk", root="k8s")}
    platform = PlatformConfig(repositories=repos, values_path="apps/{team}/{service}", artifact_environment="prod")
    ctx = RenderContext(platform=platform, blueprints=CTX.blueprints)
    spec = example(EXAMPLES[-1], ctx)
    data = workflow_of(spec, ctx)
    checkout, bump = steps(data)[-2:]
    assert checkout["with"]["repository"] == "acme/helm-values" and checkout["with"]["ref"] == "trunk"
    assert bump["env"]["VALUES_FILE"] == f"apps/{spec.team}/{spec.name}/values-devel.yaml"
    assert bump["env"]["BASE_BRANCH"] == "trunk"
    prod = platform.environments["prod"].account_id
    assert data["env"]["IMAGE_REPOSITORY"].startswith(f"{prod}.dkr.ecr.")


def test_render_is_deterministic_and_starts_with_a_comment() -> None:
    spec = example(EXAMPLES[0])
    first, second = ci.render(spec, CTX), ci.render(spec, CTX)
    assert first == second
    assert first.files[ci.WORKFLOW_PATH].startswith("# ")


def test_workflow_goes_only_with_the_last_environment() -> None:
    spec = example(next(p for p in EXAMPLES if p.stem == "ranking-web"))
    assert ci.render_delete(spec, CTX, ["devel"]) == []
    assert ci.render_delete(spec, CTX, ["devel", "prod"]) == []
    (changeset,) = ci.render_delete(spec, CTX, ["devel", "alpha", "prod"])
    assert changeset.repo == "service" and not changeset.files
    assert sorted(changeset.deletes) == sorted(ci.render(spec, CTX).files)


# --- the workflow schema and SRE's action pins ---------------------------------------------------------------
WORKFLOW_SCHEMA = json.loads((ROOT / "schemas" / "ci" / "github-workflow.json").read_text())


def workflow_problems(text: str) -> list[str]:
    validator = jsonschema.Draft7Validator(WORKFLOW_SCHEMA)
    return [f"{'.'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(yaml.safe_load(text))]


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_every_generated_workflow_validates_against_the_workflow_schema(path: Path) -> None:
    spec = example(path)
    workflows = {f"{cs.repo}:{p}": text for cs in plan(spec, CTX) for p, text in cs.files.items()
                 if p.startswith(".github/workflows/") and p.endswith((".yaml", ".yml"))}
    assert f"service:{ci.WORKFLOW_PATH}" in workflows
    for where, text in workflows.items():
        assert workflow_problems(text) == [], where


def test_the_schema_check_is_not_vacuous() -> None:
    text = ci.render(example(EXAMPLES[0]), CTX).files[ci.WORKFLOW_PATH]
    broken = text.replace("runs-on: ubuntu-latest", "runs_on: ubuntu-latest")
    assert workflow_problems(broken)


def test_sre_action_pins_move_the_workflow_and_keep_the_tag_readable() -> None:
    sha = "0" * 39 + "1"
    data = yaml.safe_load((ROOT / "examples" / "ranking-web.yaml").read_text()) | {
        "pins": {"actions": {"checkout": f"v4.3.0@{sha}"}}}
    spec = parse_spec(data, CTX.platform, CTX.blueprints)
    text = ci.render(spec, CTX).files[ci.WORKFLOW_PATH]
    assert text.count(f"uses: actions/checkout@{sha} # v4.3.0") == 2  # both checkouts
    assert f"@{actions.PINNED['aws'].sha} # {actions.PINNED['aws'].tag}" in text  # the table for the rest
    assert workflow_problems(text) == []


@pytest.mark.parametrize(("pins", "needle"), [
    ({"actions": {"checkout": "v4.3.0"}}, "TAG@SHA"),
    ({"actions": {"checkout": "v4.3.0@abc123"}}, "40-character"),
    ({"actions": {"setup-node": f"v4@{'a' * 40}"}}, "pinned table"),
    ({"environments": {"prod": {"actions": {"checkout": f"v4@{'a' * 40}"}}}}, "service-wide"),
])
def test_bad_action_pins_are_refused(pins: dict[str, Any], needle: str) -> None:
    data = yaml.safe_load((ROOT / "examples" / "ranking-web.yaml").read_text()) | {"pins": pins}
    with pytest.raises(InvalidSpecError) as caught:
        parse_spec(data, CTX.platform, CTX.blueprints)
    assert any(needle in message for message in caught.value.errors.values()), caught.value.errors
