// Notification preferences: per type, in the app / by email / by push; quiet hours; a daily
// digest; email opt-out. Each change is saved at once.

import { h, announce } from "../dom.js";
import { api, fieldErrors } from "../api.js";
import { section } from "./home.js";

const CHANNELS = [["in_app", "In the app"], ["email", "Email"], ["push", "Push"]];

/** The preferences, drawn into `box`. @param {HTMLElement} box */
export function notificationPrefs(box) {
  const status = h("p", { role: "status", class: "small", id: "prefs-status" });
  /** @param {Record<string, unknown>} body @param {string} what */
  const save = async (body, what) => {
    try { await api.setNotificationPrefs(body); status.textContent = `Saved: ${what}`; }
    catch (e) {
      const errs = fieldErrors(e, ["quiet_start", "quiet_end", "digest_hour", "timezone"]);
      status.textContent = Object.values(errs).join(" ");
      announce(status.textContent, "error");
    }
  };
  section(box, () => Promise.all([api.notificationPrefs(), api.notificationTypes()]), ([prefs, types]) => {
    const time = (/** @type {"quiet_start" | "quiet_end"} */ k, /** @type {string} */ label) => h("div", { class: "field" },
      h("label", { for: `np-${k}` }, label),
      h("input", { id: `np-${k}`, type: "time", value: prefs[k] || "", onchange: (/** @type {Event} */ e) =>
        save({ [k]: /** @type {HTMLInputElement} */ (e.target).value || null }, label) }));
    return h("div", null,
      h("div", { class: "row" }, time("quiet_start", "Quiet from"), time("quiet_end", "Quiet until"),
        h("label", { class: "row small" }, h("input", { type: "checkbox", checked: prefs.digest, onchange: (/** @type {Event} */ e) =>
          save({ digest: /** @type {HTMLInputElement} */ (e.target).checked }, "daily digest") }), "One daily email digest"),
        h("label", { class: "row small" }, h("input", { type: "checkbox", checked: prefs.email_opt_out, onchange: (/** @type {Event} */ e) =>
          save({ email_opt_out: /** @type {HTMLInputElement} */ (e.target).checked }, "no email at all") }), "No email at all")),
      h("table", { class: "rows small", id: "prefs-types" },
        h("thead", null, h("tr", null, h("th", { scope: "col" }, "When"), CHANNELS.map(([, l]) => h("th", { scope: "col" }, l)))),
        h("tbody", null, types.map((t) => h("tr", null, h("th", { scope: "row" }, t.description || t.text || t.name),
          CHANNELS.map(([c, l]) => h("td", null, h("input", { type: "checkbox", checked: !!prefs.types[t.name]?.[c],
            "aria-label": `${l}: ${t.description || t.text || t.name}`,
            onchange: (/** @type {Event} */ e) => save({ types: { [t.name]: { [c]: /** @type {HTMLInputElement} */ (e.target).checked } } },
              `${l.toLowerCase()} for “${t.description || t.text || t.name}”`) }))))))),
      status);
  });
  return box;
}

