// The realtime client: one WebSocket per tab on /ws (protocol readalong.v1, see /asyncapi.json).
// Reconnects with backoff, resubscribes each room with `since`, answers `reauth` with a fresh
// token, and keeps content commands (chat, react, annotate) in an outbox until they are acked:
// after a reconnect they are sent again with the same idempotency key, so each lands once.
// A command answered `overloaded` (too many of this socket's commands not answered yet) is sent
// again after its `retry_after`, a few times.

import { randomKey } from "./dom.js";

/**
 * @typedef {"offline" | "connecting" | "online" | "reconnecting" | "signed-out"} ConnState
 * @typedef {{epoch: string, offset: number}} Since
 * @typedef {{type: string, id?: string | null, room?: string, event?: string, data?: any,
 *            epoch?: string, offset?: number, result?: any, code?: string, message?: string,
 *            field?: string | null, retry_after?: number, joined?: any[], left?: number[],
 *            updated?: any[], expires_at?: number, user_id?: number, unlocked?: boolean}} Frame
 * @typedef {{onEvent: (frame: Frame) => void, onPresence?: (frame: Frame) => void,
 *            onSubscribed?: (result: any, resumed: boolean) => void,
 *            onError?: (err: SocketError) => void}} RoomHandlers
 * @typedef {{room: string, handlers: RoomHandlers, since: Since | null, active: boolean, pending?: boolean}} Sub
 * @typedef {{key: string, room: string, data: Record<string, any>, resolve: (r: any) => void,
 *            reject: (e: any) => void, sentOn: number}} Queued
 * @typedef {{resolve: (r: any) => void, reject: (e: any) => void, body: string,
 *            tries: number}} InFlight
 */

/** A command the server refused (an `error` frame) or that could not be delivered. */
export class SocketError extends Error {
  /** @param {string} code @param {string} message @param {string | null} [field] */
  constructor(code, message, field = null, retryAfter = 0) {
    super(message);
    this.code = code;
    this.field = field;
    this.retry_after = retryAfter;
  }
}

/** Close codes after which reconnecting cannot help. */
const FATAL = new Set([1008, 4003, 4008]);
/** Codes of an `error` frame that mean "try again later": the command stays queued. */
const TRANSIENT = new Set(["unavailable", "rate_limited", "overloaded", "internal", "disconnected"]);
/** How many times one command answered `overloaded` is sent again (each after its retry_after). */
const OVERLOAD_RETRIES = 5;

export class Realtime {
  /**
   * @param {{url: string, token: () => Promise<string | null>, refresh: () => Promise<boolean>,
   *          idempotency?: boolean}} opts  idempotency (default on): send `idempotency_key`
   */
  constructor(opts) {
    this.opts = { idempotency: true, ...opts };
    /** @type {ConnState} */
    this.state = "offline";
    /** @type {WebSocket | null} */
    this.ws = null;
    this.attempt = 0;
    this.seq = 0;
    this.generation = 0;  // bumps on every new socket: outbox items know where they were sent
    /** @type {Map<string, InFlight>} */
    this.pending = new Map();
    /** @type {Map<string, Sub>} */
    this.rooms = new Map();
    /** @type {Queued[]} */
    this.outbox = [];
    /** @type {Set<(s: ConnState) => void>} */
    this.listeners = new Set();
    /** @type {Set<() => void>} */
    this.outboxListeners = new Set();
    /** @type {ReturnType<typeof setTimeout> | null} */
    this.timer = null;
    this.wanted = false;
    window.addEventListener("offline", () => this.dropForOffline());
    window.addEventListener("online", () => { if (this.wanted && this.state !== "online") this.open(0); });
  }

  /** @param {(s: ConnState) => void} fn */
  onState(fn) { this.listeners.add(fn); fn(this.state); return () => this.listeners.delete(fn); }

  /** @param {ConnState} s */
  setState(s) {
    if (this.state === s) return;
    this.state = s;
    for (const fn of this.listeners) fn(s);
  }

  start() { this.wanted = true; if (!this.ws) this.open(0); }

  stop() {
    this.wanted = false;
    if (this.timer) clearTimeout(this.timer);
    this.ws?.close(1000);
    this.ws = null;
    this.setState("signed-out");
  }

  dropForOffline() {
    if (!this.ws) return;
    const ws = this.ws;
    this.ws = null;
    ws.close(1000);
    this.lost();
    this.setState("offline");
  }

  /** @param {number} delay */
  open(delay) {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => this.connect(), delay);
  }

  async connect() {
    this.timer = null;
    if (!this.wanted || this.ws) return;
    if (!navigator.onLine) { this.setState("offline"); return; }
    this.setState(this.attempt ? "reconnecting" : "connecting");
    const token = await this.opts.token();
    if (!token) { this.setState("signed-out"); return; }
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(`${proto}//${location.host}${this.opts.url}`, ["readalong.v1", `bearer.${token}`]);
    this.ws = ws;
    ws.onmessage = (m) => { if (this.ws === ws) this.frame(JSON.parse(m.data)); };
    ws.onclose = (ev) => { if (this.ws === ws) { this.ws = null; this.closed(ev.code); } };
  }

  /** Reject what was in flight on a socket that is gone (queued content stays queued). */
  lost() {
    for (const [, p] of this.pending) p.reject(new SocketError("disconnected", "connection lost"));
    this.pending.clear();
    for (const sub of this.rooms.values()) sub.active = false;
  }

  /** @param {number} code */
  async closed(code) {
    this.lost();
    if (!this.wanted) return;
    if (FATAL.has(code)) {
      this.setState(code === 4003 ? "signed-out" : "offline");
      if (code === 4003) this.wanted = false;
      return;
    }
    if (code === 4001 || code === 4002) await this.opts.refresh();
    this.attempt += 1;
    const base = Math.min(15000, 400 * 2 ** Math.min(this.attempt - 1, 6));
    this.setState(navigator.onLine ? "reconnecting" : "offline");
    this.open(base / 2 + Math.random() * base / 2);
  }

  /** @param {Frame} f */
  frame(f) {
    if (f.type === "welcome") {
      this.attempt = 0;
      this.generation += 1;
      this.setState("online");
      for (const sub of this.rooms.values()) this.resubscribe(sub);
      return;
    }
    if (f.type === "reauth") { this.reauth(); return; }
    if (f.type === "ack" || f.type === "error") {
      const id = f.id;
      const p = id ? this.pending.get(id) : undefined;
      if (!id || !p) return;
      if (f.type === "error" && f.code === "overloaded" && p.tries < OVERLOAD_RETRIES) {
        this.retry(id, p, f.retry_after || 1);
        return;
      }
      this.pending.delete(id);
      if (f.type === "ack") p.resolve(f.result);
      else p.reject(new SocketError(f.code || "error", f.message || "refused", f.field, f.retry_after));
      return;
    }
    const sub = f.room ? this.rooms.get(f.room) : undefined;
    if (!sub) return;
    if (f.type === "event") {
      if (f.epoch !== undefined && f.offset !== undefined) sub.since = { epoch: f.epoch, offset: f.offset };
      sub.handlers.onEvent(f);
    } else if (f.type === "presence") {
      sub.handlers.onPresence?.(f);
    }
  }

  /**
   * Send an `overloaded` command again after `seconds` on the same socket (the server did not
   * run it); a socket lost meanwhile has rejected it already.
   * @param {string} id @param {InFlight} p @param {number} seconds
   */
  retry(id, p, seconds) {
    p.tries += 1;
    const ws = this.ws;
    setTimeout(() => {
      if (this.pending.get(id) === p && this.ws === ws && ws?.readyState === WebSocket.OPEN) ws.send(p.body);
    }, 1000 * seconds);
  }

  async reauth() {
    await this.opts.refresh();
    const token = await this.opts.token();
    if (token) this.command({ type: "auth", token }).catch(() => {});
  }

  /** Send a command and wait for its ack. @param {Record<string, any>} cmd @returns {Promise<any>} */
  command(cmd) {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN || this.state !== "online") {
      return Promise.reject(new SocketError("disconnected", "not connected"));
    }
    const id = String(++this.seq);
    return new Promise((resolve, reject) => {
      const body = JSON.stringify({ ...cmd, id });
      this.pending.set(id, { resolve, reject, body, tries: 0 });
      ws.send(body);
    });
  }

  /**
   * Enter a room (now, and again after every reconnect with `since`).
   * @param {string} room @param {RoomHandlers} handlers
   */
  subscribe(room, handlers) {
    const sub = { room, handlers, since: null, active: false };
    this.rooms.set(room, sub);
    if (this.state === "online") this.resubscribe(sub);
    return () => this.unsubscribe(room);
  }

  /** @param {string} room */
  unsubscribe(room) {
    const sub = this.rooms.get(room);
    this.rooms.delete(room);
    this.outbox = this.outbox.filter((q) => q.room !== room || (q.reject(new SocketError("left", "left the room")), false));
    // a subscribe still on its way is left too (the server takes commands in order): else the
    // room stays entered there and the next subscribe to it is refused as already_subscribed
    if (sub?.active || sub?.pending) this.command({ type: "unsubscribe", room }).catch(() => {});
  }

  /** @param {Sub} sub */
  async resubscribe(sub) {
    const resumed = sub.since !== null;
    try {
      sub.pending = true;
      const result = await this.command({ type: "subscribe", room: sub.room, ...(sub.since ? { since: sub.since } : {}) }).finally(() => { sub.pending = false; });
      if (this.rooms.get(sub.room) !== sub) return;
      sub.active = true;
      if (!sub.since || !result.recovered) sub.since = { epoch: result.epoch, offset: result.offset };
      sub.handlers.onSubscribed?.(result, resumed);
      this.flush(sub.room);
    } catch (e) {
      if (e instanceof SocketError && e.code !== "disconnected") sub.handlers.onError?.(e);
    }
  }

  /** Presence meta (not queued: only the latest matters). @param {string} room @param {Record<string, any>} meta */
  presence(room, meta) {
    return this.command({ type: "presence", room, meta });
  }

  /**
   * Ephemeral publish (typing, shield): sent now or not at all.
   * @param {string} room @param {Record<string, any>} data
   */
  publishNow(room, data) {
    return this.command({ type: "publish", room, data });
  }

  /**
   * Content (chat, react, annotate): queued until acked, resent after a reconnect with the same
   * idempotency key. Resolves with the ack's result; rejects when the server refuses it.
   * @param {string} room @param {Record<string, any>} data
   */
  publish(room, data) {
    return new Promise((resolve, reject) => {
      const key = randomKey();
      const body = this.opts.idempotency ? { ...data, idempotency_key: key } : data;
      this.outbox.push({ key, room, data: body, resolve, reject, sentOn: 0 });
      this.changed();
      this.flush(room);
    });
  }

  /** Send the queued commands of `room` that were not sent on this socket yet. @param {string} room */
  flush(room) {
    const sub = this.rooms.get(room);
    if (!sub?.active || this.state !== "online") return;
    for (const q of this.outbox) {
      if (q.room !== room || q.sentOn === this.generation) continue;
      q.sentOn = this.generation;
      this.command({ type: "publish", room, data: q.data }).then(
        (result) => { this.drop(q); q.resolve(result); },
        (e) => {
          if (e instanceof SocketError && this.opts.idempotency && q.data.idempotency_key
              && (e.field === "idempotency_key" || e.message.includes("idempotency_key"))) {
            // a server without idempotent resend: go on without keys (resends may then repeat)
            this.opts.idempotency = false;
            for (const x of this.outbox) { delete x.data.idempotency_key; x.sentOn = 0; }
            this.flush(room);
            return;
          }
          if (e instanceof SocketError && TRANSIENT.has(e.code)) {
            if (e.code === "rate_limited" || e.code === "overloaded") setTimeout(() => { q.sentOn = 0; this.flush(room); }, 1000 * (e.retry_after || 1));
            return;  // stays queued; resent after the reconnect
          }
          this.drop(q);
          q.reject(e);
        });
    }
  }

  /** @param {Queued} q */
  drop(q) { this.outbox = this.outbox.filter((x) => x !== q); this.changed(); }

  changed() { for (const fn of this.outboxListeners) fn(); }

  /** @param {string} room */
  queued(room) { return this.outbox.filter((q) => q.room === room); }
}
