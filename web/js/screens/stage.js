// The live audio stage of a session or a club event (`stage:<place>`, see /asyncapi.json): the host opens
// it; readers listen (one mixed stream), raise a hand, speak when invited; managers invite, mute
// and move speakers back; the host closes it. WebRTC is non-trickle: the offer is sent once ICE
// gathering is complete, the answer comes back in the ack.

import { h, mount, announce } from "../dom.js";
import { app } from "../state.js";
import { SocketError } from "../socket.js";

const ERRORS = /** @type {Record<string, string>} */ ({
  no_stage: "No stage is open.", stage_full: "The stage is full.", not_stage_host: "Only the host can do that.",
  media_unavailable: "The audio server is not answering. Try again in a moment.", not_member: "Join the session first.",
  stage_open: "The stage is already open.", host_muted: "A host muted you; only they can unmute you.",
  session_not_live: "The session is not live.", blocked: "You cannot join this stage.",
});

/** @param {unknown} e */
const say = (e) => (e instanceof SocketError ? ERRORS[e.code] || e.message : e instanceof Error ? e.message : String(e));

/** @param {RTCPeerConnection} pc */
function gathered(pc) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => { if (pc.iceGatheringState === "complete") { pc.removeEventListener("icegatheringstatechange", done); resolve(undefined); } };
    pc.addEventListener("icegatheringstatechange", done);
  });
}

/**
 * The stage panel of a place: `session:<id>` (a session's room) or `club_event:<id>`.
 * @param {string} place @param {(uid: number) => string} nameOf
 * @returns {{el: HTMLElement, close: () => void}}
 */
export function stagePanel(place, nameOf) {
  const rt = /** @type {import("../socket.js").Realtime} */ (app.rt);
  const me = /** @type {import("../api.js").User} */ (app.me);
  const room = `stage:${place}`;
  const box = h("div", { id: "stage", "data-place": place });
  const status = h("p", { class: "small", role: "status", id: "stage-status" });
  const audio = /** @type {HTMLAudioElement} */ (h("audio", { autoplay: true }));
  /** @type {any} */
  let stage = null;
  let manager = false;
  /** @type {RTCIceServer[]} */
  let ice = [];
  /** @type {RTCPeerConnection | null} */
  let pc = null;
  /** @type {RTCRtpTransceiver | null} */
  let tr = null;
  /** @type {MediaStreamTrack | null} */
  let mic = null;
  let sending = false;
  /** @type {ReturnType<typeof setInterval> | undefined} */
  let meter;

  /** @param {Record<string, unknown>} data */
  const cmd = (data) => rt.publishNow(room, data);
  /** @param {Record<string, unknown>} data @param {string} [done] */
  const act = async (data, done) => {
    try { const r = await cmd(data); if (r?.stage) { stage = r.stage; draw(); } if (done) announce(done); await sync(); }
    catch (e) { status.textContent = say(e); }
  };
  const speaking = () => !!stage && stage.speakers.includes(me.id);

  async function refresh() {
    try {
      const r = await cmd({ type: "state" });
      stage = r.stage; manager = !!r.manager; ice = r.ice_servers || [];
      draw();
      await sync();
    } catch (e) { status.textContent = say(e); draw(); }
  }

  /** Connect (listen), or renegotiate with the microphone once on stage. */
  async function sync() {
    if (!stage) { hangup(); return; }
    if (!pc) return;  // not listening: nothing to renegotiate
    if (speaking() && !sending) await negotiate(true);
  }

  /** @param {boolean} withMic */
  async function negotiate(withMic) {
    try {
      if (!pc) {
        pc = new RTCPeerConnection({ iceServers: ice });
        tr = pc.addTransceiver("audio", { direction: "recvonly" });
        pc.ontrack = (e) => { audio.srcObject = new MediaStream([e.track]); audio.play().catch(() => {}); };
        meter = setInterval(measure, 1000);
      }
      if (withMic && tr) {
        mic = mic || (await navigator.mediaDevices.getUserMedia({ audio: true })).getAudioTracks()[0];
        tr.direction = "sendrecv";
        await tr.sender.replaceTrack(mic);
        sending = true;
      }
      await pc.setLocalDescription(await pc.createOffer());
      await gathered(pc);
      const answer = await cmd({ type: "offer", sdp: /** @type {RTCSessionDescription} */ (pc.localDescription).sdp });
      await pc.setRemoteDescription(answer);
      draw();
    } catch (e) { status.textContent = say(e); }
  }

  async function measure() {
    if (!pc) return;
    let inBytes = 0, outBytes = 0;
    (await pc.getStats()).forEach((r) => {
      if (r.type === "inbound-rtp" && r.kind === "audio") inBytes += r.bytesReceived || 0;
      if (r.type === "outbound-rtp" && r.kind === "audio") outBytes += r.bytesSent || 0;
    });
    box.dataset.inbound = String(inBytes);
    const line = box.querySelector("#stage-meter");
    if (line) line.textContent = `Receiving ${Math.round(inBytes / 1024)} KB of audio${sending ? ` · sending ${Math.round(outBytes / 1024)} KB` : ""}`;
  }

  function hangup() {
    clearInterval(meter);
    pc?.close(); pc = null; tr = null; sending = false;
    mic?.stop(); mic = null;
    audio.srcObject = null;
  }

  /** @param {number} uid */
  const who = (uid) => (uid === me.id ? "You" : names.get(uid) || nameOf(uid));
  /** The audience's names, from the stage room's presence. @type {Map<number, string>} */
  const names = new Map();
  /** @param {any[]} list */
  const learn = (list) => { for (const m of list || []) if (m?.user_id && m.name) names.set(m.user_id, m.name); };

  function draw() {
    if (!stage) {
      mount(box, h("p", { class: "muted small" }, "No audio stage is open."),
        manager ? h("button", { type: "button", class: "primary", onclick: () => act({ type: "open" }, "The stage is open") }, "Open the audio stage") : null,
        status);
      return;
    }
    const onStage = speaking();
    const listening = !!pc;
    const handUp = stage.hands.includes(me.id);
    const invited = stage.invited.includes(me.id);
    const mutedMe = stage.muted.includes(me.id);
    mount(box,
      h("p", { class: "small" }, "🎙 Live audio · ", stage.speakers.length, ` of ${stage.max_speakers} on stage`),
      h("ul", { class: "plain", id: "stage-speakers", "aria-label": "On stage" }, stage.speakers.map((/** @type {number} */ uid) =>
        h("li", { class: "row", "data-user": String(uid) }, h("span", { class: "grow" }, who(uid), uid === stage.host_id ? " (host)" : "",
          stage.muted.includes(uid) ? " · muted" : ""),
        manager && uid !== me.id ? [
          h("button", { type: "button", onclick: () => act({ type: "mute", user_id: uid, muted: !stage.muted.includes(uid) }) }, stage.muted.includes(uid) ? `Unmute ${who(uid)}` : `Mute ${who(uid)}`),
          uid !== stage.host_id ? h("button", { type: "button", onclick: () => act({ type: "to_listener", user_id: uid }) }, `Move ${who(uid)} to the audience`) : null] : null))),
      manager && stage.hands.length ? h("div", null, h("h3", null, "Hands raised"), h("ul", { class: "plain", id: "stage-hands" }, stage.hands.map((/** @type {number} */ uid) =>
        h("li", { class: "row" }, h("span", { class: "grow" }, `✋ ${who(uid)}`),
          h("button", { type: "button", class: "primary", onclick: () => act({ type: "invite", user_id: uid }) }, `Invite ${who(uid)} to speak`))))) : null,
      h("div", { class: "row" },
        listening ? null : h("button", { type: "button", class: "primary", onclick: () => negotiate(onStage) }, onStage ? "Join the stage" : "Listen"),
        listening ? h("button", { type: "button", onclick: () => { hangup(); act({ type: "hangup" }); draw(); } }, "Leave the audio") : null,
        !onStage && !invited ? h("button", { type: "button", "aria-pressed": String(handUp), onclick: () => act({ type: "hand", raised: !handUp }, handUp ? "Hand lowered" : "Hand raised") }, handUp ? "Lower my hand" : "✋ Raise my hand") : null,
        invited && !onStage ? h("button", { type: "button", class: "primary", onclick: () => act({ type: "accept", accepted: true }) }, "Accept: speak") : null,
        onStage ? h("button", { type: "button", "aria-pressed": String(mutedMe), onclick: () => act({ type: "mute", muted: !mutedMe }) }, mutedMe ? "Unmute me" : "Mute me") : null,
        onStage && stage.host_id !== me.id ? h("button", { type: "button", onclick: () => act({ type: "to_listener" }, "Back in the audience") }, "Step down") : null,
        manager ? h("button", { type: "button", class: "danger", onclick: () => act({ type: "close" }, "The stage is closed") }, "Close the stage") : null),
      h("p", { class: "muted small", id: "stage-meter", "aria-live": "off" }, listening ? "Connecting the audio…" : ""),
      status, audio);
  }

  const leave = rt.subscribe(room, {
    onSubscribed: (r) => { learn(r?.presence); refresh(); },
    onPresence: (f) => { learn([...(f.joined || []), ...(f.updated || [])]); if (stage) draw(); },
    onEvent: (f) => {
      if (f.event === "stage") { stage = f.data.stage; draw(); sync(); }
      else if (f.event === "stage_ended") {
        stage = null; hangup(); draw();
        status.textContent = f.data.reason === "media_restarted" ? "The audio server restarted: the stage ended." : "The stage has ended.";
      }
    },
    onError: (e) => { status.textContent = say(e); draw(); },
  });
  mount(box, h("p", { class: "muted small" }, "Checking the audio stage…"), status);
  return { el: box, close: () => { hangup(); leave(); } };
}
