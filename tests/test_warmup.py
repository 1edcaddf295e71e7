"""What a serving process does before its first request, so a burst does not pay for it: renderers warmed
(vendored CRDs parsed, validators built) and Bolt's listener threads started."""

from __future__ import annotations

from provisioners.blueprint import BlueprintRegistry
from provisioners.plan import RenderContext, warm
from provisioners.platform import PlatformConfig, Team


def test_warming_renders_every_blueprint_on_the_default_platform() -> None:
    assert warm(RenderContext(platform=PlatformConfig(), blueprints=BlueprintRegistry.load())) == []


def test_a_platform_the_stand_in_does_not_fit_is_reported_not_raised() -> None:
    platform = PlatformConfig(teams={"x": Team(name="x")}, environment_order=["nowhere"])
    problems = warm(RenderContext(platform=platform, blueprints=BlueprintRegistry.load()))
    assert problems and all(": " in p for p in problems)


def test_the_listener_pool_starts_all_its_threads_up_front() -> None:
    from bot.app import started_executor

    executor = started_executor(7)
    try:
        assert len(executor._threads) == 7
    finally:
        executor.shutdown()
