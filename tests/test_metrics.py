"""Prometheus metrics: isolated registries, request states from the database, step durations from a real
worker pass, GitHub quota per credential from real responses, Slack ack latency and /metrics over HTTP."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.app import build_app, build_client
from bot.metrics import MeteredWsgi, Metrics, instrument_services, request_counts
from bot.services import build_services
from bot.slack.notifier import SlackNotifier
from bot.slack.web import HttpServer
from provisioners.changeset import ChangeSet
from provisioners.forge.credentials import TokenCredential
from provisioners.forge.router import ForgeRouter
from tests.slack import payloads
from tests.slack.conftest import SECRET, seed_people, slack_settings
from tests.support.github_server import GitHubServer
from tests.support.slack_server import SlackServer
from tests.workflow.support import ALICE, build, drain, spec


def samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the exposition text, parsed back: (name, sorted labels) -> value."""
    out = {}
    for family in text_string_to_metric_families(metrics.exposition().decode()):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def test_each_metrics_object_has_its_own_registry() -> None:
    one, two = Metrics(), Metrics()
    one.observe_step("open_pr", "done", 0.2)
    assert samples(one)[("launchpad_step_duration_seconds_count", (("kind", "open_pr"), ("outcome", "done")))] == 1
    assert ("launchpad_step_duration_seconds_count", (("kind", "open_pr"), ("outcome", "done"))) not in samples(two)


def test_requests_by_state_and_step_durations_from_a_real_request(tmp_path: Path) -> None:
    services = build(tmp_path, f"sqlite:///{tmp_path / 'lp.db'}")
    try:
        metrics = instrument_services(services)
        request = services.workflow.submit_create(spec(), ALICE)
        assert samples(metrics)[("launchpad_requests", (("kind", "create"), ("state", "pending")))] == 1
        drain(services)
        assert services.workflow.get_request(request.id).state == "succeeded"
        got = samples(metrics)
        assert got[("launchpad_requests", (("kind", "create"), ("state", "succeeded")))] == 1
        assert got[("launchpad_requests", (("kind", "create"), ("state", "pending")))] == 0
        kinds = {labels for (name, labels), value in got.items()
                 if name == "launchpad_step_duration_seconds_count" and value > 0}
        assert (("kind", "open_pr"), ("outcome", "done")) in kinds
        assert (("kind", "notify"), ("outcome", "done")) in kinds
        runs = sum(v for (name, _), v in got.items() if name == "launchpad_step_duration_seconds_count")
        assert runs == sum(s.attempts for s in services.workflow.get_request(request.id).steps)
    finally:
        services.close()


def test_a_broken_source_does_not_break_the_scrape() -> None:
    metrics = Metrics()

    def down() -> dict[tuple[str, str], int]:
        raise ConnectionError("database is down")

    metrics.watch_requests(down)
    metrics.observe_ack(200, 0.01)
    text = metrics.exposition().decode()
    assert "launchpad_slack_ack_seconds_count" in text and "launchpad_requests{" not in text


def test_github_quota_per_credential_comes_from_the_last_response() -> None:
    with GitHubServer(rate_limit=5000) as server:
        server.seed_repo("acme/infra", {"README.md": "hi\n"})
        router = ForgeRouter({"devel": TokenCredential("ghp_develtoken000000000000000"),
                              "prod": TokenCredential("ghp_prodtoken0000000000000000")}, api_url=server.api_url)
        metrics = Metrics()
        metrics.watch_quotas(router.quotas)
        assert not [k for k in samples(metrics) if k[0] == "launchpad_github_quota_remaining"]
        cs = ChangeSet(repo="infra", files={"devel/a.hcl": "a = 1\n"}, environments=["devel"])
        router.forge_for("acme/infra", ["devel"]).open_change("acme/infra", "q-1", cs, title="t", body="b")
        calls = len(server.calls)
        got = samples(metrics)
        assert got[("launchpad_github_quota_remaining", (("credential", "devel"),))] == 5000 - calls
        assert got[("launchpad_github_quota_limit", (("credential", "devel"),))] == 5000
        assert ("launchpad_github_quota_remaining", (("credential", "prod"),)) not in got
        assert len(server.calls) == calls  # reading the quota costs no API call
        assert "ghp_" not in metrics.exposition().decode()


@pytest.fixture
def slack() -> Iterator[SlackServer]:
    with SlackServer() as server:
        seed_people(server)
        yield server


def test_metered_http_server_times_acks_and_serves_metrics(tmp_path: Path, slack: SlackServer) -> None:
    settings = slack_settings(tmp_path, slack)
    services = build_services(settings)
    client = build_client(settings)
    notifier = SlackNotifier(client, settings, coalesce_seconds=0)
    app = build_app(settings, services, client=client, notifier=notifier)
    metrics = instrument_services(services)
    server = HttpServer(MeteredWsgi(app, metrics, ready=lambda: None), "127.0.0.1", 0).start()
    try:
        url = f"{server.url}/slack/events"
        body, content_type = payloads.slash_command("help", user="U012ABCDEF", response_url=slack.response_url())
        assert payloads.post(url, body, content_type, payloads.sign(SECRET, body)).status == 200
        assert payloads.post(url, body, content_type, payloads.sign("wrong-secret", body)).status == 401
        with urllib.request.urlopen(f"{server.url}/metrics", timeout=5) as response:
            assert response.status == 200
            assert response.headers["Content-Type"].startswith("text/plain")
            text = response.read().decode()
        assert 'launchpad_slack_ack_seconds_count{mode="http",status="200"} 1.0' in text
        assert 'launchpad_slack_ack_seconds_count{mode="http",status="401"} 1.0' in text
        assert 'launchpad_requests{kind="create",state="pending"} 0.0' in text
        with urllib.request.urlopen(f"{server.url}/healthz", timeout=5) as response:
            assert response.status == 200
    finally:
        server.stop()
        app.listener_runner.listener_executor.shutdown(wait=True)  # type: ignore[attr-defined]
        notifier.close()
        services.close()


def test_request_counts_group_by_state_and_kind(tmp_path: Path) -> None:
    services = build(tmp_path, f"sqlite:///{tmp_path / 'lp.db'}")
    try:
        services.workflow.submit_create(spec("one"), ALICE)
        services.workflow.submit_create(spec("two"), ALICE)
        assert request_counts(services.store)() == {("pending", "create"): 2}
    finally:
        services.close()
