// The v1 REST API: requests with the page's bearer token, errors as the server words them.

import { systemLine } from "./conversations.js";
import { sessionEnded } from "./login.js";
import { API, state } from "./state.js";

// REST

// `auth`: with the page's token, or with `token` (the logout's own DELETE, the page's
// token forgotten first). Logged out, none is sent: asked with a token the server has
// revoked, it answered 401, an error in the browser's console.
export async function request(method, path, body, auth = true, token = state.token) {
  const init = { method, headers: {} };
  if (auth) {
    if (!token) throw new Error("not logged in");
    init.headers.Authorization = "Bearer " + token;
    init.signal = state.inflight.signal;
  }
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let r;
  try {
    r = await fetch(API + path, init);
  } catch (err) {
    if (err.name === "AbortError") throw err;  // logged out meanwhile: no one waits for it
    // the browser's "Failed to fetch" tells a person nothing
    throw new Error("cannot reach the server: try again in a moment");
  }
  if (r.status === 401 && auth) {
    sessionEnded();
    throw new Error("not logged in");
  }
  if (!r.ok) {
    let message = `${r.status} ${r.statusText}`;
    try { message = (await r.json()).error.message; } catch { /* not our JSON */ }
    throw new Error(message);
  }
  return r.status === 204 ? null : r.json();
}
export const api = (method, path, body) => request(method, path, body);

// Logging out: the requests still on their way with the token are cancelled. The reads the
// page makes once online (private messages, the room list, the away state, a room and its
// members after "you are in") reached the server after the logout's revocation on a loaded
// machine: 401s in the console (ci172), and each ran sessionEnded, late, once more.
export function cancelInflight() {
  state.inflight.abort();
  state.inflight = new AbortController();
}
export const enc = encodeURIComponent;

// an event handler whose failure is shown in the conversation instead of being lost
export function guard(fn) {
  return (...args) => fn(...args).catch((err) => {
    if (err.name !== "AbortError") systemLine(state.current, err.message, "error");
  });
}
