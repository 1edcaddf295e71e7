"""manifest.yaml declares what the code uses: the command, interactivity, Home tab, events and scopes."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from bot.slack import ids

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = yaml.safe_load((ROOT / "manifest.yaml").read_text())

# Web API methods the bot calls -> the bot scope each needs
SCOPES = {
    "chat_postMessage": "chat:write", "chat_update": "chat:write", "chat_postEphemeral": "chat:write",
    "conversations_open": "im:write", "usergroups_users_list": "usergroups:read", "users_info": "users:read",
    "users_lookupByEmail": "users:read.email",
}


def test_command_interactivity_home_and_socket_mode() -> None:
    features, settings = MANIFEST["features"], MANIFEST["settings"]
    assert [c["command"] for c in features["slash_commands"]] == [ids.COMMAND]
    assert settings["interactivity"]["is_enabled"] is True
    assert features["app_home"]["home_tab_enabled"] is True
    assert "app_home_opened" in settings["event_subscriptions"]["bot_events"]
    assert settings["socket_mode_enabled"] is True
    assert [s["callback_id"] for s in features["shortcuts"]] == [ids.IAM_PASSWORD_SHORTCUT]


def test_every_web_api_method_the_bot_calls_has_its_scope() -> None:
    scopes = set(MANIFEST["oauth_config"]["scopes"]["bot"])
    assert "commands" in scopes
    source = "\n".join(p.read_text() for p in (ROOT / "bot").rglob("*.py") if "slack_sdk" in p.read_text())
    called = set(re.findall(r"client\.((?:chat|conversations|users|usergroups|views|apps|auth|team)_[A-Za-z_]+)\(",
                            source))
    assert "chat_postMessage" in called and "usergroups_users_list" in called
    for method in called:
        if method.startswith("views_"):
            continue  # views.open/update/publish need no scope
        assert method in SCOPES, f"{method} is called; add it (and its scope) to SCOPES and the manifest"
        assert SCOPES[method] in scopes, f"{method} needs {SCOPES[method]}"
