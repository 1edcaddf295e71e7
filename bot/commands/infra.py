"""`launchpad infra plan|apply REPO BASE HEAD`: the infra pipeline, run here with the shell's terragrunt.

The same module the infra repository's workflows run (`provisioners/infra_pipeline.py`): plan every unit
HEAD adds or changes and the destroy of every unit it removes; or destroy removed units from BASE and
apply the rest in dependency order, stopping at the first failure. This handler only parses and prints.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import Any

from bot.config import Settings
from provisioners import infra_pipeline as ip

NOT_INSTALLED = 3  # exit status: nothing ran because terragrunt is not installed


def register(sub: Any) -> None:
    infra = sub.add_parser("infra", help="run the infra pipeline here: plan or apply a change of the infra repository")
    verbs = infra.add_subparsers(dest="infra_command", metavar="plan|apply", required=True)
    for verb, what in (("plan", "plan what HEAD adds or changes, and the destroy of what it removes"),
                       ("apply", "destroy what HEAD removes (from BASE), then apply what it adds or changes")):
        p = verbs.add_parser(verb, help=what)
        p.add_argument("repo", type=Path, help="the infra repository (a checkout, or a bare repository)")
        p.add_argument("base", help="the commit before (a pull request's base; the previous tip); '' for none")
        p.add_argument("head", help="the commit to plan or apply")
        p.add_argument("--account", default="", help="only units in this AWS account")
        p.add_argument("--removed-only", action="store_true", help="only the removed units (Atlantis does the rest)")
        p.add_argument("--json", type=Path, default=None, help="also write the report as JSON to this file")
        p.add_argument("--terragrunt", default="terragrunt", help="the terragrunt executable")
        p.set_defaults(func=run_infra)


def run_infra(args: argparse.Namespace, settings: Settings) -> int:
    verb = args.infra_command
    if shutil.which(args.terragrunt) is None:
        print(f"skipped: terragrunt is not installed; nothing was {'planned' if verb == 'plan' else 'applied'} "
              "(install Terragrunt 0.90+ and OpenTofu, or let the infra repository's pipeline run it)",
              file=sys.stderr)
        return NOT_INSTALLED
    index = settings.platform.infra_path.split("/").index("{account_id}")
    try:
        changes = ip.find_changes(args.repo, args.base or None, args.head, merge_base=verb == "plan")
        changes = ip.only_account(changes, args.account, index)
        report = ip.run(args.repo, changes, verb, ip.Runner(log=sys.stdout, terragrunt=args.terragrunt),
                        removed_only=args.removed_only)
    except ip.PipelineError as exc:
        print(f"launchpad infra {verb}: {exc}", file=sys.stderr)
        return 2
    if args.json is not None:
        args.json.write_text(json.dumps(report.to_dict(), indent=1, sort_keys=True) + "\n")
    print()
    for result in report.results:
        print(f"  {result.status:8} {result.line()}")
    add, change, destroy = report.totals()
    print(f"{verb}: {len(report.results)} unit(s), +{add} ~{change} -{destroy}"
          + (f"; {len(report.failed)} failed" if report.failed else ""))
    for failed in report.failed:
        print(f"\n{failed.action} {failed.unit} failed:\n{failed.error}", file=sys.stderr)
    return 1 if report.failed else 0
