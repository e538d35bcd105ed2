"""`ungated invites` and `ungated members`: a community server's people, from the command line
(the studio's admin view does the same). The first admin of a public server comes in by an invite
made here: `ungated invites create --role admin`."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from .errors import UngatedError
from .serve import DbOption, _store

invites_app = typer.Typer(help="Invite links for a public server's members (`serve --public`).",
                          no_args_is_help=True)
members_app = typer.Typer(help="A public server's members: list them, set roles, suspend and reinstate.",
                          no_args_is_help=True)
ACTOR = "cli"  # what the audit log records for actions taken here


def _refused(err) -> UngatedError:
    return UngatedError(err.message)


def _when(at: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(at)) if at else ""


@invites_app.command("create")
def create_invite(
    uses: Annotated[int, typer.Option(help="How many people may sign up with the link.", min=1, max=10_000)] = 1,
    expires: Annotated[float, typer.Option(help="Hours until the link expires (0: never).", min=0)] = 168,
    role: Annotated[str, typer.Option(help="What its members become: member, moderator or admin.")] = "member",
    note: Annotated[str, typer.Option(help="A note for admins (who it is for).")] = "",
    url: Annotated[str, typer.Option(help="The server's address, as members reach it.")] = "http://127.0.0.1:8000",
    db: DbOption = None,
) -> None:
    """Make an invite link and print it (shown only this once)."""
    from .jobs import members

    try:
        invite, code = members.create_invite(_store(db), ACTOR, uses, expires or None, role, note)
    except members.Refused as err:
        raise _refused(err) from None
    print(f"{url.rstrip('/')}/join/{code}")
    lasts = f"until {_when(invite.expires_at)}" if invite.expires_at else "with no expiry"
    typer.echo(f"invite {invite.id}: {uses} sign-up(s) as {role}, {lasts}. Send the link above; it is not stored.",
               err=True)


@invites_app.command("list")
def list_invites(db: DbOption = None) -> None:
    """List invites (never their codes)."""
    from rich.console import Console
    from rich.table import Table

    from .jobs import members

    table = Table("id", "role", "used", "expires", "note", "state")
    now = time.time()
    for invite in members.invites(_store(db)):
        state = ("revoked" if invite.revoked_at else "expired" if invite.expires_at and invite.expires_at <= now
                 else "used up" if invite.used >= invite.uses else "live")
        table.add_row(invite.id, invite.role, f"{invite.used}/{invite.uses}", _when(invite.expires_at) or "never",
                      invite.note, state)
    Console().print(table)


@invites_app.command("revoke")
def revoke_invite(invite_id: Annotated[str, typer.Argument(help="The invite's id (from `ungated invites list`).")],
                  db: DbOption = None) -> None:
    """Revoke an invite: its link no longer signs anyone up."""
    from .jobs import members

    try:
        members.revoke_invite(_store(db), ACTOR, invite_id)
    except members.Refused as err:
        raise _refused(err) from None
    typer.echo(f"revoked {invite_id}", err=True)


@members_app.command("list")
def list_members(db: DbOption = None) -> None:
    """List members, their roles and whether they are suspended."""
    from rich.console import Console
    from rich.table import Table

    from .jobs import members

    table = Table("id", "name", "role", "joined", "state")
    for member in members.all_members(_store(db)):
        state = f"suspended: {member.suspended_reason}" if member.suspended_at else "active"
        table.add_row(member.id, member.name, member.role, _when(member.created_at), state)
    Console().print(table)


def _member_id(store, who: str) -> str:
    """A member's id from their id or name."""
    from .jobs import members

    for member in members.all_members(store):
        if who in (member.id, members.name_key(member.name)) or members.name_key(who) == member.name_key:
            return member.id
    raise UngatedError(f"MEMBER: no member {who!r}; see `ungated members list`")


MemberArgument = Annotated[str, typer.Argument(help="The member's name or id (from `ungated members list`).")]


@members_app.command("role")
def set_role(member: MemberArgument,
             role: Annotated[str, typer.Argument(help="member, moderator or admin.")],
             db: DbOption = None) -> None:
    """Give a member a role."""
    from .jobs import members

    store = _store(db)
    try:
        changed = members.change(store, ACTOR, _member_id(store, member), role=members.check_role(role))
    except members.Refused as err:
        raise _refused(err) from None
    typer.echo(f"{changed.name} is now {changed.role}", err=True)


@members_app.command("suspend")
def suspend(member: MemberArgument,
            reason: Annotated[str, typer.Option(help="Why: the member sees it.")],
            db: DbOption = None) -> None:
    """Suspend a member: they are signed out, their keys stop working, their waiting clips are cancelled."""
    from .jobs import members

    store = _store(db)
    try:
        changed = members.suspend(store, ACTOR, _member_id(store, member), reason)
    except members.Refused as err:
        raise _refused(err) from None
    typer.echo(f"suspended {changed.name}", err=True)


@members_app.command("reinstate")
def reinstate(member: MemberArgument, db: DbOption = None) -> None:
    """Lift a member's suspension."""
    from .jobs import members

    store = _store(db)
    changed = members.reinstate(store, ACTOR, _member_id(store, member))
    typer.echo(f"reinstated {changed.name}", err=True)


@members_app.command("password")
def reset_password(member: MemberArgument, db: DbOption = None) -> None:
    """Set a new password for a member who lost theirs (asked for twice, never shown); their sessions end."""
    from .jobs import members

    store = _store(db)
    member_id = _member_id(store, member)
    new = typer.prompt("New password", hide_input=True, confirmation_prompt=True)
    try:
        members.set_password(store, member_id, new, actor=ACTOR)
    except members.Refused as err:
        raise _refused(err) from None
    typer.echo("password changed; give it to them by a private channel", err=True)
