// Passkeys (WebAuthn): add one in settings, make it the second sign-in step, and use it there.
// The server's options are WebAuthn JSON (base64url); the browser parses them and answers with
// the credential's own `toJSON()`.

import { h, mount, announce, ago } from "../dom.js";
import { api, ApiError, fieldErrors } from "../api.js";
import { field, showErrors } from "../ui.js";

/** @type {any} the WebAuthn JSON helpers are newer than the TypeScript DOM library */
const PKC = globalThis.PublicKeyCredential;

/** Whether this browser can create and use passkeys. */
export const passkeysSupported = () => Boolean(PKC?.parseCreationOptionsFromJSON && navigator.credentials);

/** Ask the browser to create a passkey for the server's options. @param {Record<string, any>} options */
async function create(options) {
  const cred = /** @type {any} */ (await navigator.credentials.create({ publicKey: PKC.parseCreationOptionsFromJSON(options) }));
  return cred.toJSON();
}

/** Ask the browser for an assertion by one of the passkeys the options name. @param {Record<string, any>} options */
export async function assert(options) {
  const cred = /** @type {any} */ (await navigator.credentials.get({ publicKey: PKC.parseRequestOptionsFromJSON(options) }));
  return cred.toJSON();
}

/** A browser refusal (cancelled, timed out, no authenticator) in words. @param {unknown} e */
export function refusal(e) {
  if (e instanceof DOMException) {
    return e.name === "NotAllowedError" ? "The passkey request was cancelled or timed out." : `Your browser could not use a passkey (${e.message}).`;
  }
  return Object.values(fieldErrors(e, [])).join(" ");
}

/** The settings card: add a passkey, then turn "a passkey as the second sign-in step" on or off. */
export function passkeyCard() {
  const box = h("div");
  if (!passkeysSupported()) {
    mount(box, h("p", { class: "muted small" }, "This browser cannot use passkeys."));
    return box;
  }
  const status = h("p", { class: "small", role: "status", id: "passkey-status" });
  const list = h("div", { id: "passkey-list" });
  /** @type {HTMLFormElement} */
  let form;
  const password = () => String(new FormData(form).get("password") || "");
  const refresh = async () => {
    try {
      const mine = await api.myPasskeys();
      mount(list, mine.passkeys.length === 0
        ? h("p", { class: "muted small" }, "No passkey yet.")
        : h("ul", { class: "plain", "aria-label": "My passkeys" }, ...mine.passkeys.map((k, i) =>
          h("li", { class: "row" },
            h("span", null, `Passkey ${i + 1}: added ${ago(k.created_at)}, ${k.last_used_at ? `last used ${ago(k.last_used_at)}` : "never used"}`),
            h("button", { type: "button", class: "link", "aria-label": `Remove passkey ${i + 1}`, onclick: () => remove(k.id) }, "Remove")))),
        h("p", { class: "small", id: "passkey-step-state" }, mine.second_factor
          ? "A passkey is asked for after your password when you sign in."
          : "Sign-in does not ask for a passkey."));
    } catch (e) { mount(list, h("p", { class: "form-error", role: "alert" }, refusal(e))); }
  };
  const remove = async (/** @type {number} */ id) => {
    if (!password()) {
      showErrors(form, { password: "Type your password to remove a passkey." });
      return;
    }
    try {
      await api.removePasskey(id, password());
      showErrors(form, {});
      form.reset();
      mount(status, "Passkey removed.");
      announce("Passkey removed");
    } catch (e) { showErrors(form, fieldErrors(e, ["password"])); }
    await refresh();
  };
  const addError = h("p", { class: "form-error", role: "alert" });
  const add = async (/** @type {Event} */ ev) => {
    const button = /** @type {HTMLButtonElement} */ (ev.currentTarget);
    button.disabled = true;
    mount(addError);
    try {
      await api.addPasskey(await create(await api.passkeyOptions()));
      mount(status, "Passkey added to your account.");
      announce("Passkey added");
      await refresh();
    } catch (e) { mount(addError, refusal(e)); }
    button.disabled = false;
  };
  /** @param {SubmitEvent} ev */
  const second = async (ev) => {
    ev.preventDefault();
    const form = /** @type {HTMLFormElement} */ (ev.currentTarget);
    const on = /** @type {HTMLButtonElement | null} */ (ev.submitter)?.value !== "off";
    try {
      const r = await api.passkeySecondFactor(String(new FormData(form).get("password")), on);
      showErrors(form, {});
      form.reset();
      mount(status, r.enabled ? "Your passkey is now asked for after your password when you sign in." : "Sign-in no longer asks for a passkey.");
      await refresh();
    } catch (e) {
      const errs = fieldErrors(e, ["password"]);
      if (e instanceof ApiError && e.problem.code === "no_passkey") errs[""] = "Add a passkey first, then turn this on.";
      showErrors(form, errs);
    }
  };
  form = /** @type {HTMLFormElement} */ (h("form", { onsubmit: second, "aria-label": "Passkey as the second sign-in step" },
      field("password", "Your password", { type: "password", autocomplete: "current-password" }),
      h("p", { class: "form-error", role: "alert" }),
      h("div", { class: "row" },
        h("button", { type: "submit", value: "on" }, "Ask for my passkey at sign-in"),
        h("button", { type: "submit", value: "off", class: "link" }, "Stop asking"))));
  mount(box, h("p", { class: "small" }, "A passkey lives on this device (or your phone or security key): no code to type."),
    list,
    h("div", { class: "row" }, h("button", { type: "button", class: "primary", id: "add-passkey", onclick: add }, "Add a passkey")),
    addError, status, form);
  void refresh();
  return box;
}
