"""The composition root: builds the store, forges, binding resolver, policy and workflow from settings.

`build_services` is called once per process (Slack app, worker, CLI command). It migrates a SQLite
database on start (the embedded default has no operator to run `launchpad db upgrade`); on
PostgreSQL it only checks that the schema is current and says which command to run when it is not.
Nothing else in the application constructs these objects.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta

from bot.commands.plan import render_context
from bot.config import Settings
from bot.store.database import Store
from bot.workflow.api import Notifier
from bot.workflow.bindings import BindingResolver, Ec2Bindings, PlaceholderBindings
from bot.workflow.clock import Clock, SystemClock
from bot.workflow.engine import Engine, EngineConfig
from bot.workflow.execute import Actions
from bot.workflow.pipeline import PipelineFollowing
from bot.workflow.policy import load_policy
from bot.workflow.service import WorkflowService
from provisioners.forge.credentials import Credential, make_credential
from provisioners.forge.local import LocalForge
from provisioners.forge.retry import RetryPolicy
from provisioners.forge.router import ForgeRouter, ForgeRoutes, StaticForgeRouter
from provisioners.plan import RenderContext


@dataclass
class Services:
    settings: Settings
    store: Store
    workflow: WorkflowService
    forges: ForgeRoutes
    render_context: RenderContext
    local_forge: LocalForge | None = None

    def close(self) -> None:
        self.store.dispose()


def build_services(settings: Settings, notifier: Notifier | None = None, *, forges: ForgeRoutes | None = None,
                   clock: Clock | None = None, resolver: BindingResolver | None = None,
                   rng: random.Random | None = None) -> Services:
    """Wire everything from settings; tests pass their own forges, clock or resolver instead."""
    store = Store(settings.effective_database_url())
    if store.is_sqlite:
        store.upgrade()
    else:
        store.check_current()
    ctx = render_context(settings)
    local = None
    if forges is None:
        forges, local = _forges(settings)
    clock = clock or SystemClock()
    actions = Actions(ctx=ctx, forges=forges, resolver=resolver or _resolver(settings, ctx),
                      auto_merge=settings.forge == "local" and settings.auto_merge_local,
                      pipeline=following(settings))
    config = EngineConfig(
        lease=timedelta(seconds=settings.worker_lease_seconds),
        max_attempts=settings.step_max_attempts,
        backoff_base=settings.step_backoff_base_seconds,
        backoff_max=settings.step_backoff_max_seconds,
        ttl_reminder=timedelta(hours=settings.ttl_reminder_hours),
    )
    engine = Engine(store, clock, actions, config, rng)
    workflow = WorkflowService(store, engine, ctx, load_policy(settings.approval_policy_file), clock, notifier)
    return Services(settings=settings, store=store, workflow=workflow, forges=forges, render_context=ctx,
                    local_forge=local)


def following(settings: Settings) -> PipelineFollowing:
    """How wait_plan/wait_apply poll: backing off from infra_pipeline_poll_seconds to the maximum."""
    first, cap = settings.infra_pipeline_poll_seconds, settings.infra_pipeline_poll_max_seconds
    return PipelineFollowing(start_timeout=timedelta(minutes=settings.infra_pipeline_start_timeout_minutes),
                             poll=lambda looks: min(cap, first * 1.5 ** min(looks, 20)))


def _forges(settings: Settings) -> tuple[ForgeRoutes, LocalForge | None]:
    """The local forge under data_dir/repos, or one GitHub forge per configured credential."""
    if settings.forge == "local":
        local = LocalForge(settings.data_dir / "repos")
        return StaticForgeRouter(local), local
    if not settings.github_credentials:
        raise RuntimeError("forge=github needs at least one credential: set "
                           "LAUNCHPAD_GITHUB_CREDENTIALS__DEFAULT__TOKEN (or per environment, e.g. __PROD__TOKEN, "
                           "or the GitHub App fields); see docs/forge.md")
    credentials: dict[str, Credential] = {}
    for name, cred in settings.github_credentials.items():
        credentials[name] = make_credential(
            token=cred.token.get_secret_value() if cred.token else None, app_id=cred.app_id,
            private_key=cred.private_key.get_secret_value() if cred.private_key else None,
            installation_id=cred.installation_id)
    policy = RetryPolicy(max_retries=settings.github_max_retries,
                         wait_cap=float(settings.github_rate_limit_wait_cap_seconds))
    return ForgeRouter(credentials, api_url=settings.github_api_url, policy=policy,
                       writes_per_minute=settings.github_writes_per_minute,
                       timeout=settings.github_timeout_seconds, api=settings.github_api_mode), None


def _resolver(settings: Settings, ctx: RenderContext) -> BindingResolver:
    """EC2 when AWS is in play (GitHub forge, or an explicit endpoint); stand-in ids for the embedded default."""
    if settings.aws_endpoint_url or settings.forge != "local":
        import boto3

        client = boto3.client("ec2", region_name=settings.aws_region, endpoint_url=settings.aws_endpoint_url)
        return Ec2Bindings(client, ctx.platform)
    return PlaceholderBindings(ctx.platform)
