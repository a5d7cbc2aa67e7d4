// Sign in / register. Problem details from the server are shown next to the field they name.

import { h, mount } from "../dom.js";
import { api, tokens, fieldErrors } from "../api.js";
import { field, showErrors } from "../ui.js";

const FIELDS = ["email", "handle", "display_name", "password"];

/** @param {HTMLElement} view @param {() => Promise<void>} onSignedIn */
export function authScreen(view, onSignedIn) {
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
        if ("challenge" in answer) { secondStep(answer.challenge); return; }
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
      register ? null : h("p", { class: "small" }, h("a", { href: "#/forgot-password" }, "Forgot your password?"))));
  }

  /** Two-factor sign-in: the password was right, now the code. @param {string} challenge */
  function secondStep(challenge) {
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
      h("p", { class: "muted" }, "Type the 6-digit code your authenticator app shows, or one of your recovery codes."),
      h("form", { onsubmit: submit, novalidate: true, "aria-label": "Two-factor sign-in" },
        field("code", "Code", { autocomplete: "one-time-code", inputmode: "numeric", required: true }),
        h("p", { class: "form-error", role: "alert" }),
        h("button", { type: "submit", class: "primary" }, "Sign in")),
      h("p", { class: "small" }, h("a", { href: "#/", onclick: (/** @type {Event} */ e) => { e.preventDefault(); render(); } }, "Back"))));
    /** @type {HTMLElement} */ (view.querySelector("input[name=code]")).focus();
  }

  /** @param {string} which @param {string} label */
  function tab(which, label) {
    return h("button", { type: "button", role: "tab", "aria-selected": String(mode === which),
      onclick: () => { mode = which; render(); } }, label);
  }

  render();
}
