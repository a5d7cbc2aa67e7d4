// Web push on this device: turn it on (service worker + the browser's push subscription, saved
// on the server), see the devices that receive push, remove any of them. Push reaches a device
// only while no Readalong tab is open there; an open tab shows notifications live.

import { h, announce } from "../dom.js";
import { api } from "../api.js";
import { section } from "./home.js";

/** The server's VAPID key (URL-safe base64) as the bytes `applicationServerKey` wants. @param {string} b64 */
function keyBytes(b64) {
  const raw = atob(b64.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (b64.length % 4)) % 4));
  return Uint8Array.from(raw, (c) => c.charCodeAt(0));
}

/** Why this browser cannot do push, in words (null: it can). */
function unsupported() {
  if (!("serviceWorker" in navigator) || !("PushManager" in window)) return "This browser cannot receive push notifications.";
  if (!window.isSecureContext) return "Push notifications need a secure (https) address.";
  return null;
}

/** The push card, drawn into `box`. @param {HTMLElement} box */
export function pushOptIn(box) {
  const status = h("p", { role: "status", class: "small", id: "push-status" });
  const list = h("div", { id: "push-devices" });
  const draw = () => section(list, () => api.pushSubscriptions(), (subs) => subs.length
    ? h("ul", { class: "plain" }, subs.map((s) => h("li", { class: "row small" },
      h("span", { class: "grow" }, `${new URL(s.endpoint).host} · since ${new Date(s.created_at).toLocaleDateString()}`),
      h("button", { type: "button", "aria-label": `Stop push to ${new URL(s.endpoint).host}`, onclick: async () => {
        try { await api.removePushSubscription(s.id); announce("Push removed"); draw(); }
        catch (e) { status.textContent = e instanceof Error ? e.message : "Could not remove it"; }
      } }, "Remove"))))
    : h("p", { class: "muted small" }, "No device receives push notifications yet."));
  const turnOn = async () => {
    const why = unsupported();
    if (why) { status.textContent = why; return; }
    status.textContent = "Asking your browser…";
    try {
      if ((await Notification.requestPermission()) !== "granted") {
        status.textContent = "Notifications are blocked for this site: allow them in the browser's site settings, then try again.";
        return;
      }
      const reg = await navigator.serviceWorker.register("/app/sw.js", { scope: "/app/" });
      await navigator.serviceWorker.ready;
      const { public_key } = await api.vapidKey();
      const sub = await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes(public_key) });
      await api.addPushSubscription({ ...sub.toJSON(), user_agent: navigator.userAgent.slice(0, 200) });
      status.textContent = "Push is on for this device.";
      announce(status.textContent);
      draw();
    } catch (e) {
      // e.g. no push service reachable (an offline or de-Googled browser): say so in words
      const name = e instanceof Error ? e.name : "";
      status.textContent = name === "AbortError" || name === "NotAllowedError" || name === "InvalidStateError"
        ? "This browser could not reach its push service, so push cannot be turned on here. Notifications still arrive live while the app is open."
        : `Push could not be turned on: ${e instanceof Error ? e.message : String(e)}`;
      announce(status.textContent, "error");
    }
  };
  const why = unsupported();
  box.append(
    h("p", { class: "small" }, "Get notifications on this device when Readalong is closed."),
    h("button", { type: "button", onclick: turnOn, disabled: !!why }, "Turn on push for this device"),
    h("p", { class: "small muted", hidden: !why }, why || ""),
    status, list);
  draw();
  return box;
}
