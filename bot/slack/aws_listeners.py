"""Slack entry points of the AWS operations: `/launchpad lookup`, the password reset shortcut, command and modal.

Thin: every listener acks first, then asks `bot.aws` and answers with a view from `aws_views`. The
temporary password travels only in the views.update that fills the requester's own modal (library
debug logs are kept clear of it); the person an SRE reset is told by DM, without the password.
`lookup_reply(services, domain)` is also what any other `/launchpad lookup` handler may call.
"""

from __future__ import annotations

import logging
from typing import Any

from botocore.exceptions import BotoCoreError
from slack_bolt import Ack, App, BoltContext, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.aws.errors import AwsError
from bot.aws.iam_password import PasswordReset, ResetRequest
from bot.aws.operations import HasServices, operations_for
from bot.aws.redact import secret_kept_out_of_logs
from bot.slack import ids
from bot.slack.actors import ActorDirectory
from bot.slack.aws_views import (
    FIELD_CONFIRM,
    PASSWORD_VIEW,
    confirmed,
    lookup_error_message,
    lookup_message,
    password_error_modal,
    password_progress_modal,
    password_reset_modal,
    password_reset_notice,
    password_result_modal,
    target_from_form,
)
from bot.slack.blocks import section
from bot.slack.reporting import failure_text
from provisioners.errors import LaunchPadError

log = logging.getLogger(__name__)

USAGE = "Usage: `/launchpad lookup &lt;domain&gt;`, e.g. `/launchpad lookup shop.example.com`."  # mrkdwn


def _subcommand(body: dict[str, Any]) -> tuple[str, str]:
    text = (body.get("text") or "").strip()
    name, _, rest = text.partition(" ")
    return name.lower(), rest.strip()


def is_lookup(body: dict[str, Any]) -> bool:
    return _subcommand(body)[0] == "lookup"


def is_password(body: dict[str, Any]) -> bool:
    return _subcommand(body)[0] == "password"


def lookup_reply(services: HasServices, domain: str) -> dict[str, Any]:
    """The answer to `/launchpad lookup <domain>`: {"text": ..., "blocks": [...]}, ready for respond()."""
    if not domain.strip():
        return {"text": USAGE, "blocks": [section(USAGE)]}
    try:
        result = operations_for(services).lookup.lookup(domain)
    except (LaunchPadError, BotoCoreError) as exc:  # our errors say what to do; botocore's name the endpoint
        return lookup_error_message(domain.strip(), str(exc))
    return lookup_message(result)


def verified_email(user: dict[str, Any]) -> str | None:
    """The profile email, unless Slack says it is unconfirmed (then nobody can be mapped to an IAM user)."""
    if user.get("is_email_confirmed") is False:
        return None
    email = (user.get("profile") or {}).get("email")
    return str(email) if email else None


def register(app: App, services: HasServices, actors: ActorDirectory | None = None) -> None:
    """Listeners for `/launchpad lookup`, `/launchpad password [user]`, the shortcut and the modal."""
    settings = services.settings
    holder: dict[str, ActorDirectory] = {}

    def directory(client: WebClient) -> ActorDirectory:
        if actors is not None:
            return actors
        if "d" not in holder:
            holder["d"] = ActorDirectory(client, settings)
        return holder["d"]

    def open_modal(client: WebClient, trigger_id: str, user_id: str, target: str | None = None) -> None:
        is_sre = directory(client).is_sre(user_id)
        client.views_open(trigger_id=trigger_id, view=password_reset_modal(is_sre=is_sre, target=target))

    @app.command(ids.COMMAND, matchers=[is_lookup])
    def lookup_command(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        ack()
        reply = lookup_reply(services, _subcommand(body)[1])
        respond(text=reply["text"], blocks=reply["blocks"], response_type="ephemeral", replace_original=False)

    @app.command(ids.COMMAND, matchers=[is_password])
    def password_command(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        open_modal(client, body["trigger_id"], body["user_id"], _subcommand(body)[1] or None)

    @app.shortcut(ids.IAM_PASSWORD_SHORTCUT)
    def password_shortcut(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        open_modal(client, body["trigger_id"], body["user"]["id"])

    @app.view(PASSWORD_VIEW)
    def password_submit(ack: Ack, body: dict[str, Any], client: WebClient, view: dict[str, Any],
                        context: BoltContext) -> None:
        values = view.get("state", {}).get("values", {})
        if not confirmed(values):
            ack(response_action="errors", errors={FIELD_CONFIRM: "Tick this to confirm."})
            return
        ack(response_action="update", view=password_progress_modal())
        user_id = body["user"]["id"]
        try:
            info = client.users_info(user=user_id).get("user") or {}
            request = ResetRequest(actor=f"<@{user_id}>", actor_email=verified_email(info),
                                   actor_is_sre=directory(client).is_sre(user_id), target=target_from_form(values))
            reset = operations_for(services).passwords.reset(request)
        except (AwsError, LaunchPadError, BotoCoreError) as exc:
            client.views_update(view_id=view["id"], view=password_error_modal(str(exc)))
            return
        except Exception as exc:  # the modal says "Setting a new password…": it must never be left saying so
            text = failure_text(exc, context.get("request_id") or "unknown")
            client.views_update(view_id=view["id"], view=password_error_modal(text, escaped=True))
            return
        notified = tell_target(client, reset, f"<@{user_id}>") if reset.notify_email else False
        with secret_kept_out_of_logs(reset.password.reveal()):
            client.views_update(view_id=view["id"], view=password_result_modal(reset, notified=notified))


def tell_target(client: WebClient, reset: PasswordReset, by: str) -> bool:
    """DM the person whose password an SRE reset (never the password). False when they cannot be found."""
    try:
        found = client.users_lookupByEmail(email=str(reset.notify_email))
        user_id = (found.get("user") or {}).get("id")
        if not user_id:
            return False
        client.chat_postMessage(channel=user_id, **password_reset_notice(reset, by))
    except SlackApiError as exc:
        log.warning("could not tell IAM user %s about the reset: %s", reset.user.name, exc.response.get("error"))
        return False
    return True
