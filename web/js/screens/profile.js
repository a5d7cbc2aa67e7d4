// A reader's profile: follow / unfollow, block, mute; my own: visibility.

import { h, mount, announce } from "../dom.js";
import { api, ApiError } from "../api.js";
import { app } from "../state.js";
import { loading, failure, empty, progressBar } from "../ui.js";
import { section } from "./home.js";

/** @param {HTMLElement} view @param {string[]} args */
export function profileScreen(view, [handle]) {
  mount(view, loading("Loading the profile"));
  load();

  async function load() {
    try {
      render(await api.profile(handle));
    } catch (e) {
      mount(view, failure(e, load));
    }
  }

  /** @param {import("../api.js").User} p */
  function render(p) {
    const self = app.me?.id === p.id;
    const rel = p.relation;
    /** @param {"follow" | "block" | "mute"} what @param {boolean} on @param {string} done */
    const act = (what, on, done) => async () => {
      try {
        const r = await api.relate(p.handle, what, on);
        announce(what === "follow" && on && r?.state === "requested" ? "Follow request sent" : done);
        load();
      } catch (e) { announce(e instanceof Error ? e.message : "Could not do that", "error"); }
    };
    const books = h("div");
    const life = h("div");
    mount(view, h("section", { class: "card", "aria-labelledby": "p-name" },
      p.avatar_url ? h("img", { class: "avatar", src: p.avatar_url, alt: "", width: "96", height: "96" }) : null,
      h("h1", { id: "p-name" }, p.display_name), h("p", { class: "muted" }, `@${p.handle}`),
      p.bio ? h("p", null, p.bio) : null,
      h("p", { class: "small" }, `${p.followers ?? 0} follower${p.followers === 1 ? "" : "s"} · ${p.following ?? 0} following`),
      h("div", { class: "row small" }, people("followers", "Followers"), people("following", "Following")),
      self ? visibility(p) : h("div", { class: "row", role: "group", "aria-label": "Your relation" },
        rel?.following || rel?.requested
          ? h("button", { type: "button", id: "follow", onclick: act("follow", false, "Unfollowed") }, rel.requested ? "Cancel request" : "Unfollow")
          : h("button", { type: "button", id: "follow", class: "primary", disabled: rel?.blocking, onclick: act("follow", true, `You follow ${p.display_name}`) }, "Follow"),
        h("button", { type: "button", id: "mute", "aria-pressed": String(!!rel?.muting), onclick: act("mute", !rel?.muting, rel?.muting ? "Unmuted" : "Muted") }, rel?.muting ? "Unmute" : "Mute"),
        h("button", { type: "button", id: "block", class: "danger", "aria-pressed": String(!!rel?.blocking), onclick: act("block", !rel?.blocking, rel?.blocking ? "Unblocked" : "Blocked") }, rel?.blocking ? "Unblock" : "Block"),
        rel?.followed_by ? h("span", { class: "chip" }, "Follows you") : null)),
    h("section", { class: "card", "aria-labelledby": "p-books" }, h("h2", { id: "p-books" }, "Reading"), books),
    h("section", { class: "card", "aria-labelledby": "p-life" }, h("h2", { id: "p-life" }, "This year"), life));
    section(life, () => Promise.all([api.userStats(p.handle), api.userStreak(p.handle)]).catch((e) => {
      if (e instanceof ApiError && (e.status === 403 || e.status === 404)) return null;
      throw e;
    }), (both) => {
      if (!both) return empty(`${p.display_name} keeps their reading life private.`);
      const [st, sk] = both;
      return h("p", { id: "their-reading" }, `${self ? "You have" : `${p.display_name} has`} read ${st.books} book${st.books === 1 ? "" : "s"}`,
        ` and ${st.pages} pages in ${st.year} · a ${sk.current}-day streak (longest ${sk.longest})`);
    });
    section(books, () => self ? api.myBooks({ limit: 20 }) : api.userBooks(p.handle), (page) => page.items.length
      ? h("ul", { class: "plain" }, page.items.map((s) => h("li", { class: "row" },
        h("a", { class: "grow", href: `#/book/${s.book.id}` }, s.book.title),
        h("span", { class: "muted small" }, s.status.replace(/_/g, " ")),
        progressBar(s.furthest, `${s.book.title}: progress`))))
      : empty(self ? "No books on your shelves yet." : `${p.display_name} has no books on a shelf they share.`));
  }

  /** Followers / following, loaded on opening, 50 at a time. @param {"followers" | "following"} which @param {string} label */
  function people(which, label) {
    const ul = h("ul", { class: "plain", id: `p-${which}` });
    /** @param {string | null} cursor */
    const page = async (cursor) => {
      try {
        const r = await api[which](handle, cursor);
        ul.querySelector(".more")?.remove();
        if (!cursor && !r.items.length) { mount(ul, h("li", { class: "muted" }, "Nobody yet.")); return; }
        ul.append(...r.items.map((u) => h("li", null, h("a", { href: `#/u/${u.handle}` }, u.display_name), ` @${u.handle}`)));
        if (r.next_cursor) ul.append(h("li", { class: "more" }, h("button", { type: "button", onclick: () => page(r.next_cursor) }, "Load more")));
      } catch (e) { mount(ul, h("li", null, failure(e))); }
    };
    const det = /** @type {HTMLDetailsElement} */ (h("details", null, h("summary", null, label), ul));
    det.addEventListener("toggle", () => { if (det.open && !ul.firstChild) page(null); });
    return det;
  }

  /** @param {import("../api.js").User} p */
  function visibility(p) {
    return h("div", { class: "field" }, h("label", { for: "visibility" }, "Who can see my profile"),
      h("select", { id: "visibility", onchange: async (/** @type {Event} */ e) => {
        try { await api.updateMe({ visibility: /** @type {HTMLSelectElement} */ (e.target).value }); announce("Saved"); }
        catch (x) { announce(x instanceof Error ? x.message : "Could not save", "error"); }
      } }, [["public", "Everyone"], ["followers", "My followers"], ["private", "Only me"]].map(([v, l]) =>
        h("option", { value: v, selected: p.visibility === v }, l))));
  }
}
