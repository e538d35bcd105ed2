"""A community server in-process for tests/test_community_access.py: members of every role signed
up through invites (each with a session cookie, its CSRF token and an API key of their own), the
objects member A owns, and a look at them that says whether anyone changed them."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import torch
from fastapi.testclient import TestClient
from PIL import Image
from safetensors.torch import save as safetensors_bytes
from sqlalchemy import update

from ungated.api.access import SESSION_COOKIE
from ungated.jobs import members, queue, trained, training, worker_tokens
from ungated.jobs.schema import Video
from ungated.jobs.storage import Storage
from ungated.jobs.store import Store
from ungated.media.pipeline import companion_paths

from .test_hostile_uploads import data_url, mp4, png

# A prompt member A keeps private: no one but A and admins may ever read it.
SECRET = "a small red circle moving right on a blue background past walrus7913"
PRIVATE = {"prompt": SECRET, "seed": 77, "provenance": {"publish_prompt": False}, "public": False}
PASSWORD = "correct horse battery"
MARK = "amarker"  # in the names of A's dataset files and board, to find them in others' answers
SETTINGS = {"size": "128x72", "fps": 8, "steps": 4, "seed": 5}


@dataclass
class Member:
    role: str  # A, B, moderator, admin, or another name
    name: str
    id: str
    cookie: str
    csrf: str
    key: str = ""
    key_id: str = ""

    def by(self, how: str) -> dict:
        """The headers that make a request this member's: by cookie (with the CSRF token) or key."""
        if how == "key":
            return {"authorization": f"Bearer {self.key}"}
        return {"cookie": f"{SESSION_COOKIE}={self.cookie}", "x-csrf-token": self.csrf}


@dataclass
class Objects:
    """What member A owns in one pass of the walker (made afresh for each)."""
    video: str  # finished, unlisted, its prompt kept private
    video2: str  # the same, for the second route that deletes a video
    dataset: str
    training: str  # cancelled, with a sample clip
    lora: str
    model: str  # a built-in model A trained (builtin/NAME)
    board: str
    shot: str
    character: str
    key_id: str  # one of A's keys (not the one the walker signs A's requests with)
    invite_id: str
    invite_code: str
    member: str  # member C, whom moderators suspend and admins change
    worker: str  # a worker token's name
    batch: str | None = None  # the group (batch) of A's video
    report: str | None = None  # a report of A's video, where the server takes reports

    def markers(self, a: Member) -> list[str]:
        """What only A's own answers may contain."""
        return [self.video, self.video2, self.training, self.board, self.character, self.key_id, MARK, a.id]


@dataclass
class World:
    client: TestClient
    store: Store
    storage: Storage
    root: Path  # the folder the storage root is in: nothing may be written in it outside the root
    model_dir: Path  # a tiny built-in model, copied in as the models A trained
    actors: dict[str, Member] = field(default_factory=dict)
    passes: int = 0

    def send(self, method: str, url: str, headers: dict | None = None, **kwargs):
        """A request with exactly these headers: no cookie kept from an earlier answer."""
        self.client.cookies.clear()
        return self.client.request(method, url, headers=headers or {}, **kwargs)

    def sign_up(self, role: str, name: str | None = None, invite_role: str | None = None) -> Member:
        name = name or f"{role}-{uuid.uuid4().hex[:8]}"
        _, code = members.create_invite(self.store, "test", role=invite_role or (
            role if role in members.ROLES else "member"))
        answer = self.send("POST", "/api/members", json={"name": name, "password": PASSWORD, "invite": code})
        assert answer.status_code == 201, answer.text
        body = answer.json()
        member = Member(role, name, body["member"]["id"], answer.cookies[SESSION_COOKIE], body["csrf_token"])
        made = self.send("POST", "/api/me/keys", json={"name": "own"}, headers=member.by("cookie"))
        assert made.status_code == 201, made.text
        member.key, member.key_id = made.json()["secret"], made.json()["id"]
        return member

    def sign_in_again(self, member: Member) -> None:
        answer = self.send("POST", "/api/session", json={"name": member.name, "password": PASSWORD})
        assert answer.status_code == 200, answer.text
        member.cookie, member.csrf = answer.cookies[SESSION_COOKIE], answer.json()["csrf_token"]

    # A's objects

    def finished_video(self, a: Member) -> str:
        made = self.send("POST", "/api/videos", json=PRIVATE, headers=a.by("key"))
        assert made.status_code == 200, made.text
        video_id = made.json()["data"][0]["id"]
        clip = self.storage.root / "videos" / video_id / "clip.mp4"
        clip.parent.mkdir(parents=True, exist_ok=True)
        mp4(clip, frames=8, size=(64, 64))
        Image.new("RGB", (64, 64), "orange").save(companion_paths(clip).thumbnail, format="JPEG")
        Image.new("RGB", (32, 32), "orange").save(self.storage.preview_path(video_id), format="JPEG")
        with self.store.write() as session:
            session.execute(update(Video).where(Video.id == video_id).values(
                status=queue.COMPLETED, result=self.storage.relative(clip), progress=100))
        return video_id

    def objects(self, report_route: bool) -> Objects:
        a, n = self.actors["A"], self.passes
        self.passes += 1
        as_a = a.by("key")

        def ok(answer, status: int = 200) -> dict:
            assert answer.status_code == status, answer.text
            return answer.json()

        video, video2 = self.finished_video(a), self.finished_video(a)
        dataset = f"ds{n}"
        ok(self.send("PUT", f"/api/datasets/{dataset}/files/{MARK}.txt", content=b"a ball", headers=as_a))
        run = ok(self.send("POST", "/api/trainings", json={"name": f"style{n}", "dataset": dataset, "steps": 1},
                           headers=as_a))["id"]
        ok(self.send("POST", f"/api/trainings/{run}/cancel", headers=as_a))
        samples = training.folder(self.storage, run) / "work" / "samples"
        samples.mkdir(parents=True, exist_ok=True)
        (samples / "step-1.mp4").write_bytes(b"a sample clip")
        lora = f"alora{n}"
        weights = safetensors_bytes({"blocks.0.lora_down.weight": torch.zeros(2, 2)})
        ok(self.send("PUT", f"/api/loras/{lora}", content=weights, headers=as_a))
        model = trained.add(self.storage, f"amodel{n}", self.model_dir, {"uploaded_by": a.id, "training": run})
        board = ok(self.send("POST", "/api/boards", json={
            "title": f"{MARK} board", "model": "builtin", "settings": SETTINGS,
            "shots": [{"prompt": "a large red circle moving right", "seconds": 2}]}, headers=as_a))
        character = ok(self.send("POST", "/api/characters", json={"name": f"Amy{n}", "image": data_url(png())},
                                 headers=as_a))["id"]
        key_id = ok(self.send("POST", "/api/me/keys", json={"name": f"target{n}"}, headers=as_a), 201)["id"]
        invite, code = members.create_invite(self.store, self.actors["admin"].id, uses=1)
        worker, _ = worker_tokens.add(self.store, f"w{n}-{uuid.uuid4().hex[:6]}", ["builtin"])
        report = None
        if report_route:
            report = ok(self.send("POST", f"/api/videos/{video}/reports", json={"reason": "spam", "note": "walker"},
                                  headers=self.actors["C"].by("key")), 201)["id"]
        with self.store.read() as session:
            batch = session.get(Video, video).batch_id
        return Objects(video=video, video2=video2, dataset=dataset, training=run, lora=lora, model=model, batch=batch,
                       board=board["id"], shot=board["shots"][0]["id"], character=character, key_id=key_id,
                       invite_id=invite.id, invite_code=code, member=self.actors["C"].id, worker=worker.name,
                       report=report)

    def look(self, objs: Objects) -> dict:
        """A's objects as A (and the server) sees them, and the bytes of their files: equal before
        and after another's attempts, or someone changed them."""
        a = self.actors["A"]
        seen = {}
        for url in (f"/api/videos/{objs.video}", f"/api/videos/{objs.video2}", f"/v1/videos/{objs.video}",
                    f"/api/datasets/{objs.dataset}", f"/api/trainings/{objs.training}", f"/api/boards/{objs.board}",
                    f"/api/characters/{objs.character}", "/api/me/keys", "/api/me", "/api/loras",
                    f"/api/invites/{objs.invite_code}", "/api/datasets", "/api/me/videos?limit=100"):
            answer = self.send("GET", url, headers=a.by("key"))
            body = answer.json()
            for volatile in ("queue_position", "eta_seconds", "waiting_for_worker", "progress"):
                body.pop(volatile, None) if isinstance(body, dict) else None
            if url.startswith("/api/me/videos"):
                body = sorted((v["id"], v["public"], v["artist"], v["status"]) for v in body["data"])
            seen[url] = (answer.status_code, body)
        seen["model"] = trained.find(self.storage, trained.PREFIX + objs.model)
        member = members.get(self.store, objs.member)
        seen["member"] = (member.role, member.suspended_at, member.quota)
        seen["worker"] = worker_tokens.named(self.store, objs.worker).revoked_at
        folders = [self.storage.root / "videos" / objs.video, self.storage.root / "videos" / objs.video2,
                   self.storage.root / "datasets" / a.id, training.folder(self.storage, objs.training),
                   trained.folder(self.storage, objs.model)]
        files = [p for folder in folders if folder.exists() for p in folder.rglob("*") if p.is_file()]
        files += sorted(self.storage.lora_folder.glob(f"{objs.lora}.*"))
        seen["files"] = {p.relative_to(self.storage.root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
                         for p in files if p.suffix != ".gif"}  # a GIF is made on its first request, by anyone
        return seen

