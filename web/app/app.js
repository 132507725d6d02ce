// The page: which view shows, signing in and out, and the live connection's messages.
import { api, onUnauthorized, session } from "./api.js";
import { consumeRedirect, loadProviders, setupAuth } from "./auth.js";
import { loadUsers, setupAdmin } from "./admin.js";
import { bidUpdated, clearJobs, jobUpdated, refreshLists, setMe, setupJobs } from "./jobs.js";
import { connectLive, disconnectLive } from "./live.js";
import { $, $$, announce, banner } from "./ui.js";
import { clearWeather, loadSubscriptions, setupWeather, weatherUpdated } from "./weather.js";

const SIGNED_OUT = ["signin", "signup", "verify"];
let me = null;

function show(view, { focus = true } = {}) {
  for (const section of $$(".view")) section.hidden = section.id !== `view-${view}`;
  for (const tab of $$("#tabs button")) {
    if (tab.dataset.view === view) tab.setAttribute("aria-current", "page");
    else tab.removeAttribute("aria-current");
  }
  if (!SIGNED_OUT.includes(view)) sessionStorage.setItem("weather-jobs.view", view);
  if (focus) $(`#view-${view} h2`)?.focus();
  if (view === "jobs") refreshLists().catch(report);
  if (view === "admin") loadUsers().catch(report);
}

function report(error) {
  banner(error.message || String(error));
}

// `initial`: the page has just loaded; the focus stays at the top of the document.
async function signedIn({ initial = false } = {}) {
  banner("");
  me = await api("GET", "me");
  setMe(me);
  $("#me-email").textContent = me.email;
  $("#me-plan").textContent = me.plan;
  $("#session").hidden = false;
  $("#tabs").hidden = false;
  $('#tabs [data-view="admin"]').hidden = !me.is_admin;
  connectLive(
    { "weather.updated": weatherUpdated, "job.updated": jobUpdated, "bid.updated": bidUpdated },
    () => {
      loadSubscriptions().catch(report);
      if (!$("#view-jobs").hidden) refreshLists().catch(report);
    },
  );
  const remembered = sessionStorage.getItem("weather-jobs.view");
  const view = remembered === "jobs" || (remembered === "admin" && me.is_admin) ? remembered : "weather";
  show(view, { focus: !initial });
  await loadSubscriptions().catch(report);
  announce(`Signed in as ${me.email}.`);
}

function signedOut(message, { initial = false } = {}) {
  disconnectLive();
  session.clear();
  me = null;
  sessionStorage.removeItem("weather-jobs.view");
  clearWeather();
  clearJobs();
  $("#session").hidden = true;
  $("#tabs").hidden = true;
  show("signin", { focus: !initial });
  banner(message || "");
  loadProviders();
}

async function main() {
  setupAuth({ show, signedIn });
  setupWeather();
  setupJobs();
  setupAdmin();
  for (const link of $$("[data-go]")) link.addEventListener("click", () => show(link.dataset.go));
  for (const tab of $$("#tabs button")) tab.addEventListener("click", () => show(tab.dataset.view));
  $("#logout").addEventListener("click", () => {
    signedOut("");
    announce("You are logged out.");
  });
  onUnauthorized(() => signedOut("Your session has ended. Please log in again."));
  const fromRedirect = await consumeRedirect();
  if (fromRedirect || session.token) {
    try {
      await signedIn({ initial: !fromRedirect });
      return;
    } catch (error) {
      signedOut(error.status === 401 ? "Your session has ended. Please log in again." : error.message, { initial: true });
      return;
    }
  }
  signedOut($("#banner").textContent, { initial: true });
}

main();
