"""Builds the AWS operations (domain lookup, console passwords) once per process from settings and services.

The Slack listeners and the CLI get their `AwsOperations` here so the caches and the reset rate limit
live as long as the process. Owners come from the workflow's read methods; audit lines go to the
workflow's audit table (service `aws-iam`) when a store is present, and always to the audit logger.
This module wires; it decides nothing.
"""

from __future__ import annotations

import threading
import time
import weakref
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import boto3
from sqlalchemy import select

from bot.aws.cache import Clock
from bot.aws.clients import AwsClients
from bot.aws.domain_lookup import DomainLookup
from bot.aws.iam_password import (
    AuditSink,
    ConsolePasswords,
    InMemoryResetLimiter,
    LogAudit,
    ResetLimiter,
    ResetRateLimited,
)
from bot.aws.owners import CatalogOwners, NoOwners, OwnerDirectory, ServiceCatalog
from bot.config import Settings
from bot.store import models as m

AUDIT_SUBJECT = "aws-iam"  # the `service` column of password-reset audit rows: `launchpad audit aws-iam`


class HasServices(Protocol):
    """What of `bot.services.Services` this module reads."""

    @property
    def settings(self) -> Settings: ...

    @property
    def workflow(self) -> ServiceCatalog: ...


@dataclass
class AwsOperations:
    clients: AwsClients
    lookup: DomainLookup
    passwords: ConsolePasswords

    @classmethod
    def from_settings(cls, settings: Settings, *, owners: OwnerDirectory | None = None,
                      audit: AuditSink | None = None, session: boto3.Session | None = None,
                      clock: Clock = time.monotonic, wall_clock: Clock = time.time, store: Any = None) -> AwsOperations:
        """`clock` ages the caches; `wall_clock` times the reset rate limit (its message names a time of day).
        With a `store` the reset limit is kept in the database; without one (no database), in this process."""
        clients = AwsClients.from_settings(settings, session=session)
        lookup = DomainLookup(clients, owners or NoOwners(), cache_seconds=settings.lookup_cache_seconds, clock=clock)
        limiter: ResetLimiter = (StoreResetLimiter(store, settings.password_resets_per_hour, wall_clock)
                                 if store is not None
                                 else InMemoryResetLimiter(settings.password_resets_per_hour, wall_clock))
        passwords = ConsolePasswords(clients.iam, user_map=settings.iam_user_map, email_tag=settings.iam_user_email_tag,
                                     limiter=limiter,
                                     audit=audit or LogAudit(), index_ttl_seconds=settings.lookup_cache_seconds,
                                     clock=clock)
        return cls(clients=clients, lookup=lookup, passwords=passwords)


class StoreAudit:
    """Password-reset audit rows in the workflow's audit table, plus the audit log line. Never a secret."""

    def __init__(self, store: Any, *, also_log: bool = True) -> None:
        self.store = store
        self.log = LogAudit() if also_log else None

    def record(self, *, action: str, actor: str, subject: str, message: str) -> None:
        from bot.workflow import records  # the workflow's own writer of audit rows

        with self.store.session() as s:
            records.audit(s, datetime.now(UTC), actor, AUDIT_SUBJECT, action[:48], detail=message)
        if self.log is not None:
            self.log.record(action=action, actor=actor, subject=subject, message=message)


class StoreResetLimiter:
    """The per-IAM-user hourly reset limit, counted in the database (table `password_resets`): it holds across
    bot replicas and `launchpad reset-password` runs. Two resets racing on two replicas may both pass the
    check; the next one sees both."""

    WINDOW = timedelta(hours=1)

    def __init__(self, store: Any, per_hour: int, clock: Clock = time.time) -> None:
        self.store = store
        self.per_hour = per_hour
        self._clock = clock

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)

    def check(self, user: str) -> None:
        now = self._now()
        with self.store.read_session() as s:
            times = s.scalars(select(m.PasswordResetRecord.at).where(
                m.PasswordResetRecord.iam_user == user, m.PasswordResetRecord.at > now - self.WINDOW)
                .order_by(m.PasswordResetRecord.at)).all()
        if len(times) >= self.per_hour:
            raise ResetRateLimited.over(user, len(times), self.per_hour, times[0] + self.WINDOW)

    def record(self, user: str, actor: str = "") -> None:
        with self.store.session() as s:
            s.add(m.PasswordResetRecord(iam_user=user[:64], actor=actor[:128], at=self._now()))


_lock = threading.Lock()
_by_services: dict[int, AwsOperations] = {}


def operations_for(services: HasServices) -> AwsOperations:
    """One AwsOperations per Services object (the Slack app's), created on first use."""
    existing = getattr(services, "aws", None)
    if isinstance(existing, AwsOperations):
        return existing
    key = id(services)
    with _lock:
        ops = _by_services.get(key)
        if ops is None:
            store = getattr(services, "store", None)
            ops = AwsOperations.from_settings(services.settings, owners=CatalogOwners(services.workflow),
                                              audit=StoreAudit(store) if store is not None else LogAudit(),
                                              store=store)
            _by_services[key] = ops
            weakref.finalize(services, _by_services.pop, key, None)
        return ops
