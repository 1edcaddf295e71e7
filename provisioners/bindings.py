"""Platform-side values that exist only once the infra change is applied (security group ids).

They flow into the gitops repository (platform-owned), never into developer-editable values: a
TargetGroupBinding or SecurityGroupPolicy that a developer could repoint would let them attach pods
to any target group or security group in the account.
"""

from __future__ import annotations

import hashlib

from pydantic import BaseModel, Field


class Bindings(BaseModel):
    """Per environment: the pod security group id created by the infra change."""

    security_group_ids: dict[str, str] = Field(default_factory=dict)

    def security_group_for(self, env: str, sg_name: str) -> str:
        return self.security_group_ids.get(env) or placeholder_security_group_id(sg_name)


def placeholder_security_group_id(sg_name: str) -> str:
    """A stable stand-in id for offline plans and the embedded default (no AWS to ask)."""
    return "sg-" + hashlib.sha256(sg_name.encode()).hexdigest()[:17]
