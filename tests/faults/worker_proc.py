"""A workflow worker as its own process on the GitHub forge, for the SIGKILL fault test.

`python -m tests.faults.worker_proc --data DIR --api URL [--db URL] [--id NAME]` runs worker passes
against the local GitHub server at URL (started by the test) until no request is pending, running or
waiting, or until the test kills it. Merge polls come round every 50 ms so the test, playing the
reviewer, never waits for the scheduler's polling interval.
"""

from __future__ import annotations

import argparse
import random
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select

from bot.services import build_services
from bot.store import models as m
from bot.workflow.bindings import PlaceholderBindings
from bot.workflow.clock import OffsetClock
from tests.faults.support import github_settings, router


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--api", required=True)
    parser.add_argument("--db")
    parser.add_argument("--id", default="proc")
    args = parser.parse_args()
    settings = github_settings(args.data, args.api, args.db)
    services = build_services(settings, forges=router(args.api, timeout=60.0), clock=OffsetClock(timedelta(0)),
                              resolver=PlaceholderBindings(settings.platform), rng=random.Random(11))
    services.workflow.engine.actions.merge_poll = lambda attempts: 0.05
    wf = services.workflow
    try:
        while True:
            if wf.run_pending(args.id) == 0:
                with services.store.session() as s:
                    active = s.scalar(select(func.count()).select_from(m.Request).where(
                        m.Request.state.in_(["pending", "running", "waiting"])))
                if not active:
                    break
                time.sleep(0.02)
    finally:
        services.close()


if __name__ == "__main__":
    main()
