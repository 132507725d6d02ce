// Calls to the app's JSON API (same origin) with the signed-in user's bearer token.
// Errors are RFC 9457 problems: thrown as ApiError with the problem body.

const TOKEN_KEY = "weather-jobs.token";
const listeners = new Set();

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
    this.slug = String(problem.type || "").replace(/^.*\/problems\//, "");
  }
}

// The token lives in this tab's sessionStorage: closing the tab signs out.
export const session = {
  get token() {
    const raw = sessionStorage.getItem(TOKEN_KEY);
    if (!raw) return null;
    try {
      const value = JSON.parse(raw);
      if (value.expires_at && value.expires_at < Date.now()) return null;
      return value.access_token;
    } catch {
      return null;
    }
  },
  store(tokenBody) {
    const expires_at = Date.now() + (Number(tokenBody.expires_in) || 3600) * 1000;
    sessionStorage.setItem(TOKEN_KEY, JSON.stringify({ access_token: tokenBody.access_token, expires_at }));
  },
  clear() {
    sessionStorage.removeItem(TOKEN_KEY);
  },
};

// Called with the error when a signed-in call answers 401 (expired or revoked token).
export function onUnauthorized(listener) {
  listeners.add(listener);
}

// ``withCookies``: only POST auth/token sends cookies (the sign-in's binding cookie, which
// ties the one-time login code to this browser); every other call is bearer-only.
export async function api(method, path, body, { withCookies = false } = {}) {
  const headers = { Accept: "application/json, application/problem+json" };
  const token = session.token;
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(`/api/${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: withCookies ? "same-origin" : "omit",
      cache: "no-store",
    });
  } catch {
    throw new ApiError(0, { title: "The app cannot be reached. Check your connection and try again." });
  }
  if (response.status === 204) return null;
  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = { title: text.slice(0, 200) };
    }
  }
  if (!response.ok) {
    const problem = data && typeof data === "object" ? data : {};
    if (!problem.title) problem.title = `Request failed (${response.status})`;
    const error = new ApiError(response.status, problem);
    if (response.status === 401 && token) listeners.forEach((listener) => listener(error));
    throw error;
  }
  return data;
}

export const query = (values) => {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(values)) {
    if (value !== undefined && value !== null && value !== "") params.set(key, value);
  }
  const text = params.toString();
  return text ? `?${text}` : "";
};
