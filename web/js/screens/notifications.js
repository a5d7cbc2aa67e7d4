// Notifications: the live badge (room user:<id>), the list, mark one / all read.

import { h, mount, ago, announce, $ } from "../dom.js";
import { api } from "../api.js";
import { app, setUnread } from "../state.js";
import { loading, empty, failure } from "../ui.js";

/** Subscribe to my user room and keep the header badge true. */
export function startNotifications() {
  const badge = $("#badge");
  const link = $("#notif-link");
  app.onUnread.add((n) => {
    badge.hidden = n === 0;
    badge.textContent = String(n);
    link.setAttribute("aria-label", n ? `Notifications, ${n} unread` : "Notifications");
  });
  api.unreadCount().then((r) => setUnread(r.unread_count), () => {});
  const me = /** @type {import("../api.js").User} */ (app.me);
  app.rt?.subscribe(`user:${me.id}`, {
    onSubscribed: (_r, resumed) => { if (resumed) api.unreadCount().then((r) => setUnread(r.unread_count), () => {}); },
    onEvent: (f) => {
      if (f.event === "notification") {
        setUnread(f.data.unread_count);
        announce(f.data.notification.text);
        for (const fn of listeners) fn(f.data.notification);
      } else if (f.event === "unread") {
        setUnread(f.data.unread_count);
      }
      for (const fn of app.onUserEvent) fn(f);  // my room's other events (imports, ranks, summaries)
    },
  });
}

/** @type {Set<(n: import("../api.js").Notification) => void>} */
const listeners = new Set();

/** @param {import("../api.js").Notification} n */
function link(n) {
  const p = n.payload || {};
  if (p.session_id) return `#/session/${p.session_id}`;
  if (p.club_id) return `#/club/${p.club_id}${p.invite ? `?invite=${encodeURIComponent(p.invite)}` : ""}`;  // club_invited: its own link
  if (p.book_id) return `#/book/${p.book_id}`;
  if (n.type.startsWith("import")) return "#/import";
  if (n.type.startsWith("goal") || n.type.startsWith("badge") || n.type.startsWith("streak")) return "#/reading";
  const actor = n.actors?.[0];
  if (actor && (n.type.startsWith("follow") || n.type === "new_follower")) return `#/u/${actor.handle}`;
  return null;
}

/** @param {HTMLElement} view */
export function notificationsScreen(view) {
  const box = h("div");
  /** @type {Map<number, import("../api.js").Notification>} */
  const items = new Map();
  mount(view, h("div", { class: "row" }, h("h1", { class: "grow" }, "Notifications"),
    h("button", { type: "button", id: "read-all", onclick: readAll }, "Mark all read")), h("section", { class: "card" }, box));

  /** @type {string | null} older notifications ("Load more") */
  let cursor = null;

  async function load() {
    mount(box, loading());
    try {
      const page = await api.notifications(null);
      setUnread(page.unread_count);
      for (const n of page.items) items.set(n.id, n);
      cursor = page.next_cursor;
      draw();
      api.markSeen().catch(() => {});
    } catch (e) {
      mount(box, failure(e, load));
    }
  }

  function draw() {
    const list = [...items.values()].sort((a, b) => b.id - a.id);
    mount(box, list.length ? h("ul", { class: "plain", id: "notifications" }, list.map((n) => {
      const href = link(n);
      return h("li", { class: `notif row${n.read ? "" : " unread"}`, "data-id": String(n.id) },
        h("div", { class: "grow" }, href ? h("a", { href }, n.text) : h("span", null, n.text),
          h("div", { class: "muted small" }, ago(n.created_at), n.read ? "" : " · unread")),
        n.read ? null : h("button", { type: "button", "aria-label": `Mark read: ${n.text}`, onclick: () => markRead(n) }, "Mark read"));
    })) : empty("No notifications yet."),
    cursor ? h("button", { type: "button", id: "more-notifications", onclick: more }, "Load more") : null);
  }

  async function more() {
    try {
      const page = await api.notifications(cursor);
      for (const n of page.items) items.set(n.id, n);
      cursor = page.next_cursor;
      draw();
    } catch (e) { announce(e instanceof Error ? e.message : "Could not load more", "error"); }
  }

  /** @param {import("../api.js").Notification} n */
  async function markRead(n) {
    try {
      const r = await api.markRead(n.id);
      items.set(n.id, { ...n, read: true });
      setUnread(r.unread_count);
      draw();
    } catch (e) { announce(e instanceof Error ? e.message : "Could not mark it read", "error"); }
  }

  async function readAll() {
    try {
      const r = await api.markAllRead();
      for (const [k, n] of items) items.set(k, { ...n, read: true });
      setUnread(r.unread_count);
      draw();
    } catch (e) { announce(e instanceof Error ? e.message : "Could not mark them read", "error"); }
  }

  /** @param {import("../api.js").Notification} n */
  const live = (n) => { items.set(n.id, n); draw(); };
  listeners.add(live);
  load();
  return () => { listeners.delete(live); };
}
