// A card's trend chart: the last 24 hours observed and the next 24 hours forecast, with the
// chance of rain beneath, as hand-drawn SVG (no library: a few hundred bytes gzipped).
// Colours and line styles live in app.css (classes only: the page's CSP allows no inline
// style). Screen readers get the summary sentence as the figure's caption and name, and a
// table of the same points behind a disclosure button.
import { el } from "./ui.js";

const SVG = "http://www.w3.org/2000/svg";
const HOUR = 3600 * 1000;
const W = 320;
const TOP = 8;
const TEMP_H = 92; // temperature band
const RAIN_TOP = 116; // the chance-of-rain band beneath it
const RAIN_H = 28;
const H = RAIN_TOP + RAIN_H + 16; // room for the time labels

function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value !== undefined && value !== null) node.setAttribute(key, String(value));
  }
  for (const child of children.flat()) if (child) node.append(child);
  return node;
}

const clock = (ms) => new Date(ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
const fixed = (value, digits = 1) => Number(value).toFixed(digits);
const isNumber = (value) => typeof value === "number" && Number.isFinite(value);

// The points a chart draws: observed (oldest first, last 24 h) and forecast (next 24 h).
export function series(observed, forecast, now = Date.now()) {
  const past = (observed || [])
    .map((o) => ({ t: Date.parse(o.time), temp: o.temperature, rain: o.precipitation_probability, conditions: o.conditions }))
    .filter((p) => isNumber(p.t) && isNumber(p.temp) && p.t >= now - 24 * HOUR && p.t <= now + HOUR)
    .sort((a, b) => a.t - b.t);
  const next = (forecast?.hours || [])
    .map((h) => ({ t: Date.parse(h.time), temp: h.temperature, rain: h.precipitation_probability, conditions: h.conditions }))
    .filter((p) => isNumber(p.t) && isNumber(p.temp) && p.t >= now - HOUR && p.t <= now + 24 * HOUR)
    .sort((a, b) => a.t - b.t);
  return { past, next, now };
}

function range(points) {
  const temps = points.map((p) => p.temp);
  return temps.length ? [Math.min(...temps), Math.max(...temps)] : null;
}

function peak(points, key) {
  return points.reduce((best, p) => (isNumber(p[key]) && (!best || p[key] > best[key]) ? p : best), null);
}

// One sentence that says what the picture shows.
export function summarize(name, { past, next }, unit) {
  const parts = [];
  const seen = range(past);
  if (seen) {
    const [low, high] = seen;
    const first = past[0].temp;
    const last = past[past.length - 1].temp;
    const trend = last > first + 0.5 ? "rising" : last < first - 0.5 ? "falling" : "steady";
    parts.push(`last 24 hours ${fixed(low)} to ${fixed(high)} ${unit}, ${trend}, now ${fixed(last)} ${unit}`);
  } else {
    parts.push("no observations recorded yet");
  }
  const ahead = range(next);
  if (ahead) {
    const warm = peak(next, "temp");
    const cold = next.reduce((best, p) => (p.temp < best.temp ? p : best), next[0]);
    parts.push(`next 24 hours ${fixed(ahead[0])} to ${fixed(ahead[1])} ${unit}, warmest ${fixed(warm.temp)} ${unit} at ${clock(warm.t)}, coldest ${fixed(cold.temp)} ${unit} at ${clock(cold.t)}`);
    const wet = peak(next, "rain");
    parts.push(wet && wet.rain > 0 ? `rain most likely at ${clock(wet.t)} (${fixed(wet.rain, 0)} %)` : "no rain expected");
  } else {
    parts.push("no forecast available");
  }
  const sentence = parts.join("; ");
  return `${name}: ${sentence.charAt(0).toUpperCase()}${sentence.slice(1)}.`;
}

function drawing(data, labelId) {
  const { past, next, now } = data;
  const all = [...past, ...next];
  const x = (t) => ((t - (now - 24 * HOUR)) / (48 * HOUR)) * W;
  const [low, high] = range(all) || [0, 1];
  const pad = Math.max(1, (high - low) * 0.1);
  const lo = low - pad;
  const hi = high + pad;
  const y = (temp) => TOP + (1 - (temp - lo) / (hi - lo)) * TEMP_H;
  const line = (points) => points.map((p, i) => `${i ? "L" : "M"}${x(p.t).toFixed(1)},${y(p.temp).toFixed(1)}`).join("");
  const bars = (points, cls) => points.filter((p) => isNumber(p.rain) && p.rain > 0).map((p) => {
    const h = (p.rain / 100) * RAIN_H;
    return svg("rect", { class: cls, x: (x(p.t) - 2).toFixed(1), y: (RAIN_TOP + RAIN_H - h).toFixed(1), width: 4, height: h.toFixed(1) });
  });
  // The forecast line starts where the observations end, so the two read as one curve.
  const joined = past.length && next.length ? [past[past.length - 1], ...next] : next;
  return svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img", "aria-labelledby": labelId, focusable: "false" },
    svg("line", { class: "chart-axis", x1: 0, x2: W, y1: RAIN_TOP + RAIN_H, y2: RAIN_TOP + RAIN_H }),
    svg("line", { class: "chart-now", x1: x(now), x2: x(now), y1: TOP, y2: RAIN_TOP + RAIN_H }),
    bars(past, "chart-rain observed"),
    bars(next, "chart-rain forecast"),
    past.length ? svg("path", { class: "chart-line observed", d: line(past) }) : null,
    joined.length ? svg("path", { class: "chart-line forecast", d: line(joined) }) : null,
    svg("text", { class: "chart-label", x: 2, y: TOP + 8 }, `${fixed(high)}°`),
    svg("text", { class: "chart-label", x: 2, y: TOP + TEMP_H }, `${fixed(low)}°`),
    svg("text", { class: "chart-label", x: 2, y: RAIN_TOP - 2 }, "rain %"),
    svg("text", { class: "chart-label", x: 0, y: H - 2 }, "−24 h"),
    svg("text", { class: "chart-label", x: x(now), y: H - 2, "text-anchor": "middle" }, "now"),
    svg("text", { class: "chart-label", x: W, y: H - 2, "text-anchor": "end" }, "+24 h"));
}

function table(data, unit, captionId) {
  const row = (p) => el("tr", {},
    el("th", { scope: "row", text: `${clock(p.t)}` }),
    el("td", { text: `${fixed(p.temp)} ${unit}` }),
    el("td", { text: isNumber(p.rain) ? `${fixed(p.rain, 0)} %` : "—" }),
    el("td", { text: p.conditions || "—" }));
  // One row group per kind, each headed by its name: no column spent on it.
  const group = (title, points) => points.length
    ? el("tbody", {},
      el("tr", {}, el("th", { scope: "rowgroup", colspan: "4", class: "chart-group", text: title })),
      points.map(row))
    : null;
  return el("table", { class: "chart-table", "aria-describedby": captionId },
    el("thead", {}, el("tr", {},
      ["Time", "Temperature", "Chance of rain", "Conditions"].map((h) => el("th", { scope: "col", text: h })))),
    group("Observed, last 24 hours", data.past),
    group("Forecast, next 24 hours", data.next));
}

// Tables a reader opened stay open when a live update redraws their card.
const openTables = new Set();

// The chart of one card: a figure (SVG named by its caption) and a table behind a button.
export function trendChart(id, name, observed, forecast, unit, now = Date.now()) {
  const data = series(observed, forecast, now);
  const captionId = `chart-${id}-summary`;
  const tableId = `chart-${id}-table`;
  // A region of its own (focusable): on a narrow screen the table scrolls inside it.
  const holder = el("div", { id: tableId, class: "chart-table-holder", role: "region", tabindex: "0",
    "aria-label": `${name}: the chart's points` }, table(data, unit, captionId));
  const toggle = el("button", {
    type: "button",
    class: "link chart-toggle",
    "aria-controls": tableId,
    onclick: () => show(!openTables.has(id)),
  });
  const show = (open) => {
    if (open) openTables.add(id);
    else openTables.delete(id);
    holder.hidden = !open;
    toggle.setAttribute("aria-expanded", String(open));
    toggle.textContent = open ? "Hide the table" : "Show as a table";
  };
  show(openTables.has(id));
  return el("figure", { class: "trend", dataset: { points: String(data.past.length + data.next.length) } },
    drawing(data, captionId),
    el("figcaption", { id: captionId, class: "chart-summary", text: summarize(name, data, unit) }),
    el("p", { class: "chart-legend", "aria-hidden": "true" },
      el("span", { class: "key observed", text: "observed" }), " ",
      el("span", { class: "key forecast", text: "forecast" }), " ",
      el("span", { class: "key rain", text: "chance of rain" })),
    toggle,
    holder);
}
