"""`launchpad config`: show the effective settings (secrets masked) or the reference table, or `--check`
the GitHub credentials against GitHub before anything runs (one line per problem, exit 1 on any)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

import yaml

from bot.config import Settings, reference_markdown
from provisioners.errors import LaunchPadError


def register(sub: Any) -> None:
    p = sub.add_parser("config", help="show effective settings (secrets masked), or --reference for the docs table")
    p.add_argument("--reference", action="store_true", help="print the markdown reference of every setting")
    p.add_argument("--check", action="store_true",
                   help="check every GitHub credential with GitHub (token, App key, app and installation, the "
                        "platform's repositories); exit 1 on any problem")
    p.set_defaults(func=run_config)


def run_config(args: argparse.Namespace, settings: Settings) -> int:
    if args.reference:
        print(reference_markdown(), end="")
        return 0
    if args.check:
        return run_check(settings)
    # mode="json" renders SecretStr as '**********', so nothing secret can be printed here
    print(yaml.safe_dump(settings.model_dump(mode="json"), sort_keys=False), end="")
    return 0


def run_check(settings: Settings) -> int:
    """Each credential with the repositories it will be used for: 'ok', or one line per problem."""
    from bot.services import CredentialsError, build_forges, check_forges

    try:
        forges, _ = build_forges(settings)
        result = check_forges(settings, forges)
    except CredentialsError as err:
        for problem in err.problems:
            print(f"problem: {problem}", file=sys.stderr)
        return 1
    except (LaunchPadError, RuntimeError) as err:
        print(f"problem: {' '.join(str(err).split())}", file=sys.stderr)
        return 1
    if result is None:
        print(f"forge: {settings.forge} (no GitHub credentials to check)")
        return 0
    for name, repos in result.checked.items():
        print(f"credential {name!r}: " + (", ".join(repos) if repos else "no fixed repository routes to it"))
    for line in result.problems:
        print(f"problem: {line}", file=sys.stderr)
    for line in result.unverified:
        print(f"unverified: {line}", file=sys.stderr)
    if result.problems or result.unverified:
        return 1
    print(f"ok: {len(result.checked)} GitHub credential(s) accepted by {settings.github_api_url}")
    return 0
