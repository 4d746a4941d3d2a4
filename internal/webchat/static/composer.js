// The composer: what the user types, its recall (Up/Down), and the outbox
// of lines sent but not yet confirmed. Nothing typed is dropped without a
// word: each message is shown pending until the server's copy (matched by
// its cid) comes back; a refused one is shown failed with the reason and
// can be sent again or edited; one typed while disconnected waits and goes
// out after the reconnect, with the same cid, so it is stored once.

import { MAX_FRAME, HISTORY, state, view, roomNamed, normRoom } from "./state.js";
import { el, addLine, removeLine, refreshLine, systemLine, scrollToBottom } from "./render.js";
import * as conn from "./connection.js";

let history = [];
let historyPos = 0;
// outbox: cid -> { frame, room, line, auto }, in the order typed. auto:
// resent by the page itself after a reconnect.
const outbox = new Map();
// editing is the cid of the failed line whose text was put back in the
// composer: sending the composer replaces that line.
let editing = "";
let hooks = {};

// setComposerHooks: switchTo(name, tell) shows a joined room; privateTo()
// is the nick of the private conversation shown, or "".
export function setComposerHooks(h) { hooks = h; }

function newCID() {
  const b = new Uint8Array(12);
  crypto.getRandomValues(b);
  return Array.from(b, function (x) { return (x < 16 ? "0" : "") + x.toString(16); }).join("");
}

// A line makes a message (rather than running a command) when it does not
// start with '/', starts with '//', or is a /me action.
function makesMessage(value) { return !/^\//.test(value) || /^\/\//.test(value) || /^\/me\s/i.test(value); }

function remember(value) {
  if (history[history.length - 1] !== value) {
    history.push(value);
    if (history.length > HISTORY) history.shift();
  }
  historyPos = history.length;
  el.input.value = "";
}

function connected() { return conn.isOpen() && state.welcomed; }

function transmit(item) {
  item.line.waiting = !connected();
  if (!item.line.waiting) conn.send(item.frame);
}

function onSubmit(ev) {
  ev.preventDefault();
  const value = el.input.value;
  if (!value.trim()) return;
  // "/join #room" for a room we are in just shows it (the server would
  // make it current without sending anything).
  const join = /^\/join\s+(#?\S+)\s*$/i.exec(value.trim());
  if (join && roomNamed(join[1])) {
    if (hooks.switchTo) hooks.switchTo(normRoom(join[1]), true);
    remember(value);
    return;
  }
  const frame = { type: "say", room: state.current, text: value, cid: newCID() };
  if (new TextEncoder().encode(JSON.stringify(frame)).length > MAX_FRAME) {
    systemLine("error", { text: "message not sent: too long (it is still in the box)" });
    return;
  }
  // In a private conversation a message goes to that person alone.
  const to = hooks.privateTo ? hooks.privateTo() : "";
  if (to && makesMessage(value)) {
    if (/^\/me\s/i.test(value)) {
      systemLine("error", { text: "/me works in rooms only: not sent (it is still in the box)" });
      return;
    }
    if (!connected()) {
      systemLine("error", { text: "not connected: the private message was not sent (it is still in the box)" });
      return;
    }
    conn.send({ type: "say", room: state.current, text: "/msg " + to + " " + value.replace(/^\/\//, "/") });
    remember(value);
    return;
  }
  if (!makesMessage(value)) {
    if (!connected()) {
      systemLine("error", { text: "not connected: the command was not sent (it is still in the box)" });
      return;
    }
    conn.send(frame);
    remember(value);
    scrollToBottom();
    return;
  }
  if (editing) drop(editing);
  const action = /^\/me\s/i.test(value);
  const shown = action ? value.replace(/^\/me\s+/i, "") : value.replace(/^\/\//, "/");
  const r = view();
  const line = {
    kind: "pending", time: new Date(), room: r.name, from: state.me, self: true,
    text: shown, action: action, cid: frame.cid, failed: false, reason: "", waiting: false
  };
  const item = { frame: frame, room: r, line: line, auto: false };
  outbox.set(frame.cid, item);
  remember(value);
  transmit(item);
  addLine(r, line);
}

function drop(cid) {
  const item = outbox.get(cid);
  if (editing === cid) editing = "";
  if (!item) return;
  outbox.delete(cid);
  removeLine(item.room, item.line);
}

// confirm: the server's copy of a line we sent arrived; app.js shows it as
// a message in its place.
export function confirm(cid) {
  if (typeof cid === "string" && cid && outbox.has(cid)) drop(cid);
}

// refuse: the server refused a line we sent (an error carrying its cid).
// Returns false if the cid is not one of ours.
export function refuse(cid, code, reason) {
  const item = typeof cid === "string" && cid ? outbox.get(cid) : null;
  if (!item) return false;
  if (item.auto && code === "rate_limited") {
    // Resent by the page itself, faster than the server's budget: again,
    // a little later.
    setTimeout(function () { if (outbox.get(cid) === item && !item.line.failed) conn.sendPaced(item.frame); }, 2000);
    return true;
  }
  item.line.failed = true;
  item.line.waiting = false;
  item.line.reason = reason || code || "refused";
  refreshLine(item.room, item.line);
  if (!el.input.value) {
    el.input.value = item.frame.text;
    editing = cid;
  }
  return true;
}

// connectionLost marks the lines still waiting for their copy.
export function connectionLost() {
  outbox.forEach(function (item) {
    if (!item.line.failed && !item.line.waiting) {
      item.line.waiting = true;
      refreshLine(item.room, item.line);
    }
  });
}

// resendPending sends again, after a reconnect, every line not confirmed
// nor refused, with its cid: the server stores each once whatever happened
// to the first try.
export function resendPending() {
  outbox.forEach(function (item) {
    if (item.line.failed) return;
    item.auto = true;
    conn.sendPaced(item.frame, function () {
      item.line.waiting = false;
      refreshLine(item.room, item.line);
    });
  });
}

// forget drops the whole outbox (signing out).
export function forgetOutbox() {
  outbox.clear();
  editing = "";
}

function onLogClick(ev) {
  const b = ev.target.closest ? ev.target.closest("button.line-action") : null;
  if (!b) return;
  const cid = b.getAttribute("data-cid");
  const item = outbox.get(cid);
  if (!item) return;
  if (b.getAttribute("data-act") === "retry") {
    if (editing === cid) {
      editing = "";
      if (el.input.value === item.frame.text) el.input.value = "";
    }
    item.line.failed = false;
    item.auto = false;
    transmit(item);
    refreshLine(item.room, item.line);
  } else {
    el.input.value = item.frame.text;
    drop(cid);
  }
  el.input.focus();
}

function onInputKey(ev) {
  if (ev.key === "ArrowUp" && historyPos > 0 && (el.input.value === "" || el.input.value === history[historyPos])) {
    historyPos--;
    el.input.value = history[historyPos];
    ev.preventDefault();
  } else if (ev.key === "ArrowDown" && historyPos < history.length) {
    historyPos++;
    el.input.value = historyPos < history.length ? history[historyPos] : "";
    ev.preventDefault();
  }
}

export function initComposer() {
  el.sendForm.addEventListener("submit", onSubmit);
  el.input.addEventListener("keydown", onInputKey);
  el.messages.addEventListener("click", onLogClick);
}
