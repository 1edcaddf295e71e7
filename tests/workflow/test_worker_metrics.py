"""The Procfile's separate worker process exposes its own metrics and probes when asked to."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path


def test_worker_serves_metrics_and_probes_then_stops_on_sigterm(tmp_path: Path) -> None:
    env = {**os.environ, "LAUNCHPAD_DATA_DIR": str(tmp_path), "LAUNCHPAD_HTTP_HOST": "127.0.0.1",
           "LAUNCHPAD_WORKER_POLL_SECONDS": "0.2"}
    env.pop("LAUNCHPAD_SLACK_BOT_TOKEN", None)
    proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "worker", "--metrics-port", "0"], cwd=tmp_path,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        url = ""
        for _ in range(10):
            line = proc.stdout.readline()
            if line.startswith("metrics on "):
                url = line.split()[-1].removesuffix("/metrics")
                break
        assert url, "the worker never said where its metrics are"
        with urllib.request.urlopen(f"{url}/metrics", timeout=10) as resp:
            assert resp.status == 200 and b"launchpad_" in resp.read()
        with urllib.request.urlopen(f"{url}/readyz", timeout=10) as resp:
            assert resp.status == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
