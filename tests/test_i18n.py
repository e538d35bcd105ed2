"""The studio in English, Korean, French and Indonesian: every catalog has every key (with the same
placeholders), every key the studio uses is in them, and in Chromium no English is left on any view
after switching, for a community server's admin with something on every view."""

from __future__ import annotations

import json
import re
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest

from ungated.jobs.schema import Training

from .test_hostile_uploads import data_url, png
from .test_web import browser  # noqa: F401 (a fixture)
from .test_web_community import Community, close, open_page, until
from .service import Server

WEB = Path(__file__).resolve().parents[1] / "ungated" / "web"
LANGUAGES = sorted(path.stem for path in (WEB / "locales").glob("*.json"))
PLACEHOLDER = re.compile(r"\{(\w+)\}")
UNFILLED = re.compile(r"\b(null|undefined|NaN)\b|\[object |\{\w+\}")


def catalog(language: str) -> dict:
    return json.loads((WEB / "locales" / f"{language}.json").read_text(encoding="utf-8"))


def forms(message) -> list[str]:
    return list(message.values()) if isinstance(message, dict) else [message]


def placeholders(message) -> set[str]:
    return {name for form in forms(message) for name in PLACEHOLDER.findall(form)}


# ---- the catalogs --------------------------------------------------------------------------------

def test_the_studio_speaks_the_four_languages_of_the_story():
    assert {"en", "ko", "fr", "id"} <= set(LANGUAGES)


@pytest.mark.parametrize("language", [code for code in LANGUAGES if code != "en"])
def test_a_catalog_has_every_key_with_the_same_placeholders(language):
    english, other = catalog("en"), catalog(language)
    assert other.get("_name"), f"{language}.json: _name (the language's name in itself) is missing"
    missing, extra = sorted(english.keys() - other.keys()), sorted(other.keys() - english.keys())
    assert not missing, f"{language}.json lacks {len(missing)} keys: {missing[:20]}"
    assert not extra, f"{language}.json has keys English lacks: {extra[:20]}"
    for key, message in english.items():
        if key.startswith("_"):
            continue
        assert placeholders(other[key]) == placeholders(message), f"{language}.json {key}: placeholders differ"
        if isinstance(other[key], dict):
            assert "other" in other[key], f"{language}.json {key}: a message by number needs an 'other' form"
        assert all(form.strip() for form in forms(other[key])), f"{language}.json {key} is empty"


def used_keys() -> tuple[set[str], set[str]]:
    """The keys the studio's code names (t, has and phrase): literal ones, and the prefixes of computed
    ones (t(`status.${x}`))."""
    literal, prefixes = set(), set()
    for script in WEB.glob("*.js"):
        text = script.read_text(encoding="utf-8")
        literal |= set(re.findall(r"""\b(?:t|has|phrase)\(\s*["']([\w.]+)["']""", text))
        prefixes |= set(re.findall(r"\b(?:t|phrase)\(\s*`([\w.]+)\$\{", text))
    literal |= {attributes[name] for _, attributes, _ in page_texts() for name in attributes}
    prefixes.add("errors.")  # errorText: by the API's error code
    return literal, prefixes


def test_every_key_the_studio_uses_is_in_the_catalog_and_every_key_is_used():
    english = {key for key in catalog("en") if not key.startswith("_")}
    literal, prefixes = used_keys()
    assert not sorted(literal - english), f"keys used but not in en.json: {sorted(literal - english)}"
    for prefix in prefixes:
        assert any(key.startswith(prefix) for key in english), f"no key starts with {prefix!r}"
    unused = sorted(key for key in english - literal if not any(key.startswith(prefix) for prefix in prefixes))
    assert not unused, f"keys in en.json that nothing uses: {unused}"


class _Texts(HTMLParser):
    """Each element of index.html that names a key: (tag, {attribute: key}, its text)."""

    def __init__(self):
        super().__init__()
        self.found, self.open = [], []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        keys = {name: value for name, value in attributes.items() if name.startswith("data-i18n")}
        shown = {name: attributes.get(name.removeprefix("data-i18n-")) for name in keys if name != "data-i18n"}
        entry = [tag, keys, "", shown]
        self.found.append(entry)
        if tag not in ("input", "img", "meta", "link", "br", "source"):
            self.open.append(entry)

    def handle_endtag(self, tag):
        while self.open and self.open.pop()[0] != tag:
            pass

    def handle_data(self, data):
        for entry in self.open:
            entry[2] += data


def page_texts():
    parser = _Texts()
    parser.feed((WEB / "index.html").read_text(encoding="utf-8"))
    return [(tag, keys, (text, shown)) for tag, keys, text, shown in parser.found if keys]


def test_the_english_in_the_page_is_the_english_catalog():
    english = catalog("en")
    for tag, keys, (text, shown) in page_texts():
        for name, key in keys.items():
            said = " ".join(text.split()) if name == "data-i18n" else shown.get(name)
            assert said == english.get(key), f"<{tag} {name}={key!r}> says {said!r}; en.json says {english.get(key)!r}"


# ---- in the browser ------------------------------------------------------------------------------

# Words a Korean view may show in Latin letters: names of formats, keys and things that keep them.
KEPT = {"LoRA", "LoRAs", "GPU", "GPUs", "API", "MP4", "GIF", "CSV", "JSONL", "JSON", "URL", "UTC", "Ctrl", "Enter",
        "Mac", "openai", "Python", "ungated", "C2PA", "ID", "fps", "px", "PNG", "JPEG", "WebP", "txt", "jsonl",
        "metadata", "ugk", "ugi", "Alt", "Shift", "Tab", "Esc", "Space"}
LATIN_WORD = re.compile(r"[A-Za-z][A-Za-z0-9'’]*")
# What the world's people wrote or the server named, which an attribute (an aria-label naming a key
# or a clip) may hold: no element can mark part of an attribute translate="no".
PEOPLE = re.compile(r"video_[0-9a-f]+|Ada Admin|Mo Moderator|laptop|mina-4090|Amy|Two shots|style|balls")

# Every visible text of the page outside what people wrote (translate="no"), with where it is: the
# text of shown elements (details opened first), the labels of form options and the attributes a
# reader or a screen reader meets, and the document's title.
SHOWN_TEXT = """() => {
  for (const details of document.querySelectorAll("details")) details.open = true;
  const where = (node) => node.id ? `#${node.id}` : `${node.tagName.toLowerCase()}.${[...node.classList].join(".")}`;
  const kept = (node) => node.closest('[translate="no"], script, style, template');
  const found = [["title", document.title]];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let text; (text = walker.nextNode());) {
    const node = text.parentElement;
    if (!text.textContent.trim() || kept(node) || node.closest("select")) continue;
    if (node.checkVisibility({ visibilityProperty: true })) found.push([where(node), text.textContent.trim()]);
  }
  for (const select of document.querySelectorAll("select")) {
    if (kept(select) || !select.checkVisibility()) continue;
    for (const option of select.options) if (!kept(option)) found.push([where(select), option.textContent.trim()]);
  }
  for (const node of document.querySelectorAll("[placeholder], [aria-label], [title], [alt]")) {
    if (kept(node) || !node.checkVisibility({ visibilityProperty: true })) continue;
    for (const name of ["placeholder", "aria-label", "title", "alt"]) {
      const value = node.getAttribute(name);
      if (value && value.trim()) found.push([`${where(node)}@${name}`, value.trim()]);
    }
  }
  return found;
}"""


def english_left(found: list[list[str]], language: str) -> list[str]:
    """What a view in language still shows in English: in Korean any Latin word but the kept ones;
    in a language written in Latin letters, any text that is an English message it translates. In
    any language, a value the code failed to fill ("null", "undefined", "NaN", "{name}")."""
    unfilled = [f"{where}: {text!r}" for where, text in found if UNFILLED.search(text)]
    return unfilled + _untranslated(found, language)


def _untranslated(found: list[list[str]], language: str) -> list[str]:
    if language == "en":
        return []
    if language == "ko":
        return [f"{where}: {text!r}" for where, text in found
                if any(word not in KEPT for word in LATIN_WORD.findall(PEOPLE.sub("", text)))]
    english, own = catalog("en"), catalog(language)
    translated = {form for key, message in own.items() if not key.startswith("_") for form in forms(message)}
    sentences = {form for key, message in english.items() if not key.startswith("_") for form in forms(message)
                 if not PLACEHOLDER.search(form) and re.search("[A-Za-z]{2}", form)} - translated
    return [f"{where}: {text!r}" for where, text in found if text in sentences]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A community server whose admin has something on every view: a clip shared and reported, one
    waiting in a paused queue, a storyboard, a character, a training run, an API key, an invite and a
    GPU worker's token."""
    home = tmp_path_factory.mktemp("languages")
    running = Server(home, f"sqlite:///{home / 'store.db'}", extra=("--public",)).start()
    people = Community(running)
    admin, moderator = people.join("Ada Admin", "admin"), people.join("Mo Moderator", "moderator")
    video = people.clip(admin, "a large yellow star bouncing on a purple background")
    assert moderator.post(f"/api/videos/{video['id']}/reports", json={"reason": "spam", "note": "n"}).status_code == 201
    assert admin.post("/api/me/queue/pause").status_code == 200
    assert admin.post("/api/videos", json={"prompt": "a blue square waiting its turn", "steps": 2}).status_code == 200
    board = admin.post("/api/boards", json={"title": "Two shots", "model": "builtin",
                                            "shots": [{"prompt": "a red circle moving right", "seconds": 2}]})
    assert board.status_code == 200, board.text
    assert admin.post("/api/characters", json={"name": "Amy", "image": data_url(png())}).status_code == 200
    assert admin.put("/api/datasets/balls/files/one.txt", content=b"a ball").status_code == 200
    run = admin.post("/api/trainings", json={"name": "style", "dataset": "balls", "steps": 1})
    assert run.status_code == 200, run.text
    admin.post(f"/api/trainings/{run.json()['id']}/cancel")
    failed = admin.post("/api/trainings", json={"name": "style-two", "dataset": "balls", "steps": 1})
    assert failed.status_code == 200, failed.text
    admin.post(f"/api/trainings/{failed.json()['id']}/cancel")
    ended = ("cancelled", "failed", "completed")
    for _ in range(300):  # until no worker holds it, so what is written below stays
        if admin.get(f"/api/trainings/{failed.json()['id']}").json()["status"] in ended:
            break
        time.sleep(0.1)
    with people.store.write() as session:  # as a worker that ran out of memory records it
        run_row = session.get(Training, failed.json()["id"])
        run_row.status, run_row.error_code, run_row.error_message = "failed", "training_failed", "RuntimeError: oom"
    for name, size in (("tiny", (32, 32)), ("odd", (66, 65))):  # problems with sizes in them
        assert admin.put(f"/api/datasets/balls/files/{name}.png", content=png(size)).status_code == 200
        assert admin.put(f"/api/datasets/balls/files/{name}.txt", content=b"a ball").status_code == 200
    assert admin.post("/api/me/keys", json={"name": "laptop"}).status_code == 201
    assert admin.post("/api/invites", json={"uses": 1, "note": "for Nia"}).status_code in (200, 201)
    assert admin.post("/api/workers", json={"name": "mina-4090"}).status_code == 200
    people.video, people.board = video, board.json()
    yield people
    for client in (admin, moderator):
        client.close()
    people.store.dispose()
    running.stop()


# Each view, with what shows it is drawn.
VIEWS = {"/": "#model option", "/feed": "#grid li", "/me": "#grid li", "/favourites": "#list-title",
         "/boards": "#boards li", "/train": "body:has(#runs li):has(#dataset-problems li + li)",
         "/account": "#keys li", "/workers": "#workers li", "/moderation": "#reports li", "/admin": "#audit li"}


def shown_in(page, language: str) -> list[str]:
    return english_left(page.evaluate(SHOWN_TEXT), language)


def visit(page, path: str, drawn: str) -> None:
    page.goto(path)
    until(page, f"document.querySelector({drawn!r})")
    page.wait_for_timeout(300)  # the lines drawn after it (figures, states)


@pytest.mark.parametrize("language", LANGUAGES)
def test_no_english_is_left_on_any_view(browser, world, language):  # noqa: F811
    page = open_page(browser, world.base, "Ada Admin")
    page.add_init_script(f"localStorage.setItem('ungated.language', {language!r})")
    left = {}
    for path, drawn in VIEWS.items():
        visit(page, path, drawn)
        left[path] = shown_in(page, language)
    visit(page, "/", "#model option")  # a length the model does not make: the plan says what it changed
    page.evaluate("""() => { const length = document.querySelector('#seconds');
      Object.assign(length, { min: 0, step: 'any', value: 1 });
      length.dispatchEvent(new Event('input', { bubbles: true })); }""")
    until(page, "/(->|→).*2/.test(document.querySelector('#plan').textContent)")
    left["/ with its plan adjusted"] = shown_in(page, language)
    visit(page, f"/v/{world.video['id']}", "#video-facts dt")
    left["video"] = shown_in(page, language)
    for tool in ("#extend", "#recut", "#blend", "#make-character"):
        if page.is_visible(tool):
            page.click(tool)
            left[f"video {tool}"] = shown_in(page, language)
    visit(page, f"/boards/{world.board['id']}", ".shot")
    left["storyboard"] = shown_in(page, language)
    page.click("#settings-open")
    left["settings dialog"] = shown_in(page, language)
    close(page)

    stranger = open_page(browser, world.base)
    stranger.add_init_script(f"localStorage.setItem('ungated.language', {language!r})")
    visit(stranger, "/", "#model option")
    stranger.click("#signin-open")
    left["sign-in dialog"] = shown_in(stranger, language)
    visit(stranger, f"/v/{world.video['id']}", "#video-facts dt")
    stranger.click("#video-report")
    left["report dialog"] = shown_in(stranger, language)
    close(stranger)
    left = {view: texts for view, texts in left.items() if texts}
    assert not left, "English (or an unfilled value) left in " + language + ":\n" + "\n".join(
        f"{view}: {text}" for view, texts in left.items() for text in texts)


def test_a_korean_browser_gets_korean_and_a_switch_to_french_is_remembered(browser, world):  # noqa: F811
    context = browser.new_context(base_url=world.base, locale="ko-KR")
    page = context.new_page()
    page.goto("/")
    until(page, "document.querySelector('#model option')")
    korean, french = catalog("ko"), catalog("fr")
    create_key = page.get_attribute("nav a[data-view=create]", "data-i18n")
    assert page.evaluate("document.documentElement.lang") == "ko"
    assert page.inner_text("nav a[data-view=create]") == korean[create_key]
    assert page.input_value("#language") == "ko"
    assert page.evaluate("import('/static/i18n.js').then((m) => m.duration(75))") == "1분 15초"

    page.select_option("#language", "fr")
    until(page, "document.documentElement.lang === 'fr' && document.querySelector('#model option')")
    assert page.inner_text("nav a[data-view=create]") == french[create_key]
    page.reload()
    until(page, "document.querySelector('#model option')")
    assert page.evaluate("document.documentElement.lang") == "fr" and page.input_value("#language") == "fr"
    written = "import('/static/i18n.js').then((m) => [m.number(1234.5, 1), m.t('queue.ahead', {count: 2})])"
    plural = page.evaluate(written)
    assert plural == ["1\u202f234,5", french["queue.ahead"]["other"].replace("{count}", "2")]
    context.close()


def test_an_api_error_is_shown_in_the_readers_language_by_its_code(browser, world):  # noqa: F811
    page = open_page(browser, world.base, "Mo Moderator")
    page.add_init_script("localStorage.setItem('ungated.language', 'id')")
    page.goto("/")
    until(page, "document.querySelector('#model option')")
    said = page.evaluate("""import('/static/common.js').then((m) => m.api('/api/members/nobody', {method: 'PATCH',
      json: {role: 'admin'}}).then(() => 'no error', (error) => [error.code, error.message]))""")
    assert said == ["not_admin", catalog("id")["errors.not_admin"]]
    close(page, refused=(403,))
