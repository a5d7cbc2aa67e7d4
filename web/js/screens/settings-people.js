// Settings, continued: my profile picture, my email address (verified or not, a change confirmed by a link) and the
// people lists (follow requests to answer, blocked and muted readers to let back).

import { h, mount, announce } from "../dom.js";
import { api, fieldErrors } from "../api.js";
import { app } from "../state.js";
import { field, showErrors, empty } from "../ui.js";
import { section } from "./home.js";

/** The profile picture: upload (JPEG, PNG, WebP or GIF; the server resizes it) or remove. */
export function avatarCard() {
  const me = /** @type {import("../api.js").User} */ (app.me);
  const pic = h("div", { id: "avatar-now" });
  const draw = () => mount(pic, me.avatar_url
    ? h("img", { class: "avatar", src: me.avatar_url, alt: "Your profile picture", width: "96", height: "96" })
    : h("p", { class: "muted small" }, "No picture yet."));
  /** @param {SubmitEvent} ev */
  const upload = async (ev) => {
    ev.preventDefault();
    const form = /** @type {HTMLFormElement} */ (ev.currentTarget);
    const file = /** @type {HTMLInputElement} */ (form.querySelector("input[type=file]")).files?.[0];
    if (!file) { showErrors(form, { file: "Choose an image first." }); return; }
    const body = new FormData();
    body.set("file", file);
    try {
      me.avatar_url = (await api.uploadAvatar(body)).avatar_url;
      showErrors(form, {}); form.reset(); draw(); announce("Picture saved");
    } catch (e) { showErrors(form, fieldErrors(e, ["file"])); }
  };
  draw();
  return h("div", null, pic,
    h("form", { onsubmit: upload, novalidate: true, "aria-label": "Profile picture" },
      field("file", "Choose an image", { type: "file", accept: "image/jpeg,image/png,image/webp,image/gif" }),
      h("p", { class: "form-error", role: "alert" }),
      h("div", { class: "row" }, h("button", { type: "submit" }, "Upload picture"),
        h("button", { type: "button", class: "danger", onclick: async () => {
          try { await api.removeAvatar(); me.avatar_url = null; draw(); announce("Picture removed"); }
          catch (e) { announce(e instanceof Error ? e.message : "Could not remove it", "error"); }
        } }, "Remove picture"))));
}

/** The email address: its state, "send the link again", and a change (password required). */
export function emailCard() {
  const state = h("div", { id: "email-state" });
  const draw = () => section(state, api.emailState, (s) => h("div", null,
    h("p", null, s.email, " ", h("span", { class: "chip" }, s.verified ? "confirmed" : "not confirmed yet")),
    s.pending_email ? h("p", { class: "small" }, `Waiting for you to confirm ${s.pending_email} (see its inbox).`) : null,
    s.verified ? null : h("button", { type: "button", onclick: async () => {
      try { await api.resendVerification(); announce("A new confirmation link is on its way"); }
      catch (e) { announce(e instanceof Error ? e.message : "Could not send it", "error"); }
    } }, "Send the confirmation link again")));
  /** @param {SubmitEvent} ev */
  const change = async (ev) => {
    ev.preventDefault();
    const form = /** @type {HTMLFormElement} */ (ev.currentTarget);
    const d = new FormData(form);
    try {
      await api.changeEmail(String(d.get("new_email") || ""), String(d.get("email_password") || ""));
      showErrors(form, {}); form.reset();
      announce("A confirmation link was sent to the new address");
      draw();
    } catch (e) {
      const errs = fieldErrors(e, ["new_email", "password"]);
      if (errs.password) { errs.email_password = errs.password; delete errs.password; }
      showErrors(form, errs);
    }
  };
  draw();
  return h("div", null, state,
    h("form", { onsubmit: change, novalidate: true, "aria-label": "Change email" },
      field("new_email", "New email address", { type: "email", autocomplete: "email" }),
      field("email_password", "Your password", { type: "password", autocomplete: "current-password" }),
      h("p", { class: "form-error", role: "alert" }),
      h("button", { type: "submit" }, "Change email")));
}

/** Follow requests (approve / decline), blocked and muted readers (unblock / unmute). */
export function peopleCard() {
  const requests = h("div", { id: "follow-requests" }), blocked = h("div", { id: "blocked" }), muted = h("div", { id: "muted" });
  /**
   * @param {HTMLElement} box @param {() => Promise<{items: import("../api.js").UserCard[]}>} load
   * @param {string} none @param {(u: import("../api.js").UserCard) => HTMLElement[]} actions
   */
  const list = (box, load, none, actions) => section(box, load, (page) => page.items.length
    ? h("ul", { class: "plain" }, page.items.map((u) => h("li", { class: "row", "data-handle": u.handle },
      h("a", { class: "grow", href: `#/u/${u.handle}` }, u.display_name), ...actions(u))))
    : empty(none));
  /** @param {() => Promise<unknown>} call @param {string} done */
  const act = (call, done) => async () => {
    try { await call(); announce(done); draw(); }
    catch (e) { announce(e instanceof Error ? e.message : "Could not do that", "error"); }
  };
  function draw() {
    list(requests, api.followRequests, "Nobody is asking to follow you.", (u) => [
      h("button", { type: "button", class: "primary", "aria-label": `Approve ${u.display_name}`, onclick: act(() => api.answerFollow(u.handle, true), `${u.display_name} follows you now`) }, "Approve"),
      h("button", { type: "button", "aria-label": `Decline ${u.display_name}`, onclick: act(() => api.answerFollow(u.handle, false), "Declined") }, "Decline")]);
    list(blocked, api.myBlocks, "You have blocked nobody.", (u) => [
      h("button", { type: "button", "aria-label": `Unblock ${u.display_name}`, onclick: act(() => api.relate(u.handle, "block", false), `${u.display_name} is unblocked`) }, "Unblock")]);
    list(muted, api.myMutes, "You have muted nobody.", (u) => [
      h("button", { type: "button", "aria-label": `Unmute ${u.display_name}`, onclick: act(() => api.relate(u.handle, "mute", false), `${u.display_name} is unmuted`) }, "Unmute")]);
  }
  draw();
  return h("div", null, h("h3", null, "Asking to follow you"), requests, h("h3", null, "Blocked"), blocked, h("h3", null, "Muted"), muted);
}
