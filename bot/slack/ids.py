"""Identifiers shared by view builders and listeners: callback ids, action ids and block-id prefixes.

One place, so a builder and the listener that handles its clicks can never drift apart.
"""

from __future__ import annotations

COMMAND = "/launchpad"

# modals (callback_id)
NEW_SERVICE_VIEW = "launchpad_new_service"
DENY_REASON_VIEW = "launchpad_deny_reason"

# actions (action_id)
BLUEPRINT_SELECT = "blueprint_select"
APPROVE = "approval_approve"
DENY = "approval_deny"
RETRY = "request_retry"
DELETE_CONFIRM = "delete_confirm"
DELETE_CANCEL = "delete_cancel"
OPEN_NEW_SERVICE = "open_new_service"

# blocks of the new-service modal (block_id == the form field)
FIELD_BLUEPRINT = "blueprint"
FIELD_NAME = "name"
FIELD_TEAM = "team"
FIELD_ENVIRONMENTS = "environments"
FIELD_TMP_ENV = "tmp_env"
FIELD_TTL = "ttl_hours"
FIELD_IMAGE = "image"
FIELD_PORT = "port"
FIELD_DOMAIN = "domain"
FIELD_COMPONENTS = "components"
FIELD_DESCRIPTION = "description"
FIELD_REASON = "reason"


def approval_block_id(request_id: int, step_id: int) -> str:
    return f"approval:{request_id}:{step_id}"


def approval_value(request_id: int, step_id: int) -> str:
    return f"{request_id}:{step_id}"


def parse_approval_value(value: str) -> tuple[int, int]:
    """`'12:5'` -> (12, 5); raises ValueError on anything else."""
    request_id, step_id = value.split(":", 1)
    return int(request_id), int(step_id)

# declared in manifest.yaml; the AWS listener group handles it
IAM_PASSWORD_SHORTCUT = "launchpad_iam_password_reset"
