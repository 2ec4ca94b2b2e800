// The composer: a message to the open conversation, or a slash command typed there.

import { send } from "./connection.js";
import { reply } from "./conversations.js";
import { $ } from "./dom.js";
import { api, enc } from "./rest.js";
import { joinRoom, joinWords } from "./sidebar.js";
import { state } from "./state.js";

const COMPOSER_COMMANDS = "/me ACTION (in a room), /join ROOM [KEY], /away [MESSAGE], " +
  "/invites, /decline ROOM and /help; the buttons do the rest; start with // to send a " +
  "line that begins with /";
// the commands above that need words, told their usage without them (a Map: no "toString")
const USAGE = new Map([["me", "/me ACTION (in a room)"], ["join", "/join ROOM [KEY]"],
  ["decline", "/decline ROOM"]]);

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

export function composerError(text) {
  const e = $("composer-error");
  e.textContent = text;
  e.hidden = !text;
}
