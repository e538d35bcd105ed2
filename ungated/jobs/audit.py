"""The audit log: every action of a moderator or an admin on members, invites, roles, quotas and
clips, kept for admins to read. An entry is written in the same transaction as the action, so
neither exists without the other."""

from __future__ import annotations

import time

from sqlalchemy import select
from sqlalchemy.orm import Session

from .schema import AuditEntry
from .store import Store


def record(session: Session, actor: str, action: str, target: str, **detail) -> None:
    session.add(AuditEntry(at=time.time(), actor=actor, action=action, target=target, detail=detail))


def log(store: Store, actor: str, action: str, target: str, **detail) -> None:
    """An entry of its own, for an action whose own writes are done elsewhere."""
    with store.write() as session:
        record(session, actor, action, target, **detail)


def entries(store: Store, limit: int = 100, before: int | None = None) -> list[AuditEntry]:
    """The newest entries first; `before` (an entry id) pages back."""
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if before is not None:
        query = query.where(AuditEntry.id < before)
    with store.read() as session:
        return list(session.scalars(query))
