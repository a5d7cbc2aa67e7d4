// Charts drawn as inline SVG (no chart library): a bar chart with its numbers as a table for
// screen readers, and a ring for a goal's progress.

import { h } from "./dom.js";

/** The SVG namespace, as the HTML parser assigns it (no URL spelled in the sources). */
const NS = (() => { const d = document.createElement("div"); d.innerHTML = "<svg></svg>"; return /** @type {string} */ (d.firstElementChild?.namespaceURI); })();

/** @param {string} tag @param {Record<string, string | number>} attrs @param {...(Node | string)} kids */
function s(tag, attrs, ...kids) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  for (const kid of kids) el.append(kid);
  return el;
}

/**
 * A bar chart: one bar per value, its label under it, the value over it.
 * @param {{title: string, values: number[], labels: string[], names?: string[], unit: string, id?: string}} o
 *   labels: under the bars; names: the long form for tooltips and the table (default: labels)
 */
export function barChart({ title, values, labels, names = labels, unit, id }) {
  const W = 600, H = 180, pad = 22, top = 16;
  const max = Math.max(1, ...values);
  const step = (W - 2 * pad) / Math.max(1, values.length);
  const bw = Math.max(4, step * 0.62);
  const svg = s("svg", { viewBox: `0 0 ${W} ${H + pad}`, class: "chart", role: "img", "aria-hidden": "true", focusable: "false" });
  svg.append(s("line", { x1: pad, x2: W - pad, y1: H, y2: H, class: "axis" }));
  values.forEach((v, i) => {
    const bh = (H - top) * (v / max);
    const x = pad + i * step + (step - bw) / 2;
    svg.append(s("rect", { x, y: H - bh, width: bw, height: Math.max(bh, v ? 1 : 0), rx: 2, class: "bar" },
      s("title", {}, `${names[i]}: ${v} ${unit}`)));
    if (v) svg.append(s("text", { x: x + bw / 2, y: H - bh - 4, class: "val", "text-anchor": "middle" }, String(v)));
    svg.append(s("text", { x: x + bw / 2, y: H + 15, class: "lbl", "text-anchor": "middle" }, labels[i]));
  });
  const total = values.reduce((a, b) => a + b, 0);
  return h("figure", { class: "figure", id },
    h("figcaption", null, title, h("span", { class: "muted small" }, ` · ${total} in all`)),
    svg,
    h("table", { class: "sr-only" }, h("caption", null, title),
      h("tbody", null, values.map((v, i) => h("tr", null, h("th", { scope: "row" }, names[i]), h("td", null, `${v} ${unit}`))))));
}

/**
 * A progress ring with the share in its centre. @param {number} share 0..1 @param {string} label
 */
export function ring(share, label) {
  const r = 40, c = 2 * Math.PI * r, v = Math.max(0, Math.min(1, share));
  const svg = s("svg", { viewBox: "0 0 100 100", class: "ring", "aria-hidden": "true", focusable: "false" },
    s("circle", { cx: 50, cy: 50, r, class: "ring-bg" }),
    s("circle", { cx: 50, cy: 50, r, class: "ring-fg", "stroke-dasharray": `${c * v} ${c}`, transform: "rotate(-90 50 50)" }),
    s("text", { x: 50, y: 56, "text-anchor": "middle", class: "ring-txt" }, `${Math.round(v * 100)}%`));
  return h("div", { class: "ring-box", role: "img", "aria-label": label }, svg);
}
