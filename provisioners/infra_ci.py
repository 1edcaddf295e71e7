"""The infra repository's pipeline files: GitHub Actions workflows, the pipeline script, atlantis.yaml.

SRE-owned like root.hcl: every infra change set writes them (identical each time, so a repeat changes
nothing) and none removes them. `platform.infra_pipeline` picks what is written: `actions` plans every
pull request and applies every push (`launchpad-infra-plan.yaml`, `launchpad-infra-apply.yaml`), one
job per AWS account, each assuming that account's role by OIDC, applies serialised per account by a
concurrency group; `atlantis` writes `atlantis.yaml` (a project per unit) and the same two workflows
reduced to what Atlantis does not do, destroying removed units; `none` writes nothing. The workflows
only check out, install the pinned tools and run `.launchpad/infra_pipeline.py`, a verbatim copy of
`provisioners/infra_pipeline.py`: the logic lives and is tested there. Workflows are built as data
(`to_yaml`), shell reads its inputs from `env`, actions are pinned by SHA (`actions.py`).
"""

from __future__ import annotations

import posixpath
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from provisioners import infra_pipeline
from provisioners.actions import annotate, uses
from provisioners.context import per_platform
from provisioners.platform import PlatformConfig
from provisioners.render import YamlBlock, to_yaml

if TYPE_CHECKING:
    from provisioners.changeset import ChangeSet
    from provisioners.context import RenderContext

SCRIPT_PATH = infra_pipeline.SCRIPT_PATH
PLAN_WORKFLOW = infra_pipeline.PLAN_WORKFLOW
APPLY_WORKFLOW = infra_pipeline.APPLY_WORKFLOW
JOB_PREFIX = infra_pipeline.JOB_PREFIX
ATLANTIS_FILE = "atlantis.yaml"
ATLANTIS_WORKFLOW = "launchpad-terragrunt"

HEADER = """\
# {what}
# Managed by LaunchPad (platform.infra_pipeline: {mode}); SRE-owned: change it in LaunchPad's settings or
# templates, or the next infra change set undoes the edit. The logic is in {script}.
"""


def script_text() -> str:
    """The pipeline module, verbatim: what the workflows run in the infra repository."""
    return Path(infra_pipeline.__file__).read_text(encoding="utf-8")


def account_index(platform: PlatformConfig) -> int:
    """Which path segment of a unit holds its account id (root.hcl reads it back the same way)."""
    return platform.infra_path.split("/").index("{account_id}")


@per_platform
def files(ctx: RenderContext) -> dict[str, str]:
    """Path -> content of every pipeline file for the configured `platform.infra_pipeline`."""
    platform = ctx.platform
    if platform.infra_pipeline == "none":
        return {}
    out = {SCRIPT_PATH: script_text()}
    for path, workflow in ((PLAN_WORKFLOW, plan_workflow(ctx)), (APPLY_WORKFLOW, apply_workflow(ctx))):
        header = HEADER.format(what=workflow["name"], mode=platform.infra_pipeline, script=SCRIPT_PATH)
        out[path] = header + annotate(to_yaml(workflow))
    return out


def _script_args(command: str, removed_only: bool) -> str:
    args = (f'python3 {SCRIPT_PATH} {command} --repo . --base "$BASE_SHA" --head "$HEAD_SHA" --account "$ACCOUNT" '
            '--account-index "$ACCOUNT_INDEX" --github')
    return args + (" --removed-only" if removed_only else "")


def _account_steps(ctx: RenderContext, account: str, command: str) -> list[dict[str, Any]]:
    platform = ctx.platform
    removed_only = platform.infra_pipeline == "atlantis"
    when = "steps.units.outputs.any == 'true'"
    run = _script_args(command, removed_only)
    if command == "apply":
        run += ' --job-name "$JOB_NAME"'
    else:
        run += " --results report.json"
    steps: list[dict[str, Any]] = [
        {"name": "Check out (full history: removed units are destroyed from the commit before)",
         "uses": uses("checkout"), "with": {"fetch-depth": 0, "persist-credentials": False}},
        {"name": "Find the units this change touches in this account", "id": "units",
         "run": _script_args("units", removed_only)},
        {"name": "Install OpenTofu and Terragrunt", "if": when,
         "run": YamlBlock((ctx.templates_dir / "infra-pipeline" / "install-tools.sh").read_text())},
        {"name": f"Assume the pipeline role of account {account} through GitHub's OIDC provider", "if": when,
         "uses": uses("aws"),
         "with": {"role-to-assume": platform.infra_role_for(account), "aws-region": platform.state.region,
                  "role-session-name": "launchpad-infra"}},
        {"name": "Plan every changed unit, and the destroy of every removed one" if command == "plan"
         else "Destroy removed units, then apply changed ones", "id": command, "if": when, "run": run},
    ]
    if command == "plan":
        steps.append({"name": "Fail when a unit could not be planned", "if": when,
                      "run": f"python3 {SCRIPT_PATH} verdict --results report.json"})
    return steps


def _env(ctx: RenderContext, account: str, base: str, head: str) -> dict[str, str]:
    platform = ctx.platform
    return {"ACCOUNT": account, "ACCOUNT_INDEX": str(account_index(platform)), "BASE_SHA": base, "HEAD_SHA": head,
            "TOFU_VERSION": platform.opentofu_version, "TERRAGRUNT_VERSION": platform.terragrunt_version,
            "TG_TF_PATH": "tofu"}


def plan_workflow(ctx: RenderContext) -> dict[str, Any]:
    """On a pull request: per account, plan what it adds or changes and the destroy of what it removes;
    then one job posts every account's result as one pull-request comment, updated in place."""
    platform = ctx.platform
    branch = platform.repositories["infra"].base_branch
    atlantis = platform.infra_pipeline == "atlantis"
    jobs: dict[str, Any] = {}
    for account in platform.accounts():
        jobs[f"plan-{account}"] = {
            "name": f"{JOB_PREFIX} plan ({account})",
            "runs-on": platform.infra_pipeline_runner,
            "timeout-minutes": 60,
            "permissions": {"contents": "read", "id-token": "write"},
            "concurrency": {"group": f"{JOB_PREFIX}-plan-{account}-${{{{ github.event.pull_request.number }}}}",
                            "cancel-in-progress": True},
            "outputs": {"report": "${{ steps.plan.outputs.report }}"},
            "env": _env(ctx, account, "${{ github.event.pull_request.base.sha }}",
                        "${{ github.event.pull_request.head.sha }}"),
            "steps": _account_steps(ctx, account, "plan"),
        }
    jobs["summary"] = {
        "name": f"{JOB_PREFIX} plan summary",
        "needs": sorted(jobs),
        "if": "always()",
        "runs-on": platform.infra_pipeline_runner,
        "timeout-minutes": 10,
        "permissions": {"contents": "read", "pull-requests": "write"},
        "env": {"NEEDS": "${{ toJSON(needs) }}", "GITHUB_TOKEN": "${{ github.token }}",
                "PR_NUMBER": "${{ github.event.pull_request.number }}",
                "HEAD_SHA": "${{ github.event.pull_request.head.sha }}"},
        "steps": [
            {"name": "Check out", "uses": uses("checkout"), "with": {"persist-credentials": False}},
            {"name": "Post the plan as one pull-request comment (updated in place)",
             "run": f'python3 {SCRIPT_PATH} comment --pr "$PR_NUMBER" --head "$HEAD_SHA"'},
        ],
    }
    return {
        "name": "LaunchPad infra destroy plan (removed units)" if atlantis else "LaunchPad infra plan",
        "on": {"pull_request": {"branches": [branch]}},
        "permissions": {},
        "jobs": jobs,
    }


def apply_workflow(ctx: RenderContext) -> dict[str, Any]:
    """On push to the default branch: per account (one at a time per account), destroy removed units from
    the commit before, then apply added and changed units in dependency order."""
    platform = ctx.platform
    branch = platform.repositories["infra"].base_branch
    atlantis = platform.infra_pipeline == "atlantis"
    jobs: dict[str, Any] = {}
    for account in platform.accounts():
        name = f"{JOB_PREFIX} apply ({account})"
        env = _env(ctx, account, "${{ github.event.before }}", "${{ github.sha }}")
        env.update({"JOB_NAME": name, "GITHUB_TOKEN": "${{ github.token }}"})
        jobs[f"apply-{account}"] = {
            "name": name,
            "runs-on": platform.infra_pipeline_runner,
            "timeout-minutes": 120,
            # actions: read lets a re-run of failed jobs read what the earlier attempt finished
            "permissions": {"contents": "read", "id-token": "write", "actions": "read"},
            "concurrency": {"group": f"{JOB_PREFIX}-{account}", "cancel-in-progress": False},
            "env": env,
            "steps": _account_steps(ctx, account, "apply"),
        }
    return {
        "name": "LaunchPad infra destroy (removed units)" if atlantis else "LaunchPad infra apply",
        "on": {"push": {"branches": [branch]}},
        "permissions": {},
        "jobs": jobs,
    }


# --- atlantis.yaml ---------------------------------------------------------------------------------


def atlantis_config(projects: list[dict[str, Any]]) -> str:
    """atlantis.yaml with these projects and the Terragrunt workflow they use."""
    step_plan = {"run": "terragrunt run --non-interactive --log-format bare -- plan -input=false -out=$PLANFILE"}
    step_show = {"run": "terragrunt run --non-interactive --log-format bare -- show -json $PLANFILE > $SHOWFILE"}
    step_apply = {"run": "terragrunt run --non-interactive --log-format bare -- apply -input=false $PLANFILE"}
    data = {
        "version": 3,
        "automerge": False,
        "parallel_plan": True,
        "parallel_apply": False,
        "projects": sorted(projects, key=lambda p: str(p["dir"])),
        "workflows": {ATLANTIS_WORKFLOW: {"plan": {"steps": [step_plan, step_show]},
                                          "apply": {"steps": [step_apply]}}},
    }
    header = ("# Atlantis projects, one per Terragrunt unit. Managed by LaunchPad (platform.infra_pipeline:\n"
              "# atlantis): each infra pull request rewrites its own service's projects. Removed units are\n"
              f"# destroyed by {APPLY_WORKFLOW}, which Atlantis cannot do.\n")
    return header + to_yaml(data)


def projects_of(changeset_files: dict[str, str]) -> list[dict[str, Any]]:
    units = {unit: changeset_files[f"{unit}/{infra_pipeline.UNIT_FILE}"]
             for unit in infra_pipeline.units_in(changeset_files)}
    return infra_pipeline.atlantis_projects(units, ATLANTIS_WORKFLOW)


def merged_atlantis(current: str | None, changeset: ChangeSet) -> str:
    """The repository's atlantis.yaml with this change set's units: projects of units it writes are
    (re)written, projects of units it deletes are dropped, every other project is kept."""
    existing: list[dict[str, Any]] = []
    if current:
        data = yaml.safe_load(current) or {}
        existing = [p for p in data.get("projects") or [] if isinstance(p, dict) and p.get("dir")]
    ours = projects_of(changeset.files)
    gone = {posixpath.dirname(p) for p in changeset.deletes} | {str(p["dir"]) for p in ours}
    return atlantis_config([p for p in existing if str(p["dir"]) not in gone] + ours)


def with_pipeline_files(files_: dict[str, str], ctx: RenderContext) -> dict[str, str]:
    """A change set's files plus the pipeline files (and, for Atlantis, the projects of its units)."""
    out = {**files_, **files(ctx)}
    if ctx.platform.infra_pipeline == "atlantis":
        out[ATLANTIS_FILE] = atlantis_config(projects_of(files_))
    return dict(sorted(out.items()))
