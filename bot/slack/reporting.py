"""The one error handler, and the wrapper every listener gets at registration.

`report_error` is registered with `app.error` for anything Bolt catches: it logs with a request
reference and tells the user something useful, privately. `reported(fn)` wraps a listener (done for
every listener by `bot.slack.registry.LaunchPadApp` as it is registered, so nobody has to remember):
an exception raised *after* the ack goes to `report_error` instead of reaching Bolt (slack_bolt's
thread runner, 1.30, resets `ack.response` when a listener raises after acking, which turned an
acknowledged command into a 3 s timeout plus a second message); an exception before the ack still
goes to Bolt, which answers Slack with an error. With an `AfterAckPool`, the wrapper also makes the
listener's post-ack part take a turn in that pool (see `bot.slack.afterack`).
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, BoltContext
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.slack.afterack import AfterAckPool, Replayed
from bot.slack.blocks import escape_keeping_mentions
from bot.slack.notifier import is_slack_user
from provisioners.errors import LaunchPadError

log = logging.getLogger(__name__)

Listener = Callable[..., None]


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
    text = failure_text(error, ref)
    try:
        tell_user(body, context, client, text)
    except Exception:
        log.exception("could not tell the user about error %s", ref)


def failure_text(error: Exception, ref: str) -> str:
    """Log `error` with the reference and return what to tell the user (mrkdwn, escaped).

    A LaunchPadError's message is written for the user; it may quote their input, so it is escaped
    (keeping the `<@U…>` mentions the workflow writes: these answers go only to the person who acted).
    """
    if isinstance(error, LaunchPadError):
        log.info("refused (%s): %s", ref, error)
        return f":warning: {escape_keeping_mentions(str(error))}"
    log.error("listener failed (%s)", ref, exc_info=error)
    return (f":warning: Something went wrong on our side (reference `{ref}`). Nothing was changed; try "
            "again in a minute, and if it keeps failing tell the SRE team the reference.")


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


REPORTED = "__launchpad_reported__"
POOL = "__launchpad_after_ack__"
ORIGINAL = "__launchpad_original__"
NEEDED = ("ack", "body", "context", "client", "req")


def is_reported(fn: Callable[..., Any]) -> bool:
    return bool(getattr(fn, REPORTED, False))


def reported(fn: Listener, *, pool: AfterAckPool | None = None, acked: bool = False) -> Listener:
    """Wrap a listener so errors after its ack go to `report_error` and its post-ack part runs in `pool`.

    `acked`: Bolt acknowledged the request before the listener runs (events), so all of it is post-ack.
    Wrapping twice with the same pool is a no-op. The wrapper asks Bolt for what `fn` asks for plus what
    reporting needs, by declaring that as its signature (Bolt injects arguments by parameter name).
    """
    if is_reported(fn):
        if getattr(fn, POOL, None) is pool:
            return fn
        fn = getattr(fn, ORIGINAL)  # wrapped by hand without this app's pool: wrap the original again
    wanted = list(inspect.signature(fn).parameters)
    for name, param in inspect.signature(fn).parameters.items():
        if param.kind not in (param.POSITIONAL_OR_KEYWORD, param.KEYWORD_ONLY):
            raise TypeError(f"{fn.__name__}: listener parameter {name!r} must be a plain named parameter")

    def listener(**given: Any) -> None:
        real_ack: Ack = given["ack"]
        request = given.get("req")
        signature = (request.headers.get("x-slack-signature") or [""])[0] if request is not None else ""
        turn = _Turn(real_ack, pool, signature)
        args = {name: given.get(name) for name in wanted}
        if "ack" in args:
            args["ack"] = turn
        try:
            if acked:
                turn.take()
            fn(**args)
        except Replayed:
            log.info("acked a replayed Slack request without acting on it (%s)", given["context"].get("request_id"))
        except Exception as exc:
            if real_ack.response is None and not acked:
                raise
            report_error(exc, given["body"], given["context"], given["client"])
        finally:
            turn.give_back()

    names = list(dict.fromkeys([*wanted, *NEEDED]))
    listener.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD) for n in names])
    listener.__name__ = fn.__name__
    listener.__qualname__ = fn.__qualname__
    listener.__doc__ = fn.__doc__
    setattr(listener, REPORTED, True)
    setattr(listener, POOL, pool)
    setattr(listener, ORIGINAL, fn)
    return listener


class _Turn:
    """The `ack` a wrapped listener sees: acks, then waits for the listener's turn in the post-ack pool."""

    def __init__(self, ack: Ack, pool: AfterAckPool | None, signature: str = "") -> None:
        self._ack = ack
        self._pool = pool
        self._signature = signature
        self._holding = False

    @property
    def response(self) -> Any:
        return self._ack.response

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        result = self._ack(*args, **kwargs)
        self.take()
        return result

    def take(self) -> None:
        """Wait for a turn in the pool, then make sure this request was not acted on before."""
        if self._pool is not None and not self._holding:
            self._pool.enter()
            self._holding = True
            self._pool.claim(self._signature)

    def give_back(self) -> None:
        if self._holding and self._pool is not None:
            self._holding = False
            self._pool.leave()
