"""The database tables: services and their history, environments, requests, steps, approvals, locks,
audit events and the notification outbox.

Models are plain SQLAlchemy 2 declarative classes; they hold no behaviour beyond column types. The
workflow decides what goes in them; the migrations in `bot/store/migrations/` create them. Nothing
here ever holds a secret: specs, PR links and decisions only.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Timestamps stored as naive UTC and always read back timezone-aware (SQLite keeps no zone)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use the workflow clock (timezone-aware UTC)")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON(), list[str]: JSON()}


class Service(Base):
    """A service LaunchPad manages; `spec` is the last applied spec (None until its create succeeds)."""

    __tablename__ = "services"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(63), unique=True)
    team: Mapped[str] = mapped_column(String(64))
    blueprint: Mapped[str] = mapped_column(String(64))
    owner: Mapped[str] = mapped_column(String(128))
    created_by: Mapped[str] = mapped_column(String(128))
    description: Mapped[str] = mapped_column(Text, default="")
    spec: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    bindings: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    deleted_at: Mapped[datetime | None]


class ServiceRevision(Base):
    """History: the spec after every request that changed the service (create, change, delete)."""

    __tablename__ = "service_revisions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id", ondelete="CASCADE"), index=True)
    request_id: Mapped[int | None] = mapped_column(ForeignKey("requests.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(16))
    spec: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    actor: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime]


class Environment(Base):
    """A live environment of a service; temporary ones carry `expires_at`."""

    __tablename__ = "environments"
    __table_args__ = (UniqueConstraint("service_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(32))
    domain: Mapped[str | None] = mapped_column(String(253))
    expires_at: Mapped[datetime | None] = mapped_column(index=True)
    reminded_at: Mapped[datetime | None]
    decommission_request_id: Mapped[int | None] = mapped_column(ForeignKey("requests.id", ondelete="SET NULL"))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Request(Base):
    """What someone asked for; `cursor` is the position of the step being worked on."""

    __tablename__ = "requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    service: Mapped[str] = mapped_column(String(63), index=True)
    team: Mapped[str] = mapped_column(String(64))
    blueprint: Mapped[str | None] = mapped_column(String(64))
    environments: Mapped[list[str]] = mapped_column(JSON)
    requester: Mapped[str] = mapped_column(String(128), index=True)
    state: Mapped[str] = mapped_column(String(16), index=True)
    cursor: Mapped[int] = mapped_column(Integer, default=0)
    spec: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    previous_spec: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    bindings: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    error: Mapped[str | None] = mapped_column(Text)
    denied: Mapped[bool] = mapped_column(Boolean, default=False)
    cleanup_pending: Mapped[bool] = mapped_column(Boolean, default=False)
    slack_channel: Mapped[str | None] = mapped_column(String(32))
    slack_ts: Mapped[str | None] = mapped_column(String(32))
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]


class Step(Base):
    """One unit of work of a request; a worker holds it through a lease (owner, token, expiry)."""

    __tablename__ = "steps"
    __table_args__ = (UniqueConstraint("request_id", "position"), Index(None, "state", "run_after"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("requests.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(16))
    repo: Mapped[str | None] = mapped_column(String(32))
    repo_index: Mapped[int] = mapped_column(Integer, default=0)
    forge_key: Mapped[str | None] = mapped_column(String(128))
    pr_url: Mapped[str | None] = mapped_column(String(500))
    pr_number: Mapped[int | None] = mapped_column(Integer)
    merge_sha: Mapped[str | None] = mapped_column(String(64))  # wait_merge: the merge commit (wait_deploy's target)
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    reclaims: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # worker died holding it
    run_after: Mapped[datetime | None]
    lease_owner: Mapped[str | None] = mapped_column(String(128))
    lease_token: Mapped[str | None] = mapped_column(String(64))
    lease_expires_at: Mapped[datetime | None]
    approver_group: Mapped[str | None] = mapped_column(String(64))
    reasons: Mapped[list[str]] = mapped_column(JSON, default=list)
    # what a pipeline step found out: wait_plan's per-unit summary, wait_apply's run (for "Retry apply")
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    reminded_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class Deployment(Base):
    """One environment of a request as LaunchPad followed it in Argo CD (wait_deploy / wait_prune): the last
    phase and detail seen, and the image and revision running; the latest healthy row per environment is
    "which image runs where"."""

    __tablename__ = "deployments"
    __table_args__ = (UniqueConstraint("request_id", "environment"), Index(None, "service", "environment", "id"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("requests.id", ondelete="CASCADE"))
    service: Mapped[str] = mapped_column(String(63))
    environment: Mapped[str] = mapped_column(String(32))
    application: Mapped[str] = mapped_column(String(253))
    phase: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str] = mapped_column(Text, default="")
    image: Mapped[str | None] = mapped_column(String(512))
    revision: Mapped[str | None] = mapped_column(String(64))
    link: Mapped[str | None] = mapped_column(String(500))
    started_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Promotion(Base):
    """One promotion (Kargo's idea: what, from where to where, who): the image verified Healthy in the source
    environment, pinned by digest where known. Its outcome is its request's state and thread."""

    __tablename__ = "promotions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("requests.id", ondelete="CASCADE"), unique=True)
    service: Mapped[str] = mapped_column(String(63), index=True)
    source_environment: Mapped[str] = mapped_column(String(32))
    target_environment: Mapped[str] = mapped_column(String(32))
    image: Mapped[str] = mapped_column(String(512))
    digest: Mapped[str | None] = mapped_column(String(80))
    source_revision: Mapped[str | None] = mapped_column(String(64))
    verified: Mapped[str] = mapped_column(Text, default="")
    requested_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime]


class Approval(Base):
    """A recorded decision on an approval step; one per step (the unique key makes double clicks safe)."""

    __tablename__ = "approvals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("requests.id", ondelete="CASCADE"), index=True)
    step_id: Mapped[int] = mapped_column(ForeignKey("steps.id", ondelete="CASCADE"), unique=True)
    approver_group: Mapped[str] = mapped_column(String(64))
    decision: Mapped[str] = mapped_column(String(16))
    decided_by: Mapped[str] = mapped_column(String(128))
    decided_at: Mapped[datetime]
    reason: Mapped[str | None] = mapped_column(Text)


class Lock(Base):
    """A service/environment held by one request (Atlantis-style); the unique key is the lock."""

    __tablename__ = "locks"
    __table_args__ = (UniqueConstraint("service", "environment"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    service: Mapped[str] = mapped_column(String(63))
    environment: Mapped[str] = mapped_column(String(32))
    request_id: Mapped[int] = mapped_column(ForeignKey("requests.id", ondelete="CASCADE"), index=True)
    holder: Mapped[str] = mapped_column(String(128))
    acquired_at: Mapped[datetime]


class AuditEvent(Base):
    """Append-only log of every state change and decision, with its actor."""

    __tablename__ = "audit_events"
    __table_args__ = (Index(None, "service", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(128))
    service: Mapped[str] = mapped_column(String(63))
    action: Mapped[str] = mapped_column(String(48))
    request_id: Mapped[int | None] = mapped_column(Integer)
    step_id: Mapped[int | None] = mapped_column(Integer)
    from_state: Mapped[str | None] = mapped_column(String(16))
    to_state: Mapped[str | None] = mapped_column(String(16))
    detail: Mapped[str] = mapped_column(Text, default="")


class OutboxMessage(Base):
    """A notification written with the state change that caused it and delivered later by a worker,
    so request handlers stay database-only and a crash never loses or invents a message."""

    __tablename__ = "outbox"
    __table_args__ = (Index(None, "delivered_at", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    request_id: Mapped[int | None] = mapped_column(Integer)
    step_id: Mapped[int | None] = mapped_column(Integer)
    service: Mapped[str | None] = mapped_column(String(63))
    environment: Mapped[str | None] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]
    claimed_by: Mapped[str | None] = mapped_column(String(128))
    claimed_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]


class SlackDelivery(Base):
    """A signed Slack HTTP request already acted on, by a digest of its signature (replays are acked, not
    acted on, by any replica). Rows older than Slack's 5-minute signature window are deleted."""

    __tablename__ = "slack_deliveries"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class PasswordResetRecord(Base):
    """One console password reset that happened: the per-user hourly limit counts these rows, so it holds
    across replicas and CLI runs (a limit kept in process memory restarted with every `launchpad` call)."""

    __tablename__ = "password_resets"
    __table_args__ = (Index(None, "iam_user", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    iam_user: Mapped[str] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(128))
    at: Mapped[datetime]
