// A book: metadata, table of contents, my shelf, live sessions of it, and "start a session".

import { h, mount, pct, announce } from "../dom.js";
import { api, ApiError, fieldErrors } from "../api.js";
import { loading, failure, field, showErrors, cover, progressBar } from "../ui.js";

const STATUSES = [["", "Not on a shelf"], ["want_to_read", "Want to read"], ["reading", "Reading"],
  ["read", "Read"], ["did_not_finish", "Did not finish"]];

/** The half-star histogram (ten buckets, ½ to 5) as bars. @param {{count: number, histogram?: number[]}} r */
function histogram(r) {
  const hist = r.histogram || [];
  const max = Math.max(1, ...hist);
  return h("ul", { class: "plain hist", "aria-label": "Ratings by stars" }, [...hist].map((n, i) => [n, (i + 1) / 2]).reverse()
    .filter(([n]) => n).map(([n, starsAt]) => h("li", { class: "row small" }, h("span", { class: "hist-l" }, `${starsAt} ★`),
      progressBar(n / max, `${starsAt} stars: ${n}`), h("span", null, String(n)))));
}

/** @param {HTMLElement} view @param {string[]} args */
export function bookScreen(view, [id]) {
  const bookId = Number(id);
  mount(view, loading("Loading the book"));
  load();

  async function load() {
    try {
      const [book, state, live, rating] = await Promise.all([
        api.book(bookId),
        api.myBook(bookId).catch((e) => { if (e instanceof ApiError && e.status === 404) return null; throw e; }),
        api.sessions("live").catch(() => ({ items: [] })),
        api.rating(bookId).catch(() => null),
      ]);
      render(book, state, live.items.filter((s) => s.book_id === bookId), rating);
    } catch (e) {
      mount(view, failure(e, load));
    }
  }

  /**
   * @param {import("../api.js").Book} book @param {import("../api.js").ReadingState | null} state
   * @param {import("../api.js").Session[]} sessions
   * @param {{count: number, average: number | null, histogram?: number[]} | null} rating
   */
  function render(book, state, sessions, rating) {
    const extras = { reviews: h("div", null, loading("Loading reviews")), clubs: h("div"), readers: h("div"), similar: h("div") };
    const shelf = h("select", { id: "shelf", onchange: (/** @type {Event} */ e) => setShelf(/** @type {HTMLSelectElement} */ (e.target).value) },
      STATUSES.map(([v, label]) => h("option", { value: v, selected: (state?.status || "") === v }, label)));
    const shelfStatus = h("p", { class: "muted small", role: "status" });

    /** @param {string} status */
    async function setShelf(status) {
      try {
        if (status) await api.shelve(bookId, { status });
        else await api.unshelve(bookId);
        shelfStatus.textContent = status ? `Saved: ${STATUSES.find(([v]) => v === status)?.[1]}` : "Removed from your shelves";
      } catch (e) {
        shelfStatus.textContent = e instanceof Error ? e.message : "Could not save";
      }
    }

    /** @param {SubmitEvent} ev */
    async function start(ev) {
      ev.preventDefault();
      const form = /** @type {HTMLFormElement} */ (ev.currentTarget);
      const data = new FormData(form);
      try {
        const s = await api.createSession({ book_id: bookId, title: String(data.get("title") || ""),
          mode: String(data.get("mode")), visibility: String(data.get("visibility")) });
        await api.startSession(s.id);
        announce("Your session is live");
        location.hash = `#/session/${s.id}`;
      } catch (e) {
        showErrors(form, fieldErrors(e, ["title", "mode", "visibility"]));
      }
    }

    mount(view,
      h("article", { class: "row top-align", "aria-labelledby": "book-title" }, cover(book, "l"),
        h("div", { class: "grow" },
          h("h1", { id: "book-title" }, book.title),
          book.subtitle ? h("p", { class: "muted" }, book.subtitle) : null,
          h("p", null, "by ", book.authors.map((a) => a.name).join(", ") || "unknown author"),
          h("p", { class: "muted small" }, [book.published, book.publisher, book.page_count ? `${book.page_count} pages` : null,
            book.language, book.isbn13 ? `ISBN ${book.isbn13}` : null].filter(Boolean).join(" · ")),
          book.subjects.length ? h("div", { class: "chips" }, book.subjects.map((s) => h("span", { class: "chip" }, s))) : null,
          h("p", { class: "small" }, rating && rating.count && rating.average !== null
            ? `★ ${rating.average.toFixed(1)} of 5 · ${rating.count} rating${rating.count === 1 ? "" : "s"}` : "No ratings yet"),
          book.description ? h("p", null, book.description) : null,
          h("div", { class: "field" }, h("label", { for: "shelf" }, "My shelf"), shelf, shelfStatus),
          state ? h("div", { class: "row" }, progressBar(state.furthest, "My progress"), h("span", { class: "small" }, `${pct(state.furthest)} read`)) : null)),
      h("div", { class: "grid" },
        h("section", { class: "card", "aria-labelledby": "toc-h" }, h("h2", { id: "toc-h" }, "Contents"),
          book.toc.length ? h("ol", { class: "toc" }, book.toc.map((c) => h("li", null, h("span", null, c.title), h("span", { class: "muted small" }, pct(c.start)))))
            : h("p", { class: "muted" }, "This book has no table of contents yet.")),
        h("section", { class: "card", "aria-labelledby": "read-h" }, h("h2", { id: "read-h" }, "Read it together"),
          sessions.length ? h("ul", { class: "plain" }, sessions.map((s) => h("li", { class: "row" },
            h("span", { class: "grow" }, s.title, h("span", { class: "muted small" }, ` · ${s.participants} reading`)),
            h("a", { class: "button", href: `#/session/${s.id}`, "aria-label": `Join ${s.title}` }, "Join"))))
            : h("p", { class: "muted" }, "No live session of this book right now."),
          h("form", { onsubmit: start, "aria-labelledby": "start-h" },
            h("h3", { id: "start-h" }, "Start a session"),
            field("title", "Session title", { value: `Reading ${book.title}`, maxlength: "120", required: true }),
            h("div", { class: "row" },
              h("div", { class: "field" }, h("label", { for: "mode" }, "Mode"),
                h("select", { id: "mode", name: "mode" }, h("option", { value: "free" }, "Everyone reads at their pace"), h("option", { value: "follow" }, "Follow the host"))),
              h("div", { class: "field" }, h("label", { for: "visibility" }, "Who can join"),
                h("select", { id: "visibility", name: "visibility" }, h("option", { value: "public" }, "Anyone"), h("option", { value: "followers" }, "My followers"), h("option", { value: "invite" }, "Invited only")))),
            h("p", { class: "form-error", role: "alert" }),
            h("button", { type: "submit", class: "primary" }, "Start reading together")))),
      h("section", { class: "card", "aria-labelledby": "rv-h" }, h("h2", { id: "rv-h" }, "Reviews"),
        rating && rating.count ? histogram(rating) : null, extras.reviews),
      h("div", { class: "grid" },
        h("section", { class: "card", "aria-labelledby": "rd-h" }, h("h2", { id: "rd-h" }, "Who's reading it"), extras.readers),
        h("section", { class: "card", "aria-labelledby": "cl-h" }, h("h2", { id: "cl-h" }, "Clubs reading it"), extras.clubs),
        h("section", { class: "card", "aria-labelledby": "sim-h" }, h("h2", { id: "sim-h" }, "Readers also liked"), extras.similar)));
    import("./reviews.js").then((m) => m.bookExtras(extras, bookId, state),
      (e) => mount(extras.reviews, failure(e)));
  }
}
