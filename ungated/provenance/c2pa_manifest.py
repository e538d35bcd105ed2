"""Signing clips with a C2PA manifest, and reading one back.

The manifest says what the clip is and who made it: created by an AI model (the IPTC digital
source type trainedAlgorithmicMedia), by the artist (schema.org CreativeWork author), with
ungated, its version and the model id; and, when the artist publishes them, the prompt and seed.
A clip joined from others (a storyboard's shots) lists each of them as an ingredient, with its own
signed manifest. Signing is offline: no timestamp authority is contacted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .. import __version__
from ..errors import UngatedError
from .credentials import Credentials, local_ca

AI_GENERATED = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
GENERATION_LABEL = "org.ungated.generation"


@dataclass(frozen=True)
class Authorship:
    """What a clip's manifest says about it."""

    model: str
    artist: str = ""
    prompt: str | None = None  # None: the artist keeps the prompt (and seed) private
    seed: int | None = None
    video_id: str | None = None
    storyboard: str | None = None  # the board a stitched clip was made from


@dataclass(frozen=True)
class Ingredient:
    """A clip another is made of: a storyboard shot's take in the stitched clip."""

    path: Path
    title: str
    video_id: str  # its record: the ingredient's instance id
    relationship: str = "componentOf"  # or "parentOf": the clip this one is a re-signed version of


def manifest(about: Authorship, title: str) -> dict:
    generation = {"model": about.model, "generator": f"ungated {__version__}"}
    if about.prompt is not None:
        generation |= {"prompt": about.prompt, "seed": about.seed}
    if about.video_id:
        generation["video_id"] = about.video_id
    if about.storyboard:
        generation["storyboard"] = about.storyboard
    assertions = [
        {"label": "c2pa.actions", "data": {"actions": [{
            "action": "c2pa.created", "digitalSourceType": AI_GENERATED,
            "softwareAgent": {"name": "ungated", "version": __version__},
            "parameters": {"model": about.model},
        }]}},
        {"label": GENERATION_LABEL, "data": generation},
    ]
    if about.artist:
        assertions.append({"label": "stds.schema-org.CreativeWork", "data": {
            "@context": "https://schema.org", "@type": "CreativeWork",
            "author": [{"@type": "Person", "name": about.artist}]}})
    return {"claim_generator_info": [{"name": "ungated", "version": __version__}], "title": title,
            "format": "video/mp4", "assertions": assertions}


def sign(path: Path, about: Authorship, credentials: Credentials, title: str | None = None,
         ingredients: Sequence[Ingredient] = ()) -> None:
    """Embed a signed manifest in the MP4 at path (replacing the file in one step); its title is the
    file's name unless given. Each ingredient is listed as a component of the clip ("componentOf", a
    storyboard's take) or as its earlier version ("parentOf"), with the manifest its own file carries."""
    import c2pa

    # Hidden and ending in .part like every half-written file, so a worker killed mid-sign leaves
    # nothing the next attempt's clean-up (media.pipeline.remove_leftovers) does not remove.
    signed = path.with_name(f".{path.name}.signing.part")
    info = c2pa.C2paSignerInfo(alg=b"es256", sign_cert=credentials.chain_pem, private_key=credentials.key_pem,
                               ta_url=None)
    try:
        with c2pa.Signer.from_info(info) as signer, c2pa.Builder(manifest(about, title or path.name)) as builder:
            for ingredient in ingredients:
                with open(ingredient.path, "rb") as clip:
                    builder.add_ingredient({"title": ingredient.title, "relationship": ingredient.relationship,
                                            "instance_id": ingredient.video_id}, "video/mp4", clip)
            with open(path, "rb") as source, open(signed, "w+b") as destination:
                builder.sign(signer, "video/mp4", source, destination)
        signed.replace(path)
    except c2pa.C2paError as err:
        raise UngatedError(f"could not sign {path.name} with its C2PA manifest ({err}); check the certificate "
                           "and private_key in config.toml [provenance], or remove them to use the local CA") from None
    finally:
        signed.unlink(missing_ok=True)


@dataclass
class ManifestReport:
    found: bool
    state: str = "none"  # none, Invalid, Valid (signature good) or Trusted (chains to a trusted CA)
    problems: list[str] = field(default_factory=list)
    ai_generated: bool = False
    artist: str = ""
    generator: str = ""
    model: str = ""
    prompt: str | None = None
    seed: int | None = None
    video_id: str | None = None
    storyboard: str | None = None
    signed_by: str = ""
    # The clips it is made of, in order: [{"title", "relationship", "video_id"}].
    ingredients: list[dict] = field(default_factory=list)


def read(path: Path) -> ManifestReport:
    """The clip's manifest and whether it validates. The local CA (if any) is trusted, so clips
    signed on this machine read as Trusted; others with a good signature as Valid."""
    import c2pa

    anchors = local_ca()
    context = c2pa.Context.from_dict({"trust": {"trust_anchors": anchors.decode()}}) if anchors else None
    try:
        with open(path, "rb") as stream, c2pa.Reader("video/mp4", stream, context=context) as reader:
            active = reader.get_active_manifest() or {}
            state = reader.get_validation_state() or "none"
            results = reader.get_validation_results() or {}
    except c2pa.C2paError as err:
        if "ManifestNotFound" in type(err).__name__ or "not found" in str(err).lower():
            return ManifestReport(found=False)
        return ManifestReport(found=True, state="Invalid", problems=[str(err)])
    report = ManifestReport(found=bool(active), state=state, signed_by=active.get("signature_info", {}).get("common_name", ""))
    report.problems = [f"{item.get('code')}: {item.get('explanation', '')}"
                       for item in results.get("activeManifest", {}).get("failure", [])]
    for assertion in active.get("assertions", []):
        label, data = assertion.get("label", ""), assertion.get("data", {})
        if label.startswith("c2pa.actions"):
            report.ai_generated = any(action.get("digitalSourceType") == AI_GENERATED
                                      for action in data.get("actions", []))
        elif label == GENERATION_LABEL:
            report.generator, report.model = data.get("generator", ""), data.get("model", "")
            report.prompt, report.seed, report.video_id = data.get("prompt"), data.get("seed"), data.get("video_id")
            report.storyboard = data.get("storyboard")
        elif label == "stds.schema-org.CreativeWork":
            report.artist = ", ".join(author.get("name", "") for author in data.get("author", []))
    report.ingredients = [{"title": item.get("title", ""), "relationship": item.get("relationship", ""),
                           "video_id": item.get("instance_id")}
                          for item in active.get("ingredients", [])]
    return report

