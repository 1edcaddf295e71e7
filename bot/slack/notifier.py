"""SlackNotifier: the workflow's `Notifier` in Slack — one thread per request, kept current.

The first news about a request posts its root message in `settings.requests_channel` (or, with no
channel configured, in the requester's DM) and records it with the workflow (`set_thread`). Later
changes rebuild the root message and `chat.update` it; bursts are coalesced so ten step changes in a
second cost one update, and an update identical to the last one sent is skipped. Step progress and
approval prompts are thread replies; a finished request DMs its requester. Slack failures are logged,
never raised: a Slack outage must not fail an infrastructure step (the next change re-sends the state).
Called from workers, never inside a Slack ack.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.config import Settings
from bot.slack.messages import (
    Message,
    approval_message,
    decided_approval_message,
    request_finished_message,
    request_message,
    step_reply,
    ttl_reminder_message,
)
from bot.workflow.api import ApprovalInfo, EnvironmentInfo, RequestInfo, ServiceInfo, StepInfo

log = logging.getLogger(__name__)

SetThread = Callable[[int, str, str], None]


def is_slack_user(actor_id: str | None) -> bool:
    return bool(actor_id) and actor_id[:1] in ("U", "W") and actor_id.isalnum()  # type: ignore[index,union-attr]


class SlackNotifier:
    def __init__(self, client: WebClient, settings: Settings, *, set_thread: SetThread | None = None,
                 coalesce_seconds: float = 1.0) -> None:
        self._client = client
        self._settings = settings
        self.set_thread = set_thread
        self.coalesce_seconds = coalesce_seconds
        self._lock = threading.RLock()
        self._threads: dict[int, tuple[str, str]] = {}
        self._pending: dict[int, RequestInfo] = {}
        self._sent: dict[int, Any] = {}
        self._approvals: dict[tuple[int, int], list[tuple[str, str]]] = {}  # prompts (and reminders) per step
        self._dms: dict[str, str] = {}
        self._timer: threading.Timer | None = None

    # --- Notifier ---------------------------------------------------------------------------------
    def request_changed(self, request: RequestInfo) -> None:
        if self._thread(request, create=True) is None:
            return
        with self._lock:
            self._pending[request.id] = request
            immediate = self.coalesce_seconds <= 0
            if not immediate and self._timer is None:
                self._timer = threading.Timer(self.coalesce_seconds, self.flush)
                self._timer.daemon = True
                self._timer.start()
        if immediate:
            self.flush()

    def step_progress(self, request: RequestInfo, step: StepInfo, text: str) -> None:
        thread = self._thread(request, create=True)
        if thread is not None:
            self._post(thread[0], step_reply(request, step, text), thread_ts=thread[1], request_id=request.id)

    def approval_needed(self, approval: ApprovalInfo) -> None:
        thread = self._thread(approval.request, create=True)
        if thread is None:
            return
        ts = self._post(thread[0], approval_message(approval), thread_ts=thread[1], request_id=approval.request.id)
        if ts:
            with self._lock:
                self._approvals.setdefault((approval.request.id, approval.step.id), []).append((thread[0], ts))

    def request_finished(self, request: RequestInfo) -> None:
        self.request_changed(request)
        self.flush(request.id)
        with self._lock:  # a long-running process keeps state only for requests still moving
            self._sent.pop(request.id, None)
            self._threads.pop(request.id, None)
            for key in [k for k in self._approvals if k[0] == request.id]:
                del self._approvals[key]
        if is_slack_user(request.requester):
            channel = self._dm(request.requester)
            if channel:
                self._post(channel, request_finished_message(request), request_id=request.id)

    def ttl_reminder(self, service: ServiceInfo, env: EnvironmentInfo) -> None:
        channel = self._dm(service.owner) if is_slack_user(service.owner) else self._settings.requests_channel
        if channel:
            self._post(channel, ttl_reminder_message(service, env))

    # --- approvals decided outside the thread (App Home, CLI) -----------------------------------------
    def forget_approval(self, request_id: int, step_id: int) -> None:
        """The listener already replaced this prompt (it had the clicked message at hand)."""
        with self._lock:
            self._approvals.pop((request_id, step_id), None)

    # --- coalesced root-message updates ---------------------------------------------------------------
    def flush(self, request_id: int | None = None) -> int:
        """Send the latest state of pending requests (all, or one); returns how many chat.update calls."""
        with self._lock:
            if request_id is None:
                batch, self._pending = self._pending, {}
                if self._timer is not None:
                    self._timer.cancel()
                    self._timer = None
            else:
                batch = {request_id: self._pending.pop(request_id)} if request_id in self._pending else {}
        updates = 0
        for request in batch.values():
            updates += self._update_root(request)
            self._update_decided_approvals(request)
        return updates

    def close(self) -> None:
        self.flush()

    def _update_root(self, request: RequestInfo) -> int:
        thread = self._thread(request, create=False)
        if thread is None:
            return 0
        message = request_message(request)
        with self._lock:
            if self._sent.get(request.id) == message:
                return 0
        try:
            self._client.chat_update(channel=thread[0], ts=thread[1], text=message["text"], blocks=message["blocks"])
        except SlackApiError as exc:
            log.warning("chat.update of request %s failed: %s", request.id, exc.response.get("error"),
                        extra={"request_id": request.id})
            return 0
        with self._lock:
            self._sent[request.id] = message
        return 1

    def _update_decided_approvals(self, request: RequestInfo) -> None:
        for step in request.steps:
            if step.kind != "approval" or not step.decided_by:
                continue
            with self._lock:
                prompts = self._approvals.pop((request.id, step.id), [])
            message = decided_approval_message(request, step)
            for channel, ts in prompts:
                try:
                    self._client.chat_update(channel=channel, ts=ts, text=message["text"], blocks=message["blocks"])
                except SlackApiError as exc:
                    log.warning("chat.update of approval %s/%s failed: %s", request.id, step.id,
                                exc.response.get("error"), extra={"request_id": request.id})

    # --- plumbing ---------------------------------------------------------------------------------
    def _thread(self, request: RequestInfo, *, create: bool) -> tuple[str, str] | None:
        """The (channel, ts) of the request's root message, posting it first when `create`."""
        with self._lock:
            if request.slack_channel and request.slack_ts:
                self._threads.setdefault(request.id, (request.slack_channel, request.slack_ts))
            known = self._threads.get(request.id)
            if known or not create:
                return known
            channel = self._settings.requests_channel or (
                self._dm(request.requester) if is_slack_user(request.requester) else None)
            if not channel:
                log.debug("request %s has no Slack thread: no requests channel and no Slack requester", request.id)
                return None
            message = request_message(request)
            ts = self._post(channel, message, request_id=request.id)
            if ts is None:
                return None
            self._threads[request.id] = (channel, ts)
            self._sent[request.id] = message
        if self.set_thread is not None:
            try:
                self.set_thread(request.id, channel, ts)
            except Exception:
                log.exception("recording the thread of request %s failed", request.id,
                              extra={"request_id": request.id})
        return channel, ts

    def _post(self, channel: str, message: Message, *, thread_ts: str | None = None,
              request_id: int | None = None) -> str | None:
        try:
            response = self._client.chat_postMessage(channel=channel, text=message["text"], blocks=message["blocks"],
                                                     thread_ts=thread_ts, unfurl_links=False)
        except SlackApiError as exc:
            log.warning("chat.postMessage to %s failed: %s", channel, exc.response.get("error"),
                        extra={"request_id": request_id} if request_id else {})
            return None
        return str(response.get("ts") or "") or None

    def _dm(self, user_id: str) -> str | None:
        with self._lock:
            if user_id in self._dms:
                return self._dms[user_id]
        try:
            channel = (self._client.conversations_open(users=user_id).get("channel") or {}).get("id")
        except SlackApiError as exc:
            log.warning("conversations.open with %s failed: %s", user_id, exc.response.get("error"))
            return None
        if channel:
            with self._lock:
                self._dms[user_id] = channel
        return str(channel) if channel else None
