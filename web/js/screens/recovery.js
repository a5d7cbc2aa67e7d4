// Account recovery, reached from the emails' links (`/app/#/<path>?token=`): forgot password,
// reset password, and email verification (a new account's address, or a changed one).

import { h, mount } from "../dom.js";
import { api, fieldErrors } from "../api.js";
import { field, showErrors, loading, failure } from "../ui.js";

/** The `token` of the address (`#/reset-password?token=…`). */
const tokenInAddress = () => new URLSearchParams(location.hash.split("?")[1] || "").get("token") || "";

const back = () => h("p", null, h("a", { href: "#/" }, "Back to sign in"));

/** "Forgot your password?": the same answer whether or not the address is known. @param {HTMLElement} view */
export function forgotScreen(view) {
  /** @param {SubmitEvent} ev */
  const submit = async (ev) => {
    ev.preventDefault();
    const form = /** @type {HTMLFormElement} */ (ev.currentTarget);
    try {
      await api.forgotPassword(String(new FormData(form).get("email") || ""));
      mount(view, h("section", { class: "auth card", "aria-labelledby": "rc-title" },
        h("h1", { id: "rc-title" }, "Check your email"),
        h("p", { role: "status" }, "If an account uses this address, a link to choose a new password is on its way."), back()));
    } catch (e) { showErrors(form, fieldErrors(e, ["email"])); }
  };
  mount(view, h("section", { class: "auth card", "aria-labelledby": "rc-title" },
    h("h1", { id: "rc-title" }, "Forgot your password?"),
    h("p", { class: "muted" }, "We will email you a link to choose a new one."),
    h("form", { onsubmit: submit, novalidate: true, "aria-label": "Forgot password" },
      field("email", "Email", { type: "email", autocomplete: "email", required: true }),
      h("p", { class: "form-error", role: "alert" }),
      h("button", { type: "submit", class: "primary" }, "Send me a link")), back()));
}

/** A reset link: choose the new password (every device is signed out). @param {HTMLElement} view */
export function resetScreen(view) {
  const token = tokenInAddress();
  /** @param {SubmitEvent} ev */
  const submit = async (ev) => {
    ev.preventDefault();
    const form = /** @type {HTMLFormElement} */ (ev.currentTarget);
    try {
      await api.resetPassword(token, String(new FormData(form).get("new_password") || ""));
      history.replaceState(null, "", "#/reset-password");
      mount(view, h("section", { class: "auth card", "aria-labelledby": "rc-title" },
        h("h1", { id: "rc-title" }, "Password changed"),
        h("p", { role: "status" }, "Sign in with your new password. Your other devices were signed out."), back()));
    } catch (e) {
      const errs = fieldErrors(e, ["new_password", "token"]);
      if (errs.token) { errs[""] = "This link is not valid any more: ask for a new one."; delete errs.token; }
      showErrors(form, errs);
    }
  };
  mount(view, h("section", { class: "auth card", "aria-labelledby": "rc-title" },
    h("h1", { id: "rc-title" }, "Choose a new password"),
    h("form", { onsubmit: submit, novalidate: true, "aria-label": "Choose a new password" },
      field("new_password", "New password", { type: "password", autocomplete: "new-password", required: true }),
      h("p", { class: "form-error", role: "alert" }),
      h("button", { type: "submit", class: "primary" }, "Set the password")),
    h("p", null, h("a", { href: "#/forgot-password" }, "Ask for a new link")), back()));
}

/** A verification link (signed in or not). @param {HTMLElement} view */
export function verifyScreen(view) {
  const token = tokenInAddress();
  mount(view, loading("Checking the link"));
  api.verifyEmail(token).then((s) => {
    history.replaceState(null, "", "#/verify-email");
    mount(view, h("section", { class: "auth card", "aria-labelledby": "rc-title" },
      h("h1", { id: "rc-title" }, "Email confirmed"),
      h("p", { role: "status" }, `${s.email} is confirmed.`), h("p", null, h("a", { href: "#/" }, "Continue"))));
  }, (e) => mount(view, h("section", { class: "auth card", "aria-labelledby": "rc-title" },
    h("h1", { id: "rc-title" }, "This link did not work"), failure(e), h("p", null, h("a", { href: "#/" }, "Continue")))));
}
