"""App Home: publish the Home tab when someone opens it, and after they act on it.

Fetches the person's services, open requests and — for the SRE group — pending approvals from the
workflow, and publishes `home_view`. No decisions are made here.
"""

from __future__ import annotations

from typing import Any

from slack_bolt import App
from slack_sdk import WebClient

from bot.slack.home_view import home_view
from bot.slack.surface import SlackSurface


def publish_home(surface: SlackSurface, client: WebClient, user_id: str) -> None:
    workflow = surface.workflow
    actor = surface.actors.actor(user_id, profile=False)
    approvals = workflow.pending_approvals() if actor.is_sre else None
    view = home_view(workflow.list_services(owner=user_id), workflow.list_requests(requester=user_id, open_only=True),
                     approvals)
    client.views_publish(user_id=user_id, view=view)


def register(app: App, surface: SlackSurface) -> None:
    @app.event("app_home_opened")
    def home_opened(event: dict[str, Any], client: WebClient) -> None:
        if event.get("tab", "home") == "home":
            publish_home(surface, client, event["user"])
