// What the page knows: who we are, the rooms we are in and their lines.
// No DOM here (render.js draws it) and no socket (connection.js).

export const BASE_TITLE = "Tertulia";
export const MAX_LINES = 1000;        // per room, kept when new lines arrive
export const MAX_FRAME = 16 * 1024;   // server's default --ws-read-limit
export const HISTORY = 50;            // input history entries
export const PAGE = 50;               // older messages asked for at a time
export const CATCH_UP_PAGE = 200;     // newer messages asked for at a time after a reconnect
export const PALETTE = 8;             // nick colour classes nick-c0..nick-c7
export const FETCH_TIMEOUT = 10000;   // ms allowed for /session, /login, /logout

export const state = {
  welcomed: false,   // a welcome arrived on the current socket
  inChat: false,     // the chat view has been shown at least once
  me: "",            // my nick, as the server knows it
  wantedNick: "",    // nick sent in the last hello
  current: "",       // the room shown (no '#'); "" when in no room
  rooms: {},         // joined rooms: name -> room (see newRoom)
  order: [],         // joined room names, in join order (the tab order)
  noRoom: newRoom(""), // what is shown while in no room at all
  // Private conversations, a tab each: folded nick -> conversation (see
  // newConversation), in the order opened; pm is the one shown ("" while a
  // room is shown: current stays the server's current room either way).
  privates: Object.create(null), // no prototype: a nick may be "__proto__"
  pmOrder: [],
  pm: "",
  seenPrivate: {},   // ids of private messages already shown
  // The user's settings as the server last sent them (a settings frame):
  // name -> value, e.g. timestamp -> "off" | "time" | "datetime".
  settings: {},
  unread: 0,         // mentions received while the page was hidden
  mentionRe: null,
  // logPinned: the log is kept at its newest line when its height changes
  // (see keys.js). The reader's scrolls set it, and so does the page when
  // it moves the reader itself (a saved place, the "new messages" divider).
  logPinned: true,
  // Web sign-in (a /weblogin code traded for an HttpOnly cookie): known once
  // GET /session answered; nicks are the key's registered nicks, oldest first.
  auth: { known: false, signedIn: false, nicks: [] },
  signedOut: false,  // the server ended this browser's session (/logout-all)
  signingIn: false   // a POST /login is in flight
};

export function newRoom(name) {
  return {
    name: name,
    lines: [],           // lines, oldest first (see render.js renderLine)
    ids: new Set(),      // ids of the message lines held
    members: [],         // { nick, via, away, registered }
    count: 0,
    // A big room's member list comes in pages: membersNext asks for the
    // page after those held ("" once the list is whole).
    membersNext: "",
    topic: "",
    unread: 0,           // messages that arrived while another tab was shown
    mention: false,      // one of them mentions me (any message, in a private conversation)
    mentions: 0,         // how many of them mention me
    awaitMembers: false, // the next members frame follows our join: no /who line
    loading: false,      // an older-history request is in flight
    noOlder: false,      // the server has no older messages
    // After a reconnect: messages newer than catchFrom are what we missed,
    // counted as unread like live ones; catching while pages of them are
    // still being asked for.
    rejoining: false,
    catchFrom: 0,
    catching: false,
    // restored: put back from the last visit (see app.js restoreTabs) and
    // not joined yet; its join's history is no catch-up.
    restored: false,
    // notJoined: a signed-in page's tab of a room the server did not put
    // us back in after a reconnect (see app.js onWelcome), until it does.
    notJoined: false,
    kind: "room",
    joinLine: null,      // our own latest join line: the join's history goes above it
    firstUnread: null,   // the first line counted unread since the tab was last shown
    marker: null,        // the line under the "new messages" divider
    anchor: null,        // where the reader was: { id, off } (see render.js saveAnchor)
    newBelow: 0          // messages arrived below while scrolled up
  };
}

// newConversation is a private conversation with nick: a room-like log
// that is never paged back nor caught up (the server keeps no private
// history for clients).
export function newConversation(nick) {
  const c = newRoom(nick);
  c.kind = "private";
  c.noOlder = true;
  return c;
}

export function isConversation(r) { return !!r && r.kind === "private"; }

export function conversationNamed(nick) {
  const key = fold(nick);
  return has(state.privates, key) ? state.privates[key] : null;
}

export function addConversation(nick) {
  const key = fold(String(nick || ""));
  if (!has(state.privates, key)) {
    state.privates[key] = newConversation(String(nick));
    state.pmOrder.push(key);
  }
  return state.privates[key];
}

export function removeConversation(key) {
  delete state.privates[key];
  state.pmOrder = state.pmOrder.filter(function (k) { return k !== key; });
  if (state.pm === key) state.pm = "";
}

// tabKey names a tab in local storage: "#room" or "@nick" ("" for none).
export function tabKey(r) {
  if (!r) r = view();
  if (isConversation(r)) return "@" + fold(r.name);
  return r.name ? "#" + r.name : "";
}

export function fold(s) { return String(s).toLowerCase(); }

export function has(obj, key) { return Object.prototype.hasOwnProperty.call(obj, key); }

export function roomLabel(name) { return "#" + String(name || ""); }

// Room names are case-insensitive and sent without '#'.
export function normRoom(name) { return fold(String(name || "").trim().replace(/^#/, "")); }

// roomNamed returns a joined room, or null: events for rooms we are not in
// (e.g. late ones after a /part) are dropped.
export function roomNamed(name) {
  name = normRoom(name);
  return has(state.rooms, name) ? state.rooms[name] : null;
}

// view is the room whose lines are on screen; lines for no particular
// room (notices, errors, private messages) go there too.
export function view() {
  if (state.pm && has(state.privates, state.pm)) return state.privates[state.pm];
  return has(state.rooms, state.current) ? state.rooms[state.current] : state.noRoom;
}

export function addRoom(name) {
  name = normRoom(name);
  if (!has(state.rooms, name)) {
    state.rooms[name] = newRoom(name);
    state.order.push(name);
  }
  return state.rooms[name];
}

export function removeRoom(name) {
  delete state.rooms[name];
  state.order = state.order.filter(function (n) { return n !== name; });
}

export function eachRoom(fn) { state.order.forEach(function (name) { fn(state.rooms[name]); }); }

export function sortMembers(list) {
  list.sort(function (a, b) {
    const x = fold(a.nick), y = fold(b.nick);
    return x < y ? -1 : x > y ? 1 : 0;
  });
}

export function memberFrom(m) {
  return {
    nick: String((m && m.nick) || ""),
    via: String((m && m.via) || ""),
    away: m && m.away ? String(m.away) : "",
    registered: !!(m && m.registered === true)
  };
}

export function isMe(nick) { return !!state.me && fold(nick) === fold(state.me); }

function escapeRegExp(s) { return s.replace(/[.*+?^${}()|[\]\\\-]/g, "\\$&"); }

// A nick is mentioned when it appears as a whole word: not glued to other
// letters, digits, '_' or '-' (which could be part of another nick).
export function buildMentionRe() {
  state.mentionRe = null;
  if (!state.me) return;
  try {
    state.mentionRe = new RegExp("(?<![\\p{L}\\p{N}_-])" + escapeRegExp(state.me) + "(?![\\p{L}\\p{N}_-])", "iu");
  } catch (e) {
    state.mentionRe = new RegExp("(^|[^A-Za-z0-9_-])" + escapeRegExp(state.me) + "(?![A-Za-z0-9_-])", "i");
  }
}

export function mentions(textValue) {
  return !!(state.mentionRe && typeof textValue === "string" && state.mentionRe.test(textValue));
}

export function parseTime(ts) {
  if (typeof ts === "string" && ts) {
    const d = new Date(ts);
    if (!isNaN(d.getTime())) return d;
  }
  return new Date();
}

export function messageLine(f, fromHistory) {
  const from = String(f.from || "");
  const txt = String(f.text || "");
  const self = isMe(from);
  return {
    kind: "msg", time: parseTime(f.ts), id: typeof f.id === "number" ? f.id : 0,
    room: normRoom(f.room), from: from, text: txt, action: !!f.action,
    mention: !self && mentions(txt), self: self, history: !!fromHistory
  };
}

function isMessage(line) { return line.kind === "msg" && line.id > 0; }

// Message lines are held in id order (see render.js placeMessage), so the
// first one is the oldest and the last one the newest.
export function oldestId(r) {
  for (let i = 0; i < r.lines.length; i++) if (isMessage(r.lines[i])) return r.lines[i].id;
  return 0;
}

export function newestId(r) {
  for (let i = r.lines.length - 1; i >= 0; i--) if (isMessage(r.lines[i])) return r.lines[i].id;
  return 0;
}

export function firstMessageIndex(r) {
  for (let i = 0; i < r.lines.length; i++) if (isMessage(r.lines[i])) return i;
  return -1;
}

export function isDuplicate(r, f) {
  return typeof f.id === "number" && f.id > 0 && r.ids.has(f.id);
}

// resetChatState forgets the chat of an identity that is going away.
export function resetChatState() {
  state.welcomed = false;
  state.me = "";
  state.wantedNick = "";
  state.mentionRe = null;
  state.current = "";
  state.rooms = {};
  state.order = [];
  state.noRoom = newRoom("");
  state.seenPrivate = {};
  state.unread = 0;
  state.privates = Object.create(null);
  state.pmOrder = [];
  state.pm = "";
}
