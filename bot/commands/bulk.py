"""`launchpad bulk`: pin a module version, the chart revision, a sidecar image or a GitHub Action on every
service a selector matches, as one request with one pull request per repository (SRE only).

    launchpad bulk --team search --chart-revision v1.1.0 --dry-run
    launchpad bulk --env prod --module rds=7.3.0 --wait
    launchpad bulk --blueprint web-service --sidecar-image filebeat=docker.elastic.co/beats/filebeat:8.15.0
    launchpad bulk --all --action checkout=v4.2.2@11bd71901bbe5b1630ceea73d27597364c9af683

The argument syntax is shared with `/launchpad bulk` in Slack (`bot.workflow.arguments.parse_bulk`).
Handlers parse, call `WorkflowService.preview_bulk` / `submit_bulk`, and print; the workflow decides
and refuses.
"""

from __future__ import annotations

import argparse
from typing import Any, TextIO

from bot.commands.requests import _after_submit, _handler, _print_request, _services, add_as_sre, cli_actor
from bot.config import Settings
from bot.workflow.api import BulkPreview
from bot.workflow.arguments import BulkUsageError as BulkUsageError
from bot.workflow.arguments import add_arguments, to_bulk_args
from bot.workflow.arguments import parse_bulk as parse_bulk

SHOWN_FILES = 10


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
    add_as_sre(p)
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
