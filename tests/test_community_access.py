"""Issue 31, tested hostile: a community server (`serve --public`) as anonymous, member A, member B,
a moderator and an admin would try it, in-process, on SQLite and PostgreSQL.

1. Every route in the OpenAPI schema, called by each of them (by session cookie with its CSRF
   token, and again by each member's own API key) on objects member A owns: each route is classed
   below (ROUTES), and a route that is not fails the test until it is. No one but A (and, where
   the route says so, an admin) reads or changes A's private objects; anonymous writes are refused;
   moderator and admin routes refuse members; nothing answers a 5xx; A's private prompt reaches no
   one else; and after anonymous's and B's attempts A's objects are as they were.
2. CSRF: every write by cookie without the token (or with a wrong one) is a 403 `csrf_failed` that
   changes nothing; by API key no token is needed.
3. Sessions: a cookie set before sign-in is not the one after, sign-out ends the session, and a
   suspended member's cookie and keys are refused.
4. Paths that leave their folder in every upload (dataset files and zips, LoRA names, characters,
   training files), as A and as B; bodies over the limits are 413.
5. Sign-in throttling: after 5 wrong passwords for a name, 429 with Retry-After even with the right
   one; other names are unaffected.
"""

from __future__ import annotations

import logging
import os
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from fastapi.testclient import TestClient

from ungated.api import characters_service
from ungated.api.app import create_app
from ungated.api.service import ServiceConfig
from ungated.jobs import keys, members, quotas
from ungated.jobs.storage import Storage
from ungated.jobs.store import Store

from .community_world import PASSWORD, SECRET, SETTINGS, Member, Objects, World
from .test_hostile_uploads import ESCAPE, data_url, files_under, png, zipped

ROLES = ("anonymous", "A", "B", "moderator", "admin")
PASSES = [("anonymous", "none"), *((role, how) for how in ("cookie", "key") for role in ROLES[1:])]
REPORTS = "/api/videos/{video_id}/reports"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def world(request, tmp_path_factory, tiny_model_dir):
    root = tmp_path_factory.mktemp("community")
    if request.param == "sqlite":
        url = f"sqlite:///{root / 'store.db'}"
    else:
        url = request.getfixturevalue("postgres").create_database(f"test_{uuid.uuid4().hex[:12]}")
    store = Store(url)
    store.migrate()
    storage = Storage(root / "files")
    with pytest.MonkeyPatch.context() as patch:
        # The walker makes many clips a minute: the quotas and rates have tests of their own.
        patch.setattr(keys, "DEFAULT_PER_MINUTE", 10_000)
        patch.setattr(characters_service, "describe_object", lambda path, at: {"shape": "star", "color": "red",
                                                                              "size": "large"})
        app = create_app(store, storage, ServiceConfig(public=True, quota=quotas.UNLIMITED))
        with TestClient(app, raise_server_exceptions=False) as client:
            world = World(client, store, storage, root, tiny_model_dir)
            admin = world.sign_up("admin")
            world.actors = {"admin": admin}
            for role in ("A", "B", "moderator", "C"):
                world.actors[role] = world.sign_up(role)
            yield world
    store.dispose()


# ---- 1. the route walker -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Route:
    """How a route answers whom.

    public: anyone, anonymous too, gets a 2xx (reads of what is shared, and signing in and up).
    signed_in: a signed-in caller's own things (a 2xx); anonymous gets 401/403.
    namespaced: like signed_in, on a name in the caller's own namespace (A's dataset name is B's
        own, empty one): B's answers never hold A's files.
    link: a signed-in caller makes something new from a clip anyone with its link may watch
        (remix, extend, favourite): never a change to the clip, never its private prompt.
    owner: one of A's objects: A gets a 2xx; B, the moderator and anonymous never do; an admin may.
    moderator / admin: moderators and admins / admins only: 403 to members, 401/403 to anonymous.
    worker: the worker protocol (worker tokens only): every actor here gets 401/403.
    """

    kind: str
    body: Callable[[World, Objects, Member | None], dict] | None = None  # request kwargs
    also: frozenset[int] = frozenset()  # what a permitted caller may get besides a 2xx (a state, not a refusal)
    params: dict[str, str] = field(default_factory=dict)  # path parameter -> the Objects field to fill it with


def j(make: Callable[[World, Objects, Member | None], dict]):
    return lambda w, o, m: {"json": make(w, o, m)}


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def sign_up_body(w: World, o: Objects, m: Member | None) -> dict:
    _, code = members.create_invite(w.store, "test", uses=1)
    return {"json": {"name": unique("new"), "password": PASSWORD, "invite": code}}


def clip_file(w: World, o: Objects, m: Member | None) -> dict:
    return {"files": {"file": ("clip.mp4", (w.storage.root / "videos" / o.video / "clip.mp4").read_bytes(),
                               "video/mp4")}}


def lora_body(w: World, o: Objects, m: Member | None) -> dict:
    return {"content": (w.storage.lora_folder / f"{o.lora}.safetensors").read_bytes()}


def character_from_clip(w: World, o: Objects, m: Member | None) -> dict:
    clip = (w.storage.root / "videos" / o.video / "clip.mp4").read_bytes()
    return {"data": {"name": unique("Vee")}, "files": {"video": ("clip.mp4", clip, "video/mp4")}}


PROMPT = "a large blue square moving left"
NO_STEPS = frozenset({400})  # a verb the built-in model does not offer, or a state the object is not in

ROUTES: dict[tuple[str, str], Route] = {
    # /v1, the OpenAI-compatible API
    ("POST", "/v1/videos"): Route("signed_in", j(lambda w, o, m: {"prompt": PROMPT})),
    ("GET", "/v1/videos"): Route("signed_in"),
    ("GET", "/v1/videos/{video_id}"): Route("public"),
    ("DELETE", "/v1/videos/{video_id}"): Route("owner", params={"video_id": "video2"}),
    ("GET", "/v1/videos/{video_id}/content"): Route("public"),
    ("POST", "/v1/videos/extensions"): Route("link", j(lambda w, o, m: {"prompt": PROMPT, "video": {"id": o.video}}),
                                             also=NO_STEPS),
    ("POST", "/v1/videos/edits"): Route("link", j(lambda w, o, m: {"prompt": PROMPT, "video": {"id": o.video}}),
                                        also=NO_STEPS),
    ("POST", "/v1/videos/{video_id}/remix"): Route("link", j(lambda w, o, m: {"prompt": PROMPT})),
    ("POST", "/v1/videos/characters"): Route("signed_in", character_from_clip),
    ("GET", "/v1/videos/characters/{character_id}"): Route("owner"),
    # characters
    ("GET", "/api/characters"): Route("signed_in"),
    ("POST", "/api/characters"): Route("signed_in", j(lambda w, o, m: {"name": unique("Cy"),
                                                                       "image": data_url(png())})),
    ("GET", "/api/characters/{character_id}"): Route("owner"),
    ("DELETE", "/api/characters/{character_id}"): Route("owner"),
    ("GET", "/api/characters/{character_id}/image"): Route("owner"),
    # models and the LoRA library (shared by the whole server)
    ("GET", "/api/models"): Route("public"),
    ("GET", "/api/loras"): Route("public"),
    ("PUT", "/api/loras/{name}"): Route("owner", lora_body, also=frozenset({409})),  # A's name: taken, for A too
    ("DELETE", "/api/loras/{name}"): Route("owner", params={"name": "lora"}),
    ("DELETE", "/api/models/builtin/{name}"): Route("owner", params={"name": "model"}),
    # the studio
    ("GET", "/api/me"): Route("public"),
    ("PUT", "/api/me"): Route("signed_in", j(lambda w, o, m: {"artist": "Mallory"})),
    ("POST", "/api/videos"): Route("signed_in", j(lambda w, o, m: {"prompt": PROMPT})),
    ("POST", "/api/plan"): Route("public", j(lambda w, o, m: {"prompt": PROMPT})),
    # batches and one's own queue
    ("POST", "/api/batches"): Route("signed_in", j(lambda w, o, m: {"prompts": f"{PROMPT}\n{PROMPT}"})),
    ("GET", "/api/batches/{batch_id}"): Route("owner"),
    ("POST", "/api/batches/{batch_id}/cancel"): Route("owner"),
    ("GET", "/api/me/queue"): Route("signed_in"),
    ("POST", "/api/me/queue/pause"): Route("signed_in"),
    ("POST", "/api/me/queue/resume"): Route("signed_in"),
    ("POST", "/api/me/queue/cancel"): Route("signed_in"),
    ("POST", "/api/videos/{video_id}/move"): Route("owner", j(lambda w, o, m: {"before": None}),
                                                   also=frozenset({409})),  # A's clip is finished: not queued
    ("GET", "/api/feed"): Route("public"),
    ("GET", "/api/me/videos"): Route("signed_in"),
    ("GET", "/api/me/favourites"): Route("signed_in"),
    ("GET", "/api/videos/{video_id}"): Route("public"),
    ("PATCH", "/api/videos/{video_id}"): Route("owner", j(lambda w, o, m: {"public": True})),
    ("DELETE", "/api/videos/{video_id}"): Route("owner"),
    ("POST", "/api/videos/{video_id}/cancel"): Route("owner", also=frozenset({409})),
    ("POST", "/api/videos/{video_id}/retry"): Route("link", also=NO_STEPS),  # B: the prompt is A's to keep
    ("POST", "/api/videos/{video_id}/remix"): Route("link", j(lambda w, o, m: {"prompt": PROMPT})),
    ("POST", "/api/videos/{video_id}/extend"): Route("link", j(lambda w, o, m: {"prompt": PROMPT}), also=NO_STEPS),
    ("POST", "/api/videos/{video_id}/edit"): Route("link", j(lambda w, o, m: {"prompt": PROMPT}), also=NO_STEPS),
    ("POST", "/api/videos/{video_id}/blend"): Route("link", j(lambda w, o, m: {"prompt": PROMPT, "into": o.video2}),
                                                    also=NO_STEPS),
    ("PUT", "/api/videos/{video_id}/favourite"): Route("link"),
    ("DELETE", "/api/videos/{video_id}/favourite"): Route("link"),
    ("GET", "/api/videos/{video_id}/provenance"): Route("public"),
    ("POST", "/api/verify"): Route("public", clip_file),
    ("GET", "/api/videos/{video_id}/gif"): Route("public"),
    ("GET", "/api/videos/{video_id}/preview"): Route("public"),
    ("GET", "/api/videos/{video_id}/events"): Route("public"),
    # members, sessions, keys
    ("GET", "/api/session"): Route("public"),
    ("POST", "/api/session"): Route("public", j(lambda w, o, m: {"name": w.actors["C"].name, "password": PASSWORD})),
    ("DELETE", "/api/session"): Route("public"),  # signs the caller out (the walker signs them in again)
    ("POST", "/api/members"): Route("public", sign_up_body),
    ("GET", "/api/invites/{code}"): Route("public", params={"code": "invite_code"}),
    ("GET", "/api/me/keys"): Route("signed_in"),
    ("POST", "/api/me/keys"): Route("signed_in", j(lambda w, o, m: {"name": "walker"})),
    ("DELETE", "/api/me/keys/{key_id}"): Route("owner"),
    ("GET", "/api/me/quota"): Route("signed_in"),
    ("PUT", "/api/me/password"): Route("signed_in", j(lambda w, o, m: {"current": PASSWORD, "new": PASSWORD})),
    ("GET", "/api/members"): Route("moderator"),
    ("PATCH", "/api/members/{member_id}"): Route("admin", j(lambda w, o, m: {"quota": {"clips_per_day": 7}})),
    ("POST", "/api/members/{member_id}/suspend"): Route("moderator", j(lambda w, o, m: {"reason": "walker"})),
    ("POST", "/api/members/{member_id}/reinstate"): Route("moderator"),
    ("GET", "/api/invites"): Route("admin"),
    ("POST", "/api/invites"): Route("admin", j(lambda w, o, m: {"uses": 1})),
    ("DELETE", "/api/invites/{invite_id}"): Route("admin"),
    ("GET", "/api/admin/audit"): Route("admin"),
    ("GET", "/api/admin/figures"): Route("admin"),
    # datasets and training
    ("GET", "/api/datasets"): Route("signed_in"),
    ("GET", "/api/datasets/{name}"): Route("namespaced", params={"name": "dataset"}),
    ("PUT", "/api/datasets/{name}"): Route("namespaced", lambda w, o, m: {"content": zipped({"clip.txt": b"a ball"})},
                                           params={"name": "dataset"}),
    ("DELETE", "/api/datasets/{name}"): Route("namespaced", params={"name": "dataset"}),
    ("PUT", "/api/datasets/{name}/files/{path}"): Route("namespaced", lambda w, o, m: {"content": b"a kite"},
                                                        params={"name": "dataset"}),
    ("POST", "/api/trainings"): Route("signed_in", j(lambda w, o, m: {"name": unique("run"), "dataset": o.dataset,
                                                                      "steps": 1}), also=NO_STEPS),
    ("GET", "/api/trainings"): Route("signed_in"),
    # A training run is A's: the issue says no member reads another's (its id is no share link).
    ("GET", "/api/trainings/{training_id}"): Route("owner"),
    ("DELETE", "/api/trainings/{training_id}"): Route("owner", also=frozenset({409})),  # resumed: not finished
    ("GET", "/api/trainings/{training_id}/events"): Route("owner"),
    ("GET", "/api/trainings/{training_id}/files/{path}"): Route("owner"),
    ("POST", "/api/trainings/{training_id}/cancel"): Route("owner", also=frozenset({409})),
    ("POST", "/api/trainings/{training_id}/resume"): Route("owner", also=frozenset({409})),
    # storyboards
    ("GET", "/api/boards"): Route("signed_in"),
    ("POST", "/api/boards"): Route("signed_in", j(lambda w, o, m: {"settings": SETTINGS,
                                                                   "shots": [{"prompt": PROMPT, "seconds": 2}]})),
    ("GET", "/api/boards/{board_id}"): Route("owner"),
    ("PATCH", "/api/boards/{board_id}"): Route("owner", j(lambda w, o, m: {"title": "Mallory's"})),
    ("DELETE", "/api/boards/{board_id}"): Route("owner"),
    ("POST", "/api/boards/{board_id}/make"): Route("owner", also=frozenset({409})),
    ("POST", "/api/boards/{board_id}/shots/{shot_id}/regenerate"): Route("owner", j(lambda w, o, m: {"prompt": PROMPT}),
                                                                          also=frozenset({409})),
    # remote workers, as the admin manages them
    ("GET", "/api/workers"): Route("admin"),
    ("POST", "/api/workers"): Route("admin", j(lambda w, o, m: {"name": unique("w"), "models": ["builtin"]})),
    ("DELETE", "/api/workers/{name}"): Route("admin", params={"name": "worker"}),
    ("POST", "/api/workers/{name}/unpause"): Route("admin", also=frozenset({404}),  # 404: it is not paused
                                                   params={"name": "worker"}),
    # moderation (issue 31's contract)
    ("POST", REPORTS): Route("public", j(lambda w, o, m: {"reason": "spam", "note": "walker"})),
    ("GET", "/api/reports"): Route("moderator"),
    ("POST", "/api/reports/{report_id}/dismiss"): Route("moderator", j(lambda w, o, m: {"reason": "walker"}),
                                                        also=frozenset({409})),
    ("POST", "/api/videos/{video_id}/moderation"): Route("moderator", j(lambda w, o, m: {"action": "hide",
                                                                                         "reason": "walker"})),
}
WORKER = Route("worker")
# What fills each path parameter, where the route does not say.
FILL = {"video_id": "video", "character_id": "character", "training_id": "training", "board_id": "board",
        "shot_id": "shot", "key_id": "key_id", "invite_id": "invite_id", "member_id": "member",
        "report_id": "report", "code": "invite_code", "name": "lora", "batch_id": "batch"}
CONSTANT = {"job_id": lambda o: o.video, "step": lambda o: "1"}


def schema_routes(world: World) -> list[tuple[str, str]]:
    found = [(method.upper(), path) for path, operations in world.client.app.openapi()["paths"].items()
             for method in operations]
    order = {"GET": 0, "POST": 1, "PUT": 1, "PATCH": 1, "DELETE": 2}  # reads, then writes, then deletes
    # an object's own DELETE after those of its parts (a favourite); signing out last
    return sorted(found, key=lambda route: (order[route[0]], route == ("DELETE", "/api/session"),
                                            route[1].endswith("}")))


def route_of(method: str, path: str) -> Route | None:
    return WORKER if path.startswith("/api/worker/") else ROUTES.get((method, path))


def url_of(path: str, route: Route, objs: Objects) -> str:
    def filled(match: re.Match) -> str:
        name = match.group(1).removesuffix(":path")
        if name == "path":
            return "work/samples/step-1.mp4" if "/trainings/" in path else "clip.txt"
        if name in CONSTANT:
            return CONSTANT[name](objs)
        value = getattr(objs, route.params.get(name) or FILL[name])
        assert value is not None, f"{path}: no object for {{{name}}}"
        return value

    return re.sub(r"\{([^}]+)\}", filled, path)


def judged(route: Route, role: str, status: int) -> str | None:
    """What is wrong with this status for this role on this route, or None."""
    granted = 200 <= status < 300 or status in route.also
    if status >= 500:
        return "a server error"
    if route.kind == "worker":
        return None if status in (401, 403) else "the worker protocol must refuse anyone without a worker token"
    if route.kind == "public":
        return None if granted else "a public route refused"
    if role == "anonymous":
        return None if status in (401, 403, 404) else "anonymous was not refused"
    if route.kind in ("signed_in", "link"):
        return None if granted else "a signed-in member was refused"
    if route.kind == "namespaced":
        return None if granted or (role != "A" and status == 404) else "a signed-in member was refused"
    if route.kind == "owner":
        if role == "A":
            return None if granted else "the owner was refused"
        if role in ("B", "moderator"):
            return None if not 200 <= status < 300 else "another member read or changed A's object"
        return None  # an admin may, or finds nothing in their own namespace
    if route.kind == "moderator":
        if role in ("A", "B"):
            return None if status == 403 else "a member was not refused a moderator's route"
        return None if granted else "a moderator or admin was refused"
    if route.kind == "admin":
        if role != "admin":
            return None if status == 403 else "a member or moderator was not refused an admin's route"
        return None if granted else "the admin was refused"
    raise AssertionError(f"unknown kind {route.kind}")


def test_every_route_is_classified(world):
    """A new route fails here until ROUTES says who may call it (and the walker can send its body)."""
    spec = world.client.app.openapi()["paths"]
    missing = [f"{m} {p}" for m, p in schema_routes(world) if route_of(m, p) is None]
    assert not missing, ("classify these routes in ROUTES (tests/test_community_access.py): who may call them, "
                         "and the body to send:\n  " + "\n  ".join(missing))
    bodiless = [f"{m} {p}" for m, p in schema_routes(world) if "requestBody" in spec[p][m.lower()]
                and route_of(m, p).kind != "worker" and route_of(m, p).body is None]
    assert not bodiless, "give these routes a body in ROUTES:\n  " + "\n  ".join(bodiless)


@pytest.mark.parametrize("role,how", PASSES, ids=[f"{r}-{h}" for r, h in PASSES])
def test_the_walker(world, role, how, caplog):
    """Every route as one actor, by one way of signing in, on a fresh set of A's objects."""
    routes = schema_routes(world)
    objs = world.objects(report_route=("POST", REPORTS) in routes)
    actor = world.actors.get(role)
    a = world.actors["A"]
    before = world.look(objs) if role in ("anonymous", "B") else None
    problems = []
    for method, path in routes:
        route = route_of(method, path)
        if route is None:
            continue  # test_every_route_is_classified fails for it
        kwargs = route.body(world, objs, actor) if route.body and route.kind != "worker" else {}
        answer = world.send(method, url_of(path, route, objs), headers=actor.by(how) if actor else {}, **kwargs)
        said = f"{method} {path} as {role} (by {how}): {answer.status_code}"
        wrong = judged(route, role, answer.status_code)
        if wrong:
            problems.append(f"{said}: {wrong}: {answer.text[:300]}")
        text = answer.text if "json" in answer.headers.get("content-type", "") else ""
        if role in ("anonymous", "B", "moderator") and SECRET in text:
            problems.append(f"{said}: A's private prompt is in the answer")
        if role == "B" and route.kind in ("signed_in", "namespaced") and 200 <= answer.status_code < 300:
            # B's own remix of A's clip names the clip it came from: B had its link, nothing is leaked
            own = re.sub(r'"remixed_from(_video_id)?":"[^"]*"', "", text)
            shown = [marker for marker in objs.markers(a) if marker in own]
            if shown:
                problems.append(f"{said}: A's {shown} in B's answer: {text[:300]}")
        if path == "/api/feed" and (objs.video in text or objs.video2 in text):
            problems.append(f"{said}: A's unlisted video is in the feed")
    if actor is not None:
        world.sign_in_again(actor)  # DELETE /api/session and PUT /api/me/password signed them out
    if before is not None:
        after = world.look(objs)
        changed = [name for name in before if before[name] != after[name]]
        if changed:
            problems.append(f"{role} changed A's {changed}: " + "; ".join(
                f"{name}: {before[name]} -> {after[name]}" for name in changed))
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], "a traceback was logged"


def test_a_removed_clip_is_gone_for_all_but_moderators(world):
    """A clip a moderator removes: its page, files, GIF and /v1 content are 410 for everyone but
    moderators and admins, its artist too; the artist still sees why in their list."""
    if ("POST", "/api/videos/{video_id}/moderation") not in schema_routes(world):
        pytest.skip("no moderation routes yet")
    a, mod = world.actors["A"], world.actors["moderator"]
    video = world.finished_video(a)
    removed = world.send("POST", f"/api/videos/{video}/moderation", json={"action": "remove", "reason": "spam wave"},
                         headers=mod.by("cookie"))
    assert removed.status_code == 200, removed.text
    files = (f"/v1/videos/{video}/content", f"/v1/videos/{video}/content?variant=thumbnail", f"/api/videos/{video}/gif",
             f"/api/videos/{video}/preview")
    for role in ROLES:
        headers = world.actors[role].by("key") if role != "anonymous" else {}
        for url in files:
            status = world.send("GET", url, headers=headers).status_code
            assert (status == 410) == (role not in ("moderator", "admin")) and status < 500, (role, url, status)
    mine = world.send("GET", "/api/me/videos?limit=100", headers=a.by("key")).json()["data"]
    assert next(v for v in mine if v["id"] == video)["moderation"]["reason"] == "spam wave"


# ---- 2. CSRF ----------------------------------------------------------------------------------------------

# Writes that read no session: signing in and up (JSON only, which no other site's form can send),
# and two that change nothing and use no identity.
CSRF_EXEMPT = {("POST", "/api/session"), ("POST", "/api/members"), ("POST", "/api/plan"), ("POST", "/api/verify")}


def test_cookie_writes_without_the_csrf_token_are_refused_and_change_nothing(world):
    routes = schema_routes(world)
    objs = world.objects(report_route=("POST", REPORTS) in routes)
    a, b = world.actors["A"], world.actors["B"]
    before = world.look(objs)
    problems = []
    for method, path in routes:
        route = route_of(method, path)
        if method == "GET" or route is None or route.kind == "worker" or (method, path) in CSRF_EXEMPT:
            continue
        for token in (None, "not-the-token", b.csrf):  # none, a wrong one, another session's
            headers = {"cookie": f"ungated_session={a.cookie}", **({"x-csrf-token": token} if token else {})}
            answer = world.send(method, url_of(path, route, objs), headers=headers,
                                **(route.body(world, objs, a) if route.body else {}))
            code = answer.json().get("error", {}).get("code") if "json" in answer.headers.get("content-type", "") \
                else None
            if (answer.status_code, code) != (403, "csrf_failed"):
                problems.append(f"{method} {path} by A's cookie, token {token!r}: {answer.status_code} "
                                f"{answer.text[:200]}")
    after = world.look(objs)
    problems += [f"changed without a token: {name}" for name in before if before[name] != after[name]]
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems)
    # The session is still A's, and a key needs no token.
    assert world.send("GET", "/api/session", headers=a.by("cookie")).json()["member"]["id"] == a.id
    changed = world.send("PATCH", f"/api/videos/{objs.video}", json={"public": True}, headers=a.by("key"))
    assert changed.status_code == 200 and changed.json()["public"] is True, changed.text


# ---- 3. sessions -------------------------------------------------------------------------------------------

def cookie(value: str, csrf: str | None = None) -> dict:
    return {"cookie": f"ungated_session={value}", **({"x-csrf-token": csrf} if csrf else {})}


def test_a_session_is_new_at_sign_in_and_ends_at_sign_out(world):
    e, b = world.sign_up("E"), world.actors["B"]
    planted = "ugs_" + "A" * 43  # what another site (or a shared computer) set before the sign-in
    assert world.send("GET", "/api/session", headers=cookie(planted)).json()["signed_in"] is False
    for present in (planted, b.cookie):  # a made-up value, and another member's live session
        signed = world.send("POST", "/api/session", json={"name": e.name, "password": PASSWORD},
                            headers=cookie(present))
        assert signed.status_code == 200, signed.text
        fresh, csrf = signed.cookies["ungated_session"], signed.json()["csrf_token"]
        assert fresh != present and csrf != b.csrf
        attributes = signed.headers["set-cookie"].lower()
        assert "httponly" in attributes and "samesite=lax" in attributes and "path=/" in attributes, attributes
        assert world.send("GET", "/api/session", headers=cookie(fresh)).json()["member"]["id"] == e.id
    assert world.send("GET", "/api/session", headers=cookie(planted)).json()["signed_in"] is False
    assert world.send("GET", "/api/session", headers=cookie(b.cookie)).json()["member"]["id"] == b.id
    secure = TestClient(world.client.app, base_url="https://testserver").post(
        "/api/session", json={"name": e.name, "password": PASSWORD})
    assert "secure" in secure.headers["set-cookie"].lower(), secure.headers["set-cookie"]

    out = world.send("DELETE", "/api/session", headers=cookie(fresh, csrf))
    assert out.status_code == 200 and out.json()["signed_in"] is False, out.text
    assert 'ungated_session=""' in out.headers["set-cookie"] or "max-age=0" in out.headers["set-cookie"].lower()
    seen = world.send("GET", "/api/session", headers=cookie(fresh)).json()
    assert seen["signed_in"] is False and seen["csrf_token"] is None, seen
    for method, url, body in (("POST", "/api/videos", {"prompt": PROMPT}), ("PUT", "/api/me", {"artist": "Eve"}),
                              ("GET", "/api/me/videos", None), ("POST", "/api/me/keys", {"name": "late"})):
        answer = world.send(method, url, headers=cookie(fresh, csrf), json=body)
        assert answer.status_code == 401, (method, url, answer.text)
    assert world.send("GET", "/api/me/videos", headers=e.by("key")).status_code == 200  # keys outlive a session


def test_a_suspended_members_cookie_and_keys_are_refused(world):
    e, mod = world.sign_up("S"), world.actors["moderator"]
    suspended = world.send("POST", f"/api/members/{e.id}/suspend", json={"reason": "spam wave"},
                           headers=mod.by("cookie"))
    assert suspended.status_code == 200, suspended.text
    for how in ("cookie", "key"):
        for method, url, body in (("GET", "/api/me/videos", None), ("POST", "/api/videos", {"prompt": PROMPT}),
                                  ("POST", "/api/me/keys", {"name": "again"}), ("GET", "/api/me/keys", None)):
            answer = world.send(method, url, headers=e.by(how), json=body)
            if how == "cookie" and answer.status_code == 401:
                continue  # suspending them ended their sessions
            assert answer.status_code == 403, (how, url, answer.text)
            error = answer.json()["error"]
            assert error["code"] == "suspended" and "spam wave" in error["message"], error
        seen = world.send("GET", "/api/session", headers=e.by(how))
        assert seen.status_code == 403 or seen.json()["signed_in"] is False, seen.text
    again = world.send("POST", "/api/session", json={"name": e.name, "password": PASSWORD})
    assert again.status_code == 403 and again.json()["error"]["code"] == "suspended", again.text


# ---- 4. paths that leave their folder, and bodies over the limits ------------------------------------------

BAD_FILE_PATHS = [f"%2F{ESCAPE}", "..%2Fescape.png", "a%2F..%2F..%2Fescape.png", "clip%00.png", "sub%5Cclip.png",
                  "C:clip.png", "C%3A%2Fclip.png", "clip%01.png", "x" * 300 + ".png", "a%2F%2Fb.png", ".%2Fclip.png",
                  "%2E%2E%2F%2E%2E%2Fescape.png"]
BAD_ZIP_NAMES = ["/X.png", "../X.png", "a/../../X.png", "C:\\X.png", "a\\..\\X.png", "x\x01.png", "../../../escape.txt"]
BAD_NAMES = ["%2E%2E", ".", "%2E", "..%2F..%2Fescape", "%2Fescape", "a%5Cb", "C:x", ".hidden", "x" * 300, "a%00b",
             "a%0Ab"]
ESCAPES = [f"/{ESCAPE}", "/X.png", "/escape.png", "/escape.txt", "/escape"]


def outside_the_root(world: World) -> list[str]:
    """Files in the test's folder outside the storage root (the store's own aside), and at the top of the disk."""
    root = world.storage.root
    found = [p for p in world.root.rglob("*") if p.is_file() and not p.is_relative_to(root)
             and not p.name.startswith("store.db")]
    return sorted(map(str, found)) + [p for p in ESCAPES if os.path.exists(p)]


@pytest.mark.parametrize("role", ["A", "B"])
def test_paths_that_leave_their_folder_are_refused_in_every_upload(world, role):
    member, storage = world.actors[role], world.storage
    headers = member.by("cookie")
    run = world.objects(report_route=False).training  # A's
    before, outside = files_under(storage.root / "datasets"), outside_the_root(world)
    loras = sorted(p.name for p in storage.lora_folder.iterdir())
    problems = []

    def expect(answer, statuses, what):
        if answer.status_code not in statuses:
            problems.append(f"{what}: {answer.status_code} {answer.text[:200]}")

    try:
        for path in BAD_FILE_PATHS:
            expect(world.send("PUT", f"/api/datasets/trav/files/{path}", content=b"x", headers=headers), {400},
                   f"dataset file {path}")
        for name in BAD_ZIP_NAMES:
            body = zipped({"clip.txt": b"a ball", name: png()})
            expect(world.send("PUT", "/api/datasets/trav", content=body, headers=headers), {400}, f"zip member {name}")
        weights = (storage.lora_folder / next(n for n in loras if n.endswith(".safetensors"))).read_bytes()
        for name in BAD_NAMES:
            expect(world.send("PUT", f"/api/datasets/{name}/files/a.txt", content=b"x", headers=headers),
                   {400, 404, 405}, f"dataset name {name}")
            expect(world.send("PUT", f"/api/datasets/{name}", content=zipped({"a.txt": b"x"}), headers=headers),
                   {400, 404, 405}, f"dataset zip name {name}")
            expect(world.send("PUT", f"/api/loras/{name}", content=weights, headers=headers), {400, 404, 405},
                   f"LoRA name {name}")
            character = {"name": name.replace("%2F", "/"), "image": data_url(png())}
            expect(world.send("POST", "/api/characters", json=character, headers=headers), {400},
                   f"character name {name}")
            expect(world.send("DELETE", f"/api/loras/{name}", headers=headers), {400, 403, 404, 405},
                   f"LoRA delete {name}")
        for filename in ("../../../escape.png", "/escape.png", "..\\..\\escape.png"):
            made = world.send("POST", "/api/characters", data={"name": unique("Fi")},
                              files={"image": (filename, png(), "image/png")}, headers=headers)
            expect(made, {200, 400}, f"character image named {filename}")
        for path in ("a%00b", "..%2F..%2F..%2Fstore.db", "%2Fetc%2Fpasswd", "out%5C..%5Cx",
                     "..%2F..%2F..%2F..%2Fstore.db", "work%2F..%2F..%2F..%2Fstore.db"):
            expect(world.send("GET", f"/api/trainings/{run}/files/{path}", headers=headers),
                   {400} if role == "A" else {400, 403, 404}, f"training file {path}")
    finally:
        leaked = outside_the_root(world)
        for path in ESCAPES:
            if os.path.exists(path):
                os.unlink(path)
    assert not problems, "\n".join(problems)
    assert leaked == outside, f"written outside the storage root: {sorted(set(leaked) - set(outside))}"
    assert files_under(storage.root / "datasets") == before
    assert sorted(p.name for p in storage.lora_folder.iterdir()) == loras


def test_bodies_over_the_limits_are_413_and_leave_nothing(tmp_path, monkeypatch):
    from ungated.api import app as app_module, limits

    monkeypatch.setattr(app_module, "MAX_DATASET_BYTES", 5000)
    monkeypatch.setattr(app_module, "MAX_LORA_BYTES", 5000)
    monkeypatch.setattr(limits.BodyLimit.__init__, "__defaults__", (20_000, None))
    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    store.migrate()
    storage = Storage(tmp_path / "files")
    app = create_app(store, storage, ServiceConfig(public=True))
    with TestClient(app, raise_server_exceptions=False) as client:
        world = World(client, store, storage, tmp_path, tmp_path)
        member = world.sign_up("A")
        big, headers = bytes(range(256)) * 100, member.by("cookie")  # 25,600 bytes
        chunks = lambda: (b"x" * 1000 for _ in range(30))  # noqa: E731 - no Content-Length: counted as it comes
        for method, url, kwargs in (
                ("PUT", "/api/datasets/ds/files/a.txt", {"content": big[:6000]}),
                ("PUT", "/api/datasets/ds/files/a.txt", {"content": chunks()}),
                ("PUT", "/api/datasets/ds", {"content": zipped({"a.txt": big[:6000]}, 0)}),
                ("PUT", "/api/loras/style", {"content": big[:6000]}),
                ("PUT", "/api/loras/style", {"content": chunks()}),
                ("POST", "/api/videos", {"json": {"prompt": "x" * 30_000}}),
                ("POST", "/api/videos", {"data": {"prompt": "a ball"},
                                         "files": {"image": ("a.png", big, "image/png")}}),
                ("POST", "/v1/videos", {"data": {"prompt": "a ball"},
                                        "files": {"input_reference": ("a.png", big, "image/png")}}),
                ("POST", "/api/characters", {"json": {"name": "Big",
                                                      "image": "data:image/png;base64," + "A" * 30_000}}),
                ("POST", "/api/members", {"json": {"name": "big", "password": "x" * 30_000}}),
                ("POST", "/api/session", {"json": {"name": "big", "password": "x" * 30_000}}),
                ("PATCH", f"/api/members/{member.id}", {"json": {"quota": {"x" * 30_000: 1}}}),
                ("POST", "/api/verify", {"files": {"file": ("a.mp4", big, "video/mp4")}})):
            answer = world.send(method, url, headers=headers, **kwargs)
            assert answer.status_code == 413, (method, url, answer.status_code, answer.text[:200])
    store.dispose()
    assert files_under(storage.root / "datasets") == [] and files_under(storage.root / "inputs") == []
    assert files_under(storage.lora_folder) == []


# ---- 5. sign-in throttling -----------------------------------------------------------------------------

def test_sign_in_is_throttled_per_name_and_others_are_not(world):
    t, u = world.sign_up("T"), world.sign_up("U")
    for _ in range(5):
        wrong = world.send("POST", "/api/session", json={"name": t.name, "password": "not the password"})
        assert wrong.status_code == 401, wrong.text
    for name in (t.name, t.name.upper()):
        held = world.send("POST", "/api/session", json={"name": name, "password": PASSWORD})
        assert held.status_code == 429, held.text
        assert held.json()["error"]["code"] == "too_many_attempts", held.json()  # the contract's code
        assert 0 < int(held.headers["retry-after"]) <= 15 * 60, held.headers
    assert world.send("POST", "/api/session", json={"name": u.name, "password": "not the password"}).status_code == 401
    assert world.send("POST", "/api/session", json={"name": u.name, "password": PASSWORD}).status_code == 200
    assert world.send("GET", "/api/me/videos", headers=t.by("key")).status_code == 200  # a key is no sign-in
