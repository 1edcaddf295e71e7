"""terragrunt provisioner (placeholder until its renderer lands)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from provisioners.changeset import ChangeSet
from provisioners.spec import ServiceSpec

if TYPE_CHECKING:
    from provisioners.plan import RenderContext

REPO = "infra"


def render(spec: ServiceSpec, ctx: RenderContext) -> ChangeSet:
    return ChangeSet(repo=REPO)


def render_delete(spec: ServiceSpec, ctx: RenderContext, envs: list[str]) -> list[ChangeSet]:
    return []
