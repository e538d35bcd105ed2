"""Characters: named references a client keeps (an image, or a frame chosen from a clip) and uses in
any request by name, as "@name" in its prompt or in its `characters` field (ids or names).

What a character becomes depends on the model (`cast`, which Studio.create calls, so every entry
point and storyboard shot gets it): for a model that draws characters as objects (the built-in
model), the object of its world the image shows, saved as the character was made
(Request.characters); for a model that takes an image, the character's image as the first frame.
Other models refuse a character, naming the models that can.
"""

from __future__ import annotations

import io
import re
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ..engines.builtin.characters import describe_object
from ..errors import InvalidRequest
from ..jobs import queue
from ..jobs.schema import Character
from ..request import CHARACTER_MENTION
from .errors import ApiError, not_found

if TYPE_CHECKING:
    from .service import NewInput, Studio

NAME = re.compile(r"[^\W\d_][\w-]{0,39}")  # as a prompt's "@name" finds it (request.CHARACTER_MENTION)
NAME_RULE = "1 to 40 letters, digits, '_' or '-', starting with a letter"
MAX_PER_CLIENT = 100
# Inputs that already give a clip its first frames: a character's image cannot be its first frame too.
FIRST_FRAMES = ("image", "video", "extend", "follows")


class Characters:
    """The characters of each client, kept in the store with their image (a PNG under the storage
    root). Another client's character is never found: to them it does not exist (404)."""

    def __init__(self, studio: Studio):
        self.store, self.storage = studio.store, studio.storage

    def all(self, client: str) -> list[Character]:
        with self.store.read() as session:
            return list(session.scalars(select(Character).where(Character.client == client)
                                        .order_by(Character.created_at, Character.id)))

    def get(self, client: str, character_id: str) -> Character:
        with self.store.read() as session:
            character = session.get(Character, character_id)
        if character is None or character.client != client:
            raise not_found("character", character_id)
        return character

    def find(self, client: str, reference: str, mine: list[Character] | None = None) -> Character | None:
        """One of the client's characters by its id or its name (any case)."""
        mine = self.all(client) if mine is None else mine
        return next((c for c in mine if c.id == reference or c.name.casefold() == reference.casefold()), None)

    def image(self, character: Character) -> Path:
        return self.storage.resolve(character.image)

    def create(self, client: str, name: object, still: Image.Image, shown: Path | None = None, at: float = 0.0,
               source_video: str | None = None) -> Character:
        """A new character named `name` from a still (kept as a PNG), with the object the built-in
        model tells in `shown` at `at` seconds (the clip the still comes from; else the still), or
        None where it tells none."""
        if not isinstance(name, str) or not NAME.fullmatch(name):
            raise InvalidRequest("name", f"must be {NAME_RULE} (got {name!r})")
        mine = self.all(client)
        if (same := self.find(client, name, mine)) is not None:
            raise ApiError(409, f"you already have a character named {same.name!r}; choose another name or delete "
                                "that one", "name", "name_taken")
        if len(mine) >= MAX_PER_CLIENT:
            raise ApiError(409, f"you have {len(mine)} characters, the most one may keep; delete some first",
                           "name", "too_many_characters")
        character_id = queue.new_id("char_")
        path = self.storage.root / "characters" / f"{character_id}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        still.convert("RGB").save(path, format="PNG")
        try:
            character = Character(id=character_id, client=client, name=name, image=self.storage.relative(path),
                                  object=describe_object(shown or path, at), source_video=source_video,
                                  created_at=time.time())
            with self.store.write() as session:
                session.add(character)
        except IntegrityError:  # the same name, made by a request in between
            path.unlink(missing_ok=True)
            raise ApiError(409, f"you already have a character named {name!r}", "name", "name_taken") from None
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return character

    def from_clip(self, client: str, name: object, clip: NewInput, at: float | None,
                  source_video: str | None = None) -> Character:
        """A character from the frame of a clip at `at` seconds (default: its first frame)."""
        at = 0.0 if at is None else at
        with local_file(clip) as path:
            return self.create(client, name, frame_at(path, at, "at"), path, at, source_video)

    def from_image(self, client: str, name: object, image: NewInput) -> Character:
        with local_file(image) as path, Image.open(path) as still:
            return self.create(client, name, still)

    def delete(self, client: str, character_id: str) -> None:
        """Forget a character; the videos made with it keep their own copies of what they used."""
        character = self.get(client, character_id)
        with self.store.write() as session:
            row = session.get(Character, character.id)
            if row is not None:
                session.delete(row)
        self.image(character).unlink(missing_ok=True)


def frame_at(path: Path, at: float | None, param: str) -> Image.Image:
    """The frame of a clip showing at `at` seconds (None: its last frame), decoded from the start
    (clips are short; a seek lands on a keyframe and saves little)."""
    import av

    picked, rate = None, 24.0
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            rate = float(stream.average_rate or rate)
            for frame in container.decode(stream):
                if at is not None and picked is not None and frame.time is not None and frame.time > at + 1e-6:
                    break
                picked = frame
            else:
                length = (picked.time or 0) + 1 / rate if picked is not None else 0
                if picked is not None and at is not None and at > length + 1e-6:
                    raise InvalidRequest(param, f"must be within the clip, which is {length:.2f} s long (got {at:g})")
            image = picked.to_image() if picked is not None else None
    except (av.error.FFmpegError, OSError, IndexError):
        image = None
    if image is None:
        raise InvalidRequest(param, "the clip has no frame ungated can read")
    return image


@contextmanager
def local_file(new: NewInput) -> Iterator[Path]:
    """An input as a file: a stored one where it is, an upload written to a temporary file."""
    if new.source is not None:
        yield new.source
        return
    with tempfile.NamedTemporaryFile(suffix=new.suffix) as file:
        file.write(new.data)
        file.flush()
        yield Path(file.name)


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="PNG")
    return buffer.getvalue()


def cast(studio: Studio, fields: dict, inputs: dict[str, NewInput], client: str,
         model_id: str) -> tuple[dict, dict[str, NewInput]]:
    """A request's fields and inputs with its characters resolved for its model: each one its
    `characters` field names (an id or a name of the client's own), and each one "@name" in its
    prompt names. A saved object in `characters` (as a stored request holds it: a remix) is kept.

    An explicit character a model cannot use is refused, naming the field. A mention is words
    unless it names one of the client's characters; on a model that takes an image, a mention in a
    clip that already has its first frames (an image, an extension, an edit, a storyboard shot that
    follows another) is left as words: those frames show the character already."""
    from .service import NewInput  # service.py imports this module

    asked = fields.get("characters") or []
    if not isinstance(asked, list | tuple):
        raise InvalidRequest("characters", "must be a list of your characters' names or ids")
    prompt = fields.get("prompt")
    mentions = CHARACTER_MENTION.findall(prompt) if isinstance(prompt, str) else []
    if not any(isinstance(item, str) for item in asked) and not mentions:
        return fields, inputs
    saved = [item for item in asked if not isinstance(item, str)]
    mine = Characters(studio).all(client)
    chosen: list[Character] = []
    for index, reference in enumerate(item for item in asked if isinstance(item, str)):
        character = Characters(studio).find(client, reference, mine)
        if character is None:
            raise InvalidRequest(f"characters.{index}", f"you have no character {reference!r} (GET /api/characters "
                                                        "lists yours)")
        chosen.append(character)
    mentioned = [c for name in mentions for c in mine if c.name.casefold() == name.casefold()]
    used = list({c.id: c for c in [*chosen, *mentioned]}.values())
    if not used:
        return with_characters(fields, saved), inputs
    capabilities = studio.engine(model_id).capabilities
    if capabilities.character_objects:
        known = {str(item.get("name", "")).casefold() for item in saved if isinstance(item, dict)}
        for character in used:
            if character.object is None:
                raise InvalidRequest("characters", f"the built-in model could not tell what {character.name}'s image "
                                                   "shows (one shape of its world); make the character from a frame "
                                                   "that shows one clearly")
        objects = [{"name": c.name, **c.object} for c in used if c.name.casefold() not in known]
        return with_characters(fields, [*saved, *objects]), inputs
    if not capabilities.image_input:
        studio.check_verb("characters", model_id, "characters")
    started = next((name for name in FIRST_FRAMES if name in inputs), None)
    if not chosen and started:
        return with_characters(fields, saved), inputs
    if started:
        raise InvalidRequest("characters", f"model {model_id} shows a character as the clip's first frame, and this "
                                           f"clip's first frames come from `{started}`: give one or the other")
    if len(used) > 1:
        raise InvalidRequest("characters", f"model {model_id} shows a character as the clip's first frame, so it "
                                           f"takes one character (got {', '.join(c.name for c in used)})")
    return with_characters(fields, saved), {**inputs, "image": NewInput.copy_of(Characters(studio).image(used[0]))}


def with_characters(fields: dict, objects: list) -> dict:
    """fields with `characters` the saved objects given (and without it for none)."""
    rest = {name: value for name, value in fields.items() if name != "characters"}
    return {**rest, "characters": objects} if objects else rest
