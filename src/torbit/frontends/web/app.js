// torbit's web page: plain DOM, no framework, no build step. It talks to the v1 API: REST for
// accounts, rooms, members and ignores, the WebSocket /api/v1/ws for live messages and sending.
// User data only ever reaches the page through textContent, never as HTML; http(s) URLs in
// messages become links built from the parsed URL (rel="noopener noreferrer").
"use strict";

(() => {
  const API = "/api/v1";
  const TOKEN = "torbit.token";
  const BACKOFF_MIN = 500, BACKOFF_MAX = 10000;  // ms between reconnection attempts
  const SILENCE = 50000;  // the server pings after 20 s of silence: longer means a dead link
  const QUIET = 1500;  // ms after subscribing: messages then are history, not unread
  const ROOM_PAGE = 100;  // rooms per page of the room list
  const COMPOSER_COMMANDS = "/me ACTION (in a room), /join ROOM [KEY], /away [MESSAGE], " +
    "/invites, /decline ROOM and /help; the buttons do the rest; start with // to send a " +
    "line that begins with /";
  // the commands above that need words, told their usage without them (a Map: no "toString")
  const USAGE = new Map([["me", "/me ACTION (in a room)"], ["join", "/join ROOM [KEY]"],
    ["decline", "/decline ROOM"]]);

  const $ = (id) => document.getElementById(id);
  const state = {
    token: localStorage.getItem(TOKEN),
    me: "",
    convs: new Map(),  // "#room-key" or "@user-key" -> conversation
    current: null,
    ignores: new Set(),  // user keys
    ws: null, ready: false, attempt: 0, timer: 0, watchdog: 0, leaving: false,
    restartLine: null,  // "the server is restarting" shown, until back online
    pending: new Map(), ref: 0,  // sends not yet stored: ref -> the composer's text
  };

  // small helpers

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function button(text, cls, onclick, label) {
    const b = el("button", cls, text);
    b.type = "button";
    b.addEventListener("click", onclick);
    if (label) b.setAttribute("aria-label", label);
    return b;
  }
  function convButton(text, onclick) {  // the name in a span of its own: it is what shrinks
    const b = button("", "conv", onclick);
    b.append(el("span", "name", text));
    b.title = text;  // whole, where the name is cut
    return b;
  }
  const URLS = /\bhttps?:\/\/[^\s<>"]+/gi;
  function linked(text) {  // text with its http(s) URLs as links; everything else stays text
    const span = el("span", "text");
    let at = 0;
    for (const m of text.matchAll(URLS)) {
      let raw = m[0].replace(/[.,;:!?'"\]]+$/, "");  // sentence punctuation is not the URL
      while (raw.endsWith(")") && raw.split("(").length < raw.split(")").length) {
        raw = raw.slice(0, -1).replace(/[.,;:!?'"\]]+$/, "");  // "(see http://a.b/c)."
      }
      let url = null;
      try { url = new URL(raw); } catch (_) { /* not a URL after all: left as text */ }
      if (!url || (url.protocol !== "http:" && url.protocol !== "https:")) continue;
      span.append(text.slice(at, m.index));
      const a = el("a", "", raw);
      a.href = url.href;
      a.target = "_blank";
      a.rel = "noopener noreferrer";
      span.append(a);
      at = m.index + raw.length;
    }
    span.append(text.slice(at));
    return span;
  }
  const key = (name) => name.toLowerCase();
  const two = (n) => String(n).padStart(2, "0");
  const clock = (d) => `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
  function hue(name) {
    let h = 0;
    for (const ch of key(name)) h = (h * 31 + ch.codePointAt(0)) % 360;
    return String(h);
  }

  // REST

  async function request(method, path, body, auth = true) {
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
  const api = (method, path, body) => request(method, path, body);
  const enc = encodeURIComponent;

  // an event handler whose failure is shown in the conversation instead of being lost
  const guard = (fn) => (...args) =>
    fn(...args).catch((err) => systemLine(state.current, err.message, "error"));

  // conversations: a room or a private exchange with one user, each with its own message list

  function conversation(k, name) {
    let c = state.convs.get(k);
    if (!c) {
      c = { key: k, name, room: k[0] === "#", list: el("ol", "messages"), ids: new Set(),
            lastId: 0, unread: 0, quietUntil: 0, greeted: false, topic: null };
      state.convs.set(k, c);
    }
    return c;
  }
  const rooms = () => [...state.convs.values()].filter((c) => c.room);
  const savedRoomsKey = () => "torbit.rooms." + key(state.me);
  function saveRooms() {
    localStorage.setItem(savedRoomsKey(), JSON.stringify(rooms().map((c) => c.name)));
  }

  function select(c) {
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
    renderMembers().catch(() => {});  // a room not yet created: shown once subscribed
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

  function setTopic(c, text, by, at) {  // at: an ISO time, or null
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

  async function loadTopic(c) {  // the room as stored now, read on every (re)subscription
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

  function addMessage(m, live = true) {
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
    if (c === state.current) {
      if (atBottom || mine) scrollDown();
    } else if (live && !mine && !li.hidden && performance.now() > c.quietUntil) {
      c.unread += 1;
      renderConvs();
    } else if (!c.item) {  // a new private conversation
      renderConvs();
    }
  }

  // a line in conversation c; with none (c null: a room we are not in) dropped while
  // another is shown, said under "You are in no room" when none is (an invitation, a kick
  // from the last room, a restart: they were lost there)
  function systemLine(c, text, cls = "notice") {
    if (!c && state.current) return null;
    const line = el(c ? "li" : "p", cls, text);
    (c ? c.list : $("scroller")).append(line);
    if (!c || c === state.current) scrollDown();
    return line;
  }

  // a command's answer: in the conversation it was typed in, else the one shown now
  const reply = (c, text) => systemLine(c || state.current, text);

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

  function renderConvs() {
    const all = [...state.convs.values()];
    $("room-list").replaceChildren(...all.filter((c) => c.room).map(convItem));
    $("dm-list").replaceChildren(...all.filter((c) => !c.room).map(convItem));
    // on a phone the list is a closed drawer: its button carries the count
    const unread = all.reduce((n, c) => n + c.unread, 0);
    const toggle = $("toggle-rooms");
    toggle.querySelector(".badge")?.remove();
    if (unread) toggle.append(el("span", "badge", String(unread)));
    toggle.setAttribute("aria-label", unread ? `Rooms (${unread} unread)` : "Rooms");
  }

  // The room list comes a page at a time (GET /rooms is paginated): the first page, then
  // "More rooms" fetches the next one after the last seen.
  async function refreshRoomList() {
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
  async function joinWords(text) {
    const words = text.replace(/^#/, "").split(/ +/);
    if (words.length > 2) throw new Error("usage: /join ROOM [KEY]: a room name has no spaces");
    return words;
  }

  async function joinRoom(name, joinKey) {  // joinKey: the room's join key, if it has one
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
  // done elsewhere. Offline, nothing is asked: a leave by REST then raced the reconnection,
  // whose subscribe joined the room again
  async function leaveRoom(c) {
    if (!send({ type: "leave", room: c.name, ref: ++state.ref })) {
      throw new Error("not connected: try again in a moment");
    }
  }

  function forgetRoom(c) {  // left, or deleted: gone from the sidebar, the next one shown
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

  // the member list, with ignore/unignore and private messages

  // away frames by user, numbered: a member list read before one came in must not undo it
  let awayTick = 0;
  const awayLive = new Map();  // user key -> [tick, away message or null]
  // in a room too big for join and leave notices (the list says live: false), the list is
  // read again this often while the page is shown, to follow who is online
  const MEMBERS_REREAD_MS = 30000;
  let rereadTimer = null;

  async function renderMembers() {
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

  // the live connection

  function setStatus(s) {
    const e = $("status");
    e.dataset.state = s;
    e.textContent = { online: "online", connecting: "connecting…", offline: "reconnecting…" }[s];
  }

  function send(frame) {
    if (!state.ready) return false;
    state.ws.send(JSON.stringify(frame));
    return true;
  }

  function subscribe(c) {
    c.quietUntil = performance.now() + QUIET;
    send({ type: "subscribe", room: c.name });
  }

  function connect() {
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
    } else if (f.type === "away") {  // someone sharing a room went away or came back
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

  // composer

  $("composer").addEventListener("submit", (e) => {
    e.preventDefault();
    const input = $("text");
    const text = input.value.trim();
    const c = state.current;
    if (!text) return;
    if (!c && !/^\/[^/]/.test(text)) {  // only a command has somewhere to go
      composerError("you are in no room: join one first (/join ROOM)");
      return;
    }
    const ref = ++state.ref;
    let frame = !c ? null : c.room ? { type: "send", room: c.name, text, ref }
      : { type: "private", to: c.name, text, ref };
    if (text.startsWith("//")) {
      frame.text = text.slice(1);
    } else if (text.startsWith("/")) {  // as on telnet and IRC; never sent as a message
      // words are split at ASCII spaces only, as on telnet and IRC: a no-break space is
      // part of what was typed (\s would make "/join a\u00a0b" room a with key b)
      const [, name, rest] = text.match(/^\/([^ ]*) *(.*)$/);
      const command = name.toLowerCase();
      if (command === "me" && rest && c && c.room) {
        frame = { type: "send", room: c.name, text: rest, kind: "action", ref };
      } else if (command === "join" && rest) {
        joinWords(rest).then(([room, joinKey]) => joinRoom(room, joinKey))
          .then(() => { input.value = ""; }, (err) => composerError(err.message));
        return;
      } else if (command === "away") {  // the answer is the away frame every session gets
        if (send({ type: "away", text: rest || null, ref })) input.value = "";
        else composerError("not connected: try again in a moment");
        return;
      } else if (command === "invites") {  // ours, newest first, as telnet's /invites
        api("GET", "/me/invites").then((r) => {
          const shown = r.invitations.map((i) => `#${i.room}` + (i.by ? ` from ${i.by}` : ""));
          reply(c, shown.length ? `your invitations, newest first: ${shown.join(", ")}`
            : "you have no invitations");
          input.value = "";
        }, (err) => composerError(err.message));
        return;
      } else if (command === "decline" && rest) {
        const room = rest.split(/ +/)[0].replace(/^#/, "");
        api("DELETE", `/me/invites/${enc(room)}`).then(() => {
          reply(c, `you declined the invitation to #${room}`);
          input.value = "";
        }, (err) => composerError(err.message));
        return;
      } else if (command === "help") {  // asked for, so shown as a notice, not an error
        reply(c, `commands here: ${COMPOSER_COMMANDS}`);
        input.value = "";
        composerError("");
        return;
      } else if (USAGE.has(command)) {
        composerError(`usage: ${USAGE.get(command)}`);
        return;
      } else {
        composerError(`/${name.slice(0, 32)} is not a command here; the composer knows ` +
          COMPOSER_COMMANDS);
        return;
      }
    }
    if (send(frame)) {
      state.pending.set(ref, text);
      composerError("");
    } else {
      composerError("not connected: your message was not sent, try again in a moment");
    }
  });
  $("text").addEventListener("input", () => composerError(""));

  // away: the button beside our name (or /away in the composer); our state comes back in
  // the away frame every session of ours gets, whichever door changed it
  function showAway(away) {
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

  function composerError(text) {
    const e = $("composer-error");
    e.textContent = text;
    e.hidden = !text;
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

  const narrow = window.matchMedia("(max-width: 760px)");
  function closeDrawers() {
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

  // logging in and out

  // Logging in and registering share the form; the password field says which it is for
  // (autocomplete), so a password manager offers the saved password to log in, and to
  // register offers to make a new one and save it. Register on a form not filled in asks
  // for the name and new password first; Enter then registers, the Log in button logs in.
  // Otherwise Enter logs in (a name found taken: the person may have an account after all).
  let enterRegisters = false;  // asked for a name and new password: Enter registers
  function setRegistering(on, asked = false) {
    enterRegisters = asked;
    $("login-password").autocomplete = on ? "new-password" : "current-password";
    $("register-button").classList.toggle("primary", on);
    $("login-button").classList.toggle("primary", !on);
  }

  async function credentials(register) {
    const name = $("login-name").value.trim();
    const password = $("login-password").value;
    $("login-error").textContent = "";
    if (!name || !password) {
      $("login-error").textContent = register
        ? "Pick a name and a new password, then press Enter or Register."
        : "Enter a name and a password.";
      $(name ? "login-password" : "login-name").focus();
      return;
    }
    clearTimeout(state.timer);
    try {
      if (register) await request("POST", "/users", { name, password }, false);
      const session = await request("POST", "/sessions", { name, password }, false);
      state.token = session.token;
      localStorage.setItem(TOKEN, session.token);
      $("login-password").value = "";
      await start();
    } catch (err) {
      $("login-error").textContent = err.message;
    }
  }
  $("login-form").addEventListener("submit", (e) => {
    e.preventDefault();
    setRegistering(false);
    credentials(false);
  });
  $("login-form").addEventListener("keydown", (e) => {
    if (e.key !== "Enter" || !enterRegisters || e.target.tagName !== "INPUT") return;
    e.preventDefault();  // not the form's submission: that is the Log in button's
    credentials(true);
  });

  // registration closed (chat.registration): the form offers no Register button and says
  // why, as the telnet greeting does; the server refuses a registration all the same (403)
  async function showRegistration() {
    let open = true;  // the server away: offered, and its answer says why not
    try {
      open = (await request("GET", "/server", undefined, false)).registration !== "closed";
    } catch { /* as open */ }
    $("register-button").hidden = !open;
    $("login-intro").textContent = open ? "Log in, or pick a name and password to register."
      : "Log in with your name and password. Registration is closed on this server: " +
        "ask an administrator for an account.";
  }
  $("register-button").addEventListener("click", () => {
    setRegistering(true, enterRegisters || !$("login-name").value.trim() ||
                         !$("login-password").value);
    credentials(true);
  });

  $("logout").addEventListener("click", async () => {
    // forgotten here first: the other tabs of this browser hear it (a storage event, or
    // the token gone when the revocation reaches them) and say where the session ended
    state.leaving = true;
    localStorage.removeItem(TOKEN);
    try { await api("DELETE", "/sessions/current"); } catch { /* logged out anyway */ }
    state.leaving = false;
    logout("");
  });

  function sessionEnded() {  // the server no longer knows our token
    if (state.leaving) return;  // this tab is logging out: logout("") follows
    const elsewhere = state.token !== null && localStorage.getItem(TOKEN) !== state.token;
    logout(elsewhere ? "You logged out in another tab or window."
      : "Your session has ended: log in again.");
  }
  window.addEventListener("storage", (e) => {
    if (e.key !== TOKEN) return;
    if (e.newValue === null && state.token) sessionEnded();
    // logged in in another tab: this one, on its login form, follows (it stayed asking for
    // a password, and a second login made a second token)
    else if (e.newValue && !state.token && !$("login").hidden) {
      state.token = e.newValue;
      boot();
    }
  });

  function logout(message) {
    state.token = null;
    localStorage.removeItem(TOKEN);
    const ws = state.ws;
    state.ws = null;
    state.ready = false;
    if (ws) ws.close();
    clearTimeout(state.timer);
    clearTimeout(state.watchdog);
    state.convs.clear();
    state.current = null;
    state.restartLine = null;
    $("chat").hidden = true;
    $("login").hidden = false;
    $("login-error").textContent = message;
    setRegistering(false);
    $("login-name").focus();
    showRegistration();
  }

  async function start() {
    const me = await api("GET", "/me");
    state.me = me.name;
    state.ignores = new Set((await api("GET", "/me/ignores")).users);
    $("me-name").textContent = me.name;
    $("login").hidden = true;
    $("chat").hidden = false;
    let saved = null;
    try { saved = JSON.parse(localStorage.getItem(savedRoomsKey())); } catch { /* reset */ }
    if (!Array.isArray(saved)) saved = await memberships();  // first visit from this browser
    if (!saved.length) saved = [me.default_room];  // the server's chat.default_room
    for (const name of saved) conversation("#" + key(name), name);
    // last time's conversation in this browser, else the room last joined on any door (a
    // first visit here: telnet brings a returning user back there too), else the server's
    // default room, else any
    const current = state.convs.get(localStorage.getItem("torbit.current"))
      || (me.last_room && state.convs.get("#" + key(me.last_room)))
      || state.convs.get("#" + key(me.default_room)) || rooms()[0];
    select(current);
    connect();  // once online, subscribing to each room makes us a member again if need be
  }

  async function memberships() {
    return (await api("GET", "/me/rooms")).rooms.map((r) => r.name);
  }

  function boot() {  // with a saved token: straight in, or retry while the server is away
    start().catch(() => {
      if (!state.token) return;  // the token was refused: the login form is showing
      $("login").hidden = false;
      $("login-error").textContent = "Cannot reach the server, trying again…";
      state.timer = setTimeout(boot, 3000);
    });
  }

  if (state.token) boot(); else logout("");
})();
