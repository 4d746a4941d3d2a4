// Drawing the page from state.js. Security: every string that comes from
// the server or a user (nicks, text, room names, topics, reasons) is
// inserted with textContent / createTextNode, never as HTML.

import {
  BASE_TITLE, MAX_LINES, PALETTE, state, view, has, fold, isMe, roomLabel, oldestId
} from "./state.js";

export const el = {};

export function bindElements() {
  const ids = {
    loginView: "login-view", loginForm: "login-form", nick: "nick", join: "join",
    loginChecking: "login-checking", sessionView: "session-view", sessionNick: "session-nick",
    sessionHint: "session-hint", sessionChoose: "session-choose", sessionNicks: "session-nicks",
    sessionJoin: "session-join", signOut: "sign-out", sessionError: "session-error",
    codeForm: "code-form", loginCode: "login-code", loginSubmit: "login-submit",
    loginCodeError: "login-code-error", chatSignOut: "chat-sign-out",
    loginError: "login-error", chatView: "chat-view", roomName: "room-name",
    roomTopic: "room-topic", rooms: "rooms", scroller: "scroller", loadOlder: "load-older",
    memberCount: "member-count", connState: "conn-state", meNick: "me-nick",
    messages: "messages", log: "log", members: "members", memberList: "member-list",
    offlineBar: "offline-bar", offlineText: "offline-text", reconnect: "reconnect",
    sendForm: "send-form", input: "input", send: "send"
  };
  for (const k in ids) el[k] = document.getElementById(ids[k]);
}

// ---- helpers -------------------------------------------------------------

export function text(s) { return document.createTextNode(String(s)); }

export function span(cls, s) {
  const e = document.createElement("span");
  if (cls) e.className = cls;
  if (s !== undefined) e.textContent = String(s);
  return e;
}

function pad2(n) { return (n < 10 ? "0" : "") + n; }

function hhmm(d) { return pad2(d.getHours()) + ":" + pad2(d.getMinutes()); }

// FNV-1a over the folded nick: the same nick always gets the same colour.
function nickClass(nick) {
  const s = fold(nick);
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return "nick nick-c" + (h % PALETTE);
}

function nickSpan(nick) {
  const e = span(nickClass(nick), nick);
  if (isMe(nick)) e.className += " is-me";
  return e;
}

// setAttr changes an attribute only when its value differs, sparing
// needless DOM mutations (and work for assistive technology).
export function setAttr(e, name, value) {
  if (e.getAttribute(name) !== value) e.setAttribute(name, value);
}

function button(label, act, cid) {
  const b = document.createElement("button");
  b.type = "button";
  b.className = "line-action";
  b.textContent = label;
  b.setAttribute("data-act", act);
  b.setAttribute("data-cid", cid);
  return b;
}

// ---- lines ---------------------------------------------------------------

function messageBody(li, line) {
  if (line.action) {
    li.className += " action";
    li.appendChild(span("star", "*"));
    li.appendChild(text(" "));
    li.appendChild(nickSpan(line.from));
    li.appendChild(text(" "));
  } else {
    li.appendChild(nickSpan(line.from));
    li.appendChild(text(" "));
  }
  li.appendChild(span("text", line.text));
}

// A line is { kind, time, ... } kept per room; renderLine turns it into an
// <li>. Lines not tied to a room go to the room on screen. A "pending" line
// is one of ours the server has not confirmed yet (see composer.js), or
// refused (failed, with its reason and a way to send it again).
export function renderLine(line) {
  const li = document.createElement("li");
  li.className = "line " + line.kind;
  const t = document.createElement("time");
  t.className = "ts";
  t.dateTime = line.time.toISOString();
  t.title = line.time.toLocaleString();
  t.textContent = hhmm(line.time);
  li.appendChild(t);
  li.appendChild(text(" "));

  switch (line.kind) {
    case "msg":
      messageBody(li, line);
      if (line.mention) {
        li.className += " mention";
        li.appendChild(span("mention-tag", "mentions you"));
      }
      if (line.self) li.className += " self";
      if (line.history) li.className += " history";
      if (line.id) li.setAttribute("data-id", String(line.id));
      break;
    case "pending":
      li.className = "line msg self " + (line.failed ? "failed" : "pending");
      messageBody(li, line);
      li.setAttribute("data-cid", line.cid);
      li.appendChild(text(" "));
      if (line.failed) {
        li.appendChild(span("send-state", /not sent/i.test(line.reason) ? line.reason : "not sent: " + line.reason));
        li.appendChild(text(" "));
        li.appendChild(button("Retry", "retry", line.cid));
        li.appendChild(button("Edit", "edit", line.cid));
      } else {
        li.appendChild(span("send-state", line.waiting ? "waiting for the connection\u2026" : "sending\u2026"));
      }
      break;
    case "private":
      li.appendChild(span("pm-tag", "private"));
      li.appendChild(text(" "));
      li.appendChild(nickSpan(line.from));
      li.appendChild(text(" \u2192 "));
      li.appendChild(nickSpan(line.to));
      li.appendChild(text(": "));
      li.appendChild(span("text", line.text));
      li.className += line.incoming ? " incoming" : " outgoing";
      break;
    case "join":
      li.appendChild(span("arrow", "-->"));
      li.appendChild(text(" "));
      li.appendChild(nickSpan(line.nick));
      li.appendChild(text(" joined " + roomLabel(line.room) + (line.via ? " (" + line.via + ")" : "")));
      break;
    case "part":
      li.appendChild(span("arrow", "<--"));
      li.appendChild(text(" "));
      li.appendChild(nickSpan(line.nick));
      li.appendChild(text(" left " + roomLabel(line.room) + (line.reason ? " (" + line.reason + ")" : "")));
      break;
    case "nickchange":
      li.appendChild(span("arrow", "---"));
      li.appendChild(text(" "));
      li.appendChild(nickSpan(line.old));
      li.appendChild(text(" is now known as "));
      li.appendChild(nickSpan(line.nick));
      break;
    case "topic":
      li.appendChild(span("arrow", "---"));
      li.appendChild(text(" "));
      li.appendChild(nickSpan(line.by));
      li.appendChild(text(" set the topic: "));
      li.appendChild(span("text", line.text));
      break;
    case "who":
      li.appendChild(span("arrow", "---"));
      li.appendChild(text(" " + roomLabel(line.room) + " members (" + line.members.length + "): "));
      line.members.forEach(function (m, i) {
        if (i > 0) li.appendChild(text(", "));
        li.appendChild(nickSpan(m.nick));
        const tags = [];
        if (m.via) tags.push(m.via);
        if (m.registered) tags.push("registered");
        if (tags.length) li.appendChild(text(" (" + tags.join(", ") + ")"));
        if (m.away) li.appendChild(awaySpan(m.away));
      });
      break;
    case "rooms": {
      li.appendChild(span("arrow", "-!-"));
      li.appendChild(text(" "));
      const lines = ["rooms (" + line.rooms.length + "):"];
      line.rooms.forEach(function (r) {
        lines.push("  " + roomLabel(r.name) + " (" + r.count + ")" + (r.topic ? " " + r.topic : ""));
      });
      li.appendChild(span("text", lines.join("\n")));
      break;
    }
    case "notice":
      li.appendChild(span("arrow", "-!-"));
      li.appendChild(text(" "));
      li.appendChild(span("text", line.text));
      break;
    case "error":
      li.appendChild(span("arrow", "-!-"));
      li.appendChild(text(" "));
      li.appendChild(span("text", "error: " + line.text));
      if (line.code) li.title = line.code;
      break;
    default:
      li.appendChild(span("text", line.text || ""));
  }
  return li;
}

// regBadge marks a member whose nick belongs to their key (not a guest).
function regBadge() {
  const e = span("reg", "\u2713");
  e.title = "registered";
  e.setAttribute("aria-label", "registered");
  return e;
}

function awaySpan(reason) {
  const e = span("away", " (away)");
  e.title = "away: " + reason;
  return e;
}

function rememberId(r, line) {
  if (line.kind === "msg" && typeof line.id === "number" && line.id > 0) r.ids.add(line.id);
}

function forgetLines(r, removed) {
  removed.forEach(function (l) {
    if (l.kind === "msg" && typeof l.id === "number") {
      r.ids.delete(l.id);
      r.noOlder = false; // what was dropped can be asked for again
    }
  });
}

function atBottom() {
  const s = el.scroller;
  return s.scrollHeight - s.scrollTop - s.clientHeight < 40;
}

export function scrollToBottom() { el.scroller.scrollTop = el.scroller.scrollHeight; }

// insertAt puts line at index idx of room r, dropping the oldest lines
// beyond MAX_LINES.
function insertAt(r, idx, line) {
  rememberId(r, line);
  r.lines.splice(idx, 0, line);
  const excess = r.lines.length - MAX_LINES;
  const removed = excess > 0 ? r.lines.splice(0, excess) : [];
  forgetLines(r, removed);
  if (r !== view()) return;
  const stick = atBottom() || line.self || line.kind === "pending";
  const before = el.messages.children[idx] || null;
  el.messages.insertBefore(renderLine(line), before);
  for (let i = 0; i < removed.length && el.messages.firstChild; i++) el.messages.removeChild(el.messages.firstChild);
  if (stick) scrollToBottom();
  updateOlder();
}

// addLine appends a line to room r.
export function addLine(r, line) { insertAt(r, r.lines.length, line); }

// placeMessage adds a message line in id order: a message caught up after
// a reconnect may be older than some already shown. It goes before any
// later message and before our own unconfirmed lines at the very end of
// the log, which stay last; other lines (joins, notices) keep their places.
export function placeMessage(r, line) {
  let pos = r.lines.length;
  let trailing = true; // only unconfirmed lines seen so far
  for (let i = r.lines.length - 1; i >= 0; i--) {
    const l = r.lines[i];
    if (l.kind === "pending") {
      if (trailing) pos = i;
    } else if (l.kind === "msg" && l.id > 0) {
      if (l.id < line.id) break;
      pos = i;
    } else {
      trailing = false;
    }
  }
  insertAt(r, pos, line);
}

// removeLine takes a line out of room r.
export function removeLine(r, line) {
  const idx = r.lines.indexOf(line);
  if (idx < 0) return;
  r.lines.splice(idx, 1);
  if (r === view() && el.messages.children[idx]) el.messages.removeChild(el.messages.children[idx]);
}

// refreshLine draws a line of room r again after it changed.
export function refreshLine(r, line) {
  const idx = r.lines.indexOf(line);
  if (idx < 0 || r !== view() || !el.messages.children[idx]) return;
  el.messages.replaceChild(renderLine(line), el.messages.children[idx]);
}

// insertLines puts older lines at index idx of room r, keeping what the
// user is looking at in place.
export function insertLines(r, idx, lines) {
  if (!lines.length) {
    if (r === view()) updateOlder();
    return;
  }
  lines.forEach(function (l) { rememberId(r, l); });
  Array.prototype.splice.apply(r.lines, [idx, 0].concat(lines));
  if (r !== view()) return;
  const s = el.scroller;
  const fromBottom = s.scrollHeight - s.scrollTop;
  const frag = document.createDocumentFragment();
  lines.forEach(function (l) { frag.appendChild(renderLine(l)); });
  el.messages.insertBefore(frag, el.messages.children[idx] || null);
  updateOlder();
  s.scrollTop = s.scrollHeight - fromBottom;
}

export function systemLine(kind, fields) {
  const line = { kind: kind, time: new Date() };
  for (const k in fields) if (has(fields, k)) line[k] = fields[k];
  addLine(view(), line);
}

// ---- the chat view -------------------------------------------------------

export function renderRoom() {
  const r = view();
  // The room comes in a new live region: screen readers announce what
  // changes in a region, not what a region holds when it appears, so a
  // tab switch does not read the whole room out again. The list itself
  // (and its listeners) is kept, filled while out of the document.
  const fresh = el.log.cloneNode(false);
  fresh.appendChild(el.messages);
  el.messages.textContent = "";
  const frag = document.createDocumentFragment();
  r.lines.forEach(function (line) { frag.appendChild(renderLine(line)); });
  el.messages.appendChild(frag);
  el.log.replaceWith(fresh);
  el.log = fresh;
  updateOlder();
  scrollToBottom();
  renderStatus();
  renderMembers();
  renderTabs();
}

export function renderStatus() {
  const r = view();
  el.roomName.textContent = state.current ? roomLabel(state.current) : "no room";
  el.meNick.textContent = state.me;
  el.memberCount.textContent = state.current ? (r.count === 1 ? "1 member" : r.count + " members") : "";
  el.roomTopic.textContent = r.topic;
  setAttr(el.roomTopic, "title", r.topic);
  setAttr(el.input, "placeholder", state.current
    ? "Message " + roomLabel(state.current) + " \u2014 /help for commands, /join #room"
    : "/join #room \u2014 /help for commands");
}

export function renderMembers() {
  const r = view();
  el.memberList.textContent = "";
  const frag = document.createDocumentFragment();
  r.members.forEach(function (m) {
    const li = document.createElement("li");
    li.className = "member";
    if (isMe(m.nick)) li.className += " is-me";
    if (m.away) li.className += " is-away";
    li.className += m.registered ? " is-registered" : " is-guest";
    li.appendChild(nickSpan(m.nick));
    if (m.registered) li.appendChild(regBadge());
    li.appendChild(text(" "));
    li.appendChild(span("via via-" + (m.via === "ssh" ? "ssh" : "web"), "(" + (m.via || "?") + ")"));
    if (m.away) li.appendChild(awaySpan(m.away));
    frag.appendChild(li);
  });
  el.memberList.appendChild(frag);
}

export function renderTabs() {
  el.rooms.textContent = "";
  const frag = document.createDocumentFragment();
  state.order.forEach(function (name) {
    const r = state.rooms[name];
    const b = document.createElement("button");
    b.type = "button";
    b.className = "room-tab";
    b.setAttribute("data-room", name);
    if (name === state.current) {
      b.className += " current";
      b.setAttribute("aria-current", "true");
    }
    if (r.mention) b.className += " has-mention";
    b.appendChild(span("room-tab-name", roomLabel(name)));
    const badge = span("badge", r.unread > 99 ? "99+" : String(r.unread));
    badge.hidden = !r.unread;
    badge.setAttribute("aria-hidden", "true"); // read from the label below
    const mentions = r.mention ? Math.max(1, r.mentions || 0) : 0;
    const label = r.unread + " unread" + (mentions ? ", " + mentions + (mentions === 1 ? " mention" : " mentions") : "");
    badge.title = label;
    b.appendChild(badge);
    if (r.unread) b.appendChild(span("visually-hidden", label));
    frag.appendChild(b);
  });
  el.rooms.appendChild(frag);
}

// updateOlder shows "Load older messages" while the room shown holds
// messages and the server may have older ones.
export function updateOlder() {
  const r = view();
  const show = r !== state.noRoom && oldestId(r) > 0 && !r.noOlder;
  el.loadOlder.hidden = !show;
  el.loadOlder.disabled = r.loading;
  el.loadOlder.textContent = r.loading ? "Loading older messages\u2026" : "Load older messages";
}

export function setTitle() {
  document.title = state.unread > 0 ? "(" + state.unread + ") " + BASE_TITLE : BASE_TITLE;
}

export function notifyMention() {
  if (document.hidden) {
    state.unread++;
    setTitle();
  }
}

// countUnread raises room r's badge for a message that arrived (live or
// caught up) while another room is shown.
export function countUnread(r, line) {
  if (r !== view() && !line.self) {
    r.unread++;
    if (line.mention) {
      r.mentions = r.mention ? (r.mentions || 0) + 1 : 1; // counted since the tab was last shown
      r.mention = true;
    }
    renderTabs();
  }
  if (line.mention) notifyMention();
}

// showConnection tells the truth about the connection: in the header
// ("online", "connecting…", "reconnecting in N s", "offline") and, while
// not online, in the bar above the composer. The composer stays usable:
// what is typed meanwhile waits, shown pending.
export function showConnection(c) {
  const online = c.state === "online";
  let label;
  switch (c.state) {
    case "online": label = "online"; break;
    case "connecting": label = "connecting\u2026"; break;
    case "waiting": label = "reconnecting in " + Math.max(1, Math.ceil(c.retryIn / 1000)) + " s"; break;
    default: label = "offline";
  }
  if (el.connState.textContent !== label) el.connState.textContent = label;
  el.connState.classList.toggle("online", online);
  el.connState.classList.toggle("offline", c.state === "offline");
  el.connState.classList.toggle("reconnecting", c.state === "waiting" || c.state === "connecting");
  el.members.classList.toggle("stale", !online);
  el.offlineBar.hidden = online || !state.inChat;
  if (!online) {
    const why = c.why ? c.why + " \u2014 " : "";
    const what = c.state === "offline" ? (c.why || "offline") : why + label;
    if (el.offlineText.textContent !== what) el.offlineText.textContent = what;
    el.reconnect.textContent = c.state === "offline" ? (state.signedOut ? "Sign in again" : "Reconnect") : "Retry now";
    el.reconnect.disabled = c.state === "connecting";
  }
}
