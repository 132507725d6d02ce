// Small DOM helpers: building elements, field errors from problems, announcements, views.

export const $ = (selector, root = document) => root.querySelector(selector);
export const $$ = (selector, root = document) => [...root.querySelectorAll(selector)];

// el("p", {class: "x", text: "hello"}, child, ...): text is set as text, never as HTML.
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "text") node.textContent = value;
    else if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (value === true) node.setAttribute(key, "");
    else node.setAttribute(key, value);
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

// Screen readers hear this (a polite live region); nothing moves the focus. Messages that
// arrive within half a second (a refresh updates several cards at once) are read together,
// so that a later one does not silence an earlier one.
let pending = [];
let flush = null;
export function announce(message) {
  pending.push(message);
  if (flush) return;
  const region = $("#announcer");
  region.textContent = ""; // a fresh text node after the pause: the same message twice is read twice
  flush = setTimeout(() => {
    region.textContent = pending.join(" ");
    pending = [];
    flush = null;
  }, 500);
}

export function banner(message) {
  const node = $("#banner");
  node.textContent = message || "";
  node.hidden = !message;
}

export function clearErrors(form) {
  for (const node of $$(".error", form)) node.textContent = "";
  for (const input of $$("[aria-invalid]", form)) {
    input.removeAttribute("aria-invalid");
    input.removeAttribute("aria-describedby");
  }
}

// Each problem error goes next to the field it names (errors[].field, dotted paths reduced
// to their first part); the rest, and the detail, go to the form's general error line.
export function showProblem(form, error, fieldAliases = {}) {
  clearErrors(form);
  const problem = error.problem || { title: String(error.message || error) };
  const general = $(".form-error", form);
  const unplaced = [];
  let firstInvalid = null;
  for (const item of problem.errors || []) {
    const name = fieldAliases[item.field] || String(item.field || "").split(/[.[]/)[0];
    const slot = name ? $(`.error[data-for="${CSS.escape(name)}"]`, form) : null;
    if (!slot) {
      unplaced.push(item.field ? `${item.field}: ${item.message}` : item.message);
      continue;
    }
    slot.textContent = slot.textContent ? `${slot.textContent} ${item.message}` : item.message;
    const input = form.elements.namedItem(name);
    if (input && input.setAttribute) {
      if (!slot.id) slot.id = `${form.id}-${name}-error`;
      input.setAttribute("aria-invalid", "true");
      input.setAttribute("aria-describedby", slot.id);
      firstInvalid = firstInvalid || input;
    }
  }
  const message = unplaced.length ? unplaced.join(" ") : problem.errors?.length ? "" : problem.detail || problem.title;
  if (general && message) general.textContent = message;
  (firstInvalid || form.querySelector("input, select, textarea"))?.focus?.();
  if (!firstInvalid && general && message) announce(message);
}

// One error line for a field, set by the page's own checks before any request.
export function fieldError(form, name, message) {
  showProblem(form, { problem: { title: "The request is not valid", errors: [{ field: name, message }] } });
}

export function formatTime(iso) {
  if (!iso) return "—";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

export function formatDate(iso) {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? String(iso ?? "—") : date.toLocaleDateString(undefined, { dateStyle: "medium" });
}

export function busy(form, on) {
  for (const button of $$("button", form)) button.disabled = on;
  form.setAttribute("aria-busy", on ? "true" : "false");
}
