// The REST client: every path the app calls is spelled here, as an OpenAPI path template
// (tests/test_web_client.py checks each against the served /schema/openapi.json).

import { randomKey } from "./dom.js";

/**
 * @typedef {{field: string, message: string}} FieldError
 * @typedef {{status: number, code?: string, title?: string, detail?: string,
 *            errors?: FieldError[], retry_after?: number}} Problem
 * @typedef {{access_token: string, refresh_token: string, expires_in?: number}} TokenPair
 * @typedef {{id: number, handle: string, display_name: string, email?: string, role?: string,
 *            bio?: string, visibility?: string, followers?: number, following?: number,
 *            relation?: Relation | null, joined_at?: string, favourite_genres?: string[]}} User
 * @typedef {{following: boolean, requested: boolean, followed_by: boolean, blocking: boolean,
 *            muting: boolean}} Relation
 * @typedef {{index: number, title: string, start: number}} Chapter
 * @typedef {{id: number, title: string, subtitle: string | null, authors: string[],
 *            subjects: string[], language: string, published_year: number | null,
 *            cover_url: string | null}} BookSummary
 * @typedef {{id: number, title: string, subtitle: string | null, authors: {id: number, name: string}[],
 *            subjects: string[], language: string, isbn13: string | null, page_count: number | null,
 *            publisher: string | null, published: string | null, description: string,
 *            cover_url: string | null, toc: Chapter[]}} Book
 * @typedef {{items: BookSummary[], next_cursor: string | null, total: number,
 *            facets?: {subjects: {name: string, count: number}[]}}} BookPage
 * @typedef {{progression: number, locator?: string | null, chapter?: number | null}} Position
 * @typedef {{id: number, book_id: number, title: string, host_id: number, mode: string,
 *            visibility: string, status: string, capacity: number, chat_locked: boolean,
 *            shield_default: boolean, started_at: string | null, ended_at: string | null,
 *            created_at: string, room: string, participants: number,
 *            invite_code?: string | null, host_position?: Position | null}} Session
 * @typedef {{id: number, author_id: number, author_name: string, gate: number,
 *            chapter: number | null, locator: string | null, created_at: string,
 *            body?: string | null, redacted: boolean, edited_at?: string | null}} Message
 * @typedef {{id: number, author_id: number, author_name: string, gate: number, chapter: number | null,
 *            locator: string, created_at: string, emoji?: string | null, count?: number | null,
 *            redacted: boolean, annotation_id?: number | null}} Reaction
 * @typedef {{id: number, author_id: number, author_name: string, visibility: string, gate: number,
 *            range_start: number, range_end: number, chapter: number | null, created_at: string,
 *            quote?: string | null, note?: string | null, redacted: boolean,
 *            parent_id?: number | null}} Annotation
 * @typedef {{user_id: number, display_name: string, progression: number | null,
 *            furthest: number | null, present: boolean, muted: boolean, kicked: boolean}} Participant
 * @typedef {{id: number, type: string, text: string, read: boolean, created_at: string,
 *            payload: Record<string, any>, target?: {kind: string, id: string},
 *            actors?: {id: number, handle: string, display_name: string}[]}} Notification
 * @typedef {{id: number, verb: string, text: string, created_at: string,
 *            actor?: {id: number, handle: string, display_name: string},
 *            object_kind?: string, object_id?: string, payload?: Record<string, any>}} Activity
 * @typedef {{id: number, book: {id: number, title: string, authors: string[]}, status: string,
 *            shelves: string[], furthest: number, position: number | null}} ReadingState
 */

/** A failed request, carrying the problem details the server answered. */
export class ApiError extends Error {
  /** @param {Problem} problem */
  constructor(problem) {
    super(problem.detail || problem.title || `request failed (${problem.status})`);
    this.problem = problem;
    this.status = problem.status;
    this.code = problem.code || "";
  }
}

const REFRESH_KEY = "ra.refresh";

/** Tokens of this tab: the access token in memory, the refresh token in sessionStorage. */
export const tokens = {
  /** @type {string | null} */ access: null,
  /** @type {string | null} */ refresh: sessionStorage.getItem(REFRESH_KEY),
  /** @type {(() => void) | null} */ onSignedOut: null,
  /** @param {TokenPair} pair */
  keep(pair) {
    this.access = pair.access_token;
    this.refresh = pair.refresh_token;
    sessionStorage.setItem(REFRESH_KEY, pair.refresh_token);
  },
  clear() {
    this.access = this.refresh = null;
    sessionStorage.removeItem(REFRESH_KEY);
  },
};

/** @type {Promise<boolean> | null} */
let refreshing = null;

/** Rotate the refresh token (one request at a time for the whole tab). */
export function refreshTokens() {
  if (!refreshing) {
    refreshing = (async () => {
      if (!tokens.refresh) return false;
      try {
        const r = await fetch("/api/v1/auth/refresh", {
          method: "POST", headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ refresh_token: tokens.refresh }),
        });
        if (r.status >= 500) return false;  // a server problem: keep the tokens, try later
        if (!r.ok) { tokens.clear(); tokens.onSignedOut?.(); return false; }
        tokens.keep(await r.json());
        return true;
      } catch {
        return false;
      }
    })().finally(() => { refreshing = null; });
  }
  return refreshing;
}

/**
 * Fill an OpenAPI path template: `fill("/api/v1/books/{book_id}", {book_id: 3})`.
 * @param {string} template @param {Record<string, string | number>} [params]
 */
export function fill(template, params = {}) {
  return template.replace(/\{(\w+)\}/g, (_, k) => encodeURIComponent(String(params[k])));
}

/**
 * @param {Record<string, string | number | boolean | null | undefined | (string | number)[]>} query
 */
function qs(query) {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v === undefined || v === null || v === "") continue;
    for (const one of Array.isArray(v) ? v : [v]) u.append(k, String(one));
  }
  const s = u.toString();
  return s ? `?${s}` : "";
}

/**
 * One request. Retries once after refreshing the tokens on a 401.
 * @param {string} method @param {string} template
 * @param {{params?: Record<string, string | number>, query?: Record<string, any>, body?: unknown,
 *          signal?: AbortSignal, idempotent?: boolean}} [opts]
 * @returns {Promise<any>}
 */
export async function request(method, template, opts = {}) {
  const url = fill(template, opts.params) + qs(opts.query || {});
  /** @type {Record<string, string>} */
  const headers = { Accept: "application/json" };
  if (opts.body !== undefined) headers["Content-Type"] = "application/json";
  if (opts.idempotent) headers["Idempotency-Key"] = randomKey();
  for (let attempt = 0; ; attempt++) {
    if (tokens.access) headers.Authorization = `Bearer ${tokens.access}`;
    else if (tokens.refresh && attempt === 0 && await refreshTokens()) continue;
    let r;
    try {
      r = await fetch(url, {
        method, headers, signal: opts.signal,
        body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
      });
    } catch (e) {
      if (e instanceof DOMException && e.name === "AbortError") throw e;
      throw new ApiError({ status: 0, code: "network", detail: "Could not reach the server. Check your connection." });
    }
    if (r.status === 401 && attempt === 0 && tokens.refresh) {
      tokens.access = null;
      if (await refreshTokens()) continue;
    }
    if (r.status === 204 || r.status === 304) return null;
    const text = await r.text();
    /** @type {any} */
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch { data = { detail: text }; }
    if (!r.ok) {
      const retry = r.headers.get("Retry-After");
      throw new ApiError({ status: r.status, ...(data || {}), ...(retry ? { retry_after: Number(retry) } : {}) });
    }
    return data;
  }
}

const RELATE = {
  follow: "/api/v1/users/{handle}/follow",
  block: "/api/v1/users/{handle}/block",
  mute: "/api/v1/users/{handle}/mute",
};

const get = (/** @type {string} */ t, /** @type {any} */ o) => request("GET", t, o);
const post = (/** @type {string} */ t, /** @type {any} */ o) => request("POST", t, o);

/** The endpoints, by feature. */
export const api = {
  // accounts
  /** @returns {Promise<TokenPair>} */
  register: (/** @type {Record<string,string>} */ body) => post("/api/v1/auth/register", { body }),
  /** @returns {Promise<TokenPair>} */
  login: (/** @type {Record<string,string>} */ body) => post("/api/v1/auth/login", { body }),
  logout: () => post("/api/v1/auth/logout", { body: { refresh_token: tokens.refresh } }),
  /** @returns {Promise<User>} */
  me: () => get("/api/v1/me"),
  updateMe: (/** @type {Record<string, unknown>} */ body) => request("PATCH", "/api/v1/me", { body }),
  // profiles and the social graph
  /** @returns {Promise<User>} */
  profile: (/** @type {string} */ handle) => get("/api/v1/users/{handle}", { params: { handle } }),
  /** @param {string} handle @param {"follow" | "block" | "mute"} what @param {boolean} on */
  relate: (handle, what, on) => request(on ? "POST" : "DELETE", RELATE[what], { params: { handle } }),
  followers: (/** @type {string} */ handle) => get("/api/v1/users/{handle}/followers", { params: { handle } }),
  /** @returns {Promise<{items: ReadingState[], next_cursor: string | null}>} */
  userBooks: (/** @type {string} */ handle) => get("/api/v1/users/{handle}/books", { params: { handle }, query: { limit: 20 } }),
  // catalog
  /** @returns {Promise<BookPage>} */
  searchBooks: (/** @type {Record<string, any>} */ query, /** @type {AbortSignal} */ signal) =>
    get("/api/v1/books", { query, signal }),
  /** @returns {Promise<Book>} */
  book: (/** @type {number} */ book_id) => get("/api/v1/books/{book_id}", { params: { book_id } }),
  rating: (/** @type {number} */ book_id) => get("/api/v1/books/{book_id}/rating", { params: { book_id } }),
  // reading life
  /** @returns {Promise<{items: ReadingState[], next_cursor: string | null}>} */
  myBooks: (/** @type {Record<string, any>} */ query) => get("/api/v1/me/books", { query }),
  /** @returns {Promise<ReadingState>} */
  myBook: (/** @type {number} */ book_id) => get("/api/v1/me/books/{book_id}", { params: { book_id } }),
  /** @returns {Promise<ReadingState>} */
  shelve: (/** @type {number} */ book_id, /** @type {Record<string, unknown>} */ body) =>
    request("PUT", "/api/v1/me/books/{book_id}", { params: { book_id }, body }),
  unshelve: (/** @type {number} */ book_id) => request("DELETE", "/api/v1/me/books/{book_id}", { params: { book_id } }),
  // sessions
  /** @returns {Promise<{items: Session[], next_cursor: string | null}>} */
  sessions: (/** @type {"live" | "upcoming" | "mine"} */ list) => get("/api/v1/sessions", { query: { list, limit: 50 } }),
  /** @returns {Promise<Session>} */
  createSession: (/** @type {Record<string, unknown>} */ body) => post("/api/v1/sessions", { body }),
  /** @returns {Promise<Session>} */
  session: (/** @type {number} */ session_id) => get("/api/v1/sessions/{session_id}", { params: { session_id } }),
  updateSession: (/** @type {number} */ session_id, /** @type {Record<string, unknown>} */ body) =>
    request("PATCH", "/api/v1/sessions/{session_id}", { params: { session_id }, body }),
  startSession: (/** @type {number} */ session_id) => post("/api/v1/sessions/{session_id}/start", { params: { session_id } }),
  endSession: (/** @type {number} */ session_id) => post("/api/v1/sessions/{session_id}/end", { params: { session_id } }),
  join: (/** @type {number} */ session_id, /** @type {string | null} */ invite_code) =>
    post("/api/v1/sessions/{session_id}/join", { params: { session_id }, body: invite_code ? { invite_code } : {} }),
  /** @returns {Promise<{attendance: Participant[], duration_seconds: number | null, messages: number, reactions: number, annotations: number, progress_read_together: number}>} */
  record: (/** @type {number} */ session_id) => get("/api/v1/sessions/{session_id}/record", { params: { session_id } }),
  /** @returns {Promise<{items: Message[], next_cursor: string | null}>} */
  messages: (/** @type {number} */ session_id, /** @type {string | null} */ cursor) =>
    get("/api/v1/sessions/{session_id}/messages", { params: { session_id }, query: { cursor, limit: 100 } }),
  /** @returns {Promise<{items: Reaction[]}>} */
  reactions: (/** @type {number} */ session_id) => get("/api/v1/sessions/{session_id}/reactions", { params: { session_id } }),
  /** @returns {Promise<{items: Annotation[]}>} */
  annotations: (/** @type {number} */ session_id) => get("/api/v1/sessions/{session_id}/annotations", { params: { session_id } }),
  /** @param {number} session_id @param {number} user_id @param {boolean} on */
  muteReader: (session_id, user_id, on) =>
    request(on ? "POST" : "DELETE", "/api/v1/sessions/{session_id}/participants/{user_id}/mute", { params: { session_id, user_id } }),
  kick: (/** @type {number} */ session_id, /** @type {number} */ user_id) =>
    post("/api/v1/sessions/{session_id}/participants/{user_id}/kick", { params: { session_id, user_id } }),
  // notifications and the feed
  /** @returns {Promise<{items: Notification[], unread_count: number, next_cursor: string | null}>} */
  notifications: (/** @type {string | null} */ cursor) => get("/api/v1/notifications", { query: { cursor, limit: 30 } }),
  /** @returns {Promise<{unread_count: number}>} */
  unreadCount: () => get("/api/v1/notifications/unread-count"),
  markRead: (/** @type {number} */ notification_id) =>
    post("/api/v1/notifications/{notification_id}/read", { params: { notification_id } }),
  markAllRead: () => post("/api/v1/notifications/read-all", { body: {} }),
  markSeen: () => post("/api/v1/notifications/seen"),
  /** @returns {Promise<{items: Activity[], next_cursor: string | null}>} */
  feed: (/** @type {string | null} */ cursor) => get("/api/v1/feed", { query: { cursor, limit: 20 } }),
};

/** Problem details → `{field: message}` for a form; messages without a field go under "". 
 * @param {unknown} err @param {string[]} fields */
export function fieldErrors(err, fields) {
  /** @type {Record<string, string>} */
  const out = {};
  if (!(err instanceof ApiError)) { out[""] = String(err instanceof Error ? err.message : err); return out; }
  const p = err.problem;
  for (const e of p.errors || []) {
    const f = fields.find((name) => e.field === name || e.field.endsWith(`.${name}`));
    const key = f ?? "";
    out[key] = out[key] ? `${out[key]} ${e.message}` : e.message;
  }
  if (!Object.keys(out).length) {
    const byCode = fields.find((name) => (p.code || "").startsWith(name));
    const key = byCode ?? (p.code === "invalid_credentials" ? "password" : "");
    out[key] = err.message;
  }
  return out;
}
