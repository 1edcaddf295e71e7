"""`launchpad bulk`: pin a module version, the chart revision, a sidecar image or a GitHub Action on every
service a selector matches, as one request with one pull request per repository (SRE only).

    launchpad bulk --team search --chart-revision v1.1.0 --dry-run
    launchpad bulk --env prod --module rds=7.3.0 --as-sre --wait
    launchpad bulk --blueprint web-service --sidecar-image filebeat=docker.elastic.co/beats/filebeat:8.15.0
    launchpad bulk --all --action checkout=v4.2.2@11bd71901bbe5b1630ceea73d27597364c9af683

The argument syntax is shared with `/launchpad bulk` in Slack (`parse_bulk`). Handlers parse, call
`WorkflowService.preview_bulk` / `submit_bulk`, and print; the workflow decides and refuses.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any, NoReturn, TextIO

from pydantic import ValidationError

from bot.commands.requests import _after_submit, _handler, _print_request, _services, cli_actor
from bot.config import Settings
from bot.workflow.api import BulkChange, BulkPreview, Selector
from provisioners.errors import PermanentError

USAGE = ("bulk [--team T] [--blueprint B] [--env E] [--service S]... [--all] "
         "(--module KEY=VERSION | --chart-revision REV | --sidecar-image NAME=IMAGE | --action KEY=TAG@SHA)")
SHOWN_FILES = 10


class BulkUsageError(PermanentError):
    """The bulk command's arguments are wrong; the message shows the accepted form."""


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of exiting (Slack text goes through the same parser)."""

    def error(self, message: str) -> NoReturn:
        raise BulkUsageError(f"{message}; usage: {USAGE}")


@dataclass(frozen=True)
class BulkArgs:
    selector: Selector
    change: BulkChange
    dry_run: bool
    apply: bool


def add_arguments(p: argparse.ArgumentParser) -> None:
    which = p.add_argument_group("which services (every criterion given must hold)")
    which.add_argument("--team", help="services of this team")
    which.add_argument("--blueprint", help="services built from this blueprint, e.g. web-service")
    which.add_argument("--env", dest="environment", metavar="ENV",
                       help="services with this environment; the change applies to that environment only")
    which.add_argument("--service", action="append", dest="services", default=[], metavar="NAME",
                       help="this service (repeatable)")
    which.add_argument("--all", action="store_true", help="every service (required when no other criterion is given)")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--module", metavar="KEY=VERSION", help="Terraform module version, e.g. rds=7.3.0")
    what.add_argument("--chart-revision", metavar="REV", help="service chart revision, e.g. v1.1.0")
    what.add_argument("--sidecar-image", metavar="NAME=IMAGE",
                      help="nginx or filebeat image, e.g. filebeat=docker.elastic.co/beats/filebeat:8.15.0")
    what.add_argument("--action", metavar="KEY=TAG@SHA",
                      help="GitHub Action pin in the services' CI workflow, by full commit SHA, e.g. "
                           "checkout=v4.2.2@11bd71901bbe5b1630ceea73d27597364c9af683")
    p.add_argument("--dry-run", action="store_true", help="list what would change; submit nothing")
    p.add_argument("--apply", action="store_true", help="submit right away (Slack shows a dry run unless given)")


def parse_bulk(argv: list[str]) -> BulkArgs:
    """`--team search --chart-revision v1.1.0` -> selector and change; BulkUsageError says what is wrong."""
    parser = _Parser(prog="launchpad bulk", add_help=False)
    add_arguments(parser)
    return to_bulk_args(parser.parse_args(argv))


def to_bulk_args(args: argparse.Namespace) -> BulkArgs:
    selector = Selector(team=args.team, blueprint=args.blueprint, environment=args.environment,
                        services=list(dict.fromkeys(args.services or [])))
    if selector.is_empty() and not args.all:
        raise BulkUsageError("say which services: --team, --blueprint, --env or --service, or --all for every "
                             "service")
    try:
        if args.module:
            key, sep, version = args.module.partition("=")
            if not sep:
                raise BulkUsageError(f"--module {args.module!r} needs KEY=VERSION, e.g. rds=7.3.0")
            change = BulkChange(kind="module_version", target=key.strip(), value=version.strip())
        elif args.chart_revision:
            change = BulkChange(kind="chart_revision", value=args.chart_revision.strip())
        elif args.action:
            key, sep, pin = args.action.partition("=")
            if not sep:
                raise BulkUsageError(f"--action {args.action!r} needs KEY=TAG@SHA, e.g. "
                                     "checkout=v4.2.2@11bd71901bbe5b1630ceea73d27597364c9af683")
            change = BulkChange(kind="action_pin", target=key.strip(), value=pin.strip())
        else:
            name, sep, image = args.sidecar_image.partition("=")
            if not sep:
                raise BulkUsageError(f"--sidecar-image {args.sidecar_image!r} needs NAME=IMAGE, e.g. "
                                     "filebeat=docker.elastic.co/beats/filebeat:8.15.0")
            change = BulkChange(kind="sidecar_image", target=name.strip(), value=image.strip())
    except ValidationError as exc:
        raise BulkUsageError(exc.errors()[0]["msg"].removeprefix("Value error, ")) from None
    return BulkArgs(selector=selector, change=change, dry_run=bool(args.dry_run), apply=bool(args.apply))


def preview_lines(preview: BulkPreview, *, files: int = SHOWN_FILES) -> list[str]:
    """The dry run as text: what changes where, who must approve, what is busy."""
    where = f" in {preview.selector.environment}" if preview.selector.environment else ""
    lines = [f"Bulk change: {preview.change.describe()}{where} for {preview.selector.describe()}"]
    if not preview.services:
        lines.append(f"Nothing to change: {preview.matched} service(s) match and all already use this value.")
        return lines
    repos = ", ".join(f"{repo} ({n} file{'' if n == 1 else 's'})" for repo, n in preview.repositories.items())
    lines += [f"{len(preview.services)} of {preview.matched} matching service(s) change: {preview.files} file(s), "
              f"one pull request per repository: {repos}",
              f"Environments: {', '.join(preview.environments)}",
              "Approval: " + ("; ".join(preview.approvals) if preview.approvals else "none (policy lets it run)")]
    for name, why in preview.busy.items():
        lines.append(f"Busy: {why}" if name in why else f"Busy: {name}: {why}")
    lines.append("Services:")
    for svc in preview.services:
        lines.append(f"  {svc.service:<28} team {svc.team:<12} {', '.join(svc.environments)}")
        paths = [(repo, path) for repo, found in svc.files.items() for path in found]
        for repo, path in paths[:files]:
            lines.append(f"      {repo}: {path}")
        if len(paths) > files:
            lines.append(f"      … and {len(paths) - files} more")
    if preview.unchanged:
        lines.append(f"Already on this value: {', '.join(preview.unchanged)}")
    return lines


def register(sub: Any) -> None:
    p = sub.add_parser("bulk", help="pin a module version, chart revision, sidecar image or action on many services "
                                    "(SRE)",
                       description=__doc__.splitlines()[0] if __doc__ else None)
    add_arguments(p)
    p.add_argument("--as-sre", action="store_true", help="act as an SRE from this terminal")
    p.add_argument("--wait", action="store_true",
                   help="run the worker here until the request finishes or waits for someone")
    p.set_defaults(func=_handler(cmd_bulk))


def cmd_bulk(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    bulk = to_bulk_args(args)
    actor = cli_actor(args, settings)
    with _services(settings, out, quiet=bulk.dry_run) as services:
        wf = services.workflow
        if bulk.dry_run:
            for line in preview_lines(wf.preview_bulk(bulk.selector, bulk.change, actor), files=1000):
                print(line, file=out)
            print("Dry run: nothing was submitted. Run it again without --dry-run to submit.", file=out)
            return 0
        info = wf.submit_bulk(bulk.selector, bulk.change, actor)
        _print_request(info, out)
        return _after_submit(args, services, info, out)
