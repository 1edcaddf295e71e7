"""The HTTPS probe of a web service's domain after Argo CD reports it Healthy: is it live for users?

One GET of `https://<domain><path>` with a short timeout and no retries (the step polls again). An
answer below 500 other than 404 counts as live (a 401 or a redirect is the app answering); 404 and
5xx are not live yet (the ALB has no rule or no healthy target). Where the bot cannot reach the
domain at all (DNS, firewall, TLS, timeout) the result says so and the step reports the probe as
skipped rather than failing: many workers run in networks that cannot see the public side.
`connect_to` maps a host to another base URL (like curl's --connect-to), for tests on 127.0.0.1.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass

import requests


@dataclass(frozen=True)
class ProbeResult:
    url: str
    reachable: bool
    status: int | None = None
    detail: str = ""

    @property
    def live(self) -> bool:
        return self.reachable and self.status is not None and self.status < 500 and self.status != 404


class HttpsProber:
    def __init__(self, *, timeout: float = 5.0, connect_to: Mapping[str, str] | None = None,
                 ca_bundle: str = "") -> None:
        self.timeout = timeout
        self.connect_to = dict(connect_to or {})
        self.verify: bool | str = ca_bundle or True
        self.calls = 0

    def probe(self, url: str) -> ProbeResult:
        parts = urllib.parse.urlsplit(url)
        target, headers = url, {}
        base = self.connect_to.get(parts.hostname or "")
        if base is not None:
            target = base.rstrip("/") + (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            headers["Host"] = parts.netloc
        self.calls += 1
        try:
            response = requests.get(target, headers=headers, timeout=self.timeout, allow_redirects=False,
                                    verify=self.verify)
        except requests.exceptions.SSLError as exc:
            return ProbeResult(url, False, detail=f"TLS failed ({type(exc).__name__})")
        except requests.Timeout:
            return ProbeResult(url, False, detail=f"no answer within {self.timeout:g}s")
        except requests.ConnectionError as exc:
            return ProbeResult(url, False, detail=f"cannot connect ({_reason(exc)})")
        response.close()
        return ProbeResult(url, True, response.status_code, f"HTTP {response.status_code}")


def _reason(exc: Exception) -> str:
    text = str(exc)
    for hint in ("Name or service not known", "nodename nor servname", "Temporary failure in name resolution",
                 "Connection refused", "No route to host", "Network is unreachable"):
        if hint in text:
            return hint
    return type(exc).__name__
