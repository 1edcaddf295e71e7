"""A bulk request on SQLite and on PostgreSQL: it fails at its PR, keeps its locks, resumes with retry from
the failed step, and records the pins once; many services locked and released in one transaction."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.store import models as m
from bot.workflow.api import BulkChange, Locked, Selector, State
from bot.workflow.clock import ManualClock
from bot.workflow.steps import forge_key
from provisioners.errors import PermanentError
from provisioners.forge.local import LocalForge
from tests.bulk.support import seed, worker_spec
from tests.workflow.support import ALICE, SRE, CountingForge, build, drain, pulls

NAMES = [f"worker-{i}" for i in range(6)]


def test_bulk_fails_keeps_its_locks_and_resumes_with_retry(db_url: str, tmp_path: Path) -> None:
    forge = CountingForge(LocalForge(tmp_path / "repos"))
    services = build(tmp_path, db_url, forge=forge, clock=ManualClock())
    try:
        for repo, files in seed(services, [worker_spec(n) for n in NAMES]).items():
            forge.forge.commit_files(repo, files, message="seed")
        wf = services.workflow
        change = BulkChange(kind="sidecar_image", target="nginx",
                            value="docker.io/nginxinc/nginx-unprivileged:1.27.4-alpine")
        info = wf.submit_bulk(Selector(team="search"), change, SRE)
        assert [s.kind for s in info.steps] == ["open_pr", "wait_merge", "notify"]  # devel only: no gate
        forge.fail[forge_key(info.id, "gitops", 0)] = PermanentError("the forge refused (test)")
        drain(services)
        failed = wf.get_request(info.id)
        assert failed.state == State.FAILED and "the forge refused" in (failed.error or "")
        with pytest.raises(Locked, match=f"locked by request #{info.id} \\(bulk, failed\\)"):
            wf.submit_create(worker_spec(NAMES[0]) | {"description": "meanwhile"}, ALICE)

        del forge.fail[forge_key(info.id, "gitops", 0)]
        assert wf.retry(info.id, SRE).state == State.PENDING
        drain(services)
        done = wf.get_request(info.id)
        assert done.state == State.SUCCEEDED, done.error
        assert [p["key"] for prs in pulls(forge.root).values() for p in prs] == [forge_key(info.id, "gitops", 0)]
        with services.store.session() as s:
            assert s.scalar(select(func.count()).select_from(m.Lock)) == 0
            specs = dict(s.execute(select(m.Service.name, m.Service.spec)).tuples().all())
            revisions = s.scalar(select(func.count()).select_from(m.ServiceRevision)
                                 .where(m.ServiceRevision.request_id == info.id))
        assert revisions == len(NAMES)
        assert all(specs[n]["pins"]["sidecars"] == {"nginx": change.value} for n in NAMES)
        assert [e.action for e in wf.audit(NAMES[0]) if e.request_id == info.id] == ["bulk.submitted",
                                                                                     "service.changed"]
    finally:
        services.close()
