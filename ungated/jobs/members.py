"""Members of a community server: sign-up (by invite, or open), passwords, signed-in sessions,
throttled sign-in, roles and suspension.

Passwords are hashed with argon2id (argon2-cffi's defaults). Invite codes and session secrets are
random and only their SHA-256 is stored, as API keys are (keys.py): a leaked database leaks none.
A session lasts SESSION_DAYS; signing in always starts a new one (no session fixation) and
signing out, a suspension or a new password ends them.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select, update

from . import audit, queue
from .schema import ApiKey, Invite, Member, MemberSession, Profile, SignInFailure
from .store import Store

ROLES = ("member", "moderator", "admin")
NAME = re.compile(r"[^\W_](?:[\w .\-]{0,38}[^\W_])?")  # letters and digits first and last; no control characters
PASSWORD_LENGTH = (8, 256)
SESSION_DAYS = 30
MEMBER_PREFIX = "mem_"  # of member ids, which are the `client` of what they make
SESSION_PREFIX = "ugs_"
INVITE_PREFIX = "ugi_"
# Sign-in throttling: after this many failures in THROTTLE_SECONDS, a name (or an address) waits
# until the window ends. An address gets more: several members may share one.
THROTTLE_SECONDS = 15 * 60
FAILURES_PER_NAME = 5
FAILURES_PER_ADDRESS = 20

_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("not a password anyone has")  # verified against for unknown names: same timing


class Refused(Exception):
    """What a member asked for cannot be done. `kind` says why, for the API's status:
    invalid (400), wrong_password (401), suspended, bad_invite or closed (403), not_found (404),
    taken (409), throttled (429, with retry_after seconds)."""

    def __init__(self, kind: str, message: str, param: str | None = None, retry_after: float | None = None):
        super().__init__(message)
        self.kind, self.message, self.param, self.retry_after = kind, message, param, retry_after


@dataclass(frozen=True)
class SignedIn:
    member: Member
    csrf_token: str


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def name_key(name: str) -> str:
    return name.strip().casefold()


def check_name(name: str) -> str:
    name = name.strip()
    if not NAME.fullmatch(name):
        raise Refused("invalid", "name: 1 to 40 letters, digits, spaces, dots, dashes or underscores, starting and "
                                 "ending with a letter or digit", "name")
    return name


def check_password(password: str) -> None:
    low, high = PASSWORD_LENGTH
    if not low <= len(password) <= high:
        raise Refused("invalid", f"password: {low} to {high} characters", "password")


def check_role(role: str, param: str = "role") -> str:
    if role not in ROLES:
        raise Refused("invalid", f"{param}: one of {', '.join(ROLES)} (got {role!r})", param)
    return role


# Sign-up and invites

def sign_up(store: Store, name: str, password: str, invite_code: str | None, open_signup: bool) -> Member:
    """A new member. With an invite code, they take its role (and one of its uses); without one, only
    when sign-up is open. The first member of a server with no admin yet is its admin only by an
    invite made on the command line (`ungated invites create --role admin`)."""
    name = check_name(name)
    check_password(password)
    password_hash = _hasher.hash(password)  # before the transaction: it takes tens of milliseconds
    now = time.time()
    with store.write() as session:
        role, invite_id = "member", None
        if invite_code:
            invite = _usable_invite(session, invite_code, now)
            session.execute(update(Invite).where(Invite.id == invite.id).values(used=Invite.used + 1))
            role, invite_id = invite.role, invite.id
        elif not open_signup:
            raise Refused("closed", "invite: this server signs up members by invitation only; ask a member of it "
                                    "for an invite link", "invite")
        if session.scalar(select(Member.id).where(Member.name_key == name_key(name))):
            raise Refused("taken", f"name: {name!r} is taken; choose another", "name")
        member = Member(id=queue.new_id(MEMBER_PREFIX)[:20], name=name, name_key=name_key(name),
                        password_hash=password_hash, role=role, quota=None, invite_id=invite_id, created_at=now)
        session.add(member)
        session.add(Profile(client=member.id, artist=name))  # credited by name until they choose another
    return member


def _usable_invite(session, code: str, now: float) -> Invite:
    invite = session.scalar(select(Invite).where(Invite.code_hash == _hash(code)))
    problem = ("is not an invite of this server" if invite is None
               else "was revoked" if invite.revoked_at is not None
               else "has expired" if invite.expires_at is not None and invite.expires_at <= now
               else "has been used up" if invite.used >= invite.uses else None)
    if problem:
        raise Refused("bad_invite", f"invite: this invite link {problem}; ask for a new one", "invite")
    return invite


def invite_status(store: Store, code: str) -> Invite | None:
    """The invite, when it can still be used."""
    with store.read() as session:
        try:
            return _usable_invite(session, code, time.time())
        except Refused:
            return None


def create_invite(store: Store, actor: str, uses: int = 1, expires_in_hours: float | None = 168,
                  role: str = "member", note: str = "") -> tuple[Invite, str]:
    """A new invite and its code (which is not stored)."""
    check_role(role)
    if not 1 <= uses <= 10_000:
        raise Refused("invalid", "uses: 1 to 10000 sign-ups", "uses")
    if expires_in_hours is not None and not 0 < expires_in_hours <= 24 * 366:
        raise Refused("invalid", "expires_in_hours: more than 0 and at most a year (8784), or none", "expires_in_hours")
    code = INVITE_PREFIX + secrets.token_urlsafe(18)
    now = time.time()
    invite = Invite(id=queue.new_id("inv_")[:16], code_hash=_hash(code), role=role, uses=uses, used=0,
                    expires_at=None if expires_in_hours is None else now + expires_in_hours * 3600,
                    note=note.strip()[:200], created_by=actor, created_at=now, revoked_at=None)
    with store.write() as session:
        session.add(invite)
        audit.record(session, actor, "invite.create", invite.id, role=role, uses=uses, expires_at=invite.expires_at)
    return invite, code


def invites(store: Store) -> list[Invite]:
    with store.read() as session:
        return list(session.scalars(select(Invite).order_by(Invite.created_at.desc())))


def revoke_invite(store: Store, actor: str, invite_id: str) -> None:
    with store.write() as session:
        statement = update(Invite).where(Invite.id == invite_id, Invite.revoked_at.is_(None))
        if session.execute(statement.values(revoked_at=time.time())).rowcount == 0:
            raise Refused("not_found", f"invite_id: no live invite {invite_id!r}", "invite_id")
        audit.record(session, actor, "invite.revoke", invite_id)


# Sign-in, sessions

def sign_in(store: Store, name: str, password: str, address: str) -> tuple[SignedIn, str]:
    """A new session for the member and its cookie secret; throttled per name and per address."""
    now = time.time()
    keys = (f"name:{name_key(name)[:100]}", FAILURES_PER_NAME), (f"ip:{address[:100]}", FAILURES_PER_ADDRESS)
    with store.read() as session:
        for key, allowed in keys:
            failure = session.get(SignInFailure, key)
            if failure and failure.count >= allowed and now - failure.first_at < THROTTLE_SECONDS:
                wait = failure.first_at + THROTTLE_SECONDS - now
                raise Refused("throttled", f"too many failed sign-ins; try again in {int(wait // 60) + 1} min",
                              "password", retry_after=wait)
        member = session.scalar(select(Member).where(Member.name_key == name_key(name)))
    if not _verified(member.password_hash if member else _DUMMY_HASH, password) or member is None:
        _count_failure(store, [key for key, _ in keys], now)
        raise Refused("wrong_password", "the name or the password is wrong", "password")
    if member.suspended_at is not None:
        raise Refused("suspended", f"your account is suspended: {member.suspended_reason or 'no reason given'}")
    secret, csrf = SESSION_PREFIX + secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    with store.write() as session:
        session.execute(delete(SignInFailure).where(SignInFailure.key == keys[0][0]))
        session.execute(delete(MemberSession).where(MemberSession.member_id == member.id,
                                                    MemberSession.expires_at <= now))
        session.add(MemberSession(secret_hash=_hash(secret), member_id=member.id, csrf_token=csrf, created_at=now,
                                  expires_at=now + SESSION_DAYS * 86400))
        if _hasher.check_needs_rehash(member.password_hash):
            session.execute(update(Member).where(Member.id == member.id).values(
                password_hash=_hasher.hash(password)))
    return SignedIn(member, csrf), secret


def _verified(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _count_failure(store: Store, keys: list[str], now: float) -> None:
    with store.write() as session:
        for key in keys:
            failure = session.get(SignInFailure, key)
            if failure is None or now - failure.first_at >= THROTTLE_SECONDS:
                session.merge(SignInFailure(key=key, count=1, first_at=now))
            else:
                failure.count += 1


def session_of(store: Store, secret: str) -> SignedIn | None:
    """The member signed in with this cookie secret, while the session lasts."""
    with store.read() as session:
        row = session.execute(select(Member, MemberSession.csrf_token).join(
            MemberSession, MemberSession.member_id == Member.id).where(
            MemberSession.secret_hash == _hash(secret), MemberSession.expires_at > time.time())).first()
    return SignedIn(row[0], row[1]) if row else None


def sign_out(store: Store, secret: str) -> None:
    with store.write() as session:
        session.execute(delete(MemberSession).where(MemberSession.secret_hash == _hash(secret)))


def set_password(store: Store, member_id: str, new: str, current: str | None = None, keep_secret: str | None = None,
                 actor: str | None = None) -> None:
    """A new password: with `current`, only when it is right (a member changing their own); with an
    actor, an admin's reset (audited). Every session but `keep_secret`'s ends."""
    check_password(new)
    member = get(store, member_id)
    if current is not None and not _verified(member.password_hash, current):
        raise Refused("invalid", "current: that is not your current password", "current")
    password_hash = _hasher.hash(new)
    with store.write() as session:
        session.execute(update(Member).where(Member.id == member_id).values(password_hash=password_hash))
        ended = delete(MemberSession).where(MemberSession.member_id == member_id)
        if keep_secret is not None:
            ended = ended.where(MemberSession.secret_hash != _hash(keep_secret))
        session.execute(ended)
        if actor is not None:
            audit.record(session, actor, "member.password_reset", member_id)


# Members, as moderators and admins see and change them

def get(store: Store, member_id: str) -> Member:
    with store.read() as session:
        return _member_in(session, member_id)


def _member_in(session, member_id: str) -> Member:
    member = session.get(Member, member_id)
    if member is None:
        raise Refused("not_found", f"member_id: no member {member_id!r}", "member_id")
    return member


def all_members(store: Store) -> list[Member]:
    with store.read() as session:
        return list(session.scalars(select(Member).order_by(Member.created_at)))


def count(store: Store) -> int:
    with store.read() as session:
        return session.scalar(select(func.count()).select_from(Member)) or 0


def change(store: Store, actor: str, member_id: str, role: str | None = None,
           quota: dict | None = None) -> Member:
    """Set a member's role and/or quota overrides (the whole set: {} clears them)."""
    with store.write() as session:
        member = _member_in(session, member_id)
        if role is not None and role != member.role:
            audit.record(session, actor, "member.role", member_id, before=member.role, after=check_role(role))
            member.role = role
        if quota is not None and quota != (member.quota or {}):
            audit.record(session, actor, "member.quota", member_id, before=member.quota or {}, after=quota)
            member.quota = quota or None
    return member


def suspend(store: Store, actor: str, member_id: str, reason: str) -> Member:
    """Suspend a member: their sessions end, their keys stop working until reinstated, and the
    clips they had waiting are cancelled. What they made stays as it is."""
    reason = reason.strip()
    if not reason:
        raise Refused("invalid", "reason: say why (the member sees it)", "reason")
    with store.write() as session:
        member = _member_in(session, member_id)
        member.suspended_at, member.suspended_reason = time.time(), reason[:1000]
        session.execute(delete(MemberSession).where(MemberSession.member_id == member_id))
        audit.record(session, actor, "member.suspend", member_id, reason=reason[:1000])
    for waiting in queue.ids_waiting(store, member_id):
        queue.cancel(store, waiting)
    return member


def reinstate(store: Store, actor: str, member_id: str) -> Member:
    with store.write() as session:
        member = _member_in(session, member_id)
        member.suspended_at = member.suspended_reason = None
        audit.record(session, actor, "member.reinstate", member_id)
    return member


# A member's own API keys

def own_keys(store: Store, member_id: str) -> list[ApiKey]:
    with store.read() as session:
        return list(session.scalars(select(ApiKey).where(ApiKey.member_id == member_id)
                                    .order_by(ApiKey.created_at)))
