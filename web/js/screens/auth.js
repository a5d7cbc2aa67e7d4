// Sign in / register. Problem details from the server are shown next to the field they name.

import { h, mount } from "../dom.js";
import { api, tokens, fieldErrors } from "../api.js";
import { field, showErrors } from "../ui.js";

const FIELDS = ["email", "handle", "display_name", "password"];

/** The identity providers, asked once per page load. @type {Promise<{name: string, label: string}[]> | null} */
let providers = null;

/** @param {HTMLElement} view @param {() => Promise<void>} onSignedIn
 * @param {string} [challenge] a second step to ask first @param {string[]} [methods] its methods */
export function authScreen(view, onSignedIn, challenge, methods) {
  let mode = "signin";

  function render() {
    const register = mode === "register";
    /** @param {SubmitEvent} ev */
    const submit = async (ev) => {
      ev.preventDefault();
      const form = /** @type {HTMLFormElement} */ (ev.currentTarget);
      const button = /** @type {HTMLButtonElement} */ (form.querySelector("button[type=submit]"));
      const body = /** @type {Record<string, string>} */ (Object.fromEntries(new FormData(form)));
      button.disabled = true;
      showErrors(form, {});
      try {
        const answer = register ? await api.register(body) : await api.login(body);
        if ("challenge" in answer) { secondStep(answer.challenge, answer.methods); return; }
        tokens.keep(answer);
        await onSignedIn();
      } catch (e) {
        showErrors(form, fieldErrors(e, FIELDS));
        button.disabled = false;
      }
    };
    mount(view, h("section", { class: "auth card", "aria-labelledby": "auth-title" },
      h("h1", { id: "auth-title" }, register ? "Create your account" : "Welcome back"),
      h("p", { class: "muted" }, "Read together, live, without spoilers."),
      /[?&]invite=/.test(location.hash) ? h("p", { class: "note", id: "invite-note" }, "You have an invitation to a club: sign in or register, then join it.") : null,
      h("div", { class: "tabs", role: "tablist", "aria-label": "Sign in or register" },
        tab("signin", "Sign in"), tab("register", "Register")),
      h("form", { onsubmit: submit, novalidate: true, "aria-label": register ? "Register" : "Sign in" },
        field("email", "Email", { type: "email", autocomplete: register ? "email" : "username", required: true }),
        register ? field("handle", "Handle", { autocomplete: "username", required: true, placeholder: "letters, digits, _" }) : null,
        register ? field("display_name", "Display name", { autocomplete: "name", required: true }) : null,
        field("password", "Password", { type: "password", autocomplete: register ? "new-password" : "current-password", required: true }),
        h("p", { class: "form-error", role: "alert" }),
        h("button", { type: "submit", class: "primary" }, register ? "Create account" : "Sign in")),
      register ? null : h("p", { class: "small" }, h("a", { href: "#/forgot-password" }, "Forgot your password?")),
      h("div", { id: "providers" })));
    showProviders();
  }

  /** "Sign in with <provider>" buttons under the form, when the server has providers. */
  async function showProviders() {
    const box = view.querySelector("#providers");
    /** @type {{name: string, label: string}[]} */
    let list = [];
    try { list = await (providers ??= api.oidcProviders()); } catch { providers = null; return; }
    if (!list.length || !box?.isConnected) return;
    /** @param {string} name @param {HTMLButtonElement} button */
    const go = async (name, button) => {
      button.disabled = true;
      try { location.assign((await api.oidcStart(name)).authorization_url); }
      catch (e) {
        mount(/** @type {HTMLElement} */ (box?.querySelector(".form-error")), Object.values(fieldErrors(e, [])).join(" "));
        button.disabled = false;
      }
    };
    mount(/** @type {HTMLElement} */ (box), h("p", { class: "muted small" }, "Or"),
      h("div", { class: "row" }, list.map((p) => h("button", { type: "button", "data-provider": p.name,
        onclick: (/** @type {Event} */ e) => go(p.name, /** @type {HTMLButtonElement} */ (e.currentTarget)) }, `Sign in with ${p.label}`))),
      h("p", { class: "form-error", role: "alert" }));
  }

  /** Two-factor sign-in: the password was right, now the code or the passkey.
   * @param {string} challenge @param {string[]} [methods] what the account accepts (`totp`, `passkey`) */
  function secondStep(challenge, methods = ["totp"]) {
    const usePasskey = async (/** @type {Event} */ ev) => {
      const button = /** @type {HTMLButtonElement} */ (ev.currentTarget);
      const error = /** @type {HTMLElement} */ (view.querySelector("#passkey-error"));
      button.disabled = true;
      mount(error);
      const pk = await import("./passkeys.js");
      try {
        tokens.keep(await api.passkeyStep(challenge, await pk.assert(await api.passkeyStepOptions(challenge))));
        await onSignedIn();
      } catch (e) { mount(error, pk.refusal(e)); button.disabled = false; }
    };
    const passkey = methods.includes("passkey");
    const code = methods.includes("totp") || !passkey;
    /** @param {SubmitEvent} ev */
    const submit = async (ev) => {
      ev.preventDefault();
      const form = /** @type {HTMLFormElement} */ (ev.currentTarget);
      const button = /** @type {HTMLButtonElement} */ (form.querySelector("button[type=submit]"));
      button.disabled = true;
      try {
        tokens.keep(await api.login2fa(challenge, String(new FormData(form).get("code") || "").replace(/\s+/g, "")));
        await onSignedIn();
      } catch (e) {
        const errs = fieldErrors(e, ["code", "challenge"]);
        if (errs.challenge) { errs[""] = "This sign-in took too long: start again."; delete errs.challenge; }
        showErrors(form, errs);
        button.disabled = false;
      }
    };
    mount(view, h("section", { class: "auth card", "aria-labelledby": "auth-title" },
      h("h1", { id: "auth-title" }, "Two-factor sign-in"),
      passkey ? h("div", null, h("p", { class: "muted" }, "Confirm it's you with your passkey."),
        h("button", { type: "button", class: "primary", id: "use-passkey", onclick: usePasskey }, "Use my passkey"),
        h("p", { class: "form-error", role: "alert", id: "passkey-error" })) : null,
      code ? h("p", { class: "muted" }, passkey ? "Or type the 6-digit code your authenticator app shows." : "Type the 6-digit code your authenticator app shows, or one of your recovery codes.") : null,
      code ? h("form", { onsubmit: submit, novalidate: true, "aria-label": "Two-factor sign-in" },
        field("code", "Code", { autocomplete: "one-time-code", inputmode: "numeric", required: true }),
        h("p", { class: "form-error", role: "alert" }),
        h("button", { type: "submit", class: "primary" }, "Sign in")) : null,
      h("p", { class: "small" }, h("a", { href: "#/", onclick: (/** @type {Event} */ e) => { e.preventDefault(); render(); } }, "Back"))));
    /** @type {HTMLElement} */ (view.querySelector(passkey ? "#use-passkey" : "input[name=code]")).focus();
  }

  /** @param {string} which @param {string} label */
  function tab(which, label) {
    return h("button", { type: "button", role: "tab", "aria-selected": String(mode === which),
      onclick: () => { mode = which; render(); } }, label);
  }

  if (challenge) secondStep(challenge, methods); else render();
}

/** The identity provider sent the browser back to `/app/oidc-callback?code=&state=`: finish
 * the sign-in (maybe with its second step), then go home.
 * @param {HTMLElement} view @param {() => Promise<void>} onSignedIn */
export async function oidcCallbackScreen(view, onSignedIn) {
  const q = new URLSearchParams(location.search);
  const code = q.get("code"), state = q.get("state");
  history.replaceState(null, "", "/app/#/");
  const title = h("h1", { id: "auth-title" }, "Signing you in…");
  const body = h("div", null, h("p", { class: "muted", role: "status" }, "Finishing the sign-in with your provider."));
  mount(view, h("section", { class: "auth card", "aria-labelledby": "auth-title" }, title, body));
  /** @param {string} why */
  const fail = (why) => {
    mount(title, "Sign-in did not finish");
    mount(body, h("p", { class: "form-error", role: "alert" }, why),
      h("p", null, h("a", { href: "#/", onclick: (/** @type {Event} */ e) => { e.preventDefault(); authScreen(view, onSignedIn); } }, "Back to sign in")));
  };
  if (!code || !state) { fail(q.get("error_description") || q.get("error") || "The provider sent no sign-in code back."); return; }
  try {
    const answer = await api.oidcCallback(code, state);
    if ("challenge" in answer) { authScreen(view, onSignedIn, answer.challenge, answer.methods); return; }
    tokens.keep(answer);
    await onSignedIn();
  } catch (e) {
    fail(Object.values(fieldErrors(e, [])).join(" ") || "The sign-in failed.");
  }
}
