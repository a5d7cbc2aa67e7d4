// Leaderboards, live: the top of a board updates as readers read (`top` on `leaderboard:<key>`),
// my own rank changes arrive on my user room (`leaderboard_rank`), and "friends" ranks me among
// the readers I follow.

import { h, mount, announce } from "../dom.js";
import { api } from "../api.js";
import { app } from "../state.js";
import { loading, empty, failure } from "../ui.js";

/** @param {HTMLElement} view */
export function leaderboardsScreen(view) {
  const rt = /** @type {import("../socket.js").Realtime} */ (app.rt);
  const me = /** @type {import("../api.js").User} */ (app.me);
  const tabs = h("div", { class: "row", role: "group", "aria-label": "Boards" });
  const scope = h("div", { class: "seg", role: "group", "aria-label": "Whom to rank" });
  const table = h("div", { id: "board", "aria-live": "polite" });
  const mine = h("p", { id: "my-rank", role: "status", class: "small" });
  /** @type {{key: string, title: string}[]} */
  let boards = [];
  let key = "";
  let friends = false;
  /** @type {(() => void) | null} */
  let sub = null;

  mount(view, h("h1", null, "Leaderboards"), h("section", { class: "card" }, tabs, h("div", { class: "row" }, scope, mine), table));

  async function start() {
    mount(table, loading("Loading the boards"));
    try {
      boards = await api.boards();
      if (!boards.length) { mount(table, empty("No leaderboards yet.")); return; }
      pick(boards[0].key);
    } catch (e) { mount(table, failure(e, start)); }
  }

  /** @param {string} k */
  function pick(k) {
    key = k;
    mount(tabs, boards.map((b) => h("button", { type: "button", "aria-pressed": String(b.key === key), class: b.key === key ? "primary" : "",
      onclick: () => pick(b.key) }, b.title)));
    mount(scope, [["Everyone", false], ["People I follow", true]].map(([label, f]) => h("button", { type: "button",
      "aria-pressed": String(friends === f), onclick: () => { friends = /** @type {boolean} */ (f); pick(key); } }, String(label))));
    sub?.();
    sub = friends ? null : rt.subscribe(`leaderboard:${key}`, { onEvent: (f) => {
      if (f.event === "top" && f.data.board === key && !friends) draw(f.data.items);
    } });
    load();
  }

  async function load() {
    mount(table, loading());
    try {
      const page = friends ? await api.boardFriends(key) : await api.board(key);
      draw(page.items);
    } catch (e) { mount(table, failure(e, load)); }
  }

  /** @param {import("../api.js").BoardPage["items"]} items */
  function draw(items) {
    mount(table, items.length ? h("ol", { class: "plain", id: "board-rows" }, items.map((r) =>
      h("li", { class: `row${r.owner?.id === me.id ? " me-row" : ""}`, "data-owner": String(r.owner?.id ?? "") },
        h("span", { class: "rank" }, `${r.rank}`),
        h("span", { class: "grow" }, r.owner ? h("a", { href: `#/u/${r.owner.handle}` }, r.owner.display_name) : "Someone"),
        h("strong", null, String(r.score)))))
      : empty(friends ? "Nobody you follow is on this board yet." : "Nobody on this board yet: read a page to get on it."));
  }

  /** @param {import("../socket.js").Frame} f */
  const rank = (f) => {
    if (f.event !== "leaderboard_rank") return;
    const b = boards.find((x) => x.key === f.data.board);
    const text = `You are number ${f.data.rank} on “${b?.title || f.data.board}”`;
    mine.textContent = text;
    announce(text);
  };
  app.onUserEvent.add(rank);
  start();
  return () => { sub?.(); app.onUserEvent.delete(rank); };
}
