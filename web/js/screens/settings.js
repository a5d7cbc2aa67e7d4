// Account settings: profile, password, signed-in devices, email address, follow requests, blocks
// and mutes, two-factor sign-in, passkeys, e-reader (KOReader)
// sync credentials, data export, and account deletion.

import { h, mount, ago, announce } from "../dom.js";
import { api, tokens, fieldErrors, download } from "../api.js";
import { app } from "../state.js";
import { empty, field, showErrors } from "../ui.js";
import { section } from "./home.js";
import { notificationPrefs } from "./notify-prefs.js";
import { pushOptIn } from "./push-optin.js";
import { avatarCard, emailCard, peopleCard } from "./settings-people.js";
import { passkeyCard } from "./passkeys.js";

/** @param {string} id @param {string} title @param {HTMLElement} body */
const card = (id, title, body) => h("section", { class: "card", id, "aria-labelledby": `${id}-h` }, h("h2", { id: `${id}-h` }, title), body);

/**
 * Errors of a form whose password fields have their own names.
 * @param {unknown} e @param {string[]} fields @param {Record<string, string>} rename server field → form field
 */
function errorsFor(e, fields, rename = {}) {
  const out = fieldErrors(e, [...fields, ...Object.keys(rename)]);
  for (const [from, to] of Object.entries(rename)) if (out[from]) { out[to] = out[from]; delete out[from]; }
  return out;
}


/** @param {HTMLElement} view */
export function settingsScreen(view) {
  const me = /** @type {import("../api.js").User} */ (app.me);
  const boxes = { devices: h("div"), twofa: h("div"), kosync: h("div"), exports: h("div"), deletion: h("div") };
  mount(view, h("h1", null, "Settings"),
    h("div", { class: "grid" }, card("profile", "Profile", profileForm()), card("password", "Password", passwordForm())),
    card("devices", "Signed-in devices", boxes.devices),
    h("div", { class: "grid" }, card("avatar", "Profile picture", avatarCard()), card("email", "Email address", emailCard())),
    card("people", "People", peopleCard()),
    h("div", { class: "grid" }, card("notify", "Notifications", notificationPrefs(h("div"))),
      card("push", "Push on this device", pushOptIn(h("div")))),
    h("div", { class: "grid" }, card("twofa", "Two-factor sign-in", boxes.twofa), card("passkeys", "Passkeys", passkeyCard())),
    card("kosync", "E-reader sync (KOReader)", boxes.kosync),
    h("div", { class: "grid" }, card("data", "Your data", boxes.exports), card("delete", "Delete my account", boxes.deletion)));

  function profileForm() {
    /** @param {SubmitEvent} ev */
    const save = async (ev) => {
      ev.preventDefault();
      const form = /** @type {HTMLFormElement} */ (ev.currentTarget);
      const d = new FormData(form);
      try {
        app.me = { ...me, ...(await api.updateMe({ display_name: String(d.get("display_name")), bio: String(d.get("bio") || "") })) };
        announce("Profile saved");
        showErrors(form, {});
      } catch (e) { showErrors(form, fieldErrors(e, ["display_name", "bio"])); }
    };
    return h("form", { onsubmit: save, "aria-label": "Profile" },
      field("display_name", "Display name", { value: me.display_name, maxlength: "60" }),
      h("div", { class: "field" }, h("label", { for: "bio" }, "About me"),
        h("textarea", { id: "bio", name: "bio", maxlength: "500" }, me.bio || ""), h("p", { class: "field-error", "data-for": "bio" })),
      h("p", { class: "form-error", role: "alert" }), h("button", { type: "submit" }, "Save profile"));
  }

  function passwordForm() {
    /** @param {SubmitEvent} ev */
    const save = async (ev) => {
      ev.preventDefault();
      const form = /** @type {HTMLFormElement} */ (ev.currentTarget);
      const d = new FormData(form);
      try {
        tokens.keep(await api.changePassword({ current_password: String(d.get("current_password")), new_password: String(d.get("new_password")) }));
        form.reset(); showErrors(form, {});
        mount(/** @type {HTMLElement} */ (form.querySelector(".form-ok")), "Password changed. Your other devices were signed out.");
        drawDevices();
      } catch (e) {
        const code = /** @type {any} */ (e).code || "";
        showErrors(form, errorsFor(e, ["current_password", "new_password"], { password: code === "invalid_credentials" ? "current_password" : "new_password" }));
      }
    };
    return h("form", { onsubmit: save, "aria-label": "Change password" },
      field("current_password", "Current password", { type: "password", autocomplete: "current-password" }),
      field("new_password", "New password", { type: "password", autocomplete: "new-password" }),
      h("p", { class: "form-error", role: "alert" }), h("p", { class: "form-ok ok", role: "status" }),
      h("button", { type: "submit" }, "Change password"));
  }

  function drawDevices() {
    section(boxes.devices, api.devices, (items) => items.length ? h("ul", { class: "plain", id: "device-list" }, items.map((d) =>
      h("li", { class: "row" }, h("div", { class: "grow" }, h("strong", null, d.user_agent ? d.user_agent.slice(0, 80) : "Unknown device"),
        h("div", { class: "muted small" }, `${d.address || "unknown address"} · signed in ${ago(d.created_at)} · last used ${ago(d.last_used_at)}`)),
      d.current ? h("span", { class: "chip" }, "This device")
        : h("button", { type: "button", class: "danger", "aria-label": `Sign out ${d.user_agent.slice(0, 40)} (${ago(d.last_used_at)})`, onclick: async () => {
          try { await api.signOutDevice(d.id); announce("That device is signed out"); drawDevices(); }
          catch (e) { announce(e instanceof Error ? e.message : "Could not sign it out", "error"); }
        } }, "Sign out"))))
      : empty("No devices."));
  }

  function drawTwofa(/** @type {string[] | null} */ codes = null) {
    if (codes) {
      mount(boxes.twofa, h("p", { class: "ok", role: "status" }, "Two-factor sign-in is on."),
        h("p", null, "Keep these recovery codes somewhere safe: each works once if you lose your authenticator. They are shown only now."),
        h("ul", { class: "codes", id: "recovery-codes" }, codes.map((c) => h("li", null, c))));
      return;
    }
    /** @param {SubmitEvent} ev */
    const start = async (ev) => {
      ev.preventDefault();
      const form = /** @type {HTMLFormElement} */ (ev.currentTarget);
      try {
        const r = await api.enrol2fa(String(new FormData(form).get("password")));
        confirmStep(r);
      } catch (e) { showErrors(form, fieldErrors(e, ["password"])); }
    };
    mount(boxes.twofa, h("p", { class: "small" }, "Ask for a code from an authenticator app each time you sign in."),
      h("form", { onsubmit: start, "aria-label": "Turn on two-factor sign-in" },
        field("password", "Your password", { type: "password", autocomplete: "current-password" }),
        h("p", { class: "form-error", role: "alert" }), h("button", { type: "submit", class: "primary" }, "Set up two-factor sign-in")),
      h("details", { class: "small" }, h("summary", null, "Turn it off"), disableForm()));
  }

  /** @param {{secret: string, otpauth_uri: string, qr_svg: string}} r */
  function confirmStep(r) {
    const qr = h("div", { class: "qr", role: "img", "aria-label": "QR code for your authenticator app" });
    qr.innerHTML = r.qr_svg;  // the server's own SVG of the otpauth URI
    /** @param {SubmitEvent} ev */
    const confirm = async (ev) => {
      ev.preventDefault();
      const form = /** @type {HTMLFormElement} */ (ev.currentTarget);
      try { drawTwofa((await api.confirm2fa(String(new FormData(form).get("code")).trim())).recovery_codes); }
      catch (e) { showErrors(form, fieldErrors(e, ["code"])); }
    };
    mount(boxes.twofa, h("p", { class: "small" }, "Scan this with your authenticator app, or type the key by hand."), qr,
      h("p", null, "Key: ", h("code", { id: "totp-secret" }, r.secret)),
      h("form", { onsubmit: confirm, "aria-label": "Confirm two-factor sign-in" },
        field("code", "The 6-digit code it shows", { inputmode: "numeric", autocomplete: "one-time-code", maxlength: "10" }),
        h("p", { class: "form-error", role: "alert" }), h("button", { type: "submit", class: "primary" }, "Turn on")));
  }

  function disableForm() {
    /** @param {SubmitEvent} ev */
    const off = async (ev) => {
      ev.preventDefault();
      const form = /** @type {HTMLFormElement} */ (ev.currentTarget);
      const d = new FormData(form);
      try { await api.disable2fa({ password: String(d.get("password")), code: String(d.get("code")) }); announce("Two-factor sign-in is off"); drawTwofa(); }
      catch (e) { showErrors(form, fieldErrors(e, ["password", "code"])); }
    };
    return h("form", { onsubmit: off, "aria-label": "Turn off two-factor sign-in" },
      field("password", "Password", { type: "password", autocomplete: "current-password" }),
      field("code", "A code or a recovery code", { autocomplete: "one-time-code" }),
      h("p", { class: "form-error", role: "alert" }), h("button", { type: "submit", class: "danger" }, "Turn off"));
  }

  function drawKosync() {
    section(boxes.kosync, api.kosync, (k) => {
      /** @param {SubmitEvent} ev */
      const create = async (ev) => {
        ev.preventDefault();
        const form = /** @type {HTMLFormElement} */ (ev.currentTarget);
        const d = new FormData(form);
        try { await api.kosyncCreate({ username: String(d.get("username")), password: String(d.get("password")) }); announce("Sync login created"); drawKosync(); }
        catch (e) { showErrors(form, fieldErrors(e, ["username", "password", "key"])); }
      };
      return h("div", null,
        h("p", { class: "small" }, "In KOReader: Progress sync → Custom sync server → ", h("code", { id: "kosync-url" }, `${location.origin}/kosync`),
          ", then log in with the username and password you make here."),
        k.identities.length ? h("ul", { class: "plain", id: "kosync-ids" }, k.identities.map((i) => h("li", { class: "row" },
          h("span", { class: "grow" }, h("strong", null, i.username), i.linked_at ? h("span", { class: "muted small" }, ` · linked ${ago(i.linked_at)}`) : null),
          h("button", { type: "button", class: "danger", "aria-label": `Remove sync login ${i.username}`, onclick: async () => {
            try { await api.kosyncDelete(i.id); drawKosync(); } catch (e) { announce(e instanceof Error ? e.message : "Could not remove it", "error"); }
          } }, "Remove")))) : empty("No e-reader linked yet."),
        k.documents.length ? h("details", null, h("summary", null, `Synced documents (${k.documents.length})`),
          h("ul", { class: "plain small" }, k.documents.map((d) => h("li", null, d.title || d.document,
            d.percentage !== null ? ` · ${Math.round(d.percentage * 100)}%` : "", d.pending ? " · waiting for you to match it to a book" : "")))) : null,
        h("form", { onsubmit: create, "aria-label": "New sync login" },
          field("username", "Sync username", { autocomplete: "off", maxlength: "64" }),
          field("password", "Sync password", { type: "password", autocomplete: "new-password" }),
          h("p", { class: "form-error", role: "alert" }), h("button", { type: "submit" }, "Create sync login")));
    });
  }

  function drawExports() {
    const status = h("p", { role: "status", id: "export-status" });
    /** @param {import("../api.js").Export} x */
    const watch = async (x) => {
      for (let i = 0; i < 120 && x.status !== "ready" && x.status !== "failed"; i++) {
        status.textContent = "Your export is being prepared…";
        await new Promise((r) => setTimeout(r, 1000));
        if (!view.isConnected) return;
        x = await api.exportState(x.id);
      }
      mount(status, x.status === "ready"
        ? h("button", { type: "button", class: "primary", onclick: () => download(api.exportUrl(x.id), `readalong-export-${x.id}.json`).catch((e) => announce(e.message, "error")) }, "Download my export")
        : "The export failed. Please try again later.");
    };
    mount(boxes.exports, h("p", { class: "small" }, "Everything you wrote and read here, as one JSON file. Or just your shelves for Goodreads."),
      h("div", { class: "row" },
        h("button", { type: "button", onclick: async () => {
          try { watch(await api.requestExport()); } catch (e) { status.textContent = e instanceof Error ? e.message : "Could not ask for it"; }
        } }, "Prepare a full export"),
        h("button", { type: "button", onclick: () => download("/api/v1/me/export/goodreads.csv", "goodreads.csv").catch((e) => announce(e.message, "error")) }, "Shelves as CSV"),
        h("a", { class: "button", href: "#/import" }, "Import from Goodreads")), status);
  }

  function drawDeletion() {
    section(boxes.deletion, api.deletion, (d) => {
      if (d.scheduled) {
        return h("div", null, h("p", { role: "status", id: "deletion-status" }, `Your account will be deleted on ${d.due_at ? new Date(d.due_at).toLocaleDateString() : "soon"}.`),
          h("button", { type: "button", class: "primary", onclick: async () => {
            try { await api.cancelDeletion(); announce("Deletion cancelled"); drawDeletion(); } catch (e) { announce(e instanceof Error ? e.message : "Could not cancel", "error"); }
          } }, "Keep my account"));
      }
      /** @param {SubmitEvent} ev */
      const go = async (ev) => {
        ev.preventDefault();
        const form = /** @type {HTMLFormElement} */ (ev.currentTarget);
        try { await api.scheduleDeletion(String(new FormData(form).get("password"))); drawDeletion(); }
        catch (e) { showErrors(form, fieldErrors(e, ["password"])); }
      };
      return h("form", { onsubmit: go, "aria-label": "Delete my account" },
        h("p", { class: "small" }, "After a grace period your account and what you wrote are deleted. You can change your mind until then."),
        field("password", "Your password", { type: "password", autocomplete: "current-password" }),
        h("p", { class: "form-error", role: "alert" }), h("button", { type: "submit", class: "danger" }, "Delete my account"));
    });
  }

  drawDevices(); drawTwofa(); drawKosync(); drawExports(); drawDeletion();
  return () => {};
}
