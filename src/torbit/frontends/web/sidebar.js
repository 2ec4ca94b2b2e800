// The sidebar: our rooms and private conversations, the other rooms to join, the join box,
// leaving a room; and the drawers the sidebar and member list become on a phone.

import { send, subscribe } from "./connection.js";
import { conversation, saveRooms, select } from "./conversations.js";
import { $, button, convButton, el, key } from "./dom.js";
import { api, enc, guard } from "./rest.js";
import { ROOM_PAGE, narrow, state } from "./state.js";

// the sidebar

function convItem(c) {
  const li = el("li", c === state.current ? "active" : "");
  const open = convButton(c.room ? "# " + c.name : c.name, () => select(c));
  open.dataset.conv = c.key;
  if (c.unread) open.append(el("span", "badge", String(c.unread)));
  li.append(open);
  if (c.room) li.append(button("×", "leave", guard(() => leaveRoom(c)), `Leave #${c.name}`));
  c.item = li;
  return li;
}

export function renderConvs() {
  const all = [...state.convs.values()];
  $("room-list").replaceChildren(...all.filter((c) => c.room).map(convItem));
  $("dm-list").replaceChildren(...all.filter((c) => !c.room).map(convItem));
  // on a phone the list is a closed drawer: its button carries the count
  const unread = all.reduce((n, c) => n + c.unread, 0);
  const toggle = $("toggle-rooms");
  toggle.querySelector(".badge")?.remove();
  if (unread) toggle.append(el("span", "badge", String(unread)));
  toggle.setAttribute("aria-label", unread ? `Rooms (${unread} unread)` : "Rooms");
  // and the tab: a person in another tab or window sees that something was said
  document.title = unread ? `(${unread}) torbit` : "torbit";
}

// The room list comes a page at a time (GET /rooms is paginated): the first page, then
// "More rooms" fetches the next one after the last seen.
export async function refreshRoomList() {
  showRooms(await api("GET", `/rooms?limit=${ROOM_PAGE}`), false);
}

async function moreRooms(after) {
  showRooms(await api("GET", `/rooms?limit=${ROOM_PAGE}&after=${enc(after)}`), true);
}

function showRooms(page, append) {
  const names = page.rooms.map((r) => {
    const option = el("option");
    option.value = r.name;
    return option;
  });
  const others = page.rooms.filter((r) => !state.convs.has("#" + key(r.name))).map((r) => {
    const li = el("li");
    const b = convButton("# " + r.name, () => joinRoom(r.name).catch(joinError));
    b.append(el("span", "count", `${r.members} member${r.members === 1 ? "" : "s"}`));
    li.append(b);
    return li;
  });
  const list = $("other-rooms");
  list.querySelector(".more")?.remove();
  if (page.next_after !== null) {
    const li = el("li", "more");
    li.append(button("Show more…", "conv", guard(() => moreRooms(page.next_after))));
    others.push(li);
  }
  if (append) {
    $("room-names").append(...names);
    list.append(...others);
  } else {
    $("room-names").replaceChildren(...names);
    list.replaceChildren(...others);
  }
}

// "ROOM [KEY]": a third word means a name typed with spaces, which no room has; joining
// the first word made a room nobody meant (telnet answers with its usage, as this does)
export async function joinWords(text) {
  const words = text.replace(/^#/, "").split(/ +/);
  if (words.length > 2) throw new Error("usage: /join ROOM [KEY]: a room name has no spaces");
  return words;
}

export async function joinRoom(name, joinKey) {  // joinKey: the room's join key, if it has one
  const body = joinKey ? { key: joinKey } : undefined;
  const room = await api("PUT", `/rooms/${enc(name)}/members/${enc(state.me)}`, body);
  joinError(null);
  const c = conversation("#" + key(room.name), room.name);
  subscribe(c);
  saveRooms();
  select(c);
  refreshRoomList().catch(() => {});
}

// left on our own WebSocket, so the server knows which connection asked: it tells this
// one "you left #room" (onFrame then drops the room) and our other sessions that it was
// done elsewhere. Offline, nothing is asked: a leave by REST raced the reconnection,
// whose subscribe could join the room again
async function leaveRoom(c) {
  if (!send({ type: "leave", room: c.name, ref: ++state.ref })) {
    throw new Error("not connected: try again in a moment");
  }
}

$("join-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const input = $("join-room");
  if (!input.value.trim()) return;
  try {
    const [name, joinKey] = await joinWords(input.value.trim());
    await joinRoom(name, joinKey);  // "room key": a room with a join key
    input.value = "";
  } catch (err) {
    joinError(err);
  }
});
$("join-room").addEventListener("input", () => joinError(null));

// a join refused is said under the join box, where the person is looking: on a phone the
// room list covers the conversation, so a line there went unseen
function joinError(err) {
  $("join-error").textContent = err ? err.message : "";
  $("join-error").hidden = !err;
}

// drawers on narrow screens; the member list also collapses on wide ones

export function closeDrawers() {
  $("sidebar").classList.remove("open");
  if (narrow.matches) $("members").classList.remove("open");
  $("scrim").hidden = true;
}
$("toggle-rooms").addEventListener("click", () => {
  $("members").classList.remove("open");
  $("scrim").hidden = !$("sidebar").classList.toggle("open");
});
$("toggle-members").addEventListener("click", () => {
  if (!narrow.matches) {
    $("chat").classList.toggle("no-members");
    return;
  }
  $("sidebar").classList.remove("open");
  $("scrim").hidden = !$("members").classList.toggle("open");
});
$("scrim").addEventListener("click", closeDrawers);
// Escape closes an open drawer, as it closes any overlay (a phone with a keyboard, a narrow
// window on a desktop)
document.addEventListener("keydown", (e) => {
  if (e.key === "Escape" && !$("scrim").hidden) closeDrawers();
});
