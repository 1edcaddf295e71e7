"""`launchpad ...`: the same engine as the Slack bot, without Slack.

This module is the CLI's composition root: command groups are listed here by hand and each adds
its own subcommands; handlers only parse, call the workflow, and print.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from bot.commands import aws as aws_commands
from bot.commands import bulk as bulk_commands
from bot.commands import config as config_commands
from bot.commands import infra as infra_commands
from bot.commands import plan as plan_commands
from bot.commands import requests as request_commands
from bot.commands import serve as serve_commands
from bot.config import Settings
from bot.logs import configure_logging

COMMAND_GROUPS = [plan_commands, config_commands, serve_commands, request_commands, aws_commands, bulk_commands,
                  infra_commands]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="launchpad", description=__doc__.splitlines()[0])
    parser.add_argument("--config", help="YAML settings file (same as LAUNCHPAD_CONFIG_FILE)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for group in COMMAND_GROUPS:
        group.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        settings = Settings(config_file=args.config) if args.config else Settings()
    except Exception as exc:  # settings errors are the operator's to fix: say which, no traceback
        print(f"launchpad: invalid settings: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings)
    logging.getLogger(__name__).debug("running %s", args.command)
    result: int = args.func(args, settings)
    return result


if __name__ == "__main__":
    sys.exit(main())
