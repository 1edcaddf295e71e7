"""A workflow worker as its own process, for the crash, shutdown and concurrency tests.

`python -m tests.workflow.worker_proc --db URL --data DIR [--log FILE] [--block-key KEY --blocked-marker FILE
[--release-marker FILE]] [--die-key KEY] [--clock-offset SECONDS] [--id NAME] [--mode passes|worker|once]
[--stopping-marker FILE] [--setting NAME=VALUE]...` runs worker passes until no request is pending, running or
waiting (or forever while blocked, until the test kills it). `--mode worker` / `--mode once` run what
`launchpad worker` / `launchpad worker --once` run instead (`bot.jobs.work`, signals and grace period included);
`--stopping-marker` is written once the worker has taken a stop signal in. The forge is the local forge under
DIR/repos, wrapped to log every delivery call (and to hang right after opening the change for --block-key until
--release-marker exists, or to SIGKILL its own process there for --die-key).
"""

from __future__ import annotations

import argparse
import threading
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select

from bot.jobs import work
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
    parser.add_argument("--release-marker", type=Path)
    parser.add_argument("--die-key")
    parser.add_argument("--clock-offset", type=float, default=0.0)
    parser.add_argument("--id", default="proc")
    parser.add_argument("--mode", choices=["passes", "worker", "once"], default="passes")
    parser.add_argument("--stopping-marker", type=Path)
    parser.add_argument("--setting", action="append", default=[], metavar="NAME=VALUE")
    args = parser.parse_args()
    forge = CountingForge(LocalForge(args.data / "repos"), log=args.log, block_key=args.block_key,
                          blocked_marker=args.blocked_marker, release_marker=args.release_marker,
                          die_key=args.die_key)
    overrides = dict(item.split("=", 1) for item in args.setting)
    services = build(args.data, args.db, clock=OffsetClock(timedelta(seconds=args.clock_offset)), forge=forge,
                     **overrides)
    wf = services.workflow
    if args.stopping_marker is not None:
        marker = args.stopping_marker

        def tell() -> None:
            wf.engine.stopping.wait()
            marker.write_text("stopping")

        threading.Thread(target=tell, daemon=True).start()
    try:
        if args.mode != "passes":
            work(wf, args.id, services.settings.worker_poll_seconds, once=args.mode == "once")
            return
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
