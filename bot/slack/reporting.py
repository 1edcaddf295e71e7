"""The one error handler: log with a request reference, tell the user something useful, privately.

`report_error` is registered with `app.error` for anything Bolt catches. Listeners are wrapped with
`reported`, which hands an exception raised *after* the ack to the same handler instead of letting it
reach Bolt: slack_bolt's thread runner (1.30) resets `ack.response` when a listener raises after
acking, so a fast failure could turn an acknowledged slash command into a 3 s timeout and a 404.
An exception before the ack still goes to Bolt (Slack gets an error, the user a DM).
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, BoltContext, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.slack.notifier import is_slack_user
from provisioners.errors import LaunchPadError

log = logging.getLogger(__name__)

Listener = Callable[..., None]
PROVIDED = ("ack", "body", "context", "client", "respond", "view", "event")


def report_error(error: Exception, body: dict[str, Any], context: BoltContext, client: WebClient) -> None:
    """A LaunchPad error's message is for the user (it says what to do); anything else is ours to fix.

    Only requests that passed Bolt's verification get an answer: `request_id` is set by an app
    middleware that runs after it. An error before that (a forged request) is logged and nobody is
    told, so a forged body can never make us post to a `response_url` it chose.
    """
    ref = context.get("request_id")
    if ref is None:
        log.warning("error before the request was verified: %s", type(error).__name__)
        return
    if isinstance(error, LaunchPadError):
        log.info("refused (%s): %s", ref, error)
        text = f":warning: {error}"
    else:
        log.error("listener failed (%s)", ref, exc_info=error)
        text = (f":warning: Something went wrong on our side (reference `{ref}`). Nothing was changed; try "
                "again in a minute, and if it keeps failing tell the SRE team the reference.")
    try:
        tell_user(body, context, client, text)
    except Exception:
        log.exception("could not tell the user about error %s", ref)


def tell_user(body: dict[str, Any], context: BoltContext, client: WebClient, text: str) -> None:
    """Ephemeral where the user acted (response_url), else a DM; never a public message."""
    if body.get("response_url") and context.respond is not None:
        context.respond(text=text, response_type="ephemeral", replace_original=False)
        return
    user = body.get("user_id") or (body.get("user") or {}).get("id") or (body.get("event") or {}).get("user")
    if not isinstance(user, str) or not is_slack_user(user):
        return
    try:
        client.chat_postMessage(channel=user, text=text)
    except SlackApiError as exc:
        log.warning("DM to %s failed: %s", user, exc.response.get("error"))


def reported(fn: Listener) -> Listener:
    """Wrap a listener so errors after its ack go to `report_error` (see the module docstring)."""
    wanted = set(inspect.signature(fn).parameters)
    unknown = wanted - set(PROVIDED)
    if unknown:
        raise TypeError(f"{fn.__name__} asks for {sorted(unknown)}; `reported` listeners may take {PROVIDED}")

    def listener(ack: Ack, body: dict[str, Any], context: BoltContext, client: WebClient, respond: Respond,
                 view: dict[str, Any] | None, event: dict[str, Any] | None) -> None:
        given = {"ack": ack, "body": body, "context": context, "client": client, "respond": respond, "view": view,
                 "event": event}
        try:
            fn(**{name: value for name, value in given.items() if name in wanted})
        except Exception as exc:
            if ack.response is None:
                raise
            report_error(exc, body, context, client)

    listener.__name__ = fn.__name__
    listener.__qualname__ = fn.__qualname__
    return listener
