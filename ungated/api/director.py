"""The director: makes storyboards (jobs/schema.Board) shot by shot and stitches them.

A board being made ("making") is advanced one move at a time: the first shot without a finished
take gets one queued (a video like any other, following the previous shot's take where the model
continues clips); a take that failed or was cancelled stops the board ("failed", saying which shot
and why; making it again goes on from there); once every shot has a finished take, the takes are
stitched into one clip, signed with every take listed as an ingredient, and recorded as a video of
its own. Stitching is done again only when the takes it was made of change.

Who moves a board: a task in every server process (`run_forever`, twice a second over the boards
being made) and the board's own polls (GET /api/boards/{id}, which never stitch, so a poll never
waits for one). Two movers never act on one board at once: each first claims it with a conditional
UPDATE of `busy_until`. The API's edits of a board (in one locked transaction each) may still land
while a mover works, so a mover saves only if the board is unchanged since it read it (its
`updated_at`), and otherwise undoes what it made; the next move starts from the new board.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Iterable

import av
from sqlalchemy import select, update

from ..errors import UngatedError
from ..jobs import outages, queue
from ..jobs.schema import Board, Video
from ..media.pipeline import placed_together
from ..media.stitch import stitch, write_previews
from ..provenance import c2pa_manifest
from ..provenance.credentials import load
from ..request import MAX_SEED
from .access import limits_of
from .errors import ApiError
from .service import NewInput, Studio

log = logging.getLogger("ungated.api")

DRAFT, MAKING, COMPLETED, FAILED = "draft", "making", "completed", "failed"
TICK_SECONDS = 0.5
BUSY_SECONDS = 60.0  # a claim on a board; renewed as each clip is stitched, so a dead mover's lapses


def take_ids(board: Board) -> list[str | None]:
    return [shot.get("video") for shot in board.shots]


def takes_of(session, boards: Iterable[Board]) -> dict[str, Video]:
    """The takes of boards' shots and their stitched clips, by id, in one query."""
    ids = {video_id for board in boards for video_id in (*take_ids(board), board.result_video) if video_id}
    return {video.id: video for video in session.scalars(select(Video).where(Video.id.in_(ids)))} if ids else {}


def shot_seed(board: Board, index: int) -> int:
    """The seed of a shot's take: its own when it was regenerated with one, else the board's seed
    plus the shot's place, so a board made again makes the same takes."""
    shot = board.shots[index]
    return shot["seed"] if shot.get("seed") is not None else (board.settings["seed"] + index) % (MAX_SEED + 1)


def is_stitched(board: Board, takes: dict[str, Video]) -> bool:
    """Whether the board's stitched clip is there and made of its shots' current takes."""
    return board.result_video in takes and board.stitched_from == take_ids(board)


class Director:
    def __init__(self, studio: Studio):
        self.studio = studio

    # 1. Moving boards forward.
    async def run_forever(self) -> None:
        while True:
            try:
                for board_id in await asyncio.to_thread(self.making):
                    await asyncio.to_thread(self.advance, board_id)
            except Exception as err:
                if outages.classify(err) is None:
                    log.exception("advancing storyboards failed; trying again")
                else:
                    log.warning("storyboards wait for the store: %s", outages.describe(err))
            await asyncio.sleep(TICK_SECONDS)

    def making(self) -> list[str]:
        with self.studio.store.read() as session:
            return list(session.scalars(select(Board.id).where(Board.status == MAKING)))

    def advance(self, board_id: str, stitch: bool = True) -> None:
        """Make the board's next move, if it is being made and no one else is moving it."""
        claim = self._claim(board_id)
        if claim is None:
            return
        try:
            self._move(board_id, stitch, claim)
        finally:
            with self.studio.store.write(durable=False) as session:
                session.execute(update(Board).where(Board.id == board_id, Board.busy_until == claim[0])
                                .values(busy_until=0.0))

    def nudge(self, board_id: str) -> None:
        """A move that never stitches, for the API's own calls: a failure is logged, and the board
        shown as it is (the director tries again on its next round)."""
        try:
            self.advance(board_id, stitch=False)
        except Exception as err:
            if outages.classify(err) is not None:
                raise
            log.exception("moving board %s on failed; trying again", board_id)

    def _claim(self, board_id: str) -> list[float] | None:
        """A claim on a board being made that no one holds ([its busy_until], renewed in place), or None."""
        now = time.time()
        until = now + BUSY_SECONDS
        with self.studio.store.write(durable=False) as session:
            claimed = session.execute(update(Board).where(Board.id == board_id, Board.status == MAKING,
                                                          Board.busy_until < now).values(busy_until=until)).rowcount
        return [until] if claimed else None

    def _renew(self, board_id: str, claim: list[float]) -> None:
        until = time.time() + BUSY_SECONDS
        with self.studio.store.write(durable=False) as session:
            session.execute(update(Board).where(Board.id == board_id, Board.busy_until == claim[0])
                            .values(busy_until=until))
        claim[0] = until

    def _move(self, board_id: str, stitch: bool, claim: list[float]) -> None:
        with self.studio.store.read() as session:
            board = session.get(Board, board_id)
            if board is None or board.status != MAKING:
                return
            takes = takes_of(session, [board])
        for index, shot in enumerate(board.shots):
            take = takes.get(shot.get("video"))
            if take is None:
                return self._queue(board, index, takes)
            if take.status in (queue.FAILED, queue.CANCELLED):
                why = take.error_message or take.status
                return self._save(board, status=FAILED, error_message=f"shot {index + 1}: {why}")
            if take.status != queue.COMPLETED:
                return  # being made
        if is_stitched(board, takes):
            self._save(board, status=COMPLETED, error_message=None)
        elif stitch:
            self._stitch(board, takes, lambda: self._renew(board_id, claim))

    def _queue(self, board: Board, index: int, takes: dict[str, Video]) -> None:
        """Queue a take of a shot: the board's settings and the shot's prompt, length and seed; its
        image as the first frame, or else the previous shot's take to follow where the model can."""
        shot, studio = board.shots[index], self.studio
        fields = {**board.settings, "prompt": shot["prompt"], "seconds": shot["seconds"],
                  "seed": shot_seed(board, index)}
        if shot.get("character"):
            fields["characters"] = [shot["character"]]
        inputs = {}
        try:
            if shot.get("image"):
                inputs["image"] = NewInput.copy_of(studio.storage.resolve(shot["image"]))
            elif index and studio.engine(studio.model_for(board.model)).capabilities.verbs()["continue"]:
                previous = takes[board.shots[index - 1]["video"]]
                inputs["follows"] = NewInput.copy_of(studio.storage.resolve(previous.result))
            [take] = studio.create(fields, board.client, board.model, inputs, public=False,
                                   limits=limits_of(studio, board.client))
        except ApiError as err:
            if err.status == 429 and err.param in (None, "concurrent_jobs"):
                return  # over the key's rate or the member's clips at once: the shot waits for their other videos
            return self._save(board, status=FAILED, error_message=f"shot {index + 1}: {err.message}")
        except UngatedError as err:  # the model went away, or a character or image is gone
            return self._save(board, status=FAILED, error_message=f"shot {index + 1}: {err}")
        shots = [dict(s) for s in board.shots]
        shots[index]["video"] = take.id
        if not self._save(board, shots=shots):
            self.studio.delete(take.id)  # the board was edited meanwhile; the next move decides afresh

    def _save(self, board: Board, **values) -> bool:
        """Write values to the board unless it was edited since it was read."""
        with self.studio.store.write() as session:
            return session.execute(update(Board).where(Board.id == board.id, Board.updated_at == board.updated_at)
                                   .values(**values, updated_at=later(board.updated_at))).rowcount == 1

    # 2. Stitching.
    def _stitch(self, board: Board, takes: dict[str, Video], renew) -> None:
        shots = [takes[video_id] for video_id in take_ids(board)]
        try:
            video = self.stitched(board, shots, lambda _index: renew())
        except (UngatedError, av.error.FFmpegError, OSError) as err:  # a take unreadable, the certificate wrong, ...
            self._save(board, status=FAILED, error_message=f"stitching the takes failed: {err}")
            return
        if not self._save(board, status=COMPLETED, error_message=None, result_video=video.id,
                          stitched_from=[take.id for take in shots]):
            self.studio.delete(video.id)

    def stitched(self, board: Board, takes: list[Video], on_clip) -> Video:
        """The takes joined into one clip, signed with each of them as an ingredient, and recorded as
        a finished video of the board's owner."""
        studio, storage = self.studio, self.studio.storage
        video_id = queue.new_id()
        path = storage.clip_path(video_id, secrets.token_hex(8))
        model_id = takes[0].model
        prompts = " / ".join(shot["prompt"] for shot in board.shots)  # what made it, for its manifest
        caption = board.title or prompts  # what the studio shows as its prompt
        shared = board.settings.get("provenance") or {}
        published = shared.get("publish_prompt", True)
        artist = studio.artist_of(board.client)
        about = c2pa_manifest.Authorship(model=model_id, artist=artist, prompt=prompts if published else None,
                                         seed=board.settings["seed"] if published else None, video_id=video_id,
                                         storyboard=board.id)
        ingredients = [c2pa_manifest.Ingredient(storage.resolve(take.result), f"shot {index + 1}", take.id)
                       for index, take in enumerate(takes)]
        tags = {"comment": f"a storyboard of {len(takes)} shots made with {model_id} by ungated", "model": model_id,
                "artist": artist, **({"title": caption} if published else {})}
        try:
            with placed_together(path) as temp:
                # What the model needs to go on from the joined clip (the built-in model's scenes), so
                # it extends, edits and blends like a clip it made itself.
                lengths = [(ingredient.path, take.seconds) for ingredient, take in zip(ingredients, takes)]
                tags |= studio.engine(model_id).joined_tags(lengths)
                made = stitch([ingredient.path for ingredient in ingredients], temp.video,
                              {key: value for key, value in tags.items() if value}, on_clip)
                write_previews(temp.video, made.frames, temp.thumbnail, temp.spritesheet)
                c2pa_manifest.sign(temp.video, about, load(), title=board.title or f"storyboard {board.id}",
                                   ingredients=ingredients)
            request = {"prompt": caption[:2000], "seconds": round(made.seconds, 3),
                       "size": f"{made.width}x{made.height}", "fps": round(made.fps), "storyboard": board.id,
                       **({"provenance": shared} if shared else {})}
            job = queue.NewJob(model=model_id, requested_model=board.model, request=request, prompt=caption,
                               size=request["size"], seconds=made.seconds, seed=board.settings["seed"],
                               steps=sum(take.steps for take in takes))
            return queue.record_made(studio.store, video_id, job, storage.relative(path), board.client, artist,
                                     public=published)
        except BaseException:
            storage.remove_video(video_id)
            raise


def later(then: float) -> float:
    """A time after both then and now: an edit's mark that differs from the one before it."""
    return max(time.time(), then + 1e-3)
