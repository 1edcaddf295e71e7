"""Which signed Slack requests were already acted on: one row per signature, shared by every replica.

Slack signs `v0:{timestamp}:{body}`; a request whose signature was seen before is an exact replay
(or a duplicate delivery) and must be acked without being acted on again. The key is a SHA-256 of the
signature (the signature already covers timestamp and body); nothing of the body is stored. Bolt
refuses timestamps older than five minutes, so rows past that window are useless and are deleted at
most once a minute. This module decides nothing about Slack; it only records first sightings.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError

from bot.store import models as m
from bot.store.database import Store

WINDOW = timedelta(minutes=6)  # Slack's 5 minutes, plus clock skew between replicas
PURGE_EVERY = timedelta(minutes=1)


class DeliveryLog:
    def __init__(self, store: Store, now: Callable[[], datetime]) -> None:
        self._store = store
        self._now = now
        self._lock = threading.Lock()
        self._purged_at: datetime | None = None

    def first(self, signature: str) -> bool:
        """True the first time this signature is seen (by any replica), False for every replay."""
        now = self._now()
        key = hashlib.sha256(signature.encode()).hexdigest()
        try:
            with self._store.session() as s:
                s.add(m.SlackDelivery(key=key, seen_at=now))
                s.flush()
        except IntegrityError:
            return False
        self._purge(now)
        return True

    def _purge(self, now: datetime) -> None:
        with self._lock:
            if self._purged_at is not None and now - self._purged_at < PURGE_EVERY:
                return
            self._purged_at = now
        with self._store.session() as s:
            s.execute(delete(m.SlackDelivery).where(m.SlackDelivery.seen_at < now - WINDOW))
