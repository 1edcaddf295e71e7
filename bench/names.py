"""Name claims at submission: how long `precheck_create`'s check that no registered service already has
one of the new service's generated names takes, against a registry of N services x 3 environments.

It runs inside the Slack form's acknowledgement (3 s budget, shared with everything else the ack does).
Reported, not asserted: `python -m bench.names [N]` prints one line per figure and writes
bench/results/names.json.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.config import Settings
from bot.services import render_context
from bot.store import models as m
from bot.store.database import Store
from bot.workflow import names
from provisioners.spec import parse_spec

RESULTS = Path(__file__).resolve().parent / "results"
ENVIRONMENTS = ("devel", "alpha", "prod")


def run(services: int = 1000, rounds: int = 7) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="launchpad-bench-names-") as tmp:
        store = Store(f"sqlite:///{Path(tmp) / 'bench.db'}")
        store.upgrade()
        now = datetime.now(UTC)
        with store.session() as s:
            for i in range(services):
                svc = m.Service(name=f"svc-{i:04d}", team=("search", "payments", "platform")[i % 3],
                                blueprint="web-service", owner="U0BENCH", created_by="U0BENCH", description="",
                                active=True, created_at=now, updated_at=now)
                s.add(svc)
                s.flush()
                s.add_all([m.Environment(service_id=svc.id, name=env, domain=f"svc-{i:04d}.{env}.example.com",
                                         created_at=now, updated_at=now) for env in ENVIRONMENTS])
        ctx = render_context(Settings(data_dir=Path(tmp)))
        spec = parse_spec({"name": "new-service", "team": "search", "blueprint": "web-service",
                           "domain": "new-service.example.com",
                           "environments": [{"name": env} for env in ENVIRONMENTS]}, ctx.platform, ctx.blueprints)
        timings = []
        for _ in range(rounds):
            started = time.perf_counter()
            with store.session() as s:
                names.check(s, spec, ctx)
            timings.append(time.perf_counter() - started)
        store.dispose()
    result = {"registered_services": services, "environments_per_service": len(ENVIRONMENTS),
              "check_ms_median": round(statistics.median(timings) * 1000, 1),
              "check_ms_max": round(max(timings) * 1000, 1)}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "names.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"names: name-claim check against {services} services x {len(ENVIRONMENTS)} environments: "
          f"{result['check_ms_median']} ms median, {result['check_ms_max']} ms max of {rounds}")
    return result


if __name__ == "__main__":
    run(int(sys.argv[1]) if len(sys.argv) > 1 else 1000)
