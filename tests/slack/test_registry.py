"""Every listener is wrapped at registration: errors after the ack reported once, post-ack work bounded.

Over the real registry of the built app, and for a listener added later the normal way (as the promote
command and App Home content will be): no one has to remember a decorator.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from slack_bolt import Ack, Respond

from bot.slack.afterack import AfterAckPool, Busy
from bot.slack.registry import LaunchPadApp
from bot.slack.reporting import is_reported, reported
from tests.slack import payloads
from tests.slack.conftest import DEV, Launchpad


def done(lp: Launchpad) -> None:
    lp.app.listener_runner.listener_executor.shutdown(wait=True)  # type: ignore[attr-defined]


def test_every_registered_listener_is_reported(launchpad: Launchpad) -> None:
    app = launchpad.app
    assert isinstance(app, LaunchPadApp)
    functions = app.listener_functions()
    assert len(functions) >= 15  # commands, buttons, views, home, AWS, bulk
    assert [f.__qualname__ for f in functions if not is_reported(f)] == []
    assert all(getattr(f, "__launchpad_after_ack__") is app.after_ack for f in functions)  # all bounded alike


def test_a_listener_added_later_the_normal_way_is_covered(launchpad: Launchpad) -> None:
    lp = launchpad

    @lp.app.command("/launchpad-later")
    def later(ack: Ack, respond: Respond, command: dict[str, Any]) -> None:  # `command`: any Bolt argument works
        ack()
        raise RuntimeError(f"broken after the ack for {command['user_id']}")

    assert all(is_reported(f) for f in lp.app.listener_functions())
    body, ctype = payloads.slash_command("x", user=DEV, response_url=lp.slack.response_url("later"))
    body = body.replace("command=%2Flaunchpad", "command=%2Flaunchpad-later")
    reply = lp.send(body, ctype)
    assert (reply.status, reply.body) == (200, "")  # the ack stands; Bolt never sees the error
    done(lp)
    [answer] = lp.responses("later")
    assert "Something went wrong on our side" in json.dumps(answer.body)


def test_acks_are_not_held_by_post_ack_work(launchpad: Launchpad) -> None:
    """Post-ack parts block until released; every ack has been answered before any of them may finish."""
    lp = launchpad
    release = threading.Event()
    finished: list[str] = []

    @lp.app.command("/launchpad-slow")
    def slow(ack: Ack, command: dict[str, Any]) -> None:
        ack()
        release.wait(timeout=60)
        finished.append(command["text"])

    replies = []
    for i in range(6):  # more than the 2 post-ack workers: the rest queue, their acks do not
        body, ctype = payloads.slash_command(f"n{i}", user=DEV, response_url=lp.slack.response_url("slow"))
        replies.append(lp.send(body.replace("command=%2Flaunchpad", "command=%2Flaunchpad-slow"), ctype))
    assert [(r.status, r.body) for r in replies] == [(200, "")] * 6
    running, _ = lp.app.after_ack.snapshot()  # type: ignore[attr-defined]
    assert finished == [] and running <= 2
    release.set()
    done(lp)
    assert sorted(finished) == [f"n{i}" for i in range(6)]


def test_a_full_queue_refuses_with_busy_and_the_turns_come_back() -> None:
    pool = AfterAckPool(workers=1, queue=1)
    pool.enter()  # running
    waiting = threading.Thread(target=lambda: (pool.enter(), pool.leave()))
    seen = threading.Event()
    pool.on_change = lambda running, queued: seen.set() if queued == 1 else None
    waiting.start()
    assert seen.wait(timeout=10)
    with pytest.raises(Busy, match="try again"):
        pool.enter()
    pool.leave()
    waiting.join(timeout=10)
    assert pool.snapshot() == (0, 0)


def test_wrapping_twice_is_wrapping_once() -> None:
    def listener(ack: Ack) -> None:
        ack()

    once = reported(listener)
    assert reported(once) is once and is_reported(once) and not is_reported(listener)
    pool = AfterAckPool(workers=1, queue=0)
    pooled = reported(once, pool=pool)  # a hand-wrapped listener still gets the app's pool at registration
    assert pooled is not once and getattr(pooled, "__launchpad_after_ack__") is pool


def test_post_ack_work_holds_back_while_a_request_is_still_being_acked() -> None:
    pool = AfterAckPool(workers=2, queue=5, max_defer_seconds=60)
    queued, ran = threading.Event(), threading.Event()
    pool.on_change = lambda running, waiting: queued.set() if waiting == 1 else None
    with pool.acking():
        worker = threading.Thread(target=lambda: (pool.enter(), ran.set(), pool.leave()))
        worker.start()
        assert queued.wait(timeout=10)
        assert pool.snapshot() == (0, 1) and not ran.is_set()  # a free turn, yet it waits for the ack
    worker.join(timeout=10)
    assert ran.is_set() and pool.snapshot() == (0, 0)


def test_post_ack_work_waits_out_the_gap_between_two_waves_of_a_burst() -> None:
    """A burst reaches the app one wave per free server thread: the moment between two waves, when nothing
    is being acked, is not the end of the burst. Post-ack work starts only after `quiet_seconds` without
    an ack (here: not before the test says so by ending the quiet period)."""
    pool = AfterAckPool(workers=2, queue=5, max_defer_seconds=60, quiet_seconds=60)
    with pool.acking():  # the first wave, acked
        pass
    queued, ran = threading.Event(), threading.Event()
    pool.on_change = lambda running, waiting: queued.set() if waiting == 1 else None
    worker = threading.Thread(target=lambda: (pool.enter(), ran.set(), pool.leave()))
    worker.start()
    assert queued.wait(timeout=10)
    assert not ran.wait(timeout=0.2)  # nothing is being acked, yet the burst may not be over
    pool.quiet_seconds = 0.0
    with pool.acking():  # the next wave ends: its last ack wakes the waiting work, now past the quiet period
        pass
    worker.join(timeout=10)
    assert ran.is_set() and pool.snapshot() == (0, 0)
