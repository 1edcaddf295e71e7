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
    plan(specs[0], ctx)  # load templates and schemas once, outside the timing
    started = time.perf_counter()
    files = sum(len(cs.files) for spec in specs for cs in plan(spec, ctx, check=False))
    render_only = time.perf_counter() - started
    started = time.perf_counter()
    for spec in specs:
        plan(spec, ctx)
    checked = time.perf_counter() - started
    # peak memory holding every change set at once (as a bulk plan does), measured in a separate pass
    # because tracemalloc slows everything it watches
    tracemalloc.start()
    kept = [plan(spec, ctx, check=False) for spec in specs]
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del kept
    result = {
        "services": services,
        "environments_per_service": 3,
        "files": files,
        "render_seconds": round(render_only, 3),
        "render_and_check_seconds": round(checked, 3),
        "services_per_second": round(services / checked, 1) if checked else None,
        "peak_memory_mib": round(peak / 2**20, 1),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "render.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"render: {services} services x 3 environments -> {files} files rendered in {render_only:.2f} s")
    print(f"render: same, every file parsed back (HCL/YAML checks) in {checked:.2f} s "
          f"({result['services_per_second']} services/s)")
    print(f"render: peak traced memory {result['peak_memory_mib']} MiB")
    return result


if __name__ == "__main__":
    run(int(sys.argv[1]) if len(sys.argv) > 1 else 1000)
