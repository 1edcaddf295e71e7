"""RenderContext: what every renderer needs besides the spec (platform, blueprints, bindings, templates).

It lives apart from `plan.py` so the renderers (terragrunt, helm, argocd, ci) can name it without
importing the planner that imports them. Pure data; it never renders anything itself.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Mapping
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


def per_platform(fn: Callable[[RenderContext], dict[str, str]]) -> Callable[[RenderContext], dict[str, str]]:
    """Cache files that depend only on the platform settings and the templates (a repository's notes,
    CODEOWNERS, the infra pipeline), not on the service: every change set carries them, and rendering them
    again for each of a thousand services is most of a bulk plan. Keyed by the platform object's identity
    (held, so the id cannot be reused) and the templates directory; callers get a copy."""
    cache: dict[tuple[int, Path], tuple[PlatformConfig, dict[str, str]]] = {}
    lock = threading.Lock()

    @functools.wraps(fn)
    def cached(ctx: RenderContext) -> dict[str, str]:
        key = (id(ctx.platform), ctx.templates_dir)
        with lock:
            hit = cache.get(key)
        if hit is not None and hit[0] is ctx.platform:
            return dict(hit[1])
        files = fn(ctx)
        with lock:
            if len(cache) > 64:
                cache.clear()
            cache[key] = (ctx.platform, files)
        return dict(files)

    return cached
