// A draft of the create form, kept in this browser (localStorage) as it is typed, so that a
// reload, a closed tab or a crash loses nothing; cleared once the video is sent.

const KEY = "ungated.draft";

export function loadDraft() {
  try {
    const draft = JSON.parse(localStorage.getItem(KEY) || "null");
    return draft && typeof draft === "object" ? draft : null;
  } catch {
    return null;  // a draft from an older studio, or written by hand: not worth an error
  }
}

/** Keep fields (merged over the draft kept so far: a part of the form may not be drawn yet). */
export function saveDraft(fields) {
  try {
    localStorage.setItem(KEY, JSON.stringify({ ...loadDraft(), ...fields }));
  } catch { /* storage full or refused (a private window): the form still works */ }
}

export function clearDraft() {
  localStorage.removeItem(KEY);
}
