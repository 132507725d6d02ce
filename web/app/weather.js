// Weather: one card per followed city, follow (with suggestions on a miss), unfollow, quota.
import { api, ApiError } from "./api.js";
import { $, announce, busy, clearErrors, el, fieldError, formatTime, showProblem } from "./ui.js";
import { trendChart } from "./chart.js";

const state = { items: new Map(), plan: null, limit: null, used: 0 };

const cityId = (city) => String(city?.id ?? city);
const cityName = (city) =>
  typeof city === "object" && city ? [city.name, city.country].filter(Boolean).join(", ") : String(city);

function units(weather) {
  return weather?.units === "imperial" ? { temp: "°F", wind: "mph" } : { temp: "°C", wind: "m/s" };
}

const number = (value, digits = 0) =>
  value === null || value === undefined || Number.isNaN(Number(value)) ? "—" : Number(value).toFixed(digits);

function readings(weather) {
  if (!weather) return [["Weather", "No data yet: it arrives with the next refresh."]];
  const u = units(weather);
  const rain = weather.precipitation_probability;
  return [
    ["Temperature", `${number(weather.temperature, 1)} ${u.temp}`, "temperature"],
    ["Feels like", `${number(weather.feels_like, 1)} ${u.temp}`, "feels_like"],
    ["Humidity", `${number(weather.humidity)} %`, "humidity"],
    ["Wind", `${number(weather.wind_speed, 1)} ${u.wind}`, "wind_speed"],
    ["Pressure", `${number(weather.pressure)} hPa`, "pressure"],
    ["Clouds", `${number(weather.clouds)} %`, "clouds"],
    ["Chance of rain", rain === null || rain === undefined ? "—" : `${number(rain)} %`, "precipitation_probability"],
    ["Conditions", weather.conditions || "—", "conditions"],
    ["Updated", formatTime(weather.observed_at), "observed_at"],
  ];
}

function card(item) {
  const id = cityId(item.city);
  const name = cityName(item.city);
  const titleId = `card-${id}-title`;
  const list = el("dl", { class: "readings" },
    readings(item.weather).map(([label, value, key]) => [
      el("dt", { text: label }),
      el("dd", { text: value, dataset: key ? { field: key } : {} }),
    ]));
  // The card's own reading is the newest observation of its trend.
  const observed = item.weather ? observe(item.observed, item.weather) : item.observed || [];
  const chart = trendChart(id, name, observed, item.weather?.forecast, units(item.weather).temp);
  if (item.recorded) chart.dataset.recorded = "true"; // the observations route has answered
  const stale = item.weather?.stale ? el("p", { class: "stale", text: "Provider unavailable: showing the last known values." }) : null;
  return el("li", { class: "card", dataset: { cityId: id }, "aria-labelledby": titleId },
    el("article", {},
      el("h3", { id: titleId, text: name }),
      list,
      chart,
      stale,
      el("button", {
        type: "button",
        class: "secondary unsubscribe",
        "aria-label": `Unfollow ${name}`,
        text: "Unfollow",
        onclick: () => unsubscribe(id, name),
      })));
}

function render() {
  const cards = $("#cards");
  const existing = new Map([...cards.children].map((node) => [node.dataset.cityId, node]));
  const wanted = [...state.items.values()];
  // Unchanged cards keep their nodes (and so the focus, if it is on one of them).
  const nodes = wanted.map((item) => {
    const node = existing.get(cityId(item.city));
    if (node && node.dataset.version === String(item.version)) return node;
    const fresh = card(item);
    fresh.dataset.version = String(item.version);
    return fresh;
  });
  const focusedCity = cards.contains(document.activeElement)
    ? document.activeElement.closest(".card")?.dataset.cityId
    : null;
  cards.replaceChildren(...nodes);
  if (focusedCity && !cards.contains(document.activeElement)) {
    // A live update replaced the card under the focus: the focus moves to its new button.
    nodes.find((node) => node.dataset.cityId === focusedCity)?.querySelector("button")?.focus();
  }
  $("#no-cards").hidden = wanted.length > 0;
  renderQuota();
}

function renderQuota() {
  const quota = $("#quota");
  if (state.limit === null) return (quota.textContent = "");
  const full = state.used >= state.limit;
  quota.textContent = `${state.used} / ${state.limit} cities on the ${state.plan} plan` +
    (full ? ": that is the most your plan allows. Unfollow a city to add another." : ".");
  quota.classList.toggle("full", full);
}

let version = 0;
function put(item) {
  state.items.set(cityId(item.city), { ...item, version: ++version });
}

// The last 24 hours the refreshes recorded for a city (pages oldest first), onto its card.
async function loadObservations(id) {
  const observed = [];
  let cursor = null;
  do {
    const query = `hours=24${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`;
    const page = await api("GET", `cities/${encodeURIComponent(id)}/observations?${query}`);
    observed.push(...(page.items || []));
    cursor = page.next_cursor;
  } while (cursor && observed.length < 2000);
  const item = state.items.get(id);
  if (!item) return;
  put({ ...item, observed, recorded: true });
  render();
}

function loadAllObservations() {
  // Each card draws its trend when its own answer arrives; a failure leaves it without.
  for (const id of state.items.keys()) loadObservations(id).catch(() => {});
}

// A refresh's weather is an observation too: the card's trend gains the point at once.
function observe(observed, weather) {
  const point = {
    time: weather.observed_at,
    temperature: weather.temperature,
    feels_like: weather.feels_like,
    humidity: weather.humidity,
    precipitation_probability: weather.precipitation_probability,
    conditions: weather.conditions,
  };
  const since = Date.now() - 24 * 3600 * 1000;
  const kept = (observed || []).filter((o) => o.time !== point.time && Date.parse(o.time) >= since);
  return [...kept, point].sort((a, b) => Date.parse(a.time) - Date.parse(b.time));
}

export async function loadSubscriptions() {
  const body = await api("GET", "subscriptions");
  state.items.clear();
  for (const item of body.items || []) put(item);
  state.plan = body.plan;
  state.limit = body.limit;
  state.used = body.used ?? state.items.size;
  render();
  loadAllObservations();
}

export function clearWeather() {
  state.items.clear();
  state.limit = null;
  $("#cards").replaceChildren();
}

// A live `weather.updated` message: replace that card's readings, keep the focus where it is.
export function weatherUpdated(message) {
  const id = String(message.city_id);
  const item = state.items.get(id);
  if (!item || !message.weather) return;
  // The reading the card showed until now stays in its trend, beside the new one.
  const observed = item.weather ? observe(item.observed, item.weather) : item.observed;
  put({ ...item, weather: message.weather, observed: observe(observed, message.weather) });
  render();
  announce(`${cityName(item.city)}: ${number(message.weather.temperature, 1)} ${units(message.weather).temp}, ${message.weather.conditions || "updated"}.`);
}

async function unsubscribe(id, name) {
  try {
    await api("DELETE", `subscriptions/${encodeURIComponent(id)}`);
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 404)) {
      announce(`Could not unfollow ${name}: ${error.message}`);
      return;
    }
  }
  state.items.delete(id);
  state.used = Math.max(0, state.used - 1);
  render();
  announce(`You no longer follow ${name}.`);
  $("#subscribe-city").focus();
}

function suggestionsOf(problem) {
  if (Array.isArray(problem.suggestions)) return problem.suggestions.map(String);
  const match = /Did you mean:\s*(.+?)\?\s*$/.exec(problem.detail || "");
  return match ? match[1].split(/\s*,\s*/).filter(Boolean) : [];
}

function showSuggestions(names) {
  const box = $("#suggestions");
  const list = $("ul", box);
  list.replaceChildren(...names.map((name) =>
    el("li", {}, el("button", {
      type: "button",
      class: "link",
      text: name,
      onclick: () => {
        $("#subscribe-city").value = name;
        box.hidden = true;
        $("#subscribe-form").requestSubmit();
      },
    }))));
  box.hidden = names.length === 0;
}

export function setupWeather() {
  const form = $("#subscribe-form");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    showSuggestions([]);
    const city = form.elements.city.value.trim();
    const country = form.elements.country.value.trim().toUpperCase();
    if (!city) return fieldError(form, "city", "Type the name of a city.");
    if (country && !/^[A-Z]{2}$/.test(country)) return fieldError(form, "country", "Two letters, like FR or US.");
    busy(form, true);
    try {
      const item = await api("POST", "subscriptions", country ? { city, country } : { city });
      put(item);
      state.used += 1;
      render();
      loadObservations(cityId(item.city)).catch(() => {});
      form.reset();
      announce(`You now follow ${cityName(item.city)}.`);
      form.elements.city.focus();
    } catch (error) {
      if (error instanceof ApiError && error.slug === "city-not-found") {
        showProblem(form, { problem: { ...error.problem, errors: [{ field: "city", message: error.problem.detail || "No such city." }] } });
        showSuggestions(suggestionsOf(error.problem));
      } else if (error instanceof ApiError && (error.slug === "already-subscribed" || error.slug === "quota-exceeded")) {
        showProblem(form, { problem: { ...error.problem, errors: [{ field: "city", message: error.problem.detail || error.problem.title }] } });
        if (error.slug === "quota-exceeded") loadSubscriptions().catch(() => {});
      } else {
        showProblem(form, error);
      }
    } finally {
      busy(form, false);
    }
  });
}
