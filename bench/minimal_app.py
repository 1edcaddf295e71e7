"""The yardstick for bench/ack.py: a minimal Bolt app (ack and nothing else), served exactly like LaunchPad.

`python -m bench.minimal_app CONFIG` reads the same settings file and runs under gunicorn with the same
options (`bot.serving.gunicorn_options`: workers, threads, timeouts), printing the same start-up line.
Its slash command and every view submission only `ack()`.
"""

from __future__ import annotations

import re
import sys
from typing import Any

from gunicorn.app.base import BaseApplication
from slack_bolt import Ack, App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient

from bot.config import Settings
from bot.serving import gunicorn_options


def build() -> Any:
    settings = Settings()
    secret = settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else ""
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    app = App(signing_secret=secret, token_verification_enabled=False, name="minimal",
              client=WebClient(token=token, base_url=settings.slack_api_url))

    @app.command(re.compile(".*"))
    def command(ack: Ack) -> None:
        ack()

    @app.view(re.compile(".*"))
    def submission(ack: Ack) -> None:
        ack()

    return SlackRequestHandler(app, path="/slack/events")


class Minimal(BaseApplication):
    def __init__(self, options: dict[str, Any]) -> None:
        self._options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            self.cfg.set(key, value)
        self.cfg.set("when_ready", lambda server: print(
            "minimal: serving Slack events on http://{}:{}/slack/events".format(
                *server.LISTENERS[0].sock.getsockname()[:2]), flush=True))

    def load(self) -> Any:
        return build()


if __name__ == "__main__":
    settings = Settings()
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    Minimal(gunicorn_options(settings, "127.0.0.1", port)).run()
