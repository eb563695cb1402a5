// HTTP calls to /api/v1 with the user's token, and errors shown in the API's own words.

const KEY = "solomon.token";

/** The token the user entered (kept in this browser only). */
export function token() {
  return localStorage.getItem(KEY) || "";
}

export function setToken(t) {
  if (t) localStorage.setItem(KEY, t);
  else localStorage.removeItem(KEY);
}

/** A failed call: the HTTP status and the API's `{error: {code, message}}`. */
export class ApiFailure extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }

  /** What to tell the user. */
  explain() {
    if (this.status === 401) {
      return "Not allowed: this needs the API token. Enter it in the \"API token\" field at the top (solomon prints it at start).";
    }
    return `${this.message} (${this.status} ${this.code})`;
  }
}

/** `fetch` against the API; resolves to the JSON body (or null for 204). */
export async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  const t = token();
  if (t) headers.Authorization = `Bearer ${t}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let resp;
  try {
    resp = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    throw new ApiFailure(0, "unreachable", `the daemon did not answer: ${e.message}`);
  }
  if (resp.status === 204) return null;
  const text = await resp.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    // Not JSON: reported below with the status.
  }
  if (!resp.ok) {
    const err = json && json.error ? json.error : { code: "http_error", message: text.slice(0, 200) };
    throw new ApiFailure(resp.status, err.code, err.message);
  }
  return json;
}

let flashTimer = 0;

/** Shows a message under the header for a while (errors stay until replaced). */
export function flash(text, kind = "error") {
  const el = document.getElementById("flash");
  el.textContent = text;
  el.className = `flash ${kind}`;
  el.hidden = false;
  clearTimeout(flashTimer);
  if (kind !== "error") flashTimer = setTimeout(() => (el.hidden = true), 4000);
}

/** Runs a user action, turning a failure into a visible message. True on success. */
export async function act(fn, done) {
  try {
    await fn();
    if (done) flash(done, "ok");
    return true;
  } catch (e) {
    flash(e instanceof ApiFailure ? e.explain() : String(e));
    return false;
  }
}
