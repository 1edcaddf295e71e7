"""`launchpad config`: show the effective settings (secrets masked) or the reference table."""

from __future__ import annotations

import argparse
from typing import Any

import yaml

from bot.config import Settings, reference_markdown


def register(sub: Any) -> None:
    p = sub.add_parser("config", help="show effective settings (secrets masked), or --reference for the docs table")
    p.add_argument("--reference", action="store_true", help="print the markdown reference of every setting")
    p.set_defaults(func=run_config)


def run_config(args: argparse.Namespace, settings: Settings) -> int:
    if args.reference:
        print(reference_markdown(), end="")
        return 0
    # mode="json" renders SecretStr as '**********', so nothing secret can be printed here
    print(yaml.safe_dump(settings.model_dump(mode="json"), sort_keys=False), end="")
    return 0
