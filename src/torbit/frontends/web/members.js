// The member list (who is here, away or not; private messages and ignores from it) and
// our own away state.

import { addMessage, conversation, rooms, select, systemLine } from "./conversations.js";
import { $, button, el, hue, key } from "./dom.js";
import { api, enc, guard } from "./rest.js";
import { state } from "./state.js";

// the member list, with ignore/unignore and private messages

// away frames by user, numbered: a member list read before one came in must not undo it
let awayTick = 0;
const awayLive = new Map();  // user key -> [tick, away message or null]
// in a room too big for join and leave notices (the list says live: false), the list is
// read again this often while the page is shown, to follow who is online
const MEMBERS_REREAD_MS = 30000;
let rereadTimer = null;

export async function renderMembers() {
  const c = state.current;
  if (!c) return;
  clearTimeout(rereadTimer);
  rereadTimer = null;
  const since = awayTick;
  let names = [c.name];
  let online = null;  // who is in the room now (a room only)
  let away = new Map();  // who of them is away, with their message
  if (c.room) {
    $("members-title").textContent = "Members";
    const list = await api("GET", `/rooms/${enc(c.name)}/members`);
    if (state.current !== c) return;  // switched meanwhile
    names = list.members;
    online = new Set(list.online.map(key));
    away = new Map(Object.entries(list.away || {}).map(([n, a]) => [key(n), a]));
    for (const [k, [tick, a]] of awayLive) {  // changes told while the list was read
      if (tick <= since || !online.has(k)) continue;
      if (a) away.set(k, a); else away.delete(k);
    }
    names.sort((a, b) => online.has(key(b)) - online.has(key(a)));  // stable: online first
    clearTimeout(rereadTimer);  // one timer, however many reads overlapped
    rereadTimer = list.live === false ? setTimeout(reread, MEMBERS_REREAD_MS) : null;
  } else {
    $("members-title").textContent = "Private with";
  }
  $("member-list").replaceChildren(...names.map((n) => memberItem(n, online, away)));
}

function reread() {
  const again = () => { rereadTimer = setTimeout(reread, MEMBERS_REREAD_MS); };
  if (document.hidden) again();
  else renderMembers().catch(again);  // the server away: try again later
}

// here now, here but away (telnet /away, IRC AWAY: the message is the title), or not here
function showPresence(li, name, here, away) {
  li.classList.toggle("online", here && !away);
  li.classList.toggle("away", here && !!away);
  li.classList.toggle("offline", !here);
  li.title = !here ? `${name} is not here now`
    : away ? `${name} is away: ${away}` : `${name} is here now`;
}

// someone sharing a room went away or came back (an away frame)
export function awayFrame(f) {
  const k = key(f.user);
  awayTick += 1;
  awayLive.set(k, [awayTick, f.away || null]);
  if (k === key(state.me)) {  // we did, from this page or any other session of ours
    showAway(f.away);
    systemLine(state.current, f.text);
  }
  for (const li of $("member-list").querySelectorAll(".member.online, .member.away")) {
    if (li.dataset.user === k) showPresence(li, li.dataset.name, true, f.away);
  }
}

function memberItem(name, online, away) {
  const k = key(name);
  const li = el("li", "member");
  li.dataset.user = k;
  li.dataset.name = name;
  if (online) showPresence(li, name, online.has(k), away.get(k));
  const who = el("span", "who", name);
  who.style.setProperty("--hue", hue(name));
  li.append(who);
  if (k === key(state.me)) {
    li.append(el("span", "you", "you"));
    return li;
  }
  const ignored = state.ignores.has(k);
  if (ignored) li.classList.add("ignored");
  const actions = el("span", "member-actions");
  actions.append(
    button("Message", "small", () => select(conversation("@" + k, name)), `Private message to ${name}`),
    button(ignored ? "Unignore" : "Ignore", "small" + (ignored ? "" : " danger"),
           guard(() => setIgnored(name, !ignored))),
  );
  li.append(actions);
  return li;
}

async function setIgnored(name, ignore) {
  const k = key(name);
  await api(ignore ? "PUT" : "DELETE", `/me/ignores/${enc(name)}`);
  if (ignore) state.ignores.add(k); else state.ignores.delete(k);
  for (const c of state.convs.values()) {
    for (const li of c.list.querySelectorAll(".msg")) {
      if (li.dataset.sender === k) li.hidden = ignore;
    }
  }
  systemLine(state.current, ignore ? `you ignore ${name} now` : `you no longer ignore ${name}`);
  await renderMembers();
  if (!ignore) await reloadHistory();  // what they said meanwhile never reached the page
}

async function reloadHistory() {
  for (const c of rooms()) {
    const page = await api("GET", `/rooms/${enc(c.name)}/messages?limit=200`);
    for (const m of page.messages) addMessage(m, false);
  }
  const page = await api("GET", "/private-messages?limit=200");
  for (const m of page.messages) addMessage(m, false);
}

// away: the button beside our name (or /away in the composer); our state comes back in
// the away frame every session of ours gets, whichever door changed it
export function showAway(away) {
  state.away = away || null;
  const b = $("away-button");
  b.textContent = away ? "Back" : "Away";
  b.setAttribute("aria-pressed", String(!!away));
  b.title = away ? `you are away: ${away}` : "mark yourself away";
  $("me-name").classList.toggle("away", !!away);
}

$("away-button").addEventListener("click", async () => {
  try {
    if (state.away) {
      await api("DELETE", "/me/away");
      showAway(null);
      return;
    }
    const text = window.prompt("Away message (others see it beside your name):", "away");
    if (text === null) return;
    showAway((await api("PUT", "/me/away", { message: text })).away);
  } catch (err) {
    systemLine(state.current, err.message, "error");
  }
});
