"""What every Slack listener group needs, built once in `bot/app.py` and passed to each `register`.

The workflow (via `Services`), the actor directory (user-group membership, cached), the notifier
(the request threads) and the blueprint registry (modal options). Plain data; no behaviour here.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.config import Settings
from bot.services import Services
from bot.slack.actors import ActorDirectory
from bot.slack.notifier import SlackNotifier
from bot.workflow.service import WorkflowService
from provisioners.blueprint import BlueprintRegistry


@dataclass
class SlackSurface:
    services: Services
    actors: ActorDirectory
    notifier: SlackNotifier
    blueprints: BlueprintRegistry

    @property
    def settings(self) -> Settings:
        return self.services.settings

    @property
    def workflow(self) -> WorkflowService:
        return self.services.workflow
