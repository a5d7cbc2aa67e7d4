// A club's organiser tools: the settings form (name, description, rules, language, time zone,
// member cap; visibility and join policy for the owner), invitation links (make, copy, revoke;
// invite a reader by handle) and the members list (roles, chat mutes, bans, handing over). Also the invitation card a reader sees when a link opens a club they cannot see yet.

import { h, mount, announce } from "../dom.js";
import { api, fieldErrors, ApiError } from "../api.js";
import { app } from "../state.js";
import { field, showErrors, empty, failure, loading } from "../ui.js";

const SETTINGS = ["name", "description", "rules", "language", "time_zone", "member_cap", "visibility", "join_policy", "book_id"];
const VISIBILITY = [["public", "Public: anyone can find it"], ["private", "Private: listed, members see inside"],
  ["secret", "Secret: only members and invitees"]];
const POLICY = [["open", "Anyone may join"], ["approval", "Organisers approve requests"], ["invitation", "By invitation only"]];

/** The invitation token in the address (`#/club/<id>?invite=<token>`), if any. */
export function inviteInAddress() {
  return new URLSearchParams(location.hash.split("?")[1] || "").get("invite");
}

/** The shareable address of an invitation link. @param {number} cid @param {string} token */
export const inviteUrl = (cid, token) => `${location.origin}/app/#/club/${cid}?invite=${encodeURIComponent(token)}`;

/**
 * @param {string} name @param {string} label @param {string[][]} options @param {string} value
 * @param {boolean} disabled
 */
function choice(name, label, options, value, disabled) {
  const id = `cs-${name}`;
  return h("div", { class: "field" }, h("label", { for: id }, label),
    h("select", { id, name, disabled, "aria-describedby": `${id}-err` },
      options.map(([v, l]) => h("option", { value: v, selected: v === value }, l))),
    h("p", { class: "field-error", id: `${id}-err`, "data-for": name }));
}

/** The club's book, picked from my shelves (the current one stays listed). @param {import("../api.js").Club} club */
function bookChoice(club) {
  const select = /** @type {HTMLSelectElement} */ (h("select", { id: "cs-book_id", name: "book_id", "aria-describedby": "cs-book_id-err" },
    h("option", { value: "" }, "No book"),
    club.book_id ? h("option", { value: String(club.book_id), selected: true }, "The current book") : null));
  api.myBooks({ limit: 50 }).then((page) => {
    for (const s of page.items) {
      const same = /** @type {HTMLOptionElement | null} */ (select.querySelector(`option[value="${s.book.id}"]`));
      if (same) same.textContent = s.book.title;
      else select.append(h("option", { value: String(s.book.id) }, s.book.title));
    }
  }, () => {});
  return h("div", { class: "field" }, h("label", { for: "cs-book_id" }, "The club's book (from your shelves)"), select,
    h("p", { class: "muted small" }, "Switching books keeps the current one among the club's past books."),
    h("p", { class: "field-error", id: "cs-book_id-err", "data-for": "book_id" }));
}

/** The club's current and past books, with the members' average rating. @param {number} cid */
export function clubBooks(cid) {
  const ul = h("ul", { class: "plain", id: "club-books" });
  const det = /** @type {HTMLDetailsElement} */ (h("details", { class: "small" }, h("summary", null, "Books so far"), ul));
  det.addEventListener("toggle", () => {
    if (!det.open || ul.firstChild) return;
    mount(ul, h("li", null, loading()));
    api.clubBooks(cid).then((all) => mount(ul, all.length ? all.map((b) => h("li", { class: "row" },
      h("a", { class: "grow", href: `#/book/${b.book_id}` }, b.title),
      h("span", { class: "muted" }, b.current ? "reading now" : `${new Date(b.started_at).toLocaleDateString()} – ${b.finished_at ? new Date(b.finished_at).toLocaleDateString() : ""}`),
      b.average_rating !== null ? h("span", null, `★ ${b.average_rating} (${b.ratings})`) : null))
      : h("li", { class: "muted" }, "No book yet.")), (e) => mount(ul, h("li", null, failure(e))));
  });
  return det;
}

/**
 * The organisers' settings form; only changed fields are sent.
 * @param {import("../api.js").Club} club @param {() => void} saved
 */
export function clubSettings(club, saved) {
  const owner = club.my_role === "owner";
  /** @type {Record<string, unknown>} */
  const was = { name: club.name, description: club.description, rules: club.rules, language: club.language || "",
    time_zone: club.time_zone || "UTC", member_cap: club.member_cap ? String(club.member_cap) : "",
    visibility: club.visibility, join_policy: club.join_policy, book_id: club.book_id ? String(club.book_id) : "" };
  /** @param {SubmitEvent} ev */
  const submit = async (ev) => {
    ev.preventDefault();
    const form = /** @type {HTMLFormElement} */ (ev.currentTarget);
    const d = new FormData(form);
    /** @type {Record<string, unknown>} */
    const body = {};
    for (const k of SETTINGS) {
      const v = d.get(k);
      if (v === null || String(v) === was[k]) continue;
      const s = String(v).trim();
      body[k] = k === "member_cap" || k === "book_id" ? (s ? Number(s) : null) : k === "language" ? (s || null) : s;
    }
    if (!Object.keys(body).length) { showErrors(form, { "": "Nothing changed." }); return; }
    try {
      await api.updateClub(club.id, body);
      showErrors(form, {});
      announce("Club settings saved");
      saved();
    } catch (e) { showErrors(form, fieldErrors(e, SETTINGS)); }
  };
  return h("details", { class: "small", id: "club-settings" }, h("summary", null, "Club settings"),
    h("form", { onsubmit: submit, novalidate: true, "aria-label": "Club settings" },
      field("name", "Club name", { value: club.name, maxlength: "120" }),
      h("div", { class: "field" }, h("label", { for: "cs-description" }, "Description"),
        h("textarea", { id: "cs-description", name: "description", "aria-describedby": "cs-description-err" }, club.description),
        h("p", { class: "field-error", id: "cs-description-err", "data-for": "description" })),
      h("div", { class: "field" }, h("label", { for: "cs-rules" }, "Rules"),
        h("textarea", { id: "cs-rules", name: "rules", "aria-describedby": "cs-rules-err" }, club.rules),
        h("p", { class: "field-error", id: "cs-rules-err", "data-for": "rules" })),
      h("div", { class: "row" },
        field("language", "Language (e.g. en)", { value: club.language || "", maxlength: "16" }),
        field("time_zone", "Time zone (e.g. Europe/Paris)", { value: club.time_zone || "UTC", maxlength: "64" }),
        field("member_cap", "Member limit (empty: none)", { type: "number", inputmode: "numeric", value: was.member_cap })),
      bookChoice(club),
      choice("visibility", "Who can see the club", VISIBILITY, club.visibility, !owner),
      choice("join_policy", "Who can join", POLICY, club.join_policy, !owner),
      owner ? null : h("p", { class: "muted small" }, "Only the owner can change who can see or join the club."),
      h("p", { class: "form-error", role: "alert" }),
      h("button", { type: "submit", class: "primary" }, "Save settings")));
}

/** Make, copy and revoke invitation links. @param {number} cid */
export function invitePanel(cid) {
  const list = h("ul", { class: "plain", id: "invite-links" });
  /** @param {SubmitEvent} ev */
  const make = async (ev) => {
    ev.preventDefault();
    const form = /** @type {HTMLFormElement} */ (ev.currentTarget);
    const d = new FormData(form);
    const hours = Number(d.get("expires_in_hours") || 0), uses = Number(d.get("max_uses") || 0);
    try {
      await api.createInvite(cid, { expires_in_hours: hours || null, max_uses: uses || null });
      showErrors(form, {});
      announce("Invitation link made");
      draw();
    } catch (e) { showErrors(form, fieldErrors(e, ["expires_in_hours", "max_uses"])); }
  };
  function draw() {
    mount(list, loading("Loading the links"));
    api.invites(cid).then((all) => {
      const live = all.filter((i) => !i.revoked);
      mount(list, live.length ? live.map(linkView) : h("li", null, empty("No invitation links yet.")));
    }, (e) => mount(list, failure(e, draw)));
  }
  /** @param {import("../api.js").Invite} inv */
  function linkView(inv) {
    const url = inviteUrl(cid, inv.token);
    const id = `invite-${inv.id}`;
    const limits = [inv.max_uses ? `${inv.uses} of ${inv.max_uses} uses` : `${inv.uses} use${inv.uses === 1 ? "" : "s"}`,
      inv.expires_at ? `expires ${new Date(inv.expires_at).toLocaleString()}` : "never expires"].join(" · ");
    return h("li", { "data-invite": String(inv.id) },
      h("label", { for: id, class: "small" }, `Invitation link (${limits})`),
      h("div", { class: "row" },
        h("input", { id, class: "grow", readonly: true, value: url, onfocus: (/** @type {FocusEvent} */ e) => /** @type {HTMLInputElement} */ (e.target).select() }),
        h("button", { type: "button", onclick: async () => {
          try { await navigator.clipboard.writeText(url); announce("Link copied"); }
          catch { /** @type {HTMLInputElement} */ (document.getElementById(id)).select(); announce("Press Ctrl+C to copy the selected link"); }
        } }, "Copy link"),
        h("button", { type: "button", class: "danger", "aria-label": `Revoke the link ${inv.id}`, onclick: async () => {
          try { await api.revokeInvite(cid, inv.id); announce("Link revoked"); draw(); }
          catch (e) { announce(e instanceof Error ? e.message : "Could not revoke", "error"); }
        } }, "Revoke")));
  }
  /** @param {SubmitEvent} ev */
  const direct = async (ev) => {
    ev.preventDefault();
    const form = /** @type {HTMLFormElement} */ (ev.currentTarget);
    const handle = String(new FormData(form).get("handle") || "").trim().replace(/^@/, "");
    if (!handle) { showErrors(form, { handle: "Type a reader's handle." }); return; }
    try {
      const who = await api.profile(handle);
      const r = await api.inviteUsers(cid, [who.id]);
      showErrors(form, r.invited ? {} : { handle: `${who.display_name} is already a member or cannot be invited.` });
      if (r.invited) { announce(`Invitation sent to ${who.display_name}`); form.reset(); draw(); }
    } catch (e) {
      showErrors(form, e instanceof ApiError && e.status === 404 ? { handle: `Nobody is called @${handle}.` } : fieldErrors(e, ["handle"]));
    }
  };
  draw();
  return h("div", null, list,
    h("form", { onsubmit: direct, novalidate: true, "aria-label": "Invite a reader", class: "row inline-form" },
      field("handle", "Invite a reader by handle", { autocomplete: "off", placeholder: "@handle" }),
      h("button", { type: "submit" }, "Send invitation"), h("p", { class: "form-error", role: "alert" })),
    h("form", { onsubmit: make, novalidate: true, "aria-label": "Make an invitation link" },
      h("div", { class: "row" },
        field("expires_in_hours", "Expires after (hours, empty: never)", { type: "number", inputmode: "numeric" }),
        field("max_uses", "Uses (empty: unlimited)", { type: "number", inputmode: "numeric" })),
      h("p", { class: "form-error", role: "alert" }),
      h("button", { type: "submit", class: "primary" }, "Make a link")));
}

/**
 * What a reader sees when an invitation opens a club they cannot see yet (secret clubs).
 * @param {HTMLElement} view @param {number} cid @param {string} token @param {() => void} joined
 */
export function invitationCard(view, cid, token, joined) {
  const err = h("p", { class: "form-error", role: "alert" });
  mount(view, h("section", { class: "card", "aria-labelledby": "inv-title" },
    h("h1", { id: "inv-title" }, "You're invited to a club"),
    h("p", null, "Someone shared an invitation link with you. Join to see the club, its schedule and its chat."),
    err,
    h("button", { type: "button", class: "primary", onclick: async () => {
      try { await acceptInvite(cid, token); joined(); }
      catch (e) { err.textContent = e instanceof Error ? e.message : "Could not join"; }
    } }, "Join")));
}

/** Join with an invitation link, then drop the token from the address. @param {number} cid @param {string} token */
export async function acceptInvite(cid, token) {
  const r = await api.joinClub(cid, { invite: token });
  history.replaceState(null, "", `#/club/${cid}`);
  return r;
}

/**
 * The members; organisers mute in chat and ban, the owner makes moderators and hands the club over.
 * @param {import("../api.js").Club} club @param {() => void} changed
 */
export function membersPanel(club, changed) {
  const box = h("div", { id: "members" });
  const owner = club.my_role === "owner";
  const organiser = owner || club.my_role === "moderator";
  /** @param {() => Promise<unknown>} call @param {string} done @param {boolean} [all] */
  const act = (call, done, all = false) => async () => {
    try { await call(); announce(done); if (all) changed(); else draw(); }
    catch (e) { announce(e instanceof Error ? e.message : "Could not do that", "error"); }
  };
  /** @param {import("../api.js").ClubMember} m */
  const row = (m) => {
    const other = m.user_id !== app.me?.id && m.role !== "owner";
    const name = m.display_name;
    return h("li", { class: "row", "data-member": m.handle },
      h("a", { class: "grow", href: `#/u/${m.handle}` }, name),
      h("span", { class: "chip" }, m.role), m.muted ? h("span", { class: "chip" }, "muted") : null,
      organiser && other ? h("div", { class: "row small", role: "group", "aria-label": `Manage ${name}` },
        owner ? h("button", { type: "button", onclick: act(() => api.setClubRole(club.id, m.user_id, m.role === "moderator" ? "member" : "moderator"),
          m.role === "moderator" ? `${name} is a member again` : `${name} is a moderator`) },
        m.role === "moderator" ? "Make member" : "Make moderator") : null,
        h("button", { type: "button", "aria-pressed": String(m.muted), onclick: act(() => api.muteInClub(club.id, m.user_id, !m.muted),
          m.muted ? `${name} can chat again` : `${name} is muted in the chat`) }, m.muted ? "Unmute" : "Mute in chat"),
        owner ? h("button", { type: "button", onclick: () => {
          if (confirm(`Hand ${club.name} over to ${name}? You will be a moderator.`)) act(() => api.transferClub(club.id, m.user_id), `${name} runs the club now`, true)();
        } }, "Hand over") : null,
        h("button", { type: "button", class: "danger", onclick: () => {
          if (confirm(`Ban ${name} from ${club.name}?`)) act(() => api.banFromClub(club.id, m.user_id), `${name} is banned`)();
        } }, "Ban")) : null);
  };
  async function draw() {
    if (!box.firstChild) mount(box, loading("Loading the members"));
    try {
      /** @type {import("../api.js").ClubMember[]} */
      const all = [];
      let cursor = null;
      do {  // a page of 50 at a time: clubs are small, and the list is on demand (a <details>)
        const page = await api.clubMembers(club.id, cursor);
        all.push(...page.items);
        cursor = page.next_cursor;
      } while (cursor && all.length < 1000);
      mount(box, h("ul", { class: "plain" }, all.map(row)));
    } catch (e) { mount(box, failure(e, draw)); }
  }
  const det = h("details", { class: "small" }, h("summary", null, `Members (${club.member_count})`), box);
  det.addEventListener("toggle", () => { if (/** @type {HTMLDetailsElement} */ (det).open) draw(); });
  return det;
}
