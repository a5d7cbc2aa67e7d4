// Home: my currently-reading with progress, live sessions now, and my feed.

import { h, mount, pct, ago, announce } from "../dom.js";
import { api } from "../api.js";
import { loading, empty, failure, progressBar, cover } from "../ui.js";

/**
 * Fill `box` with the result of `load` (loading, error with retry, or the rendered content).
 * @template T @param {HTMLElement} box @param {() => Promise<T>} load @param {(data: T) => any} render
 */
export async function section(box, load, render) {
  mount(box, loading());
  try {
    mount(box, render(await load()));
  } catch (e) {
    mount(box, failure(e, () => section(box, load, render)));
  }
}

/** @param {HTMLElement} view */
export function homeScreen(view) {
  const reading = h("div");
  const live = h("div");
  const feed = h("div");
  const clubs = h("div");
  mount(view, h("h1", null, "Home"), h("div", { class: "grid" },
    h("section", { class: "card", "aria-labelledby": "h-reading" }, h("h2", { id: "h-reading" }, "Currently reading"), reading),
    h("section", { class: "card", "aria-labelledby": "h-live" }, h("h2", { id: "h-live" }, "Live now"), live),
    h("section", { class: "card", "aria-labelledby": "h-feed" }, h("h2", { id: "h-feed" }, "From people you follow"), feed),
    h("section", { class: "card", "aria-labelledby": "h-clubs" }, h("h2", { id: "h-clubs" }, "My clubs"), clubs)));

  section(clubs, api.myClubs, (page) => page.items.length
    ? h("ul", { class: "plain" }, page.items.map((c) => h("li", null, h("a", { href: `#/club/${c.id}` }, c.name),
      h("div", { class: "muted small" }, `${c.member_count} member${c.member_count === 1 ? "" : "s"}`))))
    : empty("No clubs yet.", h("a", { class: "button", href: "#/clubs" }, "Find a club")));

  section(reading, () => api.myBooks({ status: "reading", limit: 10 }), (page) => page.items.length
    ? h("ul", { class: "plain" }, page.items.map((s) => h("li", { class: "row" },
      cover(s.book),
      h("div", { class: "grow" },
        h("a", { href: `#/book/${s.book.id}` }, s.book.title),
        h("div", { class: "muted small" }, s.book.authors.join(", ")),
        h("div", { class: "row" }, progressBar(s.furthest, `${s.book.title}: progress`), h("span", { class: "small" }, pct(s.furthest)))))))
    : empty("Nothing on your reading shelf yet.", h("a", { class: "button", href: "#/search" }, "Find a book")));

  section(live, () => api.sessions("live"), (page) => page.items.length
    ? h("ul", { class: "plain" }, page.items.map((s) => h("li", { class: "row" },
      h("div", { class: "grow" }, h("a", { href: `#/session/${s.id}` }, s.title),
        h("div", { class: "muted small" }, `${s.participants} reading now · ${s.mode === "follow" ? "follow the host" : "free reading"}`)),
      h("a", { class: "button", href: `#/session/${s.id}`, "aria-label": `Join ${s.title}` }, "Join"))))
    : empty("No live sessions right now. Start one from a book page."));

  /** @param {import("../api.js").Activity} a */
  const activity = (a) => h("li", null,
    h("div", null, a.actor ? h("a", { href: `#/u/${a.actor.handle}` }, a.actor.display_name) : null, " ", a.text.replace(a.actor?.display_name || "\u0000", "").trim()),
    h("div", { class: "muted small" }, ago(a.created_at)));
  /** "Load more" under the feed. @param {HTMLElement} ul @param {string | null} cursor @returns {HTMLElement | null} */
  const more = (ul, cursor) => {
    if (!cursor) return null;
    const btn = h("button", { type: "button", id: "more-feed", onclick: async () => {
      try { const page = await api.feed(cursor); ul.append(...page.items.map(activity)); btn.replaceWith(more(ul, page.next_cursor) || h("span")); }
      catch (e) { announce(e instanceof Error ? e.message : "Could not load more", "error"); }
    } }, "Load more");
    return btn;
  };
  section(feed, () => api.feed(null), (page) => {
    if (!page.items.length) return empty("Your feed is quiet. Follow readers to see what they read.");
    const ul = h("ul", { class: "plain" }, page.items.map(activity));
    return h("div", null, ul, more(ul, page.next_cursor));
  });
}
