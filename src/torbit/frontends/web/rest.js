// The v1 REST API: requests with the page's bearer token, errors as the server words them.

import { systemLine } from "./conversations.js";
import { sessionEnded } from "./login.js";
import { API, state } from "./state.js";

// REST

export async function request(method, path, body, auth = true) {
  const init = { method, headers: {} };
  if (auth) init.headers.Authorization = "Bearer " + state.token;
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let r;
  try {
    r = await fetch(API + path, init);
  } catch {  // the browser's "Failed to fetch" tells a person nothing
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
export const enc = encodeURIComponent;

// an event handler whose failure is shown in the conversation instead of being lost
export function guard(fn) {
  return (...args) => fn(...args).catch((err) => systemLine(state.current, err.message, "error"));
}
