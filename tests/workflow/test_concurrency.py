"""Two worker processes on PostgreSQL and 50 requests at once: every step executed exactly once
(counted in the database and in the forge's call log), no duplicate PR, nothing left pending."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.store import models as m
from bot.store.database import Store
from bot.workflow.api import State
from tests.workflow.support import ALICE, build, pulls, spec
from tests.workflow.test_crash import start_worker

TEAMS = ("search", "payments", "platform")
REQUESTS = 50


@pytest.mark.postgres
@pytest.mark.slow
def test_two_workers_fifty_requests(pg_url: str, tmp_path: Path) -> None:
    Store(pg_url).upgrade()
    services = build(tmp_path, pg_url)
    try:
        wf = services.workflow
        actor = ALICE.model_copy(update={"teams": list(TEAMS)})
        ids = [wf.submit_create(spec(f"load-{i:02d}", team=TEAMS[i % 3]), actor).id for i in range(REQUESTS)]
        logs = [tmp_path / "w1.jsonl", tmp_path / "w2.jsonl"]
        workers = [start_worker(pg_url, tmp_path, "--log", str(log), "--id", f"w{n}")
                   for n, log in enumerate(logs, 1)]
        for proc in workers:
            _, err = proc.communicate(timeout=540)
            assert proc.returncode == 0, err.decode()

        with services.store.session() as s:
            steps = s.scalars(select(m.Step)).all()
            states = Counter(r.state for r in s.scalars(select(m.Request)))
            undelivered = s.scalars(select(m.OutboxMessage).where(m.OutboxMessage.delivered_at.is_(None))).all()
        assert states == {State.SUCCEEDED: REQUESTS}
        assert all(st.state == State.SUCCEEDED for st in steps)  # nothing left pending
        assert Counter(st.attempts for st in steps) == {1: len(steps)}  # every step claimed and run exactly once
        assert undelivered == []

        calls = [json.loads(line) for log in logs if log.exists() for line in log.read_text().splitlines()]
        opened = Counter(c["key"] for c in calls if c["op"] == "open_change")
        merged = Counter(c["key"] for c in calls if c["op"] == "merge_change")
        expected = {st.forge_key for st in steps if st.kind == "open_pr"}
        assert set(opened) == expected and set(opened.values()) == {1}
        keys = [p["key"] for prs in pulls(tmp_path / "repos").values() for p in prs]
        assert len(keys) == len(set(keys)) == len(merged)  # no duplicate PR; each merged once
        assert set(merged.values()) == {1}
        assert {c["pid"] for c in calls} and len(ids) == REQUESTS
    finally:
        services.close()
