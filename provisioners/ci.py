"""The service repository's CI: one GitHub Actions workflow that builds, pushes and proposes a deploy.

On every push to the default branch (or by hand) the workflow assumes the service's CI role through
GitHub's OIDC provider (no stored AWS keys), builds the image tagged with the commit, pushes it to the
service's ECR repository, and opens (or refreshes) one pull request in the values repository that sets
the image (repository, tag and digest) in the service's *first* environment's `values-<env>.yaml`
(`provisioners.release`). Merging that pull request deploys there; the other environments get the
image only by promotion (`launchpad promote`), through the approval policy.

The workflow is built as Python data and serialised with `to_yaml`, so quoting is the emitter's job;
the shell steps are static files in `templates/ci/` that read everything from `env`, never from
`${{ }}` expressions pasted into a script. This module must not know how the role or the repository
are created, nor where values live: their names come from `provisioners.terragrunt` and
`provisioners.helm`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from provisioners import ownership
from provisioners.actions import annotate, uses
from provisioners.changeset import ChangeSet
from provisioners.helm import environment_file
from provisioners.ownership import FileRow
from provisioners.release import first_environment
from provisioners.render import YamlBlock, to_yaml
from provisioners.spec import ServiceSpec
from provisioners.terragrunt import ci_role_arn, service_repository

if TYPE_CHECKING:
    from provisioners.plan import RenderContext

REPO = "service"
WORKFLOW_PATH = ".github/workflows/launchpad-deploy.yaml"
# The service repository is the team's own: its root README and CODEOWNERS stay theirs. LaunchPad's note
# on what it wrote goes next to nothing of theirs.
README_PATH = ".github/launchpad/README.md"
VALUES_TOKEN_SECRET = "LAUNCHPAD_VALUES_TOKEN"  # contents + pull requests: write on the values repository


def workflow(spec: ServiceSpec, ctx: RenderContext) -> dict[str, Any]:
    """The workflow as data; `render` serialises it."""
    platform = ctx.platform
    artifact = platform.artifact_target()
    repository = spec.names(platform.artifact_environment, platform).ecr_repository
    values_repo = platform.repositories["values"]
    branch = platform.repositories["service"].base_branch
    scripts = ctx.templates_dir / "ci"
    first = first_environment([e.name for e in spec.environments], platform)
    pins = spec.pins.actions  # SRE's per-service action pins (launchpad bulk --action); the table otherwise
    return {
        "name": f"Deploy {spec.name}",
        "on": {"push": {"branches": [branch]}, "workflow_dispatch": {}},
        "permissions": {"id-token": "write", "contents": "read"},
        "concurrency": {"group": "launchpad-deploy", "cancel-in-progress": False},
        "env": {
            "AWS_REGION": artifact.region,
            "ECR_REPOSITORY": repository,
            "IMAGE_REPOSITORY": f"{platform.registry_host()}/{repository}",
            "IMAGE_TAG": "${{ github.sha }}",
        },
        "jobs": {"deploy": {
            "runs-on": "ubuntu-latest",
            "timeout-minutes": 30,
            "steps": [
                {"name": "Check out", "uses": uses("checkout", pins)},
                {"name": "Assume the CI role through GitHub's OIDC provider", "uses": uses("aws", pins),
                 "with": {"role-to-assume": ci_role_arn(spec, platform), "aws-region": artifact.region}},
                {"name": "Log in to Amazon ECR", "uses": uses("ecr", pins)},
                {"name": "Build and push the image", "run": YamlBlock((scripts / "push-image.sh").read_text())},
                {"name": "Check out the values repository", "uses": uses("checkout", pins),
                 "with": {"repository": values_repo.name, "ref": values_repo.base_branch,
                          "token": f"${{{{ secrets.{VALUES_TOKEN_SECRET} }}}}", "path": "values"}},
                {"name": "Propose the new image tag", "working-directory": "values",
                 "env": {
                     "GH_TOKEN": f"${{{{ secrets.{VALUES_TOKEN_SECRET} }}}}",
                     "SERVICE": spec.name,
                     "ENVIRONMENT": first,
                     "VALUES_FILE": environment_file(spec, ctx, first),
                     "BASE_BRANCH": values_repo.base_branch,
                     "SOURCE_REPOSITORY": "${{ github.repository }}",
                     "RUN_URL": "${{ github.server_url }}/${{ github.repository }}/actions/runs/${{ github.run_id }}",
                 },
                 "run": YamlBlock((scripts / "propose-image-tag.sh").read_text())},
            ],
        }},
    }


HEADER = """\
# Builds {service}, pushes the image to ECR and proposes the deploy in {values}.
# Managed by LaunchPad: change it through a LaunchPad request, or the next render undoes the edit.
# Needs the repository secret {secret} (write access to contents and pull requests of {values}).
"""


def render(spec: ServiceSpec, ctx: RenderContext) -> ChangeSet:
    values_repo = ctx.platform.repositories["values"].name
    header = HEADER.format(service=spec.name, values=values_repo, secret=VALUES_TOKEN_SECRET)
    envs = [e.name for e in spec.environments]
    summary = (f"Adds the workflow `{WORKFLOW_PATH}` to {service_repository(spec, ctx.platform)}: every push to the "
               f"default branch builds the image, pushes it to ECR and opens a pull request in {values_repo} that "
               f"deploys it to {first_environment(envs, ctx.platform)}; `launchpad promote` takes it further. "
               f"The repository needs the secret `{VALUES_TOKEN_SECRET}`.")
    text = header + annotate(to_yaml(workflow(spec, ctx)), spec.pins.actions)
    return ChangeSet(repo=REPO, files={WORKFLOW_PATH: text, README_PATH: _readme(spec, ctx)}, environments=envs,
                     title=f"{spec.name}: build and deploy workflow", summary=summary)


def render_delete(spec: ServiceSpec, ctx: RenderContext, envs: list[str]) -> list[ChangeSet]:
    """The workflow serves every environment: it goes only when the last one does."""
    if not {e.name for e in spec.environments} <= set(envs):
        return []
    return [ChangeSet(repo=REPO, deletes=[WORKFLOW_PATH, README_PATH], environments=sorted(envs),
                      title=f"{spec.name}: remove the build and deploy workflow",
                      summary=f"Removes `{WORKFLOW_PATH}`: {spec.name} has no environment left to deploy to.")]


def _readme(spec: ServiceSpec, ctx: RenderContext) -> str:
    values_repo = ctx.platform.repositories["values"].name
    return ownership.folder_readme(
        ctx, title=f"{spec.name}: what LaunchPad writes in this repository",
        intro=[f"One workflow that builds `{spec.name}`, pushes the image to ECR through GitHub's OIDC provider (no "
               f"stored AWS keys) and proposes the new tag in {values_repo}. The rest of the repository is the "
               f"team's; LaunchPad writes no CODEOWNERS here (yours stays in force; "
               f"`/{WORKFLOW_PATH} {ownership.owners_text(ownership.team_owners(spec.team, ctx.platform))}` "
               "is a fitting line)."],
        files=[FileRow(f"/{WORKFLOW_PATH}", "build, push, propose the deploy; actions pinned by commit SHA",
                       f"team {spec.team} (this repository's own CODEOWNERS)")],
        changes=[f"The workflow: a LaunchPad request for the service writes it again; it needs the repository "
                 f"secret `{VALUES_TOKEN_SECRET}` (contents and pull requests: write on {values_repo}).",
                 "Action versions: SRE, for every service at once (`launchpad bulk --action KEY=TAG@SHA`) or "
                 "in LaunchPad's pinned table.",
                 "Removed with the service's last environment (`/launchpad delete`)."])
