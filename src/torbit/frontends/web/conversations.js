// Conversations (a room or a private exchange, each with its own message list) and how
// the open one is drawn: title, topic, messages, system lines.

import { $, clock, el, hue, key, linked, two } from "./dom.js";
import { renderMembers } from "./members.js";
import { api, enc, guard } from "./rest.js";
import { closeDrawers, refreshRoomList, renderConvs } from "./sidebar.js";
import { narrow, state } from "./state.js";

// conversations: a room or a private exchange with one user, each with its own message list

export function conversation(k, name) {
  let c = state.convs.get(k);
  if (!c) {
    c = { key: k, name, room: k[0] === "#", list: el("ol", "messages"), ids: new Set(),
          lastId: 0, unread: 0, quietUntil: 0, greeted: false, topic: null };
    state.convs.set(k, c);
  }
  return c;
}
export const rooms = () => [...state.convs.values()].filter((c) => c.room);
export const savedRoomsKey = () => "torbit.rooms." + key(state.me);
export function saveRooms() {
  localStorage.setItem(savedRoomsKey(), JSON.stringify(rooms().map((c) => c.name)));
}

export function select(c) {
  state.current = c;
  c.unread = 0;
  $("scroller").replaceChildren(c.list);
  $("conv-title").textContent = c.room ? "#" + c.name : c.name;
  $("conv-sub").textContent = c.room ? "" : "private";
  showTopic(c);
  showDelete(c);
  $("text").placeholder = c.room ? `Message #${c.name}` : `Private message to ${c.name}`;
  localStorage.setItem("torbit.current", c.key);
  scrollDown();
  renderConvs();
  // a room's list once subscribed (its "you are in #room" notice renders it): asked before,
  // a room not made yet (#lobby on a fresh server) answered 404 in the browser's console
  if (!c.room || c.greeted) renderMembers().catch(() => {});
  else $("member-list").replaceChildren();
  closeDrawers();
  // ready to type: after logging in, joining or switching rooms; not on a phone, where a
  // focused box pops the keyboard up over the messages the person came to read
  if (!narrow.matches) $("text").focus();
}

// in no room and no private conversation (left the last one): said, with how to join one;
// the drawer, on a phone, stays open on the join box
function nowhere() {
  state.current = null;
  $("scroller").replaceChildren(el("p", "notice",
    "You are in no room: join one with the box above the room list, or /join ROOM below."));
  $("conv-title").textContent = "no room";
  $("conv-sub").textContent = "";
  $("text").placeholder = "/join ROOM";
  $("member-list").replaceChildren();
  showTopic(null);
  showDelete(null);
  localStorage.removeItem("torbit.current");
}

// the room's topic, with who set it and when: always as text (textContent), never as HTML

export function setTopic(c, text, by, at) {  // at: an ISO time, or null
  c.topic = text ? { text, by: by || "", at: at ? new Date(at) : null } : null;
  c.topicTick = (c.topicTick || 0) + 1;
  if (c === state.current) showTopic(c);
}

function showTopic(c) {
  const t = c && c.room ? c.topic : null;
  $("topic").hidden = !t;
  $("topic-text").replaceChildren(t ? linked(t.text) : "");
  let credit = "";
  if (t && t.by) {
    credit = "set by " + t.by;
    const d = t.at;  // as telnet shows it: 2026-12-02 09:03:04, in the page's time zone
    if (d) credit += ` on ${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} ${clock(d)}`;
  }
  $("topic-credit").textContent = credit;
}

export async function loadTopic(c) {  // the room as stored now, read on every (re)subscription
  const tick = c.topicTick;
  const room = await api("GET", `/rooms/${enc(c.name)}`);
  c.owner = room.owner;
  if (c === state.current) showDelete(c);
  if (c.topicTick !== tick) return;  // a change told live meanwhile is newer
  setTopic(c, room.topic, room.topic_set_by, room.topic_set_at);
}

// the room's owner may delete it (server admins too, from the other doors); the server
// says no to anyone else whatever the page shows
function showDelete(c) {
  $("delete-room").hidden = !(c && c.room && c.owner && key(c.owner) === key(state.me));
}

$("delete-room").addEventListener("click", guard(async () => {
  const c = state.current;
  if (!c || !c.room) return;
  if (!confirm(`Delete #${c.name} and all its messages, for everyone in it?`)) return;
  await api("DELETE", `/rooms/${enc(c.name)}`);
  forgetRoom(c);  // the notice of its deletion comes too, to every page in it
}));

function scrollDown() {
  const s = $("scroller");
  s.scrollTop = s.scrollHeight;
}

export function addMessage(m, live = true) {
  const mine = key(m.sender) === key(state.me);
  const peer = mine ? m.recipient : m.sender;
  const c = m.room ? state.convs.get("#" + m.room) : conversation("@" + key(peer), peer);
  if (!c || c.ids.has(m.id)) return;  // a room we left, or seen before (history overlap)
  c.ids.add(m.id);
  const li = el("li", "msg" + (mine ? " mine" : "") + (m.kind === "action" ? " action" : ""));
  li.dataset.id = m.id;
  li.dataset.sender = key(m.sender);
  const sent = new Date(m.sent_at);
  const time = el("time", "ts", clock(sent));
  time.dateTime = m.sent_at;
  time.title = sent.toLocaleString();
  const who = el("span", "who", m.kind === "action" ? "* " + m.sender : m.sender);
  who.style.setProperty("--hue", hue(m.sender));
  li.append(time, who, linked(m.text));
  li.hidden = state.ignores.has(li.dataset.sender);

  const s = $("scroller");
  const atBottom = s.scrollHeight - s.scrollTop - s.clientHeight < 60;
  if (m.id > c.lastId) {
    c.list.append(li);
    c.lastId = m.id;
  } else {  // from a history fetch: put it in id order
    let next = c.list.firstElementChild;
    while (next && !(next.dataset.id && Number(next.dataset.id) > m.id)) {
      next = next.nextElementSibling;
    }
    c.list.insertBefore(li, next);
  }
  const counted = live && !mine && !li.hidden && performance.now() > c.quietUntil;
  if (c === state.current) {
    if (atBottom || mine) scrollDown();
    // shown, but in a tab or window out of sight: unread until the page is looked at again
    if (counted && document.hidden) {
      c.unread += 1;
      renderConvs();
    }
  } else if (counted) {
    c.unread += 1;
    renderConvs();
  } else if (!c.item) {  // a new private conversation
    renderConvs();
  }
}

// the page looked at again: what came meanwhile in the open conversation is read
document.addEventListener("visibilitychange", () => {
  const c = state.current;
  if (document.hidden || !c || !c.unread) return;
  c.unread = 0;
  renderConvs();
});

// a line in conversation c; with none (c null: a room we are not in) dropped while
// another is shown, said under "You are in no room" when none is (an invitation, a kick
// from the last room, a restart: they were lost there)
export function systemLine(c, text, cls = "notice") {
  if (!c && state.current) return null;
  const line = el(c ? "li" : "p", cls, text);
  (c ? c.list : $("scroller")).append(line);
  if (!c || c === state.current) scrollDown();
  return line;
}

// a command's answer: in the conversation it was typed in, else the one shown now
export const reply = (c, text) => systemLine(c || state.current, text);

export function forgetRoom(c) {  // left, or deleted: gone from the sidebar, the next one shown
  if (state.convs.get(c.key) !== c) return;
  state.convs.delete(c.key);
  saveRooms();
  if (state.current === c) {
    const next = rooms()[0] || [...state.convs.values()][0];
    if (next) select(next); else nowhere();
  }
  renderConvs();
  refreshRoomList().catch(() => {});
}
