"""Blueprints: what kind of service a request creates, as data in `templates/blueprints/*.yaml`.

Adding a blueprint needs no Python: a YAML file lists its components (required or optional), the
provisioners that run, and defaults. The registry is built in one place and refuses duplicates at
start-up, so a typo cannot silently shadow another blueprint.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, Field, ValidationError

from provisioners.bundled import TEMPLATES_DIR

ComponentKind = Literal["ecr", "security_group", "target_group", "iam_role", "dns", "s3", "rds", "elasticache"]
ProvisionerId = Literal["terragrunt", "helm", "argocd", "ci"]


class ComponentRule(BaseModel):
    required: bool = False
    default: bool = Field(default=False, description="enabled by default when optional")


class BlueprintDefaults(BaseModel):
    port: int = Field(default=8080, ge=1024, le=65535, description="the app runs as non-root: 1024 or above")
    cpu: str = "250m"
    memory: str = "512Mi"
    replicas: dict[str, int] = Field(default_factory=lambda: {"devel": 1, "alpha": 2, "prod": 3})
    health_check_path: str = "/healthz"


class Blueprint(BaseModel):
    id: str
    title: str
    description: str = ""
    needs_domain: bool = False
    provisioners: list[ProvisionerId]
    components: dict[ComponentKind, ComponentRule]
    defaults: BlueprintDefaults = Field(default_factory=BlueprintDefaults)

    def required_components(self) -> list[str]:
        return [k for k, rule in self.components.items() if rule.required]

    def optional_components(self) -> list[str]:
        return [k for k, rule in self.components.items() if not rule.required]

    def replicas_for(self, env: str) -> int:
        return self.defaults.replicas.get(env, 1)


class BlueprintRegistry:
    """Blueprints by id; the one place that knows which exist."""

    def __init__(self, blueprints: list[Blueprint]) -> None:
        self._by_id: dict[str, Blueprint] = {}
        for bp in blueprints:
            if bp.id in self._by_id:
                raise ValueError(f"duplicate blueprint id {bp.id!r}: each blueprint file needs a unique id")
            self._by_id[bp.id] = bp

    @classmethod
    def load(cls, directory: Path | None = None) -> BlueprintRegistry:
        directory = directory or TEMPLATES_DIR / "blueprints"
        blueprints = []
        for path in sorted(directory.glob("*.yaml")):
            try:
                blueprints.append(Blueprint.model_validate(yaml.safe_load(path.read_text())))
            except ValidationError as exc:
                raise ValueError(f"blueprint {path.name} is invalid: {exc}") from exc
        return cls(blueprints)

    def get(self, blueprint_id: str) -> Blueprint:
        try:
            return self._by_id[blueprint_id]
        except KeyError:
            known = ", ".join(sorted(self._by_id))
            raise KeyError(f"unknown blueprint {blueprint_id!r}; choose one of: {known}") from None

    def __contains__(self, blueprint_id: object) -> bool:
        return blueprint_id in self._by_id

    def all(self) -> list[Blueprint]:
        return [self._by_id[k] for k in sorted(self._by_id)]
