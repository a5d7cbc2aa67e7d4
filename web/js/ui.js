// Shared view pieces: loading, empty and error states, progress bars, form fields.

import { h } from "./dom.js";
import { ApiError } from "./api.js";

/** @param {string} [what] */
export const loading = (what = "Loading") =>
  h("p", { class: "state loading", role: "status" }, h("span", { class: "spinner", "aria-hidden": "true" }), `${what}…`);

/** @param {string} text @param {import("./dom.js").Child} [action] */
export const empty = (text, action) => h("div", { class: "state empty" }, h("p", null, text), action);

/** @param {unknown} err @param {() => void} [retry] */
export function failure(err, retry) {
  const msg = err instanceof ApiError ? err.message : "Something went wrong.";
  return h("div", { class: "state error", role: "alert" }, h("p", null, msg),
    retry ? h("button", { type: "button", onclick: retry }, "Try again") : null);
}

/** A labelled progress bar. @param {number} p 0..1 @param {string} label */
export function progressBar(p, label) {
  const v = Math.round(p * 100);
  return h("div", { class: "progress", role: "progressbar", "aria-label": label,
    "aria-valuemin": "0", "aria-valuemax": "100", "aria-valuenow": String(v) },
  h("span", { style: `width:${v}%` }));
}

/**
 * A labelled input with its error line (`aria-describedby`).
 * @param {string} name @param {string} label @param {Record<string, any>} [attrs]
 */
export function field(name, label, attrs = {}) {
  const id = `f-${name}-${Math.random().toString(36).slice(2, 7)}`;
  return h("div", { class: "field" },
    h("label", { for: id }, label),
    h("input", { id, name, "aria-describedby": `${id}-err`, ...attrs }),
    h("p", { class: "field-error", id: `${id}-err`, "data-for": name }));
}

/**
 * Show `{field: message}` next to the form's fields ("" = the form's own error line).
 * @param {HTMLFormElement} form @param {Record<string, string>} errors
 */
export function showErrors(form, errors) {
  for (const p of form.querySelectorAll(".field-error, .form-error")) p.textContent = "";
  for (const input of form.querySelectorAll("input")) input.removeAttribute("aria-invalid");
  let first = null;
  for (const [name, msg] of Object.entries(errors)) {
    const line = name ? form.querySelector(`.field-error[data-for="${name}"]`) : null;
    const target = line || form.querySelector(".form-error");
    if (target) target.textContent = msg;
    const input = name ? form.querySelector(`[name="${name}"]`) : null;
    if (input) { input.setAttribute("aria-invalid", "true"); first = first || input; }
  }
  if (first instanceof HTMLElement) first.focus();
}

/** The cover or a lettered placeholder. @param {{title: string, cover_url?: string | null}} book */
export function cover(book, size = "s") {
  if (book.cover_url && book.cover_url.startsWith("/")) {
    return h("img", { class: `cover ${size}`, src: book.cover_url, alt: "" });
  }
  const hue = [...book.title].reduce((a, c) => (a + c.charCodeAt(0)) % 360, 0);
  return h("div", { class: `cover ${size}`, style: `--hue:${hue}`, "aria-hidden": "true" }, book.title.slice(0, 1));
}
