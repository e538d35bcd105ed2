"""API keys for a public server. A key is "ugk_" + 32 random bytes (URL-safe base64); the store
keeps only its SHA-256, so a leaked database does not leak keys. The secret is shown once, at
creation."""

from __future__ import annotations

import hashlib
import secrets
import time

from sqlalchemy import select, update

from . import queue
from .schema import ApiKey
from .store import Store

PREFIX = "ugk_"
DEFAULT_PER_MINUTE = 10
DEFAULT_CONCURRENT = 4


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create(store: Store, name: str, admin: bool = False, per_minute: int = DEFAULT_PER_MINUTE,
           concurrent: int = DEFAULT_CONCURRENT, member_id: str | None = None) -> tuple[ApiKey, str]:
    """A new key and its secret (which is not stored). A member's key acts as the member: their role
    and quota, not the key's admin flag and limits, decide what it may do."""
    secret = PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(id=queue.new_id("key_")[:16], name=name, secret_hash=_hash(secret), admin=admin,
                 per_minute=per_minute, concurrent=concurrent, created_at=time.time(), revoked_at=None,
                 member_id=member_id)
    with store.write() as session:
        session.add(key)
    return key, secret


def find(store: Store, secret: str) -> ApiKey | None:
    """The live key with this secret, or None."""
    with store.read() as session:
        return session.scalar(select(ApiKey).where(ApiKey.secret_hash == _hash(secret), ApiKey.revoked_at.is_(None)))


def all_keys(store: Store) -> list[ApiKey]:
    with store.read() as session:
        return list(session.scalars(select(ApiKey).order_by(ApiKey.created_at)))


def revoke(store: Store, key_id: str, member_id: str | None = None) -> bool:
    """Revoke a live key (with member_id: only that member's own); False when there is none."""
    statement = update(ApiKey).where(ApiKey.id == key_id, ApiKey.revoked_at.is_(None))
    if member_id is not None:
        statement = statement.where(ApiKey.member_id == member_id)
    with store.write() as session:
        return session.execute(statement.values(revoked_at=time.time())).rowcount > 0
