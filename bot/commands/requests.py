"""`launchpad new|status|list|retry|delete|extend|promote|approve|deny|cancel|audit|worker|db|demo`: the workflow
from a terminal, mirroring the Slack commands.

Handlers parse arguments, build the CLI actor (`cli:<login>`, the operating-system login; SRE only when
settings.sre_users lists the login), call `WorkflowService`, and print. Errors print one line to stderr and exit 1.
`--wait` runs the worker inline until the request finishes or waits for someone (approval, merge).
"""

from __future__ import annotations

import argparse
import getpass
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from alembic.util import CommandError as AlembicCommandError

from bot.commands.plan import read_spec_file
from bot.config import Settings, mask_url
from bot.jobs import work
from bot.services import Services, build_services, render_context, startup_problems
from bot.store.database import SchemaOutdated, Store
from bot.workflow.api import (
    Actor,
    ApprovalInfo,
    EnvironmentInfo,
    NotAllowed,
    NotFound,
    NothingToChange,
    Notifier,
    RequestInfo,
    ServiceInfo,
    State,
    StepInfo,
)
from bot.workflow.arguments import parse_duration as parse_duration  # re-exported for callers
from bot.workflow.engine import worker_name
from bot.workflow.policy import PolicyError
from provisioners.errors import InvalidSpecError, LaunchPadError
from provisioners.spec import parse_spec

DEMO_DIR = "demo"  # `launchpad demo` runs under data_dir/demo, apart from the requests of `launchpad new`
MARKS = {State.PENDING: "[    ]", State.RUNNING: "[run ]", State.WAITING: "[wait]", State.SUCCEEDED: "[done]",
         State.FAILED: "[FAIL]", State.CANCELLED: "[cncl]"}


def register(sub: Any) -> None:
    actor = argparse.ArgumentParser(add_help=False)
    add_as_sre(actor)
    wait = argparse.ArgumentParser(add_help=False)
    wait.add_argument("--wait", action="store_true",
                      help="run the worker here until the request finishes or waits for someone")

    p = sub.add_parser("new", parents=[actor, wait], help="submit a service spec (create, or change if it exists)")
    p.add_argument("spec", type=Path, help="service spec YAML (see examples/)")
    p.set_defaults(func=_handler(cmd_new))

    p = sub.add_parser("status", help="show a request and its steps, or which image runs where in a service")
    p.add_argument("id", metavar="ID|SERVICE", help="request number, or service name")
    p.set_defaults(func=_handler(cmd_status))

    p = sub.add_parser("list", parents=[actor], help="services and recent requests")
    p.add_argument("--service", help="only this service's requests")
    p.add_argument("--open", action="store_true", help="only requests that are not finished (or failed)")
    p.add_argument("--mine", action="store_true", help="only my requests")
    p.add_argument("--limit", type=int, default=20)
    p.set_defaults(func=_handler(cmd_list))

    p = sub.add_parser("retry", parents=[actor, wait], help="resume a failed request from its failed step")
    p.add_argument("id", type=int)
    p.set_defaults(func=_handler(cmd_retry))

    p = sub.add_parser("delete", parents=[actor, wait], help="decommission a service, or some of its environments")
    p.add_argument("service")
    p.add_argument("--env", action="append", dest="envs", metavar="ENV", help="environment (repeatable); default all")
    p.set_defaults(func=_handler(cmd_delete))

    p = sub.add_parser("extend", parents=[actor], help="push back the expiry of a temporary environment")
    p.add_argument("service")
    p.add_argument("env")
    p.add_argument("duration", help="e.g. 24h, 3d, 1w (a bare number means hours)")
    # `-5h` is a (negative) duration, not an option: parse_duration then says why it is refused
    p._negative_number_matcher = re.compile(r"^-[0-9]+[a-z]*$")
    p.set_defaults(func=_handler(cmd_extend))

    p = sub.add_parser("promote", parents=[actor, wait],
                       help="copy the image that is Healthy in the previous environment to ENV (a values PR)")
    p.add_argument("service")
    p.add_argument("env", help="target environment, e.g. alpha or prod (platform.environment_order)")
    p.set_defaults(func=_handler(cmd_promote))

    p = sub.add_parser("approve", parents=[actor, wait], help="approve a request's waiting approval step")
    p.add_argument("id", type=int)
    p.add_argument("step", type=int, nargs="?", help="step number as `status` shows it; default the waiting one")
    p.add_argument("--reason", default=None)
    p.set_defaults(func=_handler(cmd_approve))

    p = sub.add_parser("deny", parents=[actor], help="deny a request's waiting approval step")
    p.add_argument("id", type=int)
    p.add_argument("step", type=int, nargs="?")
    p.add_argument("--reason", required=True, help="shown to the requester")
    p.set_defaults(func=_handler(cmd_deny))

    p = sub.add_parser("cancel", parents=[actor], help="stop a request and close the PRs it opened")
    p.add_argument("id", type=int)
    p.set_defaults(func=_handler(cmd_cancel))

    p = sub.add_parser("audit", help="every recorded state change and decision for a service")
    p.add_argument("service")
    p.set_defaults(func=_handler(cmd_audit))

    p = sub.add_parser("worker", help="run the scheduled jobs (steps, merges, TTLs, reminders) until SIGTERM")
    p.add_argument("--once", action="store_true", help="run every job once and exit")
    p.add_argument("--id", default=None, help="worker id (default: worker-<host>-<pid>)")
    p.add_argument("--metrics-port", type=int, default=None, metavar="PORT",
                   help="serve /metrics, /healthz and /readyz on LAUNCHPAD_HTTP_HOST:PORT (0: a free port)")
    p.set_defaults(func=_handler(cmd_worker))

    p = sub.add_parser("db", help="database maintenance")
    db = p.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    up = db.add_parser("upgrade", help="apply the migrations (run once per release, from any replica)")
    up.set_defaults(func=_handler(cmd_db_upgrade))
    down = db.add_parser("downgrade", help="roll the schema back to REVISION, with the newer release's image, "
                                           "before rolling back to an older release (docs/deploy.md)")
    down.add_argument("revision", help="the revision the older release needs (`launchpad db head` in its image)")
    down.set_defaults(func=_handler(cmd_db_downgrade))
    head = db.add_parser("head", help="print the schema revision this LaunchPad needs (no database needed)")
    head.set_defaults(func=_handler(cmd_db_head))

    p = sub.add_parser("demo", help="run a whole request on embedded defaults (SQLite, local git, no credentials)")
    p.add_argument("spec", type=Path, help="service spec YAML, e.g. examples/ranking-web.yaml")
    p.set_defaults(func=_handler(cmd_demo))


# --- handlers -------------------------------------------------------------------------------------
def cmd_new(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    data = read_spec_file(args.spec)
    with _services(settings, out) as services:
        try:
            info = services.workflow.submit_create(data, cli_actor(args, settings))
        except NothingToChange as exc:  # not a failure: the service already is what the spec asks for
            print(f"{str(exc)[0].upper()}{str(exc)[1:]}", file=out)
            return 0
        _print_request(info, out)
        return _after_submit(args, services, info, out)


def cmd_status(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    with _services(settings, out, quiet=True) as services:
        wf = services.workflow
        if args.id.lstrip("#").isdigit():
            _print_request(wf.get_request(int(args.id.lstrip("#"))), out)
            return 0
        svc = wf.get_service(args.id)
        print(f"{svc.name} (team {svc.team}, {svc.blueprint}) owned by {svc.owner}: {_envs(svc.environments)}",
              file=out)
        print("Images (values repository, and Argo CD where configured):", file=out)
        for img in wf.running_images(svc.name):
            declared = f"  (values file: {img.declared})" if img.declared and img.declared != img.image else ""
            link = f"  {img.link}" if img.link else ""
            print(f"  {img.environment:<10} {img.image or '-'}  {img.state}{declared}{link}", file=out)
        for p in wf.promotions(svc.name)[:5]:
            print(f"  promoted #{p.request_id} {p.source} -> {p.target} {p.image} ({p.state.value}, by "
                  f"{p.requested_by})", file=out)
    return 0


def cmd_promote(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    with _services(settings, out) as services:
        info = services.workflow.submit_promote(args.service, args.env, cli_actor(args, settings))
        _print_request(info, out)
        return _after_submit(args, services, info, out)


def cmd_list(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    with _services(settings, out, quiet=True) as services:
        wf = services.workflow
        if not args.service and not args.mine:
            found = wf.list_services()
            print(f"Services ({len(found)}):", file=out)
            for svc in found:
                print(f"  {svc.name:<28} team {svc.team:<12} {_envs(svc.environments)}", file=out)
        requester = cli_actor(args, settings).id if args.mine else None
        reqs = wf.list_requests(requester=requester, service=args.service, open_only=args.open, limit=args.limit)
        print(f"Requests ({len(reqs)}):", file=out)
        for r in reqs:
            step = r.failed_step() if r.state == State.FAILED else r.current_step()
            where = f" at step {step.position + 1}: {step.title}" if step and not r.state.finished else ""
            if r.state == State.FAILED and step is not None:
                where = f" at step {step.position + 1}: {one_line(step.error or step.title)}"
            print(f"  #{r.id:<5} {r.state.value:<9} {r.kind.value:<7} {r.service} ({', '.join(r.environments)}) "
                  f"by {r.requester}{where}", file=out)
        if not reqs:
            print(f"Nothing here yet{where_we_look(settings)}", file=out)
    return 0


def cmd_retry(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    with _services(settings, out) as services:
        info = services.workflow.retry(args.id, cli_actor(args, settings))
        print(f"Request #{info.id} resumes from step {_cursor(info)}.", file=out)
        return _after_submit(args, services, info, out)


def cmd_delete(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    with _services(settings, out) as services:
        info = services.workflow.submit_delete(args.service, args.envs, cli_actor(args, settings))
        _print_request(info, out)
        return _after_submit(args, services, info, out)


def cmd_extend(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    hours = parse_duration(args.duration)
    with _services(settings, out) as services:
        info = services.workflow.extend(args.service, args.env, hours, cli_actor(args, settings))
        svc = services.workflow.get_service(args.service)
        env = next(e for e in svc.environments if e.name == args.env)
        print(f"Request #{info.id}: {args.service}/{args.env} now expires at {env.expires_at:%Y-%m-%d %H:%M} UTC.",
              file=out)
    return 0


def cmd_approve(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    return _decide(args, settings, out, approve=True)


def cmd_deny(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    return _decide(args, settings, out, approve=False)


def cmd_cancel(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    with _services(settings, out) as services:
        info = services.workflow.cancel(args.id, cli_actor(args, settings))
        print(f"Request #{info.id} is cancelled; a worker closes the pull requests it opened and did not merge.",
              file=out)
    return 0


def cmd_audit(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    with _services(settings, out, quiet=True) as services:
        for ev in services.workflow.audit(args.service):
            ref = f"#{ev.request_id}" if ev.request_id else ""
            states = f" {ev.from_state or ''}->{ev.to_state}" if ev.to_state else ""
            detail = f": {ev.detail}" if ev.detail else ""
            print(f"{ev.at:%Y-%m-%d %H:%M:%S} {ev.actor:<24} {ref:<6} {ev.action}{states}{detail}", file=out)
    return 0


def cmd_worker(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    worker_id = args.id or worker_name()
    with _services(settings, out) as services:
        if not args.once:
            problems = startup_problems(services)
            if problems:
                print("\n".join(f"launchpad worker: {line}" for line in problems), file=sys.stderr)
                return 2
        probes = _probes(services, args.metrics_port, out) if args.metrics_port is not None and not args.once else None

        def started(scheduler: Any) -> None:
            print(f"worker {worker_id} running (jobs: {', '.join(j.id for j in scheduler.get_jobs())}); "
                  "stop with SIGTERM", file=out, flush=True)

        try:
            released = work(services.workflow, worker_id, services.settings.worker_poll_seconds, once=args.once,
                            started=started)
        finally:
            if probes is not None:
                probes.stop()
        if not args.once or services.workflow.engine.stopping.is_set():
            print(f"worker {worker_id} stopped" + (f"; {released} step(s) still running at the end of the grace "
                                                   "period were handed back to other workers" if released else ""),
                  file=out)
    return 0


def _probes(services: Services, port: int, out: TextIO) -> Any:
    """A worker process's own /metrics (step durations, GitHub quota), /healthz and /readyz: the same
    handler `serve` uses, without a Slack app behind it."""
    from bot.app import HttpServer
    from bot.metrics import MeteredWsgi, instrument_services
    from bot.serving import database_problem

    metrics = instrument_services(services)
    server = HttpServer(MeteredWsgi(None, metrics, ready=lambda: database_problem(services)),
                        services.settings.http_host, port).start()
    print(f"metrics on {server.url}/metrics", file=out, flush=True)
    return server


def cmd_db_upgrade(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    store = Store(settings.effective_database_url())
    try:
        store.upgrade()
        print(f"database is at revision {store.current_revision()} (head {store.head_revision()})", file=out)
    finally:
        store.dispose()
    return 0


def cmd_db_downgrade(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    store = Store(settings.effective_database_url())
    try:
        try:
            store.downgrade(args.revision)
        except AlembicCommandError as exc:
            raise RuntimeError(f"cannot downgrade to {args.revision!r}: {exc}; the revision must be at or below "
                               f"the database's ({store.current_revision() or 'base'}), e.g. what "
                               "`launchpad db head` prints in the older release's image") from None
        print(f"database is at revision {store.current_revision() or 'base'} (this LaunchPad needs "
              f"{store.head_revision()}; start the release that needs {args.revision})", file=out)
    finally:
        store.dispose()
    return 0


def cmd_db_head(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    print(Store("sqlite://").head_revision(), file=out)
    return 0


def cmd_demo(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    data = read_spec_file(args.spec)
    ctx = render_context(settings)
    parse_spec(data, ctx.platform, ctx.blueprints)  # a bad spec is refused before the previous demo is wiped
    root = (settings.data_dir / DEMO_DIR).resolve()
    shutil.rmtree(root, ignore_errors=True)
    demo = settings.model_copy(update={"data_dir": root, "database_url": "", "forge": "local",
                                       "auto_merge_local": True})
    printer = PrintingNotifier(out)
    services = build_services(demo, printer)
    try:
        wf = services.workflow
        requester = Actor(id=f"cli:{_login()}", name=_login())
        approver = Actor(id=f"cli:{_login()}-sre", name=f"{_login()} (SRE)", is_sre=True)
        print(f"LaunchPad demo on embedded defaults: SQLite at {root / 'launchpad.db'}, local git repositories "
              f"under {root / 'repos'}, no credentials.", file=out)
        info = wf.submit_create(data, requester)
        print(f"\nSubmitted as {requester.id}:", file=out)
        _print_request(info, out)
        print("\nA worker runs the steps:", file=out)
        for _ in range(len(info.steps) * 4 + 10):
            ran = wf.run_pending("demo-worker")
            info = wf.get_request(info.id)
            if info.state.finished:
                break
            step = info.current_step()
            if step is not None and step.kind == "approval" and step.state == State.WAITING:
                print(f"  Approving as {approver.id}, a separate SRE actor (a requester never approves their own "
                      "request)", file=out)
                wf.decide(info.id, step.id, approver, True, reason="demo: reviewed the pull request")
                continue
            if ran == 0:
                break
        print("", file=out)
        _print_request(info, out)
        print(f"\nRepositories (bare git, pull requests in launchpad-pulls.json) under {root / 'repos'}:", file=out)
        if services.local_forge is not None:
            for path in sorted(services.local_forge.root.rglob("*.git")):
                head = _git_log(path)
                print(f"  {path}{'  ' + head if head else ''}", file=out)
            print(f"Browse one: git --git-dir={root / 'repos'}/<owner>/<repo>.git log --stat main", file=out)
        print(f"The demo keeps its own data directory: follow it with LAUNCHPAD_DATA_DIR={root} launchpad status "
              f"{info.id} (plain `launchpad new|status|list` use {settings.data_dir}).", file=out)
        if info.state != State.SUCCEEDED:
            print(f"launchpad demo: request #{info.id} ended {info.state.value}: {info.error or 'see above'}",
                  file=sys.stderr)
            return 1
        return 0
    finally:
        services.close()


# --- helpers --------------------------------------------------------------------------------------
class PrintingNotifier:
    """The CLI's Notifier: one line per step as the worker goes."""

    def __init__(self, out: TextIO) -> None:
        self.out = out

    def request_changed(self, request: RequestInfo) -> None:
        return None

    def step_progress(self, request: RequestInfo, step: StepInfo, text: str) -> None:
        print(f"  #{request.id} step {step.position + 1} {MARKS[step.state]} {step.title}: {text}", file=self.out,
              flush=True)

    def approval_needed(self, approval: ApprovalInfo) -> None:
        print(f"  #{approval.request.id} step {approval.step.position + 1} [wait] needs approval by "
              f"{approval.step.approver_group}: {'; '.join(approval.reasons)}", file=self.out, flush=True)
        for line in approval.plan:
            print(f"      plan: {line}", file=self.out, flush=True)

    def request_finished(self, request: RequestInfo) -> None:
        print(f"  #{request.id} {request.state.value}" + (f": {request.error}" if request.error else ""),
              file=self.out, flush=True)

    def ttl_reminder(self, service: ServiceInfo, env: EnvironmentInfo) -> None:
        if env.teardown is not None:
            again = (f"opened again at {env.teardown.retry_at:%Y-%m-%d %H:%M} UTC" if env.teardown.retry_at
                     else f"retry it with `launchpad retry {env.teardown.request_id}` or cancel it")
            print(f"  {service.name}/{env.name} expired at {env.expires_at} and is still up: its teardown "
                  f"(request #{env.teardown.request_id}) was {env.teardown.outcome}; {again}", file=self.out,
                  flush=True)
            return
        print(f"  {service.name}/{env.name} expires at {env.expires_at}; extend with `launchpad extend "
              f"{service.name} {env.name} 24h`", file=self.out, flush=True)


def cli_actor(args: argparse.Namespace, settings: Settings) -> Actor:
    """The CLI acts as the login running it; SRE only when settings.sre_users lists it (no flag escalates)."""
    login = _login()
    actor_id = f"cli:{login}"
    sre = login in settings.sre_users or actor_id in settings.sre_users
    if getattr(args, "as_sre", False) and not sre:
        raise NotAllowed(f"--as-sre no longer makes a login SRE: {login} is not in sre_users; an SRE adds it "
                         f"(LAUNCHPAD_SRE_USERS={login}), or ask a member of sre_users to run this")
    return Actor(id=actor_id, name=login, is_sre=sre)


def add_as_sre(parser: argparse.ArgumentParser) -> None:
    """The retired `--as-sre` flag: hidden, and refused with an explanation for a login that is not SRE."""
    parser.add_argument("--as-sre", action="store_true", help=argparse.SUPPRESS)


class FanoutNotifier:
    """Tell several audiences: the terminal and, when Slack is configured, the request threads."""

    def __init__(self, *notifiers: Notifier) -> None:
        self.notifiers = notifiers

    def request_changed(self, request: RequestInfo) -> None:
        for n in self.notifiers:
            n.request_changed(request)

    def step_progress(self, request: RequestInfo, step: StepInfo, text: str) -> None:
        for n in self.notifiers:
            n.step_progress(request, step, text)

    def approval_needed(self, approval: ApprovalInfo) -> None:
        for n in self.notifiers:
            n.approval_needed(approval)

    def request_finished(self, request: RequestInfo) -> None:
        for n in self.notifiers:
            n.request_finished(request)

    def ttl_reminder(self, service: ServiceInfo, env: EnvironmentInfo) -> None:
        for n in self.notifiers:
            n.ttl_reminder(service, env)


class _services:
    """Build services for one command and always dispose of them.

    Notifications are delivered once, by whichever process runs the worker: when Slack is configured they
    must reach the request threads even from `launchpad worker` or `--wait`, not only this terminal.
    """

    def __init__(self, settings: Settings, out: TextIO, quiet: bool = False) -> None:
        self.settings = settings
        self.printer = None if quiet else PrintingNotifier(out)
        self.slack: Any = None

    def __enter__(self) -> Services:
        self.services = build_services(self.settings, self.printer)
        if self.settings.slack_configured():
            from bot.app import attach_notifier  # Bolt and slack_sdk only when Slack is configured

            self.slack = attach_notifier(self.settings, self.services)
            if self.slack is not None and self.printer is not None:
                self.services.workflow.notifier = FanoutNotifier(self.printer, self.slack)
        return self.services

    def __exit__(self, *exc: object) -> None:
        if self.slack is not None:
            self.slack.close()
        self.services.close()


Handler = Callable[[argparse.Namespace, Settings, TextIO], int]


def _handler(fn: Handler) -> Callable[[argparse.Namespace, Settings], int]:
    def run(args: argparse.Namespace, settings: Settings) -> int:
        try:
            return fn(args, settings, sys.stdout)
        except InvalidSpecError as exc:
            print(f"launchpad {args.command}: invalid service spec: {exc.one_line()}", file=sys.stderr)
        except NotFound as exc:
            print(f"launchpad {args.command}: {one_line(str(exc))}{where_we_look(settings)}", file=sys.stderr)
        except (LaunchPadError, SchemaOutdated, PolicyError) as exc:
            print(f"launchpad {args.command}: {one_line(str(exc))}", file=sys.stderr)
        except RuntimeError as exc:
            print(f"launchpad {args.command}: {one_line(str(exc))}", file=sys.stderr)
        return 1  # anything else (a database error, say) reaches bot.cli.main, which says it in one line

    return run


def where_we_look(settings: Settings) -> str:
    """Which database a command read, and where the demo's requests are when that is another one: `make demo`
    keeps its own data directory, so `launchpad status 1` after it looks elsewhere unless told."""
    text = f" (looked in {mask_url(settings.effective_database_url())}"
    demo = settings.data_dir / DEMO_DIR
    if not settings.database_url and (demo / "launchpad.db").exists():
        text += (f"; `launchpad demo` keeps its requests in {demo}: run the command with "
                 f"LAUNCHPAD_DATA_DIR={demo}")
    return text + ")"


def _decide(args: argparse.Namespace, settings: Settings, out: TextIO, *, approve: bool) -> int:
    with _services(settings, out) as services:
        wf = services.workflow
        info = wf.get_request(args.id)
        if args.step is not None:
            step = next((s for s in info.steps if s.position + 1 == args.step), None)
            if step is None:
                raise LaunchPadError(f"request #{info.id} has no step {args.step} (it has 1-{len(info.steps)})")
        else:
            step = next((s for s in info.steps if s.kind == "approval" and s.state == State.WAITING), None)
            decided = [s for s in info.steps if s.kind == "approval" and s.decided_by]
            if step is None and decided:  # say who decided (and why), not just "nothing waiting"
                step = decided[-1]
            if step is None:
                raise LaunchPadError(f"request #{info.id} has no approval waiting for a decision")
        info = wf.decide(info.id, step.id, cli_actor(args, settings), approve, args.reason)
        verb = "Approved" if approve else "Denied"
        print(f"{verb} step {step.position + 1} of request #{info.id} ({step.title}).", file=out)
        if approve:
            return _after_submit(args, services, info, out)
    return 0


def _after_submit(args: argparse.Namespace, services: Services, info: RequestInfo, out: TextIO) -> int:
    if not getattr(args, "wait", False):
        print(f"Queued. A worker (`launchpad worker`) runs it; follow with `launchpad status {info.id}`.", file=out)
        return 0
    wf = services.workflow
    while wf.run_pending(f"cli-{_login()}") > 0:
        pass
    info = wf.get_request(info.id)
    _print_request(info, out)
    return 1 if info.state == State.FAILED else 0


def _print_request(info: RequestInfo, out: TextIO) -> None:
    print(f"Request #{info.id}: {info.kind.value} {info.service} (team {info.team}; "
          f"{', '.join(info.environments)}) by {info.requester} - {info.state.value}", file=out)
    for step in info.steps:
        extra = f"  {step.pr_url}" if step.pr_url else ""
        if step.decided_by:
            extra += f"  decided by {step.decided_by}" + (f": {step.decision_reason}" if step.decision_reason else "")
        if step.error and step.state in (State.FAILED, State.PENDING):
            extra += f"  ({one_line(step.error)})"
        print(f"  {step.position + 1:>2}. {MARKS[step.state]} {step.title}{extra}", file=out)
    if info.error and info.state == State.FAILED:
        print(f"  Error: {one_line(info.error)}", file=out)


def _cursor(info: RequestInfo) -> int:
    step = info.current_step()
    return step.position + 1 if step else len(info.steps)


def _envs(envs: list[EnvironmentInfo]) -> str:
    return ", ".join(e.name + (f" (expires {e.expires_at:%Y-%m-%d %H:%M})" if e.expires_at else "") for e in envs)


def _git_log(git_dir: Path) -> str:
    result = subprocess.run(["git", f"--git-dir={git_dir}", "log", "--oneline", "-1", "main"], capture_output=True,
                            text=True, check=False)
    return result.stdout.strip() if result.returncode == 0 else ""


def _login() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def one_line(text: str) -> str:
    """A message, whatever its line breaks, on one line of the terminal."""
    return " ".join(text.split())
