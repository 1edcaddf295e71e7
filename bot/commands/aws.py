"""`launchpad lookup DOMAIN` and `launchpad reset-password --user EMAIL_OR_IAM_USER` (SRE).

Handlers parse, call `bot.aws`, and print. The temporary password is printed once to this terminal's
stdout (the person running the command is the one it is for) and nowhere else; the user whose
password was reset is told over Slack when Slack is configured.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from botocore.exceptions import BotoCoreError

from bot.aws.iam_password import AuditSink, LogAudit, ResetRequest
from bot.aws.lookup_tree import render_text
from bot.aws.operations import AwsOperations, StoreAudit
from bot.aws.owners import CatalogOwners, NoOwners, OwnerDirectory
from bot.config import Settings
from provisioners.errors import LaunchPadError


def register(sub: Any) -> None:
    p = sub.add_parser("lookup", help="what is behind a domain (DNS, load balancer, targets) and who owns it")
    p.add_argument("domain", help="a hostname or URL, e.g. shop.example.com")
    p.add_argument("--json", action="store_true", help="print the result tree as JSON")
    p.add_argument("--no-owners", action="store_true", help="do not read LaunchPad's database for owners")
    p.set_defaults(func=run_lookup)

    r = sub.add_parser("reset-password", help="SRE: set a new AWS console password for an IAM user, shown once")
    r.add_argument("--user", required=True, help="the IAM user name, or the email it is mapped to")
    r.add_argument("--as-sre", action="store_true", help=argparse.SUPPRESS)  # retired: SRE comes from sre_users
    r.set_defaults(func=run_reset_password)


def _owners(settings: Settings, skip: bool) -> OwnerDirectory:
    if skip:
        return NoOwners()
    try:
        from bot.services import build_services

        return CatalogOwners(build_services(settings).workflow)
    except Exception as exc:  # the lookup is still useful without the database
        print(f"launchpad lookup: owners from tags only (LaunchPad's database: {exc})", file=sys.stderr)
        return NoOwners()


def _audit(settings: Settings) -> tuple[AuditSink, Any]:
    """The workflow's audit table (`launchpad audit aws-iam`) and the store that keeps the reset limit; the
    audit log alone (and a limit for this run only) if the database is unusable."""
    try:
        from bot.services import build_services

        store = build_services(settings).store
        return StoreAudit(store), store
    except Exception as exc:
        print(f"launchpad reset-password: audit goes to the log only (LaunchPad's database: {exc})", file=sys.stderr)
        return LogAudit(), None


def run_lookup(args: argparse.Namespace, settings: Settings) -> int:
    ops = AwsOperations.from_settings(settings, owners=_owners(settings, args.no_owners))
    try:
        result = ops.lookup.lookup(args.domain)
    except (LaunchPadError, BotoCoreError) as exc:
        print(f"launchpad lookup: {exc}", file=sys.stderr)
        return 1
    print(result.model_dump_json(indent=2) if args.json else render_text(result))
    return 0 if result.found else 1


def run_reset_password(args: argparse.Namespace, settings: Settings) -> int:
    from bot.commands.requests import _login, cli_actor

    audit, store = _audit(settings)
    try:
        actor = cli_actor(args, settings)
        if not actor.is_sre:
            raise LaunchPadError(f"the CLI resets passwords for SRE only, and {actor.name} is not in sre_users; "
                                 "everyone else uses the 'Reset my AWS password' shortcut in Slack")
    except LaunchPadError as exc:  # a refused reset leaves an audit event, like an allowed one
        who = f"cli:{_login()}"
        sink = StoreAudit(store, also_log=False) if store is not None else audit  # the error line says it here
        sink.record(action="aws.console_password_reset_refused", actor=who, subject=args.user,
                    message=f"console password reset for {args.user} refused for {who}: {exc}")
        print(f"launchpad reset-password: {exc}", file=sys.stderr)
        return 1
    ops = AwsOperations.from_settings(settings, audit=audit, store=store)
    try:
        reset = ops.passwords.reset(ResetRequest(actor=actor.id, actor_email=None, actor_is_sre=True,
                                                 target=args.user))
    except (LaunchPadError, BotoCoreError) as exc:
        print(f"launchpad reset-password: {exc}", file=sys.stderr)
        return 1
    action = "created a console login" if reset.created else "reset the console password"
    print(f"Done: {action} for IAM user {reset.user.name}" + (f" (account {reset.user.account_id})"
                                                              if reset.user.account_id else "") + ".")
    print("Temporary password (shown once; AWS asks for a new one at sign-in):")
    print(f"    {reset.password.reveal()}")
    print(f"Sign in at {reset.sign_in_url}")
    for warning in reset.warnings:
        print(f"Warning: {warning}")
    print(_tell(settings, reset, actor.id))
    return 0


def _tell(settings: Settings, reset: Any, by: str) -> str:
    if not reset.notify_email:
        return "LaunchPad does not know this user's email: tell them yourself."
    if not settings.slack_configured():
        return f"Slack is not configured: tell {reset.notify_email} yourself."
    from bot.app import build_client, tell_target

    if tell_target(build_client(settings), reset, by):
        return f"{reset.notify_email} was told over Slack (without the password)."
    return f"{reset.notify_email} has no Slack account LaunchPad can find: tell them yourself."
