"""Button clicks: approve, deny (opens the reason modal), retry, delete confirm/cancel, New service.

Each listener acks first, then decides through the workflow. Approval clicks are pre-checked with the
policy's own `may_decide` so a non-SRE or the requester gets a clear ephemeral refusal (and a deny click
never opens a modal they cannot submit); the workflow still enforces it, and of two simultaneous
clicks it records one — the other gets "already approved by …" from the app's error handler.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient

from bot.slack import ids
from bot.slack.blocks import escape, user_ref
from bot.slack.home import publish_home
from bot.slack.messages import decided_approval_message, group_label, parse_delete_value, text_message
from bot.slack.modals import deny_reason_modal, new_service_modal
from bot.slack.surface import SlackSurface
from bot.workflow.api import Actor, RequestInfo, State, StepInfo
from bot.workflow.policy import may_decide

log = logging.getLogger(__name__)


def approval_refusal(actor: Actor, request: RequestInfo, step: StepInfo) -> str | None:
    """Why `actor` may not decide this step (None: they may). Pure; mirrors the workflow's rules."""
    if step.kind != "approval":
        return f"Step {step.number} of request #{request.id} is not an approval."
    if step.decided_by:
        verdict = "approved" if step.state == State.SUCCEEDED else "denied"
        return f"Already {verdict} by {user_ref(step.decided_by)}."
    if step.state.finished:
        return f"Request #{request.id} is {request.state.value}; nothing left to decide."
    if actor.id == request.requester:
        return "You asked for this request, so someone else must approve it: nobody approves their own request."
    group = step.approver_group or "sre"
    if not may_decide(actor, group):
        return f"Only members of {group_label(group)} may approve or deny this step; you are not one of them."
    return None


def _find(request: RequestInfo, step_id: int) -> StepInfo | None:
    return next((s for s in request.steps if s.id == step_id), None)


def _ephemeral(respond: Respond, text: str) -> None:
    message = text_message(text)
    respond(text=message["text"], blocks=message["blocks"], response_type="ephemeral", replace_original=False)


def _tell(body: dict[str, Any], respond: Respond, client: WebClient, text: str) -> None:
    """Ephemeral in the clicked message's channel; from the Home tab (no response_url) as a DM."""
    if body.get("response_url"):
        _ephemeral(respond, text)
    else:
        message = text_message(text)
        client.chat_postMessage(channel=body["user"]["id"], text=message["text"], blocks=message["blocks"])


def register(app: App, surface: SlackSurface) -> None:
    def decide_click(body: dict[str, Any], respond: Respond, client: WebClient, *, approve: bool) -> None:
        action = body["actions"][0]
        request_id, step_id = ids.parse_approval_value(action["value"])
        user_id = body["user"]["id"]
        actor = surface.actors.actor(user_id)
        request = surface.workflow.get_request(request_id)
        step = _find(request, step_id)
        refusal = approval_refusal(actor, request, step) if step else f"Request #{request_id} has no such step."
        if refusal:
            surface.workflow.record_refusal(actor, "approval", refusal, request_id=request_id)
            _tell(body, respond, client, refusal)
            return
        assert step is not None
        container = body.get("container") or {}
        if not approve:
            client.views_open(trigger_id=body["trigger_id"],
                              view=deny_reason_modal(request_id, step_id, step.title,
                                                     channel=container.get("channel_id"),
                                                     message_ts=container.get("message_ts")))
            return
        request = surface.workflow.decide(request_id, step_id, actor, approve=True)
        after_decision(surface, client, request, step_id, container, user_id)

    @app.action(ids.APPROVE)
    def approve(ack: Ack, body: dict[str, Any], respond: Respond, client: WebClient) -> None:
        ack()
        decide_click(body, respond, client, approve=True)

    @app.action(ids.DENY)
    def deny(ack: Ack, body: dict[str, Any], respond: Respond, client: WebClient) -> None:
        ack()
        decide_click(body, respond, client, approve=False)

    @app.action(ids.RETRY)
    def retry(ack: Ack, body: dict[str, Any], respond: Respond, client: WebClient) -> None:
        ack()
        request_id = int(body["actions"][0]["value"])
        request = surface.workflow.retry(request_id, surface.actors.actor(body["user"]["id"]))
        surface.notifier.request_changed(request)
        step = request.current_step()
        where = f" from step {step.number} ({escape(step.title)})" if step else ""
        _tell(body, respond, client, f":arrows_counterclockwise: Retrying request #{request.id}{where}.")

    @app.action(ids.DELETE_CONFIRM)
    def delete_confirm(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        ack()
        service, envs = parse_delete_value(body["actions"][0]["value"])
        request = surface.workflow.submit_delete(service, envs or None, surface.actors.actor(body["user"]["id"]))
        surface.notifier.request_changed(request)
        respond(text=f":wastebasket: Delete request #{request.id} for {escape(service)} is queued; "
                     "follow it in its thread.", replace_original=True)

    @app.action(ids.DELETE_CANCEL)
    def delete_cancel(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        ack()
        service, _ = parse_delete_value(body["actions"][0]["value"])
        respond(text=f"Kept {escape(service)}; nothing was deleted.", replace_original=True)

    @app.action(ids.OPEN_NEW_SERVICE)
    def open_new_service(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        registry = surface.blueprints
        blueprints = registry.all()
        selected = "web-service" if "web-service" in registry else blueprints[0].id
        actor = surface.actors.actor(body["user"]["id"], profile=False)
        settings = surface.settings
        client.views_open(trigger_id=body["trigger_id"],
                          view=new_service_modal(blueprints, selected, sorted(settings.platform.teams),
                                                 default_team=actor.teams[0] if actor.teams else None,
                                                 default_ttl_hours=settings.platform.default_ttl_hours,
                                                 max_ttl_hours=settings.platform.max_ttl_hours))


def after_decision(surface: SlackSurface, client: WebClient, request: RequestInfo, step_id: int,
                   container: dict[str, Any], user_id: str) -> None:
    """Replace the clicked prompt with who decided, refresh the root message, and the Home tab if clicked there."""
    step = _find(request, step_id)
    channel, ts = container.get("channel_id"), container.get("message_ts")
    if step is not None and channel and ts:
        message = decided_approval_message(request, step)
        client.chat_update(channel=channel, ts=ts, text=message["text"], blocks=message["blocks"])
        surface.notifier.forget_approval(request.id, step_id)
    surface.notifier.request_changed(request)
    if container.get("type") == "view":
        publish_home(surface, client, user_id)
