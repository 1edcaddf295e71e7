"""Render throughput: N services x 3 environments through every provisioner, with peak memory.

Reported, not asserted: `python -m bench.render [N]` prints one line per figure and writes
bench/results/render.json.
"""

from __future__ import annotations

import json
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

from provisioners.blueprint import BlueprintRegistry
from provisioners.plan import RenderContext, plan
from provisioners.platform import PlatformConfig
from provisioners.spec import parse_spec

RESULTS = Path(__file__).resolve().parent / "results"


def spec_data(i: int) -> dict[str, Any]:
    web = i % 2 == 0
    data: dict[str, Any] = {
        "name": f"svc-{i:04d}",
        "team": ("search", "payments", "platform")[i % 3],
        "blueprint": "web-service" if web else "worker",
        "description": f'Service {i}: "quoted" ${{not.a.ref}} {{{{ not.a.template }}}}',
        "environments": [{"name": "devel"}, {"name": "alpha"}, {"name": "prod"}],
    }
    if web:
        data["domain"] = f"svc-{i:04d}.example.com"
    if i % 5 == 0:
        data["components"] = {"s3": {}}
    return data


def run(services: int = 1000) -> dict[str, Any]:
    ctx = RenderContext(platform=PlatformConfig(), blueprints=BlueprintRegistry.load())
    specs = [parse_spec(spec_data(i), ctx.platform, ctx.blueprints) for i in range(services)]
    tracemalloc.start()
    started = time.perf_counter()
    files = 0
    for spec in specs:
        for cs in plan(spec, ctx):
            files += len(cs.files)
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    result = {
        "services": services,
        "environments_per_service": 3,
        "files": files,
        "seconds": round(elapsed, 3),
        "services_per_second": round(services / elapsed, 1) if elapsed else None,
        "peak_memory_mib": round(peak / 2**20, 1),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "render.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"render: {services} services x 3 environments -> {files} files in {elapsed:.2f} s")
    print(f"render: {result['services_per_second']} services/s")
    print(f"render: peak traced memory {result['peak_memory_mib']} MiB")
    return result


if __name__ == "__main__":
    run(int(sys.argv[1]) if len(sys.argv) > 1 else 1000)
