// "Catch me up": a summary of the session's messages since the last one I saw here (kept per
// session in localStorage), made by the worker and pushed as `catchup_ready` on my user room.

import { h, mount } from "../dom.js";
import { api } from "../api.js";
import { app } from "../state.js";
import { failure } from "../ui.js";

/** @param {number} sid */
const seenKey = (sid) => `ra.seen.${sid}`;

/** Remember the newest message id shown in a session's room. @param {number} sid @param {number} id */
export function markSeen(sid, id) {
  if (id > Number(localStorage.getItem(seenKey(sid)) || 0)) localStorage.setItem(seenKey(sid), String(id));
}

/** The panel: a button, then the summary. @param {number} sid */
export function catchUpPanel(sid) {
  const since = Number(localStorage.getItem(seenKey(sid)) || 0);  // as of opening the room
  const out = h("div", { id: "catchup", "aria-live": "polite" });
  /** @param {import("../api.js").CatchUp} c */
  const show = (c) => mount(out, c.messages
    ? h("div", { class: "card summary" }, h("h3", null, "While you were away"), h("p", null, c.text),
      c.sentences.length ? h("ul", { class: "small" }, c.sentences.map((s) => h("li", null, h("strong", null, s.author_name), `: ${s.text}`))) : null,
      h("p", { class: "muted small" }, `${c.messages} message${c.messages === 1 ? "" : "s"} summarised`,
        c.withheld ? ` · ${c.withheld} hidden by your spoiler shield, left out` : ""))
    : h("p", { class: "muted small" }, "Nothing new to catch up on."));
  /** @param {import("../socket.js").Frame} f */
  const ready = (f) => {
    if (!out.isConnected) { app.onUserEvent.delete(ready); return; }
    if (f.event === "catchup_ready" && f.data.catchup?.session_id === sid) show(f.data.catchup);
  };
  const ask = async () => {
    mount(out, h("p", { class: "state loading", role: "status" }, h("span", { class: "spinner", "aria-hidden": "true" }), "Summarising what you missed…"));
    app.onUserEvent.add(ready);
    try {
      const r = await api.askCatchUp(sid, since);
      if (r && Array.isArray(r.sentences)) show(r);
    } catch (e) { mount(out, failure(e, ask)); }
  };
  return h("details", { class: "catchup" }, h("summary", null, since ? "Catch me up on what I missed" : "Summarise the discussion"),
    h("button", { type: "button", onclick: ask }, since ? "Catch me up" : "Summarise it"), out);
}
