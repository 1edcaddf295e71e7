"""Which environment of a service CI deploys, and which one each environment is promoted from (pure).

An image enters a service in its *first* environment (the one CI's workflow updates) and moves on
only by promotion, one environment at a time, in `platform.environment_order` (devel -> alpha -> prod
by default). Temporary environments are not in that order: they start from their base environment's
image and are never a promotion target. This module only answers questions about environment names;
it never reads files, talks to Argo CD or renders anything.
"""

from __future__ import annotations

from collections.abc import Sequence

from provisioners.platform import PlatformConfig


def ordered(environments: Sequence[str], platform: PlatformConfig) -> list[str]:
    """The standard environments in promotion order, then the temporary ones by name."""
    rank = {env: i for i, env in enumerate(platform.environment_order)}
    standard = sorted((e for e in environments if e in rank), key=lambda e: rank[e])
    return standard + sorted(e for e in environments if e not in rank)


def first_environment(environments: Sequence[str], platform: PlatformConfig) -> str:
    """The environment CI deploys: the least privileged standard one, else the first temporary one."""
    found = ordered(environments, platform)
    if not found:
        raise ValueError("a service has at least one environment")
    return found[0]


def promoted_from(env: str, environments: Sequence[str], platform: PlatformConfig) -> str | None:
    """The environment whose image `env` takes: the nearest less privileged one the service has; for a
    temporary environment its base environment when the service has it. None for the first environment."""
    if env not in platform.environment_order:
        base = platform.temporary_environment_base
        return base if base in environments and base != env else None
    rank = platform.environment_order.index(env)
    earlier = [e for e in ordered(environments, platform) if e in platform.environment_order
               and platform.environment_order.index(e) < rank]
    return earlier[-1] if earlier else None
