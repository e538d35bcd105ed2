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
           concurrent: int = DEFAULT_CONCURRENT) -> tuple[ApiKey, str]:
    """A new key and its secret (which is not stored)."""
    secret = PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(id=queue.new_id("key_")[:16], name=name, secret_hash=_hash(secret), admin=admin,
                 per_minute=per_minute, concurrent=concurrent, created_at=time.time(), revoked_at=None)
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


def revoke(store: Store, key_id: str) -> bool:
    with store.write() as session:
        statement = update(ApiKey).where(ApiKey.id == key_id, ApiKey.revoked_at.is_(None)).values(revoked_at=time.time())
        return session.execute(statement).rowcount > 0
