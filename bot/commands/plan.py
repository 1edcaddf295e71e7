"""`launchpad plan`: render every change set for a spec file, offline, and show what would change."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml

from bot.config import Settings
from bot.services import render_context
from provisioners.changeset import ChangeSet
from provisioners.errors import InvalidSpecError
from provisioners.plan import RenderContext, plan
from provisioners.spec import ServiceSpec, parse_spec


def register(sub: Any) -> None:
    p = sub.add_parser("plan", help="dry run: render the change sets for a spec file, write nothing remote")
    p.add_argument("spec", type=Path, help="service spec YAML (see examples/)")
    p.add_argument("--out", type=Path, default=None, help="write the four repositories' trees under DIR")
    p.set_defaults(func=run_plan)


def read_spec_file(path: Path) -> dict[str, Any]:
    """The raw fields of a spec file; raises InvalidSpecError (field `spec`) when it cannot be read as a mapping."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidSpecError({"spec": f"{path} does not exist"}) from None
    except IsADirectoryError:
        raise InvalidSpecError({"spec": f"{path} is a directory; give a spec YAML file (see examples/)"}) from None
    except UnicodeDecodeError:
        raise InvalidSpecError({"spec": f"{path} is not UTF-8 text; save the spec as UTF-8 YAML"}) from None
    except OSError as exc:
        raise InvalidSpecError({"spec": f"{path} cannot be read ({exc.strerror or exc})"}) from None
    except yaml.YAMLError as exc:
        raise InvalidSpecError({"spec": f"{path} is not valid YAML: {' '.join(str(exc).split())}"}) from None
    if not isinstance(data, dict):
        raise InvalidSpecError({"spec": f"{path}: expected a mapping of fields (name, team, environments, ...)"})
    return data


def load_spec_file(path: Path, ctx: RenderContext) -> ServiceSpec:
    """Read and validate a spec file; raises InvalidSpecError with a field -> message map."""
    return parse_spec(read_spec_file(path), ctx.platform, ctx.blueprints)


def run_plan(args: argparse.Namespace, settings: Settings) -> int:
    ctx = render_context(settings)
    try:
        spec = load_spec_file(args.spec, ctx)
    except InvalidSpecError as exc:
        print(f"launchpad plan: {args.spec}: invalid service spec: {exc.one_line()}", file=sys.stderr)
        return 1
    changesets = plan(spec, ctx)
    print(f"Plan for {spec.name} (team {spec.team}, blueprint {spec.blueprint}): "
          f"{', '.join(e.name for e in spec.environments)}")
    for cs in changesets:
        print(summarise(cs, args.out))
    if args.out:
        try:
            for cs in changesets:
                write_tree(cs, args.out / cs.repo)
        except OSError as exc:
            print(f"launchpad plan: cannot write the trees under {args.out}: {exc.filename}: {exc.strerror}",
                  file=sys.stderr)
            return 1
        print(f"wrote {sum(len(cs.files) for cs in changesets)} files under {args.out}/")
    return 0


def summarise(cs: ChangeSet, out: Path | None) -> str:
    """One block per repository: files added/changed/removed relative to what is already in DIR."""
    added, changed = [], []
    for path, content in sorted(cs.files.items()):
        existing = out / cs.repo / path if out else None
        if existing and existing.exists():
            if existing.read_text() != content:
                changed.append(path)
        else:
            added.append(path)
    removed = [p for p in cs.deletes if not out or (out / cs.repo / p).exists()]
    per_env: dict[str, int] = {}
    for path in cs.files:
        for env in cs.environments:
            if f"/{env}/" in f"/{path}" or path.endswith(f"-{env}.yaml") or f"/{env}." in path:
                per_env[env] = per_env.get(env, 0) + 1
    envs = ", ".join(f"{env}: {n}" for env, n in sorted(per_env.items()))
    lines = [f"  {cs.repo}: {len(added)} added, {len(changed)} changed, {len(removed)} removed"
             + (f" (files per environment: {envs})" if envs else "")]
    lines += [f"    + {p}" for p in added] + [f"    ~ {p}" for p in changed] + [f"    - {p}" for p in removed]
    return "\n".join(lines)


def write_tree(cs: ChangeSet, root: Path) -> None:
    for path, content in cs.files.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
    for path in cs.deletes:
        (root / path).unlink(missing_ok=True)
