// What the whole app shares: who is signed in, the socket, the unread count.

/** @type {{me: import("./api.js").User | null, rt: import("./socket.js").Realtime | null,
 *          unread: number, invite: string | null, onUnread: Set<(n: number) => void>,
 *          onUserEvent: Set<(f: import("./socket.js").Frame) => void>}} */
export const app = { me: null, rt: null, unread: 0, invite: null, onUnread: new Set(), onUserEvent: new Set() };

/** @param {number} n */
export function setUnread(n) {
  app.unread = n;
  for (const fn of app.onUnread) fn(n);
}
