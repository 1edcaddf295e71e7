"""Slack ack latency, LaunchPad against a minimal Bolt app served the same way; and Socket Mode acks.

HTTP: the real `launchpad serve --http --no-worker` (gunicorn; SQLite and the local forge under a
temporary directory) with a `launchpad worker` process beside it, as the Helm chart deploys them, and
`bench/minimal_app.py` (a Bolt app that only acks)
under the very same gunicorn options, both with the Slack Web API pointed at the local recording
server. Each gets a burst of N concurrent signed `/launchpad new` commands, then N concurrent valid
new-service form submissions (released at once by a barrier). Latency is what Slack sees: from sending
the signed request to the HTTP response (the ack). A late or failed ack is one not answered 200 (and,
for a submission, with an empty body) within Slack's 3 s.

Socket Mode: LaunchPad's `SocketModeLink` against the local Socket Mode server (`tests/support/`),
N `/launchpad new` envelopes in a burst, without and with a `refresh_requested` at the middle one; and
the same burst with a refresh for each stock slack_sdk client behind a minimal Bolt app (the
measurement behind the choice of client; docs/slack.md). Latency: envelope sent to ack received.

Reported, not asserted: `python -m bench.ack [N]` prints one line per figure and writes
bench/results/ack.json; `markdown()` renders the tables for docs/performance.md.
"""

from __future__ import annotations

import asyncio
import json
import logging
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
from tests.support.socket_mode_server import Envelope, SocketModeServer, iter_latencies, slash_command_payload

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
SECRET = "benchsigningsecret0000000000abcd"
BOT_TOKEN = "-".join(("xoxb", "0" * 12, "0" * 12, "bench" * 5))  # a stand-in, assembled so scanners see no token
APP_TOKEN = "-".join(("xapp", "1", "A0LAUNCHPAD", "0" * 10, "bench" * 4))
DEV, SRE = "U012ABCDEF", "U0SRE00001"
LIMIT_S = 3.0
TARGETS = {"slash_commands": 2.0, "view_submissions": 3.0}  # p99 at most this many times the minimal app's
Request = tuple[str, str]  # (body, content type), signed when sent
Result = tuple[int, float, str]  # (status, seconds, body)


def _config(tmp: Path, slack: SlackServer) -> dict[str, Any]:
    return {
        "data_dir": str(tmp / "data"), "slack_bot_token": BOT_TOKEN, "slack_signing_secret": SECRET,
        "slack_api_url": slack.api_url, "requests_channel": "C0REQUESTS", "sre_usergroup": "S0SRE00001",
        "http_host": "127.0.0.1", "log_level": "WARNING",
        "platform": {"teams": {"search": {"name": "search", "slack_group": "S0SEARCH01", "sso_group": "search-devs"}}},
    }


def _start(argv: list[str], config: Path, log: Path, marker: str) -> tuple[subprocess.Popen[str], str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAUNCHPAD_")}
    env["LAUNCHPAD_CONFIG_FILE"] = str(config)
    proc = subprocess.Popen([sys.executable, *argv], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=log.open("w"), text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()  # "...: serving Slack events on http://127.0.0.1:PORT/slack/events"
    if marker not in line:
        proc.kill()
        raise RuntimeError(f"{argv} did not start: {line!r}; see {log}: {log.read_text()[-2000:]}")
    return proc, line.split(marker, 1)[1].strip()


def _stop(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _ready(base: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(base + "/readyz", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("launchpad serve never became ready")


def burst(url: str, requests: list[Request]) -> list[Result]:
    """Send every request at the same moment; (status, seconds to the response, body) each; status 0 when
    the connection failed."""
    gate = threading.Barrier(len(requests))

    def send(request: Request) -> Result:
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


def summary(seconds: list[float], failed: int) -> dict[str, Any]:
    """p50/p99/max of the acks that came, and how many were late (over 3 s) or failed."""
    ordered = sorted(seconds) or [0.0]
    cuts = statistics.quantiles(ordered, n=100, method="inclusive") if len(ordered) > 1 else ordered * 99
    return {"requests": len(seconds) + failed, "late_or_failed": failed + sum(s > LIMIT_S for s in seconds),
            "p50_ms": round(cuts[49] * 1000, 1), "p99_ms": round(cuts[98] * 1000, 1),
            "max_ms": round(ordered[-1] * 1000, 1)}


def _http_summary(results: list[Result], ok: Callable[[int, str], bool]) -> dict[str, Any]:
    good = [seconds for status, seconds, body in results if ok(status, body)]
    return summary(good, len(results) - len(good))


def _commands(slack: SlackServer, prefix: str, n: int) -> list[Request]:
    return [payloads.slash_command("new", user=DEV, response_url=slack.response_url(f"{prefix}{i}"))
            for i in range(n)]


def _http(concurrency: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with SlackServer() as slack, tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        slack.set_usergroup("S0SRE00001", [SRE])
        slack.set_usergroup("S0SEARCH01", [DEV])
        slack.set_user(DEV, email="dev@example.com", name="dev")
        config = tmp / "launchpad.yaml"
        config.write_text(yaml.safe_dump(_config(tmp, slack)))
        servers = {
            "launchpad": (["-m", "bot.cli", "serve", "--http", "--no-worker", "--port", "0"],
                          "serving Slack events on "),
            "minimal": (["-m", "bench.minimal_app"], "serving Slack events on "),
        }
        view: dict[str, Any] | None = None
        for name, (argv, marker) in servers.items():
            proc, url = _start(argv, config, tmp / f"{name}.log", marker)
            worker = None
            if name == "launchpad":  # as the Helm chart deploys it: the jobs in a worker process of their own
                env = {k: v for k, v in os.environ.items() if not k.startswith("LAUNCHPAD_")}
                env["LAUNCHPAD_CONFIG_FILE"] = str(config)
                worker = subprocess.Popen([sys.executable, "-m", "bot.cli", "worker"], cwd=ROOT, env=env,
                                          stdout=subprocess.DEVNULL, stderr=(tmp / "worker.log").open("w"))
            try:
                if name == "launchpad":  # the minimal app has no probes; its warm-up below is enough
                    _ready(url.removesuffix("/slack/events"))
                for _ in range(3):  # warm-up: imports, first database connection, user-group cache
                    burst(url, _commands(slack, f"{name}-warm", 1))
                if view is None:
                    view = slack.wait_for("views.open", 1, timeout=60)[0].body["view"]
                commands = burst(url, _commands(slack, f"{name}-c", concurrency))
                forms = [payloads.view_submission(view, payloads.new_service_values(
                    name=f"ack-{name[:3]}-{i:02d}", environments=["devel"]), user=DEV) for i in range(concurrency)]
                submissions = burst(url, forms)
            finally:
                _stop(proc)
                if worker is not None:
                    _stop(worker)
            out[name] = {"slash_commands": _http_summary(commands, lambda status, body: status == 200),
                         "view_submissions": _http_summary(submissions,
                                                           lambda status, body: status == 200 and body == "")}
    return out


# --- Socket Mode ---------------------------------------------------------------------------------------


def _socket_burst(sm: SocketModeServer, slack: SlackServer, n: int, *, refresh: bool, tag: str,
                  first: int = 0) -> list[Envelope]:
    sm.wait_for_links(1)
    ids = []
    for i in range(n):
        if refresh and i == n // 2:
            sm.refresh()
        ids.append(sm.send("slash_commands", slash_command_payload(
            "new", user=DEV, response_url=slack.response_url(f"{tag}{i}"), n=first + i)))
    try:
        return sm.wait_for_acks(ids, timeout=30)
    except AssertionError:
        return [sm.envelopes[e] for e in ids]


def _envelope_summary(envelopes: list[Envelope]) -> dict[str, Any]:
    acked = list(iter_latencies(envelopes))
    return summary(acked, len(envelopes) - len(acked))


def _launchpad_socket_mode(concurrency: int) -> dict[str, Any]:
    from bot.app import build_app, build_client
    from bot.config import Settings
    from bot.services import build_services
    from bot.slack.notifier import SlackNotifier
    from bot.slack.socket_mode import SocketModeLink

    out: dict[str, Any] = {}
    with SlackServer() as slack, tempfile.TemporaryDirectory() as tmp_name:
        slack.set_usergroup("S0SRE00001", [SRE])
        slack.set_usergroup("S0SEARCH01", [DEV])
        config = _config(Path(tmp_name), slack)
        config.pop("slack_signing_secret")
        settings = Settings(**config, slack_app_token=APP_TOKEN)
        services = build_services(settings)
        client = build_client(settings)
        notifier = SlackNotifier(client, settings)
        app = build_app(settings, services, client=client, notifier=notifier)
        for refresh in (False, True):
            with SocketModeServer(slack, grace=10) as sm:
                link = SocketModeLink(app, APP_TOKEN, settings=settings)
                link.connect()
                try:
                    _socket_burst(sm, slack, 3, refresh=False, tag="warm", first=10_000)  # warm-up
                    first = 1000 * (2 if refresh else 1)
                    expected = {f"13345224609.738474920.{first + i:08d}" for i in range(concurrency)}
                    envelopes = _socket_burst(sm, slack, concurrency, refresh=refresh, tag=f"r{refresh}", first=first)

                    def opened(calls: list[Any], expected: set[str] = expected) -> list[str]:
                        return [c.body.get("trigger_id") for c in calls
                                if c.method == "views.open" and c.body.get("trigger_id") in expected]

                    triggers = opened(slack.wait_until(lambda calls: len(opened(calls)) >= concurrency, timeout=60))
                finally:
                    link.close()
            figures = _envelope_summary(envelopes)
            figures["handled_once"] = len(triggers) == len(set(triggers)) == concurrency
            out["burst_with_refresh" if refresh else "burst"] = figures
        app.listener_runner.listener_executor.shutdown(wait=True)  # type: ignore[attr-defined]
        notifier.close()
        services.close()
    return out


def _stock_client(kind: str, concurrency: int) -> dict[str, Any]:
    """A minimal Bolt app on one stock slack_sdk client, burst with a refresh in the middle."""
    from slack_bolt import Ack, App
    from slack_sdk import WebClient

    with SlackServer() as slack, SocketModeServer(slack, grace=10) as sm:
        app = App(client=WebClient(token=BOT_TOKEN, base_url=slack.api_url), signing_secret="",
                  token_verification_enabled=False, process_before_response=False)

        @app.command("/launchpad")
        def command(ack: Ack) -> None:
            ack()

        loop: asyncio.AbstractEventLoop | None = None
        handler: Any
        if kind in ("builtin", "websocket_client"):
            module = __import__(f"slack_bolt.adapter.socket_mode.{kind}", fromlist=["SocketModeHandler"])
            handler = module.SocketModeHandler(app, APP_TOKEN)
            handler.connect()
        else:
            from slack_sdk.web.async_client import AsyncWebClient

            module = __import__(f"slack_bolt.adapter.socket_mode.{kind}", fromlist=["SocketModeHandler"])
            loop = asyncio.new_event_loop()
            started = threading.Event()

            async def start() -> Any:
                made = module.SocketModeHandler(app, APP_TOKEN, web_client=AsyncWebClient(token=BOT_TOKEN,
                                                                                       base_url=slack.api_url))
                await made.connect_async()
                return made

            def run() -> None:
                asyncio.set_event_loop(loop)
                holder.append(loop.run_until_complete(start()))
                started.set()
                loop.run_forever()

            holder: list[Any] = []
            threading.Thread(target=run, daemon=True).start()
            started.wait(timeout=30)
            handler = holder[0]
        try:
            return _envelope_summary(_socket_burst(sm, slack, concurrency, refresh=True, tag=kind))
        finally:
            if loop is not None:
                asyncio.run_coroutine_threadsafe(handler.client.close(), loop).result(timeout=10)
                loop.call_soon_threadsafe(loop.stop)
            else:
                handler.close()


def _socket_mode(concurrency: int) -> dict[str, Any]:
    logging.getLogger("slack_sdk").setLevel(logging.CRITICAL)
    logging.getLogger("slack_bolt").setLevel(logging.CRITICAL)
    result: dict[str, Any] = {"launchpad": _launchpad_socket_mode(concurrency), "stock_clients_with_refresh": {}}
    for kind in ("builtin", "websocket_client", "websockets", "aiohttp"):
        try:
            result["stock_clients_with_refresh"][kind] = _stock_client(kind, concurrency)
        except ImportError as exc:
            result["stock_clients_with_refresh"][kind] = {"skipped": f"not installed ({exc.name})"}
    return result


def run(concurrency: int = 50, *, write: bool = True) -> dict[str, Any]:
    http = _http(concurrency)
    ratios = {kind: round(http["launchpad"][kind]["p99_ms"] / max(http["minimal"][kind]["p99_ms"], 0.1), 2)
              for kind in TARGETS}
    result: dict[str, Any] = {"concurrency": concurrency, "slack_limit_ms": int(LIMIT_S * 1000), "http": http,
                              "p99_ratio": ratios, "p99_ratio_target": TARGETS,
                              "socket_mode": _socket_mode(concurrency)}
    for kind in TARGETS:
        lp, mini = http["launchpad"][kind], http["minimal"][kind]
        print(f"ack: {concurrency} concurrent {kind.replace('_', ' ')} (HTTP): LaunchPad p50 {lp['p50_ms']} ms, "
              f"p99 {lp['p99_ms']} ms, {lp['late_or_failed']} late or failed; minimal Bolt p99 {mini['p99_ms']} ms; "
              f"ratio {ratios[kind]} (target <= {TARGETS[kind]})")
    for name, figures in result["socket_mode"]["launchpad"].items():
        print(f"ack: Socket Mode {name.replace('_', ' ')} of {concurrency}: p50 {figures['p50_ms']} ms, p99 "
              f"{figures['p99_ms']} ms, {figures['late_or_failed']} late or failed, handled once: "
              f"{figures['handled_once']}")
    for kind, figures in result["socket_mode"]["stock_clients_with_refresh"].items():
        if "skipped" in figures:
            print(f"ack: stock Socket Mode client {kind}: {figures['skipped']}")
        else:
            print(f"ack: stock Socket Mode client {kind}, refresh mid-burst: {figures['late_or_failed']} of "
                  f"{concurrency} late or failed, p99 {figures['p99_ms']} ms")
    if write:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "ack.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


def markdown(result: dict[str, Any]) -> list[str]:
    """The ack section of docs/performance.md: LaunchPad and the minimal app side by side, with ratios."""
    http, n = result["http"], result["concurrency"]
    lines = [f"HTTP mode, {n} concurrent signed requests per burst, both apps under the same gunicorn options; "
             f"late = not acked within {result['slack_limit_ms']} ms.", "",
             "| burst | figure | LaunchPad | minimal Bolt app | ratio | target |", "|---|---|---|---|---|---|"]
    for kind, target in result["p99_ratio_target"].items():
        lp, mini = http["launchpad"][kind], http["minimal"][kind]
        label = kind.replace("_", " ")
        for figure in ("p50_ms", "p99_ms", "max_ms", "late_or_failed"):
            ratio = f"{result['p99_ratio'][kind]}x" if figure == "p99_ms" else ""
            goal = f"<= {target}x" if figure == "p99_ms" else ("0" if figure == "late_or_failed" and
                                                                kind == "view_submissions" else "")
            lines.append(f"| {label} | {figure} | {lp[figure]} | {mini[figure]} | {ratio} | {goal} |")
    lines += ["", f"Socket Mode, {n} `/launchpad new` envelopes in a burst (refresh: `refresh_requested` at the "
              "middle one).", "", "| client | scenario | p50_ms | p99_ms | max_ms | late_or_failed | handled once |",
              "|---|---|---|---|---|---|---|"]
    for scenario, f in result["socket_mode"]["launchpad"].items():
        lines.append(f"| LaunchPad (websockets + SocketModeLink) | {scenario.replace('_', ' ')} | {f['p50_ms']} | "
                     f"{f['p99_ms']} | {f['max_ms']} | {f['late_or_failed']} | {f['handled_once']} |")
    for kind, f in result["socket_mode"]["stock_clients_with_refresh"].items():
        if "skipped" in f:
            lines.append(f"| stock {kind} | burst with refresh | {f['skipped']} | | | | |")
        else:
            lines.append(f"| stock {kind} (minimal app) | burst with refresh | {f['p50_ms']} | {f['p99_ms']} | "
                         f"{f['max_ms']} | {f['late_or_failed']} | |")
    return lines


if __name__ == "__main__":
    run(int(sys.argv[1]) if len(sys.argv) > 1 else 50)

