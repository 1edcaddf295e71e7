"""The delivery benchmark still runs, and its two sides make the calls they are meant to (no latency added,
no pacing: a few seconds). The figures themselves are reported by `make bench`, not asserted here."""

from __future__ import annotations

from bench import delivery


def test_launchpad_and_the_naive_baseline_deliver_the_same_request() -> None:
    ours = delivery.launchpad(0.0, paced=False)
    theirs = delivery.naive(0.0, throttled=False)
    assert ours.pulls == theirs.pulls == 4 and ours.files == theirs.files
    assert ours.calls <= 8 * ours.pulls  # the forge's budget per repository, wait-for-merge polls included
    assert theirs.calls == 4 * theirs.pulls + 2 * theirs.files  # repo, branch, ref, PR + (exists?, write) per file
