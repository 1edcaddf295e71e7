"""`launchpad ...`: the same engine as the Slack bot, without Slack.

This module is the CLI's composition root: command groups are listed here by hand and each adds
its own subcommands; handlers only parse, call the workflow, and print. Every mistake a person can
make at a terminal (arguments, settings, files, database URLs) ends as one line on stderr saying what
to fix and a non-zero exit, never a traceback (`error_line`; tests/test_cli_errors.py runs them all).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from importlib import metadata
from typing import NoReturn

from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError

from bot.commands import aws as aws_commands
from bot.commands import bulk as bulk_commands
from bot.commands import config as config_commands
from bot.commands import infra as infra_commands
from bot.commands import plan as plan_commands
from bot.commands import requests as request_commands
from bot.commands import serve as serve_commands
from bot.commands.requests import one_line
from bot.config import Settings, mask_url, settings_problems
from bot.logs import configure_logging, scrub
from provisioners.errors import LaunchPadError

COMMAND_GROUPS = [plan_commands, config_commands, serve_commands, request_commands, aws_commands, bulk_commands,
                  infra_commands]
DIST = "launchpad-chatops"
log = logging.getLogger(__name__)


class Parser(argparse.ArgumentParser):
    """argparse whose usage errors are one line (`launchpad extend: ...; see launchpad extend --help`)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message}; see `{self.prog} --help`\n")


def version() -> str:
    try:
        return metadata.version(DIST)
    except metadata.PackageNotFoundError:
        return "unknown (not installed; run `pip install -e .`)"


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="launchpad", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"launchpad {version()}")
    parser.add_argument("--config", help="YAML settings file (same as LAUNCHPAD_CONFIG_FILE)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
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
    except ValidationError as exc:  # settings errors are the operator's to fix: say which, no traceback
        print(f"launchpad: invalid settings: {settings_problems(exc)}", file=sys.stderr)
        return 2
    except ValueError as exc:  # the YAML file itself (unreadable, not YAML, not a mapping)
        print(f"launchpad: invalid settings: {one_line(str(exc))}", file=sys.stderr)
        return 2
    configure_logging(settings)
    log.debug("running %s", args.command)
    try:
        result: int = args.func(args, settings)
    except KeyboardInterrupt:
        print(f"launchpad {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # the last line of defence: one line, the traceback only at DEBUG
        log.debug("launchpad %s failed", args.command, exc_info=True)
        print(f"launchpad {args.command}: {error_line(exc, settings)}", file=sys.stderr)
        return 1
    return result


def error_line(exc: BaseException, settings: Settings) -> str:
    """What went wrong and what to do next, on one line (secrets scrubbed, the database password masked)."""
    if isinstance(exc, OSError) and exc.filename is not None:
        what = exc.strerror or type(exc).__name__
        hint = ""
        data_dir = str(settings.data_dir)
        if str(exc.filename).startswith(data_dir) or data_dir.startswith(str(exc.filename)):
            hint = "; set LAUNCHPAD_DATA_DIR to a directory you can write"
        return one_line(f"{exc.filename}: {what}{hint}")
    if isinstance(exc, SQLAlchemyError):
        detail = scrub(one_line(str(getattr(exc, "orig", None) or exc)))
        return (f"database error ({detail}) at {mask_url(settings.effective_database_url())}; check "
                "LAUNCHPAD_DATABASE_URL and that the database is reachable")
    if isinstance(exc, LaunchPadError | ValueError | RuntimeError):
        return scrub(one_line(str(exc)))
    return scrub(one_line(f"unexpected error ({type(exc).__name__}: {exc}); run again with "
                           "LAUNCHPAD_LOG_LEVEL=DEBUG for the traceback, and report it"))


if __name__ == "__main__":
    sys.exit(main())
