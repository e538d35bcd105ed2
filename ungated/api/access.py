"""Who is asking, and what they may do.

Local (the default): one user, open, no key needed; the caller is "local" and may do anything.
Public (`serve --public`): anyone may read what has been shared (the feed, a video by its id, its
files and progress) and report it; creating videos, listing one's own and favourites need an
identity: a member signed in with the session cookie, a member's own API key, or a key made on
the command line (`Authorization: Bearer ugk_...`, as the openai client sends it). A key or a
session is honoured in local mode too, so one server can tell several local users apart.

Roles: member, moderator (reports, hiding and removing clips, suspending members), admin
(everything). A member is the same client (their member id) by cookie or by any of their keys, so
what they make is theirs either way. A write made with the cookie must carry the session's CSRF
token in X-CSRF-Token: another site can make a browser send the cookie, never read the token.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass

from fastapi import Depends, Request

from ..jobs import audit, keys, members
from ..jobs.queue import Limits
from ..jobs.quotas import UNLIMITED, Quota
from ..jobs.schema import ApiKey, Member, Video
from .errors import ApiError
from .service import Studio

LOCAL = "local"
SESSION_COOKIE = "ungated_session"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
ADMIN_PER_MINUTE = 1000
UNBOUNDED = 1_000_000  # clips at once, for a quota that sets no limit


@dataclass(frozen=True)
class Caller:
    client: str | None  # None: anonymous, on a public server
    admin: bool = False
    limits: Limits | None = None
    role: str = "member"  # anonymous, member, moderator or admin
    name: str | None = None  # a member's name
    csrf_token: str | None = None  # signed in with the session cookie (not a key): the token its writes carry

    @property
    def by_cookie(self) -> bool:
        return self.csrf_token is not None

    @property
    def moderator(self) -> bool:
        return self.admin or self.role == "moderator"

    @property
    def member_id(self) -> str | None:
        """The member this caller is (by cookie or their own key), or None."""
        return self.client if self.name is not None else None

    def owns(self, video: Video) -> bool:
        return self.client is not None and video.client == self.client

    def sees_prompt_of(self, video: Video) -> bool:
        """Whether a prompt kept private (and its seed) may be shown to this caller."""
        return self.admin or self.owns(video)


def studio(request: Request) -> Studio:
    return request.app.state.studio


def _bearer(request: Request) -> str | None:
    scheme, _, secret = request.headers.get("authorization", "").partition(" ")
    return secret.strip() if scheme.lower() == "bearer" and secret.strip() else None


def caller(request: Request, studio: Studio = Depends(studio)) -> Caller:
    secret = _bearer(request)
    key = keys.find(studio.store, secret) if secret and secret.startswith(keys.PREFIX) else None
    if key is not None:
        return _by_key(studio, key)
    if secret and studio.config.public:
        raise ApiError(401, "the API key is not valid (make one in the studio's Account page, or ask the server's "
                            "admin)", code="invalid_api_key")
    cookie = request.cookies.get(SESSION_COOKIE)
    signed = members.session_of(studio.store, cookie) if cookie and not secret else None
    if signed is not None:
        if request.method not in SAFE_METHODS and not secrets.compare_digest(
                request.headers.get(CSRF_HEADER, "").encode(), signed.csrf_token.encode()):
            raise ApiError(403, "this change came without the page's CSRF token (X-CSRF-Token); reload the studio "
                                "and try again", code="csrf_failed")
        return as_member(studio, signed.member, signed.csrf_token)
    if not studio.config.public:
        return Caller(LOCAL, admin=True, role="admin")
    return Caller(None, role="anonymous")


def _by_key(studio: Studio, key: ApiKey) -> Caller:
    if key.member_id is None:  # a key made on the command line: its own limits and admin flag
        role = "admin" if key.admin else "member"
        return Caller(key.id, key.admin, Limits(key.per_minute, key.concurrent), role=role)
    return _member_caller(studio, key.member_id, "the API key's member is gone")


def _member_caller(studio: Studio, member_id: str, gone: str) -> Caller:
    """The member as a caller; a 401 saying `gone` where there is no such member any more."""
    try:
        member = members.get(studio.store, member_id)
    except members.Refused:
        raise ApiError(401, gone, code="invalid_api_key") from None
    return as_member(studio, member)


def as_member(studio: Studio, member: Member, csrf_token: str | None = None) -> Caller:
    if member.suspended_at is not None:
        raise ApiError(403, f"your account is suspended: {member.suspended_reason or 'no reason given'}",
                       code="suspended")
    admin = member.role == "admin"
    quota = quota_of(studio, member)
    limits = Limits(ADMIN_PER_MINUTE if admin else keys.DEFAULT_PER_MINUTE,
                    UNBOUNDED if quota.concurrent_jobs is None else quota.concurrent_jobs, quota)
    return Caller(member.id, admin, limits, role=member.role, name=member.name, csrf_token=csrf_token)


def quota_of(studio: Studio, member: Member) -> Quota:
    """A member's quota: the server's (none for admins), with their overrides."""
    return (UNLIMITED if member.role == "admin" else studio.config.quota).over(member.quota)


def limits_of(studio: Studio, client: str) -> Limits | None:
    """The limits a client's own requests have, for work the server does on its behalf later (a
    storyboard's shots): a member's quota, a key's limits; none for admins and local. A revoked
    key or a suspended member asks for nothing more (ApiError)."""
    if client.startswith(members.MEMBER_PREFIX):
        return _member_caller(studio, client, "the member this belongs to is gone").limits
    with studio.store.read() as session:
        key = session.get(ApiKey, client)
    if key is not None and key.revoked_at is not None:
        raise ApiError(401, "the API key this belongs to was revoked", code="invalid_api_key")
    return None if key is None or key.admin else Limits(key.per_minute, key.concurrent)


async def asker(request: Request) -> tuple[Studio, Caller]:
    """The studio and the caller, as the `studio` and `caller` dependencies give them, for an
    async endpoint: a worker thread only when a key or a session must be looked up."""
    the_studio = studio(request)
    if _bearer(request) is None and SESSION_COOKIE not in request.cookies:
        return the_studio, caller(request, the_studio)
    return the_studio, await asyncio.to_thread(caller, request, the_studio)


def signed_in(who: Caller = Depends(caller)) -> Caller:
    """A caller who has an identity: any local caller, a signed-in member, or one with a key."""
    if who.client is None:
        raise ApiError(401, "this server is public: sign in (or sign up with an invite) in the studio, or send an "
                            "API key as `Authorization: Bearer ugk_...`", code="missing_api_key")
    return who


def moderator_only(who: Caller = Depends(signed_in)) -> Caller:
    if not who.moderator:
        raise ApiError(403, "only the server's moderators and admins may do this", code="not_moderator")
    return who


def admin_only(who: Caller = Depends(signed_in)) -> Caller:
    if not who.admin:
        raise ApiError(403, "only the server's admins may do this", code="not_admin")
    return who


def may_change(who: Caller, video: Video) -> None:
    if not (who.admin or who.owns(video)):
        raise ApiError(403, f"video {video.id!r} is not yours; only its owner or an admin may change it",
                       "video_id", "not_owner")


def audit_if_not_own(studio: Studio, who: Caller, video: Video, action: str) -> None:
    """An admin's change to another's video goes to the audit log (local mode's one user excepted)."""
    if who.client not in (LOCAL, video.client):
        audit.log(studio.store, who.client, action, video.id, owner=video.client)
