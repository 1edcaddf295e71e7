"""PostgreSQL dropping LaunchPad's connections in the middle of a request, then coming back.

The request runs on PostgreSQL (its own schema) with the GitHub forge over HTTP. Twice PostgreSQL
terminates every connection of the app (`pg_terminate_backend`, from another connection): once while
they sit idle in the pool between worker passes, and once inside the transaction that records a step's
result, right after that step opened its pull request. The worker pass that was cut off fails (the
scheduler logs it and runs the next tick); the next passes reconnect, the interrupted step's lease
expires, another attempt finds the PR it had opened, and the request ends with exactly one branch,
commit and PR per repository and every step succeeded once.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.exc import DBAPIError

from bot.store.database import Store
from bot.workflow.api import State
from provisioners.changeset import ChangeSet
from provisioners.forge.base import Change, Forge
from provisioners.forge.router import ForgeRouter
from tests.faults.support import build_world, router, web_spec
from tests.support.github_contents import ContentsGitHubServer
from tests.support.postgres import postgres_user
from tests.workflow.support import ALICE

pytestmark = pytest.mark.postgres


class Outage:
    """Terminates every backend of one application name, from an administrator connection."""

    def __init__(self, application: str) -> None:
        import psycopg

        user = postgres_user()
        assert user is not None
        self.application = application
        self.admin = psycopg.connect(f"host=127.0.0.1 port=5432 dbname=test user={user}", autocommit=True)
        self.armed_for: str | None = None
        self.cuts = 0

    def cut(self) -> int:
        rows = self.admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s "
                                  "AND pid <> pg_backend_pid()", (self.application,)).fetchall()
        self.cuts += 1
        return len(rows)

    def close(self) -> None:
        self.admin.close()


class CutAfterOpening:
    """The GitHub routes, except that opening the change for one key arms the outage: the next statement the
    app sends (the transaction recording this step's result) finds its connection gone."""

    def __init__(self, routes: ForgeRouter, outage: Outage, key_suffix: str) -> None:
        self.routes, self.outage, self.key_suffix = routes, outage, key_suffix

    def forge_for(self, repo: str, environments: Sequence[str] = ()) -> Forge:
        forge = self.routes.forge_for(repo, environments)
        outage, suffix = self.outage, self.key_suffix

        class Arming:
            def __getattr__(self, name: str) -> Any:
                return getattr(forge, name)

            def open_change(self, repo: str, key: str, changeset: ChangeSet, **kwargs: Any) -> Change:
                change = forge.open_change(repo, key, changeset, **kwargs)
                if key.endswith(suffix) and outage.cuts < 2:
                    outage.armed_for = key
                return change

        return Arming()  # type: ignore[return-value]


@pytest.fixture
def app_url(pg_url: str) -> Iterator[str]:
    """The test schema's URL with an application name of its own, so the outage hits only this app."""
    yield f"{pg_url}&application_name=lp_fault_{uuid.uuid4().hex[:10]}"


def test_connections_dropped_and_restored_mid_request(app_url: str, tmp_path: Path) -> None:
    Store(app_url).upgrade()
    application = app_url.rsplit("application_name=", 1)[1]
    outage = Outage(application)
    with ContentsGitHubServer() as server:
        routes = CutAfterOpening(router(server), outage, "-values-1")
        world = build_world(tmp_path, server, database_url=app_url, forges=routes)  # type: ignore[arg-type]

        @event.listens_for(world.services.store.engine, "before_cursor_execute")
        def cut_when_armed(*_: Any) -> None:
            if outage.armed_for is not None:
                outage.armed_for = None
                assert outage.cut() >= 1

        try:
            wf = world.workflow
            request = wf.submit_create(web_spec(), ALICE)
            assert wf.run_pending("fault-worker", max_steps=1) == 1  # infra PR opened, on a pooled connection
            assert outage.cut() >= 1  # every idle pooled connection is gone
            failed_passes = 0
            info = wf.get_request(request.id)
            for _ in range(80):
                try:
                    info = world.drive(request.id, rounds=1)
                except DBAPIError:  # the pass whose transaction lost its connection; the scheduler logs it
                    failed_passes += 1
                    continue
                if info.state.finished:
                    break
            assert outage.cuts == 2 and failed_passes == 1
            world.assert_delivered_exactly_once(info)
            values = next(s for s in info.steps if s.kind == "open_pr" and s.repo == "values")
            assert values.attempts == 2  # the cut-off attempt's result was lost; the next one found its PR
            assert {s.attempts for s in info.steps if s.kind == "open_pr" and s.repo != "values"} == {1}
            assert "step.reclaimed" in [e.action for e in wf.audit("ranking-web") if e.step_id == values.id]
            assert info.state == State.SUCCEEDED
        finally:
            world.services.close()
            outage.close()
