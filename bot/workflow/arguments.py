"""Command arguments both surfaces parse the same way: `launchpad bulk` / `/launchpad bulk` selectors and
changes, and durations (`extend`). Shared parsing lives here, below the CLI and Slack, so neither surface
imports the other. Pure: text in, values or a PermanentError that says the accepted form out.
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass
from typing import NoReturn

from pydantic import ValidationError

from bot.workflow.api import BulkChange, Selector
from provisioners.errors import PermanentError

USAGE = ("bulk [--team T] [--blueprint B] [--env E] [--service S]... [--all] "
         "(--module KEY=VERSION | --chart-revision REV | --sidecar-image NAME=IMAGE | --action KEY=TAG@SHA)")


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


# --- durations (`launchpad extend`, `/launchpad extend`) ------------------------------------------
DURATION = re.compile(r"^([0-9]{1,5})\s*([hdw]?)$")
DURATION_UNITS = {"h": 1, "d": 24, "w": 168}


class DurationError(PermanentError):
    """A duration that is not a positive number of hours, days or weeks; the message shows the forms."""


def parse_duration(text: str) -> int:
    """'24h', '3d', '1w' or '36' (hours) -> hours; anything else raises DurationError saying why."""
    cleaned = text.strip().lower()
    if cleaned.startswith("-") and DURATION.match(cleaned[1:]):
        raise DurationError(f"{text!r} is a negative duration; extend by a positive one like 24h, 3d or 1w")
    match = DURATION.match(cleaned)
    if not match:
        raise DurationError(f"{text!r} is not a duration; use hours like 48 or 48h, days like 2d or weeks like 1w")
    hours = int(match.group(1)) * DURATION_UNITS[match.group(2) or "h"]
    if hours <= 0:
        raise DurationError(f"{text!r} is zero; extend by a positive duration like 24h, 3d or 1w")
    return hours
