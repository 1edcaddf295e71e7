"""Slack ack latency: 50 concurrent signed slash commands, then 50 concurrent view submissions.

Runs the real `launchpad serve --http` as a subprocess on 127.0.0.1 (SQLite and the local forge
under a temporary directory, background worker on, as deployed), with its Slack Web API pointed at
the local recording server (`tests/support/slack_server.py`). Each burst is released at once by a
barrier; latency is what Slack would see: from sending the signed request to the HTTP response (the
ack). `/launchpad new` acks and then opens the modal; a valid new-service submission is validated and
queued (database only) before its ack. Reported, not asserted: `python -m bench.ack [N]` prints one
line per figure and writes bench/results/ack.json.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml

from tests.slack import payloads
from tests.support.slack_server import SlackServer

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
SECRET = "benchsigningsecret0000000000abcd"
BOT_TOKEN = "-".join(("xoxb", "0" * 12, "0" * 12, "bench" * 5))  # a stand-in, assembled so scanners see no token
DEV, SRE = "U012ABCDEF", "U0SRE00001"
Request = tuple[str, str]  # (body, content type), signed when sent


def _settings_file(tmp: Path, slack: SlackServer) -> Path:
    config = {
        "data_dir": str(tmp / "data"), "slack_bot_token": BOT_TOKEN, "slack_signing_secret": SECRET,
        "slack_api_url": slack.api_url, "requests_channel": "C0REQUESTS", "sre_usergroup": "S0SRE00001",
        "http_host": "127.0.0.1", "log_level": "WARNING",
        "platform": {"teams": {"search": {"name": "search", "slack_group": "S0SEARCH01", "sso_group": "search-devs"}}},
    }
    path = tmp / "launchpad.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _start_serve(config: Path, log: Path) -> tuple[subprocess.Popen[str], str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAUNCHPAD_")}
    env["LAUNCHPAD_CONFIG_FILE"] = str(config)
    proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "serve", "--http", "--port", "0"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=log.open("w"), text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()  # "launchpad: serving Slack events on http://127.0.0.1:PORT/slack/events"
    if "serving Slack events on " not in line:
        proc.kill()
        raise RuntimeError(f"launchpad serve did not start: {line!r}; see {log}: {log.read_text()[-2000:]}")
    url = line.split("serving Slack events on ", 1)[1].strip()
    base = url.removesuffix("/slack/events")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(base + "/readyz", timeout=2) as response:
                if response.status == 200:
                    return proc, url
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("launchpad serve never became ready")


def _stop(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def burst(url: str, requests: list[Request]) -> list[tuple[int, float, str]]:
    """Send every request at the same moment; (status, seconds to the response, body) each; status 0 when
    the connection failed."""
    gate = threading.Barrier(len(requests))

    def send(request: Request) -> tuple[int, float, str]:
        body, content_type = request
        gate.wait()
        headers = payloads.sign(SECRET, body)
        started = time.perf_counter()
        try:
            reply = payloads.post(url, body, content_type, headers)
        except OSError as exc:  # refused or reset: Slack would see no ack at all
            return 0, time.perf_counter() - started, f"{type(exc).__name__}: {exc}"
        return reply.status, time.perf_counter() - started, reply.body

    with ThreadPoolExecutor(max_workers=len(requests)) as pool:
        return list(pool.map(send, requests))


def summary(results: list[tuple[int, float, str]], ok: Callable[[int, str], bool]) -> dict[str, Any]:
    seconds = sorted(r[1] for r in results)
    cuts = statistics.quantiles(seconds, n=100, method="inclusive")
    return {"requests": len(results), "ok": sum(ok(status, body) for status, _, body in results),
            "p50_ms": round(cuts[49] * 1000, 1), "p99_ms": round(cuts[98] * 1000, 1),
            "max_ms": round(seconds[-1] * 1000, 1)}


def _median_ms(results: list[tuple[int, float, str]]) -> float:
    return round(statistics.median(r[1] for r in results) * 1000, 1)


def run(concurrency: int = 50, *, write: bool = True) -> dict[str, Any]:
    with SlackServer() as slack, tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        slack.set_usergroup("S0SRE00001", [SRE])
        slack.set_usergroup("S0SEARCH01", [DEV])
        slack.set_user(DEV, email="dev@example.com", name="dev")
        proc, url = _start_serve(_settings_file(tmp, slack), tmp / "serve.log")
        try:
            for _ in range(3):  # warm-up: imports, first database connection, user-group cache
                burst(url, [payloads.slash_command("help", user=DEV, response_url=slack.response_url("warm"))])
            single_command = [burst(url, [payloads.slash_command("new", user=DEV, response_url=slack.response_url(
                "one"))])[0] for _ in range(5)]
            commands = burst(url, [payloads.slash_command("new", user=DEV, response_url=slack.response_url(f"c{i}"))
                                   for i in range(concurrency)])
            opened = max(1, sum(status == 200 for status, _, _ in commands))
            view = slack.wait_for("views.open", opened, timeout=60)[0].body["view"]
            forms = [payloads.view_submission(view, payloads.new_service_values(
                name=f"ack-bench-{i:02d}", environments=["devel"]), user=DEV) for i in range(concurrency)]
            single_submission = [burst(url, [payloads.view_submission(view, payloads.new_service_values(
                name=f"ack-single-{i}", environments=["devel"]), user=DEV)])[0] for i in range(5)]
            submissions = burst(url, forms)
        finally:
            _stop(proc)
    result: dict[str, Any] = {
        "concurrency": concurrency,
        "slash_commands": summary(commands, lambda status, body: status == 200),
        "view_submissions": summary(submissions, lambda status, body: status == 200 and body == ""),
        "one_at_a_time_ms": {"slash_command": _median_ms(single_command),
                             "view_submission": _median_ms(single_submission)},
        "slack_limit_ms": 3000,
        "target_p99_ms": 100,
    }
    for kind in ("slash_commands", "view_submissions"):
        s = result[kind]
        print(f"ack: {concurrency} concurrent {kind.replace('_', ' ')}: p50 {s['p50_ms']} ms, p99 {s['p99_ms']} ms, "
              f"max {s['max_ms']} ms ({s['ok']}/{s['requests']} acked OK)")
    one = result["one_at_a_time_ms"]
    print(f"ack: one at a time (median of 5): slash command {one['slash_command']} ms, "
          f"view submission {one['view_submission']} ms")
    if write:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "ack.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    run(int(sys.argv[1]) if len(sys.argv) > 1 else 50)
