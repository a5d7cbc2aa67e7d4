// My reading life: shelves (statuses and my own shelves), progress updates, this year's goal,
// the streak, and the year in charts.

import { h, mount, pct, announce } from "../dom.js";
import { api, ApiError, fieldErrors } from "../api.js";
import { loading, empty, failure, progressBar, cover, field, showErrors } from "../ui.js";
import { barChart, ring } from "../chart.js";
import { section } from "./home.js";
import { app } from "../state.js";

const STATUS = /** @type {Record<string, string>} */ ({ reading: "Reading", want_to_read: "Want to read",
  read: "Read", did_not_finish: "Did not finish" });
const MONTHS = ["J", "F", "M", "A", "M", "J", "J", "A", "S", "O", "N", "D"];
const MONTH_NAMES = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
  "October", "November", "December"];

/** @param {number} n @param {string} word */
const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;

/** @param {HTMLElement} view */
export function readingScreen(view) {
  const year = new Date().getFullYear();
  /** @type {{status: string, shelf: string}} */
  const pick = { status: "reading", shelf: "" };
  const streakBox = h("div"), goalBox = h("div"), levelBox = h("div"), badgeBox = h("div", { id: "badges" });
  const tabs = h("div", { class: "row shelf-tabs", role: "group", "aria-label": "Shelves" });
  const list = h("div", { id: "shelf-list" });
  const statsBox = h("div", { id: "stats" });
  const yearSel = /** @type {HTMLSelectElement} */ (h("select", { id: "stats-year", onchange: () => loadStats() },
    h("option", { value: String(year) }, String(year))));

  mount(view, h("h1", null, "My reading"),
    h("div", { class: "grid" },
      h("section", { class: "card", id: "streak", "aria-labelledby": "h-streak" }, h("h2", { id: "h-streak" }, "Streak"), streakBox),
      h("section", { class: "card", id: "goal", "aria-labelledby": "h-goal" }, h("h2", { id: "h-goal" }, `${year} goal`), goalBox),
      h("section", { class: "card", "aria-labelledby": "h-level" }, h("h2", { id: "h-level" }, "Level"), levelBox)),
    h("section", { class: "card", "aria-labelledby": "h-shelves" }, h("h2", { id: "h-shelves" }, "Shelves"), tabs, list),
    h("section", { class: "card", "aria-labelledby": "h-stats" },
      h("div", { class: "row" }, h("h2", { id: "h-stats", class: "grow" }, "The year in charts"),
        h("label", { for: "stats-year", class: "lbl" }, "Year"), yearSel),
      statsBox),
    h("section", { class: "card", "aria-labelledby": "h-badges" }, h("h2", { id: "h-badges" }, "Badges"), badgeBox));

  function refreshSide() {
    section(streakBox, api.streak, (s) => h("div", null,
      h("p", { class: "big" }, h("strong", { id: "streak-days" }, `${s.current} day${s.current === 1 ? "" : "s"}`), " in a row"),
      h("p", { class: "small" }, s.read_today ? "You read today. Keep it going tomorrow." : "Read a page today to keep your streak."),
      h("p", { class: "muted small" }, `Longest: ${s.longest} day${s.longest === 1 ? "" : "s"}`),
      s.rule ? h("details", { class: "small" }, h("summary", null, "What counts as a reading day"), h("p", null, s.rule)) : null));
    section(goalBox, () => api.goal(year).catch((e) => {
      if (e instanceof ApiError && e.status === 404) return null;
      throw e;
    }), goalView);
    section(badgeBox, api.badges, (all) => all.length ? h("ul", { class: "plain badges" }, [...all]
      .sort((a, b) => Number(!a.awarded_at) - Number(!b.awarded_at)).map((b) => h("li", { class: `row${b.awarded_at ? "" : " muted"}`, "data-earned": String(!!b.awarded_at) },
        h("span", { "aria-hidden": "true", class: "emoji" }, b.awarded_at ? "🏅" : "○"),
        h("div", { class: "grow" }, h("strong", null, b.name), ` · ${b.description}`,
          h("div", { class: "small muted" }, `${b.awarded_at ? `earned ${new Date(b.awarded_at).toLocaleDateString()} · ` : "not yet · "}${b.rarity}, held by ${Math.round(b.holders_share * 100)}% of readers`)))))
      : empty("No badges to earn yet."));
    section(levelBox, api.xp, (x) => h("div", null,
      h("p", { class: "big" }, h("strong", null, `Level ${x.level}`), ` · ${x.xp} XP`),
      progressBar((x.xp - x.level_xp) / Math.max(1, x.next_level_xp - x.level_xp), "Progress to the next level"),
      h("p", { class: "muted small" }, `${Math.max(0, x.next_level_xp - x.xp)} XP to level ${x.level + 1}`)));
  }

  /** @param {import("../api.js").Goal | null} g */
  function goalView(g) {
    /** @param {SubmitEvent} ev */
    const save = async (ev) => {
      ev.preventDefault();
      const form = /** @type {HTMLFormElement} */ (ev.currentTarget);
      const d = new FormData(form);
      const num = (/** @type {string} */ k) => (d.get(k) ? Number(d.get(k)) : null);
      try {
        await api.setGoal(year, { books: num("books"), pages: num("pages") });
        announce("Goal saved");
        refreshSide();
      } catch (e) { showErrors(form, fieldErrors(e, ["books", "pages"])); }
    };
    const form = h("form", { onsubmit: save, class: "goal-form" },
      h("div", { class: "row years" },
        field("books", "Books this year", { type: "number", inputmode: "numeric", value: g?.books ?? "" }),
        field("pages", "Pages this year", { type: "number", inputmode: "numeric", value: g?.pages ?? "" })),
      h("p", { class: "form-error", role: "alert" }),
      h("button", { type: "submit", class: g ? "" : "primary" }, g ? "Change goal" : "Set my goal"));
    if (!g) return h("div", null, empty("No goal for this year yet."), form);
    const share = g.books ? g.books_done / g.books : g.pages ? g.pages_done / g.pages : 0;
    const what = g.books ? `${g.books_done} of ${g.books} books` : `${g.pages_done} of ${g.pages} pages`;
    return h("div", null,
      h("div", { class: "row" }, ring(share, `Goal: ${what}`),
        h("div", { class: "grow" }, h("p", { id: "goal-text" }, h("strong", null, what)),
          h("p", { class: `small ${g.reached ? "ok" : ""}` }, g.reached ? "Goal reached. Well read!" : g.pace),
          g.books && g.pages ? h("p", { class: "muted small" }, `${g.pages_done} of ${g.pages} pages`) : null)),
      h("details", null, h("summary", null, "Change the goal"), form));
  }

  async function drawTabs() {
    try {
      const s = await api.shelves();
      mount(tabs, Object.entries(STATUS).map(([k, label]) => tab(`${label} (${s.statuses[k] ?? 0})`, pick.status === k && !pick.shelf, () => { pick.status = k; pick.shelf = ""; drawTabs(); drawList(); })),
        s.shelves.map((sh) => tab(`${sh.name} (${sh.books})`, pick.shelf === sh.name, () => { pick.shelf = sh.name; pick.status = ""; drawTabs(); drawList(); })));
    } catch (e) { mount(tabs, failure(e, drawTabs)); }
  }

  /** @param {string} label @param {boolean} on @param {() => void} go */
  const tab = (label, on, go) => h("button", { type: "button", "aria-pressed": String(on), class: on ? "primary" : "", onclick: go }, label);

  function drawList() {
    section(list, () => api.myBooks(pick.shelf ? { shelf: pick.shelf, limit: 50 } : { status: pick.status, limit: 50 }),
      (page) => page.items.length ? h("ul", { class: "plain" }, page.items.map(bookRow))
        : empty(pick.shelf ? `Nothing on “${pick.shelf}” yet.` : `No books marked “${STATUS[pick.status]}”.`,
          h("a", { class: "button", href: "#/search" }, "Find a book")));
  }

  /** @param {import("../api.js").ReadingState} s */
  function bookRow(s) {
    const title = s.book.title;
    const pagesKnown = s.total_pages || /** @type {any} */ (s.book).page_count;
    /** @param {SubmitEvent} ev */
    const update = async (ev) => {
      ev.preventDefault();
      const form = /** @type {HTMLFormElement} */ (ev.currentTarget);
      const v = new FormData(form).get("percentage");
      try {
        const r = await api.progress(s.book.id, { percentage: Number(v) });
        announce(`${title}: ${pct(r.state.furthest)} read`);
        refreshSide(); loadStats(); drawList();
      } catch (e) { showErrors(form, fieldErrors(e, ["percentage", "page", "progression"])); }
    };
    /** @param {string} status */
    const move = async (status) => {
      try {
        await api.shelve(s.book.id, { status });
        announce(`${title}: ${STATUS[status]}`);
        refreshSide(); loadStats(); drawTabs(); drawList();
      } catch (e) { announce(e instanceof Error ? e.message : "Could not save", "error"); }
    };
    /** @param {SubmitEvent} ev */
    const addShelf = async (ev) => {
      ev.preventDefault();
      const form = /** @type {HTMLFormElement} */ (ev.currentTarget);
      const name = String(new FormData(form).get("shelf") || "").trim();
      if (!name) return;
      try {
        await api.shelve(s.book.id, { shelves: [...new Set([...s.shelves, name])] });
        announce(`${title} is on “${name}”`);
        drawTabs(); drawList();
      } catch (e) { showErrors(form, fieldErrors(e, ["shelves", "shelf"])); }
    };
    const sel = h("select", { "aria-label": `Status of ${title}`, onchange: (/** @type {Event} */ e) => move(/** @type {HTMLSelectElement} */ (e.target).value) },
      Object.entries(STATUS).map(([k, label]) => h("option", { value: k, selected: s.status === k }, label)));
    return h("li", { class: "book-row", "data-book": String(s.book.id) },
      h("div", { class: "row top-align" }, cover(s.book),
        h("div", { class: "grow" },
          h("a", { href: `#/book/${s.book.id}` }, title),
          h("div", { class: "muted small" }, s.book.authors.join(", ")),
          h("div", { class: "row" }, progressBar(s.furthest, `${title}: progress`),
            h("span", { class: "small" }, `${pct(s.furthest)}${s.page && pagesKnown ? ` · page ${s.page} of ${pagesKnown}` : ""}`)),
          s.shelves.length ? h("div", { class: "chips" }, s.shelves.map((x) => h("span", { class: "chip" }, x))) : null),
        sel),
      h("div", { class: "row small" },
        s.status === "reading" ? h("form", { class: "row inline-form", onsubmit: update },
          field("percentage", "Percent read", { "aria-label": `Percent read of ${title}`, type: "number", step: "any", inputmode: "decimal", value: String(Math.round(s.furthest * 1000) / 10), required: true }),
          h("button", { type: "submit" }, "Update progress"), h("p", { class: "form-error", role: "alert" })) : null,
        s.status === "reading" ? h("button", { type: "button", onclick: () => move("read") }, "Mark as finished") : null,
        h("form", { class: "row inline-form", onsubmit: addShelf },
          field("shelf", "Add to a shelf", { "aria-label": `Add ${title} to a shelf`, maxlength: "60", placeholder: "e.g. Favourites" }),
          h("button", { type: "submit" }, "Add"), h("p", { class: "form-error", role: "alert" }))));
  }

  async function loadStats() {
    const y = Number(yearSel.value) || year;
    mount(statsBox, loading("Counting"));
    try {
      const [st, years] = await Promise.all([api.stats(y), api.statYears()]);
      const known = new Set([year, ...years.years.map((x) => x.year)]);
      if (known.size !== yearSel.options.length) {
        mount(yearSel, [...known].sort((a, b) => b - a).map((x) => h("option", { value: String(x), selected: x === y }, String(x))));
      }
      mount(statsBox,
        h("p", { id: "stats-summary" }, h("strong", null, `${st.books} book${st.books === 1 ? "" : "s"}`), ` and ${st.pages} pages in ${st.year}`,
          st.rereads ? ` · ${st.rereads} re-read${st.rereads === 1 ? "" : "s"}` : "",
          st.did_not_finish ? ` · ${st.did_not_finish} not finished` : "",
          st.average_rating !== null ? ` · average rating ★ ${st.average_rating.toFixed(1)}` : "",
          st.average_days_per_book !== null ? ` · ${plural(Math.round(st.average_days_per_book), "day")} a book` : ""),
        !st.books && !st.pages ? empty(`Nothing read in ${st.year} yet: update your progress and the charts fill in.`) : null,
        h("div", { class: "grid" },
          barChart({ id: "chart-books", title: "Books finished per month", values: st.books_by_month, labels: MONTHS, names: MONTH_NAMES, unit: "books" }),
          barChart({ id: "chart-pages", title: "Pages read per month", values: st.pages_by_month, labels: MONTHS, names: MONTH_NAMES, unit: "pages" })),
        st.subjects.length ? h("div", null, h("h3", null, "Subjects"),
          h("div", { class: "chips" }, st.subjects.map((x) => h("span", { class: "chip" }, `${x.name} · ${x.books}`)))) : null,
        years.years.length > 1 ? barChart({ title: "Books per year", values: years.years.map((x) => x.books), labels: years.years.map((x) => String(x.year)), unit: "books" }) : null);
    } catch (e) { mount(statsBox, failure(e, loadStats)); }
  }

  refreshSide();
  drawTabs();
  drawList();
  loadStats();
  /** A badge, goal or streak notification arriving live redraws the side boxes. @param {import("../socket.js").Frame} f */
  const live = (f) => {
    const type = f.event === "notification" ? String(f.data?.notification?.type || "") : "";
    if (/^(badge|goal|streak)/.test(type)) refreshSide();
  };
  app.onUserEvent.add(live);
  return () => { app.onUserEvent.delete(live); };
}
