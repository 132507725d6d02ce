// Admins: every user, newest first, with a plan switch.
import { api, query } from "./api.js";
import { $, announce, el, formatDate } from "./ui.js";

let cursor = null;

function userRow(user) {
  const select = el("select", { "aria-label": `Plan of ${user.email}`, dataset: { userId: user.id } },
    ["basic", "premium"].map((plan) => el("option", { value: plan, text: plan, selected: plan === user.plan })));
  select.addEventListener("change", async () => {
    const wanted = select.value;
    select.disabled = true;
    try {
      const updated = await api("PUT", `users/${encodeURIComponent(user.id)}/plan`, { plan: wanted });
      user.plan = updated.plan;
      announce(`${user.email} is now on the ${updated.plan} plan.`);
    } catch (error) {
      select.value = user.plan;
      announce(`Could not change the plan of ${user.email}: ${error.message}`);
    } finally {
      select.disabled = false;
      select.focus();
    }
  });
  return el("tr", { dataset: { userId: user.id } },
    el("th", { scope: "row" },
      el("span", { class: "user-email", text: user.email }),
      el("span", { class: "user-meta", text: `${user.email_verified ? "verified" : "not verified"} · since ${formatDate(user.created_at)}` })),
    el("td", {}, select));
}

export async function loadUsers(more = false) {
  const body = await api("GET", `users${query({ limit: 50, cursor: more ? cursor : null })}`);
  const rows = (body.items || []).map(userRow);
  const tbody = $("#users tbody");
  if (more) tbody.append(...rows);
  else tbody.replaceChildren(...rows);
  cursor = body.next_cursor;
  $("#users-more").hidden = !cursor;
}

export function setupAdmin() {
  $("#users-more").addEventListener("click", () => loadUsers(true).catch((error) => announce(error.message)));
}
