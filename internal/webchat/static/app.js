// Tertulia browser client. Speaks the JSON frames of docs/protocol.md.
//
// The page is split by concern: state.js (what the page knows), render.js
// (drawing it; every user string goes in as text, never HTML),
// connection.js (the socket, heartbeat and reconnecting), composer.js
// (typing and the outbox of unconfirmed lines), signin.js (the sign-in
// card), links.js (clickable addresses), persist.js (what is remembered
// across reloads), notify.js (title, favicon, desktop notifications),
// read.js (read markers shared with the key's other devices). This
// module handles the server's frames and ties them together.

import {
  PAGE, CATCH_UP_PAGE, state, has, fold, normRoom, roomNamed, view, addRoom, removeRoom, eachRoom,
  sortMembers, memberFrom, isMe, buildMentionRe, parseTime, messageLine, isDuplicate,
  firstMessageIndex, oldestId, newestId, resetChatState, addConversation, conversationNamed,
  removeConversation, isConversation, tabKey
} from "./state.js";
import {
  el, bindElements, addLine, placeMessage, insertLines, systemLine, renderRoom, renderStatus,
  renderMembers, renderTabs, updateOlder, countUnread, showConnection, saveAnchor, restoreAnchor,
  setFlag, updateJump, scrollToBottom
} from "./render.js";
import * as conn from "./connection.js";
import {
  initComposer, setComposerHooks, confirm, refuse, connectionLost, resendPending, forgetOutbox,
  setMessageLimit
} from "./composer.js";
import {
  initSignin, setSigninHooks, showLogin, loginErrorEl, focusLogin, renderLogin, setAuth,
  checkSession, backToSignIn, usesSessionJoin
} from "./signin.js";
import * as persist from "./persist.js";
import { initNotify, callAttention, seen, setTitle } from "./notify.js";
import { initRead, readSoon, onRead } from "./read.js";

// A reconnect refused because our nick is in use most likely meets the
// connection that just died, which the server drops within a minute (two
// of its 30 s pings): keep trying that long before asking for a nick.
const NICK_HELD_MS = 90000;

// A nick refused as in use while rejoining after a reload is most likely
// still held by the page that was just closed: ask again for this long.
const RELOAD_NICK_MS = 5000;

let outageSince = 0; // when the connection was lost; 0 while it is not
let restored = false; // the tabs of the last visit were put back
let autoJoinUntil = 0;
let draftTimer = null;

// ---- connection ----------------------------------------------------------

// join connects as nick ("" lets a signed-in browser get its key's nick).
function join(nick) {
  restoreTabs();
  state.wantedNick = nick;
  conn.resetBackoff();
  conn.open();
}

// hello asks for wantedNick; a signed-in browser may send none and gets
// its key's first registered nick.
function hello() {
  const f = { type: "hello" };
  if (state.wantedNick) f.nick = state.wantedNick;
  conn.send(f);
}

function closeReason(info) {
  if (info.reason) return info.reason;
  if (info.dead) return "no answer from the server";
  if (info.timedOut) return "the server could not be reached";
  if (info.code === 1006 || info.code === 0) return "connection lost";
  return "closed (code " + info.code + ")";
}

// onClose decides what follows a lost socket: reconnecting by itself,
// unless the server ended the session on purpose (quit, kicked, banned,
// signed out: a normal closure with a reason).
function onClose(info) {
  const wasWelcomed = state.welcomed;
  state.welcomed = false;
  eachRoom(function (r) { r.loading = false; r.catching = false; });
  let reason = closeReason(info);
  if (!state.inChat) {
    el.join.disabled = false;
    el.sessionJoin.disabled = false;
    // Keep an error the server sent just before closing (e.g. "banned").
    const errEl = loginErrorEl();
    if (!errEl.textContent) {
      errEl.textContent = (info.code === 1006 || info.timedOut) && !info.reason
        ? "could not reach the server; try again"
        : "connection closed: " + reason;
    }
    return { reconnect: false, why: "" };
  }
  connectionLost();
  if (wasWelcomed && info.code === 1000 && info.reason) {
    if (info.reason === "signed out") {
      // /logout-all in an SSH session ended this browser's sign-in.
      state.signedOut = true;
      setAuth(false, []);
      reason = "signed out (this browser's sign-in was ended); sign in again with a new code from /weblogin";
    }
    systemLine("disconnect", { text: "disconnected: " + reason });
    if (state.signedOut) {
      persist.forgetChat();
    } else {
      persist.set({ autoJoin: false }); // quit, kicked or banned: no rejoining by itself
    }
    el.reconnect.focus();
    return { reconnect: false, why: "disconnected: " + reason };
  }
  if (wasWelcomed || !outageSince) {
    outageSince = Date.now();
    systemLine("disconnect", { text: "disconnected: " + reason + "; reconnecting by itself" });
  }
  return { reconnect: true, why: "disconnected: " + reason };
}

function onReconnectClick() {
  if (state.signedOut) {
    backToSignIn();
    return;
  }
  const st = conn.getStatus().state;
  if (st === "waiting") {
    conn.retryNow();
    return;
  }
  if (st !== "offline") return;
  if (!state.auth.signedIn) {
    join(state.me || state.wantedNick);
    return;
  }
  // The sign-in may have ended (expired, /logout-all) while we were away.
  checkSession(function (err) {
    if (!err && !state.auth.signedIn) {
      backToSignIn();
      return;
    }
    join(state.me);
  });
}

// resetChat forgets the chat of the identity that is going away (closing
// its socket), so the next one starts afresh.
function resetChat() {
  conn.stop(1000, "signed out");
  resetChatState();
  forgetOutbox();
  persist.forgetChat();
  outageSince = 0;
  setTitle();
  el.messages.textContent = "";
  el.memberList.textContent = "";
  el.rooms.textContent = "";
  el.nick.value = "";
}

function showChat() {
  state.inChat = true;
  el.loginView.hidden = true;
  el.chatView.hidden = false;
  el.loginError.textContent = "";
  el.sessionError.textContent = "";
  renderLogin();
  showConnection(conn.getStatus());
  renderRoom();
  el.input.focus();
}

// switchTo shows a joined room; tell also makes it the server's current
// room, so that commands without a room apply there.
function switchTo(name, tell) {
  const r = roomNamed(name);
  if (!r) return;
  showTab(r);
  if (tell && !r.notJoined) conn.send({ type: "switch", room: r.name });
}

// showTab shows a room or a private conversation. The tab left keeps its
// draft and where it was scrolled to; the tab shown gets its own back, and
// a "new messages" divider above what arrived while it was not shown.
function showTab(r) {
  const changed = r !== view();
  if (changed) leaveTab();
  if (isConversation(r)) {
    state.pm = fold(r.name);
  } else {
    state.pm = "";
    state.current = r.name;
  }
  if (r.marker) r.marker.marker = false;
  r.marker = null;
  if (r.unread && r.firstUnread && r.lines.indexOf(r.firstUnread) >= 0) {
    r.marker = r.firstUnread;
    r.marker.marker = true;
  }
  r.firstUnread = null;
  r.unread = 0;
  r.mention = false;
  r.mentions = 0;
  renderRoom();
  if (changed) setInput(persist.draft(tabKey(r)));
  persistTabs();
  readSoon();
}

// leaveTab keeps the draft and the place of the tab shown.
function leaveTab() {
  const r = view();
  const key = tabKey(r);
  clearTimeout(draftTimer);
  persist.setDraft(key, el.input.value);
  saveAnchor(r);
  persist.setAnchor(key, r.anchor);
}

function setInput(v) {
  if (el.input.value === v) return;
  el.input.value = v;
  el.input.dispatchEvent(new Event("input")); // e.g. for a box that grows with its text
}

function saveDraftSoon() {
  clearTimeout(draftTimer);
  draftTimer = setTimeout(function () { persist.setDraft(tabKey(), el.input.value); }, 300);
}

function persistTabs() {
  if (!state.inChat) return;
  persist.set({
    nick: state.me || String(persist.get("nick") || ""),
    // A room not joined again is not put back after a reload.
    rooms: state.order.filter(function (name) { return !state.rooms[name].notJoined; }),
    privates: state.pmOrder.map(function (k) { return state.privates[k].name; }),
    tab: tabKey()
  });
}

// restoreTabs puts back, before the first welcome of this page, the rooms
// and private tabs of the last visit: the rooms are joined again like after
// a reconnect (see onWelcome), in the same order.
function restoreTabs() {
  if (restored) return;
  restored = true;
  if (state.order.length || state.pmOrder.length) return;
  persist.strings("rooms").forEach(function (name) { if (normRoom(name)) addRoom(name).restored = true; });
  persist.strings("privates").forEach(function (nick) { addConversation(nick); });
  const tab = String(persist.get("tab") || "");
  if (tab.charAt(0) === "#" && roomNamed(tab.slice(1))) state.current = normRoom(tab.slice(1));
  if (tab.charAt(0) === "@" && conversationNamed(tab.slice(1))) state.pm = fold(tab.slice(1));
  eachRoom(function (r) { r.anchor = persist.anchor(tabKey(r)); });
}

// resume rejoins, when the page is opened again, as the nick of the last
// visit, unless that chat ended on purpose (quit, kicked, signed out).
// Returns whether it did.
function resume() {
  const nick = String(persist.get("nick") || "");
  if (persist.get("autoJoin") !== true || state.inChat) return false;
  if (usesSessionJoin()) {
    const mine = state.auth.nicks.filter(function (n) { return fold(n) === fold(nick); });
    el.sessionJoin.disabled = true;
    autoJoinUntil = Date.now() + RELOAD_NICK_MS;
    join(mine.length ? mine[0] : "");
    return true;
  }
  if (!nick) return false;
  el.nick.value = nick;
  el.join.disabled = true;
  autoJoinUntil = Date.now() + RELOAD_NICK_MS;
  join(nick);
  return true;
}

// ---- private conversations -----------------------------------------------

function openConversation(nick, show) {
  const existed = !!conversationNamed(nick);
  const c = addConversation(nick);
  if (show) {
    showTab(c);
  } else if (!existed) {
    renderTabs();
    persistTabs();
  }
  return c;
}

function closeConversation(key) {
  if (!has(state.privates, key)) return;
  const c = state.privates[key];
  const shown = c === view();
  if (shown) leaveTab();
  persist.setDraft(tabKey(c), "");
  persist.setAnchor(tabKey(c), null);
  removeConversation(key);
  if (shown) {
    showTab(view());
  } else {
    renderTabs();
    persistTabs();
  }
}

// renameConversation follows a person who changed nick.
function renameConversation(oldNick, newNick) {
  const c = conversationNamed(oldNick);
  if (!c || conversationNamed(newNick)) return;
  const oldKey = fold(oldNick), newKey = fold(newNick);
  delete state.privates[oldKey];
  c.name = newNick;
  state.privates[newKey] = c;
  state.pmOrder = state.pmOrder.map(function (k) { return k === oldKey ? newKey : k; });
  if (state.pm === oldKey) state.pm = newKey;
  renderTabs();
  if (c === view()) renderStatus();
  persistTabs();
}

// privateTo is the nick a message typed now goes to privately, or "".
function privateTo() {
  const r = view();
  return isConversation(r) ? r.name : "";
}

// ---- frames --------------------------------------------------------------

function onFrame(f) {
  if (!state.welcomed) {
    if (f.type === "welcome") {
      onWelcome(f);
    } else if (f.type === "error") {
      onHelloError(f);
    }
    return;
  }
  switch (f.type) {
    case "message": onMessage(f); break;
    case "history": onHistory(f); break;
    case "private": onPrivate(f); break;
    case "join": onJoin(f); break;
    case "part": onPart(f); break;
    case "nick": onNick(f); break;
    case "members": onMembers(f); break;
    case "topic": onTopic(f); break;
    case "rooms": onRooms(f); break;
    case "notice": systemLine("notice", { text: String(f.text || "") }); break;
    case "error": onError(f); break;
    case "welcome": onWelcome(f); break;
    case "missed": onMissed(f); break;
    case "away": onAway(f); break;
    case "presence": onPresence(f); break;
    case "settings": onSettings(f); break;
    case "read": onRead(f); break;
    default:
      // The protocol may grow: unknown frames are ignored.
      console.debug("tertulia: ignoring frame of unknown type", f.type);
  }
}

// helloErrorText explains a refused hello; codes are in docs/protocol.md.
function helloErrorText(f) {
  const code = String(f.code || "");
  const said = String(f.text || code || "error");
  switch (code) {
    case "nick_registered":
      return "This nick is registered. Sign in with a code from /weblogin in your SSH session.";
    case "not_allowed":
      return "This server admits only listed keys. Sign in with a code from /weblogin in your SSH session.";
    case "banned":
      return "You are banned from this server.";
    case "too_many_sessions":
      // Signed in as a key whose terminals and browsers share its nick.
      return "Your key already has as many sessions open as the server allows (terminals and browsers). Close one, then Join again.";
    default:
      return said;
  }
}

function onHelloError(f) {
  const msg = helloErrorText(f);
  if (!state.inChat && String(f.code || "") === "nick_taken" && Date.now() < autoJoinUntil) {
    // Rejoining after a reload: the closed page may not have let go yet.
    setTimeout(function () { if (!state.welcomed && conn.isOpen()) hello(); }, 400);
    return;
  }
  autoJoinUntil = 0;
  if (!state.inChat) {
    loginErrorEl().textContent = msg;
    el.join.disabled = false;
    el.sessionJoin.disabled = false;
    focusLogin();
    return;
  }
  // A reconnect was refused. Our nick may still be held by the connection
  // that just died, or the server is on its way down: try again later.
  const code = String(f.code || "");
  if (code === "stopping" || code === "internal" || code === "nick_taken" && Date.now() - outageSince < NICK_HELD_MS) {
    conn.retryLater(code === "nick_taken" ? "the nick " + state.wantedNick + " is still held by the lost connection" : String(f.text || code));
    return;
  }
  // Let the user pick another nick on the same socket.
  showLogin(msg);
}

function onWelcome(f) {
  state.welcomed = true;
  conn.welcomed();
  state.me = String(f.nick || state.wantedNick);
  state.wantedNick = state.me;
  buildMentionRe();
  setMessageLimit(f.max_message);
  const list = Array.isArray(f.rooms) ? f.rooms.map(normRoom) : [];
  // After a reconnect: rejoin the rooms we were in besides the server's,
  // send again what was not confirmed, then ask each room for what came
  // after the last message we hold. What arrives newer than that counts
  // as unread, like live messages.
  // A signed-in page does not rejoin: the server puts its person back in
  // the rooms it is in (a join for each follows the welcome), and another
  // device may have left one meanwhile, which a /join from here would
  // undo on every device. Until its join comes, such a room's tab stays,
  // its log kept, marked as not joined (see onJoin): a tab closing under
  // the reader would lose what they were reading, and the server never
  // says that no more joins follow.
  const serverRejoins = usesSessionJoin();
  const rejoin = serverRejoins ? [] : state.order.filter(function (name) { return list.indexOf(name) < 0; });
  eachRoom(function (r) {
    r.loading = false;
    r.rejoining = !r.restored;
    r.catchFrom = newestId(r);
    r.notJoined = serverRejoins && list.indexOf(r.name) < 0;
  });
  list.forEach(function (name) { addRoom(name).awaitMembers = true; });
  if (!state.current || !has(state.rooms, state.current)) state.current = list.length ? list[0] : (state.order[0] || "");
  showChat();
  if (!el.input.value) setInput(persist.draft(tabKey()));
  persist.set({ nick: state.me, autoJoin: true });
  persistTabs();
  autoJoinUntil = 0;
  systemLine("notice", { text: "welcome " + state.me });
  rejoin.forEach(function (name) { conn.sendPaced({ type: "say", room: "", text: "/join #" + name }); });
  if (rejoin.length && state.current) conn.sendPaced({ type: "switch", room: state.current });
  resendPending();
  eachRoom(function (r) { if (r.catchFrom > 0 && !r.notJoined) catchUp(r, r.catchFrom); });
  outageSince = 0;
  renderTabs();
}

// catchUp asks for the messages of room r after id, a page at a time.
function catchUp(r, after) {
  r.catching = true;
  conn.sendPaced({ type: "history", room: r.name, after: after, limit: CATCH_UP_PAGE });
}

function onMessage(f) {
  confirm(f.cid);
  const r = roomNamed(f.room);
  if (!r || isDuplicate(r, f)) return;
  const line = messageLine(f, false);
  placeMessage(r, line);
  countUnread(r, line);
  alertMention(r, line);
  if (r === view()) readSoon();
}

function alertMention(r, line) {
  if (!line.mention) return;
  callAttention({ title: line.from + " mentioned you in #" + r.name, body: line.text, tag: tabKey(r), tab: r });
}

// onHistory shows stored messages: the recent ones after a join, an older
// page (the frame has "before") above those already shown, or what we
// missed while away ("after").
function onHistory(f) {
  const r = roomNamed(f.room);
  if (!r) return;
  const msgs = Array.isArray(f.messages) ? f.messages : [];
  const lines = [];
  const batch = new Set();
  msgs.forEach(function (m) {
    if (!m || typeof m !== "object" || isDuplicate(r, m)) return;
    if (typeof m.id === "number" && m.id > 0) {
      if (batch.has(m.id)) return;
      batch.add(m.id);
    }
    lines.push(messageLine(m, true));
  });
  if (has(f, "before")) {
    r.loading = false;
    r.noOlder = f.more === false || (f.more !== true && msgs.length < PAGE);
    const idx = firstMessageIndex(r);
    insertLines(r, idx < 0 ? r.lines.length : idx, lines);
    return;
  }
  // A room rejoined after a reconnect: what is newer than the last message
  // we held is what we missed, all of it if we held none (a room put back
  // after a reload is joined afresh, see restoreTabs).
  const caughtUp = has(f, "after") || r.rejoining;
  const count = function (l) {
    if (caughtUp && l.id > r.catchFrom) {
      countUnread(r, l);
      alertMention(r, l);
    }
  };
  if (!has(f, "after")) {
    // The history sent on joining goes above our own join line, older
    // first, set apart by a divider the first time.
    const first = r.ids.size === 0;
    if (first && typeof f.more === "boolean") r.noOlder = !f.more;
    let at = r.joinLine ? r.lines.indexOf(r.joinLine) : -1;
    // In a log holding no message yet, the history goes above the notices
    // of this visit too (e.g. "welcome").
    while (first && at > 0 && r.lines[at - 1].kind !== "msg" && r.lines[at - 1].kind !== "pending") at--;
    if (at >= 0) {
      insertLines(r, at, lines);
      lines.forEach(count);
      if (first && lines.length) setFlag(r, r.lines[at + lines.length], "earlierAbove", true);
    } else {
      lines.forEach(function (l) { placeMessage(r, l); count(l); });
    }
    const rejoined = r.rejoining;
    r.rejoining = false;
    r.restored = false;
    // We held no message of this room, so every message it has came
    // after we joined it: the join's history may not hold them all.
    if (rejoined && r.catchFrom === 0 && msgs.length > 0) catchUp(r, 0);
    if (r === view()) {
      updateOlder();
      if (r.anchor) restoreAnchor(r);
      readSoon();
    }
    return;
  }
  lines.forEach(function (l) {
    placeMessage(r, l);
    count(l);
  });
  const last = msgs.length ? msgs[msgs.length - 1] : null;
  if (f.more === true && last && typeof last.id === "number") {
    catchUp(r, last.id);
  } else {
    r.catching = false;
  }
  if (r === view()) updateOlder();
  readSoon();
}

// onPrivate puts a private message in the conversation with the other
// person, never in a room: a tab opens for it if needed. The echo of one
// this page sent (its cid) takes the place of its pending line; one our
// key sent from another device (a terminal, another browser) only lands
// in its tab.
function onPrivate(f) {
  // Ours (its cid) is confirmed even if this page already showed it.
  const mine = confirm(f.cid);
  const id = typeof f.id === "number" ? f.id : 0;
  if (id > 0) {
    if (state.seenPrivate[id]) return;
    state.seenPrivate[id] = true;
  }
  const from = String(f.from || ""), to = String(f.to || "");
  const incoming = !isMe(from);
  const other = incoming ? from : to;
  if (!other) return;
  const c = openConversation(other, false);
  const line = {
    kind: "msg", pm: true, time: parseTime(f.ts), id: id, room: "", from: from,
    text: String(f.text || ""), action: false, mention: false, self: !incoming, history: false,
    // Kept while we were offline, or (our copy) kept for someone offline.
    missed: f.missed === true, waiting: f.waiting === true
  };
  addLine(c, line);
  if (!incoming) {
    // A /reply typed elsewhere shows its conversation; a /msg showed it
    // when sent.
    if (mine && mine.reply && c !== view()) showTab(c);
    return;
  }
  countUnread(c, line);
  callAttention({ title: from + " (private)", body: line.text, tag: tabKey(c), tab: c });
  if (c === view()) readSoon();
}

// onSettings applies the user's settings that mean something here: the
// timestamps (off, time, datetime). The ignore list is the server's to
// apply; the terminal's theme and time zone are not the page's (it has its
// own theme choice and shows the browser's time).
function onSettings(f) {
  const before = document.documentElement.getAttribute("data-timestamp") || "time";
  state.settings = f.settings && typeof f.settings === "object" ? f.settings : {};
  const mode = ["off", "time", "datetime"].indexOf(state.settings.timestamp) >= 0 ? state.settings.timestamp : "time";
  document.documentElement.setAttribute("data-timestamp", mode);
  if (mode !== before) renderRoom(); // the lines shown take the new format
}

function onAway(f) {
  const r = roomNamed(f.room);
  if (!r) return;
  const nick = String(f.nick || "");
  const away = f.away ? String(f.away) : "";
  let changed = false;
  r.members = r.members.map(function (m) {
    if (fold(m.nick) !== fold(nick) || m.away === away) return m;
    changed = true;
    return { nick: m.nick, via: m.via, away: away, registered: m.registered };
  });
  if (changed && r === view()) renderMembers();
}

function onJoin(f) {
  const nick = String(f.nick || "");
  const self = isMe(nick);
  let r = roomNamed(f.room);
  let isNew = false;
  if (!r) {
    if (!self) return;
    r = addRoom(f.room); // a room we just joined, e.g. with /join #dev
    isNew = true;
  }
  if (self) r.awaitMembers = true; // the member list follows
  if (self && r.notJoined) {
    // The server put us back in it after a reconnect: what we missed.
    r.notJoined = false;
    if (r.catchFrom > 0) catchUp(r, r.catchFrom);
    if (r.name === state.current && r === view()) conn.send({ type: "switch", room: r.name });
    renderTabs();
    persistTabs();
  }
  const via = f.via ? String(f.via) : "";
  if (!r.members.some(function (m) { return fold(m.nick) === fold(nick); })) {
    r.members.push({ nick: nick, via: via, away: "", registered: f.registered === true });
    sortMembers(r.members);
  }
  r.count = typeof f.count === "number" ? f.count : r.members.length;
  const line = { kind: "join", time: new Date(), room: r.name, nick: nick, via: via };
  addLine(r, line);
  if (self) r.joinLine = line;
  if (isNew) {
    switchTo(r.name, false); // the server made it our current room too
  } else if (r === view()) {
    renderStatus();
    renderMembers();
  }
}

// closeRoomTab closes the tab of a room we left (e.g. /part): the
// server's current room is then the last one joined, which we show.
function closeRoomTab(r) {
  const wasCurrent = r.name === state.current;
  const wasShown = r === view();
  removeRoom(r.name);
  persist.setDraft(tabKey(r), "");
  persist.setAnchor(tabKey(r), null);
  if (wasCurrent && !wasShown) {
    // A private conversation is shown: it stays.
    state.current = state.order.length ? state.order[state.order.length - 1] : "";
    if (state.current && !state.rooms[state.current].notJoined) conn.send({ type: "switch", room: state.current });
    renderTabs();
    persistTabs();
  } else if (wasCurrent) {
    state.current = state.order.length ? state.order[state.order.length - 1] : "";
    if (state.current) {
      switchTo(state.current, true);
    } else {
      renderRoom();
    }
  } else {
    renderTabs();
    persistTabs();
  }
  systemLine("notice", { text: "You left #" + r.name + (state.current ? "" : ". You are in no room: /join #room") });
}

// partLocally closes the tab of a room we are no longer in (see
// onWelcome): the server has nothing to part.
function partLocally(name) {
  const r = roomNamed(name);
  if (r && r.notJoined) closeRoomTab(r);
}

function onPart(f) {
  const r = roomNamed(f.room);
  if (!r) return;
  const nick = String(f.nick || "");
  if (isMe(nick)) {
    closeRoomTab(r);
    return;
  }
  r.members = r.members.filter(function (m) { return fold(m.nick) !== fold(nick); });
  r.count = typeof f.count === "number" ? f.count : r.members.length;
  addLine(r, { kind: "part", time: new Date(), room: r.name, nick: nick, reason: f.reason ? String(f.reason) : "" });
  if (r === view()) { renderStatus(); renderMembers(); }
}

function onNick(f) {
  const r = roomNamed(f.room);
  if (!r) return;
  const oldNick = String(f.old || ""), newNick = String(f["new"] || "");
  // New objects: lines already logged (e.g. a /who list) keep the old nick.
  r.members = r.members.map(function (m) {
    const renamed = m.nick === oldNick;
    return { nick: renamed ? newNick : m.nick, via: m.via, away: m.away, registered: renamed ? f.registered === true : m.registered };
  });
  sortMembers(r.members);
  if (oldNick === state.me) {
    state.me = newNick;
    state.wantedNick = newNick;
    buildMentionRe();
    persistTabs();
  } else {
    renameConversation(oldNick, newNick);
  }
  addLine(r, { kind: "nickchange", time: new Date(), room: r.name, old: oldNick, nick: newNick });
  if (r === view()) { renderStatus(); renderMembers(); }
}

// onPresence applies a big room's summary of joins, parts, nick and away
// changes: the count always; the named changes to the members held (a
// joiner only while the list is whole, or it would land out of its page).
function onPresence(f) {
  const r = roomNamed(f.room);
  if (!r) return;
  const names = function (l) { return Array.isArray(l) ? l.map(String) : []; };
  const gone = new Set(names(f.left).map(fold));
  r.members = r.members.filter(function (m) { return !gone.has(fold(m.nick)); });
  const renamed = new Map();
  (Array.isArray(f.nicks) ? f.nicks : []).forEach(function (c) { renamed.set(fold(String(c.old || "")), String(c["new"] || "")); });
  const away = new Set(names(f.gone_away).map(fold)), back = new Set(names(f.back).map(fold));
  r.members = r.members.map(function (m) {
    const k = fold(m.nick);
    if (!renamed.has(k) && !away.has(k) && !back.has(k)) return m;
    return { nick: renamed.get(k) || m.nick, via: m.via, registered: m.registered,
      away: away.has(k) ? (m.away || "away") : back.has(k) ? "" : m.away };
  });
  if (!r.membersNext) {
    names(f.joined).forEach(function (nick) {
      if (!r.members.some(function (m) { return fold(m.nick) === fold(nick); })) {
        r.members.push({ nick: nick, via: "", away: "", registered: false });
      }
    });
  }
  sortMembers(r.members);
  if (typeof f.count === "number") r.count = f.count;
  if (r === view()) { renderStatus(); renderMembers(); }
}

// moreMembers asks for the page of the shown room's members after those
// held.
function moreMembers() {
  const r = view();
  if (r && r.membersNext) conn.send({ type: "names", room: r.name, cursor: r.membersNext, limit: 500 });
}

function onMembers(f) {
  const list = (Array.isArray(f.members) ? f.members : []).map(memberFrom);
  const r = roomNamed(f.room);
  if (r && f.cursor) {
    // A further page of the member list (see moreMembers): appended.
    if (f.cursor !== r.membersNext) return; // a stale answer
    r.members = r.members.concat(list);
    r.membersNext = f.next ? String(f.next) : "";
    if (typeof f.total === "number") r.count = f.total;
    if (r === view()) { renderStatus(); renderMembers(); }
    return;
  }
  if (r) {
    r.members = list;
    r.count = typeof f.total === "number" ? f.total : list.length;
    r.membersNext = f.next ? String(f.next) : "";
    if (r.awaitMembers) {
      r.awaitMembers = false; // the list after our own join, not a /who
      if (r === view()) { renderStatus(); renderMembers(); }
      return;
    }
    if (r === view()) { renderStatus(); renderMembers(); }
  }
  // A reply to /who or /names (maybe of a room we are not in): shown where
  // the user typed it.
  systemLine("who", {
    room: normRoom(f.room),
    // A big room's first page: the line says how many there are in all.
    total: typeof f.total === "number" ? f.total : list.length,
    members: list.map(function (m) { return { nick: m.nick, via: m.via, away: m.away, registered: m.registered }; })
  });
}

function onTopic(f) {
  const r = roomNamed(f.room);
  if (!r) return;
  r.topic = String(f.topic || "");
  if (f.by) {
    addLine(r, { kind: "topic", time: parseTime(f.ts), room: r.name, by: String(f.by), text: r.topic });
  }
  if (r === view()) renderStatus();
}

function onRooms(f) {
  const list = (Array.isArray(f.rooms) ? f.rooms : []).map(function (x) {
    return {
      name: String((x && x.name) || ""),
      count: x && typeof x.count === "number" ? x.count : 0,
      topic: String((x && x.topic) || "")
    };
  });
  systemLine("rooms", { rooms: list });
}

// onMissed marks where this page fell behind and was not sent some
// messages (the room's history has them; private ones are lost).
function onMissed(f) {
  const n = typeof f.count === "number" ? f.count : 0;
  if (f.private) {
    systemLine("notice", { text: "missed " + n + " private messages" });
    return;
  }
  const r = roomNamed(f.room);
  if (!r) return;
  addLine(r, { kind: "notice", time: new Date(), text: "missed " + n + " messages in #" + r.name });
}

function onError(f) {
  // A failed request for older messages is answered by an error: allow
  // another try.
  eachRoom(function (r) { r.loading = false; });
  if (refuse(f.cid, String(f.code || ""), String(f.text || ""))) {
    updateOlder();
    return; // shown on the refused line itself
  }
  if (f.code === "rate_limited" && !f.cid) {
    // A catch-up request may have been refused: ask again shortly.
    eachRoom(function (r) {
      if (r.catching) setTimeout(function () { if (state.welcomed) catchUp(r, newestId(r)); }, 2000);
    });
  }
  systemLine("error", { text: String(f.text || ""), code: String(f.code || "") });
  updateOlder();
}

// ---- older messages ------------------------------------------------------

function requestOlder() {
  const r = view();
  if (r === state.noRoom || r.loading || r.noOlder) return;
  const before = oldestId(r);
  if (!before) return;
  if (conn.send({ type: "history", room: r.name, before: before, limit: PAGE })) {
    r.loading = true;
    updateOlder();
  }
}

function onScroll() {
  if (el.scroller.scrollTop <= 0 && el.scroller.scrollHeight > el.scroller.clientHeight) requestOlder();
  updateJump();
  readSoon();
}

// ---- start ---------------------------------------------------------------

function onTabClick(ev) {
  if (!ev.target.closest) return;
  const close = ev.target.closest(".pm-close");
  if (close) {
    closeConversation(close.getAttribute("data-close"));
    el.input.focus();
    return;
  }
  const pm = ev.target.closest(".pm-tab");
  if (pm) {
    const key = pm.getAttribute("data-pm");
    if (has(state.privates, key)) showTab(state.privates[key]);
    el.input.focus();
    return;
  }
  const tab = ev.target.closest(".room-tab");
  if (!tab) return;
  const name = tab.getAttribute("data-room");
  if (roomNamed(name) !== view()) switchTo(name, true);
  el.input.focus();
}

// onNickClick opens a private conversation with a nick clicked in the
// log or the member list.
function onNickClick(ev) {
  if (ev.target.closest && ev.target.closest("[data-more-members]")) {
    moreMembers();
    return;
  }
  const n = ev.target.closest ? ev.target.closest("[data-nick]") : null;
  if (!n) return;
  const nick = n.getAttribute("data-nick");
  if (!nick || isMe(nick)) return;
  openConversation(nick, true);
  el.input.focus();
}

// keepPlace saves the draft and place of the tab shown, for a reload (in
// storage only: the page stays where the reader is).
function keepPlace() {
  if (!state.inChat) return;
  leaveTab();
  view().anchor = null;
}

function onVisibility() {
  if (document.hidden) {
    keepPlace();
    return;
  }
  seen();
  readSoon();
  // A tab shown again reconnects at once if it was waiting, and checks a
  // connection that says it is online (the computer may have slept).
  conn.retryNow();
  conn.probe();
}

// At midnight "Today" becomes "Yesterday": the log is drawn again, the
// reader kept in place.
function redrawAtMidnight() {
  const now = new Date();
  const next = new Date(now.getFullYear(), now.getMonth(), now.getDate() + 1, 0, 0, 5);
  setTimeout(function () {
    if (state.inChat && !el.chatView.hidden) {
      saveAnchor(view());
      renderRoom();
    }
    redrawAtMidnight();
  }, next.getTime() - now.getTime());
}

function onJumpClick() {
  scrollToBottom();
  updateJump();
  el.input.focus();
}

function init() {
  bindElements();
  conn.setHooks({
    onOpen: hello,
    onFrame: onFrame,
    onClose: onClose,
    onStatus: function (s) { if (state.inChat) showConnection(s); }
  });
  setComposerHooks({
    switchTo: switchTo, privateTo: privateTo, partLocally: partLocally,
    openPrivate: function (nick) { return openConversation(nick, true); }
  });
  setSigninHooks({ join: join, resetChat: resetChat, resume: resume });
  initRead(conn.send);
  initComposer();
  initNotify(el.members, function (r) {
    if (r === view() || (isConversation(r) ? conversationNamed(r.name) === r : roomNamed(r.name) === r)) showTab(r);
  });
  if (typeof persist.get("nick") === "string") el.nick.value = persist.get("nick");
  el.input.addEventListener("input", saveDraftSoon);
  el.sendForm.addEventListener("submit", function () { persist.setDraft(tabKey(), el.input.value); });
  el.messages.addEventListener("click", onNickClick);
  el.memberList.addEventListener("click", onNickClick);
  el.jump.addEventListener("click", onJumpClick);
  window.addEventListener("pagehide", keepPlace);
  redrawAtMidnight();
  el.reconnect.addEventListener("click", onReconnectClick);
  el.rooms.addEventListener("click", onTabClick);
  el.loadOlder.addEventListener("click", requestOlder);
  el.scroller.addEventListener("scroll", onScroll, { passive: true });
  document.addEventListener("visibilitychange", onVisibility);
  window.addEventListener("online", function () {
    conn.retryNow();
    conn.probe();
  });
  initSignin();
}

init(); // a module runs once the document is parsed
