"""`/launchpad <subcommand>`: parse the text, call the workflow, answer ephemerally.

The listener acks first (Slack's 3 s budget), then runs one handler from `SUBCOMMANDS`. Workflow
errors (NotFound, NotAllowed, Locked) are not caught here: the app's one error handler shows their
message to the user. Unknown input gets the help text. `/launchpad lookup` and `/launchpad password`
are answered by the AWS listener group (`aws_listeners`), registered before this one.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient

from bot.slack import ids
from bot.slack.blocks import escape
from bot.slack.messages import (
    Message,
    delete_confirmation,
    help_message,
    request_list_message,
    request_message,
    service_message,
    services_message,
    text_message,
)
from bot.slack.modals import new_service_modal
from bot.slack.surface import SlackSurface
from bot.workflow.api import Actor, ServiceInfo
from bot.workflow.arguments import parse_duration


@dataclass
class Invocation:
    """One slash command: who, where, and how to answer."""

    surface: SlackSurface
    user_id: str
    args: list[str]
    body: dict[str, Any]
    respond: Respond
    client: WebClient

    def actor(self) -> Actor:
        return self.surface.actors.actor(self.user_id)

    def reply(self, message: Message) -> None:
        self.respond(text=message["text"], blocks=message["blocks"], response_type="ephemeral",
                     replace_original=False)


def parse_command(text: str) -> tuple[str, list[str]]:
    """`'status  #12'` -> ('status', ['#12']); quotes group words; empty text is 'help'."""
    try:
        words = shlex.split(text or "")
    except ValueError:
        words = (text or "").split()
    if not words:
        return "help", []
    return words[0].lower(), words[1:]


def parse_request_id(text: str) -> int | None:
    text = text.lstrip("#")
    return int(text) if text.isdigit() else None


def may_change(actor: Actor, service: ServiceInfo) -> bool:
    """Owners (the requester who created it, or a member of its team) and SRE may change or delete it."""
    return actor.is_sre or actor.id == service.owner or service.team in actor.teams


# --- subcommands ----------------------------------------------------------------------------------


def _new(inv: Invocation) -> None:
    registry = inv.surface.blueprints
    blueprints = registry.all()
    wanted = inv.args[0] if inv.args else ("web-service" if "web-service" in registry else blueprints[0].id)
    if wanted not in registry:
        known = ", ".join(bp.id for bp in blueprints)
        inv.reply(text_message(f"Unknown blueprint `{escape(wanted)}`; choose one of: {known}"))
        return
    actor = inv.surface.actors.actor(inv.user_id, profile=False)
    settings = inv.surface.settings
    view = new_service_modal(blueprints, wanted, sorted(settings.platform.teams),
                             default_team=actor.teams[0] if actor.teams else None,
                             default_ttl_hours=settings.platform.default_ttl_hours,
                             max_ttl_hours=settings.platform.max_ttl_hours,
                             metadata={"channel": inv.body.get("channel_id")})
    inv.client.views_open(trigger_id=inv.body["trigger_id"], view=view)


def _status(inv: Invocation) -> None:
    workflow = inv.surface.workflow
    if not inv.args:
        mine = workflow.list_requests(requester=inv.user_id, open_only=True)
        inv.reply(request_list_message("Your open requests", mine,
                                       empty="You have no open requests. `/launchpad list` shows your services."))
        return
    request_id = parse_request_id(inv.args[0])
    if request_id is not None:
        inv.reply(request_message(workflow.get_request(request_id), interactive=False))
        return
    service = workflow.get_service(inv.args[0])
    inv.reply(service_message(service, workflow.list_requests(service=service.name, limit=10),
                              workflow.running_images(service.name)))


def _list(inv: Invocation) -> None:
    workflow = inv.surface.workflow
    if inv.args and inv.args[0] == "all":
        inv.reply(request_list_message("Open requests", workflow.list_requests(open_only=True)))
    elif inv.args and inv.args[0] == "team" and len(inv.args) > 1:
        team = inv.args[1]
        inv.reply(services_message(f"Services of team {team}", workflow.list_services(team=team), []))
    elif inv.args:
        inv.reply(help_message(f"`list {escape(' '.join(inv.args))}` is not something I can list."))
    else:
        inv.reply(services_message("Your services", workflow.list_services(owner=inv.user_id),
                                   workflow.list_requests(requester=inv.user_id, open_only=True)))


def _retry(inv: Invocation) -> None:
    request_id = parse_request_id(inv.args[0]) if inv.args else None
    if request_id is None:
        inv.reply(help_message("Which request? `/launchpad retry 12` (the number is in the thread's title)."))
        return
    request = inv.surface.workflow.retry(request_id, inv.actor())
    inv.surface.notifier.request_changed(request)
    step = request.current_step()
    where = f" from step {step.number} ({escape(step.title)})" if step else ""
    inv.reply(text_message(f":arrows_counterclockwise: Retrying request #{request.id}{where}."))


def _delete(inv: Invocation) -> None:
    if not inv.args:
        inv.reply(help_message("Which service? `/launchpad delete ranking-web` or `/launchpad delete ranking-web "
                               "tmp-pr42`."))
        return
    service = inv.surface.workflow.get_service(inv.args[0])
    actor = inv.actor()
    if not may_change(actor, service):
        inv.surface.workflow.record_refusal(actor, "delete", "not allowed: not the owner, the team or SRE",
                                            service=service.name)
        inv.reply(text_message(f":no_entry: Only the owner of *{escape(service.name)}* "
                               f"({escape(service.owner)}), members of team {escape(service.team)}, or the SRE group "
                               "may delete it."))
        return
    known = {e.name for e in service.environments}
    unknown = [e for e in inv.args[1:] if e not in known]
    if unknown:
        inv.reply(text_message(f"{escape(service.name)} has no environment {escape(', '.join(unknown))}; it has: "
                               f"{escape(', '.join(sorted(known)) or 'none')}."))
        return
    inv.reply(delete_confirmation(service, inv.args[1:]))


def _extend(inv: Invocation) -> None:
    if len(inv.args) != 3:
        inv.reply(help_message("Usage: `/launchpad extend <service> <tmp-env> <hours|Nh|Nd>`, e.g. "
                               "`/launchpad extend ranking-web tmp-pr42 48h`."))
        return
    service, env, duration = inv.args
    request = inv.surface.workflow.extend(service, env, parse_duration(duration), inv.actor())
    inv.surface.notifier.request_changed(request)
    inv.reply(text_message(f":alarm_clock: Extending {escape(env)} of {escape(service)} (request #{request.id})."))


def _promote(inv: Invocation) -> None:
    if len(inv.args) != 2:
        inv.reply(help_message("Usage: `/launchpad promote <service> <env>`, e.g. `/launchpad promote ranking-web "
                               "alpha`: copies the image that is Healthy in the previous environment."))
        return
    request = inv.surface.workflow.submit_promote(inv.args[0], inv.args[1], inv.actor())
    inv.surface.notifier.request_changed(request)
    inv.reply(text_message(f":rocket: Promoting {escape(request.description.removeprefix('promote '))} (request "
                           f"#{request.id}); follow it in the thread."))


def _help(inv: Invocation) -> None:
    inv.reply(help_message())


SUBCOMMANDS: dict[str, Callable[[Invocation], None]] = {
    "new": _new,
    "status": _status,
    "list": _list,
    "retry": _retry,
    "delete": _delete,
    "extend": _extend,
    "promote": _promote,
    "help": _help,
}


def register(app: App, surface: SlackSurface) -> None:
    @app.command(ids.COMMAND)
    def launchpad_command(ack: Ack, body: dict[str, Any], respond: Respond, client: WebClient) -> None:
        ack()
        name, args = parse_command(body.get("text", ""))
        inv = Invocation(surface, body["user_id"], args, body, respond, client)
        handler = SUBCOMMANDS.get(name)
        if handler is None:
            inv.reply(help_message(f"I don't know `{escape(name)}`."))
            return
        handler(inv)
