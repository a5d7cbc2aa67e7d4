// Readalong's service worker: shows the web push notifications the worker sends while no tab
// is open (payload: {id, type, title, body, url, unread_count}) and opens the app on a click.
// Scope: /app/ (it is served from there). It caches nothing: the app is always loaded fresh.

self.addEventListener("push", (event) => {
  let data = { title: "Readalong", body: "Something new is waiting for you.", url: "/app/" };
  try { if (event.data) data = { ...data, ...event.data.json() }; } catch { /* not JSON: defaults */ }
  event.waitUntil(self.registration.showNotification(data.title, {
    body: data.body, tag: data.id ? `notification-${data.id}` : undefined, data: { url: data.url },
  }));
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const url = (event.notification.data && event.notification.data.url) || "/app/";
  event.waitUntil(self.clients.matchAll({ type: "window" }).then((tabs) => {
    const open = tabs.find((t) => t.url.startsWith(url));
    return open ? open.focus() : self.clients.openWindow(`${url}#/notifications`);
  }));
});
