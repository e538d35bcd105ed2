"""What a directed request (extend, re-cut, follows, blend, loop, edit) gives an open model to work
from, and which of a pass's frames become the clip.

    request              written first            the new frames start from     they lead into (not written)
    extend (re-cut)      the clip up to the cut   its last frames               -
    follows              -                        the followed clip's last ones -
    extend + blend_into  clip A                   A's last frames               B's first frame; B follows
    loop (with image)    -                        the image (written)           the image again

A pass makes a count of frames its model's rule allows, and the frames it is conditioned on take
places in it: the leading ones (a continuation's context) and, for an end frame, the one just
after the new frames. Where that count and the plan's do not meet, a continuation drops what the
pass made past the end, and a pass pinned at both ends keeps its frames spread evenly in time.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from PIL import Image

from ...media.inputs import count_frames, read_image, read_video

# Frame rules stepping by up to this many frames round a pass up (a few frames of extra work, none
# held); coarser ones (CogVideoX 1.5 makes 81 or 161) round down and hold a frame or two instead.
FINE_STEP = 8


@dataclass(frozen=True)
class Ends:
    kept: list[Image.Image]  # written before the new frames (extend: the clip up to the cut)
    context: list[Image.Image]  # the frames the new ones continue from; not written again
    start: Image.Image | None  # loop: the first frame, written as the clip's first
    end: Image.Image | None  # the frame just after the new ones, not written: blend's B, a loop's image

    @property
    def directed(self) -> bool:
        return bool(self.context) or self.start is not None or self.end is not None


def read_ends(plan, context_frames: int) -> Ends:
    """The frames a request's inputs give, at the plan's size and rate; `context_frames` of the
    source's last frames are the context (the model's overlap, or 1 for image-to-video)."""
    request = plan.request
    size = (plan.width, plan.height)
    kept = read_video(request.extend, *size, plan.fps, plan.kept_frames) if request.extend else []
    source = kept
    if request.follows:
        source = read_video(request.follows, *size, plan.fps, count_frames(request.follows, plan.fps, "follows"))
    start = read_image(request.image, *size) if request.loop else None
    end = start
    if request.blend_into:
        end = read_video(request.blend_into, *size, plan.fps, 1)[0]
    return Ends(kept=kept, context=source[-context_frames:] if source else [], start=start, end=end)


def trailing(plan) -> Iterator[Image.Image]:
    """A blend's last part: the clip it leads into, whole."""
    if plan.request.blend_into:
        yield from read_video(plan.request.blend_into, plan.width, plan.height, plan.fps, plan.trailing_frames)


def read_edit(plan, step: int) -> list[Image.Image]:
    """The clip an edit restyles, as many frames as the plan makes. The model's frame rule may round
    the clip's length up by less than a step: its last frame is held for those."""
    request = plan.request
    size = (plan.width, plan.height)
    short = plan.frames - count_frames(request.video, plan.fps, "video")
    if 0 < short < step:
        clip = read_video(request.video, *size, plan.fps, plan.frames - short)
        return clip + clip[-1:] * short
    return read_video(request.video, *size, plan.fps, plan.frames)


def allowed_at_least(rule: tuple[int, int, int], count: int) -> int:
    """The fewest frames the rule (fewest, step, most) allows that are at least count, at most its most."""
    fewest, step, most = rule
    return min(fewest + -(-max(count - fewest, 0) // step) * step, most)


def context_length(rule: tuple[int, int, int], overlap: int, available: int) -> int:
    """How many of a source's last frames a pass can be conditioned on: up to the overlap, and a
    count the VAE encodes whole (1 + k * step: LTX's condition pipeline keeps only that many)."""
    step = rule[1]
    return 1 + (min(overlap, available) - 1) // step * step if available else 0


def spread(available: int, wanted: int) -> list[int]:
    """wanted positions out of available frames, evenly in time, the first and last kept (a few
    dropped, or a few shown twice)."""
    if wanted == 1:
        return [available - 1]
    return [round(i * (available - 1) / (wanted - 1)) for i in range(wanted)]


def one_pass(rule: tuple[int, int, int], new: int, skip: int, pinned_end: bool) -> tuple[int, list[int]]:
    """A single pass for `new` frames after `skip` leading context frames (and, when pinned_end,
    before an end frame): its length, and the positions in it that are written, in order."""
    need = skip + new + pinned_end
    length = allowed_at_least(rule, need)
    if length > need and rule[1] > FINE_STEP:
        length = max(rule[0], length - rule[1])
    available = length - skip - pinned_end
    if available >= new and not pinned_end:  # a continuation: what the pass made past the end is dropped
        return length, list(range(skip, skip + new))
    return length, [skip + position for position in spread(available, new)]


@dataclass(frozen=True)
class Segment:
    """One pass of a clip made segment by segment (LTX-Video's condition pipeline)."""

    length: int  # frames the pass makes
    skip: int  # leading frames it is conditioned on, not written again
    write: int  # new frames written after them
    end_at: int | None  # where the end frame is placed (just after the written ones), on the last pass


def segments(rule: tuple[int, int, int], new: int, overlap: int, context: int, pinned_end: bool) -> list[Segment]:
    """The passes that make `new` frames: the first conditioned on `context` leading frames (0: none),
    each later one on the last `overlap` frames of the one before, the last one ending on the end
    frame when pinned_end. Every length is one the rule allows; only the last pass is shorter than
    the longest."""
    most = rule[2]
    passes: list[Segment] = []
    made = 0
    while True:
        left = new - made
        need = context + left + pinned_end
        if need <= most:
            end_at = context + left if pinned_end else None
            return passes + [Segment(allowed_at_least(rule, need), context, left, end_at)]
        passes.append(Segment(most, context, most - context, None))
        made += most - context
        context = overlap
