"""The pipeline benchmark's counts (not its timing): following a request costs a bounded number of charged
calls, most polls of a running pipeline are conditional (304), and 50 at once stay well inside the budget."""

from __future__ import annotations

from bench import pipeline


def test_following_costs_few_charged_calls_per_request() -> None:
    figures = pipeline.run(3, write=False)
    assert figures["rest_calls_charged_per_request"] <= 8
    assert figures["rest_calls_304_per_request"] >= 4  # unchanged answers while the runs go on
    assert figures["graphql_calls_per_request"] == 0  # the commits come from open_pr and wait_merge
    # what 50 requests at once would cost an hour, per API, against GitHub's 5,000
    per_request = max(figures["rest_calls_charged_per_request"], figures["graphql_calls_per_request"])
    assert 50 * per_request < 0.2 * figures["hourly_budget_per_api"]
