// Readalong's browser client: sign in, search the catalog, read together in a live session.
"use strict";

const $ = (sel) => document.querySelector(sel);
const state = {
  access: null, refresh: sessionStorage.getItem("ra.refresh"), me: null,
  ws: null, room: null, session: null, since: null, seq: 0, pending: new Map(),
  members: new Map(), messages: new Map(), retry: 0, leaving: false,
  outbox: new Map(), // idempotency key -> chat body not yet acknowledged (resent on reconnect)
};

// ---- REST -------------------------------------------------------------------------------
async function api(method, path, body) {
  const headers = { "Content-Type": "application/json" };
  if (state.access) headers.Authorization = `Bearer ${state.access}`;
  let r = await fetch(path, { method, headers, body: body ? JSON.stringify(body) : undefined });
  if (r.status === 401 && state.refresh && path !== "/api/v1/auth/refresh") {
    if (await refreshTokens()) return api(method, path, body);
  }
  const text = await r.text();
  const data = text ? JSON.parse(text) : null;
  if (!r.ok) throw new Error(data && data.detail ? data.detail : `${r.status}`);
  return data;
}

function keepTokens(t) {
  state.access = t.access_token;
  state.refresh = t.refresh_token;
  sessionStorage.setItem("ra.refresh", t.refresh_token);
}

async function refreshTokens() {
  try {
    const t = await fetch("/api/v1/auth/refresh", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ refresh_token: state.refresh }),
    });
    if (!t.ok) throw new Error("refresh refused");
    keepTokens(await t.json());
    return true;
  } catch (e) {
    state.access = state.refresh = null;
    sessionStorage.removeItem("ra.refresh");
    showAuth();
    return false;
  }
}

function formData(form) { return Object.fromEntries(new FormData(form).entries()); }

async function signedIn() {
  state.me = await api("GET", "/api/v1/me");
  $("#who").textContent = `${state.me.display_name} (@${state.me.handle})`;
  $("#auth").hidden = true;
  $("#main").hidden = false;
  loadSessions();
  search("");
}

function showAuth() { $("#auth").hidden = false; $("#main").hidden = true; }

$("#login-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  try { keepTokens(await api("POST", "/api/v1/auth/login", formData(ev.target))); await signedIn(); }
  catch (e) { $("#auth-error").textContent = e.message; }
});

$("#register-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  try { keepTokens(await api("POST", "/api/v1/auth/register", formData(ev.target))); await signedIn(); }
  catch (e) { $("#auth-error").textContent = e.message; }
});

// ---- catalog and sessions ---------------------------------------------------------------
async function search(q) {
  const page = await api("GET", `/api/v1/books?limit=15${q ? "&q=" + encodeURIComponent(q) : ""}`);
  const list = $("#books");
  list.replaceChildren(...page.items.map((b) => {
    const li = document.createElement("li");
    li.textContent = `${b.title} — ${(b.authors || []).join(", ")}`;
    const go = document.createElement("button");
    go.textContent = "Read together";
    go.onclick = () => startSession(b);
    li.append(go);
    return li;
  }));
}

$("#search-form").addEventListener("submit", (ev) => { ev.preventDefault(); search(ev.target.q.value); });
$("#refresh-sessions").onclick = () => loadSessions();

async function loadSessions() {
  const page = await api("GET", "/api/v1/sessions?list=live&limit=20");
  $("#session-list").replaceChildren(...page.items.map((s) => {
    const li = document.createElement("li");
    li.textContent = `${s.title} (${s.mode}, ${s.participants} here)`;
    const join = document.createElement("button");
    join.textContent = "Join";
    join.onclick = () => enterRoom(s);
    li.append(join);
    return li;
  }));
}

async function startSession(book) {
  const s = await api("POST", "/api/v1/sessions",
    { book_id: book.id, title: `Reading ${book.title}`, mode: "free", visibility: "public" });
  await enterRoom(await api("POST", `/api/v1/sessions/${s.id}/start`));
}

// ---- the room ---------------------------------------------------------------------------
function send(frame) {
  frame.id = String(++state.seq);
  state.ws.send(JSON.stringify(frame));
  return new Promise((resolve, reject) => state.pending.set(frame.id, { resolve, reject }));
}

async function enterRoom(session) {
  leaveRoom();
  state.leaving = false;
  state.session = session;
  state.room = session.room;
  state.since = null;
  state.members.clear();
  state.messages.clear();
  state.outbox.clear();
  $("#messages").replaceChildren();
  $("#room").hidden = false;
  $("#room-title").textContent = session.title;
  $("#room-status").textContent = `${session.mode === "follow" ? "Following the host" : "Free reading"} · ${session.status}`;
  const history = await api("GET", `/api/v1/sessions/${session.id}/messages?limit=100`);
  history.items.forEach(showMessage);
  connect();
}

function connect() {
  const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`;
  const ws = new WebSocket(url, ["readalong.v1", `bearer.${state.access}`]);
  state.ws = ws;
  ws.onmessage = (ev) => onFrame(JSON.parse(ev.data));
  ws.onclose = (ev) => {
    for (const p of state.pending.values()) p.reject(new Error("disconnected"));
    state.pending.clear();
    if (state.leaving || ws !== state.ws) return;
    $("#room-error").textContent = `disconnected (${ev.code}); reconnecting…`;
    const wait = Math.min(30000, 500 * 2 ** state.retry++) * (0.5 + Math.random());
    setTimeout(async () => {
      if (ev.code === 4001 || ev.code === 4002) await refreshTokens();
      if (!state.leaving) connect();
    }, wait);
  };
}

async function onFrame(f) {
  switch (f.type) {
    case "welcome": {
      state.retry = 0;
      $("#room-error").textContent = "";
      const ack = await send({ type: "subscribe", room: state.room, since: state.since || undefined });
      if (state.since && !ack.recovered) {
        const history = await api("GET", `/api/v1/sessions/${state.session.id}/messages?limit=100`);
        history.items.forEach(showMessage);
      }
      state.since = { epoch: ack.epoch, offset: ack.offset };
      state.members.clear();
      (ack.presence || []).forEach((m) => state.members.set(m.user_id, m));
      renderMembers();
      sendPosition();
      flushOutbox();
      break;
    }
    case "ack": case "error": {
      const p = state.pending.get(f.id);
      if (f.type === "error") $("#room-error").textContent = `${f.code}: ${f.message}`;
      if (p) { state.pending.delete(f.id); f.type === "ack" ? p.resolve(f.result || {}) : p.reject(new Error(f.code)); }
      break;
    }
    case "reauth":
      if (await refreshTokens()) send({ type: "auth", token: state.access }).catch(() => {});
      break;
    case "presence":
      (f.joined || []).concat(f.updated || []).forEach((m) => state.members.set(m.user_id, m));
      (f.left || []).forEach((id) => state.members.delete(id));
      renderMembers();
      break;
    case "event":
      if (f.offset !== undefined) state.since = { epoch: f.epoch, offset: f.offset };
      onEvent(f.event, f.data);
      break;
  }
}

function onEvent(name, data) {
  switch (name) {
    case "chat": case "chat_edited": showMessage(data); break;
    case "chat_deleted": {
      const li = state.messages.get(data.id);
      if (li) { li.remove(); state.messages.delete(data.id); }
      break;
    }
    case "typing":
      if (data.user_id !== state.me.id) $("#typing").textContent = data.typing ? `${data.name} is typing…` : "";
      break;
    case "follow":
      if (state.session.mode === "follow" && data.user_id !== state.me.id) {
        setPosition(data.position.progression, false);
      }
      break;
    case "kicked":
      if (data.user_id === state.me.id) { $("#room-error").textContent = "You were removed from this session."; leaveRoom(); }
      break;
    case "status":
      $("#room-status").textContent = `status: ${data.status}`;
      break;
  }
}

function pct(x) { return `${Math.round((x || 0) * 100)}%`; }

function showMessage(m) {
  let li = state.messages.get(m.id);
  if (!li) {
    li = document.createElement("li");
    state.messages.set(m.id, li);
    $("#messages").append(li);
  }
  li.className = m.redacted ? "redacted" : "";
  const meta = document.createElement("span");
  meta.className = "meta";
  meta.textContent = `${m.author_name} @ ${pct(m.gate)}`;
  const body = document.createElement("span");
  body.textContent = m.redacted
    ? `🔒 hidden until you reach ${pct(m.gate)}`
    : m.body + (m.edited_at ? " (edited)" : "");
  li.replaceChildren(meta, body);
  $("#messages").scrollTop = $("#messages").scrollHeight;
}

function renderMembers() {
  $("#members").replaceChildren(...[...state.members.values()].map((m) => {
    const li = document.createElement("li");
    const p = m.meta && m.meta.position ? m.meta.position.progression : 0;
    li.textContent = `${m.name}${m.connections > 1 ? ` (${m.connections} tabs)` : ""} ${pct(p)}${m.meta && m.meta.state === "idle" ? " · idle" : ""}`;
    const bar = document.createElement("span");
    bar.className = "bar";
    bar.style.width = `${Math.round(p * 120)}px`;
    li.append(bar);
    return li;
  }));
}

let positionTimer = null;
function setPosition(p, report = true) {
  $("#position").value = p;
  $("#position-out").textContent = pct(p);
  if (report) { clearTimeout(positionTimer); positionTimer = setTimeout(sendPosition, 150); }
}

function sendPosition() {
  if (!state.ws || state.ws.readyState !== WebSocket.OPEN || !state.since) return;
  const progression = Number($("#position").value);
  send({ type: "presence", room: state.room, meta: { position: { progression }, state: "active" } })
    .catch(() => {});
}

$("#position").addEventListener("input", (ev) => setPosition(Number(ev.target.value)));
$("#shield").addEventListener("change", (ev) => {
  send({ type: "publish", room: state.room, data: { type: "shield", enabled: ev.target.checked } })
    .catch(() => {});
});

let typingTimer = null;
$("#chat-form").body.addEventListener("input", () => {
  if (!typingTimer) send({ type: "publish", room: state.room, data: { type: "typing", typing: true } }).catch(() => {});
  clearTimeout(typingTimer);
  typingTimer = setTimeout(() => {
    typingTimer = null;
    send({ type: "publish", room: state.room, data: { type: "typing", typing: false } }).catch(() => {});
  }, 2000);
});

// A chat typed while the socket is down is kept with an idempotency key and resent after the
// reconnect; the server stores and delivers it once however often it is resent.
async function sendChat(key, body) {
  try {
    await send({ type: "publish", room: state.room, data: { type: "chat", body, idempotency_key: key } });
    state.outbox.delete(key);
  } catch (e) {
    if (e.message !== "disconnected") state.outbox.delete(key); // refused: the error is shown
  }
}

function flushOutbox() {
  for (const [key, body] of state.outbox) sendChat(key, body);
}

$("#chat-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const body = ev.target.body.value.trim();
  if (!body) return;
  const key = crypto.randomUUID ? crypto.randomUUID()  // secure contexts only: else a random string
    : `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
  state.outbox.set(key, body);
  ev.target.body.value = "";
  if (state.ws && state.ws.readyState === WebSocket.OPEN && state.since) sendChat(key, body);
});

function leaveRoom() {
  state.leaving = true;
  if (state.ws) { state.ws.close(1000); state.ws = null; }
  $("#room").hidden = true;
}
$("#leave").onclick = leaveRoom;

// ---- start ------------------------------------------------------------------------------
if (state.refresh) refreshTokens().then((ok) => ok && signedIn()); else showAuth();
