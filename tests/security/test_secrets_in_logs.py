"""Secrets never appear in logs: Slack tokens and the signing secret, GitHub tokens, a GitHub App's private
key and its installation tokens, and temporary console passwords.

Representative flows run with every logger at DEBUG (library request logging included) and with the
production log handler (JSON, scrubbing) writing to stderr. Two nets: a first root handler keeps the raw
records before any handler scrubs them, so a secret passed to a logger at all is caught (logger-level
guards such as the GitHub and AWS redaction filters are part of what is tested); `capfd` holds what the
process wrote to its stdout and stderr. Failure paths are part of each flow (Slack 429, GitHub 5xx, a
lost response, a rejected credential, a retried request), as are the places a secret must not be
persisted: the database file and the request's error and audit trail.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from bot.aws.redact import secret_forms
from bot.logs import JsonFormatter, ScrubFilter
from bot.services import build_services
from bot.slack.aws_views import ACTION_CONFIRM, ACTION_TARGET, FIELD_CONFIRM, FIELD_TARGET
from provisioners.forge.credentials import AppCredential, TokenCredential
from provisioners.forge.router import ForgeRouter
from tests.faults.support import FAST, build_world, web_spec
from tests.slack import payloads
from tests.slack.conftest import (
    BOT_TOKEN,
    DEV,
    SECRET,
    SRE,
    seed_people,
    slack_settings,
    start_launchpad,
    stop_launchpad,
)
from tests.support.github_server import GitHubServer
from tests.support.slack_server import SlackServer
from tests.workflow.support import ALICE

DEVEL_TOKEN = "ghp_secretsDevelToken000000000000000"
ALPHA_TOKEN = "github_pat_secretsAlphaToken_00000000000000"


class RawRecords(logging.Handler):
    """Every record as it reaches the root logger, before any handler's filter (the production ScrubFilter
    rewrites records in place, which would hide a leak from handlers after it, caplog's included)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.exc_info:
            text += "\n" + logging.Formatter().formatException(record.exc_info)
        self.lines.append(f"{record.name} {text}")

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


@pytest.fixture
def loud(caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]) -> Iterator[RawRecords]:
    """DEBUG everywhere; raw records first, then the production handler writing JSON to fd 2 (captured)."""
    caplog.set_level(logging.DEBUG)
    raw = RawRecords()
    stream = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115  (file descriptor 2, which capfd captures)
    handler = logging.StreamHandler(stream)  # what `configure_logging` installs with LAUNCHPAD_LOG_JSON
    handler.addFilter(ScrubFilter())
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers.insert(0, raw)
    root.addHandler(handler)
    try:
        yield raw
    finally:
        root.removeHandler(raw)
        root.removeHandler(handler)
        stream.close()


def assert_nowhere(secrets: list[str], raw: RawRecords, capfd: pytest.CaptureFixture[str], *also: str | bytes) -> None:
    for handler in logging.getLogger().handlers:
        handler.flush()
    out, err = capfd.readouterr()
    records = raw.text
    assert len(records) > 1000, "the flow should have logged at DEBUG"
    assert '"level": "DEBUG"' in err, "the production handler's output should be captured too"
    for secret in secrets:
        for form in secret_forms(secret):
            assert form not in records, f"a secret reached a log record: …{form[-6:]}"
            assert form not in out and form not in err, f"a secret reached stdout/stderr: …{form[-6:]}"
            for place in also:
                haystack = place if isinstance(place, str) else place.decode("utf-8", "replace")
                assert form not in haystack, f"a secret was persisted or shown: …{form[-6:]}"


def files_under(root: Path) -> bytes:
    return b"".join(p.read_bytes() for p in root.rglob("*") if p.is_file())


def test_slack_flow_keeps_the_bot_token_and_signing_secret_out(tmp_path: Path, loud: RawRecords,
                                                              capfd: pytest.CaptureFixture[str]) -> None:
    with SlackServer() as slack:
        seed_people(slack)
        settings = slack_settings(tmp_path, slack, auto_merge_local=True)
        lp = start_launchpad(slack, settings, build_services(settings))
        try:
            view = lp.open_new_form()
            slack.fail_next("chat.postMessage", status=429, retry_after=0)
            assert lp.submit(view, payloads.new_service_values(name="secret-web", environments=["devel"])).body == ""
            slack.wait_for("chat.postEphemeral")  # the submission's post-ack part is done: the request exists
            assert lp.command("help", hook="help").status == 200
            assert lp.send(*payloads.slash_command("new", user=DEV, response_url=slack.response_url()),
                           secret="not-the-secret").status == 401
            slack.wait_for("chat.postEphemeral")  # the submission's listener has written the request
            lp.work()
            [request] = lp.requests()
            assert lp.request_state(request.id) == "succeeded"
            bodies = json.dumps([c.body for c in slack.calls], default=str)
        finally:
            stop_launchpad(lp)
    assert_nowhere([BOT_TOKEN, SECRET], loud, capfd, bodies, files_under(tmp_path))


def app_key() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return private, public


def test_github_flow_keeps_tokens_keys_and_installation_tokens_out(tmp_path: Path, loud: RawRecords,
                                                                  capfd: pytest.CaptureFixture[str]) -> None:
    private, public = app_key()
    with GitHubServer() as server:
        server.register_app(42, public, [7])
        server.allow_tokens(DEVEL_TOKEN, ALPHA_TOKEN)
        for repo in ("search/devel-web", "search/full-web"):  # each service's own repository (CI workflow)
            server.seed_repo(repo, {"README.md": "hi\n"})
        routes = ForgeRouter({"devel": TokenCredential(DEVEL_TOKEN), "alpha": TokenCredential(ALPHA_TOKEN),
                              "prod": AppCredential(app_id=42, private_key=private, installation_id=7)},
                             api_url=server.api_url, policy=FAST, writes_per_minute=60_000, writes_per_hour=600_000,
                             timeout=2.0)
        world = build_world(tmp_path, server, forges=routes)
        try:
            devel = world.workflow.submit_create(web_spec(["devel"], name="devel-web"), ALICE)
            server.fail("POST", r"/git/trees$", status=502)
            server.lose_response("POST", r"/pulls$")
            assert world.drive(devel.id).state == "succeeded"
            full = world.workflow.submit_create(web_spec(name="full-web"), ALICE)  # devel+alpha+prod: the App
            # a rejected credential: 401 again after one new installation token
            server.fail("GET", r"/repos/platform/infra-live/pulls$", status=401, times=2)
            failed = world.drive(full.id)
            assert failed.state == "failed" and "credential 'prod'" in (failed.error or "")
            world.workflow.retry(full.id, ALICE)
            assert world.drive(full.id).state == "succeeded"
            installation_tokens = list(server.installation_tokens)
            assert installation_tokens and {c.token for c in server.calls} >= {DEVEL_TOKEN, *installation_tokens}
            trail = json.dumps([e.model_dump(mode="json") for svc in ("devel-web", "full-web")
                                for e in world.workflow.audit(svc)])
            errors = json.dumps([s.error for r in world.workflow.list_requests() for s in r.steps])
        finally:
            world.services.close()
    key_lines = [line for line in private.splitlines() if line and not line.startswith("-----")]
    assert_nowhere([DEVEL_TOKEN, ALPHA_TOKEN, *installation_tokens, private, *key_lines], loud, capfd, trail,
                   errors, files_under(tmp_path))


def test_password_reset_keeps_the_temporary_password_out(tmp_path: Path, moto_url: str,
                                                         loud: RawRecords,
                                                         capfd: pytest.CaptureFixture[str]) -> None:
    import boto3

    iam = boto3.client("iam", endpoint_url=moto_url, region_name="eu-west-1")
    iam.create_user(UserName="sec-log-target", Tags=[{"Key": "email", "Value": "sec-log-target@security.example"}])
    with SlackServer() as slack:
        seed_people(slack)
        settings = slack_settings(tmp_path, slack, aws_endpoint_url=moto_url)
        lp = start_launchpad(slack, settings, build_services(settings))
        try:
            assert lp.command("password sec-log-target", user=SRE).status == 200
            form = slack.wait_for("views.open")[-1].body["view"]
            values: dict[str, Any] = {FIELD_CONFIRM: {ACTION_CONFIRM: payloads.checkbox_value(["yes"])},
                                      FIELD_TARGET: {ACTION_TARGET: payloads.text_value("sec-log-target")}}
            assert lp.send(*payloads.view_submission(form, values, user=SRE)).json()["response_action"] == "update"
            result = slack.wait_for("views.update")[-1]
            [password] = re.findall(r"```([^`]+)```", json.dumps(result.body["view"]))
            assert iam.get_login_profile(UserName="sec-log-target")["LoginProfile"]["UserName"] == "sec-log-target"
            others = json.dumps([c.body for c in slack.calls if c is not result], default=str)
            lp.services.store.dispose()
        finally:
            stop_launchpad(lp)
    assert_nowhere([password], loud, capfd, others, files_under(tmp_path))
