// The live WebSocket /api/v1/ws: connecting and reconnecting, subscribing to our rooms,
// sending frames, and what each frame the server sends does to the page.

import { composerError } from "./commands.js";
import { addMessage, forgetRoom, loadTopic, rooms, setTopic, systemLine } from "./conversations.js";
import { $, key } from "./dom.js";
import { sessionEnded } from "./login.js";
import { awayFrame, renderMembers, showAway } from "./members.js";
import { api, enc } from "./rest.js";
import { refreshRoomList } from "./sidebar.js";
import { API, BACKOFF_MAX, BACKOFF_MIN, QUIET, SILENCE, state } from "./state.js";

// the live connection

function setStatus(s) {
  const e = $("status");
  e.dataset.state = s;
  e.textContent = { online: "online", connecting: "connecting…", offline: "reconnecting…" }[s];
}

export function send(frame) {
  if (!state.ready) return false;
  state.ws.send(JSON.stringify(frame));
  return true;
}

export function subscribe(c) {
  c.quietUntil = performance.now() + QUIET;
  send({ type: "subscribe", room: c.name });
}

export function connect() {
  clearTimeout(state.timer);
  if (state.ws) {  // never two connections at once
    state.ws.onclose = null;
    state.ws.close();
  }
  setStatus("connecting");
  const scheme = location.protocol === "https:" ? "wss://" : "ws://";
  const ws = new WebSocket(scheme + location.host + API + "/ws");
  state.ws = ws;
  ws.onopen = () => ws.send(JSON.stringify({ type: "auth", token: state.token }));
  ws.onmessage = (e) => {
    if (ws !== state.ws) return;
    alive();
    const frame = JSON.parse(e.data);
    if (!state.ready && frame.type !== "error") onReady();
    onFrame(frame);
  };
  ws.onclose = (e) => {
    if (ws !== state.ws) return;
    state.ws = null;
    state.ready = false;
    clearTimeout(state.watchdog);
    if (!state.token) return;
    // stopped without a drain (its notice says so), or refused by a node draining
    if (e.code === 1012) restarting("the server stopped: reconnecting…");
    setStatus("offline");
    const delay = Math.min(BACKOFF_MAX, BACKOFF_MIN * 2 ** state.attempt);
    state.attempt += 1;
    state.timer = setTimeout(connect, delay * (0.75 + Math.random() / 2));
  };
}

function alive() {
  clearTimeout(state.watchdog);
  state.watchdog = setTimeout(() => state.ws && state.ws.close(), SILENCE);
}

// The server is leaving (drained for a restart, or stopped): it tells every door to
// reconnect, which this page does by itself, so it says that, in the open conversation
// (or in no room, under "You are in no room"), until back online.
function restarting(text = "the server is restarting: reconnecting…") {
  if (!state.restartLine) state.restartLine = systemLine(state.current, text, "notice restart");
}

function onReady() {
  state.ready = true;
  state.attempt = 0;
  setStatus("online");
  if (state.restartLine) state.restartLine.remove();
  state.restartLine = null;
  for (const c of rooms()) {
    subscribe(c);
    if (c.lastId) fillGap(c).catch(() => {});  // missed while away, beyond the join history
  }
  fetchPrivate().catch(() => {});
  refreshRoomList().catch(() => {});
  api("GET", "/me/away").then((r) => showAway(r.away), () => {});  // set elsewhere?
}

async function fillGap(c) {
  let after = c.lastId;
  while (after !== null) {
    const page = await api("GET", `/rooms/${enc(c.name)}/messages?limit=500&after=${after}`);
    for (const m of page.messages) addMessage(m);
    after = page.next_after;
  }
}

async function fetchPrivate() {  // the first time the recent ones, then what was missed
  const privates = [...state.convs.values()].filter((c) => !c.room);
  const last = Math.max(0, ...privates.map((c) => c.lastId));
  const page = await api("GET", "/private-messages?limit=200" + (last ? `&after=${last}` : ""));
  for (const m of page.messages) addMessage(m, last > 0);
}

function onFrame(f) {
  if (f.type === "message") {
    addMessage(f.message);
  } else if (f.type === "notice") {
    if (f.kind === "restart") return restarting();  // the close (1012) follows
    const c = f.room ? state.convs.get("#" + f.room) : state.current;
    if (/^logged in as |^already subscribed/.test(f.text)) return;
    if (/^you are in #/.test(f.text)) {  // sent on every (re)subscription: show it once
      if (c && c.greeted) return;
      if (c) c.greeted = true;
    }
    const out = ["part", "kick", "ban"].includes(f.kind) && key(f.user) === key(state.me);
    if (out && f.kind === "part" && !c) return;  // a room already gone from the list
    if (c && (f.kind === "room_deleted" || out)) {  // it goes from the list
      forgetRoom(c);
      systemLine(state.current, f.text);
      return;
    }
    systemLine(c, f.text);
    if (c && f.kind === "topic") setTopic(c, f.detail, f.by, new Date().toISOString());
    if (c && f.kind === "joined") loadTopic(c).catch(() => {});  // changed while away?
    if (c && c === state.current &&
        /^you are in #| joined #| left #| went to another room/.test(f.text)) {
      renderMembers().catch(() => {});
    }
  } else if (f.type === "away") {
    awayFrame(f);
  } else if (f.type === "sent") {  // stored: only now the composer lets go of the text
    const text = state.pending.get(f.ref);
    state.pending.delete(f.ref);
    if (text !== undefined && $("text").value.trim() === text) $("text").value = "";
  } else if (f.type === "error") {
    if (f.code === "unauthenticated") sessionEnded();
    else if (state.pending.delete(f.ref)) composerError(f.message);  // the text stays
    else systemLine(state.current, f.message, "error");
  }
}
