"""The image's HEALTHCHECK, for both of LaunchPad's processes (stdlib only, no curl in the image).

Healthy when `/healthz` answers 200 on 127.0.0.1 at the web port (`LAUNCHPAD_HTTP_PORT`, default
3000: `launchpad serve`) or at the worker's probe port (9102, or the ports given as arguments:
`launchpad worker --metrics-port 9102`). Kubernetes ignores HEALTHCHECK and uses the chart's probes.
"""

from __future__ import annotations

import os
import sys
import urllib.request

WORKER_PROBE_PORT = "9102"  # the Procfile's `launchpad worker --metrics-port 9102`


def healthy(port: str, timeout: float = 3.0) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=timeout) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def main(argv: list[str]) -> int:
    ports = argv or [os.environ.get("LAUNCHPAD_HTTP_PORT", "3000"), WORKER_PROBE_PORT]
    return 0 if any(healthy(port) for port in ports) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
