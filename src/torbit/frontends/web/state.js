// The page's state and settings: one object every module reads and changes (the token,
// who we are, the conversations, the live connection's state), and the page's constants.

export const API = "/api/v1";
export const TOKEN = "torbit.token";
export const BACKOFF_MIN = 500, BACKOFF_MAX = 10000;  // ms between reconnection attempts
export const SILENCE = 50000;  // the server pings after 20 s of silence: longer means a dead link
export const QUIET = 1500;  // ms after subscribing: messages then are history, not unread
export const ROOM_PAGE = 100;  // rooms per page of the room list
export const state = {
  token: localStorage.getItem(TOKEN),
  me: "",
  convs: new Map(),  // "#room-key" or "@user-key" -> conversation
  current: null,
  ignores: new Set(),  // user keys
  ws: null, ready: false, attempt: 0, timer: 0, watchdog: 0, leaving: false,
  restartLine: null,  // "the server is restarting" shown, until back online
  pending: new Map(), ref: 0,  // sends not yet stored: ref -> the composer's text
  inflight: new AbortController(),  // the requests made with the token, cancelled by logout
};
// a phone-size window: the sidebar and the member list are drawers that slide in
export const narrow = window.matchMedia("(max-width: 760px)");
