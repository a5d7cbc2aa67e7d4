// The app shell: header (connection state, notifications badge, theme), the router, sign-in state.

import { $, h, mount, announce } from "./dom.js";
import { loading, failure } from "./ui.js";
import { api, tokens, refreshTokens } from "./api.js";
import { Realtime } from "./socket.js";
import { app } from "./state.js";
import { authScreen, oidcCallbackScreen } from "./screens/auth.js";
import { homeScreen } from "./screens/home.js";
import { searchScreen } from "./screens/search.js";
import { bookScreen } from "./screens/book.js";
import { roomScreen } from "./screens/room.js";
import { notificationsScreen, startNotifications } from "./screens/notifications.js";
import { profileScreen } from "./screens/profile.js";

/** @typedef {(view: HTMLElement, args: string[]) => (void | (() => void))} Screen */

/**
 * A screen loaded on first visit (its module is not part of the first load).
 * @param {() => Promise<Screen>} load @returns {Screen}
 */
function lazy(load) {
  return (view, args) => {
    /** @type {void | (() => void)} */
    let inner;
    let gone = false;
    mount(view, loading());
    load().then((screen) => { if (!gone) inner = screen(view, args); },
      (e) => { if (!gone) mount(view, failure(e, () => location.reload())); });
    return () => { gone = true; if (typeof inner === "function") inner(); };
  };
}

/** @type {[RegExp, Screen, string][]} */
const ROUTES = [
  [/^\/?$/, homeScreen, "Home"],
  [/^\/search$/, searchScreen, "Search"],
  [/^\/book\/(\d+)$/, bookScreen, "Book"],
  [/^\/session\/(\d+)$/, roomScreen, "Reading room"],
  [/^\/notifications$/, notificationsScreen, "Notifications"],
  [/^\/u\/(\w+)$/, profileScreen, "Profile"],
  [/^\/reading$/, lazy(() => import("./screens/reading.js").then((m) => m.readingScreen)), "My reading"],
  [/^\/clubs$/, lazy(() => import("./screens/clubs.js").then((m) => m.clubsScreen)), "Clubs"],
  [/^\/club\/(\d+)$/, lazy(() => import("./screens/club.js").then((m) => m.clubScreen)), "Club"],
  [/^\/discover$/, lazy(() => import("./screens/discover.js").then((m) => m.discoverScreen)), "Discover"],
  [/^\/leaderboards$/, lazy(() => import("./screens/leaderboards.js").then((m) => m.leaderboardsScreen)), "Leaderboards"],
  [/^\/import$/, lazy(() => import("./screens/imports.js").then((m) => m.importScreen)), "Import"],
  [/^\/settings$/, lazy(() => import("./screens/settings.js").then((m) => m.settingsScreen)), "Settings"],
];

/** Screens the emails' links open, signed in or not. @type {[RegExp, Screen, string][]} */
const PUBLIC = [
  [/^\/forgot-password$/, lazy(() => import("./screens/recovery.js").then((m) => m.forgotScreen)), "Forgot password"],
  [/^\/reset-password$/, lazy(() => import("./screens/recovery.js").then((m) => m.resetScreen)), "New password"],
  [/^\/verify-email$/, lazy(() => import("./screens/recovery.js").then((m) => m.verifyScreen)), "Confirm email"],
];

/** @type {(() => void) | void} */
let cleanup;

function route() {
  const view = $("#view");
  if (typeof cleanup === "function") cleanup();
  cleanup = undefined;
  const [path] = (location.hash.slice(1) || "/").split("?");
  for (const [re, screen, title] of PUBLIC) {
    if (re.test(path)) { document.title = `${title} · Readalong`; cleanup = screen(view, []); return; }
  }
  if (!app.me) {
    document.title = "Sign in · Readalong";
    cleanup = authScreen(view, onSignedIn);
    return;
  }
  for (const [re, screen, title] of ROUTES) {
    const m = re.exec(path);
    if (m) {
      document.title = `${title} · Readalong`;
      for (const a of document.querySelectorAll("#nav a")) {
        a.toggleAttribute("aria-current", a.getAttribute("href") === `#${path}`);
      }
      cleanup = screen(view, m.slice(1));
      view.focus({ preventScroll: true });
      return;
    }
  }
  mount(view, h("h1", null, "Not found"), h("p", null, h("a", { href: "#/" }, "Back home")));
}

const STATE_LABEL = {
  online: "Live", connecting: "Connecting…", reconnecting: "Reconnecting…",
  offline: "Offline — queued messages will be sent when you are back", "signed-out": "Signed out",
};

async function onSignedIn() {
  app.me = await api.me();
  app.rt = new Realtime({
    url: "/ws",
    token: async () => tokens.access || ((await refreshTokens()) ? tokens.access : null),
    refresh: refreshTokens,
  });
  const conn = $("#conn");
  app.rt.onState((s) => {
    conn.dataset.state = s;
    $("#conn-label").textContent = STATE_LABEL[s];
  });
  app.rt.start();
  startNotifications();
  renderChrome();
  // an invitation link: /app/?session=<id>&invite=<code>
  const q = new URLSearchParams(location.search);
  if (q.get("session")) {
    app.invite = q.get("invite");
    history.replaceState(null, "", `/app/#/session/${q.get("session")}`);
  }
  route();
}

function renderChrome() {
  const me = app.me;
  $("#chrome").hidden = !me;
  $("#conn").hidden = !me;
  if (!me) return;
  mount($("#me-link"), me.display_name);
  $("#me-link").setAttribute("href", `#/u/${me.handle}`);
}

async function signOut() {
  try { await api.logout(); } catch { /* the tokens are dropped anyway */ }
  tokens.clear();
  app.rt?.stop();
  app.me = null;
  renderChrome();
  location.hash = "#/";
  route();
}

function applyTheme(/** @type {string | null} */ theme) {
  if (theme) document.documentElement.dataset.theme = theme;
  else delete document.documentElement.dataset.theme;
  const dark = theme ? theme === "dark" : matchMedia("(prefers-color-scheme: dark)").matches;
  $("#theme").setAttribute("aria-pressed", String(dark));
}

async function boot() {
  applyTheme(localStorage.getItem("ra.theme"));
  $("#theme").addEventListener("click", () => {
    const dark = $("#theme").getAttribute("aria-pressed") === "true";
    localStorage.setItem("ra.theme", dark ? "light" : "dark");
    applyTheme(dark ? "light" : "dark");
  });
  $("#signout").addEventListener("click", signOut);
  tokens.onSignedOut = () => { if (app.me) { app.me = null; app.rt?.stop(); renderChrome(); route(); announce("Your session ended. Please sign in again.", "error"); } };
  window.addEventListener("hashchange", route);
  if (location.pathname.endsWith("/oidc-callback")) {
    document.title = "Signing in · Readalong";
    renderChrome();
    await oidcCallbackScreen($("#view"), onSignedIn);
    return;
  }
  if (tokens.refresh && await refreshTokens()) {
    try { await onSignedIn(); return; } catch { tokens.clear(); }
  }
  renderChrome();
  route();
}

boot().finally(() => {
  document.body.dataset.ready = "true";
  /** @type {any} */ (window).__readyAt = performance.now();  // read by the e2e performance budget
});
