"""The `ungated` command."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, TimeElapsedColumn,
                           TimeRemainingColumn)
from rich.text import Text
from rich.table import Table

from . import __version__, community, serve, settings
from .options import (AttentionOption, CacheOption, CompileOption, Fp8Option, OffloadOption, QuantizeOption,
                      VaeTilingOption)
from .errors import GenerationCancelled, InvalidRequest, TrainingCancelled, UngatedError

app = typer.Typer(
    help="ungated: an open, self-hosted text-to-video studio.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
train_app = typer.Typer(help="Train models on the shapes world or on your own clips.", no_args_is_help=True)
app.add_typer(train_app, name="train")
models_app = typer.Typer(help="List models and download their weights.", invoke_without_command=True)
app.add_typer(models_app, name="models")
eval_app = typer.Typer(help="Measure how well models follow prompts.", no_args_is_help=True)
app.add_typer(eval_app, name="eval")
dataset_app = typer.Typer(help="Check folders of your own clips and captions for training.", no_args_is_help=True)
app.add_typer(dataset_app, name="dataset")
console = Console(stderr=True, soft_wrap=True)

# Request fields -> the CLI flag that sets them, so errors name what the user typed.
FLAGS = {
    "prompt": "PROMPT", "negative_prompt": "--negative", "seconds": "--seconds", "aspect": "--aspect",
    "resolution": "--resolution", "size": "--size", "fps": "--fps", "seed": "--seed", "variants": "--variants",
    "model": "--model", "image": "--image", "video": "--video", "extend": "--extend", "loop": "--loop",
    "extend_at": "--at", "follows": "--follows", "blend_into": "--blend-into", "characters": "--character",
    "steps": "--steps", "guidance": "--guidance", "loras": "--lora", "provenance.mark_text": "--mark",
    "provenance.mark_corner": "--mark-corner",
    "provenance.mark_opacity": "--mark-opacity",
}

class _ClipEtaColumn(ProgressColumn):
    """Time left by the task's ClipClock (stages.py): the whole clip, decoding and encoding
    included, ticking down between steps too."""

    def render(self, task) -> Text:
        clock = task.fields.get("clock")
        if clock is None:
            return Text("-:--:--", style="progress.remaining")
        left = int(clock.left_s())
        return Text(f"{left // 3600}:{left // 60 % 60:02d}:{left % 60:02d}" if left else "finishing",
                    style="progress.remaining")


def _progress_bar(clock=None) -> Progress:
    """A bar of steps; with a ClipClock, its ETA counts every stage of the clip, not the steps alone."""
    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(), TextColumn("ETA"), _ClipEtaColumn() if clock else TimeRemainingColumn(),
        console=console, transient=True,
    )


class _CtrlC:
    """The first Ctrl+C asks a training run to stop at the end of its step (it saves a checkpoint
    there); a second one interrupts at once."""

    def __init__(self) -> None:
        self.pressed = False

    def __enter__(self) -> "_CtrlC":
        import signal

        def first(signum, frame) -> None:
            self.pressed = True
            console.print("stopping after this step (Ctrl+C again to stop at once)", highlight=False)
            signal.signal(signal.SIGINT, signal.default_int_handler)

        self.previous = signal.signal(signal.SIGINT, first)
        return self

    def __exit__(self, *exc) -> None:
        import signal

        signal.signal(signal.SIGINT, self.previous)

    def __call__(self) -> bool:
        return self.pressed


def _prepare_with_bar(prepare, plan):
    """A trainer's prepare step (reading and caching the clips) under a progress bar; the clips it
    skips are listed."""
    with _progress_bar() as bar:
        task = bar.add_task("reading clips", total=None, info="")
        prepared = prepare(plan, lambda what, done, total: bar.update(task, description=what, completed=done,
                                                                       total=total))
    for problem in prepared.skipped:
        console.print(f"skipped: {problem.path}: {problem.what}", highlight=False, markup=False)
    return prepared


def _train_with_bar(train, plan, prepared) -> None:
    """A trainer's steps under a progress bar showing the loss; Ctrl+C stops at a step boundary."""
    with _progress_bar() as bar:
        task = bar.add_task("training", total=plan.steps, info="")

        def progress(step: int, total: int, loss: float) -> None:
            bar.update(task, completed=step, info=f"loss {loss:.4f}")

        with _CtrlC() as stop:
            train(plan, prepared, progress, should_cancel=stop,
                  on_sample=lambda path: console.print(f"sample: {path}", highlight=False))


def _check_model_path(model_path: Path | None) -> None:
    if model_path is not None and not model_path.is_dir():
        raise InvalidRequest("--model-path", f"folder {str(model_path)!r} does not exist")


def _lora_choice(text: str):
    from pydantic import ValidationError

    from .request import LoraChoice

    try:
        return LoraChoice.parse(text)
    except ValidationError as err:
        raise InvalidRequest("--lora", f"{text}: {err.errors()[0]['msg'].removeprefix('Value error, ')}") from None


def _characters(given: list[str], model: str, image: Path | None) -> tuple[list[dict], Path | None]:
    """--character NAME=FILE options as the request takes them: for the built-in model the objects
    their files show; for others the one character's image as the first frame."""
    from .engines.builtin.characters import describe_object

    characters = []
    for text in given:
        name, sep, file = text.partition("=")
        if not sep or not name or not file:
            raise InvalidRequest("--character", f"give NAME=FILE, e.g. Bob=bob.png (got {text!r})")
        if not Path(file).is_file():
            raise InvalidRequest("--character", f"no such file: {file}")
        if model == "builtin":
            shown = describe_object(Path(file))
            if shown is None:
                raise InvalidRequest("--character", f"the built-in model sees none of its shapes in {file}")
            characters.append({"name": name, **shown})
        elif image is not None or characters or len(given) > 1:
            raise InvalidRequest("--character", f"model {model} starts from one image: give one character or --image")
        else:
            image = Path(file)
    return characters, image


def _variant_paths(output: Path, count: int) -> list[Path]:
    if count == 1:
        return [output]
    return [output.with_name(f"{output.stem}-{i + 1}{output.suffix}") for i in range(count)]


@app.command()
def generate(
    prompt: Annotated[str, typer.Argument(help="What the video should show.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Where to write the MP4.")] = Path("clip.mp4"),
    seconds: Annotated[Optional[float], typer.Option(help="Clip length in seconds (model default if unset).")] = None,
    aspect: Annotated[Optional[str], typer.Option(help="16:9, 9:16 or 1:1.")] = None,
    resolution: Annotated[Optional[str], typer.Option(help="360p, 480p, 720p or 1080p.")] = None,
    size: Annotated[Optional[str], typer.Option(help="Explicit WIDTHxHEIGHT, instead of --aspect/--resolution.")] = None,
    fps: Annotated[Optional[int], typer.Option(help="Frames per second.")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Random seed; variants use seed, seed+1, ...")] = None,
    variants: Annotated[int, typer.Option(help="How many versions to make (1-4).")] = 1,
    model: Annotated[str, typer.Option(help="Model id; see `ungated models`.")] = "builtin",
    model_path: Annotated[
        Optional[Path], typer.Option(help="Read the model's weights from this folder (e.g. one you trained).")
    ] = None,
    negative: Annotated[str, typer.Option("--negative", help="What the video should not show.")] = "",
    steps: Annotated[Optional[int], typer.Option(help="Sampling steps (model default if unset).")] = None,
    guidance: Annotated[Optional[float], typer.Option(help="Guidance scale (model default if unset).")] = None,
    image: Annotated[Optional[Path], typer.Option(help="Start from this image (image-to-video models).")] = None,
    video: Annotated[Optional[Path], typer.Option(
        help="Edit this clip by prompt: the same motion, a new look (models that edit).")] = None,
    extend: Annotated[Optional[Path], typer.Option(
        help="Continue this clip: the result is it followed by --seconds more (models that extend).")] = None,
    at: Annotated[Optional[float], typer.Option(
        "--at", help="With --extend: re-cut, continuing from this second of the clip (what followed is dropped).")
    ] = None,
    follows: Annotated[Optional[Path], typer.Option(
        help="Start where this clip ends, without including it (a next shot; models that extend).")] = None,
    blend_into: Annotated[Optional[Path], typer.Option(
        "--blend-into", help="With --extend A: a transition of --seconds from A's end into this clip's start; "
                             "the result is A, the transition, then this clip (models that blend).")] = None,
    loop: Annotated[bool, typer.Option(
        "--loop", help="Make a seamless loop: the last frame flows into the first (models that loop).")] = False,
    character: Annotated[Optional[list[str]], typer.Option(
        help="NAME=FILE: a character the prompt names as @NAME, shown in FILE (an image, or a clip's first "
             "frame); the built-in model draws the object it shows, image models start from it. Repeatable.")
    ] = None,
    lora: Annotated[Optional[list[str]], typer.Option(
        help="Apply a LoRA: PATH or PATH:WEIGHT (1 as trained); repeat for several (open models).")] = None,
    artist: Annotated[Optional[str], typer.Option(
        help="Your name, credited in the clip's signed manifest [default: config.toml [provenance] artist].")] = None,
    private_prompt: Annotated[bool, typer.Option(
        "--private-prompt", help="Leave the prompt and seed out of the manifest and metadata.")] = False,
    watermark: Annotated[bool, typer.Option(help="Embed the invisible watermark.")] = True,
    mark: Annotated[Optional[str], typer.Option(help="A visible mark: your text in a corner of every frame.")] = None,
    mark_image: Annotated[Optional[Path], typer.Option(
        help="A visible mark: your logo (a PNG, transparency kept) in a corner of every frame.")] = None,
    mark_corner: Annotated[str, typer.Option(help="top-left, top-right, bottom-left or bottom-right.")] = "bottom-right",
    mark_opacity: Annotated[float, typer.Option(help="The visible mark's opacity, 0.05-1.")] = 0.6,
    offload: OffloadOption = None,
    fp8: Fp8Option = None,
    quantize: QuantizeOption = None,
    vae_tiling: VaeTilingOption = None,
    cache: CacheOption = "none",
    compile: CompileOption = False,
    attention: AttentionOption = None,
) -> None:
    """Make a video from a prompt."""
    from .engines.base import EngineOptions
    from .engines.catalog import get_engine
    from .engines.stages import ClipClock
    from .generate import generate_clips
    from .provenance import credentials
    from .provenance.visible import read_logo
    from .request import Request, plan

    if output.suffix.lower() != ".mp4":
        raise InvalidRequest("--output", f"must end in .mp4 (got {str(output)!r})")
    if not output.parent.is_dir():
        raise InvalidRequest("--output", f"folder {str(output.parent)!r} does not exist")
    _check_model_path(model_path)
    try:
        characters, image = _characters(character or [], model, image)
        request = Request.build(
            prompt=prompt, seconds=seconds, aspect=aspect, resolution=resolution, size=size, fps=fps, seed=seed,
            variants=variants, model=model, negative_prompt=negative, steps=steps, guidance=guidance, image=image,
            video=video, extend=extend, extend_at=at, follows=follows, blend_into=blend_into, loop=loop,
            characters=characters, loras=tuple(_lora_choice(text) for text in lora or ()),
            provenance={"publish_prompt": not private_prompt, "watermark": watermark, "mark_text": mark,
                        "mark_corner": mark_corner, "mark_opacity": mark_opacity},
        )
        options = EngineOptions(offload=offload, fp8=fp8, quantize=quantize, vae_tiling=vae_tiling, cache=cache,
                                compile=compile, attention=attention)
        engine = get_engine(request.model, model_path, options)
        the_plan = plan(request, engine.capabilities, engine.id)
    except InvalidRequest as err:
        raise InvalidRequest(FLAGS.get(err.field, err.field), err.message) from None
    if mark_image is not None:
        try:
            read_logo(mark_image)
        except InvalidRequest as err:
            raise InvalidRequest("--mark-image", err.message) from None
    credit = settings.config().get("provenance", {}).get("artist", "") if artist is None else artist
    if not engine.weights_present():
        engine.load()  # raises the one-line "how to get them" error
    signing = credentials.load()  # a configured key that cannot sign stops here, before any frame is made
    notes = engine.prompt_notes(request.prompt, request.characters)
    for note in [*the_plan.adjustments, *notes, *engine.setup_notes()]:
        console.print(f"[yellow]note:[/] {note}", highlight=False)

    paths = _variant_paths(output, request.variants)
    stages = engine.stage_estimate(the_plan)
    if stages:
        console.print(f"[yellow]note:[/] expected time about {_minutes(stages.total_s(the_plan.steps, len(paths)))}: "
                      f"text {stages.encode_s:.0f} s, {the_plan.steps} steps x {stages.step_s:.1f} s, "
                      f"decode {stages.decode_s:.0f} s per clip (measured on this model's full-size weights, "
                      "scaled to this size and machine)", highlight=False)
    clock = ClipClock(stages, the_plan.steps, len(paths)) if stages else None
    with _progress_bar(clock) as bar:
        task = bar.add_task("loading", total=the_plan.steps * len(paths), info="", clock=clock)

        def on_progress(variant: int, step: int, total: int) -> None:
            if clock:
                clock.progress(variant, step)
            bar.update(task, description="generating" if step < total else "decoding", total=total * len(paths),
                       completed=variant * total + step,
                       info=f"variant {variant + 1}/{len(paths)}  step {step}/{total}")

        written = generate_clips(engine, the_plan, paths, on_progress, artist=credit, mark_image=mark_image,
                                 credentials=signing)
    files = ", ".join(str(f.video) for f in written)
    print(
        f"wrote {files} ({the_plan.out_width}x{the_plan.out_height}, {the_plan.seconds:g} s at {the_plan.fps} fps, "
        f"seed {', '.join(map(str, the_plan.seeds))}) with thumbnail and spritesheet beside each"
    )
    if not credit:
        console.print("note: no artist is credited in the signed manifest; add --artist NAME or set "
                      "[provenance] artist in config.toml", highlight=False, markup=False)


VERB_SHORT = {"extend": "ext", "recut": "cut", "continue": "cont", "characters": "char"}  # `ungated models`' verbs


@models_app.callback()
def models(context: typer.Context) -> None:
    """List models: what they make, their size and licence, and whether their weights are here."""
    if context.invoked_subcommand is not None:
        return
    from .engines.catalog import get_engine, model_ids
    from .engines.open import memory
    from .settings import laptop_mode

    table = Table(title="ungated models", caption="verbs: ext extend, cut re-cut, cont continue (a storyboard's next "
                  "shot), char characters; GPU GB: estimated peak per --offload mode none/model/group/sequential "
                  "(see docs/open-models.md)")
    table.add_column("id", no_wrap=True)
    no_gpu = not memory.detect().accelerator and laptop_mode()
    columns = ["from", "verbs", "native size", "length", "download", "GPU GB", "licence", "weights"]
    if no_gpu:  # what runs here, and how long its 2-second clip takes (measured: docs/benchmarks.md)
        columns.insert(6, "this machine")
        table.caption += "; this machine: whether it runs without a GPU (laptop mode) and a 2 s clip's time"
    for column in columns:
        table.add_column(column)
    restricted = []
    for model_id in model_ids():
        engine = get_engine(model_id)
        caps = engine.capabilities
        inputs = [name for name, takes in (("text", not (caps.image_required or caps.ends_only)),
                                           ("image", caps.image_input), ("video", caps.video_input),
                                           ("first+last frame", caps.ends_only)) if takes]
        width, height = caps.sizes[0]
        more = f" +{len(caps.sizes) - 1}" if len(caps.sizes) > 1 else ""
        length = (f"{caps.describe_seconds().replace(' ', '')} @{caps.describe_fps()}" if caps.seconds_range
                  else f"{caps.describe_frames().split()[0]} @{caps.default_fps} ≤{caps.max_seconds:.1f}s")
        if engine.licence_restrictions:
            restricted.append(f"{model_id}: {engine.licence}: {engine.licence_restrictions}")
        verbs = " ".join(VERB_SHORT.get(verb, verb) for verb, offered in caps.verbs().items() if offered)
        cells = [
            model_id, "+".join(inputs), verbs or "-", "any" if caps.any_aspect else f"{width}x{height}{more}", length,
            "built in" if engine.download_gb is None else f"{engine.download_gb:.0f} GB",
            "/".join(f"{gb:.0f}" for gb in engine.memory_estimates().values()) or "-",
            engine.licence.split(" License")[0].removeprefix("Tencent ")
            + (" *" if engine.licence_restrictions else ""),
            "present" if engine.weights_present() else "missing",
        ]
        if no_gpu:
            cells.insert(7, _runs_here(engine))
        table.add_row(*cells)
    out = Console() if sys.stdout.isatty() else Console(width=240)  # piped: keep rows whole for grep
    out.print(table)
    for line in restricted:
        out.print(f"* {line}", highlight=False)


def _minutes(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"


def _runs_here(engine) -> str:
    """The laptop column: whether a model runs without a GPU, and how long its 2-second clip at the
    laptop default takes here, from the benchmark's figures scaled to this machine's cores."""
    from .engines.open import laptop
    from .request import Request, plan

    fits = getattr(engine, "laptop", None)
    precision = {"bfloat16": "bf16", "float32": "fp32"}.get(getattr(fits, "dtype", ""), "")
    if engine.download_gb is None:
        return "yes (built in)"
    if fits is None:
        return "no laptop mode"
    if fits.peak_gb > laptop.BUDGET_GB:
        return f"no: ~{fits.peak_gb:.0f} GB"
    the_plan = plan(Request.build(prompt="a clip", model=engine.id), engine.capabilities, engine.id)
    stages = engine.stage_estimate(the_plan)
    if stages is None:
        return f"yes, {precision}, not timed"
    return f"yes, {precision}, ~{_minutes(stages.clip_s(the_plan.steps))}"


@models_app.command("pull")
def models_pull(model_id: Annotated[str, typer.Argument(metavar="ID", help="A model id from `ungated models`.")]):
    """Download a model's weights into the Hugging Face cache (resumes an interrupted download)."""
    from .engines.catalog import get_engine
    from .engines.open.hub import pull
    from .engines.open.models import OPEN_MODELS

    get_engine(model_id)  # an unknown id stops here, listing the known ones
    if model_id not in OPEN_MODELS:
        print(f"{model_id} ships with ungated; nothing to download")
        return
    model = OPEN_MODELS[model_id]
    if model.licence.restrictions:
        console.print(f"note: {model_id} is under the {model.licence.name}: {model.licence.restrictions}",
                      highlight=False)

    def announce(gigabytes: float, files: int) -> None:
        console.print(f"downloading {model.repo}: {gigabytes:.1f} GB in {files} files", highlight=False)

    try:
        folder = pull(model, announce)
    except Exception as err:  # network, authentication or disk trouble: one line, nothing recorded
        reason = str(err).strip().splitlines()[0] if str(err).strip() else ""
        raise UngatedError(f"could not download {model.repo} ({type(err).__name__}: {reason}); "
                           "run the same command again to resume") from None
    print(f"{model_id} is ready ({folder})")


@train_app.command("builtin")
def train_builtin(
    data: Annotated[Optional[Path], typer.Option(
        help="A folder of your clips with captions (see `ungated dataset check`): train the built-in clip model "
             "on them. Without it, train the shapes model on the shapes world.")] = None,
    out: Annotated[Path, typer.Option(help="Folder to write the trained model to.")] = Path("builtin-model"),
    work_dir: Annotated[Optional[Path], typer.Option(
        help="Checkpoints, loss log, cached frames and samples (default: OUT/work).")] = None,
    seed: Annotated[int, typer.Option(help="Seed for the batches and the initial weights.")] = 0,
    init: Annotated[Optional[Path], typer.Option(
        help="With --data: fine-tune this clip model (one trained before) instead of starting from scratch.")] = None,
    steps: Annotated[Optional[int], typer.Option(help="With --data: training steps [default: 1500].")] = None,
    batch: Annotated[int, typer.Option(help="With --data: clips per step.")] = 4,
    learning_rate: Annotated[float, typer.Option(help="With --data: peak learning rate (cosine schedule).")] = 5e-4,
    sample_every: Annotated[int, typer.Option(
        help="With --data: write a sample clip to WORK_DIR/samples every N steps (0: only at the end).")] = 250,
    sample_prompt: Annotated[Optional[str], typer.Option(
        help="The samples' prompt [default: with --data the first clip's caption, without it \"a large red circle "
             "moving right on a blue background\"].")] = None,
    painter_steps: Annotated[Optional[int], typer.Option(help="Shape painter training steps [default: 600].")] = None,
    track_steps: Annotated[Optional[int], typer.Option(help="Track network training steps [default: 6000].")] = None,
) -> None:
    """Train the built-in model: on your own clips (--data DIR), or from scratch on the shapes world.
    Either run resumes from the checkpoint in WORK_DIR and writes to OUT: the model
    (model.safetensors, config.json), sample.mp4 (a clip of --sample-prompt it makes) and loss.png
    (the loss curve). WORK_DIR keeps checkpoint.pt and loss.csv; with --data also the cached
    frames (cache/) and a clip every --sample-every steps (samples/step-N.mp4)."""
    numbers = {"--painter-steps": painter_steps, "--track-steps": track_steps, "--steps": steps, "--batch": batch,
               "--learning-rate": learning_rate}
    for flag, value in numbers.items():
        if value is not None and value <= 0:
            raise InvalidRequest(flag, f"must be more than 0 (got {value:g})")
    if sample_every < 0:
        raise InvalidRequest("--sample-every", f"must be 0 or more (got {sample_every})")
    if data is None:
        for flag, value in (("--init", init), ("--steps", steps)):
            if value is not None:
                raise InvalidRequest(flag, "applies to training on your clips; add --data DIR")
        _train_shapes(out, work_dir, seed, painter_steps, track_steps, sample_prompt)
        return
    for flag, value in (("--painter-steps", painter_steps), ("--track-steps", track_steps)):
        if value is not None:
            raise InvalidRequest(flag, "applies to the shapes model; leave it out with --data")
    if not data.is_dir():
        raise InvalidRequest("--data", f"folder {str(data)!r} does not exist")
    _check_model_path(init)
    _train_clips(data, out, work_dir, seed, init, steps, batch, learning_rate, sample_every, sample_prompt)


def _train_shapes(out: Path, work_dir: Path | None, seed: int, painter_steps: int | None,
                  track_steps: int | None, sample_prompt: str | None) -> None:
    import shlex

    from .train.builtin import STAGES, TrainPlan, train

    steps = {"painter_steps": painter_steps, "track_steps": track_steps, "sample_prompt": sample_prompt}
    plan = TrainPlan(out_dir=out, work_dir=work_dir or out / "work", seed=seed,
                     **{k: v for k, v in steps.items() if v is not None})
    titles = {"painter": "shape painter", "tracks": "track network"}
    with _progress_bar() as bar:
        tasks = {stage: bar.add_task(titles[stage], total=plan.steps(stage), info="") for stage in STAGES}

        def progress(stage: str, step: int, total: int, loss: float) -> None:
            bar.update(tasks[stage], completed=step, info=f"loss {loss:.4f}")

        train(plan, progress)
    print(f"wrote {out} (model, sample.mp4, loss.png); make a clip with: ungated generate --model-path "
          f"{shlex.quote(str(out))} {shlex.quote(plan.sample_prompt)}")


def _train_clips(data: Path, out: Path, work_dir: Path | None, seed: int, init: Path | None, steps: int | None,
                 batch: int, learning_rate: float, sample_every: int, sample_prompt: str | None) -> None:
    from .train.clips import ClipTrainPlan, prepare, train

    extra = {"steps": steps} if steps is not None else {}
    plan = ClipTrainPlan(data_dir=data, out_dir=out, work_dir=work_dir or out / "work", init=init, seed=seed,
                         batch=batch, lr=learning_rate, sample_every=sample_every, sample_prompt=sample_prompt,
                         **extra)
    prepared = _prepare_with_bar(prepare, plan)
    config = prepared.config
    console.print(f"training on {prepared.count} clips at {config.width}x{config.height}, {config.frames} frames at "
                  f"{config.fps} fps; {len(config.vocabulary)} words" + (f", fine-tuning {init}" if init else ""),
                  highlight=False)
    _train_with_bar(train, plan, prepared)
    import shlex

    caption = next(iter(prepared.clips.values()))[0][0].caption
    print(f"wrote {out} (model, sample.mp4, loss.png); make a clip with: "
          f"ungated generate --model-path {shlex.quote(str(out))} {shlex.quote(caption)}")


@train_app.command("lora")
def train_lora(
    model: Annotated[str, typer.Option(help="The open model to train a LoRA for; see `ungated models`.")],
    data: Annotated[Path, typer.Option(help="A folder of your clips with captions (see `ungated dataset check`).")],
    out: Annotated[Path, typer.Option(help="The LoRA file to write (.safetensors, diffusers format).")] = Path(
        "lora.safetensors"),
    work_dir: Annotated[Optional[Path], typer.Option(
        help="Checkpoints, loss log, cached latents and samples (default: OUT without .safetensors, + -work).")] = None,
    model_path: Annotated[Optional[Path], typer.Option(help="Read the model's weights from this folder.")] = None,
    rank: Annotated[int, typer.Option(help="LoRA rank.")] = 32,
    alpha: Annotated[Optional[float], typer.Option(help="LoRA alpha [default: the rank].")] = None,
    learning_rate: Annotated[float, typer.Option(help="Peak learning rate (cosine schedule).")] = 1e-4,
    steps: Annotated[int, typer.Option(help="Training steps.")] = 1000,
    batch: Annotated[int, typer.Option(help="Clips per step.")] = 1,
    resolution: Annotated[int, typer.Option(
        help="Short side of the training size, in pixels (the model's native size scaled down to it).")] = 480,
    max_frames: Annotated[int, typer.Option(
        help="Longest clip trained on, in frames (the model's rule applies).")] = 49,
    base: Annotated[str, typer.Option(
        help="How the frozen model is held: bf16, fp8 (storage), int8 or nf4 (bitsandbytes, NVIDIA GPUs).")] = "bf16",
    optimizer: Annotated[str, typer.Option(
        help="adamw, adamw8bit (bitsandbytes), or auto: 8-bit when bitsandbytes and a GPU are here.")] = "auto",
    gradient_checkpointing: Annotated[bool, typer.Option(help="Recompute activations: less memory, slower steps.")
                                      ] = True,
    seed: Annotated[int, typer.Option(help="Seed for the batches and the LoRA's initial weights.")] = 0,
    checkpoint_every: Annotated[int, typer.Option(help="Save a resumable checkpoint every N steps.")] = 100,
    sample_every: Annotated[int, typer.Option(
        help="Write a sample clip to WORK_DIR/samples every N steps (0: only at the end).")] = 250,
    sample_prompt: Annotated[Optional[str], typer.Option(
        help="The samples' prompt [default: the first clip's caption].")] = None,
) -> None:
    """Train a LoRA for an open model (CogVideoX, LTX-Video, Wan, HunyuanVideo) on your clips.
    Latents and captions are encoded once and cached; the run resumes from its checkpoint; it ends
    with a sample clip and a loss curve beside the LoRA. Apply it with `ungated generate --lora`."""
    from .engines.open.models import OPEN_MODELS
    from .train.lora import BASES, LoraTrainPlan, is_trainable, prepare, train

    if model not in OPEN_MODELS or not is_trainable(OPEN_MODELS[model]):
        trainable = ", ".join(m.id for m in OPEN_MODELS.values() if is_trainable(m))
        hint = "; train the built-in model with `ungated train builtin --data DIR`" if model == "builtin" else ""
        raise InvalidRequest("--model", f"ungated trains LoRAs for: {trainable} (got {model!r}){hint}")
    if out.suffix != ".safetensors":
        raise InvalidRequest("--out", f"must end in .safetensors (got {str(out)!r})")
    if not data.is_dir():
        raise InvalidRequest("--data", f"folder {str(data)!r} does not exist")
    _check_model_path(model_path)
    for flag, value in (("--rank", rank), ("--learning-rate", learning_rate), ("--steps", steps), ("--batch", batch),
                        ("--checkpoint-every", checkpoint_every), ("--max-frames", max_frames)):
        if value <= 0:
            raise InvalidRequest(flag, f"must be more than 0 (got {value:g})")
    if not 64 <= resolution <= 1080:
        raise InvalidRequest("--resolution", f"must be from 64 to 1080 (got {resolution})")
    if base not in BASES:
        raise InvalidRequest("--base", f"must be one of {', '.join(BASES)} (got {base!r})")
    if optimizer not in ("auto", "adamw", "adamw8bit"):
        raise InvalidRequest("--optimizer", f"must be auto, adamw or adamw8bit (got {optimizer!r})")
    plan = LoraTrainPlan(
        model_id=model, data_dir=data, out=out, work_dir=work_dir or out.with_name(f"{out.stem}-work"),
        model_path=model_path, seed=seed, rank=rank, alpha=alpha or float(rank), lr=learning_rate, steps=steps,
        batch=batch, resolution=resolution, max_frames=max_frames, gradient_checkpointing=gradient_checkpointing,
        base=base, optimizer=optimizer, checkpoint_every=checkpoint_every, sample_every=sample_every,
        sample_prompt=sample_prompt)
    prepared = _prepare_with_bar(prepare, plan)
    import torch

    if not torch.cuda.is_available():
        console.print("note: no GPU found: training an open model's LoRA on the CPU is very slow", highlight=False)
    buckets = "; ".join(f"{bucket} ({len(group)})" for bucket, group in prepared.items.items())
    console.print(f"training a rank-{rank} LoRA for {model} on {prepared.count} clips: {buckets}", highlight=False)
    _train_with_bar(train, plan, prepared)
    import shlex

    print(f"wrote {out} (sample and loss curve beside it); use it with: ungated generate --model {model} "
          f"--lora {shlex.quote(str(out))} {shlex.quote(next(iter(prepared.items.values()))[0][0])}")


@eval_app.command("builtin")
def eval_builtin(
    model_path: Annotated[
        Optional[Path], typer.Option(help="A built-in model folder (default: the shipped weights).")
    ] = None,
    sets: Annotated[
        Optional[list[str]],
        typer.Option("--set", help="A set of clips to judge (repeat for several): 1:1 (64x64, 2 s at 8 fps), "
                                   "16:9 (256x144, 10 s at 24 fps) or 9:16 (144x256, 10 s at 24 fps). "
                                   "[default: all three]"),
    ] = None,
    prompts: Annotated[
        int, typer.Option(help="How many held-out prompts to generate per set (4-512); every third has two objects.")
    ] = 96,
    seed: Annotated[int, typer.Option(help="Seed for the prompt sets and the clips.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the scores as JSON, per set.")] = False,
) -> None:
    """Score the built-in model on prompts it never saw, judged from the pixels, per set of clips
    (square 2 s ones and long 16:9 and 9:16 ones); also score shuffled captions and an untrained
    model, which should fail."""
    import json
    import tempfile

    from .engines.builtin import evaluate
    from .engines.builtin.engine import BuiltinEngine
    from .engines.builtin.weights import save_model, untrained_model

    chosen = list(dict.fromkeys(sets or evaluate.SETS))
    for name in chosen:
        if name not in evaluate.SETS:
            raise InvalidRequest("--set", f"must be one of {', '.join(evaluate.SETS)} (got {name!r})")
    if not 4 <= prompts <= 512:
        raise InvalidRequest("--prompts", f"must be between 4 and 512 (got {prompts})")
    _check_model_path(model_path)
    engine = BuiltinEngine(model_path)
    engine.load()
    results = {}
    with tempfile.TemporaryDirectory() as scratch, _progress_bar() as bar:
        save_model(untrained_model(engine.model.config), Path(scratch))
        untrained = BuiltinEngine(Path(scratch))
        for name in chosen:
            clips = evaluate.SETS[name]
            tasks = {which: bar.add_task(f"{name} {which}", total=prompts, info=clips.describe())
                     for which in ("model", "untrained model")}
            results[name] = evaluate.evaluate_set(
                engine, untrained, clips, prompts, seed,
                lambda which, done, total, tasks=tasks: bar.update(tasks[which], completed=done))
    if as_json:
        print(json.dumps({"prompts": prompts, "seed": seed, "sets": {
            name: {"width": evaluate.SETS[name].width, "height": evaluate.SETS[name].height,
                   "seconds": evaluate.SETS[name].seconds, "fps": evaluate.SETS[name].fps, "scores": scores}
            for name, scores in results.items()}}, indent=2))
        return
    out = Console()
    for name, scores in results.items():
        clips = evaluate.SETS[name]
        table = Table(title=f"{name}: built-in model on {prompts} held-out prompts, {clips.describe()} "
                            "(judged from pixels)")
        table.add_column("attribute")
        for column in scores:
            table.add_column(column, justify="right")
        for metric in scores["model"]:
            table.add_row(metric, *(f"{scores[c].get(metric, float('nan')):.0%}" for c in scores))
        out.print(table)
    for name, scores in results.items():
        print(evaluate.summary(evaluate.SETS[name], prompts, scores))


@dataset_app.command("check")
def dataset_check(
    folder: Annotated[Path, typer.Argument(help="A folder of clips (mp4, mov, webm, mkv, gif, folders of frames, "
                                                 "images) with captions (NAME.txt, metadata.jsonl or metadata.csv).")],
    min_seconds: Annotated[float, typer.Option(help="Clips shorter than this are reported.")] = 1.0,
    model: Annotated[Optional[str], typer.Option(
        help="Also plan the training buckets (size, frames, fps) this model's trainer would use "
             "(builtin: the clip model; open models: their LoRA defaults).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the whole report as JSON.")] = False,
) -> None:
    """Report every problem in a dataset folder, each with its file, and summarise the clips
    (count, durations, sizes, frame rates). Exits 1 when there are problems."""
    import json

    from .engines.catalog import model_ids
    from .train.buckets import plan_buckets
    from .train.dataset import scan
    from .train.targets import training_targets

    if not folder.is_dir():
        raise InvalidRequest("FOLDER", f"folder {str(folder)!r} does not exist")
    if min_seconds < 0:
        raise InvalidRequest("--min-seconds", f"must be 0 or more (got {min_seconds:g})")
    if model is not None and model not in model_ids():
        raise InvalidRequest("--model", f"unknown model {model!r}; choose one of: {', '.join(model_ids())}")
    with _progress_bar() as bar:
        task = bar.add_task("reading clips", total=None, info="")
        report = scan(folder, min_seconds, lambda done, total: bar.update(task, completed=done, total=total))
    buckets = {}
    caps = training_targets(model, report.clips) if model else None
    if caps is not None:
        buckets, unfit = plan_buckets(report.clips, caps)
        report.problems.extend(unfit)
        report.clips = [clip for group in buckets.values() for clip in group]
    if as_json:
        out_json = report.to_json()
        if caps is not None:
            out_json["buckets"] = [{"width": b.width, "height": b.height, "frames": b.frames, "fps": b.fps,
                                    "clips": [c.path for c in group]} for b, group in buckets.items()]
        print(json.dumps(out_json, indent=2))
        raise typer.Exit(1 if report.problems else 0)
    out = Console(soft_wrap=True)
    if report.problems:
        problems = Table(title=f"{len(report.problems)} problems")
        problems.add_column("file")
        problems.add_column("problem")
        for problem in report.problems:
            problems.add_row(problem.path, problem.what)
        out.print(problems)
    summary = report.summary()
    table = Table(title=f"{folder}: {summary['clips']} clips ready", show_header=False)
    table.add_column("")
    table.add_column("", overflow="fold")
    names = {"video": "video files", "frames": "folders of frames", "image": "images"}
    kinds = ", ".join(f"{n} {names[kind]}" for kind, n in summary["kinds"].items()) or "none"
    table.add_row("clips", f"{summary['clips']} ({kinds})")
    if summary["seconds_median"] is not None:
        table.add_row("duration", f"{summary['seconds_total']:g} s in all; shortest {summary['seconds_min']:g} s, "
                                  f"median {summary['seconds_median']:g} s, longest {summary['seconds_max']:g} s")
    table.add_row("sizes", ", ".join(f"{size} ({n})" for size, n in summary["sizes"].items()) or "-")
    table.add_row("fps", ", ".join(f"{fps} ({n})" for fps, n in summary["fps"].items()) or "-")
    table.add_row("problems", str(summary["problems"]))
    out.print(table)
    if buckets:
        planned = Table(title=f"training buckets for {model}")
        planned.add_column("bucket")
        planned.add_column("clips", justify="right")
        for bucket, group in buckets.items():
            planned.add_row(str(bucket), str(len(group)))
        out.print(planned)
    raise typer.Exit(1 if report.problems else 0)


@dataset_app.command("demo")
def dataset_demo(
    folder: Annotated[Path, typer.Argument(help="Where to write the clips (created; must be empty if it exists).")],
) -> None:
    """Write a small demo dataset: ten 3-second clips of simple drawn scenes (a sunset, snow, rain,
    waves, a bouncing ball, ...) with captions, for trying training without footage of your own."""
    from .train.demo_data import SCENES, write_demo_dataset

    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise InvalidRequest("FOLDER", f"{str(folder)!r} exists and is not an empty folder")
    if not folder.parent.is_dir():
        raise InvalidRequest("FOLDER", f"folder {str(folder.parent)!r} does not exist")
    with _progress_bar() as bar:
        task = bar.add_task("drawing clips", total=len(SCENES), info="")
        write_demo_dataset(folder, on_clip=lambda done: bar.update(task, completed=done))
    print(f"wrote {len(SCENES)} clips with captions to {folder}; check them with: ungated dataset check {folder}")


@app.command()
def verify(
    file: Annotated[Path, typer.Argument(help="The video to check.")],
    db: serve.DbOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the whole report as JSON.")] = False,
) -> None:
    """Check a video's provenance: its C2PA manifest (and whether the file still matches it), the
    invisible watermark and the video it points to, and the MP4's metadata. Exit code 1 when the
    manifest does not validate."""
    import json

    from .provenance.verify import check_video, describe, verify as check

    if not file.is_file():
        raise InvalidRequest("FILE", f"no such file: {file}")
    try:
        check_video(file)
    except InvalidRequest as err:
        raise InvalidRequest("FILE", err.message) from None
    result = check(file, _video_finder(db))
    if as_json:
        print(json.dumps(result.as_dict(), indent=2))
    else:
        print("\n".join(describe(result)))
    if result.verdict == "tampered":
        raise typer.Exit(1)


def _video_finder(db: str | None):
    """id prefix -> video ids, from the store (the default one, when it exists)."""
    from .jobs.store import Store, default_url

    if db is None and not (settings.home() / "ungated.db").is_file():
        return None
    from .jobs.queue import ids_starting

    store = Store(db or default_url())
    return lambda prefix: ids_starting(store, prefix)


app.command()(serve.serve)
app.command()(serve.worker)
app.add_typer(serve.keys_app, name="keys")
app.add_typer(serve.workers_app, name="workers")
app.add_typer(community.invites_app, name="invites")
app.add_typer(community.members_app, name="members")


@app.command()
def version() -> None:
    """Print the ungated version."""
    print(__version__)


def _settings_warnings_to_stderr() -> None:
    """config.toml's problems as `warning:` lines on stderr (the server's log, under `serve`)."""
    import logging

    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("warning: %(message)s"))
    settings.log.addHandler(handler)
    settings.log.propagate = False  # once, also after `serve` configures the root logger


def main() -> None:
    _settings_warnings_to_stderr()
    try:
        code = app(standalone_mode=False)  # Click returns the code of a typer.Exit here
        if isinstance(code, int) and code:
            sys.exit(code)
    except typer.Exit as done:
        sys.exit(done.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        console.print("error: interrupted; nothing was written", highlight=False)
        sys.exit(130)
    except typer.TyperException as err:  # usage errors: unknown option, bad number, missing argument
        console.print(f"error: {err.format_message()}", highlight=False, markup=False)
        sys.exit(2)
    except TrainingCancelled as stopped:
        console.print(f"stopped: {stopped}", highlight=False, markup=False)
        sys.exit(130)
    except GenerationCancelled:
        console.print("error: cancelled; nothing was written", highlight=False)
        sys.exit(130)
    except UngatedError as err:
        console.print(f"error: {err}", highlight=False, markup=False)
        sys.exit(2)
