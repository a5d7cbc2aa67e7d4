// Discover: books for me, each with the reason it was picked; what is trending this week; and
// the way to the live leaderboards.

import { h, mount } from "../dom.js";
import { api } from "../api.js";
import { empty, cover, progressBar } from "../ui.js";
import { section } from "./home.js";

/** @param {HTMLElement} view */
export function discoverScreen(view) {
  const forYou = h("div", { id: "for-you" }), trending = h("div", { id: "trending" });
  mount(view, h("div", { class: "row" }, h("h1", { class: "grow" }, "Discover"),
    h("a", { class: "button", href: "#/leaderboards" }, "🏆 Leaderboards"), h("a", { class: "button", href: "#/import" }, "Import books")),
  h("div", { class: "grid" },
    h("section", { class: "card", "aria-labelledby": "h-for" }, h("h2", { id: "h-for" }, "For you"), forYou),
    h("section", { class: "card", "aria-labelledby": "h-trend" }, h("h2", { id: "h-trend" }, "Trending this week"), trending)));

  section(forYou, api.recommendations, (page) => page.items.length ? h("ul", { class: "plain" }, page.items.map((r) =>
    h("li", { class: "row top-align", "data-book": String(r.book_id) }, cover({ title: r.title }),
      h("div", { class: "grow" },
        h("a", { href: `#/book/${r.book_id}`, onclick: () => { api.recClick(r.book_id).catch(() => {}); } }, r.title),
        h("div", { class: "muted small" }, r.authors.join(", ")),
        h("div", { class: "small reason" }, `Why: ${r.reason}`),
        h("div", { class: "row small" }, h("span", { class: "muted" }, "Fit"), progressBar(r.confidence, `How well ${r.title} fits you`))))))
    : empty("Shelve or rate a few books and we will suggest more.", h("a", { class: "button", href: "#/search" }, "Find a book")));

  section(trending, api.trending, (page) => page.items.length ? h("ol", { class: "plain" }, page.items.map((b) =>
    h("li", { class: "row" }, cover(b), h("div", { class: "grow" }, h("a", { href: `#/book/${b.id}` }, b.title),
      h("div", { class: "muted small" }, b.authors.join(", "))))))
    : empty("Nothing is trending yet this week."));
}
