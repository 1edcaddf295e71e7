"""`launchpad plan`: the offline main job — writes the four repositories' trees, or nothing on bad input."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bot.cli import main

ROOT = Path(__file__).resolve().parent.parent


def test_plan_writes_every_repository_and_summarises(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    assert main(["plan", str(ROOT / "examples" / "ranking-web.yaml"), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == ["gitops", "infra", "service", "values"]
    assert (out / "values" / "teams" / "search" / "ranking-web" / "values-prod.yaml").is_file()
    for repo in ("infra", "values", "gitops", "service"):
        assert f"  {repo}: " in text and " added, 0 changed, 0 removed" in text
    # a second plan over the same tree changes nothing
    assert main(["plan", str(ROOT / "examples" / "ranking-web.yaml"), "--out", str(out)]) == 0
    again = capsys.readouterr().out
    assert again.count(": 0 added, 0 changed, 0 removed") == 4, again


@pytest.mark.parametrize(("field", "value", "named"), [
    ("name", "Ranking_Web", "name"),
    ("team", "nobody", "team"),
    ("domain", "ranking.evil.org", "domain"),
    ("port", 0, "port"),
])
def test_invalid_spec_exits_non_zero_names_the_field_and_writes_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        field: str, value: object, named: str) -> None:
    monkeypatch.chdir(tmp_path)
    data = yaml.safe_load((ROOT / "examples" / "ranking-web.yaml").read_text())
    data[field] = value
    spec = tmp_path / "bad.yaml"
    spec.write_text(yaml.safe_dump(data))
    out = tmp_path / "out"
    assert main(["plan", str(spec), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert f"  {named}: " in err
    assert not out.exists()
