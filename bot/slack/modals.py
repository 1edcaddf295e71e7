"""Modals: the new-service form, the deny-reason form, and the pure mapping between form state and spec.

`new_service_modal` builds the form for one blueprint (choosing another rebuilds it via views.update);
`spec_from_form` turns a submission's `view.state.values` into the dict `parse_spec` takes; and
`form_errors` maps `InvalidSpecError.errors` (spec field paths) onto the form's block ids so Slack shows
each message under its field. Pure functions only: no Slack calls, no workflow calls.
"""

from __future__ import annotations

import json
from typing import Any

from bot.slack import ids
from bot.slack.blocks import (
    MAX_LABEL,
    MAX_PRIVATE_METADATA,
    Block,
    context,
    mrkdwn,
    option,
    plain,
    section,
    truncate,
)
from provisioners.blueprint import Blueprint
from provisioners.platform import STANDARD_ENVIRONMENTS
from provisioners.spec import DESCRIPTION_MAX, Components

COMPONENT_LABELS = {"s3": "S3 bucket", "rds": "RDS database", "elasticache": "ElastiCache (Redis)"}
ENVIRONMENT_LABELS = {"devel": "devel", "alpha": "alpha", "prod": "prod (needs SRE approval)"}
SPEC_COMPONENTS = tuple(Components.model_fields)
FORM_ERROR_MAX = 300


def new_service_modal(blueprints: list[Blueprint], selected: str, teams: list[str], *, default_team: str | None = None,
                      default_ttl_hours: int = 72, max_ttl_hours: int = 336, metadata: dict[str, Any] | None = None,
                      ) -> dict[str, Any]:
    """The `/launchpad new` form for blueprint `selected`; fields the blueprint does not use are left out."""
    blueprint = next((bp for bp in blueprints if bp.id == selected), blueprints[0])
    blueprint_options = [option(bp.title, bp.id) for bp in blueprints]
    blocks: list[Block] = [
        section("Fill this in and LaunchPad opens the pull requests for everything the service needs. "
                "devel and temporary environments need no approval; prod waits for an SRE."),
        {
            "type": "input", "block_id": ids.FIELD_BLUEPRINT, "dispatch_action": True,
            "label": plain("Blueprint"),
            "element": {"type": "static_select", "action_id": ids.BLUEPRINT_SELECT, "options": blueprint_options,
                        "initial_option": option(blueprint.title, blueprint.id)},
            "hint": plain(truncate(blueprint.description or blueprint.title, MAX_LABEL)),
        },
        _text_input(ids.FIELD_NAME, "Service name", placeholder="ranking-web", max_length=63,
                    hint="Lowercase letters, digits and hyphens; short names keep AWS resource names valid."),
        _team_input(teams, default_team),
        {
            "type": "input", "block_id": ids.FIELD_ENVIRONMENTS, "optional": True,
            "label": plain("Environments"),
            "element": {"type": "checkboxes", "action_id": ids.FIELD_ENVIRONMENTS,
                        "options": [option(ENVIRONMENT_LABELS[e], e) for e in STANDARD_ENVIRONMENTS],
                        "initial_options": [option(ENVIRONMENT_LABELS["devel"], "devel")]},
        },
        _text_input(ids.FIELD_TMP_ENV, "Temporary environment", placeholder="tmp-pr42", optional=True, max_length=12,
                    hint="Optional: a short-lived environment named tmp-<slug> that is torn down after its TTL."),
        {
            "type": "input", "block_id": ids.FIELD_TTL, "optional": True,
            "label": plain("TTL of the temporary environment (hours)"),
            "element": {"type": "number_input", "action_id": ids.FIELD_TTL, "is_decimal_allowed": False,
                        "min_value": "1", "max_value": str(max_ttl_hours), "initial_value": str(default_ttl_hours)},
        },
        _text_input(ids.FIELD_IMAGE, "Container image", optional=True,
                    placeholder="111111111111.dkr.ecr.eu-west-1.amazonaws.com/search/ranking-web:1.4.2",
                    hint="Optional: defaults to the service's own ECR repository."),
        {
            "type": "input", "block_id": ids.FIELD_PORT, "optional": True,
            "label": plain("Container port"),
            "element": {"type": "number_input", "action_id": ids.FIELD_PORT, "is_decimal_allowed": False,
                        "min_value": "1", "max_value": "65535", "initial_value": str(blueprint.defaults.port)},
        },
    ]
    if blueprint.needs_domain:
        blocks.append(_text_input(ids.FIELD_DOMAIN, "Production domain", placeholder="ranking.example.com",
                                  optional=True, hint="Optional: devel and alpha get <service>.<their zone>."))
    component_options = [option(COMPONENT_LABELS[c], c) for c in blueprint.optional_components()
                         if c in SPEC_COMPONENTS]
    if component_options:
        element: dict[str, Any] = {"type": "checkboxes", "action_id": ids.FIELD_COMPONENTS,
                                   "options": component_options}
        defaults = [o for o in component_options if blueprint.components[o["value"]].default]
        if defaults:
            element["initial_options"] = defaults
        blocks.append({"type": "input", "block_id": ids.FIELD_COMPONENTS, "optional": True,
                       "label": plain("Components"), "element": element})
    blocks.append(_text_input(ids.FIELD_DESCRIPTION, "Description", optional=True, multiline=True,
                              max_length=DESCRIPTION_MAX, placeholder="What the service does and who to ask"))
    required = ", ".join(blueprint.required_components())
    blocks.append(context(f"Always included for a {blueprint.title.lower()}: {required}."))
    return {
        "type": "modal",
        "callback_id": ids.NEW_SERVICE_VIEW,
        "title": plain("New service", 24),
        "submit": plain("Request", 24),
        "close": plain("Cancel", 24),
        "private_metadata": encode_metadata(metadata or {}),
        "blocks": blocks,
    }


def _text_input(block_id: str, label: str, *, placeholder: str = "", optional: bool = False, hint: str = "",
                multiline: bool = False, max_length: int | None = None) -> Block:
    element: dict[str, Any] = {"type": "plain_text_input", "action_id": block_id}
    if placeholder:
        element["placeholder"] = plain(placeholder, 150)
    if multiline:
        element["multiline"] = True
    if max_length:
        element["max_length"] = max_length
    block: Block = {"type": "input", "block_id": block_id, "label": plain(label), "element": element}
    if optional:
        block["optional"] = True
    if hint:
        block["hint"] = plain(hint)
    return block


def _team_input(teams: list[str], default_team: str | None) -> Block:
    element: dict[str, Any] = {"type": "static_select", "action_id": ids.FIELD_TEAM,
                               "placeholder": plain("Owning team"),
                               "options": [option(t, t) for t in teams[:100]]}
    if default_team is not None and default_team in teams[:100]:
        element["initial_option"] = option(default_team, default_team)
    return {"type": "input", "block_id": ids.FIELD_TEAM, "label": plain("Team"), "element": element}


def encode_metadata(data: dict[str, Any]) -> str:
    text = json.dumps(data, separators=(",", ":"), sort_keys=True)
    if len(text) > MAX_PRIVATE_METADATA:
        raise ValueError("private_metadata too long; keep only ids in it")
    return text


def decode_metadata(text: str | None) -> dict[str, Any]:
    try:
        data = json.loads(text or "{}")
    except json.JSONDecodeError:
        return {}
    return data if isinstance(data, dict) else {}


# --- submission -> spec ---------------------------------------------------------------------------


def selected_blueprint(state_values: dict[str, Any]) -> str | None:
    chosen = (state_values.get(ids.FIELD_BLUEPRINT, {}).get(ids.BLUEPRINT_SELECT) or {}).get("selected_option")
    return chosen["value"] if chosen else None


def spec_from_form(state_values: dict[str, Any], owner: str) -> dict[str, Any]:
    """The spec dict `parse_spec` validates; empty optional fields are left out so defaults apply."""

    def value(block_id: str) -> Any:
        return state_values.get(block_id, {}).get(block_id, {})

    def text(block_id: str) -> str:
        return (value(block_id).get("value") or "").strip()

    def selected(block_id: str) -> list[str]:
        return [o["value"] for o in value(block_id).get("selected_options") or []]

    data: dict[str, Any] = {"owner": owner, "name": text(ids.FIELD_NAME), "blueprint": selected_blueprint(state_values)}
    team = value(ids.FIELD_TEAM).get("selected_option")
    data["team"] = team["value"] if team else ""
    environments: list[dict[str, Any]] = [{"name": e} for e in selected(ids.FIELD_ENVIRONMENTS)]
    tmp = text(ids.FIELD_TMP_ENV).lower()
    if tmp:
        ttl = text(ids.FIELD_TTL)
        environments.append({"name": tmp if tmp.startswith("tmp-") else f"tmp-{tmp}",
                             "ttl_hours": _int_or_raw(ttl) if ttl else None})
    data["environments"] = environments
    for field in (ids.FIELD_IMAGE, ids.FIELD_DOMAIN, ids.FIELD_DESCRIPTION):
        if text(field):
            data[field] = text(field)
    if text(ids.FIELD_PORT):
        data["port"] = _int_or_raw(text(ids.FIELD_PORT))
    components = selected(ids.FIELD_COMPONENTS)
    if components:
        data["components"] = {c: {} for c in components}
    if data["blueprint"] is None:
        del data["blueprint"]
    return data


def _int_or_raw(text: str) -> int | str:
    """An int when it is one; otherwise the raw text, so validation reports it against its field."""
    try:
        return int(text)
    except ValueError:
        return text


def form_errors(errors: dict[str, str], spec_data: dict[str, Any], blocks: list[Block]) -> dict[str, str]:
    """Spec field paths -> the block ids of the form that show them (`response_action: errors`).

    Errors for fields the form has no block for land on the service-name block, prefixed with their
    field, so nothing is silently dropped and Slack never gets an unknown block id.
    """
    present = {b["block_id"] for b in blocks if b.get("type") == "input" and "block_id" in b}
    environments = spec_data.get("environments", [])
    result: dict[str, str] = {}
    for field, message in errors.items():
        block_id = _block_for(field, message, environments)
        if block_id not in present:
            message = f"{field}: {message}"
            block_id = ids.FIELD_NAME
        joined = f"{result[block_id]}; {message}" if block_id in result else message
        result[block_id] = truncate(joined, FORM_ERROR_MAX)
    return result


def _block_for(field: str, message: str, environments: list[dict[str, Any]]) -> str:
    parts = field.split(".")
    head = parts[0]
    if head == "environments":
        if parts[-1] == "domain":
            return ids.FIELD_DOMAIN
        if len(parts) >= 2:
            env = _environment_at(parts[1], environments)
            if env.startswith("tmp-") or not env:
                ttl = parts[-1] == "ttl_hours" or "ttl_hours" in message
                return ids.FIELD_TTL if ttl else ids.FIELD_TMP_ENV
        return ids.FIELD_ENVIRONMENTS
    if head in ("components", "iam_policy_arns", "ingress_cidrs"):
        return ids.FIELD_COMPONENTS if head == "components" else head
    return head


def _environment_at(key: str, environments: list[dict[str, Any]]) -> str:
    if key.isdigit():
        index = int(key)
        return str(environments[index].get("name", "")) if index < len(environments) else ""
    return key


# --- deny reason ----------------------------------------------------------------------------------


def deny_reason_modal(request_id: int, step_id: int, step_title: str, *, channel: str | None = None,
                      message_ts: str | None = None) -> dict[str, Any]:
    """Asks the SRE why; the reason is recorded with the decision and shown in the thread."""
    metadata = {"request_id": request_id, "step_id": step_id, "channel": channel, "ts": message_ts}
    return {
        "type": "modal",
        "callback_id": ids.DENY_REASON_VIEW,
        "title": plain(f"Deny request #{request_id}", 24),
        "submit": plain("Deny", 24),
        "close": plain("Cancel", 24),
        "private_metadata": encode_metadata(metadata),
        "blocks": [
            {"type": "section", "text": mrkdwn(f"*{step_title}*\nThe requester sees this reason in the thread.")},
            {"type": "input", "block_id": ids.FIELD_REASON, "label": plain("Reason"),
             "element": {"type": "plain_text_input", "action_id": ids.FIELD_REASON, "multiline": True,
                         "min_length": 3, "max_length": 500,
                         "placeholder": plain("What must change before this can be approved?")}},
        ],
    }


def deny_reason_from_form(state_values: dict[str, Any]) -> str:
    return str((state_values.get(ids.FIELD_REASON, {}).get(ids.FIELD_REASON) or {}).get("value") or "").strip()
