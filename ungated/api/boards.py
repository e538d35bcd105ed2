"""Storyboards at /api/boards: a board is shots made in order, each continuing from the one
before where the model can, stitched into one clip (the director, director.py, makes them).

A board's settings are the request fields every shot shares (size or aspect and resolution, fps,
seed, steps, guidance, negative prompt, LoRAs, provenance); each shot has its prompt, length and
optionally a first-frame image or a character. Everything is checked when a board is saved, so
making it later fails only for what changed meanwhile (a model no longer served, a character
deleted). Only the board's owner (or an admin) sees or changes it: to anyone else it does not
exist (404).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from ..errors import InvalidRequest
from ..jobs import queue
from ..jobs.schema import Board, Character, Video
from ..request import MAX_SEED, Text
from .access import Caller, signed_in, studio
from .bodies import check_values, data_url_bytes
from .director import DRAFT, MAKING, Director, is_stitched, later, shot_seed, take_ids, takes_of
from .errors import not_found
from .service import NewInput, Studio
from .studio import studio_object

router = APIRouter(prefix="/api/boards")
MAX_SHOTS = 24
# The request fields a board's shots share; prompt and seconds are each shot's own.
SHARED = ("negative_prompt", "aspect", "resolution", "size", "fps", "seed", "steps", "guidance", "loras", "provenance")
PER_SHOT = ("prompt", "seconds", "image", "character", "characters")
SHOT_CONTENT = ("prompt", "seconds", "image", "character")  # a change of any makes the shot's take out of date


class Shot(BaseModel):
    """A shot as a client sends it. In a PATCH, a shot with an `id` is that shot of the board, with
    the fields given changed (`"image": null` removes its image); one without is new."""

    model_config = ConfigDict(extra="forbid")
    id: str | None = Field(default=None, max_length=40)
    prompt: Text | None = Field(default=None, max_length=2000)
    seconds: float | None = None
    character: str | None = Field(default=None, max_length=40)  # a character's id
    image: str | None = Field(default=None, max_length=30_000_000)  # the first frame, as a data URL


class NewBoard(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: Text = Field(default="", max_length=200)
    model: str | None = Field(default=None, max_length=64)
    settings: dict = Field(default_factory=dict)
    shots: list[Shot] = Field(min_length=1, max_length=MAX_SHOTS)


class BoardChanges(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: Text | None = Field(default=None, max_length=200)
    shots: list[Shot] | None = Field(default=None, min_length=1, max_length=MAX_SHOTS)  # the whole timeline


class Regeneration(BaseModel):
    model_config = ConfigDict(extra="forbid")
    prompt: Text | None = Field(default=None, max_length=2000)
    seconds: float | None = None
    seed: int | None = Field(default=None, ge=0, le=MAX_SEED)  # default: a new one, for a new take


def director(request: Request) -> Director:
    return request.app.state.director


# 1. Checking what a client sends.
def checked_settings(studio: Studio, model: str | None, settings: dict) -> dict:
    """The settings every shot shares, checked against the model, with a seed chosen if none is given."""
    check_values(settings, "settings")
    for name in settings:
        if name not in SHARED:
            why = "is set on each shot" if name in PER_SHOT else f"is not a setting shots share ({', '.join(SHARED)})"
            raise InvalidRequest(f"settings.{name}", why)
    settings = {name: value for name, value in settings.items() if value is not None}
    settings.setdefault("seed", random.randrange(MAX_SEED + 1))
    try:
        studio.plan({**settings, "prompt": "a storyboard shot"}, model)
    except InvalidRequest as err:
        if err.field == "model":
            raise
        raise InvalidRequest(f"settings.{err.field}", err.message) from None
    return settings


def checked_shots(studio: Studio, board: Board, given: list[Shot], existing: list[dict]) -> tuple[list[dict], dict]:
    """The board's new timeline from the shots a client sent (existing ones named by id), each
    checked against the board's model and settings, and the images to write: {index: NewInput}.
    A shot's `image` is left as a placeholder where a new image is to be written."""
    old = {shot["id"]: shot for shot in existing}
    caps = studio.engine(studio.model_for(board.model)).capabilities
    shots, images, seen = [], {}, set()
    for index, sent in enumerate(given):
        where, changed = f"shots.{index}", sent.model_fields_set
        if sent.id is not None and (sent.id not in old or sent.id in seen):
            raise InvalidRequest(f"{where}.id", f"no shot {sent.id!r} on this board" if sent.id not in old
                                 else f"shot {sent.id!r} is in the list twice")
        before = old.get(sent.id, {})
        seen.add(sent.id)
        if sent.prompt is None and not before:
            raise InvalidRequest(f"{where}.prompt", "a new shot needs a prompt")
        shot = {"id": sent.id or queue.new_id("shot_")[:17], "prompt": sent.prompt or before.get("prompt"),
                "seconds": sent.seconds if "seconds" in changed else before.get("seconds"),
                "character": sent.character if "character" in changed else before.get("character"),
                "image": before.get("image") if "image" not in changed else None}
        if sent.image:
            images[index] = studio.check_image(data_url_bytes(sent.image, f"{where}.image"), f"{where}.image")
            shot["image"] = "<new>"
        if shot["image"] and not caps.image_input:
            raise InvalidRequest(f"{where}.image", f"model {board.model} does not start from an image")
        if caps.image_required and not shot["image"] and not (index and caps.verbs()["continue"]):
            raise InvalidRequest(f"{where}.image", f"model {board.model} makes a video from an image; give this "
                                                   "shot one")
        if shot["character"]:
            _check_character(studio, board, shot["character"], caps.verbs()["characters"], f"{where}.character")
        shot["prompt"], shot["seconds"] = _checked_length(studio, board, caps, shot["prompt"], shot["seconds"], where)
        shots.append({name: value for name, value in shot.items() if value is not None})
    return shots, images


def _checked_length(studio: Studio, board: Board, caps, prompt: str, seconds: float | None,
                    where: str) -> tuple[str, float]:
    """The shot's prompt as the request keeps it and its length as the model makes it; a length
    the model cannot make is refused rather than changed."""
    try:
        the_plan = studio.plan({**board.settings, "prompt": prompt, "seconds": seconds}, board.model)
    except InvalidRequest as err:
        raise InvalidRequest(f"{where}.{err.field}", err.message) from None
    fps = the_plan.fps
    fewest, most = caps.frames_between(fps)
    if seconds is not None and not fewest - 0.5 <= seconds * fps <= most + 0.5:
        raise InvalidRequest(f"{where}.seconds", f"model {board.model} makes shots of {fewest / fps:g} to "
                                                 f"{most / fps:g} s at {fps} fps (got {seconds:g})")
    return the_plan.request.prompt, round(the_plan.seconds, 3)


def _check_character(studio: Studio, board: Board, character_id: str, usable: bool, where: str) -> None:
    if not usable:
        raise InvalidRequest(where, f"model {board.model} does not use characters")
    with studio.store.read() as session:
        found = session.scalar(select(Character.id).where(Character.id == character_id,
                                                          Character.client == board.client))
    if found is None:
        raise InvalidRequest(where, f"no character {character_id!r} of yours (GET /api/characters lists them)")


def _write_images(studio: Studio, shots: list[dict], images: dict[int, NewInput]) -> list[str]:
    """Write the new images under inputs/ and put their paths in their shots."""
    written = []
    for index, new in images.items():
        path = studio.storage.input_path(f"{queue.new_id('input_')}{new.suffix}")
        path.write_bytes(new.data)
        shots[index]["image"] = studio.storage.relative(path)
        written.append(shots[index]["image"])
    return written


def _remove_files(studio: Studio, relatives) -> None:
    for relative in relatives:
        studio.storage.resolve(relative).unlink(missing_ok=True)


def _merged(current: list[dict], shots: list[dict]) -> list[dict]:
    """The new timeline, each shot that was there keeping its take (and seed) unless what it shows
    changed; merged with the board as it is when the change is written."""
    now = {shot["id"]: shot for shot in current}
    merged = []
    for shot in shots:
        before = now.get(shot["id"], {})
        kept = ("seed", "video") if all(shot.get(k) == before.get(k) for k in SHOT_CONTENT) else ("seed",)
        merged.append(shot | {name: before[name] for name in kept if name in before})
    return merged


# 2. What a client sees.
def board_object(board: Board, takes: dict[str, Video], who: Caller) -> dict:
    shots = []
    for index, shot in enumerate(board.shots):
        take = takes.get(shot.get("video"))
        ended = take is not None and take.status in (queue.FAILED, queue.CANCELLED)
        shots.append({"id": shot["id"], "prompt": shot["prompt"], "seconds": shot["seconds"],
                      "character": shot.get("character"), "has_image": bool(shot.get("image")),
                      "seed": shot_seed(board, index), "video": take.id if take else None,
                      "status": take.status if take else "pending", "progress": take.progress if take else 0,
                      "error": (take.error_message or take.status) if ended else None})
    result = takes.get(board.result_video)
    return {"id": board.id, "title": board.title, "model": board.model, "settings": board.settings,
            "status": board.status, "progress": progress(board, takes), "shots": shots,
            "result": studio_object(result, who, False) if result else None,
            "stitched": is_stitched(board, takes), "error": board.error_message,
            "created_at": board.created_at, "updated_at": board.updated_at}


def progress(board: Board, takes: dict[str, Video]) -> int:
    """Across the whole board, each take's progress weighted by its shot's length; 100 only once stitched."""
    if is_stitched(board, takes):
        return 100
    total = sum(shot["seconds"] for shot in board.shots)
    done = 0.0
    for shot in board.shots:
        take = takes.get(shot.get("video"))
        done += shot["seconds"] * (0 if take is None else 100 if take.status == queue.COMPLETED else take.progress)
    return min(99, int(done / total))


def _answer(studio: Studio, board_id: str, who: Caller) -> dict:
    with studio.store.read() as session:
        board = _owned(session, board_id, who)
        return board_object(board, takes_of(session, [board]), who)


def _owned(session, board_id: str, who: Caller, lock: bool = False) -> Board:
    """The board, if the caller may see it; to anyone else it does not exist."""
    query = select(Board).where(Board.id == board_id)
    board = session.scalar(query.with_for_update() if lock else query)
    if board is None or not (who.admin or board.client == who.client):
        raise not_found("board", board_id)
    return board


def _edit(studio: Studio, board_id: str, who: Caller, change: Callable[[object, Board], None]) -> None:
    """change(session, board) in one transaction that holds the board's row."""
    with studio.store.write() as session:
        board = _owned(session, board_id, who, lock=True)
        change(session, board)
        board.updated_at = later(board.updated_at)


# 3. The routes.
@router.post("")
def create_board(body: NewBoard, studio: Studio = Depends(studio), who: Caller = Depends(signed_in)) -> dict:
    """A new board (a draft: POST /api/boards/{id}/make makes it)."""
    model = body.model or studio.model_for(None)
    now = time.time()
    board = Board(id=queue.new_id("board_"), client=who.client, title=body.title.strip(), model=model,
                  settings=checked_settings(studio, model, body.settings), shots=[], status=DRAFT,
                  busy_until=0.0, created_at=now, updated_at=now)
    shots, images = checked_shots(studio, board, body.shots, [])
    written = _write_images(studio, shots, images)
    board.shots = shots
    try:
        with studio.store.write() as session:
            session.add(board)
    except BaseException:
        _remove_files(studio, written)
        raise
    return _answer(studio, board.id, who)


@router.get("")
def list_boards(studio: Studio = Depends(studio), who: Caller = Depends(signed_in)) -> dict:
    """One's own boards, newest first."""
    with studio.store.read() as session:
        boards = list(session.scalars(select(Board).where(Board.client == who.client)
                                      .order_by(Board.created_at.desc(), Board.id.desc())))
        takes = takes_of(session, boards)
    return {"data": [board_object(board, takes, who) for board in boards]}


@router.get("/{board_id}")
def get_board(board_id: str, studio: Studio = Depends(studio), who: Caller = Depends(signed_in),
              mover: Director = Depends(director)) -> dict:
    """A board with each shot's take, progress across the whole board, and the stitched clip. A
    poll moves a board being made on at once (the next shot is queued as soon as one finishes)."""
    with studio.store.read() as session:
        board = _owned(session, board_id, who)
    if board.status == MAKING:
        mover.nudge(board_id)
    return _answer(studio, board_id, who)


@router.patch("/{board_id}")
def change_board(board_id: str, body: BoardChanges, studio: Studio = Depends(studio),
                 who: Caller = Depends(signed_in)) -> dict:
    """Change the title, or the timeline: the whole list of shots in order, existing ones by id
    (reorder, set lengths, change prompts, add, remove). A shot whose prompt, length, image or
    character changed is made again on the next make; the others keep their takes."""
    with studio.store.read() as session:
        board = _owned(session, board_id, who)
    shots, images = checked_shots(studio, board, body.shots, board.shots) if body.shots is not None else (None, {})
    written = _write_images(studio, shots, images) if shots is not None else []
    dropped: dict[str, set] = {"images": set(), "takes": set()}

    def change(_session, row: Board) -> None:
        if body.title is not None:
            row.title = body.title.strip()
        if shots is not None:
            merged = _merged(row.shots, shots)
            for name, key in (("images", "image"), ("takes", "video")):
                dropped[name] |= {s[key] for s in row.shots if s.get(key)} - {s.get(key) for s in merged}
            if merged != row.shots and row.status != MAKING:
                row.status = DRAFT
            row.shots = merged

    try:
        _edit(studio, board_id, who, change)
    except BaseException:
        _remove_files(studio, written)
        raise
    _remove_files(studio, dropped["images"])
    for video_id in dropped["takes"]:  # a take still being made is no longer wanted; finished ones stay
        queue.cancel(studio.store, video_id)
    return _answer(studio, board_id, who)


@router.post("/{board_id}/make")
def make_board(board_id: str, studio: Studio = Depends(studio), who: Caller = Depends(signed_in),
               mover: Director = Depends(director)) -> dict:
    """Make the board: every shot without a finished take gets one, in order, then they are
    stitched. A board that failed goes on from the shot that failed."""

    def change(session, board: Board) -> None:
        takes = takes_of(session, [board])
        ended = {video_id for video_id, take in takes.items() if take.status in (queue.FAILED, queue.CANCELLED)}
        board.shots = [{k: v for k, v in shot.items() if not (k == "video" and v in ended)} for shot in board.shots]
        board.status, board.error_message = MAKING, None

    _edit(studio, board_id, who, change)
    mover.nudge(board_id)
    return _answer(studio, board_id, who)


@router.post("/{board_id}/shots/{shot_id}/regenerate")
def regenerate_shot(board_id: str, shot_id: str, body: Regeneration, studio: Studio = Depends(studio),
                    who: Caller = Depends(signed_in), mover: Director = Depends(director)) -> dict:
    """A new take of one shot (a new seed unless `seed` is given; `prompt` and `seconds` change
    it), following the previous shot's current take; once made, the board is stitched again with
    the other shots' takes as they are."""
    with studio.store.read() as session:
        board = _owned(session, board_id, who)
    place = next((index for index, shot in enumerate(board.shots) if shot["id"] == shot_id), None)
    if place is None:
        raise not_found("shot", shot_id)
    changes = body.model_dump(exclude_unset=True, exclude={"seed"})
    sent = [Shot(id=shot["id"], **(changes if index == place else {})) for index, shot in enumerate(board.shots)]
    shot = checked_shots(studio, board, sent, board.shots)[0][place]
    replaced: list[str] = []

    def change(_session, row: Board) -> None:
        shots = [dict(s) for s in row.shots]
        index = next((i for i, s in enumerate(shots) if s["id"] == shot_id), None)
        if index is None:
            raise not_found("shot", shot_id)
        replaced.extend(video_id for video_id in [shots[index].pop("video", None)] if video_id)
        shots[index] |= {"prompt": shot["prompt"], "seconds": shot["seconds"],
                         "seed": body.seed if body.seed is not None else random.randrange(MAX_SEED + 1)}
        row.shots, row.status, row.error_message = shots, MAKING, None

    _edit(studio, board_id, who, change)
    for video_id in replaced:  # a take still being made is no longer wanted
        queue.cancel(studio.store, video_id)
    mover.nudge(board_id)
    return _answer(studio, board_id, who)


@router.delete("/{board_id}")
def delete_board(board_id: str, studio: Studio = Depends(studio), who: Caller = Depends(signed_in)) -> dict:
    """Delete a board and its images; takes still being made are cancelled. Finished takes and the
    stitched clip are videos of their own and stay (delete them as any video)."""
    with studio.store.write() as session:
        board = _owned(session, board_id, who, lock=True)
        takes = [video_id for video_id in take_ids(board) if video_id]
        images = [shot["image"] for shot in board.shots if shot.get("image")]
        session.delete(board)
    for video_id in takes:
        queue.cancel(studio.store, video_id)  # a finished take stays as it is
    _remove_files(studio, images)
    return {"id": board_id, "deleted": True}
