"""Acceptance 4 on the GitHub API: a bulk change opens one PR per repository and costs the same API calls
for 5 services as for 50 (only the one tree it posts grows, with the files). Real PyGithub against the
local GitHub-API server, through the real workflow; the 500-service figure is in bench/bulk.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.delivery import PIPELINE_READS
from bot.workflow.api import BulkChange, Selector, State
from tests.bulk.support import bulk_on_github

CHANGES = {
    "chart revision (gitops)": (BulkChange(kind="chart_revision", value="v1.2.0"), Selector()),
    "rds module in prod (infra)": (BulkChange(kind="module_version", target="rds", value="7.3.0"),
                                   Selector(environment="prod")),
}


@pytest.mark.parametrize("api", ["graphql", "rest"])
@pytest.mark.parametrize("label", list(CHANGES))
def test_api_calls_do_not_grow_with_the_number_of_services(label: str, api: str, tmp_path: Path) -> None:
    change, selector = CHANGES[label]
    small = bulk_on_github(tmp_path / "small", 5, change, selector=selector, api=api)
    large = bulk_on_github(tmp_path / "large", 50, change, selector=selector, api=api)
    for run in (small, large):
        assert run.request.state == State.SUCCEEDED, run.request.error
        assert run.pulls == 1  # one repository, one pull request
        pipeline = label.endswith("(infra)")  # an infra PR is planned, then applied, by the pipeline it follows
        assert [s.kind for s in run.request.steps] == (
            ["open_pr", "wait_plan", "approval", "wait_merge", "wait_apply", "notify"] if pipeline
            else ["open_pr", "approval", "wait_merge", "notify"])
    assert large.changed_services > 5 * small.changed_services  # ten times the services...
    assert large.files > 5 * small.files
    assert large.calls == small.calls  # ...the very same API calls, in the same order
    delivery = [c for c in large.calls if not PIPELINE_READS.search(c[1])]  # following the pipeline: 3 more
    assert len(large.calls) - len(delivery) == (3 if label.endswith("(infra)") else 0)
    if api == "rest":  # find, base, tree (every file, inline), commit, branch, PR, labels, one merge poll
        assert len(delivery) == 8
        assert len([c for c in large.calls if c[1].endswith("/git/trees")]) == 1
    else:  # one query, one mutation carrying every file, labels, one merge poll (up to 250 files; beyond,
        # the GraphQL forge reads blob ids in one more query per 250 paths: bench.bulk shows 500 services)
        assert len(delivery) == 4 and large.files < 250


def test_the_bench_prints_one_line_per_figure(capsys: pytest.CaptureFixture[str]) -> None:
    from bench import bulk

    result = bulk.run(services=6, latency=0.0, small=2, write=False, apis=("graphql",))
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4 and all(line.startswith("bulk [graphql]: ") for line in lines)
    assert result["graphql"]["chart_revision"]["6"]["pull_requests"] == 1
    assert not result["graphql"]["chart_revision"]["calls_grow_with_services"]
    assert not result["graphql"]["rds_module_prod"]["calls_grow_with_services"]
