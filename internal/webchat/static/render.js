// Drawing the page from state.js. Security: every string that comes from
// the server or a user (nicks, text, room names, topics, reasons) is
// inserted with textContent / createTextNode, never as HTML.

import {
  MAX_LINES, PALETTE, state, view, has, fold, isMe, roomLabel, oldestId, isConversation
} from "./state.js";
import { linkedText, linkify } from "./links.js";

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
  // "Jump to latest" floats at the bottom of the log while scrolled up.
  el.jump = document.createElement("button");
  el.jump.type = "button";
  el.jump.id = "jump-latest";
  el.jump.className = "jump-latest";
  el.jump.hidden = true;
  el.scroller.appendChild(el.jump);
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

// stamp is a line's time as the user's timestamp setting shows it (off is
// hidden by the stylesheet, the time still there for its title).
function stamp(d) {
  if (state.settings.timestamp !== "datetime") return hhmm(d);
  return d.getFullYear() + "-" + pad2(d.getMonth() + 1) + "-" + pad2(d.getDate()) + " " + hhmm(d);
}

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
  if (isMe(nick)) {
    e.className += " is-me";
  } else {
    e.setAttribute("data-nick", nick); // a click opens a private conversation
    e.title = "Talk privately with " + nick;
  }
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
  li.appendChild(linkedText("text", line.text));
}

// ---- time ----------------------------------------------------------------

function sameDay(a, b) {
  return a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth() && a.getDate() === b.getDate();
}

function dayNumber(d) { return Math.round(new Date(d.getFullYear(), d.getMonth(), d.getDate()).getTime() / 86400000); }

// dayLabel names a day as people say it: "Today", "Yesterday", "Tue 1 Dec"
// (in the browser's language and time zone; with the year if not this one).
export function dayLabel(d, now) {
  const days = dayNumber(now) - dayNumber(d);
  if (days === 0) return "Today";
  if (days === 1) return "Yesterday";
  const opts = { weekday: "short", day: "numeric", month: "short" };
  if (d.getFullYear() !== now.getFullYear()) opts.year = "numeric";
  return d.toLocaleDateString(undefined, opts);
}

function fullDate(d) {
  return d.toLocaleDateString(undefined, { weekday: "long", day: "numeric", month: "long", year: "numeric" });
}

// divider is a separator drawn at the top of a line: a day, "new
// messages", "earlier messages". Its label is what assistive technology
// reads (a separator's content is presentational).
function divider(cls, label, detail, when) {
  const d = document.createElement("div");
  d.className = "divider " + cls;
  d.setAttribute("role", "separator");
  d.setAttribute("aria-label", detail ? label + ", " + detail : label);
  d.appendChild(span("divider-label", label));
  if (detail) {
    const t = document.createElement("time");
    t.className = "divider-date";
    if (when) t.dateTime = when;
    t.textContent = detail;
    d.appendChild(t);
  }
  return d;
}

function isoDay(d) {
  return d.getFullYear() + "-" + pad2(d.getMonth() + 1) + "-" + pad2(d.getDate());
}

// withDividers puts the line's separators at the top of li; the line's own
// content then goes in a block of its own, which keeps its hanging indent.
function withDividers(li, line) {
  const marks = [];
  if (line.dayStart) {
    const label = dayLabel(line.time, new Date());
    const full = fullDate(line.time);
    marks.push(divider("day", label, label === full ? "" : full, isoDay(line.time)));
  }
  if (line.earlierAbove) marks.push(divider("earlier", "Earlier messages above", "", ""));
  if (line.marker) marks.push(divider("unread-marker", "New messages", "", ""));
  if (!marks.length) return li;
  const body = document.createElement("div");
  body.className = "line-body";
  while (li.firstChild) body.appendChild(li.firstChild);
  marks.forEach(function (m) { li.appendChild(m); });
  li.appendChild(body);
  return li;
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
  t.textContent = stamp(line.time);
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
      if (line.pm) li.className += " private-msg";
      if (line.missed) {
        li.className += " missed";
        li.appendChild(span("missed-tag", "while you were away"));
      }
      if (line.waiting) li.appendChild(span("send-state", " waiting: delivered when they connect"));
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
        li.appendChild(span("send-state", line.waiting ? "waiting for the connection\u2026" :
          line.retrying ? "the cluster cannot be reached for a moment: sending again\u2026" : "sending\u2026"));
      }
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
      li.appendChild(linkedText("text", line.text));
      break;
    case "who":
      li.appendChild(span("arrow", "---"));
      li.appendChild(text(" " + roomLabel(line.room) + " members (" + (line.total > line.members.length ? line.total + ", " + line.members.length + " shown" : line.members.length) + "): "));
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
  return withDividers(li, line);
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
      if (!isConversation(r)) r.noOlder = false; // what was dropped can be asked for again
    }
    if (l === r.marker) r.marker = null;
    if (l === r.firstUnread) r.firstUnread = null;
    if (l === r.joinLine) r.joinLine = null;
  });
}

export function atBottom() {
  const s = el.scroller;
  return s.scrollHeight - s.scrollTop - s.clientHeight < 40;
}

export function scrollToBottom() {
  el.scroller.scrollTop = el.scroller.scrollHeight;
  state.logPinned = true;
  const r = view();
  if (r.newBelow) {
    r.newBelow = 0;
    updateJump();
  }
}

// refreshAt draws line i of room r again, if it is on screen.
function refreshAt(r, i) {
  if (r !== view() || !el.messages.children[i]) return;
  el.messages.replaceChild(renderLine(r.lines[i]), el.messages.children[i]);
}

function startsDay(r, i) { return i === 0 || !sameDay(r.lines[i - 1].time, r.lines[i].time); }

// fixDays puts the day separators of lines from..to (indexes of room r)
// where they belong after lines were added or removed around them.
function fixDays(r, from, to) {
  from = Math.max(0, from);
  to = Math.min(r.lines.length - 1, to);
  for (let i = from; i <= to; i++) {
    const start = startsDay(r, i);
    if (!!r.lines[i].dayStart !== start) {
      r.lines[i].dayStart = start;
      refreshAt(r, i);
    }
  }
}

// setFlag sets or clears a divider flag (marker, earlierAbove) of a line
// and draws it again.
export function setFlag(r, line, flag, on) {
  if (!line || !!line[flag] === on) return;
  line[flag] = on;
  refreshAt(r, r.lines.indexOf(line));
}

// insertAt puts line at index idx of room r, dropping the oldest lines
// beyond MAX_LINES.
function insertAt(r, idx, line) {
  rememberId(r, line);
  r.lines.splice(idx, 0, line);
  line.dayStart = startsDay(r, idx);
  const excess = r.lines.length - MAX_LINES;
  const removed = excess > 0 ? r.lines.splice(0, excess) : [];
  forgetLines(r, removed);
  const at = idx - removed.length;
  if (r !== view()) {
    fixDays(r, 0, 0);
    fixDays(r, at + 1, at + 1);
    return;
  }
  const stick = atBottom() || line.self || line.kind === "pending";
  const before = el.messages.children[idx] || null;
  el.messages.insertBefore(renderLine(line), before);
  for (let i = 0; i < removed.length && el.messages.firstChild; i++) el.messages.removeChild(el.messages.firstChild);
  fixDays(r, 0, 0);
  fixDays(r, at + 1, at + 1);
  if (stick) {
    scrollToBottom();
  } else if (line.kind === "msg") {
    r.newBelow++;
    updateJump();
  }
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
  forgetLines(r, [line]);
  if (r === view() && el.messages.children[idx]) el.messages.removeChild(el.messages.children[idx]);
  fixDays(r, idx, idx);
}

// refreshLine draws a line of room r again after it changed.
export function refreshLine(r, line) {
  const idx = r.lines.indexOf(line);
  if (idx >= 0) refreshAt(r, idx);
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
  for (let i = idx; i < idx + lines.length; i++) r.lines[i].dayStart = startsDay(r, i);
  if (r !== view()) {
    fixDays(r, idx + lines.length, idx + lines.length);
    return;
  }
  const s = el.scroller;
  const fromBottom = s.scrollHeight - s.scrollTop;
  const frag = document.createDocumentFragment();
  lines.forEach(function (l) { frag.appendChild(renderLine(l)); });
  el.messages.insertBefore(frag, el.messages.children[idx] || null);
  fixDays(r, idx + lines.length, idx + lines.length);
  updateOlder();
  s.scrollTop = s.scrollHeight - fromBottom;
}

export function systemLine(kind, fields) {
  const line = { kind: kind, time: new Date() };
  for (const k in fields) if (has(fields, k)) line[k] = fields[k];
  addLine(view(), line);
}

// ---- where the reader is -------------------------------------------------

// saveAnchor remembers where the reader of the room shown is: the first
// message at least partly in view and how far it is from the top, or
// nothing when at the bottom (the newest lines are then shown again).
export function saveAnchor(r) {
  if (r !== view() || el.chatView.hidden) return;
  r.anchor = null;
  if (atBottom()) return;
  const top = el.scroller.getBoundingClientRect().top;
  const items = el.messages.children;
  for (let i = 0; i < items.length; i++) {
    const box = items[i].getBoundingClientRect();
    if (box.bottom > top && items[i].hasAttribute("data-id")) {
      r.anchor = { id: Number(items[i].getAttribute("data-id")), off: Math.round(box.top - top) };
      return;
    }
  }
}

// restoreAnchor scrolls the room shown back to its saved place, once the
// message it names is held. Returns whether it did.
export function restoreAnchor(r) {
  if (r !== view() || !r.anchor || !(r.anchor.id > 0)) return false;
  const li = el.messages.querySelector('li[data-id="' + Number(r.anchor.id) + '"]');
  if (!li) return false;
  el.scroller.scrollTop += li.getBoundingClientRect().top - el.scroller.getBoundingClientRect().top - r.anchor.off;
  // Judged here too: the scroll event may come with a new log height
  // (the chat view just shown), which keys.js leaves unjudged.
  state.logPinned = atBottom();
  r.anchor = null;
  countBelow(r, r.lines.indexOf(lineWithId(r, Number(li.getAttribute("data-id")))));
  return true;
}

function lineWithId(r, id) {
  for (let i = 0; i < r.lines.length; i++) if (r.lines[i].id === id) return r.lines[i];
  return null;
}

// countBelow counts, while scrolled up, the messages below line index i
// for the "jump to latest" button.
function countBelow(r, i) {
  r.newBelow = 0;
  if (atBottom()) {
    updateJump();
    return;
  }
  for (let j = i + 1; j < r.lines.length; j++) if (r.lines[j].kind === "msg") r.newBelow++;
  updateJump();
}

// showMarker brings the "new messages" divider into view when it is above
// the lines shown.
function showMarker(r) {
  const idx = r.lines.indexOf(r.marker);
  const li = el.messages.children[idx];
  if (!li) return;
  const top = el.scroller.getBoundingClientRect().top;
  const offset = li.getBoundingClientRect().top - top;
  if (offset < 0) {
    el.scroller.scrollTop += offset - 8;
    state.logPinned = atBottom();
    countBelow(r, idx - 1);
  }
}

// updateJump shows "Jump to latest" while the reader is scrolled up, with
// the number of messages below.
export function updateJump() {
  const r = view();
  const show = !atBottom() && r.lines.length > 0;
  el.jump.hidden = !show;
  if (!show) r.newBelow = 0;
  const label = r.newBelow ? "Jump to latest (" + r.newBelow + " new)" : "Jump to latest";
  if (el.jump.textContent !== label) el.jump.textContent = label;
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
  r.newBelow = 0;
  if (!restoreAnchor(r) && r.marker) showMarker(r);
  updateJump();
  renderStatus();
  renderMembers();
  renderTabs();
}

let topicShown = null;

export function renderStatus() {
  const r = view();
  const pm = isConversation(r);
  el.roomName.textContent = pm ? r.name : state.current ? roomLabel(state.current) : "no room";
  el.meNick.textContent = state.me;
  el.memberCount.textContent = pm ? "private conversation" : r.notJoined ? "not joined" : state.current ? (r.count === 1 ? "1 member" : r.count + " members") : "";
  if (topicShown !== r.topic) {
    topicShown = r.topic;
    el.roomTopic.textContent = "";
    el.roomTopic.appendChild(linkify(r.topic));
  }
  setAttr(el.roomTopic, "title", r.topic);
  setAttr(el.input, "placeholder", pm
    ? "Message " + r.name + " privately \u2014 /help for commands"
    : state.current
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
    if (isMe(m.nick)) {
      li.appendChild(nickSpan(m.nick));
    } else {
      // A button, so that the keyboard can open a conversation too.
      const b = document.createElement("button");
      b.type = "button";
      b.className = "member-open";
      b.setAttribute("data-nick", m.nick);
      b.title = "Talk privately with " + m.nick;
      b.appendChild(span(nickClass(m.nick), m.nick));
      li.appendChild(b);
    }
    if (m.registered) li.appendChild(regBadge());
    li.appendChild(text(" "));
    li.appendChild(span("via via-" + (m.via === "ssh" ? "ssh" : "web"), "(" + (m.via || "?") + ")"));
    if (m.away) li.appendChild(awaySpan(m.away));
    frag.appendChild(li);
  });
  if (r.membersNext) {
    // A big room's list comes in pages: the rest on demand.
    const li = document.createElement("li");
    li.className = "member member-more";
    const b = document.createElement("button");
    b.type = "button";
    b.setAttribute("data-more-members", "");
    b.textContent = "Show more (" + r.members.length + " of " + r.count + " shown)";
    li.appendChild(b);
    frag.appendChild(li);
  }
  el.memberList.appendChild(frag);
}

// unreadLabel says what a tab's badge counts ("3 unread, 1 mention"). In
// a private conversation every message is for us: no mentions are counted.
function unreadLabel(r) {
  const mentions = r.mention && !isConversation(r) ? Math.max(1, r.mentions || 0) : 0;
  return r.unread + " unread" + (mentions ? ", " + mentions + (mentions === 1 ? " mention" : " mentions") : "");
}

function badgeFor(r, b) {
  if (r.mention) b.className += " has-mention";
  const badge = span("badge", r.unread > 99 ? "99+" : String(r.unread));
  badge.hidden = !r.unread;
  badge.setAttribute("aria-hidden", "true"); // read from the label below
  const label = unreadLabel(r);
  badge.title = label;
  b.appendChild(badge);
  if (r.unread) b.appendChild(span("visually-hidden", label));
}

function roomTab(r, current) {
  const b = document.createElement("button");
  b.type = "button";
  b.className = "room-tab";
  b.setAttribute("data-room", r.name);
  if (current) {
    b.className += " current";
    b.setAttribute("aria-current", "true");
  }
  if (r.notJoined) {
    // Left on another device of the key while this page was away.
    b.className += " not-joined";
    b.title = roomLabel(r.name) + ": not joined (/join " + roomLabel(r.name) + " to come back, /part to close)";
  }
  b.appendChild(span("room-tab-name", roomLabel(r.name)));
  badgeFor(r, b);
  return b;
}

function privateTab(key, c, current) {
  const wrap = span("pm-tab-wrap");
  const b = document.createElement("button");
  b.type = "button";
  b.className = "room-tab pm-tab";
  b.setAttribute("data-pm", key);
  b.title = "Private conversation with " + c.name;
  if (current) {
    b.className += " current";
    b.setAttribute("aria-current", "true");
  }
  b.appendChild(span("pm-tab-name", c.name));
  badgeFor(c, b);
  const x = document.createElement("button");
  x.type = "button";
  x.className = "pm-close";
  x.setAttribute("data-close", key);
  x.setAttribute("aria-label", "Close the conversation with " + c.name);
  x.title = "Close";
  x.textContent = "\u00d7";
  wrap.appendChild(b);
  wrap.appendChild(x);
  return wrap;
}

// renderTabs draws the room tabs, then the private ones. A tab whose look
// did not change keeps its element (a click on it is never lost to a
// redraw, and assistive technology is not told of needless changes).
export function renderTabs() {
  const shown = view();
  const tabs = [];
  state.order.forEach(function (name) {
    const r = state.rooms[name];
    tabs.push({ r: r, make: function () { return roomTab(r, r === shown); } });
  });
  state.pmOrder.forEach(function (key) {
    const c = state.privates[key];
    tabs.push({ r: c, make: function () { return privateTab(key, c, c === shown); } });
  });
  const old = new Map();
  Array.prototype.forEach.call(el.rooms.children, function (e) { old.set(e.getAttribute("data-tab"), e); });
  tabs.forEach(function (t, i) {
    const key = (isConversation(t.r) ? "@" : "#") + fold(t.r.name);
    const look = [t.r === shown, unreadLabel(t.r), t.r.mention, t.r.name, !!t.r.notJoined].join("\u0000");
    let e = old.get(key);
    old.delete(key);
    if (!e || e.getAttribute("data-look") !== look) {
      const fresh = t.make();
      fresh.setAttribute("data-tab", key);
      fresh.setAttribute("data-look", look);
      if (e) e.replaceWith(fresh);
      e = fresh;
    }
    if (el.rooms.children[i] !== e) el.rooms.insertBefore(e, el.rooms.children[i] || null);
  });
  old.forEach(function (e) { e.remove(); });
}

// updateOlder shows "Load older messages" while the room shown holds
// messages and the server said older ones are stored.
export function updateOlder() {
  const r = view();
  const show = r !== state.noRoom && !isConversation(r) && oldestId(r) > 0 && !r.noOlder;
  el.loadOlder.hidden = !show;
  el.loadOlder.disabled = r.loading;
  el.loadOlder.textContent = r.loading ? "Loading older messages\u2026" : "Load older messages";
}

// countUnread raises room r's badge for a message that arrived (live or
// caught up) while another tab is shown, and remembers the first one for
// the "new messages" divider.
export function countUnread(r, line) {
  if (r !== view() && !line.self) {
    if (!r.unread) r.firstUnread = line;
    r.unread++;
    if (line.mention) r.mentions = r.mention ? (r.mentions || 0) + 1 : 1; // counted since the tab was last shown
    if (line.mention || isConversation(r)) r.mention = true;
    renderTabs();
  }
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
