"""Slack's requests as Slack sends them: form bodies and payload JSON (shapes copied from Slack's docs), signed.

`sign(secret, body)` produces the `X-Slack-Request-Timestamp` and `X-Slack-Signature` headers:
`v0=` + hex HMAC-SHA256 of `v0:{timestamp}:{body}` with the app's signing secret.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

TEAM = {"id": "T0000000001", "domain": "example"}
APP_ID = "A0LAUNCHPAD"


def sign(secret: str, body: str, timestamp: int | None = None) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}


def slash_command(text: str, *, user: str, response_url: str, channel: str = "C0GENERAL",
                  trigger_id: str = "13345224609.738474920.8088930838d88f008e0") -> tuple[str, str]:
    """The form body of a `/launchpad` invocation."""
    body = urlencode({
        "token": "gIkuvaNzQIHg97ATvDxqgjtO", "team_id": TEAM["id"], "team_domain": TEAM["domain"],
        "channel_id": channel, "channel_name": "general", "user_id": user, "user_name": user.lower(),
        "command": "/launchpad", "text": text, "api_app_id": APP_ID, "is_enterprise_install": "false",
        "response_url": response_url, "trigger_id": trigger_id,
    })
    return body, "application/x-www-form-urlencoded"


def _user(user: str) -> dict[str, Any]:
    return {"id": user, "username": user.lower(), "name": user.lower(), "team_id": TEAM["id"]}


def block_actions(action: dict[str, Any], *, user: str, response_url: str | None = None,
                  channel: str | None = "C0REQUESTS", message_ts: str | None = "1700000000.000002",
                  view: dict[str, Any] | None = None) -> tuple[str, str]:
    """A button click in a message (channel + message_ts) or in a view (Home tab, modal)."""
    payload: dict[str, Any] = {
        "type": "block_actions", "user": _user(user), "api_app_id": APP_ID, "token": "gIkuvaNzQIHg97ATvDxqgjtO",
        "trigger_id": "12466734323.1395872398.f9e9a2b4b2a1b7b0", "team": TEAM, "enterprise": None,
        "is_enterprise_install": False,
        "actions": [{"type": "button", "action_ts": "1700000100.000100", **action}],
    }
    if view is not None:
        payload["container"] = {"type": "view", "view_id": view.get("id", "V0000001")}
        payload["view"] = view
    else:
        payload["container"] = {"type": "message", "message_ts": message_ts, "channel_id": channel,
                                "is_ephemeral": False}
        payload["channel"] = {"id": channel, "name": "launchpad-requests"}
        payload["message"] = {"type": "message", "ts": message_ts, "text": "", "user": "U0BOT00001"}
        payload["state"] = {"values": {}}
    if response_url:
        payload["response_url"] = response_url
    return urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded"


def view_submission(view: dict[str, Any], values: dict[str, Any], *, user: str,
                    view_id: str = "V0000001") -> tuple[str, str]:
    """Submitting a modal we opened: `view` is what we sent to views.open, `values` its state."""
    payload = {
        "type": "view_submission", "team": TEAM, "user": _user(user), "api_app_id": APP_ID,
        "token": "gIkuvaNzQIHg97ATvDxqgjtO", "trigger_id": "12321423423.333649436676.d8c1bb837935619ccad0",
        "view": {**view, "id": view_id, "team_id": TEAM["id"], "state": {"values": values}, "hash": "156772938.1827394",
                 "previous_view_id": None, "root_view_id": view_id, "app_id": APP_ID, "external_id": "",
                 "app_installed_team_id": TEAM["id"], "bot_id": "B0BOT00001"},
        "response_urls": [], "is_enterprise_install": False, "enterprise": None,
    }
    return urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded"


def event(inner: dict[str, Any]) -> tuple[str, str]:
    body = {"token": "gIkuvaNzQIHg97ATvDxqgjtO", "team_id": TEAM["id"], "api_app_id": APP_ID, "event": inner,
            "type": "event_callback", "event_id": "Ev0000000001", "event_time": int(time.time()),
            "authorizations": [{"team_id": TEAM["id"], "user_id": "U0BOT00001", "is_bot": True}]}
    return json.dumps(body), "application/json"


# --- state values as Slack puts them in view.state.values -------------------------------------------


def text_value(value: str | None) -> dict[str, Any]:
    return {"type": "plain_text_input", "value": value}


def number_value(value: str | None) -> dict[str, Any]:
    return {"type": "number_input", "value": value}


def select_value(value: str | None) -> dict[str, Any]:
    option = {"text": {"type": "plain_text", "text": value}, "value": value} if value else None
    return {"type": "static_select", "selected_option": option}


def checkbox_value(values: list[str]) -> dict[str, Any]:
    return {"type": "checkboxes",
            "selected_options": [{"text": {"type": "plain_text", "text": v}, "value": v} for v in values]}


def new_service_values(*, name: str, team: str = "search", blueprint: str = "web-service",
                       environments: list[str] | None = None, tmp_env: str | None = None, ttl: str | None = "72",
                       image: str | None = None, port: str | None = "8080", domain: str | None = None,
                       components: list[str] | None = None, description: str | None = None) -> dict[str, Any]:
    values: dict[str, Any] = {
        "blueprint": {"blueprint_select": select_value(blueprint)},
        "name": {"name": text_value(name)},
        "team": {"team": select_value(team)},
        "environments": {"environments": checkbox_value(environments if environments is not None else ["devel"])},
        "tmp_env": {"tmp_env": text_value(tmp_env)},
        "ttl_hours": {"ttl_hours": number_value(ttl)},
        "image": {"image": text_value(image)},
        "port": {"port": number_value(port)},
        "components": {"components": checkbox_value(components or [])},
        "description": {"description": text_value(description)},
    }
    if blueprint == "web-service":
        values["domain"] = {"domain": text_value(domain)}
    return values


@dataclass
class Reply:
    status: int
    body: str

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


def post(url: str, body: str, content_type: str, headers: dict[str, str]) -> Reply:
    request = urllib.request.Request(url, data=body.encode(), method="POST",
                                     headers={"Content-Type": content_type, **headers})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return Reply(response.status, response.read().decode())
    except urllib.error.HTTPError as exc:
        return Reply(exc.code, exc.read().decode())
