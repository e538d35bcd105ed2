"""Moderation after the fact, over HTTP: anyone reports a clip (anonymous too, on a public
server) and it stays shared; moderators read the queue, dismiss reports, and hide, remove or
restore clips. The rules live in jobs/moderation.py; `check_shown` is how every route that shows a
clip applies its one rule for removed clips (410 `removed`)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from ..jobs import moderation, queue
from ..jobs.schema import Report, Video
from ..request import Text
from .access import Caller, caller, moderator_only, studio
from .errors import ApiError
from .service import Studio, removed

router = APIRouter(prefix="/api", tags=["moderation"])

STATUS = {"invalid": 400, "not_found": 404, "removed": 410, "duplicate": 409, "not_open": 409,
          "not_moderated": 409, "too_many": 429}


def refused(err: moderation.Refused) -> ApiError:
    return ApiError(STATUS[err.kind], err.message, err.param, err.kind)


def check_shown(video: Video, request: Request | None, who: Caller | None = None, content: bool = True) -> None:
    """Refuse (410 `removed`) a removed clip to whoever may not see it (moderation.may_see): its
    content to all but moderators, its video object to all but its artist and moderators. The
    caller is looked up only for a removed clip, so serving the others costs nothing more."""
    if video.moderation != moderation.REMOVED:
        return
    who = who if who is not None else caller(request, studio(request))
    if not moderation.may_see(video, who.client, who.moderator, content):
        raise removed(video.id)


def moderation_of(video: Video, who: Caller) -> dict | None:
    """The clip's moderation state and reason, for its artist and moderators (None for others)."""
    if not (who.moderator or who.owns(video)):
        return None
    return {"state": video.moderation, "reason": video.moderation_reason}


class NewReport(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Literal[moderation.REASONS] = Field(description="What is wrong with the clip")
    note: Text = Field("", max_length=moderation.MAX_NOTE, description="Anything the moderators should know")


class Dismissal(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Text = Field("", max_length=moderation.MAX_REASON)


class Action(BaseModel):
    model_config = ConfigDict(extra="forbid")
    action: Literal["hide", "remove", "restore"]
    reason: Text = Field("", max_length=moderation.MAX_REASON, description="Required to hide or remove: the artist "
                                                                           "sees it")


Id = Annotated[str, Path(max_length=40)]


def report_object(found: Report, video: Video, who: Caller) -> dict:
    """A report as moderators see it: the clip it is about (a prompt its artist keeps private stays
    hidden unless the moderator is an admin), never who reported it."""
    private = video.prompt_private and not who.sees_prompt_of(video)
    thumbnail = f"/v1/videos/{video.id}/content?variant=thumbnail" if video.status == queue.COMPLETED else None
    return {"id": found.id,
            "video": {"id": video.id, "prompt": None if private else video.prompt, "artist": video.artist,
                      "status": video.status, "public": video.public, "thumbnail": thumbnail,
                      "share": f"/v/{video.id}", "moderation": moderation_of(video, who)},
            "reason": found.reason, "note": found.note, "status": found.status, "created_at": found.created_at,
            "resolved_at": found.resolved_at, "resolved_by": found.resolved_by, "resolution": found.resolution}


@router.post("/videos/{video_id}/reports", status_code=201)
def report_video(video_id: Id, body: NewReport, request: Request, studio: Studio = Depends(studio),
                 who: Caller = Depends(caller)) -> dict:
    """Report a clip to the server's moderators (anyone may; one open report per person per clip).
    The clip stays shared until a moderator acts."""
    reporter = who.client or moderation.anonymous_reporter(request.client.host if request.client else "unknown")
    try:
        found = moderation.report(studio.store, video_id, reporter, body.reason, body.note)
    except moderation.Refused as err:
        raise refused(err) from None
    return {"id": found.id, "status": found.status}


@router.get("/reports")
def list_reports(status: Literal["open", "actioned", "dismissed"] = "open",
                 limit: Annotated[int, Query(ge=1, le=500)] = 100, studio: Studio = Depends(studio),
                 who: Caller = Depends(moderator_only)) -> dict:
    """The report queue (open reports, oldest first), or the reports resolved (newest first)."""
    return {"data": [report_object(found, video, who)
                     for found, video in moderation.reports(studio.store, status, limit)]}


@router.post("/reports/{report_id}/dismiss")
def dismiss_report(report_id: Id, body: Dismissal, studio: Studio = Depends(studio),
                   who: Caller = Depends(moderator_only)) -> dict:
    """Close a report with nothing done to its clip."""
    try:
        moderation.dismiss(studio.store, who.client, report_id, body.reason)
        return report_object(*moderation.get_report(studio.store, report_id), who)
    except moderation.Refused as err:
        raise refused(err) from None


@router.post("/videos/{video_id}/moderation")
def moderate_video(video_id: Id, body: Action, studio: Studio = Depends(studio),
                   who: Caller = Depends(moderator_only)) -> dict:
    """Hide a clip (out of the feed; its link still plays), remove it (its page and files answer
    410 to all but moderators; its artist sees the reason), or restore it. Hiding or removing
    resolves the clip's open reports as actioned."""
    from .studio import one_video  # studio.py uses check_shown from here

    try:
        moderation.moderate(studio.store, who.client, video_id, body.action, body.reason)
    except moderation.Refused as err:
        raise refused(err) from None
    return one_video(video_id, studio, who)
