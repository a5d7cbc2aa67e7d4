// The co-reading room: position by chapter and percentage, presence with positions, follow the
// host, chat with reactions, annotations, the spoiler shield, host controls, the session's end.

import { h, mount, pct, announce } from "../dom.js";
import { api, ApiError } from "../api.js";
import { app } from "../state.js";
import { SocketError } from "../socket.js";
import { loading, failure } from "../ui.js";
import { EMOJI, entryView, pendingView, where, chapterAt } from "./room-view.js";
import { catchUpPanel, markSeen } from "./catchup.js";
import { stagePanel } from "./stage.js";

/** @typedef {import("./room-view.js").Entry} Entry */
/** @typedef {{user_id: number, name: string, connections: number, meta: {position?: import("../api.js").Position | null, state?: string}}} Member */

const ERRORS = /** @type {Record<string, string>} */ ({
  chat_locked: "The host has locked the chat.", muted: "The host has muted you in this session.",
  session_ended: "This session has ended.", too_long: "That message is too long (2,000 characters at most).",
  empty_message: "Write something first.", rate_limited: "Slow down a little.",
  kicked: "You were removed from this session.", room_forbidden: "You may not enter this session.",
});

/** @param {unknown} e */
const say = (e) => e instanceof SocketError || e instanceof ApiError ? (ERRORS[e.code] || e.message) : String(e);

/** @param {HTMLElement} view @param {string[]} args */
export function roomScreen(view, [id]) {
  const sid = Number(id);
  const room = `session:${sid}`;
  const rt = /** @type {import("../socket.js").Realtime} */ (app.rt);
  const me = /** @type {import("../api.js").User} */ (app.me);
  const posKey = `ra.pos.${sid}`;
  /** @type {Map<string, Entry>} */
  const entries = new Map();
  /** @type {Map<number, Member>} */
  const members = new Map();
  let progression = 0;
  let furthest = 0;
  let following = true;
  let ended = false;
  /** @type {boolean | null} */
  let shieldOn = null;
  /** @type {import("../api.js").Session} */
  let session;
  /** @type {import("../api.js").Chapter[]} */
  let toc = [];
  /** @type {(() => void) | null} */
  let leave = null;
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let moveTimer;
  const els = /** @type {Record<string, HTMLElement>} */ ({});
  let closed = false;
  /** @type {{el: HTMLElement, close: () => void} | null} */
  let stage = null;

  mount(view, loading("Opening the room"));
  open();

  async function open() {
    try {
      session = await api.session(sid);
      const book = await api.book(session.book_id);
      toc = book.toc;
      if (session.status !== "ended") {
        await api.join(sid, app.invite).catch((e) => { if (!(e instanceof ApiError && e.code === "already_joined")) throw e; });
      }
      const saved = Number(localStorage.getItem(posKey) || "NaN");
      const record = await api.record(sid).catch(() => null);
      const mine = record?.attendance.find((p) => p.user_id === me.id);
      progression = mine?.progression ?? (Number.isFinite(saved) ? saved : 0);
      furthest = Math.max(progression, mine?.furthest ?? 0);
      ended = session.status === "ended";
      if (closed) return;
      render(book);
      await loadContent();
      leave = rt.subscribe(room, { onEvent, onPresence, onSubscribed, onError: (e) => banner(say(e)) });
    } catch (e) {
      mount(view, failure(e, open));
    }
  }

  async function loadContent() {
    const [m, r, a] = await Promise.all([api.messages(sid, null), api.reactions(sid), api.annotations(sid)]);
    for (const it of m.items) entries.set(`chat:${it.id}`, { kind: "chat", item: it });
    for (const it of r.items) entries.set(`reaction:${it.id}`, { kind: "reaction", item: it });
    for (const it of a.items) entries.set(`annotation:${it.id}`, { kind: "annotation", item: it });
    drawTimeline();
  }

  /** @param {any} result @param {boolean} resumed */
  function onSubscribed(result, resumed) {
    members.clear();
    for (const m of result.presence || []) members.set(m.user_id, m);
    drawPresence();
    if (resumed && !result.recovered) loadContent().catch(() => {});
    if (session.mode === "follow" && following && session.host_id !== me.id && session.host_position) {
      move(session.host_position.progression, false);
    }
    sendPosition();
  }

  /** @param {import("../socket.js").Frame} f */
  function onEvent(f) {
    const d = f.data || {};
    switch (f.event) {
      case "chat": case "chat_edited": case "reaction": case "annotation": {
        const kind = f.event === "chat_edited" ? "chat" : f.event;
        const key = `${kind}:${d.id}`;
        const was = entries.get(key);
        if (f.event === "chat" && typists.has(d.author_name)) typingNow(d.author_name, false);
        entries.set(key, /** @type {Entry} */ ({ kind, item: d }));
        if (!was && d.author_id !== me.id && els.live) {
          els.live.textContent = d.redacted ? `${d.author_name} posted something hidden by your shield`
            : kind === "chat" ? `${d.author_name}: ${d.body}` : kind === "reaction" ? `${d.author_name} reacted ${d.emoji}` : `${d.author_name} added a note`;
        } else if (was?.item.redacted && !d.redacted && els.live) {
          els.live.textContent = `Unlocked: ${kind === "chat" ? `${d.author_name}: ${d.body}` : `${d.author_name}'s ${kind}`}`;
        }
        drawTimeline(was?.item.redacted && !d.redacted ? key : null);
        break;
      }
      case "typing":
        if (d.user_id !== me.id) typingNow(d.name, d.typing !== false);
        break;
      case "chat_deleted": entries.delete(`chat:${d.id}`); drawTimeline(); break;
      case "annotation_deleted": entries.delete(`annotation:${d.id}`); drawTimeline(); break;
      case "follow":
        session.host_position = d.position;
        if (d.user_id !== me.id && following && session.mode === "follow") move(d.position.progression, false);
        break;
      case "status":
        session.status = d.status;
        if (d.status === "ended") { ended = true; banner("This session has ended. The room is now read-only."); lockInputs(); showRecord(); }
        drawHeader();
        break;
      case "settings": Object.assign(session, d); drawHeader(); break;
      case "host_changed": session.host_id = d.host_id; drawHeader(); drawPresence(); break;
      case "muted": if (d.user_id === me.id) banner(d.muted ? ERRORS.muted : "The host unmuted you."); break;
      case "kicked":
        if (d.user_id === me.id) { banner(ERRORS.kicked); ended = true; lockInputs(); leave?.(); leave = null; }
        break;
      default: break;
    }
  }

  /** @param {import("../socket.js").Frame} f */
  function onPresence(f) {
    for (const m of [...(f.joined || []), ...(f.updated || [])]) members.set(m.user_id, m);
    for (const uid of f.left || []) members.delete(uid);
    drawPresence();
  }

  /** @param {number} p @param {boolean} mineMove */
  function move(p, mineMove) {
    progression = Math.min(1, Math.max(0, Math.round(p * 10000) / 10000));
    furthest = Math.max(furthest, progression);
    if (mineMove && session.mode === "follow" && session.host_id !== me.id && following) {
      following = false;  // moving yourself stops following the host
    }
    localStorage.setItem(posKey, String(progression));
    drawPosition();
    clearTimeout(moveTimer);
    moveTimer = setTimeout(sendPosition, 120);
  }

  function sendPosition() {
    if (ended || rt.state !== "online") return;
    const chapter = chapterAt(toc, progression);
    rt.presence(room, { position: { progression, locator: `chapter:${chapter ?? 0}` }, state: "active" })
      .then(() => drawTimeline()).catch(() => {});
  }

  /** @param {import("../api.js").Book} book */
  function render(book) {
    els.header = h("div");
    els.banner = h("div", { role: "status" });
    els.position = h("div");
    els.timeline = h("ol", { class: "timeline", id: "timeline", "aria-label": "Chat, reactions and notes", tabindex: "0" });
    els.live = h("p", { class: "sr-only", "aria-live": "polite" });
    els.presence = h("ul", { class: "plain presence", id: "presence" });
    els.chatError = h("p", { class: "field-error", id: "chat-err", role: "alert" });
    els.typing = h("p", { class: "muted small", id: "typing", "aria-live": "polite" });
    const chat = h("form", { id: "chat", class: "row", onsubmit: sendChat },
      h("label", { for: "chat-body", class: "sr-only" }, "Message"),
      h("input", { id: "chat-body", name: "body", class: "grow", maxlength: "2000", autocomplete: "off", oninput: typed,
        placeholder: "Say something about what you have read", "aria-describedby": "chat-err" }),
      h("button", { type: "submit", class: "primary" }, "Send"));
    const reactbar = h("div", { class: "reactbar", role: "group", "aria-label": "React at your position" },
      EMOJI.map((em) => h("button", { type: "button", "aria-label": `React ${em} here`, onclick: () => react(null, em) }, em)));
    const note = h("details", { class: "annotate" }, h("summary", null, "Annotate a passage"),
      h("form", { id: "annotate", onsubmit: annotate },
        h("div", { class: "field" }, h("label", { for: "a-quote" }, "Passage (quote)"), h("textarea", { id: "a-quote", name: "quote", maxlength: "2000", required: true })),
        h("div", { class: "field" }, h("label", { for: "a-note" }, "Your note"), h("textarea", { id: "a-note", name: "note", maxlength: "4000" })),
        h("div", { class: "field" }, h("label", { for: "a-vis" }, "Visible to"),
          h("select", { id: "a-vis", name: "visibility" }, h("option", { value: "session" }, "This session"),
            h("option", { value: "public" }, "Everyone reading the book"), h("option", { value: "private" }, "Only me"))),
        h("p", { class: "field-error", role: "alert" }),
        h("button", { type: "submit" }, "Save note")));
    mount(view, els.header, els.banner,
      h("div", { class: "room" },
        h("section", { class: "card", "aria-labelledby": "pos-h" }, h("h2", { id: "pos-h" }, "Where I am"), els.position),
        h("section", { class: "card chat-col", "aria-labelledby": "chat-h" }, h("h2", { id: "chat-h" }, "Discussion"),
          els.timeline, els.live, els.typing, chat, els.chatError, reactbar, note, catchUpPanel(sid)),
        h("section", { class: "card", "aria-labelledby": "who-h" }, h("h2", { id: "who-h" }, "Reading now"), els.presence,
          ended ? null : h("h2", { id: "stage-h" }, "Audio stage"), ended ? null : (stage = stagePanel(`session:${sid}`, (uid) => members.get(uid)?.name || "A reader")).el)));
    els.book = h("a", { href: `#/book/${book.id}` }, book.title);
    mount(els.timeline, h("li", { class: "state loading", role: "status" }, "Loading the discussion…"));
    drawHeader();
    drawPosition();
    drawPresence();
    if (ended) { banner("This session has ended. The room is now read-only."); lockInputs(); showRecord(); }
  }

  function drawHeader() {
    const host = session.host_id === me.id;
    const shieldBox = h("input", { type: "checkbox", id: "shield", checked: shieldOn ?? session.shield_default,
      onchange: (/** @type {Event} */ e) => {
        shieldOn = /** @type {HTMLInputElement} */ (e.target).checked;
        rt.publishNow(room, { type: "shield", enabled: shieldOn }).then(() => loadContent()).catch((x) => banner(say(x)));
      } });
    let confirming = false;
    const endBtn = h("button", { type: "button", class: "danger", id: "end", onclick: async () => {
      if (!confirming) { confirming = true; endBtn.textContent = "Confirm: end for everyone"; return; }
      try { await api.endSession(sid); } catch (e) { banner(say(e)); }
    } }, "End session");
    mount(els.header, h("div", { class: "row room-head" },
      h("div", { class: "grow" }, h("h1", null, session.title),
        h("p", { class: "muted small" }, els.book, ` · ${session.status} · ${session.mode === "follow" ? "follow the host" : "free reading"}${session.chat_locked ? " · chat locked" : ""}`)),
      h("label", { class: "row small", for: "shield" }, shieldBox, "Spoiler shield"),
      host && !ended ? h("div", { class: "row", role: "group", "aria-label": "Host controls" },
        h("button", { type: "button", id: "lock", "aria-pressed": String(session.chat_locked),
          onclick: () => api.updateSession(sid, { chat_locked: !session.chat_locked }).catch((e) => banner(say(e))) },
        session.chat_locked ? "Unlock chat" : "Lock chat"),
        h("button", { type: "button", id: "room-shield", "aria-pressed": String(session.shield_default),
          onclick: () => api.updateSession(sid, { shield_default: !session.shield_default }).catch((e) => banner(say(e))) },
        session.shield_default ? "Room shield: on" : "Room shield: off"),
        endBtn) : null,
      h("a", { class: "button", href: "#/" }, "Leave")),
    host && session.invite_code && !ended ? h("p", { class: "small" }, "Invite link: ",
      h("code", { id: "invite" }, `${location.origin}/app/?session=${sid}&invite=${session.invite_code}`)) : null);
  }

  function drawPosition() {
    if (!els.position) return;
    const current = chapterAt(toc, progression);
    const slider = h("input", { type: "range", id: "pct", min: "0", max: "100", step: "0.5", value: String(progression * 100),
      "aria-valuetext": pct(progression), disabled: ended,
      onchange: (/** @type {Event} */ e) => move(Number(/** @type {HTMLInputElement} */ (e.target).value) / 100, true) });
    const followBox = session.mode === "follow" && session.host_id !== me.id
      ? h("label", { class: "row small" }, h("input", { type: "checkbox", id: "follow", checked: following,
        onchange: (/** @type {Event} */ e) => { following = /** @type {HTMLInputElement} */ (e.target).checked; if (following && session.host_position) move(session.host_position.progression, false); } }), "Follow the host")
      : null;
    mount(els.position,
      h("p", { id: "my-pos" }, h("strong", null, where(toc, current, progression)), ` · ${pct(progression)}`),
      h("label", { for: "pct", class: "lbl" }, "Position in the book"), slider,
      followBox,
      toc.length ? h("ol", { class: "chapters", "aria-label": "Chapters" }, toc.map((c) => h("li", null,
        h("button", { type: "button", "aria-current": String(c.index === current), disabled: ended,
          "aria-label": `${c.title}, starts at ${pct(c.start)}`,
          onclick: () => move(c.start, true) }, c.title, h("span", { class: "here" }, pct(c.start))))))
        : h("p", { class: "muted" }, "No table of contents: use the slider."));
  }

  /** @param {string | null} [unlockedKey] */
  function drawTimeline(unlockedKey = null) {
    if (!els.timeline) return;
    const sorted = [...entries.values()].sort((x, y) => x.item.created_at.localeCompare(y.item.created_at) || x.item.id - y.item.id);
    for (const e of sorted) if (e.kind === "chat" && !e.item.redacted) markSeen(sid, e.item.id);
    const ctx = { toc, me: me.id, furthest, react, remove };
    const rows = sorted.map((e) => {
      const li = entryView(e, ctx);
      if (unlockedKey === `${e.kind}:${e.item.id}`) li.classList.add("unlocked");
      return li;
    });
    const pending = rt.queued(room).filter((q) => q.data.type === "chat").map((q) => pendingView(q.data.body, rt.state === "online"));
    const stick = !els.timeline.dataset.filled || els.timeline.scrollHeight - els.timeline.scrollTop - els.timeline.clientHeight < 40;
    if (rows.length) els.timeline.dataset.filled = "true";
    mount(els.timeline, rows.length || pending.length ? [...rows, ...pending]
      : h("li", { class: "state empty" }, "No messages yet. Say hello!"));
    if (stick) els.timeline.scrollTop = els.timeline.scrollHeight;
  }

  function drawPresence() {
    if (!els.presence) return;
    const host = session.host_id === me.id;
    els.presence.classList.toggle("stale", rt.state !== "online");
    const list = [...members.values()].sort((a, b) => (a.meta?.position?.progression ?? 0) - (b.meta?.position?.progression ?? 0));
    mount(els.presence, list.length ? list.map((m) => {
      const p = m.meta?.position;
      return h("li", { "data-user": String(m.user_id) },
        h("span", { class: "grow" }, h("strong", null, m.name), m.user_id === session.host_id ? " (host)" : "", m.user_id === me.id ? " (you)" : "",
          h("br"), h("span", { class: "muted small" }, p ? `${where(toc, p.chapter, p.progression)} · ${pct(p.progression)}` : "just arrived")),
        host && m.user_id !== me.id && !ended ? h("span", { class: "row" },
          h("button", { type: "button", class: "small", "aria-label": `Mute ${m.name}`, onclick: () => api.muteReader(sid, m.user_id, true).then(() => announce(`${m.name} is muted`), (e) => banner(say(e))) }, "Mute"),
          h("button", { type: "button", class: "small danger", "aria-label": `Remove ${m.name}`, onclick: () => api.kick(sid, m.user_id).catch((e) => banner(say(e))) }, "Remove")) : null);
    }) : h("li", { class: "muted" }, rt.state === "online" ? "Joining…" : "You will see who is here once you are connected."));
  }

  /** @param {SubmitEvent} ev */
  function sendChat(ev) {
    ev.preventDefault();
    const form = /** @type {HTMLFormElement} */ (ev.currentTarget);
    const input = /** @type {HTMLInputElement} */ (form.elements.namedItem("body"));
    const body = input.value.trim();
    els.chatError.textContent = "";
    if (!body) { els.chatError.textContent = ERRORS.empty_message; return; }
    input.value = "";
    const sent = rt.publish(room, { type: "chat", body });
    drawTimeline();
    sent.then(() => drawTimeline(), (e) => { els.chatError.textContent = say(e); drawTimeline(); });
  }

  /** @param {number | null} annotationId @param {string} emoji */
  function react(annotationId, emoji) {
    const data = annotationId ? { type: "react", emoji, annotation_id: annotationId }
      : { type: "react", emoji, position: { progression, locator: `chapter:${chapterAt(toc, progression) ?? 0}` } };
    rt.publish(room, data).catch((e) => { els.chatError.textContent = say(e); });
  }

  /** @param {"chat" | "annotation"} kind @param {number} itemId */
  function remove(kind, itemId) {
    const data = kind === "chat" ? { type: "chat_delete", message_id: itemId } : { type: "annotation_delete", annotation_id: itemId };
    rt.publishNow(room, data).catch((e) => { els.chatError.textContent = say(e); });
  }

  /** @param {SubmitEvent} ev */
  function annotate(ev) {
    ev.preventDefault();
    const form = /** @type {HTMLFormElement} */ (ev.currentTarget);
    const data = new FormData(form);
    const errLine = /** @type {HTMLElement} */ (form.querySelector(".field-error"));
    const start = Math.max(0, progression - 0.005);
    rt.publish(room, { type: "annotate", note: String(data.get("note") || ""), visibility: String(data.get("visibility")),
      selectors: [{ type: "ProgressionSelector", start, end: progression },
        { type: "TextQuoteSelector", exact: String(data.get("quote") || "") }] })
      .then(() => { form.reset(); errLine.textContent = ""; announce("Note saved"); }, (e) => { errLine.textContent = say(e); });
  }

  /** @type {Map<string, ReturnType<typeof setTimeout>>} */
  const typists = new Map();
  let typedAt = 0;
  /** @param {string} name @param {boolean} on */
  function typingNow(name, on) {
    clearTimeout(typists.get(name));
    if (on) typists.set(name, setTimeout(() => { typists.delete(name); drawTyping(); }, 5000));
    else typists.delete(name);
    drawTyping();
  }
  function drawTyping() {
    const names = [...typists.keys()];
    if (els.typing) els.typing.textContent = names.length ? `${names.join(", ")} ${names.length === 1 ? "is" : "are"} typing…` : "";
  }
  function typed() {
    if (Date.now() - typedAt < 3000 || rt.state !== "online" || ended) return;
    typedAt = Date.now();
    rt.publishNow(room, { type: "typing", typing: true }).catch(() => {});
  }

  /** @param {string} text */
  function banner(text) { if (els.banner) mount(els.banner, text ? h("p", { class: "banner" }, text) : null); }

  function lockInputs() {
    for (const el of view.querySelectorAll("#chat input, #chat button, .reactbar button, #annotate textarea, #annotate button, #pct, .chapters button, .item button, #lock, #room-shield")) {
      el.setAttribute("disabled", "");
    }
  }

  async function showRecord() {
    try {
      const r = await api.record(sid);
      els.banner.append(h("p", { class: "muted small", id: "record" },
        `${r.attendance.length} reader${r.attendance.length === 1 ? "" : "s"} · ${r.messages} messages · ${r.reactions} reactions · ${r.annotations} notes · ${pct(r.progress_read_together)} of the book read together (summed over readers)`));
    } catch { /* the record is a bonus */ }
  }

  const offOutbox = () => drawTimeline();
  rt.outboxListeners.add(offOutbox);
  const offState = rt.onState(() => { drawTimeline(); drawPresence(); });
  return () => { closed = true; leave?.(); stage?.close(); rt.outboxListeners.delete(offOutbox); offState(); clearTimeout(moveTimer); };
}
