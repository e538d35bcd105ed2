"""Members of a community server, over HTTP: sign-up, sign-in and out (a session cookie), one's
own API keys and quota; and, for moderators and admins, members, invites, roles, quotas,
suspensions, the audit log and the server's live figures. The rules live in jobs/members.py."""

from __future__ import annotations

import asyncio
import math
import time
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, Field

from ..jobs import audit, keys, members, quotas
from ..jobs.figures import server_figures
from ..jobs.schema import ApiKey, Invite, Member
from .access import (SESSION_COOKIE, Caller, admin_only, as_member, caller, moderator_only, quota_of, signed_in,
                     studio)
from .errors import ApiError
from .service import Studio

router = APIRouter(prefix="/api", tags=["members"])

STATUS = {"invalid": 400, "wrong_password": 401, "suspended": 403, "bad_invite": 403, "closed": 403,
          "not_found": 404, "taken": 409, "throttled": 429}
MAX_KEYS = 20  # live keys per member
QuotaValue = Annotated[int, Field(ge=0, le=10**9)] | Literal["unlimited"] | None


CODES = {"throttled": "too_many_attempts"}  # what the API calls a kind, where the two differ


def refused(err: members.Refused) -> ApiError:
    headers = {"Retry-After": str(math.ceil(err.retry_after))} if err.retry_after else None
    return ApiError(STATUS[err.kind], err.message, err.param, CODES.get(err.kind, err.kind), headers)


def session_object(studio: Studio, who: Caller) -> dict:
    member = None
    if who.member_id is not None:
        member = {"id": who.member_id, "name": who.name, "role": who.role, "suspended": False}
    return {"signed_in": member is not None, "member": member, "csrf_token": who.csrf_token,
            "signup": "open" if studio.config.open_signup else "invite", "public_server": studio.config.public}


def _start_session(request: Request, response: Response, studio: Studio, signed: members.SignedIn,
                   secret: str) -> dict:
    response.set_cookie(SESSION_COOKIE, secret, max_age=members.SESSION_DAYS * 86400, path="/", httponly=True,
                        samesite="lax", secure=request.url.scheme == "https")
    return session_object(studio, as_member(studio, signed.member, signed.csrf_token))


# Signing up, in and out

def _address(request: Request) -> str:
    """Where a sign-in comes from, for throttling per address."""
    return request.client.host if request.client else "unknown"


class SignIn(BaseModel):
    name: str = Field(max_length=200)
    password: str = Field(max_length=1000)


class SignUp(SignIn):
    invite: str | None = Field(None, max_length=200, description="The code of an invite link (/join/CODE)")


@router.get("/session")
def current_session(studio: Studio = Depends(studio), who: Caller = Depends(caller)) -> dict:
    """Who is signed in here, the CSRF token their writes must carry, and how this server signs people up."""
    return session_object(studio, who)


@router.post("/session")
def sign_in(body: SignIn, request: Request, response: Response, studio: Studio = Depends(studio)) -> dict:
    """Sign in with a name and password: a new session cookie (any earlier one of this browser is
    not reused). Failed attempts are throttled per name and per address. The body must be JSON (a
    form another site posts, even one of text/plain holding JSON, is refused): no login CSRF."""
    try:
        signed, secret = members.sign_in(studio.store, body.name, body.password, _address(request))
    except members.Refused as err:
        raise refused(err) from None
    return _start_session(request, response, studio, signed, secret)


@router.delete("/session")
def sign_out(request: Request, response: Response, studio: Studio = Depends(studio),
             who: Caller = Depends(caller)) -> dict:
    """Sign out: the session ends on the server, and the cookie is cleared."""
    if who.by_cookie:  # the caller dependency checked the CSRF token
        members.sign_out(studio.store, request.cookies[SESSION_COOKIE])
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax")
    return session_object(studio, Caller(None, role="anonymous"))


@router.post("/members", status_code=201)
def sign_up(body: SignUp, request: Request, response: Response, studio: Studio = Depends(studio)) -> dict:
    """Become a member (with an invite, or anyone when sign-up is open) and be signed in."""
    try:
        members.sign_up(studio.store, body.name, body.password, body.invite, studio.config.open_signup)
        signed, secret = members.sign_in(studio.store, body.name, body.password, _address(request))
    except members.Refused as err:
        raise refused(err) from None
    return _start_session(request, response, studio, signed, secret)


@router.get("/invites/{code}")
def check_invite(code: Annotated[str, Path(max_length=200)], studio: Studio = Depends(studio)) -> dict:
    """Whether an invite link can still be used, to greet whoever opens it."""
    invite = members.invite_status(studio.store, code)
    return {"valid": invite is not None, "role": invite.role if invite else None,
            "expires_at": invite.expires_at if invite else None}


class NewPassword(BaseModel):
    current: str = Field(max_length=1000)
    new: str = Field(max_length=1000)


@router.put("/me/password")
def change_password(body: NewPassword, request: Request, studio: Studio = Depends(studio),
                    who: Caller = Depends(signed_in)) -> dict:
    """Change your password (the current one is asked for); your other sessions are signed out."""
    try:
        members.set_password(studio.store, _member(who), body.new, current=body.current,
                             keep_secret=request.cookies.get(SESSION_COOKIE) if who.by_cookie else None)
    except members.Refused as err:
        raise refused(err) from None
    return {"changed": True}


# One's own keys and quota

class NewKey(BaseModel):
    name: str = Field(min_length=1, max_length=100)


def key_object(key: ApiKey) -> dict:
    return {"id": key.id, "name": key.name, "created_at": key.created_at, "revoked": key.revoked_at is not None}


def _member(who: Caller) -> str:
    if who.member_id is None:
        raise ApiError(403, "only a signed-in member has keys of their own here; keys for the whole server are "
                            "made with `ungated keys create`", code="not_member")
    return who.member_id


@router.get("/me/keys")
def my_keys(studio: Studio = Depends(studio), who: Caller = Depends(signed_in)) -> dict:
    return {"data": [key_object(key) for key in members.own_keys(studio.store, _member(who))]}


@router.post("/me/keys", status_code=201)
def make_key(body: NewKey, studio: Studio = Depends(studio), who: Caller = Depends(signed_in)) -> dict:
    """A new API key that acts as you (for the openai client and scripts). Its secret is shown once."""
    member_id = _member(who)
    live = [key for key in members.own_keys(studio.store, member_id) if key.revoked_at is None]
    if len(live) >= MAX_KEYS:
        raise ApiError(409, f"you have {MAX_KEYS} live keys; revoke one first", "name", "too_many_keys")
    key, secret = keys.create(studio.store, body.name.strip() or "key", member_id=member_id)
    return {**key_object(key), "secret": secret}


@router.delete("/me/keys/{key_id}")
def revoke_key(key_id: Annotated[str, Path(max_length=40)], studio: Studio = Depends(studio),
               who: Caller = Depends(signed_in)) -> dict:
    if not keys.revoke(studio.store, key_id, member_id=_member(who)):
        raise ApiError(404, f"you have no live key {key_id!r}", "key_id", "not_found")
    return {"id": key_id, "revoked": True}


@router.get("/me/quota")
def my_quota(studio: Studio = Depends(studio), who: Caller = Depends(signed_in)) -> dict:
    """Your limits (null: none), what you have used of them today, and when the day's count resets."""
    quota = who.limits.quota if who.limits else None
    with studio.store.read() as session:
        used = quotas.used(session, who.client)
    return {"limits": (quota or quotas.UNLIMITED).as_dict(), "used": used, "resets_at": quotas.resets_at(time.time())}


# Members, as moderators and admins see them

class MemberChange(BaseModel):
    role: Literal["member", "moderator", "admin"] | None = None
    quota: dict[Literal["clips_per_day", "gpu_seconds_per_day", "concurrent_jobs", "concurrent_trainings"],
                QuotaValue] | None = Field(None, description="Overrides: a number, \"unlimited\", or null for the "
                                                             "server's default")


class Suspension(BaseModel):
    reason: str = Field(min_length=1, max_length=1000)


def member_object(member: Member, studio: Studio, who: Caller) -> dict:
    shown = {"id": member.id, "name": member.name, "role": member.role, "created_at": member.created_at,
             "suspended": member.suspended_at is not None, "suspended_reason": member.suspended_reason}
    if who.admin:
        shown |= {"quota_overrides": member.quota or {}, "quota": quota_of(studio, member).as_dict()}
    return shown


@router.get("/members")
def list_members(studio: Studio = Depends(studio), who: Caller = Depends(moderator_only)) -> dict:
    return {"data": [member_object(m, studio, who) for m in members.all_members(studio.store)]}


@router.patch("/members/{member_id}")
def change_member(member_id: Annotated[str, Path(max_length=40)], body: MemberChange,
                  studio: Studio = Depends(studio), who: Caller = Depends(admin_only)) -> dict:
    """Set a member's role or quota overrides (admins)."""
    if member_id == who.member_id and body.role not in (None, who.role):
        raise ApiError(403, "you may not change your own role; ask another admin", "role", "own_role")
    try:
        quota = None
        if body.quota is not None:
            quota = dict(members.get(studio.store, member_id).quota or {})
            for name, value in body.quota.items():
                if value is None:  # back to the server's default
                    quota.pop(name, None)
                else:
                    quota[name] = value
        member = members.change(studio.store, who.client, member_id, body.role, quota)
    except members.Refused as err:
        raise refused(err) from None
    return member_object(member, studio, who)


@router.post("/members/{member_id}/suspend")
def suspend_member(member_id: Annotated[str, Path(max_length=40)], body: Suspension,
                   studio: Studio = Depends(studio), who: Caller = Depends(moderator_only)) -> dict:
    """Suspend a member (moderators: members only; admins: anyone but themselves). The reason is
    shown to them."""
    try:
        target = members.get(studio.store, member_id)
        if target.id == who.member_id:
            raise ApiError(403, "you may not suspend yourself", "member_id", "own_account")
        if target.role != "member" and not who.admin:
            raise ApiError(403, f"only an admin may suspend a {target.role}", "member_id", "not_admin")
        return member_object(members.suspend(studio.store, who.client, member_id, body.reason), studio, who)
    except members.Refused as err:
        raise refused(err) from None


@router.post("/members/{member_id}/reinstate")
def reinstate_member(member_id: Annotated[str, Path(max_length=40)], studio: Studio = Depends(studio),
                     who: Caller = Depends(moderator_only)) -> dict:
    try:
        return member_object(members.reinstate(studio.store, who.client, member_id), studio, who)
    except members.Refused as err:
        raise refused(err) from None


# Invites, the audit log and the server's figures (admins)

class NewInvite(BaseModel):
    uses: int = Field(1, ge=1, le=10_000, description="How many people may sign up with it")
    expires_in_hours: float | None = Field(168, gt=0, le=24 * 366, description="null: it never expires")
    role: Literal["member", "moderator", "admin"] = "member"
    note: str = Field("", max_length=200)


def invite_object(invite: Invite) -> dict:
    return {"id": invite.id, "role": invite.role, "uses": invite.uses, "used": invite.used,
            "expires_at": invite.expires_at, "note": invite.note, "created_by": invite.created_by,
            "created_at": invite.created_at, "revoked": invite.revoked_at is not None}


@router.get("/invites")
def list_invites(studio: Studio = Depends(studio), _who: Caller = Depends(admin_only)) -> dict:
    return {"data": [invite_object(invite) for invite in members.invites(studio.store)]}


@router.post("/invites", status_code=201)
def make_invite(body: NewInvite, request: Request, studio: Studio = Depends(studio),
                who: Caller = Depends(admin_only)) -> dict:
    """A new invite link. Its code is shown once: copy the link now."""
    try:
        invite, code = members.create_invite(studio.store, who.client, body.uses, body.expires_in_hours, body.role,
                                             body.note)
    except members.Refused as err:
        raise refused(err) from None
    return {**invite_object(invite), "code": code, "url": str(request.base_url) + f"join/{code}"}


@router.delete("/invites/{invite_id}")
def revoke_invite(invite_id: Annotated[str, Path(max_length=40)], studio: Studio = Depends(studio),
                  who: Caller = Depends(admin_only)) -> dict:
    try:
        members.revoke_invite(studio.store, who.client, invite_id)
    except members.Refused as err:
        raise refused(err) from None
    return {"id": invite_id, "revoked": True}


@router.get("/admin/audit")
def audit_log(limit: Annotated[int, Query(ge=1, le=500)] = 100, before: Annotated[int | None, Query(ge=1)] = None,
              studio: Studio = Depends(studio), _who: Caller = Depends(admin_only)) -> dict:
    """What moderators and admins did, newest first; `before` (an entry's id) pages back."""
    entries = audit.entries(studio.store, limit, before)
    return {"data": [{"id": e.id, "at": e.at, "actor": e.actor, "action": e.action, "target": e.target,
                      "detail": e.detail} for e in entries],
            "has_more": len(entries) == limit}


@router.get("/admin/figures")
async def figures(studio: Studio = Depends(studio), _who: Caller = Depends(admin_only)) -> dict:
    return await asyncio.to_thread(server_figures, studio.store)
