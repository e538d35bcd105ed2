"""Moderation after the fact, never before: anyone reports a shared clip, and it stays shared
while the report waits; a moderator then dismisses the report, or hides the clip (out of the
feed; its link still plays) or removes it (served to no one but moderators; its artist still sees
it listed, with the reason), and may restore it. Every moderator's action is written to the audit
log in the same transaction as the action itself.

`may_see` is the one rule for who may see a moderated clip; the API calls it for every way a clip
is shown (api/moderation.py `check_shown`)."""

from __future__ import annotations

import hashlib
import time

from sqlalchemy import func, or_, select, update

from . import audit, queue
from .schema import Report, Video
from .store import Store

REASONS = ("spam", "harassment", "hate", "sexual", "violence", "illegal", "copyright", "other")
STATUSES = ("open", "actioned", "dismissed")
HIDDEN, REMOVED = "hidden", "removed"
ACTIONS = {"hide": HIDDEN, "remove": REMOVED, "restore": None}
MAX_NOTE = 1000
MAX_REASON = 1000  # a moderator's reason, shown to the artist
MAX_OPEN_PER_REPORTER = 50  # open reports one reporter may have waiting, over all clips


class Refused(Exception):
    """What was asked cannot be done. `kind` says why, for the API's status: invalid (400),
    not_found (404), removed (410), duplicate or not_open or not_moderated (409), too_many (429)."""

    def __init__(self, kind: str, message: str, param: str | None = None):
        super().__init__(message)
        self.kind, self.message, self.param = kind, message, param


def may_see(video: Video, client: str | None, moderator: bool, content: bool = True) -> bool:
    """Whether a caller may see a clip: a removed clip's content (its files, GIF, preview frame) only
    moderators; its object (with the moderation state and reason) its artist too. A hidden clip is
    only out of the feed: anyone holding its link sees it."""
    if video.moderation != REMOVED or moderator:
        return True
    return not content and client is not None and video.client == client


def not_removed():
    """The SQL condition for clips not removed (in listings shown to others than their artist)."""
    return or_(Video.moderation.is_(None), Video.moderation != REMOVED)


def anonymous_reporter(address: str) -> str:
    """How an anonymous reporter is told apart (one open report per clip): their address, hashed,
    so the store keeps no address."""
    return "anon:" + hashlib.sha256(address.encode()).hexdigest()[:32]


def report(store: Store, video_id: str, reporter: str, reason: str, note: str = "") -> Report:
    """A new open report of a clip that exists and is not removed; one open report per reporter
    (a client id, or anonymous_reporter()) per clip. Nothing happens to the clip."""
    if reason not in REASONS:
        raise Refused("invalid", f"reason: one of {', '.join(REASONS)} (got {reason!r})", "reason")
    note = note.strip()
    if len(note) > MAX_NOTE:
        raise Refused("invalid", f"note: at most {MAX_NOTE} characters", "note")
    with store.write() as session:
        # The clip's row is locked (PostgreSQL), so two reports of one reporter cannot both pass the check.
        video = session.get(Video, video_id, with_for_update=True)
        if video is None:
            raise Refused("not_found", f"no video with id {video_id!r}", "video_id")
        if video.moderation == REMOVED:
            raise Refused("removed", f"video {video_id!r} has been removed by the server's moderators", "video_id")
        if session.scalar(select(Report.id).where(Report.video_id == video_id, Report.reporter == reporter,
                                                  Report.status == "open").limit(1)):
            raise Refused("duplicate", "you have reported this video already; the moderators will look at it",
                          "video_id")
        waiting = session.scalar(select(func.count()).select_from(Report).where(
            Report.reporter == reporter, Report.status == "open")) or 0
        if waiting >= MAX_OPEN_PER_REPORTER:
            raise Refused("too_many", f"you have {waiting} reports waiting for the moderators; try again once they "
                                      "have looked at them", "video_id")
        row = Report(id=queue.new_id("rep_"), video_id=video_id, reporter=reporter, reason=reason, note=note,
                     status="open", created_at=time.time())
        session.add(row)
    return row


def reports(store: Store, status: str = "open", limit: int = 100) -> list[tuple[Report, Video]]:
    """Reports with their clips: open ones oldest first (the queue), resolved ones newest first."""
    if status not in STATUSES:
        raise Refused("invalid", f"status: one of {', '.join(STATUSES)} (got {status!r})", "status")
    query = select(Report, Video).join(Video, Video.id == Report.video_id).where(Report.status == status)
    if status == "open":
        query = query.order_by(Report.created_at, Report.id)
    else:
        query = query.order_by(Report.resolved_at.desc(), Report.id.desc())
    with store.read() as session:
        return [(found, video) for found, video in session.execute(query.limit(limit))]


def get_report(store: Store, report_id: str) -> tuple[Report, Video]:
    with store.read() as session:
        row = session.execute(select(Report, Video).join(Video, Video.id == Report.video_id)
                              .where(Report.id == report_id)).first()
    if row is None:
        raise Refused("not_found", f"no report with id {report_id!r}", "report_id")
    return row[0], row[1]


def dismiss(store: Store, actor: str, report_id: str, reason: str = "") -> Report:
    """Close an open report with nothing done to its clip."""
    reason = reason.strip()[:MAX_REASON]
    with store.write() as session:
        found = session.get(Report, report_id)
        if found is None:
            raise Refused("not_found", f"no report with id {report_id!r}", "report_id")
        if found.status != "open":
            raise Refused("not_open", f"report {report_id!r} is {found.status} already", "report_id")
        found.status, found.resolved_at, found.resolved_by = "dismissed", time.time(), actor
        found.resolution = reason or "dismissed"
        audit.record(session, actor, "report.dismiss", report_id, video=found.video_id, reason=reason)
    return found


def moderate(store: Store, actor: str, video_id: str, action: str, reason: str = "") -> Video:
    """Hide, remove or restore a clip. Hiding or removing needs a reason (its artist sees it) and
    resolves the clip's open reports as actioned."""
    if action not in ACTIONS:
        raise Refused("invalid", f"action: one of {', '.join(ACTIONS)} (got {action!r})", "action")
    reason = reason.strip()
    state = ACTIONS[action]
    if state is not None and not reason:
        raise Refused("invalid", "reason: say why (the artist sees it)", "reason")
    if len(reason) > MAX_REASON:
        raise Refused("invalid", f"reason: at most {MAX_REASON} characters", "reason")
    now = time.time()
    with store.write() as session:
        video = session.get(Video, video_id, with_for_update=True)
        if video is None:
            raise Refused("not_found", f"no video with id {video_id!r}", "video_id")
        if state is None and video.moderation is None:
            raise Refused("not_moderated", f"video {video_id!r} is neither hidden nor removed", "action")
        before = video.moderation
        video.moderation, video.moderation_reason = state, reason if state is not None else None
        resolved = []
        if state is not None:
            resolved = list(session.scalars(select(Report.id).where(Report.video_id == video_id,
                                                                    Report.status == "open")))
            if resolved:
                session.execute(update(Report).where(Report.id.in_(resolved)).values(
                    status="actioned", resolved_at=now, resolved_by=actor, resolution=f"{state}: {reason}"))
        audit.record(session, actor, f"video.{action}", video_id, before=before, reason=reason, reports=resolved)
    return video
