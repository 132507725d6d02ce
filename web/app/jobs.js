// Jobs: summary, own jobs (filters, sorting, paging), create, open jobs with bids, bids with
// fee, deadline and sentiment, accept, assigned jobs, results; updated live by the caller.
import { api, ApiError, query } from "./api.js";
import { $, announce, busy, clearErrors, el, fieldError, formatTime, showProblem } from "./ui.js";

const STATUSES = ["pending", "in-progress", "completed", "failed", "cancelled"];
const INPUTS = {
  "text.sentiment": { label: "Texts, one per line", params: (lines) => ({ texts: lines }) },
  "weather.report": { label: "Cities, one per line", params: (lines) => ({ cities: lines }) },
  "history.export": { label: null, params: () => ({}) },
};

const state = {
  me: null,
  own: new Map(),
  ownCursor: null,
  open: new Map(),
  assigned: new Map(),
  bids: new Map(), // job id -> Map(bid id -> bid), as far as loaded
  panels: new Set(), // "<list>:<job id>" of the rows whose bids show
  results: new Map(), // job id -> result body
};

const lists = {
  own: () => $("#own-jobs"),
  open: () => $("#open-jobs"),
  assigned: () => $("#assigned-jobs"),
};

const money = (fee) => (fee ? `${Number(fee.amount).toFixed(2)} ${fee.currency || "USD"}` : "—");

function sentimentText(sentiment) {
  if (!sentiment) return "being scored…";
  const scores = sentiment.scores || {};
  const top = Number(scores[sentiment.label] ?? Math.max(...Object.values(scores).map(Number), 0));
  return Number.isFinite(top) && top > 0 ? `${sentiment.label} (${Math.round(top * 100)} %)` : sentiment.label;
}

function bidItem(job, bid, context) {
  const canAccept = context === "own" && job.status === "pending" && !job.assignee_id && bid.status === "open";
  return el("li", { class: `bid bid-${bid.status}`, dataset: { bidId: bid.id } },
    el("p", { class: "bid-comment", text: bid.comment }),
    el("dl", { class: "bid-facts" },
      el("dt", { text: "Fee" }), el("dd", { text: money(bid.fee), dataset: { field: "fee" } }),
      el("dt", { text: "Deadline" }), el("dd", { text: bid.proposed_deadline, dataset: { field: "deadline" } }),
      el("dt", { text: "Sentiment" }), el("dd", { text: sentimentText(bid.sentiment), dataset: { field: "sentiment" } }),
      el("dt", { text: "Status" }), el("dd", { text: bid.status, dataset: { field: "bid-status" } })),
    canAccept
      ? el("button", {
          type: "button",
          dataset: { key: `accept-${bid.id}` },
          text: "Accept this bid",
          onclick: () => accept(job, bid),
        })
      : null);
}

function bidForm(job) {
  const id = `bid-${job.id}`;
  const tomorrow = new Date(Date.now() + 86400000).toISOString().slice(0, 10);
  const form = el("form", { class: "form bid-form", id, novalidate: true, "aria-label": `Bid on ${job.name}` },
    el("div", { class: "field" },
      el("label", { for: `${id}-comment`, text: "Your offer" }),
      el("textarea", { id: `${id}-comment`, name: "comment", rows: "2", required: true, maxlength: "2000" }),
      el("p", { class: "error", dataset: { for: "comment" } })),
    el("div", { class: "form inline" },
      el("div", { class: "field" },
        el("label", { for: `${id}-deadline`, text: "Deadline" }),
        el("input", { id: `${id}-deadline`, name: "proposed_deadline", type: "date", min: new Date().toISOString().slice(0, 10), value: tomorrow, required: true }),
        el("p", { class: "error", dataset: { for: "proposed_deadline" } })),
      el("div", { class: "field narrow" },
        el("label", { for: `${id}-fee`, text: "Fee" }),
        el("input", { id: `${id}-fee`, name: "fee", type: "number", min: "0.01", step: "0.01", inputmode: "decimal", required: true }),
        el("p", { class: "error", dataset: { for: "fee" } })),
      el("div", { class: "field narrow" },
        el("label", { for: `${id}-currency`, text: "Currency" }),
        el("input", { id: `${id}-currency`, name: "currency", value: "USD", maxlength: "3", pattern: "[A-Za-z]{3}" }))),
    el("p", { class: "error form-error", dataset: { for: "" } }),
    el("button", { type: "submit", text: "Place bid" }));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    const comment = form.elements.comment.value.trim();
    const amount = Number(form.elements.fee.value);
    if (!comment) return fieldError(form, "comment", "Say what you offer.");
    if (!form.elements.proposed_deadline.value) return fieldError(form, "proposed_deadline", "Pick a date.");
    if (!(amount > 0)) return fieldError(form, "fee", "A fee above zero.");
    busy(form, true);
    try {
      const bid = await api("POST", `jobs/${encodeURIComponent(job.id)}/bids`, {
        comment,
        proposed_deadline: form.elements.proposed_deadline.value,
        fee: { amount, currency: (form.elements.currency.value.trim() || "USD").toUpperCase() },
      });
      bidsOf(job.id).set(bid.id, bid);
      renderRow("open", job);
      announce(`Your bid on ${job.name} is placed.`);
    } catch (error) {
      showProblem(form, error);
      if (error instanceof ApiError && error.slug === "job-not-open") refreshLists();
    } finally {
      busy(form, false);
    }
  });
  return form;
}

function bidsOf(jobId) {
  if (!state.bids.has(jobId)) state.bids.set(jobId, new Map());
  return state.bids.get(jobId);
}

function resultView(jobId) {
  const result = state.results.get(jobId);
  if (!result) return null;
  return el("div", { class: "result", role: "group", "aria-label": "Result", tabindex: "-1" },
    el("p", { text: result.error_message ? `Failed: ${result.error_message}` : `Completed ${formatTime(result.completed_at)}` }),
    sentimentList(result.output),
    result.output !== null && result.output !== undefined
      ? el("details", { class: "raw" },
          el("summary", { text: "Full output" }),
          el("pre", { class: "output", tabindex: "0", text: JSON.stringify(result.output, null, 2) }))
      : null);
}

// A sentiment job's output, readable: each text with its label.
function sentimentList(output) {
  const items = Array.isArray(output?.results) ? output.results.filter((item) => item && typeof item.text === "string") : [];
  if (!items.length) return null;
  return el("ul", { class: "sentiments" },
    items.map((item) => el("li", {}, el("q", { text: item.text }), ` ${item.sentiment?.label || item.error || "—"}`)));
}

function row(context, job) {
  const node = $("#job-row").content.firstElementChild.cloneNode(true);
  node.dataset.jobId = job.id;
  node.dataset.status = job.status;
  $(".job-name", node).textContent = job.name;
  const status = $(".status", node);
  status.textContent = job.status;
  status.className = `status status-${job.status}`;
  const when = job.status === "pending" ? `runs ${formatTime(job.scheduled_time)}` : `updated ${formatTime(job.updated_at)}`;
  $(".meta", node).textContent = `${job.kind} · ${when}` + (job.last_error ? ` · last error: ${job.last_error}` : "");
  $(".description", node).textContent = job.description || "";
  $(".description", node).hidden = !job.description;
  const actions = $(".actions", node);
  const details = $(".details", node);
  const open = state.panels.has(`${context}:${job.id}`);
  if (context === "own" || context === "open") {
    actions.append(el("button", {
      type: "button",
      class: "secondary",
      "aria-expanded": open ? "true" : "false",
      dataset: { key: "bids" },
      text: open ? "Hide bids" : context === "own" ? "Bids" : "Bid",
      onclick: () => toggleBids(context, job),
    }));
  }
  if (context === "own" && job.status === "pending") {
    if (new Date(job.scheduled_time).getTime() > Date.now() + 5000) {
      actions.append(el("button", { type: "button", class: "secondary", dataset: { key: "run-now" }, text: "Run now", onclick: () => runNow(job) }));
    }
    actions.append(el("button", { type: "button", class: "secondary", dataset: { key: "cancel" }, text: "Cancel job", onclick: () => cancel(job) }));
  }
  if ((context === "own" || context === "assigned") && (job.status === "completed" || job.status === "failed")) {
    actions.append(el("button", { type: "button", class: "secondary", dataset: { key: "result" }, text: "Result", onclick: () => loadResult(context, job) }));
  }
  if (open) {
    const bids = [...bidsOf(job.id).values()];
    details.append(...[
      el("h5", { text: bids.length ? `Bids (${bids.length})` : "No bids yet" }),
      bids.length ? el("ul", { class: "bids" }, bids.map((bid) => bidItem(job, bid, context))) : null,
      context === "open" && !bids.some((bid) => bid.bidder_id === state.me?.id) ? bidForm(job) : null,
    ].filter(Boolean));
  }
  const result = resultView(job.id);
  if (result) details.append(result);
  return node;
}

// Re-render one row in place; a focused control inside it keeps the focus.
function renderRow(context, job) {
  const list = lists[context]();
  const old = [...list.children].find((node) => node.dataset.jobId === job.id);
  const focusedKey = old?.contains(document.activeElement) ? document.activeElement.dataset.key : null;
  const fresh = row(context, job);
  if (old) old.replaceWith(fresh);
  else list.prepend(fresh);
  if (focusedKey) fresh.querySelector(`[data-key="${CSS.escape(focusedKey)}"]`)?.focus();
  emptyNote(context);
}

function emptyNote(context) {
  const list = lists[context]();
  const has = [...list.children].some((node) => node.dataset.jobId);
  const note = list.querySelector(".empty");
  if (!has && !note) {
    const text = { own: "No jobs here.", open: "No open jobs from others right now.", assigned: "Nothing assigned to you." }[context];
    list.append(el("li", { class: "empty", text }));
  } else if (has && note) note.remove();
}

function renderList(context) {
  const list = lists[context]();
  list.replaceChildren(...[...state[context].values()].map((job) => row(context, job)));
  emptyNote(context);
}

async function toggleBids(context, job) {
  const panel = `${context}:${job.id}`;
  if (state.panels.has(panel)) {
    state.panels.delete(panel);
    renderRow(context, job);
    return;
  }
  state.panels.add(panel);
  const bids = bidsOf(job.id);
  try {
    const body = await api("GET", `jobs/${encodeURIComponent(job.id)}/bids?limit=100`);
    for (const bid of body.items || []) bids.set(bid.id, bid);
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 404)) announce(`Could not load the bids: ${error.message}`);
  }
  renderRow(context, job);
  lists[context]().querySelector(`[data-job-id="${CSS.escape(job.id)}"] .details`)?.querySelector("textarea, button")?.focus();
}

async function accept(job, bid) {
  try {
    const updated = await api("POST", `jobs/${encodeURIComponent(job.id)}/bids/${encodeURIComponent(bid.id)}/accept`);
    jobUpdated({ job: updated });
    const bids = bidsOf(job.id);
    for (const other of bids.values()) bids.set(other.id, { ...other, status: other.id === bid.id ? "accepted" : "rejected" });
    renderRow("own", state.own.get(job.id) || updated);
    announce(`Bid accepted: ${job.name} is assigned.`);
  } catch (error) {
    announce(`Could not accept: ${error.message}`);
  }
}

async function cancel(job) {
  try {
    jobUpdated({ job: await api("DELETE", `jobs/${encodeURIComponent(job.id)}`) });
    announce(`${job.name} is cancelled.`);
  } catch (error) {
    announce(`Could not cancel: ${error.message}`);
  }
}

// Runs a pending job at once by moving its scheduled time to now (PATCH, owner only).
async function runNow(job) {
  try {
    const updated = await api("PATCH", `jobs/${encodeURIComponent(job.id)}`, { scheduled_time: new Date().toISOString() });
    jobUpdated({ job: updated });
    announce(`${job.name} will run now.`);
  } catch (error) {
    announce(`Could not reschedule: ${error.message}`);
  }
}

async function loadResult(context, job) {
  try {
    state.results.set(job.id, await api("GET", `jobs/${encodeURIComponent(job.id)}/result`));
    renderRow(context, job);
    lists[context]().querySelector(`[data-job-id="${CSS.escape(job.id)}"] .result`)?.focus();
  } catch (error) {
    announce(`No result: ${error.message}`);
  }
}

async function loadSummary() {
  const summary = await api("GET", "jobs/summary");
  $("#summary").replaceChildren(
    ...[...STATUSES, "total"].flatMap((name) => [
      el("div", { class: `count count-${name}` }, el("dt", { text: name }), el("dd", { text: String(summary[name] ?? 0), dataset: { count: name } })),
    ]),
  );
}

function filters() {
  const form = $("#job-filters");
  return { status: form.elements.status.value, kind: form.elements.kind.value, sort: form.elements.sort.value };
}

// A filtered page examines a bounded number of jobs on the server, so it may come back
// short with a cursor (docs/jobs.md): follow it, a few requests at most, to fill the page.
const OWN_PAGE = 20;
const OWN_FOLLOW = 5;

async function loadOwn(more = false) {
  let cursor = more ? state.ownCursor : null;
  const found = [];
  for (let request = 0; request < OWN_FOLLOW; request += 1) {
    const body = await api("GET", `jobs${query({ ...filters(), limit: OWN_PAGE - found.length, cursor })}`);
    found.push(...(body.items || []));
    cursor = body.next_cursor;
    if (!cursor || found.length >= OWN_PAGE) break;
  }
  if (!more) state.own.clear();
  for (const job of found) state.own.set(job.id, job);
  state.ownCursor = cursor;
  $("#own-more").hidden = !cursor;
  renderList("own");
}

async function loadInto(context, path) {
  const body = await api("GET", path);
  state[context].clear();
  for (const job of body.items || []) state[context].set(job.id, job);
  renderList(context);
}

export async function refreshLists() {
  await Promise.all([
    loadSummary(),
    loadOwn(),
    loadInto("open", "jobs/open?limit=50"),
    loadInto("assigned", "jobs/assigned?limit=50"),
  ]);
}

export function setMe(me) {
  state.me = me;
}

export function clearJobs() {
  for (const key of ["own", "open", "assigned", "bids", "panels", "results"]) state[key].clear();
  for (const context of Object.keys(lists)) lists[context]().replaceChildren();
}

function matchesFilters(job) {
  const { status, kind } = filters();
  return (!status || job.status === status) && (!kind || job.kind === kind);
}

// A live `job.updated` message (to the owner and the assignee).
export function jobUpdated(message) {
  const job = message.job;
  if (!job?.id) return;
  const mine = state.me && job.owner_id === state.me.id;
  const assignedToMe = state.me && job.assignee_id === state.me.id;
  if (mine) {
    const known = state.own.get(job.id);
    if (known || matchesFilters(job)) {
      const announceIt = known && known.status !== job.status;
      state.own.set(job.id, job);
      if (matchesFilters(job)) renderRow("own", job);
      else {
        state.own.delete(job.id);
        lists.own().querySelector(`[data-job-id="${CSS.escape(job.id)}"]`)?.remove();
      }
      if (announceIt) announce(`${job.name} is now ${job.status}.`);
    }
    loadSummary().catch(() => {});
  }
  if (assignedToMe) {
    const known = state.assigned.get(job.id);
    state.assigned.set(job.id, job);
    renderRow("assigned", job);
    if (!known) announce(`${job.name} is assigned to you.`);
    else if (known.status !== job.status) announce(`${job.name}, assigned to you, is now ${job.status}.`);
  }
  if (state.open.has(job.id) && (job.status !== "pending" || job.assignee_id)) {
    state.open.delete(job.id);
    lists.open().querySelector(`[data-job-id="${CSS.escape(job.id)}"]`)?.remove();
    emptyNote("open");
  }
}

// A live `bid.updated` message (to the job's owner, and to the bidder on accept or reject).
export function bidUpdated(message) {
  const bid = message.bid;
  if (!bid?.job_id) return;
  bidsOf(bid.job_id).set(bid.id, bid);
  const own = state.own.get(bid.job_id);
  if (own) {
    if (!state.panels.has(`own:${bid.job_id}`)) {
      announce(`A bid on ${own.name}: ${bid.sentiment ? sentimentText(bid.sentiment) : "new"}.`);
      return;
    }
    renderRow("own", own);
    announce(bid.sentiment ? `Bid on ${own.name} scored ${sentimentText(bid.sentiment)}.` : `New bid on ${own.name}.`);
  }
  const open = state.open.get(bid.job_id);
  if (open && state.panels.has(`open:${bid.job_id}`)) renderRow("open", open);
  if (bid.bidder_id === state.me?.id && bid.status !== "open") announce(`Your bid was ${bid.status}.`);
}

function setupCreate() {
  const form = $("#job-form");
  const kind = form.elements.kind;
  const syncInput = () => {
    const input = INPUTS[kind.value];
    $("#job-input-field").hidden = !input.label;
    if (input.label) $("#job-input-label").textContent = input.label;
  };
  kind.addEventListener("change", syncInput);
  syncInput();
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    const name = form.elements.name.value.trim();
    if (!name) return fieldError(form, "name", "Give the job a name.");
    const input = INPUTS[kind.value];
    const lines = form.elements.input.value.split("\n").map((line) => line.trim()).filter(Boolean);
    if (input.label && !lines.length) return fieldError(form, "params", `${input.label}: at least one.`);
    const body = { name, kind: kind.value, params: input.params(lines) };
    const description = form.elements.description.value.trim();
    if (description) body.description = description;
    if (form.elements.scheduled_time.value) {
      const when = new Date(form.elements.scheduled_time.value);
      if (Number.isNaN(when.getTime())) return fieldError(form, "scheduled_time", "Not a date and time.");
      body.scheduled_time = when.toISOString();
    }
    busy(form, true);
    try {
      const job = await api("POST", "jobs", body);
      form.reset();
      syncInput();
      $("#new-job").open = false;
      if (matchesFilters(job)) {
        state.own.set(job.id, job);
        renderRow("own", job);
      }
      loadSummary().catch(() => {});
      announce(`Job ${job.name} created.`);
      lists.own().querySelector(`[data-job-id="${CSS.escape(job.id)}"] button`)?.focus();
    } catch (error) {
      showProblem(form, error);
    } finally {
      busy(form, false);
    }
  });
}

export function setupJobs() {
  setupCreate();
  $("#job-filters").addEventListener("change", () => loadOwn().catch((error) => announce(error.message)));
  $("#job-filters").addEventListener("submit", (event) => event.preventDefault());
  $("#own-more").addEventListener("click", () => loadOwn(true).catch((error) => announce(error.message)));
}
