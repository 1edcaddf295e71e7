"""`launchpad config`: show the effective settings (secrets masked) or the reference table."""

from __future__ import annotations

import argparse
from typing import Any

import yaml

from bot.config import Settings, mask_url, reference_markdown


def register(sub: Any) -> None:
    p = sub.add_parser("config", help="show effective settings (secrets masked), or --reference for the docs table")
    p.add_argument("--reference", action="store_true", help="print the markdown reference of every setting")
    p.set_defaults(func=run_config)


def run_config(args: argparse.Namespace, settings: Settings) -> int:
    if args.reference:
        print(reference_markdown(), end="")
        return 0
    # mode="json" renders SecretStr as '**********'; URLs (the database's) keep their user but not the password
    print(yaml.safe_dump(_masked(settings.model_dump(mode="json")), sort_keys=False), end="")
    return 0


def _masked(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _masked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(v) for v in value]
    return mask_url(value) if isinstance(value, str) else value
