"""The reference schemas in `schemas/` are unmodified copies of the public sources in ../shared/schemas,
and every generated workflow pins its actions by full commit SHA (`provisioners.actions`)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from provisioners import actions

ROOT = Path(__file__).resolve().parent.parent
VENDORED = ROOT / "schemas"
SHARED = ROOT.parent / "shared" / "schemas"


def test_vendored_schemas_are_unmodified_copies() -> None:
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} is not here to compare against (only the steering checkout has it)")
    differ = [str(p.relative_to(SHARED)) for p in SHARED.rglob("*") if p.is_file()
              and (VENDORED / p.relative_to(SHARED)).read_bytes() != p.read_bytes()]
    assert differ == []


def test_every_pin_is_a_full_commit_sha() -> None:
    for action in actions.PINNED.values():
        assert re.fullmatch(r"[0-9a-f]{40}", action.sha), action


def test_annotate_keeps_the_tag_next_to_the_sha() -> None:
    text = f"steps:\n- uses: {actions.uses('checkout')}\n  with:\n    uses: not-a-pin\n"
    assert actions.annotate(text).splitlines()[1] == f"- uses: {actions.uses('checkout')} # v4.2.2"
    assert actions.annotate(text).splitlines()[3] == "    uses: not-a-pin"


def test_unknown_action_names_the_table() -> None:
    with pytest.raises(KeyError, match="PINNED"):
        actions.uses("setup-nothing")
