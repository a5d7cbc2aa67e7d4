// A club: its book and schedule (section threads behind the progress gate), live club chat,
// events with RSVP and "add to calendar" (.ics), polls; organisers set the schedule, create
// events and open polls.

import { h, mount, pct, announce } from "../dom.js";
import { api, fieldErrors, download, ApiError } from "../api.js";
import { loading, empty, failure, field, showErrors, progressBar } from "../ui.js";
import { section } from "./home.js";
import { threadView, clubChat } from "./club-talk.js";
import { clubSettings, invitePanel, inviteInAddress, invitationCard, acceptInvite, membersPanel, clubBooks } from "./club-admin.js";

const ANSWERS = [["going", "Going"], ["maybe", "Maybe"], ["no", "Can't go"]];
const KINDS = [["discussion", "Discussion"], ["qa", "Q&A"], ["meetup", "Meet-up"], ["coreading", "Read together (live session)"]];

/** @param {string} iso */
const when = (iso) => new Date(iso).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
/** A `datetime-local` value as an ISO instant. @param {FormDataEntryValue | null} v */
const instant = (v) => (v ? new Date(String(v)).toISOString() : "");
/** `datetime-local` text for a Date. @param {Date} d */
const local = (d) => new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 16);

/** @param {HTMLElement} view @param {string[]} args */
export function clubScreen(view, [id]) {
  const cid = Number(id);
  /** @type {import("../api.js").Club} */
  let club;
  /** @type {import("./club-talk.js").TalkView | null} the thread I have open: a redraw keeps it
   * (its composer, what I typed, a post on its way) and only refreshes it */
  let openThread = null;
  /** @type {import("./club-talk.js").TalkView | null} the club chat, kept the same way */
  let chatView = null;
  /** @type {Map<number, {det: HTMLElement, close: () => void}>} the events' audio stages opened in this
   * view, by event id: a redraw (an RSVP, a new event, a reload of the club) keeps them open */
  const stages = new Map();
  /** @type {{event?: HTMLElement, poll?: HTMLElement}} the organisers' forms, made once: a redraw
   * moves them into the new lists open and with what was typed */
  const forms = {};
  const boxes = { schedule: h("div", { id: "schedule" }), thread: h("div", { id: "thread" }), chat: h("div"),
    events: h("div", { id: "events" }), polls: h("div", { id: "polls" }), board: h("div"), requests: h("div", { id: "requests" }),
    invites: h("div", { id: "invites" }) };
  /** A load on its way, and whether another was asked for meanwhile (a burst of section_opened
   * events, one per section, makes one more redraw, not one each). */
  let loadingNow = false, loadAgain = false;

  mount(view, loading("Opening the club"));
  load();

  async function load() {
    if (loadingNow) { loadAgain = true; return; }
    loadingNow = true;
    try { await loadOnce(); } finally { loadingNow = false; }
    if (loadAgain) { loadAgain = false; load(); }
  }

  async function loadOnce() {
    const invite = inviteInAddress();
    try {
      try { club = await api.club(cid); }
      catch (e) {  // a secret club is hidden from non-members: the invitation opens it
        if (invite && e instanceof ApiError && e.status === 404) { invitationCard(view, cid, invite, load); return; }
        throw e;
      }
      const book = club.book_id ? await api.book(club.book_id).catch(() => null) : null;
      render(book);
    } catch (e) { mount(view, failure(e, load)); }
  }

  const member = () => !!club.my_role;
  const organiser = () => club.my_role === "owner" || club.my_role === "moderator";

  /** @param {import("../api.js").Book | null} book */
  function render(book) {
    const invite = inviteInAddress();
    const join = async () => {
      try {
        const r = invite ? await acceptInvite(cid, invite) : await api.joinClub(cid);
        announce(r.status === "requested" ? "Your request to join was sent" : `Welcome to ${club.name}`);
        reload();
      } catch (e) { announce(e instanceof Error ? e.message : "Could not join", "error"); }
    };
    const leave = async () => {
      try { await api.leaveClub(cid); announce(`You left ${club.name}`); cleanup(); load(); }
      catch (e) { announce(e instanceof Error ? e.message : "Could not leave", "error"); }
    };
    mount(view,
      h("section", { class: "card", "aria-labelledby": "club-name" },
        h("div", { class: "row" }, h("h1", { id: "club-name", class: "grow" }, club.name),
          club.my_role ? h("span", { class: "chip" }, club.my_role === "owner" ? "You run this club" : `You: ${club.my_role}`) : null,
          !member() ? h("button", { type: "button", class: "primary", onclick: join, disabled: club.requested && !invite },
            club.requested && !invite ? "Request sent" : club.join_policy === "approval" && !invite ? "Ask to join" : "Join club")
            : club.my_role !== "owner" ? h("button", { type: "button", onclick: leave }, "Leave club") : null),
        club.description ? h("p", null, club.description) : null,
        h("p", { class: "muted small", id: "club-meta" }, `${club.member_count} member${club.member_count === 1 ? "" : "s"} · ${club.visibility}`,
          book ? [" · reading ", h("a", { href: `#/book/${book.id}` }, book.title)] : " · no book chosen yet"),
        club.rules ? h("details", null, h("summary", null, "Club rules"), h("p", null, club.rules)) : null,
        member() ? membersPanel(club, reload) : null,
        clubBooks(cid),
        organiser() ? clubSettings(club, reload) : null),
      h("div", { class: "room club" },
        h("section", { class: "card", "aria-labelledby": "h-sched" }, h("h2", { id: "h-sched" }, "Schedule"), boxes.schedule),
        h("section", { class: "card", "aria-labelledby": "h-thread" }, h("h2", { id: "h-thread" }, "Section thread"), boxes.thread),
        h("section", { class: "card chat-col", "aria-labelledby": "h-chat" }, h("h2", { id: "h-chat" }, "Club chat"), boxes.chat)),
      h("div", { class: "grid" },
        h("section", { class: "card", "aria-labelledby": "h-events" }, h("h2", { id: "h-events" }, "Events"), boxes.events),
        h("section", { class: "card", "aria-labelledby": "h-polls" }, h("h2", { id: "h-polls" }, "Polls"), boxes.polls),
        book ? h("section", { class: "card", "aria-labelledby": "h-board" }, h("h2", { id: "h-board" }, "Who is where"), boxes.board) : null,
        organiser() ? h("section", { class: "card", "aria-labelledby": "h-req" }, h("h2", { id: "h-req" }, "Asking to join"), boxes.requests) : null,
        organiser() ? h("section", { class: "card wide", "aria-labelledby": "h-inv" }, h("h2", { id: "h-inv" }, "Invitation links"), boxes.invites) : null));
    if (organiser()) { drawRequests(); if (!boxes.invites.firstChild) mount(boxes.invites, invitePanel(cid)); }
    drawSchedule(book);
    if (!member()) closeTalk();
    if (openThread) openThread.refresh();
    else mount(boxes.thread, empty("Pick an open section of the schedule to read its thread."));
    if (member()) { chat(); drawEvents(); drawPolls(); if (book) drawBoard(); }
    else for (const b of [boxes.chat, boxes.events, boxes.polls, boxes.board]) mount(b, empty("Join the club to take part."));
  }

  /** @param {import("../api.js").Book | null} book */
  function drawSchedule(book) {
    section(boxes.schedule, () => api.sections(cid), (page) => {
      if (!page.items.length) {
        return h("div", null, empty(book ? "No schedule yet." : "The club has no book yet."),
          organiser() && book ? scheduleForm(book) : null);
      }
      return h("ol", { class: "plain sections" }, page.items.map((s) => h("li", { "data-section": String(s.id), "data-locked": String(s.locked) },
        h("div", { class: "row" }, h("strong", { class: "grow" }, s.title),
          s.locked ? h("span", { class: "lock" }, `🔒 at ${pct(s.unlocks_at)}`) : null),
        h("div", { class: "muted small" }, s.open ? `Open since ${when(s.opens_at)} · ${s.post_count} post${s.post_count === 1 ? "" : "s"}` : `Opens ${when(s.opens_at)}`),
        s.locked ? h("p", { class: "small", title: "Your spoiler shield keeps this thread closed until you get there" }, `Opens for you at ${pct(s.unlocks_at)} of the book`) : null,
        h("div", { class: "row small" },
          s.open && !s.locked ? h("button", { type: "button", onclick: () => thread(s), "aria-label": `Open the thread of ${s.title}` }, "Open thread") : null,
          member() ? h("button", { type: "button", "aria-label": `I've read ${s.title}`, onclick: async () => {
            // the club's rooms learn my new place on a fresh subscription: re-enter them
            try { await api.readSection(cid, s.id); announce(`Marked ${s.title} as read`); reload(); }
            catch (e) { announce(e instanceof Error ? e.message : "Could not save", "error"); }
          } }, "I've read this") : null))));
    });
  }

  /** @param {import("../api.js").Book} book */
  function scheduleForm(book) {
    /** @param {SubmitEvent} ev */
    const submit = async (ev) => {
      ev.preventDefault();
      const form = /** @type {HTMLFormElement} */ (ev.currentTarget);
      const d = new FormData(form);
      try {
        await api.schedule(cid, { first_opens_at: instant(d.get("first_opens_at")), every_days: Number(d.get("every_days")) });
        announce("Schedule set"); drawSchedule(book);
      } catch (e) { showErrors(form, fieldErrors(e, ["first_opens_at", "every_days", "sections"])); }
    };
    return h("form", { onsubmit: submit, "aria-label": "Set the schedule" },
      h("p", { class: "small" }, `One section per chapter of ${book.title} (${book.toc.length || "no"} chapters).`),
      field("first_opens_at", "First section opens", { type: "datetime-local", value: local(new Date()), required: true }),
      field("every_days", "Then one every (days)", { type: "number", inputmode: "numeric", value: "7" }),
      h("p", { class: "form-error", role: "alert" }),
      h("button", { type: "submit", class: "primary" }, "Set the schedule"));
  }

  /** Open a section's thread (the one open already: refreshed, its composer kept). @param {import("../api.js").Section} s */
  function thread(s) {
    if (openThread?.id === s.id) { openThread.refresh(); return; }
    openThread?.close();
    openThread = threadView(cid, s);
    mount(boxes.thread, openThread.el);
  }

  /** The club chat: made once, refreshed by a redraw (a message being typed stays). */
  function chat() {
    if (chatView) { chatView.refresh(); return; }
    chatView = clubChat(club, (f) => {
      if (f.event === "poll_voted") drawPolls();
      else if (f.event === "section_opened") reload();
      else if (f.event === "banned" || f.event === "left" || f.event === "evicted") { cleanup(); load(); }
    });
    mount(boxes.chat, chatView.el);
  }

  /** The events, redrawn without a loading state in between: an open stage moves to the new list in one step. */
  async function drawEvents() {
    if (!boxes.events.firstChild) mount(boxes.events, loading());
    try {
      const items = await api.events(cid);
      const live = new Set(items.filter((e) => e.status !== "cancelled").map((e) => e.id));
      for (const [id, s] of stages) if (!live.has(id)) { s.close(); stages.delete(id); }
      mount(boxes.events, h("div", null,
        items.length ? h("ul", { class: "plain" }, items.map(eventView)) : empty("No events planned."),
        organiser() ? (forms.event ??= eventForm()) : null));
    } catch (e) { mount(boxes.events, failure(e, drawEvents)); }
  }

  /** @param {import("../api.js").ClubEvent} ev */
  function eventView(ev) {
    const cancelled = ev.status === "cancelled";
    return h("li", { "data-event": String(ev.id) },
      h("div", { class: "row" }, h("strong", { class: "grow" }, ev.title, cancelled ? " (cancelled)" : ""),
        h("a", { class: "button", href: api.eventIcs(cid, ev.id), download: `event-${ev.id}.ics`, "aria-label": `Add ${ev.title} to my calendar`,
          onclick: (/** @type {MouseEvent} */ e) => { // with my token: a private club's event is members-only
            e.preventDefault();
            download(api.eventIcs(cid, ev.id), `event-${ev.id}.ics`).catch((err) => announce(err instanceof Error ? err.message : "The download failed", "error"));
          } }, "📅 Add to calendar")),
      h("div", { class: "muted small" }, `${when(ev.starts_at)} – ${when(ev.ends_at)}`, ev.location ? ` · ${ev.location}` : "",
        ` · ${KINDS.find(([k]) => k === ev.kind)?.[1] || ev.kind}`),
      ev.description ? h("p", { class: "small" }, ev.description) : null,
      cancelled ? null : eventStage(ev),
      h("div", { class: "row small" },
        h("div", { class: "seg", role: "group", "aria-label": `Will you come to ${ev.title}?` }, ANSWERS.map(([a, label]) =>
          h("button", { type: "button", "aria-pressed": String(ev.my_answer === a), disabled: cancelled, onclick: async () => {
            try { await api.rsvp(cid, ev.id, a); drawEvents(); }
            catch (e) { announce(e instanceof Error ? e.message : "Could not answer", "error"); }
          } }, label))),
        h("span", { class: "muted", "data-counts": "" }, `${ev.going} going · ${ev.maybe} maybe`),
        ev.session_id ? h("a", { href: `#/session/${ev.session_id}` }, "Open the session") : null));
  }

  /** The event's audio stage, loaded and entered when opened. @param {import("../api.js").ClubEvent} ev */
  function eventStage(ev) {
    const kept = stages.get(ev.id);
    if (kept) return kept.det;
    const det = /** @type {HTMLDetailsElement} */ (h("details", { class: "small" }, h("summary", null, "🎙 Audio stage")));
    det.addEventListener("toggle", () => {
      if (!det.open || det.dataset.loaded) return;
      det.dataset.loaded = "1";
      import("./stage.js").then((m) => {
        const panel = m.stagePanel(`club_event:${ev.id}`, () => "A member");
        stages.set(ev.id, { det, close: panel.close });
        det.append(panel.el);
      }, (e) => det.append(failure(e)));
    });
    return det;
  }

  function eventForm() {
    /** @param {SubmitEvent} e */
    const submit = async (e) => {
      e.preventDefault();
      const form = /** @type {HTMLFormElement} */ (e.currentTarget);
      const d = new FormData(form);
      try {
        await api.createEvent(cid, { title: String(d.get("title") || ""), kind: String(d.get("kind")),
          starts_at: instant(d.get("starts_at")), ends_at: instant(d.get("ends_at")),
          location: String(d.get("location") || ""), time_zone: Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC" });
        announce("Event created"); form.reset(); drawEvents();
      } catch (x) { showErrors(form, fieldErrors(x, ["title", "kind", "starts_at", "ends_at", "location"])); }
    };
    const start = new Date(Date.now() + 86400000);
    return h("details", null, h("summary", null, "Plan an event"),
      h("form", { onsubmit: submit, "aria-label": "Plan an event" },
        field("title", "Event title", { maxlength: "120" }),
        h("div", { class: "field" }, h("label", { for: "ev-kind" }, "Kind"),
          h("select", { id: "ev-kind", name: "kind" }, KINDS.map(([v, l]) => h("option", { value: v }, l)))),
        h("div", { class: "row" },
          field("starts_at", "Starts", { type: "datetime-local", value: local(start) }),
          field("ends_at", "Ends", { type: "datetime-local", value: local(new Date(start.getTime() + 3600000)) })),
        field("location", "Where (optional)", { maxlength: "200" }),
        h("p", { class: "form-error", role: "alert" }),
        h("button", { type: "submit", class: "primary" }, "Create event")));
  }

  function drawPolls() {
    section(boxes.polls, () => api.polls(cid), (items) => h("div", null,
      items.length ? h("ul", { class: "plain" }, items.map(pollView)) : empty("No polls yet."),
      organiser() ? (forms.poll ??= pollForm()) : null));
  }

  /** @param {import("../api.js").Poll} p */
  function pollView(p) {
    const name = `poll-${p.id}`;
    /** @param {SubmitEvent} e */
    const submit = async (e) => {
      e.preventDefault();
      const form = /** @type {HTMLFormElement} */ (e.currentTarget);
      const ids = new FormData(form).getAll(name).map(Number);
      try { await api.vote(cid, p.id, ids); announce("Vote counted"); drawPolls(); }
      catch (x) { showErrors(form, fieldErrors(x, ["option_ids"])); }
    };
    const total = Math.max(1, p.options.reduce((a, o) => a + (o.votes || 0), 0));
    return h("li", { "data-poll": String(p.id) },
      h("form", { onsubmit: submit },
        h("fieldset", null, h("legend", null, p.question),
          p.options.map((o) => h("div", { class: "poll-opt small" },
            h("label", { class: "row" }, h("input", { type: p.multiple ? "checkbox" : "radio", name, value: String(o.id), checked: p.my_votes.includes(o.id), disabled: p.closed }),
              h("span", null, o.label)),
            p.results_visible && o.votes !== null ? [progressBar((o.votes || 0) / total, `${o.label}: ${o.votes} votes`), h("span", null, `${o.votes}`)] : null))),
        h("p", { class: "muted small" }, `${p.voters} voter${p.voters === 1 ? "" : "s"}${p.closed ? " · closed" : ""}${p.results_visible ? "" : " · results show once you vote"}`),
        h("p", { class: "field-error", "data-for": "option_ids" }), h("p", { class: "form-error", role: "alert" }),
        p.closed ? null : h("button", { type: "submit" }, p.my_votes.length ? "Change my vote" : "Vote")));
  }

  function pollForm() {
    /** @param {SubmitEvent} e */
    const submit = async (e) => {
      e.preventDefault();
      const form = /** @type {HTMLFormElement} */ (e.currentTarget);
      const d = new FormData(form);
      const options = String(d.get("options") || "").split("\n").map((x) => x.trim()).filter(Boolean).map((label) => ({ label }));
      try {
        await api.createPoll(cid, { question: String(d.get("question") || ""), options, multiple: d.get("multiple") === "on" });
        announce("Poll open"); form.reset(); drawPolls();
      } catch (x) { showErrors(form, fieldErrors(x, ["question", "options", "multiple"])); }
    };
    return h("details", null, h("summary", null, "Open a poll"),
      h("form", { onsubmit: submit, "aria-label": "Open a poll" },
        field("question", "Question", { maxlength: "200" }),
        h("div", { class: "field" }, h("label", { for: "poll-options" }, "Choices, one per line"),
          h("textarea", { id: "poll-options", name: "options" }), h("p", { class: "field-error", "data-for": "options" })),
        h("label", { class: "row small" }, h("input", { type: "checkbox", name: "multiple" }), "Several choices allowed"),
        h("p", { class: "form-error", role: "alert" }),
        h("button", { type: "submit", class: "primary" }, "Open poll")));
  }

  function drawRequests() {
    section(boxes.requests, () => api.joinRequests(cid), (page) => page.items.length ? h("ul", { class: "plain" }, page.items.map((r) =>
      h("li", { class: "row" }, h("div", { class: "grow" }, h("a", { href: `#/u/${r.handle}` }, r.display_name),
        r.message ? h("div", { class: "small" }, `“${r.message}”`) : null),
      [true, false].map((yes) => h("button", { type: "button", class: yes ? "primary" : "", "aria-label": `${yes ? "Approve" : "Decline"} ${r.display_name}`,
        onclick: async () => {
          try { await api.answerRequest(cid, r.id, yes); announce(yes ? `${r.display_name} is in` : "Declined"); drawRequests(); }
          catch (e) { announce(e instanceof Error ? e.message : "Could not answer", "error"); }
        } }, yes ? "Approve" : "Decline")))))
      : empty("Nobody is waiting."));
  }

  function drawBoard() {
    section(boxes.board, () => api.clubBoard(cid), (b) => b.members.length ? h("ul", { class: "plain", id: "board" }, b.members.map((m) =>
      h("li", { class: "row" }, h("span", { class: "grow" }, m.display_name), progressBar(m.furthest, `${m.display_name}: progress`),
        h("span", { class: `chip standing-${m.standing}` }, m.standing.replace(/_/g, " ")))))
      : empty("Nobody has started yet."));
  }

  /** Redraw the club (a new role, a section read or opened): the open thread, the chat and the
   * stages stay open; the thread and the chat enter their rooms again (my new place). */
  function reload() { load(); }

  function closeTalk() {
    openThread?.close(); openThread = null;
    chatView?.close(); chatView = null;
  }

  function cleanup() {
    closeTalk();
    for (const s of stages.values()) s.close();
    stages.clear();
  }
  return cleanup;
}
