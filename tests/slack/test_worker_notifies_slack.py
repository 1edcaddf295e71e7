"""A separate `launchpad worker` (the Procfile's worker process) keeps the Slack threads current.

Notifications sit in the workflow's outbox until a worker delivers them; a worker that printed them
instead would take them away from the request threads for good.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bot.cli import main
from tests.slack.conftest import BOT_TOKEN, REQUESTS, SECRET, SRE_GROUP, seed_people
from tests.support.slack_server import SlackServer

ROOT = Path(__file__).resolve().parents[2]


def test_cli_request_and_worker_post_to_the_requests_channel(tmp_path: Path, slack: SlackServer,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    seed_people(slack)
    config = tmp_path / "launchpad.yaml"
    config.write_text(yaml.safe_dump({
        "data_dir": str(tmp_path), "database_url": f"sqlite:///{tmp_path / 'launchpad.db'}",
        "slack_api_url": slack.api_url, "requests_channel": REQUESTS, "sre_usergroup": SRE_GROUP,
        "auto_merge_local": True,
    }))
    monkeypatch.setenv("LAUNCHPAD_SLACK_BOT_TOKEN", BOT_TOKEN)
    monkeypatch.setenv("LAUNCHPAD_SLACK_SIGNING_SECRET", SECRET)
    monkeypatch.chdir(tmp_path)
    spec = tmp_path / "worker.yaml"
    spec.write_text((ROOT / "examples" / "invoice-worker.yaml").read_text())

    assert main(["--config", str(config), "new", str(spec)]) == 0
    assert main(["--config", str(config), "worker", "--once"]) == 0

    roots = [c for c in slack.calls_to("chat.postMessage") if c.body.get("channel") == REQUESTS]
    assert roots, "the worker delivered no notification to the requests channel"
