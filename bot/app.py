"""The Slack app's composition root: build the Bolt App from settings and services, register listeners.

No logic lives here. The WebClient talks to `settings.slack_api_url` and retries 429s (honouring
Retry-After), connection errors and 5xx. Listeners run after their ack (`process_before_response`
stays False: this is a long-running server in both Socket Mode and HTTP mode, not a FaaS); every
listener is wrapped at registration (`LaunchPadApp`) so its errors are reported and its post-ack part
takes a turn in the bounded `AfterAckPool`, leaving Bolt's listener threads free for acks. Listener
groups are registered in a fixed order, each with `register(app, ...)`; nothing registers itself at
import time. The AWS group goes first: its
`/launchpad lookup|password` listeners must match before the general `/launchpad` one. One error
handler serves them all. The CLI (`bot/commands`) reaches the Slack package only through this module
(`tests/test_layering.py`), hence the re-exports above the listener groups.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, cast

from slack_bolt import BoltContext
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)

from bot.config import Settings
from bot.services import Services
from bot.slack import actions, aws_listeners, bulk, commands, home, views
from bot.slack.actors import ActorDirectory
from bot.slack.afterack import AfterAckPool
from bot.slack.aws_listeners import tell_target as tell_target
from bot.slack.notifier import SlackNotifier as SlackNotifier
from bot.slack.registry import LaunchPadApp
from bot.slack.reporting import report_error
from bot.slack.surface import SlackSurface
from bot.slack.web import HttpServer as HttpServer
from bot.slack.web import SlackEdge
from bot.store.deliveries import DeliveryLog

log = logging.getLogger(__name__)

LISTENER_GROUPS = [commands, actions, home]  # after the modal, AWS and bulk listeners (see build_app)


def build_client(settings: Settings) -> WebClient:
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    return WebClient(token=token, base_url=settings.slack_api_url, timeout=15, retry_handlers=[
        ConnectionErrorRetryHandler(max_retry_count=2),
        RateLimitErrorRetryHandler(max_retry_count=3),
        ServerErrorRetryHandler(max_retry_count=2),
    ])


def build_app(settings: Settings, services: Services, *, client: WebClient | None = None,
              notifier: SlackNotifier | None = None) -> LaunchPadApp:
    """The Bolt App with every listener group; the SlackNotifier becomes the workflow's notifier."""
    client = client or build_client(settings)
    signing_secret = settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else ""
    deliveries = DeliveryLog(services.store, lambda: datetime.now(UTC))  # signed requests acted on, all replicas
    after_ack = AfterAckPool(settings.slack_after_ack_workers, settings.slack_after_ack_queue,
                             first_delivery=deliveries.first)
    app = LaunchPadApp(
        client=client,
        signing_secret=signing_secret,  # "" only in Socket Mode, where Slack's requests are not signed
        process_before_response=False,
        token_verification_enabled=False,
        name="launchpad",
        after_ack=after_ack,
        listener_executor=started_executor(after_ack.threads_needed + settings.slack_ack_threads),
    )
    notifier = notifier or SlackNotifier(client, settings)
    notifier.set_thread = services.workflow.set_thread
    services.workflow.notifier = notifier
    surface = SlackSurface(services=services, actors=ActorDirectory(client, settings), notifier=notifier,
                           blueprints=services.render_context.blueprints)
    app.middleware(assign_request_id)
    app.error(report_error)
    # Bolt tries listeners in registration order, each match costing a little inside the ack: the modal
    # submissions come first (a burst of form submissions is the heaviest traffic an ack sees; no command
    # or action listener could match a view_submission anyway).
    views.register(app, surface)
    # Then the AWS listeners, before the general `/launchpad` one: they answer `lookup` and `password`. The
    # cast: their HasServices protocol declares `workflow` as a plain (hence invariant) attribute, which mypy
    # will not match with Services.workflow's subtype.
    aws_listeners.register(app, cast(Any, services), actors=surface.actors)
    bulk.register(app, surface)  # `/launchpad bulk` (SRE), before the general `/launchpad` listener
    for group in LISTENER_GROUPS:
        group.register(app, surface)
    return app


def started_executor(threads: int) -> ThreadPoolExecutor:
    """Bolt's listener pool with every thread started now: a listener's thread is held through its post-ack
    turn, so a burst would otherwise start a new thread (about 1.5 ms of CPU each) inside its acks."""
    executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="launchpad-listener")
    gate = threading.Barrier(threads + 1)
    for _ in range(threads):
        executor.submit(gate.wait)
    gate.wait()
    return executor


def build_edge(settings: Settings) -> SlackEdge:
    """The checks before Bolt in HTTP mode: body size and signature (refusals logged quietly)."""
    secret = settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else ""
    return SlackEdge(secret, max_body=settings.http_max_body_bytes)


def attach_notifier(settings: Settings, services: Services) -> SlackNotifier | None:
    """Make Slack the workflow's notifier in a process without the Bolt app (`launchpad worker`).

    Workers deliver the workflow's notifications; one that delivers them elsewhere while Slack is
    configured would take them from the request threads. Call `close()` on exit to flush updates.
    """
    if not settings.slack_configured():
        return None
    notifier = SlackNotifier(build_client(settings), settings, set_thread=services.workflow.set_thread)
    services.workflow.notifier = notifier
    return notifier


def assign_request_id(context: BoltContext, next: Callable[[], None]) -> None:
    """A short id per incoming Slack request, for logs and for the user to quote."""
    context["request_id"] = uuid.uuid4().hex[:12]
    next()
