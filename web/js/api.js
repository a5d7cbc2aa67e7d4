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
 *            relation?: Relation | null, joined_at?: string, favourite_genres?: string[],
 *            avatar_url?: string | null}} User
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
 *            shelves: string[], furthest: number, position: number | null, total_pages?: number | null,
 *            page?: number | null, read_count?: number}} ReadingState
 * @typedef {{year: number, books: number | null, pages: number | null, books_done: number, pages_done: number,
 *            books_ahead: number | null, pages_ahead: number | null, pace: string, reached: boolean}} Goal
 * @typedef {{year: number, books: number, pages: number, rereads: number, did_not_finish: number,
 *            books_by_month: number[], pages_by_month: number[], subjects: {name: string, books: number}[],
 *            average_days_per_book: number | null, average_rating: number | null}} Stats
 * @typedef {{id: number, handle: string, display_name: string}} Actor
 * @typedef {{id: number, book_id: number, author: Actor, rating: number | null, body_html: string | null,
 *            spoiler: boolean, has_spoiler_spans: boolean, redacted: boolean, likes: number, liked: boolean,
 *            comments: number, hidden: boolean, created_at: string, edited_at: string | null}} Review
 * @typedef {{id: number, review_id: number, author: Actor, body_html: string, created_at: string}} Comment
 * @typedef {{id: number, slug: string, name: string, description: string, visibility: string, join_policy: string,
 *            rules: string, language: string | null, owner_id: number, book_id: number | null, member_count: number,
 *            room: string, my_role?: string | null, requested?: boolean, time_zone?: string,
 *            member_cap?: number | null}} Club
 * @typedef {{id: number, club_id: number, token: string, expires_at: string | null, max_uses: number | null,
 *            uses: number, revoked: boolean}} Invite
 * @typedef {{user_id: number, handle: string, display_name: string, role: string, joined_at: string,
 *            muted: boolean}} ClubMember
 * @typedef {{email: string, verified: boolean, pending_email?: string | null}} EmailState
 * @typedef {{id: number, handle: string, display_name: string, avatar_url: string | null, since: string}} UserCard
 * @typedef {{id: number, title: string, start: number, end: number, opens_at: string, open: boolean,
 *            locked: boolean, unlocks_at: number, post_count: number, room: string, thread_locked?: boolean}} Section
 * @typedef {{id: number, club_id: number, title: string, description: string, kind: string, starts_at: string,
 *            ends_at: string, time_zone: string, location: string, status: string, going: number, maybe: number,
 *            no: number, my_answer?: string | null, session_id?: number | null}} ClubEvent
 * @typedef {{id: number, question: string, multiple: boolean, closed: boolean, voters: number,
 *            options: {id: number, label: string, votes: number | null}[], my_votes: number[],
 *            results_visible: boolean}} Poll
 * @typedef {{identities: {id: number, username: string, linked_at: string | null}[],
 *            documents: {document: string, book_id: number | null, title: string | null, pending: boolean,
 *            percentage: number | null, device: string | null}[]}} Kosync
 * @typedef {{id: number, status: string, created_at: string, ready_at: string | null, expires_at: string}} Export
 * @typedef {{id: number, format: string, status: string, dry_run: boolean, filename: string, total: number,
 *            done: number, counts: Record<string, any>, error: string | null, created_at?: string}} Import
 * @typedef {{book_id: number, title: string, authors: string[], reason: string, confidence: number, source: string}} Recommendation
 * @typedef {{session_id: number, method: string, sentences: {message_id: number, author_name: string, text: string}[],
 *            text: string, messages: number, withheld: number}} CatchUp
 * @typedef {{board: string, period: number, items: {rank: number, owner: Actor | null, score: number}[]}} BoardPage
 * @typedef {{timezone: string, quiet_start: string | null, quiet_end: string | null, digest: boolean, digest_hour: number,
 *            email_opt_out: boolean, types: Record<string, Record<string, boolean>>}} NotificationPrefs
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
 *          signal?: AbortSignal, idempotent?: boolean, key?: string, form?: FormData}} [opts]
 *   idempotent: send a fresh Idempotency-Key; key: send this one (a retry of the same content)
 * @returns {Promise<any>}
 */
export async function request(method, template, opts = {}) {
  const url = fill(template, opts.params) + qs(opts.query || {});
  /** @type {Record<string, string>} */
  const headers = { Accept: "application/json" };
  if (opts.body !== undefined) headers["Content-Type"] = "application/json";
  if (opts.key || opts.idempotent) headers["Idempotency-Key"] = opts.key || randomKey();
  for (let attempt = 0; ; attempt++) {
    if (tokens.access) headers.Authorization = `Bearer ${tokens.access}`;
    else if (tokens.refresh && attempt === 0 && await refreshTokens()) continue;
    let r;
    try {
      r = await fetch(url, {
        method, headers, signal: opts.signal,
        body: opts.form ?? (opts.body === undefined ? undefined : JSON.stringify(opts.body)),
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

/**
 * Download `url` with the access token (a plain link would go without it) and save it as
 * `name` (the export, the CSV, a private club's calendar event).
 * @param {string} url @param {string} name
 */
export async function download(url, name) {
  const r = await fetch(url, { headers: tokens.access ? { Authorization: `Bearer ${tokens.access}` } : {} });
  if (!r.ok) throw new Error(`The download failed (${r.status}).`);
  const href = URL.createObjectURL(await r.blob());
  const a = document.createElement("a");
  a.href = href; a.download = name; a.hidden = true; a.textContent = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(href), 60000);
}

/** The endpoints, by feature. */
/** Page sizes of the lists with "Load more": a book's reviews, a club's chat history. */
export const REVIEW_PAGE = 10;
export const CHAT_PAGE = 50;

export const api = {
  // accounts
  /** @returns {Promise<TokenPair>} */
  register: (/** @type {Record<string,string>} */ body) => post("/api/v1/auth/register", { body }),
  /** @returns {Promise<TokenPair>} */
  /** @returns {Promise<TokenPair | {challenge: string, two_factor_required: true, methods: string[]}>} */
  login: (/** @type {Record<string,string>} */ body) => post("/api/v1/auth/login", { body }),
  /** The second sign-in step: an authenticator or a recovery code. @returns {Promise<TokenPair>} */
  login2fa: (/** @type {string} */ challenge, /** @type {string} */ code) => post("/api/v1/auth/login/2fa", { body: { challenge, code } }),
  logout: () => post("/api/v1/auth/logout", { body: { refresh_token: tokens.refresh } }),
  /** The identity providers this server signs in with (maybe none). @returns {Promise<{name: string, label: string, issuer: string}[]>} */
  oidcProviders: () => get("/api/v1/auth/oidc/providers", {}),
  /** @returns {Promise<{authorization_url: string, state: string, provider: string}>} */
  oidcStart: (/** @type {string} */ provider) => get("/api/v1/auth/oidc/start", { query: { provider } }),
  /** Finish a provider sign-in with what it sent back. @returns {Promise<TokenPair | {challenge: string, two_factor_required: true, methods: string[]}>} */
  oidcCallback: (/** @type {string} */ code, /** @type {string} */ state) => post("/api/v1/auth/oidc/callback", { body: { code, state } }),
  /** @returns {Promise<User>} */
  me: () => get("/api/v1/me"),
  updateMe: (/** @type {Record<string, unknown>} */ body) => request("PATCH", "/api/v1/me", { body }),
  /** @returns {Promise<{avatar_url: string}>} the picture as the multipart field `file` */
  uploadAvatar: (/** @type {FormData} */ form) => request("PUT", "/api/v1/me/avatar", { form }),
  removeAvatar: () => request("DELETE", "/api/v1/me/avatar"),
  // profiles and the social graph
  /** @returns {Promise<User>} */
  profile: (/** @type {string} */ handle) => get("/api/v1/users/{handle}", { params: { handle } }),
  /** @param {string} handle @param {"follow" | "block" | "mute"} what @param {boolean} on */
  relate: (handle, what, on) => request(on ? "POST" : "DELETE", RELATE[what], { params: { handle } }),
  /** @returns {Promise<{items: UserCard[], next_cursor: string | null}>} */
  followers: (/** @type {string} */ handle, /** @type {string | null} */ cursor = null) =>
    get("/api/v1/users/{handle}/followers", { params: { handle }, query: { cursor } }),
  /** @returns {Promise<{items: UserCard[], next_cursor: string | null}>} */
  following: (/** @type {string} */ handle, /** @type {string | null} */ cursor = null) =>
    get("/api/v1/users/{handle}/following", { params: { handle }, query: { cursor } }),
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
  /** @returns {Promise<{book_id: number, reading_now: number, read: number, following: {handle: string, display_name: string, status: string, furthest: number}[]}>} */
  bookReaders: (/** @type {number} */ book_id) => get("/api/v1/books/{book_id}/readers", { params: { book_id } }),
  // web push on this device
  /** @returns {Promise<{public_key: string}>} */
  vapidKey: () => get("/api/v1/push/vapid-key"),
  /** @returns {Promise<{id: number, endpoint: string, created_at: string}[]>} */
  pushSubscriptions: () => get("/api/v1/push/subscriptions"),
  /** @returns {Promise<{id: number, endpoint: string, created_at: string}>} */
  addPushSubscription: (/** @type {Record<string, unknown>} */ body) => post("/api/v1/push/subscriptions", { body }),
  removePushSubscription: (/** @type {number} */ subscription_id) =>
    request("DELETE", "/api/v1/push/subscriptions/{subscription_id}", { params: { subscription_id } }),
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
  // reading life: shelves, progress, goals, streaks, stats
  /** @returns {Promise<{statuses: Record<string, number>, shelves: {name: string, books: number}[]}>} */
  shelves: () => get("/api/v1/me/books/shelves"),
  /** @returns {Promise<{state: ReadingState, advance: {previous: number, furthest: number, moved: boolean, pages: number}}>} */
  progress: (/** @type {number} */ book_id, /** @type {Record<string, unknown>} */ body) =>
    post("/api/v1/me/books/{book_id}/progress", { params: { book_id }, body }),
  /** @returns {Promise<Goal>} */
  goal: (/** @type {number} */ year) => get("/api/v1/me/reading/goals/{year}", { params: { year } }),
  /** @returns {Promise<Goal>} */
  setGoal: (/** @type {number} */ year, /** @type {Record<string, unknown>} */ body) =>
    request("PUT", "/api/v1/me/reading/goals/{year}", { params: { year }, body }),
  dropGoal: (/** @type {number} */ year) => request("DELETE", "/api/v1/me/reading/goals/{year}", { params: { year } }),
  /** @returns {Promise<{current: number, longest: number, read_today: boolean, last_reading_day: string | null, time_zone: string, rule?: string}>} */
  streak: () => get("/api/v1/me/reading/streak"),
  /** @returns {Promise<Stats>} */
  stats: (/** @type {number | null} */ year) => get("/api/v1/me/reading/stats", { query: { year } }),
  /** @returns {Promise<{years: {year: number, books: number, pages: number}[]}>} */
  statYears: () => get("/api/v1/me/reading/stats/years"),
  /** @returns {Promise<{key: string, name: string, description: string, rarity: string, awarded_at: string | null, holders_share: number}[]>} */
  badges: () => get("/api/v1/me/reading/badges"),
  /** @returns {Promise<Stats>} */
  userStats: (/** @type {string} */ handle) => get("/api/v1/users/{handle}/reading/stats", { params: { handle } }),
  /** @returns {Promise<{current: number, longest: number}>} */
  userStreak: (/** @type {string} */ handle) => get("/api/v1/users/{handle}/reading/streak", { params: { handle } }),
  /** @returns {Promise<{xp: number, level: number, level_xp: number, next_level_xp: number}>} */
  xp: () => get("/api/v1/me/reading/xp"),
  // reviews
  /** @returns {Promise<{items: Review[], next_cursor: string | null}>} */
  reviews: (/** @type {number} */ book_id, /** @type {string | null} */ cursor) =>
    get("/api/v1/books/{book_id}/reviews", { params: { book_id }, query: { cursor, limit: REVIEW_PAGE } }),
  /** @returns {Promise<Review>} */
  writeReview: (/** @type {number} */ book_id, /** @type {Record<string, unknown>} */ body) =>
    request("PUT", "/api/v1/me/books/{book_id}/review", { params: { book_id }, body }),
  deleteReview: (/** @type {number} */ review_id) => request("DELETE", "/api/v1/reviews/{review_id}", { params: { review_id } }),
  /** @returns {Promise<{liked: boolean, likes: number}>} */
  like: (/** @type {number} */ review_id, /** @type {boolean} */ on) =>
    request(on ? "POST" : "DELETE", "/api/v1/reviews/{review_id}/like", { params: { review_id } }),
  /** @returns {Promise<{items: Comment[], next_cursor: string | null}>} */
  comments: (/** @type {number} */ review_id) => get("/api/v1/reviews/{review_id}/comments", { params: { review_id }, query: { limit: 50 } }),
  /** @returns {Promise<Comment>} */
  comment: (/** @type {number} */ review_id, /** @type {string} */ body) =>
    post("/api/v1/reviews/{review_id}/comments", { params: { review_id }, body: { body } }),
  report: (/** @type {number} */ review_id, /** @type {Record<string, unknown>} */ body) =>
    post("/api/v1/reviews/{review_id}/reports", { params: { review_id }, body }),
  // account recovery and email (the emails' links open web/js/screens/recovery.js)
  forgotPassword: (/** @type {string} */ email) => post("/api/v1/auth/password/forgot", { body: { email } }),
  resetPassword: (/** @type {string} */ token, /** @type {string} */ new_password) =>
    post("/api/v1/auth/password/reset", { body: { token, new_password } }),
  /** @returns {Promise<EmailState>} */
  verifyEmail: (/** @type {string} */ token) => post("/api/v1/auth/email/verify", { body: { token } }),
  /** @returns {Promise<EmailState>} */
  emailState: () => get("/api/v1/me/email"),
  changeEmail: (/** @type {string} */ new_email, /** @type {string} */ password) =>
    post("/api/v1/me/email", { body: { new_email, password } }),
  resendVerification: () => post("/api/v1/me/email/verification", {}),
  // my social lists: follow requests to answer, blocks and mutes to lift
  /** @returns {Promise<{items: UserCard[], next_cursor: string | null}>} */
  followRequests: () => get("/api/v1/me/follow-requests"),
  /** @param {string} handle @param {boolean} yes */
  answerFollow: (handle, yes) => request(yes ? "POST" : "DELETE", "/api/v1/me/follow-requests/{handle}", { params: { handle } }),
  /** @returns {Promise<{items: UserCard[], next_cursor: string | null}>} */
  myBlocks: () => get("/api/v1/me/blocks"),
  /** @returns {Promise<{items: UserCard[], next_cursor: string | null}>} */
  myMutes: () => get("/api/v1/me/mutes"),
  // clubs
  /** @returns {Promise<{items: Club[], next_cursor: string | null}>} */
  clubs: (/** @type {Record<string, any>} */ query) => get("/api/v1/clubs", { query }),
  /** @returns {Promise<{items: Club[], next_cursor: string | null}>} */
  myClubs: () => get("/api/v1/clubs/mine"),
  /** @returns {Promise<Club>} */
  createClub: (/** @type {Record<string, unknown>} */ body) => post("/api/v1/clubs", { body }),
  /** @returns {Promise<Club>} */
  club: (/** @type {number} */ club_id) => get("/api/v1/clubs/{club_id}", { params: { club_id } }),
  updateClub: (/** @type {number} */ club_id, /** @type {Record<string, unknown>} */ body) =>
    request("PATCH", "/api/v1/clubs/{club_id}", { params: { club_id }, body }),
  /** @returns {Promise<{status: string}>} */
  joinClub: (/** @type {number} */ club_id, /** @type {{invite?: string, message?: string}} */ body = {}) =>
    post("/api/v1/clubs/{club_id}/join", { params: { club_id }, body }),
  /** @returns {Promise<Invite>} */
  createInvite: (/** @type {number} */ club_id, /** @type {Record<string, unknown>} */ body) =>
    post("/api/v1/clubs/{club_id}/invites", { params: { club_id }, body }),
  /** @returns {Promise<Invite[]>} */
  invites: (/** @type {number} */ club_id) => get("/api/v1/clubs/{club_id}/invites", { params: { club_id } }),
  revokeInvite: (/** @type {number} */ club_id, /** @type {number} */ invite_id) =>
    request("DELETE", "/api/v1/clubs/{club_id}/invites/{invite_id}", { params: { club_id, invite_id } }),
  /** @returns {Promise<{items: {id: number, user_id: number, handle: string, display_name: string, message: string}[]}>} */
  joinRequests: (/** @type {number} */ club_id) => get("/api/v1/clubs/{club_id}/requests", { params: { club_id } }),
  /** @param {number} club_id @param {number} request_id @param {boolean} yes */
  answerRequest: (club_id, request_id, yes) => post(yes ? "/api/v1/clubs/{club_id}/requests/{request_id}/approve"
    : "/api/v1/clubs/{club_id}/requests/{request_id}/decline", { params: { club_id, request_id } }),
  leaveClub: (/** @type {number} */ club_id) => post("/api/v1/clubs/{club_id}/leave", { params: { club_id } }),
  /** @returns {Promise<{book_id: number, title: string, started_at: string, finished_at: string | null, current: boolean,
   *            average_rating: number | null, ratings: number}[]>} */
  clubBooks: (/** @type {number} */ club_id) => get("/api/v1/clubs/{club_id}/books", { params: { club_id } }),
  /** @returns {Promise<{items: ClubMember[], next_cursor: string | null}>} */
  clubMembers: (/** @type {number} */ club_id, /** @type {string | null} */ cursor = null) =>
    get("/api/v1/clubs/{club_id}/members", { params: { club_id }, query: { cursor, limit: 50 } }),
  /** @param {number} club_id @param {number} user_id @param {"moderator" | "member"} role */
  setClubRole: (club_id, user_id, role) =>
    request("PUT", "/api/v1/clubs/{club_id}/members/{user_id}/role", { params: { club_id, user_id }, body: { role } }),
  /** @param {number} club_id @param {number} user_id @param {boolean} muted */
  muteInClub: (club_id, user_id, muted) =>
    request("PUT", "/api/v1/clubs/{club_id}/members/{user_id}/mute", { params: { club_id, user_id }, body: { muted } }),
  /** @param {number} club_id @param {number} user_id */
  transferClub: (club_id, user_id) => post("/api/v1/clubs/{club_id}/transfer", { params: { club_id }, body: { user_id } }),
  /** @param {number} club_id @param {number} user_id */
  banFromClub: (club_id, user_id) => post("/api/v1/clubs/{club_id}/bans", { params: { club_id }, body: { user_id } }),
  /** @returns {Promise<{invited: number}>} @param {number} club_id @param {number[]} user_ids */
  inviteUsers: (club_id, user_ids) => post("/api/v1/clubs/{club_id}/invitations", { params: { club_id }, body: { user_ids } }),
  /** @returns {Promise<{members: {user_id: number, display_name: string, role: string, furthest: number, standing: string}[]}>} */
  clubBoard: (/** @type {number} */ club_id) => get("/api/v1/clubs/{club_id}/board", { params: { club_id } }),
  /** @returns {Promise<{items: Section[]}>} */
  sections: (/** @type {number} */ club_id) => get("/api/v1/clubs/{club_id}/sections", { params: { club_id } }),
  /** @returns {Promise<{items: Section[]}>} */
  schedule: (/** @type {number} */ club_id, /** @type {Record<string, unknown>} */ body) =>
    post("/api/v1/clubs/{club_id}/schedule", { params: { club_id }, body }),
  /** @returns {Promise<{items: Message[]}>} */
  sectionPosts: (/** @type {number} */ club_id, /** @type {number} */ section_id) =>
    get("/api/v1/clubs/{club_id}/sections/{section_id}/posts", { params: { club_id, section_id }, query: { limit: 100 } }),
  /** @returns {Promise<Message>} */
  /** `key`: the same for every try of one post (a retry after a lost answer lands once). */
  postInSection: (/** @type {number} */ club_id, /** @type {number} */ section_id, /** @type {string} */ body, /** @type {string} */ key = "") =>
    post("/api/v1/clubs/{club_id}/sections/{section_id}/posts", { params: { club_id, section_id }, body: { body }, key, idempotent: true }),
  readSection: (/** @type {number} */ club_id, /** @type {number} */ section_id) =>
    post("/api/v1/clubs/{club_id}/sections/{section_id}/read", { params: { club_id, section_id } }),
  /** @returns {Promise<{items: Message[], next_cursor: string | null}>} */
  /** The chat newest first: the newest page, or the one ending before `before` (a page's `next_cursor`). */
  clubMessages: (/** @type {number} */ club_id, /** @type {string | null} */ before = null) =>
    get("/api/v1/clubs/{club_id}/messages", { params: { club_id }, query: { before: before ?? "latest", limit: CHAT_PAGE } }),
  /** @returns {Promise<Message>} */
  clubSay: (/** @type {number} */ club_id, /** @type {string} */ body, /** @type {string} */ key = "") =>
    post("/api/v1/clubs/{club_id}/messages", { params: { club_id }, body: { body }, key, idempotent: true }),
  /** @returns {Promise<ClubEvent[]>} */
  events: (/** @type {number} */ club_id) => get("/api/v1/clubs/{club_id}/events", { params: { club_id } }),
  /** @returns {Promise<ClubEvent>} */
  createEvent: (/** @type {number} */ club_id, /** @type {Record<string, unknown>} */ body) =>
    post("/api/v1/clubs/{club_id}/events", { params: { club_id }, body }),
  /** @returns {Promise<ClubEvent>} */
  rsvp: (/** @type {number} */ club_id, /** @type {number} */ event_id, /** @type {string} */ answer) =>
    request("PUT", "/api/v1/clubs/{club_id}/events/{event_id}/rsvp", { params: { club_id, event_id }, body: { answer } }),
  eventIcs: (/** @type {number} */ club_id, /** @type {number} */ event_id) =>
    fill("/api/v1/clubs/{club_id}/events/{event_id}/event.ics", { club_id, event_id }),
  /** @returns {Promise<Poll[]>} */
  polls: (/** @type {number} */ club_id) => get("/api/v1/clubs/{club_id}/polls", { params: { club_id } }),
  /** @returns {Promise<Poll>} */
  createPoll: (/** @type {number} */ club_id, /** @type {Record<string, unknown>} */ body) =>
    post("/api/v1/clubs/{club_id}/polls", { params: { club_id }, body }),
  /** @returns {Promise<Poll>} */
  vote: (/** @type {number} */ club_id, /** @type {number} */ poll_id, /** @type {number[]} */ option_ids) =>
    request("PUT", "/api/v1/clubs/{club_id}/polls/{poll_id}/vote", { params: { club_id, poll_id }, body: { option_ids } }),
  // notification preferences
  /** @returns {Promise<NotificationPrefs>} */
  notificationPrefs: () => get("/api/v1/notifications/preferences"),
  /** @returns {Promise<NotificationPrefs>} */
  setNotificationPrefs: (/** @type {Record<string, unknown>} */ body) => request("PUT", "/api/v1/notifications/preferences", { body }),
  /** @returns {Promise<{name: string, text: string, description?: string}[]>} */
  notificationTypes: () => get("/api/v1/notifications/types"),
  // account settings
  /** @returns {Promise<TokenPair>} */
  changePassword: (/** @type {Record<string, string>} */ body) => post("/api/v1/me/password", { body }),
  /** @returns {Promise<{id: string, created_at: string, last_used_at: string, address: string, user_agent: string, current: boolean}[]>} */
  devices: () => get("/api/v1/me/devices"),
  signOutDevice: (/** @type {string} */ device_id) => request("DELETE", "/api/v1/me/devices/{device_id}", { params: { device_id } }),
  /** @returns {Promise<{secret: string, otpauth_uri: string, qr_svg: string}>} */
  /** @returns {Promise<{passkeys: {id: number, created_at: string, last_used_at: string | null}[], second_factor: boolean}>} */
  myPasskeys: () => get("/api/v1/me/passkeys"),
  removePasskey: (/** @type {number} */ passkey_id, /** @type {string} */ password) =>
    post("/api/v1/me/passkeys/{passkey_id}/remove", { params: { passkey_id }, body: { password } }),
  /** WebAuthn creation options for a new passkey (JSON, base64url). @returns {Promise<Record<string, any>>} */
  passkeyOptions: () => post("/api/v1/me/passkeys/options", {}),
  /** @returns {Promise<{id: number, created_at: string}>} */
  addPasskey: (/** @type {unknown} */ credential) => post("/api/v1/me/passkeys", { body: { credential } }),
  /** @returns {Promise<{enabled: boolean}>} */
  passkeySecondFactor: (/** @type {string} */ password, /** @type {boolean} */ enabled) =>
    request("PUT", "/api/v1/me/passkeys/second-factor", { body: { password, enabled } }),
  /** Request options naming the account's passkeys, for a sign-in's second step. @returns {Promise<Record<string, any>>} */
  passkeyStepOptions: (/** @type {string} */ challenge) => post("/api/v1/auth/login/2fa/passkey/options", { body: { challenge } }),
  /** @returns {Promise<TokenPair>} */
  passkeyStep: (/** @type {string} */ challenge, /** @type {unknown} */ credential) =>
    post("/api/v1/auth/login/2fa/passkey", { body: { challenge, credential } }),
  enrol2fa: (/** @type {string} */ password) => post("/api/v1/me/2fa/enrol", { body: { password } }),
  /** @returns {Promise<{recovery_codes: string[]}>} */
  confirm2fa: (/** @type {string} */ code) => post("/api/v1/me/2fa/confirm", { body: { code } }),
  disable2fa: (/** @type {Record<string, string>} */ body) => post("/api/v1/me/2fa/disable", { body }),
  /** @returns {Promise<Kosync>} */
  kosync: () => get("/api/v1/me/kosync"),
  /** @returns {Promise<Kosync>} */
  kosyncCreate: (/** @type {Record<string, string>} */ body) => post("/api/v1/me/kosync/identities", { body }),
  kosyncDelete: (/** @type {number} */ identity_id) =>
    request("DELETE", "/api/v1/me/kosync/identities/{identity_id}", { params: { identity_id } }),
  /** @returns {Promise<Export>} */
  requestExport: () => post("/api/v1/me/exports"),
  /** @returns {Promise<Export>} */
  exportState: (/** @type {number} */ export_id) => get("/api/v1/me/exports/{export_id}", { params: { export_id } }),
  exportUrl: (/** @type {number} */ export_id) => fill("/api/v1/me/exports/{export_id}/download", { export_id }),
  /** @returns {Promise<{scheduled: boolean, due_at: string | null}>} */
  deletion: () => get("/api/v1/me/deletion"),
  /** @returns {Promise<{scheduled: boolean, due_at: string | null}>} */
  scheduleDeletion: (/** @type {string} */ password) => post("/api/v1/me/deletion", { body: { password } }),
  cancelDeletion: () => request("DELETE", "/api/v1/me/deletion"),
  // imports (multipart upload: the body is FormData, sent as it is)
  /** @returns {Promise<Import[]>} */
  imports: () => get("/api/v1/imports"),
  /** @returns {Promise<Import>} */
  importState: (/** @type {number} */ import_id) => get("/api/v1/imports/{import_id}", { params: { import_id } }),
  /** @returns {Promise<Import>} */
  upload: (/** @type {FormData} */ form, /** @type {boolean} */ dry_run) => {
    form.set("dry_run", String(dry_run));
    return request("POST", "/api/v1/imports", { form });
  },
  /** @returns {Promise<Import>} */
  commitImport: (/** @type {number} */ import_id) => post("/api/v1/imports/{import_id}/commit", { params: { import_id } }),
  /** @returns {Promise<{items: {row: number, outcome: string, book_id: number | null, title: string, shelf: string, reason: string | null}[]}>} */
  importRows: (/** @type {number} */ import_id) => get("/api/v1/imports/{import_id}/rows", { params: { import_id }, query: { limit: 100 } }),
  // recommendations, catch-up summaries, leaderboards
  /** @returns {Promise<{items: Recommendation[]}>} */
  recommendations: () => get("/api/v1/recommendations/me", { query: { limit: 12 } }),
  /** @returns {Promise<{items: Recommendation[]}>} */
  similar: (/** @type {number} */ book_id) => get("/api/v1/recommendations/similar/{book_id}", { params: { book_id }, query: { limit: 6 } }),
  /** @returns {Promise<{items: BookSummary[]}>} */
  trending: () => get("/api/v1/recommendations/trending", { query: { window: "week", limit: 10 } }),
  recClick: (/** @type {number} */ book_id) => post("/api/v1/recommendations/clicks", { body: { book_id } }),
  askCatchUp: (/** @type {number} */ session_id, /** @type {number} */ since) =>
    post("/api/v1/sessions/{session_id}/catch-up", { params: { session_id }, body: { since } }),
  /** @returns {Promise<CatchUp>} */
  catchUp: (/** @type {number} */ session_id) => get("/api/v1/sessions/{session_id}/catch-up", { params: { session_id } }),
  /** @returns {Promise<{key: string, title: string, operator: string, reset: string, sort: string, period: number}[]>} */
  boards: () => get("/api/v1/leaderboards"),
  /** @returns {Promise<BoardPage>} */
  board: (/** @type {string} */ key) => get("/api/v1/leaderboards/{key}", { params: { key }, query: { limit: 20 } }),
  /** @returns {Promise<BoardPage>} */
  boardFriends: (/** @type {string} */ key) => get("/api/v1/leaderboards/{key}/friends", { params: { key } }),
};

/** A validator's message in plain words ("Expected `int` >= 1" → "must be at least 1").
 * @param {string} m */
export function inWords(m) {
  return m
    .replace(/^Expected `str` of length >= 1$/, "must not be empty")
    .replace(/^Expected `str` of length >= (\d+)$/, "must be at least $1 characters long")
    .replace(/^Expected `str` of length <= (\d+)$/, "must be at most $1 characters long")
    .replace(/^Expected `(?:int|float)` >= (\S+)$/, "must be at least $1")
    .replace(/^Expected `(?:int|float)` <= (\S+)$/, "must be at most $1")
    .replace(/^Expected `(?:int|float)`.*$/, "must be a number")
    .replace(/^Object missing required field `(\w+)`$/, "$1 is required");
}

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
    const msg = inWords(e.message);
    out[key] = out[key] ? `${out[key]} ${msg}` : msg;
  }
  if (!Object.keys(out).length) {
    const byCode = fields.find((name) => (p.code || "").startsWith(name));
    const key = byCode ?? (p.code === "invalid_credentials" ? "password" : "");
    out[key] = err.message;
  }
  return out;
}
