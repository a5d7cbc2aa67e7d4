// Catalog search: results update as you type, subject/language/year filters, "load more" paging.

import { h, mount } from "../dom.js";
import { api, ApiError } from "../api.js";
import { loading, empty, failure, cover, field } from "../ui.js";

const LANGUAGES = [["", "Any language"], ["en", "English"], ["fr", "French"], ["de", "German"], ["es", "Spanish"],
  ["it", "Italian"], ["pt", "Portuguese"], ["ru", "Russian"], ["nl", "Dutch"], ["ja", "Japanese"], ["zh", "Chinese"]];

/** @param {HTMLElement} view */
export function searchScreen(view) {
  const params = new URLSearchParams(location.hash.split("?")[1] || "");
  /** @type {{q: string, subject: string[], language: string, year_from: string, year_to: string}} */
  const filters = { q: params.get("q") || "", subject: params.getAll("subject"), language: params.get("language") || "",
    year_from: params.get("year_from") || "", year_to: params.get("year_to") || "" };
  const results = h("div", { "aria-live": "polite", "aria-busy": "false" });
  const facets = h("div");
  const summary = h("p", { class: "muted small", role: "status" });
  /** @type {AbortController | null} */
  let inflight = null;
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let debounce;
  /** @type {HTMLElement | null} */
  let list = null;

  const q = /** @type {HTMLInputElement} */ (h("input", { id: "q", name: "q", type: "search", value: filters.q,
    placeholder: "Title, author or subject", autocomplete: "off", "aria-describedby": "q-help",
    oninput: () => { filters.q = q.value; clearTimeout(debounce); debounce = setTimeout(() => run(), 200); } }));
  const lang = h("select", { id: "lang", name: "language", onchange: (/** @type {Event} */ e) => {
    filters.language = /** @type {HTMLSelectElement} */ (e.target).value; run(); } },
  LANGUAGES.map(([v, label]) => h("option", { value: v, selected: v === filters.language }, label)));
  const yearFrom = field("year_from", "From year", { type: "number", inputmode: "numeric", min: "0", max: "2100", value: filters.year_from });
  const yearTo = field("year_to", "To year", { type: "number", inputmode: "numeric", min: "0", max: "2100", value: filters.year_to });
  for (const box of [yearFrom, yearTo]) {
    box.querySelector("input")?.addEventListener("change", (e) => {
      const input = /** @type {HTMLInputElement} */ (e.target);
      filters[/** @type {"year_from" | "year_to"} */ (input.name)] = input.value;
      run();
    });
  }

  mount(view, h("h1", null, "Find a book"),
    h("form", { class: "search-bar", role: "search", onsubmit: (/** @type {Event} */ e) => { e.preventDefault(); run(); } },
      h("div", { class: "field" }, h("label", { for: "q" }, "Search the catalog"), q),
      h("button", { type: "submit", class: "primary" }, "Search")),
    h("p", { id: "q-help", class: "muted small" }, "Results update as you type; every word matches the start of a word."),
    h("div", { class: "layout-side" },
      h("aside", { "aria-label": "Filters", class: "card" }, h("h2", null, "Filters"),
        h("div", { class: "field" }, h("label", { for: "lang" }, "Language"), lang),
        h("div", { class: "row years" }, yearFrom, yearTo),
        h("p", { class: "field-error", "data-for": "years" }),
        facets),
      h("section", { "aria-label": "Results" }, summary, results)));

  async function run(cursor = /** @type {string | null} */ (null)) {
    // (a new search takes the filters as they are, the typed query included: one still waiting
    // for the typing to pause would only repeat it, dimming the results it just showed)
    if (!cursor) clearTimeout(debounce);
    inflight?.abort();
    const ctl = new AbortController();
    inflight = ctl;
    const query = { q: filters.q.trim(), subject: filters.subject, language: filters.language,
      year_from: filters.year_from, year_to: filters.year_to, limit: 20, cursor, facets: !cursor };
    if (!cursor) {
      const hash = new URLSearchParams();
      for (const [k, v] of Object.entries(filters)) for (const one of [v].flat()) if (one) hash.append(k, one);
      history.replaceState(null, "", `#/search${hash.size ? `?${hash}` : ""}`);
      if (!list) mount(results, loading("Searching"));
    }
    results.setAttribute("aria-busy", "true");
    const yearsErr = view.querySelector('[data-for="years"]');
    if (yearsErr) yearsErr.textContent = "";
    try {
      const page = await api.searchBooks(query, ctl.signal);
      if (inflight !== ctl) return;
      if (!cursor) {
        summary.textContent = page.total ? `${page.total} book${page.total === 1 ? "" : "s"}` : "";
        renderFacets(page.facets?.subjects || []);
        if (!page.items.length) {
          list = null;
          const narrowed = filters.subject.length || filters.language || filters.year_from || filters.year_to;
          mount(results, empty(filters.q ? `No books match “${filters.q}”${narrowed ? " with these filters" : ""}.` : "No books match these filters.",
            h("button", { type: "button", onclick: reset }, "Clear search and filters")));
          return;
        }
        list = h("ul", { class: "plain", id: "results" });
        mount(results, list);
      }
      list?.append(...page.items.map(row));
      view.querySelector("#more")?.remove();
      if (page.next_cursor) {
        results.append(h("button", { id: "more", type: "button", onclick: () => run(page.next_cursor) }, "Load more"));
      }
    } catch (e) {
      if (e instanceof DOMException && e.name === "AbortError") return;
      if (e instanceof ApiError && (e.problem.errors || []).some((x) => x.field.startsWith("year")) && yearsErr) {
        yearsErr.textContent = e.message;
        mount(results);
        return;
      }
      mount(results, failure(e, () => run()));
    } finally {
      if (inflight === ctl) results.setAttribute("aria-busy", "false");
    }
  }

  /** @param {{name: string, count: number}[]} subjects */
  function renderFacets(subjects) {
    const names = new Set([...filters.subject, ...subjects.map((s) => s.name)]);
    mount(facets, names.size ? h("fieldset", null, h("legend", null, "Subjects"),
      [...names].slice(0, 15).map((name) => {
        const count = subjects.find((s) => s.name === name)?.count;
        return h("label", { class: "row small" }, h("input", { type: "checkbox", checked: filters.subject.includes(name),
          onchange: (/** @type {Event} */ e) => {
            const on = /** @type {HTMLInputElement} */ (e.target).checked;
            filters.subject = on ? [...filters.subject, name] : filters.subject.filter((s) => s !== name);
            run();
          } }), `${name}${count !== undefined ? ` (${count})` : ""}`);
      })) : null);
  }

  function reset() {
    Object.assign(filters, { q: "", subject: [], language: "", year_from: "", year_to: "" });
    q.value = "";
    searchScreen(view);
  }

  /** @param {import("../api.js").BookSummary} b */
  function row(b) {
    return h("li", { class: "row" }, cover(b),
      h("div", { class: "grow" },
        h("a", { href: `#/book/${b.id}` }, b.title, b.subtitle ? `: ${b.subtitle}` : ""),
        h("div", { class: "muted small" }, [b.authors.join(", "), b.published_year, b.language].filter(Boolean).join(" · ")),
        b.subjects.length ? h("div", { class: "chips" }, b.subjects.map((s) => h("span", { class: "chip" }, s))) : null));
  }

  run();
  q.focus();
  return () => { inflight?.abort(); clearTimeout(debounce); };
}
