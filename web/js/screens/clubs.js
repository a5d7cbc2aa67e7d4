// The club directory: my clubs, public clubs with search, and "start a club".

import { h, mount, announce } from "../dom.js";
import { api, fieldErrors } from "../api.js";
import { loading, empty, failure, field, showErrors } from "../ui.js";
import { section } from "./home.js";

/** @param {import("../api.js").Club} c */
export function clubRow(c) {
  return h("li", { class: "row" },
    h("div", { class: "grow" }, h("a", { href: `#/club/${c.id}` }, c.name),
      h("div", { class: "muted small" }, [`${c.member_count} member${c.member_count === 1 ? "" : "s"}`,
        c.join_policy === "open" ? "open to all" : c.join_policy === "approval" ? "asks to join" : "by invitation",
        c.my_role ? `you: ${c.my_role}` : null].filter(Boolean).join(" · ")),
      c.description ? h("div", { class: "small" }, c.description) : null));
}

/** @param {string} name */
const slugOf = (name) => name.toLowerCase().normalize("NFKD").replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "").slice(0, 40);

/** @param {HTMLElement} view */
export function clubsScreen(view) {
  const mine = h("div"), found = h("div", { "aria-live": "polite" }), create = h("div");
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let debounce;
  const q = /** @type {HTMLInputElement} */ (h("input", { id: "club-q", type: "search", autocomplete: "off",
    placeholder: "Name, book or theme", oninput: () => { clearTimeout(debounce); debounce = setTimeout(search, 200); } }));
  mount(view, h("h1", null, "Book clubs"),
    h("div", { class: "grid" },
      h("section", { class: "card", "aria-labelledby": "h-mine" }, h("h2", { id: "h-mine" }, "My clubs"), mine),
      h("section", { class: "card", "aria-labelledby": "h-new" }, h("h2", { id: "h-new" }, "Start a club"), create)),
    h("section", { class: "card", "aria-labelledby": "h-dir" }, h("h2", { id: "h-dir" }, "Find a club"),
      h("form", { role: "search", class: "search-bar", onsubmit: (/** @type {Event} */ e) => { e.preventDefault(); search(); } },
        h("div", { class: "field" }, h("label", { for: "club-q" }, "Search clubs"), q)),
      found));

  section(mine, api.myClubs, (page) => page.items.length ? h("ul", { class: "plain", id: "my-clubs" }, page.items.map(clubRow))
    : empty("You are not in a club yet. Join one below or start your own."));

  function search() {
    section(found, () => api.clubs({ q: q.value.trim(), limit: 30 }), (page) => page.items.length
      ? h("ul", { class: "plain", id: "club-results" }, page.items.map(clubRow))
      : empty(q.value.trim() ? `No club matches “${q.value.trim()}”.` : "No public clubs yet."));
  }

  async function drawCreate() {
    mount(create, loading());
    /** @type {import("../api.js").ReadingState[]} */
    let books = [];
    try { books = (await api.myBooks({ limit: 50 })).items; } catch { /* a club without a book is fine */ }
    /** @param {SubmitEvent} ev */
    const submit = async (ev) => {
      ev.preventDefault();
      const form = /** @type {HTMLFormElement} */ (ev.currentTarget);
      const d = new FormData(form);
      const name = String(d.get("name") || "").trim();
      try {
        const c = await api.createClub({ name, slug: String(d.get("slug") || "") || slugOf(name),
          description: String(d.get("description") || ""), visibility: String(d.get("visibility")),
          join_policy: String(d.get("join_policy")), book_id: d.get("book_id") ? Number(d.get("book_id")) : null });
        announce(`${c.name} is ready`);
        location.hash = `#/club/${c.id}`;
      } catch (e) { showErrors(form, fieldErrors(e, ["name", "slug", "description", "visibility", "join_policy", "book_id"])); }
    };
    const nameField = field("name", "Club name", { maxlength: "80" });
    const slugField = field("slug", "Address (letters, digits and dashes)", { maxlength: "40", placeholder: "made from the name" });
    nameField.querySelector("input")?.addEventListener("input", (e) => {
      const slug = /** @type {HTMLInputElement} */ (slugField.querySelector("input"));
      if (!slug.dataset.touched) slug.value = slugOf(/** @type {HTMLInputElement} */ (e.target).value);
    });
    slugField.querySelector("input")?.addEventListener("input", (e) => { /** @type {HTMLInputElement} */ (e.target).dataset.touched = "1"; });
    mount(create, h("form", { onsubmit: submit, "aria-label": "Start a club" }, nameField, slugField,
      field("description", "What you read and how", { maxlength: "500" }),
      h("div", { class: "field" }, h("label", { for: "club-book" }, "Current book"),
        h("select", { id: "club-book", name: "book_id" }, h("option", { value: "" }, "No book yet"),
          books.map((b) => h("option", { value: String(b.book.id) }, b.book.title))),
        h("p", { class: "field-error", "data-for": "book_id" })),
      h("div", { class: "row" },
        h("div", { class: "field" }, h("label", { for: "club-vis" }, "Visibility"),
          h("select", { id: "club-vis", name: "visibility" }, h("option", { value: "public" }, "Public: in the directory"),
            h("option", { value: "private" }, "Private: members see the content"), h("option", { value: "secret" }, "Secret: members only"))),
        h("div", { class: "field" }, h("label", { for: "club-join" }, "Who can join"),
          h("select", { id: "club-join", name: "join_policy" }, h("option", { value: "open" }, "Anyone"),
            h("option", { value: "approval" }, "Anyone, after approval"), h("option", { value: "invitation" }, "By invitation")))),
      h("p", { class: "form-error", role: "alert" }),
      h("button", { type: "submit", class: "primary" }, "Create club")));
  }

  drawCreate();
  search();
  return () => clearTimeout(debounce);
}
