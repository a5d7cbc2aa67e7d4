// A club's two conversations, a section's thread and the club chat, as views that outlive a
// redraw of the club screen (a section read or opened, a new role): `refresh()` enters the room
// again (the shield learns my new place on a fresh subscription) and merges a fresh read of the
// posts, while the composer keeps what was typed and a send still in flight lands in the same list.

import { h, mount, ago, pct, randomKey, announce } from "../dom.js";
import { api, fieldErrors } from "../api.js";
import { app } from "../state.js";
import { loading, failure, showErrors } from "../ui.js";

/**
 * @typedef {import("../api.js").Message} Message
 * @typedef {import("../socket.js").Frame} Frame
 * @typedef {{el: HTMLElement, id: number, refresh: () => void, close: () => void}} TalkView
 */

/** A chat message or thread post, shown as hidden when the shield redacts it. @param {Message} m */
export function postView(m) {
  const meta = h("div", { class: "meta" }, `${m.author_name} · ${ago(m.created_at)}`);
  if (m.redacted) {
    return h("li", { class: "item hidden-item", "data-hidden": "true", "data-id": String(m.id) }, meta,
      `🔒 A post by ${m.author_name}, hidden by your spoiler shield: it unlocks when you reach ${pct(m.gate)}.`);
  }
  return h("li", { class: `item${m.author_id === app.me?.id ? " mine" : ""}`, "data-kind": "chat", "data-id": String(m.id) }, meta, m.body || "");
}

/**
 * A composer that keeps what was typed until the server has taken it. A refused or failed send
 * shows the server's reason (the problem's detail, else its title) next to the field, keeps the
 * text and lets Post/Send try again, with the same idempotency key while the text is unchanged
 * (a send that did land but whose answer was lost is not posted twice).
 * @param {{label: string, button: string, aria: string, maxlength: number, multiline?: boolean,
 *          send: (body: string, key: string) => Promise<Message>, sent: (m: Message) => void}} o
 */
function composer(o) {
  const id = `talk-${randomKey().slice(0, 6)}`;
  const attrs = { id, name: "body", maxlength: String(o.maxlength), required: true, "aria-describedby": `${id}-err` };
  const input = /** @type {HTMLInputElement | HTMLTextAreaElement} */ (o.multiline ? h("textarea", attrs) : h("input", { ...attrs, autocomplete: "off" }));
  const button = /** @type {HTMLButtonElement} */ (h("button", { type: "submit", class: "primary" }, o.button));
  let key = randomKey();
  input.addEventListener("input", () => { key = randomKey(); });
  /** @param {SubmitEvent} ev */
  const submit = async (ev) => {
    ev.preventDefault();
    const form = /** @type {HTMLFormElement} */ (ev.currentTarget);
    button.disabled = true;
    try {
      const m = await o.send(input.value, key);
      input.value = ""; key = randomKey(); showErrors(form, {});
      o.sent(m);
    } catch (e) { showErrors(form, fieldErrors(e, ["body"])); }
    finally { button.disabled = false; }
  };
  const field = h("div", { class: "field" }, h("label", { for: id }, o.label), input,
    h("p", { class: "field-error", id: `${id}-err`, "data-for": "body" }));
  const error = h("p", { class: "form-error", role: "alert" });
  return o.multiline ? h("form", { onsubmit: submit, "aria-label": o.aria }, field, error, button)
    : h("form", { onsubmit: submit, "aria-label": o.aria, class: "row inline-form" }, field, button, error);
}

/**
 * The messages of one room by id, live: `enter()` (re)subscribes and merges a fresh read, so a
 * post sent, received live or read again is drawn once and never dropped by a redraw.
 * @param {{room: string, list: HTMLElement, empty: string, read: () => Promise<{items: Message[], next_cursor?: string | null}>,
 *          drawn?: (all: HTMLElement[]) => HTMLElement[], read1?: (page: any) => void, other?: (f: Frame) => void}} o
 */
function liveMessages(o) {
  const rt = /** @type {import("../socket.js").Realtime} */ (app.rt);
  /** @type {Map<number, Message>} */
  const msgs = new Map();
  /** @type {(() => void) | null} */
  let sub = null;
  let loaded = false;
  /** Draw, keeping the reader's place: at the bottom for new messages, where they were for earlier ones. */
  const draw = (bottom = true) => {
    const views = [...msgs.values()].sort((a, b) => a.id - b.id).map(postView);
    const all = o.drawn ? o.drawn(views) : views;
    const top = o.list.scrollHeight - o.list.scrollTop;
    mount(o.list, all.length ? all : h("li", { class: "muted small" }, o.empty));
    o.list.scrollTop = bottom ? o.list.scrollHeight : o.list.scrollHeight - top;
  };
  /** @param {Message} m */
  const put = (m) => { msgs.set(m.id, m); draw(); };
  const read = () => o.read().then((page) => {
    for (const m of page.items) msgs.set(m.id, m);
    if (!loaded) o.read1?.(page);
    loaded = true;
    draw();
  }, (e) => { if (!loaded) mount(o.list, failure(e, enter)); });
  /** Enter the room, then read: a post published after the subscribe comes live, one before it
   * is in the read (and after a reconnect that could not replay what was missed, read again). */
  const enter = () => {
    sub?.();
    if (!loaded) o.list.append(loading());
    const online = rt.state === "online";
    sub = rt.subscribe(o.room, {
      onEvent: (f) => {
        if (f.event === "chat" || f.event === "chat_edited") put(f.data);
        else if (f.event === "chat_deleted") { msgs.delete(f.data.id ?? f.data.message_id); draw(); }
        else o.other?.(f);
      },
      onSubscribed: (r, resumed) => { if (!resumed || !r.recovered) read(); },
      onError: () => { read(); },
    });
    if (!online) read();
  };
  return { msgs, draw, put, enter, close: () => { sub?.(); sub = null; } };
}

/** A section's thread: its posts through the shield and a composer. @param {number} cid
 * @param {import("../api.js").Section} s @returns {TalkView} */
export function threadView(cid, s) {
  const list = h("ol", { class: "timeline", "aria-live": "polite", id: "thread-posts" });
  const live = liveMessages({ room: s.room, list, empty: "No posts yet: start the discussion.",
    read: () => api.sectionPosts(cid, s.id) });
  const form = composer({ label: "Your post", button: "Post", aria: `Post in ${s.title}`, maxlength: 2000, multiline: true,
    send: (body, key) => api.postInSection(cid, s.id, body, key), sent: live.put });
  live.enter();
  return { el: h("div", null, h("h3", null, s.title), list, form), id: s.id, refresh: live.enter, close: live.close };
}

/** The club chat: the newest page, earlier pages on demand, live messages and a composer; the
 * club room's other events (polls, sections, bans) go to `other`.
 * @param {import("../api.js").Club} club @param {(f: Frame) => void} other @returns {TalkView} */
export function clubChat(club, other) {
  const list = h("ol", { class: "timeline", id: "club-chat", "aria-live": "polite", tabindex: "0", "aria-label": "Club chat messages" });
  /** @type {string | null} the earlier page (newest first, ending before the oldest loaded): its button sits above the history */
  let cursor = null;
  const live = liveMessages({ room: club.room, list, empty: "No messages yet: say hello.", other,
    read: () => api.clubMessages(club.id), read1: (page) => { cursor = page.next_cursor; },
    drawn: (views) => cursor ? [h("li", { class: "row" }, h("button", { type: "button", id: "more-chat", onclick: more }, "Load earlier messages")), ...views] : views });
  const more = async () => {
    try {
      const page = await api.clubMessages(club.id, cursor);
      for (const m of page.items) live.msgs.set(m.id, m);
      cursor = page.next_cursor; live.draw(false);
      /** @type {HTMLElement} */ (list.querySelector("#more-chat") ?? list).focus();
    } catch (e) { announce(e instanceof Error ? e.message : "Could not load earlier messages", "error"); }
  };
  const form = composer({ label: "Message the club", button: "Send", aria: "Club chat", maxlength: 2000,
    send: (body, key) => api.clubSay(club.id, body, key), sent: live.put });
  live.enter();
  return { el: h("div", null, list, form), id: club.id, refresh: live.enter, close: live.close };
}
