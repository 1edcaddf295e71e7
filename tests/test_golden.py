"""Golden trees: what every example renders to, byte for byte, checked in under tests/golden/.

A renderer change shows up as a reviewable diff of generated files. Regenerate with `make golden`
(sets LAUNCHPAD_UPDATE_GOLDEN=1), then read the diff before committing it.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import yaml

from provisioners.blueprint import BlueprintRegistry
from provisioners.plan import RenderContext, plan, plan_delete
from provisioners.platform import PlatformConfig
from provisioners.spec import parse_spec

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
GOLDEN = Path(__file__).resolve().parent / "golden"
UPDATE = os.environ.get("LAUNCHPAD_UPDATE_GOLDEN") == "1"


def rendered_tree(example: Path) -> dict[str, str]:
    """Relative path -> content for every file the example's plan (and its delete plan) produces."""
    ctx = RenderContext(platform=PlatformConfig(), blueprints=BlueprintRegistry.load())
    spec = parse_spec(yaml.safe_load(example.read_text()), ctx.platform, ctx.blueprints)
    tree: dict[str, str] = {}
    for cs in plan(spec, ctx):
        for path, content in cs.files.items():
            tree[f"{cs.repo}/{path}"] = content
    deletes = [f"{i}. {cs.repo}: {cs.title}\n" + "".join(f"  - {p}\n" for p in cs.deletes)
               for i, cs in enumerate(plan_delete(spec, ctx), start=1)]
    tree["DELETE-PLAN.txt"] = "".join(deletes)
    return tree


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.stem for e in EXAMPLES])
def test_golden_tree(example: Path) -> None:
    tree = rendered_tree(example)
    golden_dir = GOLDEN / example.stem
    if UPDATE:
        shutil.rmtree(golden_dir, ignore_errors=True)
        for rel, content in tree.items():
            target = golden_dir / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content.encode())
    assert golden_dir.is_dir(), f"no golden tree for {example.name}; run `make golden` and review the diff"
    on_disk = {str(p.relative_to(golden_dir)): p.read_bytes().decode() for p in golden_dir.rglob("*") if p.is_file()}
    assert sorted(on_disk) == sorted(tree), "files differ from tests/golden; run `make golden` and review"
    for rel, content in tree.items():
        assert on_disk[rel] == content, f"{example.stem}/{rel} differs from its golden copy; run `make golden`"
