"""The Argo CD client against the local Argo CD server over real HTTP: reads, missing Applications, retries
with the forge's policy (5xx, 429 with Retry-After), auth failures that name the setting, no token leaks."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from bot.argocd.client import ArgoCd, ArgoCdRouter
from provisioners.errors import PermanentError, TransientError
from provisioners.forge.retry import RetryPolicy
from tests.support.argocd_server import ArgoCdServer, FakeApp

TOKEN = "argocd-test-token-7f3a9b"


def client(argo: ArgoCdServer, sleeps: list[float], token: str = TOKEN, **policy: float) -> ArgoCd:
    return ArgoCd("devel", argo.url, token, policy=RetryPolicy(max_retries=3, **policy), sleep=sleeps.append,
                  clock=lambda: 1_000.0, rng=random.Random(1))


def test_reads_an_application_its_tree_and_a_revision_date() -> None:
    sleeps: list[float] = []
    with ArgoCdServer(tokens={TOKEN: None}) as argo:
        argo.add(FakeApp("search-web-devel", project="search", workload="web", sync_delay=0, rollout=0,
                         dates={"a" * 40: "2030-01-01T12:00:00Z"}))
        c = client(argo, sleeps)
        app = c.application("search-web-devel", "search")
        assert app is not None and app["metadata"]["name"] == "search-web-devel"
        assert any(n["kind"] == "Pod" for n in c.resource_tree("search-web-devel", "search")["nodes"])
        assert c.revision_date("search-web-devel", "search", "a" * 40, 1) == datetime(2030, 1, 1, 12, tzinfo=UTC)
        assert c.application("search-gone-devel", "search") is None  # 404: the project is always named
        assert [call.query["project"] for call in argo.calls] == [["search"]] * 4
        assert c.calls == 4 and sleeps == [] and argo.schema_errors == []


def test_transient_failures_are_retried_with_backoff_and_retry_after() -> None:
    sleeps: list[float] = []
    with ArgoCdServer(tokens={TOKEN: None}) as argo:
        argo.add(FakeApp("search-web-devel", project="search", workload="web"))
        c = client(argo, sleeps)
        argo.fail("search-web-devel$", 503, times=2)
        argo.fail("search-web-devel$", 429, retry_after="3")
        assert c.application("search-web-devel", "search") is not None
        assert c.calls == 4 and len(sleeps) == 3 and sleeps[-1] == 3.0  # two backoffs, then Retry-After honoured
        argo.fail("search-web-devel$", 502, times=4)
        with pytest.raises(TransientError, match="failed 4 times"):
            c.application("search-web-devel", "search")
        argo.fail("search-web-devel$", 429, times=1, retry_after="600")  # beyond the cap: the step waits instead
        with pytest.raises(TransientError) as err:
            client(argo, sleeps, wait_cap=60).application("search-web-devel", "search")
        assert err.value.retry_at == datetime.fromtimestamp(1_600, UTC)


def test_auth_failures_are_permanent_name_the_setting_and_never_the_token() -> None:
    with ArgoCdServer(tokens={TOKEN: {"payments"}}) as argo:
        argo.add(FakeApp("search-web-devel", project="search", workload="web"))
        with pytest.raises(PermanentError) as bad:
            client(argo, [], token="expired-token-123456").application("search-web-devel", "search")
        assert "LAUNCHPAD_ARGOCD__DEVEL__TOKEN" in str(bad.value) and "expired-token" not in str(bad.value)
        with pytest.raises(PermanentError, match=r"may not read Application search-web-devel .*applications, get"):
            client(argo, []).application("search-web-devel", "search")


def test_router_picks_the_environments_server_the_base_for_temporary_ones_then_default() -> None:
    devel, default = ArgoCd("devel", "http://127.0.0.1:1", "t1"), ArgoCd("default", "http://127.0.0.1:2", "t2",
                                                                          ui_url="https://argocd.example.com/")
    router = ArgoCdRouter({"DEVEL": devel, "default": default}, namespace="argocd", temporary_base="devel")
    assert router.client("devel") is devel and router.client("tmp-pr42") is devel
    assert router.client("prod") is default
    assert router.link("prod", "search-web-prod") == "https://argocd.example.com/applications/argocd/search-web-prod"
    assert not ArgoCdRouter({"prod": default}).configured("devel")
