// How the room's items read: chat, reactions and annotations, and hidden ones shown as what they
// are (kind, author, where) with the point at which they unlock.

import { h, pct, ago } from "../dom.js";

export const EMOJI = ["👍", "❤️", "😂", "😮", "😢", "😱", "🔥", "🤔", "👏", "💡"];

/**
 * @typedef {{kind: "chat", item: import("../api.js").Message} |
 *           {kind: "reaction", item: import("../api.js").Reaction} |
 *           {kind: "annotation", item: import("../api.js").Annotation}} Entry
 */

/** "Chapter 3 “Title”" for a progression, from the table of contents.
 * @param {import("../api.js").Chapter[]} toc @param {number | null | undefined} chapter @param {number} [p] */
export function where(toc, chapter, p) {
  const idx = chapter ?? (p === undefined ? null : chapterAt(toc, p));
  const c = idx === null || idx === undefined ? null : toc[idx];
  return c ? `${c.title}` : p !== undefined ? pct(p) : "";
}

/** The chapter index containing progression `p`. @param {import("../api.js").Chapter[]} toc @param {number} p */
export function chapterAt(toc, p) {
  let idx = 0;
  for (const c of toc) if (c.start <= p + 1e-9) idx = c.index;
  return toc.length ? idx : null;
}

/**
 * One timeline row.
 * @param {Entry} e @param {{toc: import("../api.js").Chapter[], me: number, furthest: number,
 *   react: (annotationId: number, emoji: string) => void,
 *   remove: (kind: "chat" | "annotation", id: number) => void}} ctx
 */
export function entryView(e, ctx) {
  const it = e.item;
  const mine = it.author_id === ctx.me;
  const at = `${where(ctx.toc, null, it.gate)} · ${pct(it.gate)}`;
  if (it.redacted) {
    const what = e.kind === "chat" ? "A message" : e.kind === "reaction" ? "A reaction" : "A note on a passage";
    return h("li", { class: "item hidden-item", "data-kind": e.kind, "data-id": String(it.id), "data-hidden": "true" },
      h("div", null, h("span", { "aria-hidden": "true" }, "🔒 "), `${what} by ${it.author_name}, hidden by your spoiler shield`),
      h("div", { class: "meta" }, `At ${at} — unlocks when you reach ${pct(it.gate)}`));
  }
  const meta = h("div", { class: "meta" }, h("strong", null, it.author_name), ` · ${at} · `,
    h("time", { datetime: it.created_at }, ago(it.created_at)));
  if (e.kind === "chat") {
    return h("li", { class: `item${mine ? " mine" : ""}`, "data-kind": "chat", "data-id": String(it.id) }, meta,
      h("div", { class: "body" }, e.item.body || ""),
      mine ? h("button", { type: "button", class: "link small", "aria-label": "Delete my message",
        onclick: () => ctx.remove("chat", it.id) }, "Delete") : null);
  }
  if (e.kind === "reaction") {
    return h("li", { class: `item${mine ? " mine" : ""}`, "data-kind": "reaction", "data-id": String(it.id) }, meta,
      h("div", null, h("span", { class: "emoji", role: "img", "aria-label": `reaction ${e.item.emoji}` }, e.item.emoji || ""),
        e.item.annotation_id ? h("span", { class: "muted small" }, " on a note") : h("span", { class: "muted small" }, " here")));
  }
  const a = e.item;
  return h("li", { class: `item${mine ? " mine" : ""}`, "data-kind": "annotation", "data-id": String(a.id) }, meta,
    a.quote ? h("blockquote", { class: "quote" }, `“${a.quote}”`) : null,
    a.note ? h("div", { class: "body" }, a.note) : null,
    h("div", { class: "meta" }, `Passage ${pct(a.range_start)}–${pct(a.range_end)} · ${a.visibility}`),
    h("div", { class: "reactbar", role: "group", "aria-label": "React to this note" },
      EMOJI.slice(0, 4).map((em) => h("button", { type: "button", "aria-label": `React ${em} to this note`,
        onclick: () => ctx.react(a.id, em) }, em)),
      mine ? h("button", { type: "button", class: "link small", "aria-label": "Delete my note",
        onclick: () => ctx.remove("annotation", a.id) }, "Delete") : null));
}

/** A queued message not acked yet. @param {string} body @param {boolean} online */
export function pendingView(body, online) {
  return h("li", { class: "item pending mine", "data-pending": "true" },
    h("div", { class: "meta" }, online ? "Sending…" : "Queued — will be sent when you are back online"),
    h("div", { class: "body" }, body));
}
