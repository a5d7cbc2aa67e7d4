// A book's reviews (the spoiler shield applied by the server: a redacted review is shown as what
// it is, never its text), my review, likes, comments and reports; plus the clubs reading the book
// and similar books with their reasons. Loaded by the book page on demand.

import { h, mount, ago, announce } from "../dom.js";
import { api, fieldErrors } from "../api.js";
import { app } from "../state.js";
import { loading, empty, failure, field, showErrors } from "../ui.js";
import { section } from "./home.js";

const REASONS = [["spoiler", "Unmarked spoilers"], ["spam", "Spam"], ["abuse", "Abuse or harassment"],
  ["off_topic", "Off topic"], ["other", "Something else"]];

/** @param {number | null} r */
export function stars(r) {
  if (r === null || r === undefined) return null;
  const full = Math.floor(r), half = r - full >= 0.5;
  return h("span", { class: "stars", "aria-label": `${r} of 5 stars`, role: "img" },
    "★".repeat(full) + (half ? "½" : "") + "☆".repeat(5 - full - (half ? 1 : 0)));
}

/** Server-rendered review HTML (the server escapes everything the reader typed). @param {string} html */
function rendered(html) {
  const div = h("div", { class: "body" });
  div.innerHTML = html;
  return div;
}

/**
 * Fill the book page's review, clubs and "readers also liked" boxes.
 * @param {{reviews: HTMLElement, clubs: HTMLElement, readers?: HTMLElement, similar: HTMLElement}} boxes
 * @param {number} bookId @param {import("../api.js").ReadingState | null} state
 */
export function bookExtras(boxes, bookId, state) {
  reviews(boxes.reviews, bookId, state);
  section(boxes.clubs, () => api.clubs({ book_id: bookId, limit: 10 }), (page) => page.items.length
    ? h("ul", { class: "plain" }, page.items.map((c) => h("li", { class: "row" },
      h("a", { class: "grow", href: `#/club/${c.id}` }, c.name),
      h("span", { class: "muted small" }, `${c.member_count} member${c.member_count === 1 ? "" : "s"}`))))
    : empty("No club is reading this book yet.", h("a", { class: "button", href: "#/clubs" }, "Start a club")));
  if (boxes.readers) {
    section(boxes.readers, () => api.bookReaders(bookId), (r) => h("div", { id: "book-readers" },
      h("p", { class: "small" }, `${r.reading_now} reading now · ${r.read} finished it`),
      r.following.length
        ? h("ul", { class: "plain" }, r.following.map((p) => h("li", { class: "row small" },
          h("a", { class: "grow", href: `#/u/${p.handle}` }, p.display_name),
          h("span", { class: "muted" }, p.status === "read" ? "finished it" : `reading · ${Math.round(p.furthest * 100)}%`))))
        : h("p", { class: "muted small" }, "Nobody you follow is reading it yet.")));
  }
  section(boxes.similar, () => api.similar(bookId), (page) => page.items.length
    ? h("ul", { class: "plain", id: "similar" }, page.items.map((r) => h("li", null,
      h("a", { href: `#/book/${r.book_id}`, onclick: () => { api.recClick(r.book_id).catch(() => {}); } }, r.title),
      h("div", { class: "muted small" }, r.authors.join(", ")),
      h("div", { class: "small" }, r.reason))))
    : empty("No similar books yet."));
}

/** @param {HTMLElement} box @param {number} bookId @param {import("../api.js").ReadingState | null} state */
function reviews(box, bookId, state) {
  const list = h("div", { id: "reviews" });
  const mineBox = h("div");
  mount(box, mineBox, list);
  let mine = /** @type {import("../api.js").Review | null} */ (null);

  async function load() {
    mount(list, loading("Loading reviews"));
    try {
      const page = await api.reviews(bookId, null);
      mine = page.items.find((r) => r.author.id === app.me?.id) || null;
      drawMine();
      if (!page.items.length) { mount(list, empty("No reviews yet. Be the first to say what you thought.")); return; }
      const ul = h("ul", { class: "plain" }, page.items.map(reviewView));
      mount(list, ul, more(ul, page.next_cursor));
    } catch (e) { mount(list, failure(e, load)); }
  }

  /** "Load more": the next page goes under the ones shown. @param {HTMLElement} ul @param {string | null} cursor */
  function more(ul, cursor) {
    if (!cursor) return null;
    const err = h("p", { class: "form-error", role: "alert" });
    const btn = /** @type {HTMLButtonElement} */ (h("button", { type: "button", id: "more-reviews", onclick: async () => {
      btn.disabled = true;
      try {
        const page = await api.reviews(bookId, cursor);
        const seen = new Set([...ul.querySelectorAll("[data-review]")].map((li) => li.getAttribute("data-review")));
        ul.append(...page.items.filter((r) => !seen.has(String(r.id))).map(reviewView));
        if (!mine) { mine = page.items.find((r) => r.author.id === app.me?.id) || null; if (mine) drawMine(); }
        box.replaceWith(more(ul, page.next_cursor) || h("span"));
      } catch (e) { err.textContent = e instanceof Error ? e.message : "Could not load more"; btn.disabled = false; }
    } }, "Load more reviews"));
    const box = h("div", { class: "row" }, btn, err);
    return box;
  }

  function drawMine() {
    /** @param {SubmitEvent} ev */
    const save = async (ev) => {
      ev.preventDefault();
      const form = /** @type {HTMLFormElement} */ (ev.currentTarget);
      const d = new FormData(form);
      try {
        await api.writeReview(bookId, { rating: d.get("rating") ? Number(d.get("rating")) : null,
          body: String(d.get("body") || ""), spoiler: d.get("spoiler") === "on" });
        announce("Review saved");
        load();
      } catch (e) {
        const errs = fieldErrors(e, ["rating", "body", "spoiler"]);
        if (errs.book_id) { errs[""] = errs.book_id; delete errs.book_id; }
        showErrors(form, errs);
      }
    };
    const opts = [["", "No rating"], ...[5, 4.5, 4, 3.5, 3, 2.5, 2, 1.5, 1, 0.5].map((v) => [String(v), `${v} star${v === 1 ? "" : "s"}`])];
    const rid = "rv-rating";
    mount(mineBox, h("details", { class: "card", open: !mine && !!state },
      h("summary", null, mine ? "Edit my review" : "Write a review"),
      h("form", { onsubmit: save, "aria-label": "My review" },
        h("div", { class: "field" }, h("label", { for: rid }, "Rating"),
          h("select", { id: rid, name: "rating", "aria-describedby": `${rid}-err` },
            opts.map(([v, l]) => h("option", { value: v, selected: String(mine?.rating ?? "") === v }, l))),
          h("p", { class: "field-error", id: `${rid}-err`, "data-for": "rating" })),
        h("div", { class: "field" }, h("label", { for: "rv-body" }, "Your review"),
          h("textarea", { id: "rv-body", name: "body", maxlength: "20000", "aria-describedby": "rv-help rv-body-err" },
            /** @type {any} */ (mine)?.body || ""),
          h("p", { id: "rv-help", class: "muted small" }, "Wrap a spoiler in double bars: ||like this||. Readers behind you see [spoiler] instead."),
          h("p", { class: "field-error", id: "rv-body-err", "data-for": "body" })),
        h("label", { class: "row small" }, h("input", { type: "checkbox", name: "spoiler", checked: !!mine?.spoiler }), "The whole review is a spoiler"),
        h("p", { class: "form-error", role: "alert" }),
        h("div", { class: "row" }, h("button", { type: "submit", class: "primary" }, mine ? "Save changes" : "Post review"),
          mine ? h("button", { type: "button", class: "danger", onclick: async () => {
            try { await api.deleteReview(/** @type {any} */ (mine).id); announce("Review deleted"); load(); }
            catch (e) { announce(e instanceof Error ? e.message : "Could not delete", "error"); }
          } }, "Delete my review") : null))));
  }

  /** @param {import("../api.js").Review} r */
  function reviewView(r) {
    const likeBtn = h("button", { type: "button", "aria-pressed": String(r.liked), "aria-label": `Like ${r.author.display_name}'s review`,
      onclick: async () => {
        try {
          const res = await api.like(r.id, !r.liked);
          r.liked = res.liked; r.likes = res.likes;
          likeBtn.setAttribute("aria-pressed", String(r.liked));
          likeBtn.textContent = `${r.liked ? "♥" : "♡"} ${r.likes}`;
        } catch (e) { announce(e instanceof Error ? e.message : "Could not like it", "error"); }
      } }, `${r.liked ? "♥" : "♡"} ${r.likes}`);
    let body;
    if (r.redacted && !r.body_html) {
      body = h("p", { class: "shielded", "data-shielded": "true" }, "🔒 This review is marked as a spoiler, and its author had read further than you. It shows once you reach their place in the book.");
    } else if (r.spoiler && !r.redacted) {
      body = h("details", { class: "spoiler-box" }, h("summary", null, "Spoiler: show the review"), rendered(r.body_html || ""));
    } else {
      body = h("div", null, rendered(r.body_html || ""),
        r.redacted ? h("p", { class: "muted small", "data-shielded": "true" }, "Parts beyond your place in the book are hidden as [spoiler].") : null);
    }
    return h("li", { class: "review", "data-review": String(r.id) },
      h("div", { class: "row" }, h("a", { href: `#/u/${r.author.handle}` }, r.author.display_name), stars(r.rating),
        h("span", { class: "muted small" }, ago(r.created_at), r.edited_at ? " · edited" : "")),
      body,
      h("div", { class: "row small" }, likeBtn, comments(r), r.author.id === app.me?.id ? null : report(r)));
  }

  /** @param {import("../api.js").Review} r */
  function comments(r) {
    const box = h("div");
    const det = h("details", { ontoggle: () => { if (/** @type {HTMLDetailsElement} */ (det).open) draw(); } },
      h("summary", null, `Comments (${r.comments})`), box);
    async function draw() {
      mount(box, loading());
      try {
        const page = await api.comments(r.id);
        /** @param {SubmitEvent} ev */
        const send = async (ev) => {
          ev.preventDefault();
          const form = /** @type {HTMLFormElement} */ (ev.currentTarget);
          try {
            await api.comment(r.id, String(new FormData(form).get("body") || ""));
            r.comments += 1;
            /** @type {HTMLElement} */ (det.querySelector("summary")).textContent = `Comments (${r.comments})`;
            draw();
          } catch (e) { showErrors(form, fieldErrors(e, ["body"])); }
        };
        mount(box, page.items.length ? h("ul", { class: "plain" }, page.items.map((c) => h("li", null,
          h("a", { href: `#/u/${c.author.handle}` }, c.author.display_name), h("span", { class: "muted small" }, ` · ${ago(c.created_at)}`),
          rendered(c.body_html)))) : h("p", { class: "muted small" }, "No comments yet."),
        h("form", { onsubmit: send, class: "row inline-form" },
          field("body", "Your comment", { "aria-label": `Comment on ${r.author.display_name}'s review`, maxlength: "2000" }),
          h("button", { type: "submit" }, "Comment"), h("p", { class: "form-error", role: "alert" })));
      } catch (e) { mount(box, failure(e, draw)); }
    }
    return det;
  }

  /** @param {import("../api.js").Review} r */
  function report(r) {
    /** @param {SubmitEvent} ev */
    const send = async (ev) => {
      ev.preventDefault();
      const form = /** @type {HTMLFormElement} */ (ev.currentTarget);
      const d = new FormData(form);
      try {
        await api.report(r.id, { reason: String(d.get("reason")), note: String(d.get("note") || "") });
        mount(form, h("p", { role: "status" }, "Thank you: the moderators will look at it."));
      } catch (e) { showErrors(form, fieldErrors(e, ["reason", "note"])); }
    };
    const sid = `rep-${r.id}`;
    return h("details", null, h("summary", null, "Report"),
      h("form", { onsubmit: send },
        h("div", { class: "field" }, h("label", { for: sid }, "Why?"),
          h("select", { id: sid, name: "reason" }, REASONS.map(([v, l]) => h("option", { value: v }, l)))),
        field("note", "Anything to add (optional)", { maxlength: "500" }),
        h("p", { class: "form-error", role: "alert" }),
        h("button", { type: "submit", class: "danger" }, "Send report")));
  }

  load();
}
