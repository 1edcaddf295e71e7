"""A workflow worker as its own process, for the crash and concurrency tests.

`python -m tests.workflow.worker_proc --db URL --data DIR [--log FILE] [--block-key KEY --blocked-marker FILE]
[--clock-offset SECONDS] [--id NAME]` runs worker passes until no request is pending, running or waiting
(or forever while blocked, until the test kills it). The forge is the local forge under DIR/repos,
wrapped to log every delivery call (and to hang right after opening the change for --block-key).
"""

from __future__ import annotations

import argparse
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select

from bot.store import models as m
from bot.workflow.clock import OffsetClock
from provisioners.forge.local import LocalForge
from tests.workflow.support import CountingForge, build


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--log", type=Path)
    parser.add_argument("--block-key")
    parser.add_argument("--blocked-marker", type=Path)
    parser.add_argument("--clock-offset", type=float, default=0.0)
    parser.add_argument("--id", default="proc")
    args = parser.parse_args()
    forge = CountingForge(LocalForge(args.data / "repos"), log=args.log, block_key=args.block_key,
                          blocked_marker=args.blocked_marker)
    services = build(args.data, args.db, clock=OffsetClock(timedelta(seconds=args.clock_offset)), forge=forge)
    wf = services.workflow
    try:
        while True:
            if wf.run_pending(args.id) == 0:
                with services.store.session() as s:
                    active = s.scalar(select(func.count()).select_from(m.Request).where(
                        m.Request.state.in_(["pending", "running", "waiting"])))
                if not active:
                    break
                time.sleep(0.01)
    finally:
        services.close()


if __name__ == "__main__":
    main()
