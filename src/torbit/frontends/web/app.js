// torbit's web page: plain DOM, no framework, no build step; ES modules served as they are.
// It talks to the v1 API: REST for accounts, rooms, members and ignores, the WebSocket
// /api/v1/ws for live messages, sending and leaving rooms. User data only ever reaches the
// page through textContent, never as HTML; http(s) URLs in messages become links built from
// the parsed URL (rel="noopener noreferrer").
//
//   state.js          the state every module shares, and the page's constants
//   dom.js            small DOM helpers, links in message text, names' keys and colours
//   rest.js           the REST API with the page's token
//   conversations.js  rooms and private exchanges, and the open one as drawn
//   sidebar.js        our conversations, other rooms, joining and leaving; the drawers
//   members.js        the member list, ignores, our away state
//   connection.js     the live WebSocket and what each server frame does
//   commands.js       the composer and its slash commands
//   login.js          logging in, registering, logging out, starting with a token
//
// Each module wires its own part of the page as it loads; this one starts it.

import "./commands.js";
import "./members.js";
import "./sidebar.js";
import { boot, logout } from "./login.js";
import { state } from "./state.js";

if (state.token) boot(); else logout("");
