"""RenderContext: what every renderer needs besides the spec (platform, blueprints, bindings, templates).

It lives apart from `plan.py` so the renderers (terragrunt, helm, argocd, ci) can name it without
importing the planner that imports them. Pure data; it never renders anything itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from provisioners.bindings import Bindings
from provisioners.blueprint import TEMPLATES_DIR, Blueprint, BlueprintRegistry
from provisioners.platform import PlatformConfig
from provisioners.spec import ServiceSpec


@dataclass(frozen=True)
class RenderContext:
    """What every renderer needs besides the spec; all pure data."""

    platform: PlatformConfig
    blueprints: BlueprintRegistry
    bindings: Bindings = field(default_factory=Bindings)
    templates_dir: Path = TEMPLATES_DIR
    # Files as their repositories hold them now (path -> text), read by the delivering step so renderers
    # keep what developers and CI own (provisioners.helm); empty when rendering from the spec alone.
    current: Mapping[str, str] = field(default_factory=dict)

    def blueprint(self, spec: ServiceSpec) -> Blueprint:
        return self.blueprints.get(spec.blueprint)
