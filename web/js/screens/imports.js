// Import a Goodreads or StoryGraph CSV export: a preview first if I like, then the real run, with
// a live progress bar (`import_progress` on my user room) and the per-row results.

import { h, mount, ago, announce } from "../dom.js";
import { api, fieldErrors } from "../api.js";
import { app } from "../state.js";
import { empty, showErrors } from "../ui.js";
import { section } from "./home.js";

const OUTCOMES = [["matched", "matched to a book"], ["created", "added to the catalog"], ["unchanged", "already on your shelves"], ["skipped", "skipped"]];

/** @param {HTMLElement} view */
export function importScreen(view) {
  const current = h("div", { id: "import-current" });
  const past = h("div");
  /** @type {import("../api.js").Import | null} */
  let shown = null;

  /** @param {SubmitEvent} ev */
  const send = async (ev) => {
    ev.preventDefault();
    const form = /** @type {HTMLFormElement} */ (ev.currentTarget);
    const d = new FormData(form);
    const file = /** @type {File | null} */ (d.get("file"));
    if (!file || !file.size) { showErrors(form, { file: "Choose the CSV file you exported." }); return; }
    const body = new FormData();
    body.append("file", file, file.name);
    try {
      showErrors(form, {});
      show(await api.upload(body, d.get("dry_run") === "on"));
    } catch (e) { showErrors(form, fieldErrors(e, ["file", "format"])); }
  };

  mount(view, h("h1", null, "Import your books"),
    h("section", { class: "card", "aria-labelledby": "h-up" }, h("h2", { id: "h-up" }, "From Goodreads or The StoryGraph"),
      h("p", { class: "small" }, "Export your library as CSV (Goodreads: My Books → Import and export; The StoryGraph: Manage account → Export), then upload the file here. Shelves, ratings, dates and reviews come along."),
      h("form", { onsubmit: send, "aria-label": "Upload an export" },
        h("div", { class: "field" }, h("label", { for: "imp-file" }, "CSV file"),
          h("input", { id: "imp-file", name: "file", type: "file", accept: ".csv,text/csv", "aria-describedby": "imp-file-err" }),
          h("p", { class: "field-error", id: "imp-file-err", "data-for": "file" })),
        h("label", { class: "row small" }, h("input", { type: "checkbox", name: "dry_run", checked: true }), "Preview first (nothing changes until you say so)"),
        h("p", { class: "form-error", role: "alert" }),
        h("button", { type: "submit", class: "primary" }, "Upload"))),
    h("section", { class: "card", "aria-labelledby": "h-cur" }, h("h2", { id: "h-cur" }, "Progress"), current),
    h("section", { class: "card", "aria-labelledby": "h-past" }, h("h2", { id: "h-past" }, "Earlier imports"), past));
  mount(current, empty("Nothing running. Upload a file to start."));

  /** @param {import("../api.js").Import} imp */
  function show(imp) {
    shown = imp;
    const share = imp.total ? imp.done / imp.total : imp.status === "done" ? 1 : 0;
    const outcomes = /** @type {Record<string, number>} */ (imp.counts?.outcomes || {});
    const v = Math.round(share * 100);
    const finished = imp.status === "done" || imp.status === "failed";
    mount(current,
      h("p", null, h("strong", null, imp.filename), ` · ${imp.format} · ${imp.dry_run ? "preview" : "import"}`),
      h("div", { class: "progress big-bar", id: "import-bar", role: "progressbar", "aria-label": "Import progress", "aria-valuemin": "0",
        "aria-valuemax": "100", "aria-valuenow": String(v), "aria-valuetext": `${imp.done} of ${imp.total} rows` }, h("span", { style: `width:${v}%` })),
      h("p", { id: "import-status", role: "status" }, imp.status === "failed" ? `The import failed: ${imp.error || "unknown error"}`
        : finished ? `${imp.dry_run ? "Preview ready" : "Done"}: ${imp.total} rows` : `${imp.status === "queued" ? "Waiting to start" : "Working"}… ${imp.done} of ${imp.total || "?"} rows`),
      Object.keys(outcomes).length ? h("ul", { class: "plain small", id: "import-counts" }, OUTCOMES.filter(([k]) => outcomes[k]).map(([k, label]) =>
        h("li", null, `${outcomes[k]} ${label}`))) : null,
      finished && imp.dry_run && imp.status === "done" ? h("button", { type: "button", class: "primary", onclick: async () => {
        try { show(await api.commitImport(imp.id)); announce("Importing for real"); }
        catch (e) { announce(e instanceof Error ? e.message : "Could not start it", "error"); }
      } }, "Import for real") : null,
      finished && imp.status === "done" ? rows(imp.id) : null);
    if (finished) drawPast();
  }

  /** @param {number} id */
  function rows(id) {
    const box = h("div");
    section(box, () => api.importRows(id), (page) => h("details", null, h("summary", null, `Row by row (${page.items.length})`),
      h("table", { class: "rows small" }, h("thead", null, h("tr", null, h("th", { scope: "col" }, "Row"), h("th", { scope: "col" }, "Title"),
        h("th", { scope: "col" }, "Shelf"), h("th", { scope: "col" }, "Outcome"))),
      h("tbody", null, page.items.map((r) => h("tr", null, h("td", null, String(r.row)),
        h("td", null, r.book_id ? h("a", { href: `#/book/${r.book_id}` }, r.title) : r.title), h("td", null, r.shelf),
        h("td", null, r.outcome, r.reason ? ` (${r.reason})` : "")))))));
    return box;
  }

  function drawPast() {
    section(past, api.imports, (items) => items.length ? h("ul", { class: "plain" }, items.map((i) => h("li", { class: "row" },
      h("button", { type: "button", class: "link", onclick: () => show(i) }, i.filename),
      h("span", { class: "muted small grow" }, `${i.dry_run ? "preview" : "import"} · ${i.status} · ${i.done}/${i.total} rows · ${ago(i.created_at || new Date().toISOString())}`))))
      : empty("No imports yet."));
  }

  /** @param {import("../socket.js").Frame} f */
  const live = (f) => {
    if (f.event !== "import_progress" || !shown || f.data.import_id !== shown.id) return;
    show({ ...shown, ...f.data });
  };
  app.onUserEvent.add(live);
  drawPast();
  return () => { app.onUserEvent.delete(live); };
}
