"""Who is clicking: a Slack user id becomes an `Actor` with SRE and team membership from Slack user groups.

Membership comes from usergroups.users.list (the SRE group and each team's `slack_group`) plus
`settings.sre_users`, cached for `settings.usergroup_cache_seconds`; names and emails from users.info.
When Slack cannot answer, the last known membership is kept, and with none it fails closed (not SRE,
no teams). This module only reads Slack; what an actor may do is decided by the workflow.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.config import Settings
from bot.workflow.api import Actor

log = logging.getLogger(__name__)


class ActorDirectory:
    def __init__(self, client: WebClient, settings: Settings, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._client = client
        self._settings = settings
        self._clock = clock
        self._lock = threading.Lock()
        self._groups: dict[str, tuple[float, frozenset[str]]] = {}
        self._users: dict[str, tuple[float, dict[str, Any]]] = {}

    @property
    def ttl(self) -> float:
        return float(self._settings.usergroup_cache_seconds)

    def actor(self, user_id: str, *, profile: bool = True) -> Actor:
        """The Actor for a Slack user; `profile=False` skips users.info when name/email are not needed."""
        info = self._user(user_id) if profile else {}
        user_profile = info.get("profile") or {}
        teams = [name for name, team in sorted(self._settings.platform.teams.items())
                 if team.slack_group and user_id in self.members(team.slack_group)]
        return Actor(id=user_id, name=str(info.get("real_name") or info.get("name") or ""),
                     email=user_profile.get("email"), is_sre=self.is_sre(user_id), teams=teams)

    def is_sre(self, user_id: str) -> bool:
        if user_id in self._settings.sre_users:
            return True
        group = self._settings.sre_usergroup
        return bool(group) and user_id in self.members(group)

    def members(self, group_id: str) -> frozenset[str]:
        now = self._clock()
        with self._lock:
            cached = self._groups.get(group_id)
        if cached and cached[0] > now:
            return cached[1]
        try:
            response = self._client.usergroups_users_list(usergroup=group_id)
            members = frozenset(response.get("users") or [])
        except SlackApiError as exc:
            log.warning("usergroups.users.list %s failed (%s); keeping the last known membership",
                        group_id, exc.response.get("error"))
            return cached[1] if cached else frozenset()
        with self._lock:
            self._groups[group_id] = (now + self.ttl, members)
        return members

    def _user(self, user_id: str) -> dict[str, Any]:
        now = self._clock()
        with self._lock:
            cached = self._users.get(user_id)
        if cached and cached[0] > now:
            return cached[1]
        try:
            user = dict(self._client.users_info(user=user_id).get("user") or {})
        except SlackApiError as exc:
            log.warning("users.info %s failed (%s)", user_id, exc.response.get("error"))
            return cached[1] if cached else {}
        with self._lock:
            self._users[user_id] = (now + self.ttl, user)
        return user
