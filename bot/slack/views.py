"""Modal traffic: the new-service form (blueprint switch and submission) and the deny-reason form.

A submission is checked with `workflow.precheck_create` before the ack (validation, authorization and
locks; reads only): errors come back as `response_action: errors` on the fields that caused them, and
nothing is queued. The ack closes the modal; `submit_create` (rendering, writing) runs after it, and
the request's thread is posted then.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.slack import ids
from bot.slack.actions import after_decision
from bot.slack.blocks import escape
from bot.slack.modals import (
    decode_metadata,
    deny_reason_from_form,
    form_errors,
    new_service_modal,
    spec_from_form,
)
from bot.slack.surface import SlackSurface
from bot.workflow.api import Locked, NotAllowed, NotFound, NothingToChange
from provisioners.errors import InvalidSpecError

log = logging.getLogger(__name__)


def register(app: App, surface: SlackSurface) -> None:
    @app.action(ids.BLUEPRINT_SELECT)
    def blueprint_selected(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        """Rebuild the form for the chosen blueprint; Slack keeps what was typed in unchanged blocks."""
        ack()
        view = body["view"]
        chosen = body["actions"][0]["selected_option"]["value"]
        settings = surface.settings
        values = view.get("state", {}).get("values", {})
        team = (values.get(ids.FIELD_TEAM, {}).get(ids.FIELD_TEAM) or {}).get("selected_option")
        client.views_update(view_id=view["id"], hash=view.get("hash"),
                            view=new_service_modal(surface.blueprints.all(), chosen, sorted(settings.platform.teams),
                                                   default_team=team["value"] if team else None,
                                                   default_ttl_hours=settings.platform.default_ttl_hours,
                                                   max_ttl_hours=settings.platform.max_ttl_hours,
                                                   metadata=decode_metadata(view.get("private_metadata"))))

    @app.view(ids.NEW_SERVICE_VIEW)
    def new_service_submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient) -> None:
        user_id = body["user"]["id"]
        data = spec_from_form(view["state"]["values"], owner=user_id)
        settings = surface.settings
        actor = surface.actors.actor(user_id, profile=False)
        try:
            surface.workflow.precheck_create(data, actor)
        except InvalidSpecError as exc:
            ack(response_action="errors", errors=form_errors(exc.errors, data, view["blocks"]))
            return
        except NotAllowed as exc:
            ack(response_action="errors", errors={ids.FIELD_TEAM: str(exc)[:300]})
            return
        except (Locked, NothingToChange) as exc:
            ack(response_action="errors", errors={ids.FIELD_NAME: str(exc)[:300]})
            return
        ack()
        # Queued after the ack: rendering and writing the request must not count against Slack's 3 s.
        # A refusal that appears only now (another request took the lock in between) goes to the user.
        try:
            request = surface.workflow.submit_create(data, actor)
        except (InvalidSpecError, NotAllowed, Locked, NothingToChange) as exc:
            client.chat_postMessage(channel=user_id, text=f":warning: Your request for {escape(str(data.get('name')))} "
                                                          f"was not queued: {escape(str(exc))[:2500]}")
            return
        log.info("request %s queued by %s", request.id, user_id, extra={"request_id": request.id})
        surface.notifier.request_changed(request)
        origin = decode_metadata(view.get("private_metadata")).get("channel")
        if origin and origin != settings.requests_channel:
            where = f" in <#{settings.requests_channel}>" if settings.requests_channel else ""
            try:
                client.chat_postEphemeral(channel=origin, user=user_id,
                                          text=f":rocket: Request #{request.id} for {escape(request.service)} is "
                                               f"queued; follow it{where}.")
            except SlackApiError as exc:  # not a member of that channel: the thread mention is enough
                log.info("ephemeral confirmation in %s failed: %s", origin, exc.response.get("error"))

    @app.view(ids.DENY_REASON_VIEW)
    def deny_reason_submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient) -> None:
        meta = decode_metadata(view.get("private_metadata"))
        reason = deny_reason_from_form(view["state"]["values"])
        if len(reason) < 3:
            ack(response_action="errors", errors={ids.FIELD_REASON: "Say why, so the requester knows what to fix."})
            return
        user_id = body["user"]["id"]
        try:
            request = surface.workflow.decide(int(meta["request_id"]), int(meta["step_id"]),
                                              surface.actors.actor(user_id, profile=False), approve=False,
                                              reason=reason)
        except (NotAllowed, NotFound) as exc:
            ack(response_action="errors", errors={ids.FIELD_REASON: str(exc)[:300]})
            return
        ack()
        container = {"channel_id": meta.get("channel"), "message_ts": meta.get("ts"),
                     "type": "message" if meta.get("ts") else "view"}
        after_decision(surface, client, request, int(meta["step_id"]), container, user_id)
