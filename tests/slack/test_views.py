"""Snapshot tests for every Block Kit view builder, and Block Kit limits for every view they produce.

Regenerate snapshots after an intended change with `LAUNCHPAD_UPDATE_SNAPSHOTS=1 pytest tests/slack/test_views.py`
and review the diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from bot.slack.blocks import check_block_kit_limits, chunk_lines, truncate
from tests.slack.samples import all_views

SNAPSHOTS = Path(__file__).parent / "snapshots"
UPDATE = os.environ.get("LAUNCHPAD_UPDATE_SNAPSHOTS") == "1"
VIEWS = all_views()
SNAPSHOTTED = [name for name in VIEWS if "huge" not in name and "many" not in name]


@pytest.mark.parametrize("name", SNAPSHOTTED)
def test_view_matches_snapshot(name: str) -> None:
    produced = json.dumps(VIEWS[name], indent=2, ensure_ascii=False, sort_keys=True) + "\n"
    path = SNAPSHOTS / f"{name}.json"
    if UPDATE:
        SNAPSHOTS.mkdir(exist_ok=True)
        path.write_text(produced)
    assert path.exists(), f"no snapshot {path.name}; run with LAUNCHPAD_UPDATE_SNAPSHOTS=1 and review it"
    assert produced == path.read_text(), f"{name} changed; if intended, regenerate with LAUNCHPAD_UPDATE_SNAPSHOTS=1"


def test_no_stale_snapshots() -> None:
    stale = sorted(p.stem for p in SNAPSHOTS.glob("*.json") if p.stem not in SNAPSHOTTED)
    assert not stale, f"snapshots without a view: {stale}"


@pytest.mark.parametrize("name", list(VIEWS))
def test_view_respects_block_kit_limits(name: str) -> None:
    assert check_block_kit_limits(VIEWS[name]) == []


def test_worst_case_views_are_capped_not_dropped() -> None:
    huge = VIEWS["request_huge"]["blocks"]
    assert len(huge) == 50
    assert huge[-1]["type"] == "context" and "/launchpad status 12" in huge[-1]["elements"][0]["text"]
    assert huge[-2]["type"] == "actions", "the Retry button survives the cap"
    assert any("more steps" in e["text"] for b in huge if b["type"] == "context" for e in b["elements"])
    assert len(VIEWS["home_many"]["blocks"]) <= 100
    assert "130 more" in json.dumps(VIEWS["home_many"])
    assert len(VIEWS["request_huge"]["text"]) <= 4000


def _message(blocks: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"blocks": blocks, **extra}


@pytest.mark.parametrize(("view", "problem"), [
    (_message([{"type": "divider"}] * 51), "51 blocks; a message allows 50"),
    ({"type": "modal", "title": {"type": "plain_text", "text": "x" * 25}, "blocks": []}, "modal title"),
    (_message([{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}]), "at most 3000"),
    (_message([{"type": "header", "text": {"type": "plain_text", "text": "x" * 151}}]), "at most 150"),
    (_message([{"type": "actions", "elements": [
        {"type": "button", "text": {"type": "plain_text", "text": "x" * 76}, "action_id": "a"}]}]), "at most 75"),
    (_message([{"type": "actions", "block_id": "b" * 256, "elements": [
        {"type": "button", "text": {"type": "plain_text", "text": "ok"}, "action_id": "a"}]}]), "block_id"),
    (_message([{"type": "actions", "elements": [
        {"type": "button", "text": {"type": "plain_text", "text": "ok"}, "action_id": "a" * 256}]}]), "action_id"),
    (_message([{"type": "section", "text": {"type": "mrkdwn", "text": "a"}, "block_id": "x"},
               {"type": "section", "text": {"type": "mrkdwn", "text": "b"}, "block_id": "x"}]), "repeats block_id"),
    ({"type": "home", "blocks": [{"type": "divider"}] * 101}, "a home allows 100"),
    (_message([{"type": "input", "label": {"type": "plain_text", "text": "l"}, "element": {
        "type": "checkboxes", "action_id": "c", "options": [
            {"text": {"type": "plain_text", "text": str(i)}, "value": str(i)} for i in range(11)]}}]), "11 options"),
])
def test_limit_checker_finds_each_violation(view: dict[str, Any], problem: str) -> None:
    problems = check_block_kit_limits(view)
    assert any(problem in p for p in problems), problems


def test_truncate_never_splits_a_link() -> None:
    text = "see <https://example.com/very/long/path|the PR> now"
    cut = truncate(text, 20)
    assert cut == "see …" and len(cut) <= 20
    assert truncate("short", 20) == "short"


def test_chunk_lines_fits_every_chunk() -> None:
    chunks = chunk_lines(["a" * 1000] * 7 + ["b" * 5000])
    assert all(len(c) <= 3000 for c in chunks)
    assert sum(c.count("a") for c in chunks) == 7000
