// Logging in, registering and logging out; starting the page with a token.

import { connect } from "./connection.js";
import { conversation, rooms, savedRoomsKey, select } from "./conversations.js";
import { $, key } from "./dom.js";
import { api, cancelInflight, request } from "./rest.js";
import { renderConvs } from "./sidebar.js";
import { TOKEN, state } from "./state.js";

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
  // the token gone when the revocation reaches them) and say where the session ended.
  // This tab stops first (its live connection, what it has in flight), then asks for the
  // revocation with the token it had: nothing of it reaches the server after that.
  const token = state.token;
  state.leaving = true;
  logout("");
  try {
    await request("DELETE", "/sessions/current", undefined, true, token);
  } catch { /* logged out anyway */ }
  state.leaving = false;
});

export function sessionEnded() {  // the server no longer knows our token
  if (state.leaving) return;  // this tab logged out: its DELETE found the token revoked
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

export function logout(message) {
  state.token = null;
  cancelInflight();
  localStorage.removeItem(TOKEN);
  const ws = state.ws;
  state.ws = null;
  state.ready = false;
  if (ws) ws.close();
  clearTimeout(state.timer);
  clearTimeout(state.watchdog);
  state.convs.clear();
  state.current = null;
  renderConvs();  // no count left on the rooms button or in the tab's title
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

export function boot() {  // with a saved token: straight in, or retry while the server is away
  start().catch(() => {
    if (!state.token) return;  // the token was refused: the login form is showing
    $("login").hidden = false;
    $("login-error").textContent = "Cannot reach the server, trying again…";
    state.timer = setTimeout(boot, 3000);
  });
}
