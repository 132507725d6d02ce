// Live updates over Azure Web PubSub with the official client (@azure/web-pubsub-client,
// vendored as one browser module). The URL comes from POST /api/realtime/negotiate; the
// client asks for a fresh one on every (re)connection, so an expired token is replaced.
// When the client gives up, we start it again after a growing delay. Never polls.
import { WebPubSubClient, WebPubSubJsonProtocol } from "./vendor/web-pubsub-client/web-pubsub-client.js";
import { api } from "./api.js";

const LABELS = { connecting: "Connecting…", live: "Live", reconnecting: "Reconnecting…", offline: "Offline" };
const MAX_DELAY_MS = 30000;

let client = null;
let generation = 0;
let attempts = 0;
let timer = null;
let handlers = {};
let dropped = false;
let resync = () => {};

function status(state) {
  const node = document.getElementById("live-status");
  node.dataset.state = state;
  node.textContent = LABELS[state];
}

function dispatch(data) {
  let message = data;
  if (typeof message === "string") {
    try {
      message = JSON.parse(message);
    } catch {
      return;
    }
  }
  if (message && typeof message === "object" && Object.hasOwn(handlers, message.event)) {
    handlers[message.event](message);
  }
}

function backoff() {
  // 1 s, 2 s, 4 s ... 30 s, with jitter so that many pages do not come back at once.
  const base = Math.min(MAX_DELAY_MS, 1000 * 2 ** Math.min(attempts, 5));
  attempts += 1;
  return base / 2 + Math.random() * (base / 2);
}

async function start(mine) {
  if (mine !== generation) return;
  status(attempts ? "reconnecting" : "connecting");
  const next = new WebPubSubClient(
    { getClientAccessUrl: async () => (await api("POST", "realtime/negotiate")).url },
    {
      protocol: WebPubSubJsonProtocol(),
      autoReconnect: true,
      autoRejoinGroups: false, // the groups come with the token, never joined by the page
      reconnectRetryOptions: { maxRetries: 3, retryDelayInMs: 1000, mode: "Exponential", maxRetryDelayInMs: 8000 },
    },
  );
  client = next;
  next.on("connected", () => {
    if (mine !== generation) return;
    attempts = 0;
    status("live");
    // Messages sent while the page was away are lost (the JSON subprotocol keeps none):
    // after a drop, read the state once again.
    if (dropped) resync();
    dropped = false;
  });
  next.on("disconnected", () => {
    if (mine !== generation) return;
    dropped = true;
    status("reconnecting");
  });
  next.on("stopped", () => mine === generation && retry(mine));
  next.on("group-message", (event) => mine === generation && dispatch(event.message.data));
  next.on("server-message", (event) => mine === generation && dispatch(event.message.data));
  try {
    await next.start();
  } catch {
    if (mine === generation) retry(mine);
  }
}

function retry(mine) {
  if (mine !== generation) return;
  dropped = true;
  status("reconnecting");
  clearTimeout(timer);
  timer = setTimeout(() => start(mine), backoff());
}

// `eventHandlers` by message event name; `onResync` after a reconnection.
export function connectLive(eventHandlers, onResync) {
  handlers = eventHandlers;
  resync = onResync;
  disconnectLive();
  attempts = 0;
  dropped = false;
  start(generation);
}

// Subscribing changes the groups server-side at once; nothing to do here. Logging out stops.
export function disconnectLive() {
  generation += 1;
  clearTimeout(timer);
  const old = client;
  client = null;
  if (old) old.stop();
  status("offline");
}
