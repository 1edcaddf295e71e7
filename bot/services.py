"""The composition root: builds the store, forges, binding resolver, policy and workflow from settings.

`build_services` is called once per process (Slack app, worker, CLI command). It migrates a SQLite
database on start (the embedded default has no operator to run `launchpad db upgrade`); on
PostgreSQL it only checks that the schema is current and says which command to run when it is not.
Nothing else in the application constructs these objects. GitHub credentials are checked here too:
their form when the forges are built (a malformed token or private key stops start-up with one line
each), and, with `check_forges`, whether GitHub accepts them for the platform's repositories
(`launchpad config --check`, and `serve`/`worker` at start-up).
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from datetime import timedelta

from bot.commands.plan import render_context
from bot.config import Settings
from bot.store.database import Store
from bot.workflow.api import Notifier
from bot.workflow.bindings import BindingResolver, Ec2Bindings, PlaceholderBindings
from bot.workflow.clock import Clock, SystemClock
from bot.workflow.deploy import DeployConfig, DeployStatus, Follower, NoArgoCd, Prober
from bot.workflow.engine import Engine, EngineConfig
from bot.workflow.execute import Actions
from bot.workflow.pipeline import PipelineFollowing
from bot.workflow.policy import load_policy
from bot.workflow.service import WorkflowService
from provisioners.forge.credentials import Credential, credential_problems, make_credential
from provisioners.forge.local import LocalForge
from provisioners.forge.retry import RetryPolicy
from provisioners.forge.router import CredentialCheck, ForgeRouter, ForgeRoutes, StaticForgeRouter
from provisioners.plan import RenderContext
from provisioners.platform import PlatformConfig

log = logging.getLogger(__name__)


class CredentialsError(RuntimeError):
    """GitHub credentials that cannot work, found before any step runs; `problems` holds one line each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("GitHub credentials: " + "; ".join(problems))
        self.problems = problems


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
                   rng: random.Random | None = None, deploys: DeployStatus | None = None,
                   prober: Prober | None = None) -> Services:
    """Wire everything from settings; tests pass their own forges, clock, resolver, Argo CD or prober instead."""
    store = Store(settings.effective_database_url())
    if store.is_sqlite:
        store.upgrade()
    else:
        store.check_current()
    ctx = render_context(settings)
    local = None
    if forges is None:
        forges, local = build_forges(settings)
    clock = clock or SystemClock()
    actions = Actions(ctx=ctx, forges=forges, resolver=resolver or _resolver(settings, ctx),
                      auto_merge=settings.forge == "local" and settings.auto_merge_local,
                      deploys=_follower(settings, ctx, deploys, prober),
                      pipeline=following(settings))
    config = EngineConfig(
        lease=timedelta(seconds=settings.worker_lease_seconds),
        max_attempts=settings.step_max_attempts,
        backoff_base=settings.step_backoff_base_seconds,
        backoff_max=settings.step_backoff_max_seconds,
        ttl_reminder=timedelta(hours=settings.ttl_reminder_hours),
        shutdown_grace=settings.worker_shutdown_grace_seconds,
        teardown_retry=timedelta(hours=settings.ttl_teardown_retry_hours),
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


def build_forges(settings: Settings) -> tuple[ForgeRoutes, LocalForge | None]:
    """The local forge under data_dir/repos, or one GitHub forge per configured credential (CredentialsError
    when one cannot work: a token that is no GitHub token, a private key that does not parse)."""
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
    problems = [problem for name, cred in credentials.items() for problem in credential_problems(name, cred)]
    if problems:
        raise CredentialsError(problems)
    policy = RetryPolicy(max_retries=settings.github_max_retries,
                         wait_cap=float(settings.github_rate_limit_wait_cap_seconds))
    platform = settings.platform
    return ForgeRouter(credentials, api_url=settings.github_api_url, policy=policy,
                       environment_order=platform.environment_order,
                       temporary_base=platform.temporary_environment_base,
                       writes_per_minute=settings.github_writes_per_minute,
                       timeout=settings.github_timeout_seconds, api=settings.github_api_mode), None


def fixed_repositories(platform: PlatformConfig) -> list[str]:
    """The platform's target repositories whose names are known before a request ('owner/name' without
    placeholders; a service's own repository, '{team}/{service}', is not)."""
    names = [r.name for r in platform.repositories.values() if "{" not in r.name and r.name.count("/") == 1]
    return list(dict.fromkeys(names))


def check_forges(settings: Settings, forges: ForgeRoutes) -> CredentialCheck | None:
    """Ask GitHub whether every credential works for the platform's repositories (None: not a GitHub forge)."""
    if not isinstance(forges, ForgeRouter):
        return None
    return forges.check(fixed_repositories(settings.platform))


def startup_problems(services: Services) -> list[str]:
    """What `serve` and `worker` refuse to start on, one line each: a credential GitHub rejects, a wrong
    installation id, a repository a credential cannot reach. A GitHub that does not answer is only logged."""
    result = check_forges(services.settings, services.forges)
    if result is None:
        return []
    for line in result.unverified:
        log.warning("%s", line)
    return result.problems
def _follower(settings: Settings, ctx: RenderContext, status: DeployStatus | None,
              prober: Prober | None) -> Follower:
    """Argo CD per configured endpoint (none: every follow says "skipped: Argo CD not configured")."""
    config = DeployConfig(timeout=timedelta(seconds=settings.deploy_timeout_seconds),
                          prune_timeout=timedelta(seconds=settings.prune_timeout_seconds),
                          poll=settings.deploy_poll_seconds, poll_max=settings.deploy_poll_max_seconds,
                          probe=settings.deploy_probe, probe_path=settings.deploy_probe_path)
    if status is None and settings.argocd:
        from bot.argocd.client import ArgoCd, ArgoCdRouter

        # a Retry-After longer than one poll interval reschedules the step instead of holding the worker
        policy = RetryPolicy(max_retries=settings.argocd_max_retries, wait_cap=settings.deploy_poll_max_seconds)
        clients = {name: ArgoCd(name, e.url, e.token.get_secret_value(), ui_url=e.ui_url, ca_bundle=e.ca_bundle,
                                timeout=settings.argocd_timeout_seconds, policy=policy)
                   for name, e in settings.argocd.items()}
        status = ArgoCdRouter(clients, namespace=ctx.platform.argocd_namespace,
                              temporary_base=ctx.platform.temporary_environment_base)
    if prober is None and status is not None:
        from bot.argocd.probe import HttpsProber

        prober = HttpsProber(timeout=settings.deploy_probe_timeout_seconds)
    return Follower(status=status or NoArgoCd(), prober=prober, config=config)


def _resolver(settings: Settings, ctx: RenderContext) -> BindingResolver:
    """EC2 when AWS is in play (GitHub forge, or an explicit endpoint); stand-in ids for the embedded default."""
    if settings.aws_endpoint_url or settings.forge != "local":
        import boto3

        client = boto3.client("ec2", region_name=settings.aws_region, endpoint_url=settings.aws_endpoint_url)
        return Ec2Bindings(client, ctx.platform)
    return PlaceholderBindings(ctx.platform)
