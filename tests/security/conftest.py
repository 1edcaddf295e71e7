"""Fixtures for the security tests: one LaunchPad HTTP server per module (hypothesis sends hundreds of
requests to it), with a probe that records any request Bolt lets past its signature check, and a moto
server on 127.0.0.1 for the IAM password reset."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from slack_bolt import BoltRequest

from bot.services import build_services
from tests.slack.conftest import Launchpad, seed_people, slack_settings, start_launchpad, stop_launchpad
from tests.support.moto import moto_server
from tests.support.slack_server import SlackServer

REGION = "eu-west-1"


@dataclass(repr=False)
class Guarded:
    """A running LaunchPad and what got past Bolt's request verification (must stay empty)."""

    lp: Launchpad
    passed: list[dict[str, Any]] = field(default_factory=list)

    def __repr__(self) -> str:  # hypothesis prints fixtures of failing examples; keep it short
        return f"Guarded({self.lp.events_url})"


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Guarded]:
    with SlackServer() as slack:
        seed_people(slack)
        tmp = tmp_path_factory.mktemp("guarded")
        settings = slack_settings(tmp, slack)
        lp = start_launchpad(slack, settings, build_services(settings))
        guarded = Guarded(lp)

        def probe(req: BoltRequest, next: Any) -> Any:
            """App middleware runs after Bolt's built-in signature check: anything here was accepted."""
            guarded.passed.append(dict(req.body))
            return next()

        lp.app.middleware(probe)
        try:
            yield guarded
        finally:
            stop_launchpad(lp)


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    with moto_server() as url:
        yield url
