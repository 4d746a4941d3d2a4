// The composer: what the user types, its recall (Up/Down), and the outbox
// of lines sent but not yet confirmed. Nothing typed is dropped without a
// word: each message is shown pending until the server's copy (matched by
// its cid) comes back; a refused one is shown failed with the reason and
// can be sent again or edited; one typed while disconnected waits and goes
// out after the reconnect, with the same cid, so it is stored once.
// Private messages (typed in a conversation, or as /msg and /reply) go the
// same way: pending in their conversation until their echo (a private frame
// carrying the cid) comes back, failed with the reason when refused.
// A line refused because the cluster cannot be reached for a moment
// (cluster_unavailable: a NATS server died and JetStream elects a new
// leader, seconds) stays pending and is sent again by the page, with its
// cid, with a growing delay; the lines typed after it in its tab wait for
// it, so that they go out in the order typed. Past CLUSTER_RETRY_FOR it is
// shown failed like any refusal (and the lines waiting for it with it).
//
// The composer is a textarea: Enter sends, Shift+Enter starts a new line,
// and a pasted block of lines is sent as one say with its line breaks. Tab
// completes nicks, commands and rooms (complete.js); a counter shows the
// length near the server's limit; keys.js has the page-wide shortcuts.

import { MAX_FRAME, HISTORY, state, view, roomNamed, normRoom, isConversation } from "./state.js";
import { el, addLine, removeLine, refreshLine, systemLine, scrollToBottom } from "./render.js";
import * as conn from "./connection.js";
import { completeAt } from "./complete.js";
import { initKeys } from "./keys.js";

// DEFAULT_MAX_MESSAGE is the server's default --max-message, in
// characters, used until a welcome says otherwise.
const DEFAULT_MAX_MESSAGE = 2000;
// The counter shows from this share of the limit on.
const COUNTER_FROM = 0.9;

let history = [];
let historyPos = 0;
// CLUSTER_RETRY_DELAYS are the waits before each new try of a line refused
// with cluster_unavailable, the last one repeated; CLUSTER_RETRY_FOR is how
// long after the first refusal the page stops trying: longer than NATS
// takes to elect a leader. Tests shorten it with ?cluster-retry=MS in the
// page's address (at least 1000).
const CLUSTER_RETRY_DELAYS = [500, 1000, 2000, 4000];
const CLUSTER_RETRY_FOR = (function () {
  try {
    const ms = parseInt(new URLSearchParams(location.search).get("cluster-retry") || "", 10);
    if (ms >= 1000) return ms;
  } catch (e) { /* no URL API: the default */ }
  return 15000;
})();

// outbox: cid -> { frame, room, line, auto, typed, reply, retry, held },
// in the order typed. room is the tab the line shows in (a private
// conversation for a private message); typed is the text given back to
// edit it; auto: resent by the page itself; reply: a /reply, whose
// conversation is known only from its echo; retry: { since, tries, timer }
// while the page sends it again after cluster_unavailable; held: it waits
// for an earlier line of its tab that is being sent again.
const outbox = new Map();
// editing is the cid of the failed line whose text was put back in the
// composer: sending the composer replaces that line.
let editing = "";
let hooks = {};
let maxMessage = DEFAULT_MAX_MESSAGE;
// completion: the Tab completion being cycled through, or null.
let completion = null;
// sentByEnter: the Enter key being pressed sent the text; the line break
// it would type is refused (see onBeforeInput).
let sentByEnter = false;
const fieldSizing = typeof CSS !== "undefined" && CSS.supports && CSS.supports("field-sizing", "content");

// setComposerHooks: switchTo(name, tell) shows a joined room; privateTo()
// is the nick of the private conversation shown, or ""; openPrivate(nick)
// opens (and shows) the conversation with nick and returns it;
// partLocally(room) closes a tab of a room we are no longer in.
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
  setValue("");
}

// setValue replaces the composer's text (and its size and counter).
function setValue(v) {
  el.input.value = v;
  onInputChange();
}

// setMessageLimit takes the longest message the server accepts, in
// characters, if the welcome says it.
export function setMessageLimit(n) {
  if (typeof n === "number" && n >= 1) {
    maxMessage = Math.floor(n);
    updateCounter();
  }
}

// The server counts characters as code points, not UTF-16 units.
function charCount(v) {
  let n = 0;
  for (const _ of v) n++;
  return n;
}

function updateCounter() {
  const n = charCount(el.input.value);
  const box = el.inputCount;
  const show = n >= maxMessage * COUNTER_FROM;
  box.hidden = !show;
  if (!show) return;
  const over = n - maxMessage;
  const label = n + " / " + maxMessage + (over > 0 ? " — " + over + " too many" : "");
  if (box.textContent !== label) box.textContent = label;
  box.classList.toggle("over", over > 0);
}

// grow sizes the textarea to its text, up to its max-height, where CSS
// field-sizing cannot.
function grow() {
  if (fieldSizing) return;
  const t = el.input;
  t.style.height = "auto";
  t.style.height = t.scrollHeight + (t.offsetHeight - t.clientHeight) + "px";
}

function onInputChange() {
  grow();
  updateCounter();
}

function connected() { return conn.isOpen() && state.welcomed; }

function transmit(item) {
  if (blockedBy(item)) {
    hold(item);
    return;
  }
  item.line.waiting = !connected();
  if (!item.line.waiting) conn.send(item.frame);
}

// blockedBy is the earlier line of item's tab that the page is sending
// again (or that waits for one), or null: item must go out after it.
function blockedBy(item) {
  for (const [, other] of outbox) {
    if (other === item) return null;
    if (other.room === item.room && !other.line.failed && (other.retry || other.held)) return other;
  }
  return null;
}

function hold(item) {
  item.held = true;
  item.line.retrying = true;
  refreshLine(item.room, item.line);
}

// retryLater schedules the next try of a line refused with
// cluster_unavailable; false once CLUSTER_RETRY_FOR has passed (the line
// is then failed as any refusal).
function retryLater(item) {
  if (blockedBy(item)) {
    // Sent before the earlier line's refusal came back: it goes out again
    // after that line.
    hold(item);
    return true;
  }
  const now = Date.now();
  if (!item.retry) item.retry = { since: now, tries: 0, timer: null };
  const r = item.retry;
  const delay = CLUSTER_RETRY_DELAYS[Math.min(r.tries, CLUSTER_RETRY_DELAYS.length - 1)];
  if (now + delay - r.since > CLUSTER_RETRY_FOR) return false;
  r.tries++;
  item.line.retrying = true;
  refreshLine(item.room, item.line);
  clearTimeout(r.timer);
  r.timer = setTimeout(function () {
    r.timer = null;
    if (outbox.get(item.frame.cid) !== item || item.line.failed) return;
    if (!connected()) return; // sent again with the others after the reconnect
    item.auto = true;
    conn.sendPaced(item.frame);
  }, delay);
  return true;
}

// release sends, in the order typed, the lines of room that waited for
// an earlier one being sent again, once none is (it was confirmed, failed
// or dropped).
function release(room) {
  for (const [, item] of outbox) {
    if (item.room !== room || item.line.failed) continue;
    if (item.retry) return;
    if (!item.held) continue;
    item.held = false;
    item.line.retrying = false;
    item.line.waiting = !connected();
    refreshLine(item.room, item.line);
    if (!item.line.waiting) {
      item.auto = true;
      conn.sendPaced(item.frame);
    }
  }
}

function stopRetry(item) {
  if (item.retry) clearTimeout(item.retry.timer);
  item.retry = null;
  item.held = false;
  item.line.retrying = false;
}

// privateTyped is what the value typed sends privately, or null: text in
// a conversation (not a command), /msg NICK TEXT, or /reply TEXT.
function privateTyped(value) {
  const to = hooks.privateTo ? hooks.privateTo() : "";
  if (to && makesMessage(value)) {
    if (/^\/me\s/i.test(value)) return { error: "/me works in rooms only: not sent (it is still in the box)" };
    const pm = value.replace(/^\/\//, "/");
    return { to: to, text: pm, typed: value };
  }
  const msg = /^\/msg\s+(\S+)\s+([\s\S]*\S[\s\S]*)$/i.exec(value);
  if (msg) {
    // Given back to edit in the conversation, where a leading '/' is
    // doubled to stay text.
    return { to: msg[1], text: msg[2], typed: (/^\//.test(msg[2]) ? "/" : "") + msg[2] };
  }
  const reply = /^\/reply\s+([\s\S]*\S[\s\S]*)$/i.exec(value);
  if (reply) return { to: "", text: reply[1], typed: value };
  return null;
}

function onSubmit(ev) {
  ev.preventDefault();
  const value = el.input.value;
  if (!value.trim()) return;
  // "/join #room" for a room we are in just shows it (the server would
  // make it current without sending anything).
  const join = /^\/join\s+(#?\S+)\s*$/i.exec(value.trim());
  if (join && roomNamed(join[1]) && !roomNamed(join[1]).notJoined) {
    if (hooks.switchTo) hooks.switchTo(normRoom(join[1]), true);
    remember(value);
    return;
  }
  // "/part" in the tab of a room we are no longer in closes it.
  const shownRoom = view();
  if (/^\/part(\s|$)/i.test(value.trim()) && !isConversation(shownRoom) && shownRoom.notJoined && hooks.partLocally) {
    hooks.partLocally(shownRoom.name);
    remember(value);
    return;
  }
  const frame = { type: "say", room: state.current, text: value, cid: newCID() };
  const pm = privateTyped(value);
  if (pm && pm.error) {
    systemLine("error", { text: pm.error });
    return;
  }
  if (pm) frame.text = pm.to ? "/msg " + pm.to + " " + pm.text : "/reply " + pm.text;
  if (new TextEncoder().encode(JSON.stringify(frame)).length > MAX_FRAME) {
    systemLine("error", { text: "message not sent: too long (it is still in the box)" });
    return;
  }
  if (!pm && !makesMessage(value)) {
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
  const action = !pm && /^\/me\s/i.test(value);
  const shown = pm ? pm.text : action ? value.replace(/^\/me\s+/i, "") : value.replace(/^\/\//, "/");
  // A private message shows in its conversation (opened for a /msg typed
  // elsewhere); a /reply where it was typed, until its echo says to whom.
  remember(value); // first: a tab left keeps an empty draft
  const r = pm && pm.to && hooks.openPrivate ? hooks.openPrivate(pm.to) : view();
  const line = {
    kind: "pending", time: new Date(), room: isConversation(r) ? "" : r.name, from: state.me, self: true,
    text: shown, action: action, cid: frame.cid, failed: false, reason: "", waiting: false, pm: !!pm
  };
  const item = { frame: frame, room: r, line: line, auto: false, typed: pm ? pm.typed : value, reply: !!pm && !pm.to };
  outbox.set(frame.cid, item);
  transmit(item);
  addLine(r, line);
}

function drop(cid) {
  const item = outbox.get(cid);
  if (editing === cid) editing = "";
  if (!item) return;
  const blocking = !!item.retry;
  stopRetry(item);
  outbox.delete(cid);
  removeLine(item.room, item.line);
  if (blocking) release(item.room);
}

// confirm: the server's copy of a line we sent arrived; app.js shows it as
// a message in its place. Returns what was confirmed ({ reply }: it was a
// /reply), or null if the cid is not one of ours.
export function confirm(cid) {
  if (typeof cid !== "string" || !cid || !outbox.has(cid)) return null;
  const item = outbox.get(cid);
  drop(cid);
  return { reply: item.reply };
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
  if (code === "cluster_unavailable" && retryLater(item)) return true;
  const held = item.retry ? heldBehind(item) : [];
  fail(item, cid, reason || code || "refused");
  // The lines waiting for it are not sent before it: failed with it.
  held.forEach(function (h) { fail(h, h.frame.cid, reason || code || "refused"); });
  return true;
}

// heldBehind is the lines of item's tab waiting for it, in order.
function heldBehind(item) {
  const out = [];
  outbox.forEach(function (other) {
    if (other !== item && other.room === item.room && other.held && !other.line.failed) out.push(other);
  });
  return out;
}

function fail(item, cid, reason) {
  stopRetry(item);
  item.line.failed = true;
  item.line.waiting = false;
  item.line.reason = reason;
  refreshLine(item.room, item.line);
  // The text goes back to the composer only in the tab it was typed for:
  // sent from another tab it could reach other people.
  if (!el.input.value && item.room === view()) {
    setValue(item.typed);
    editing = cid;
  }
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
    // All go out in the order typed: nothing waits for another. A line
    // still refused keeps its first refusal's time (retry.since).
    if (item.retry) clearTimeout(item.retry.timer);
    item.held = false;
    item.line.retrying = false;
    item.auto = true;
    conn.sendPaced(item.frame, function () {
      item.line.waiting = false;
      refreshLine(item.room, item.line);
    });
  });
}

// forget drops the whole outbox (signing out).
export function forgetOutbox() {
  outbox.forEach(stopRetry);
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
      if (el.input.value === item.typed) setValue("");
    }
    item.line.failed = false;
    item.auto = false;
    stopRetry(item);
    transmit(item);
    refreshLine(item.room, item.line);
  } else {
    setValue(item.typed);
    drop(cid);
  }
  el.input.focus();
}

// recalled: the composer holds what Up/Down put there, unchanged.
function recalled() { return historyPos < history.length && el.input.value === history[historyPos]; }

// Within several lines, Up and Down move the caret until it is on the
// first (last) line; only then do they recall.
function caretOnFirstLine() { return el.input.value.slice(0, el.input.selectionStart).indexOf("\n") < 0; }
function caretOnLastLine() { return el.input.value.indexOf("\n", el.input.selectionEnd) < 0; }

function onInputKey(ev) {
  const plain = !ev.altKey && !ev.ctrlKey && !ev.metaKey;
  if (ev.key !== "Tab") completion = null;
  sentByEnter = false;
  if (ev.key === "Enter" && plain && !ev.shiftKey && !ev.isComposing) {
    ev.preventDefault();
    sentByEnter = true;
    el.sendForm.requestSubmit();
  } else if (ev.key === "Tab" && plain && !ev.shiftKey) {
    onTab(ev);
  } else if (ev.key === "ArrowUp" && plain && !ev.shiftKey && historyPos > 0 && (el.input.value === "" || recalled() && caretOnFirstLine())) {
    historyPos--;
    setValue(history[historyPos]);
    ev.preventDefault();
  } else if (ev.key === "ArrowDown" && plain && !ev.shiftKey && historyPos < history.length && recalled() && caretOnLastLine()) {
    historyPos++;
    setValue(historyPos < history.length ? history[historyPos] : "");
    ev.preventDefault();
  }
}

// onBeforeInput refuses the line break of an Enter that sent the text:
// a browser skips it once the keydown is cancelled, but a key injected as
// separate keydown and character events (some virtual keyboards, automation)
// would still type it into the emptied composer.
function onBeforeInput(ev) {
  if (sentByEnter && (ev.inputType === "insertLineBreak" || ev.inputType === "insertParagraph")) ev.preventDefault();
}

// onTab completes the word before the caret; Tab again offers the next
// candidate. With nothing to complete, Tab moves the focus as usual.
function onTab(ev) {
  const t = el.input;
  if (t.selectionStart !== t.selectionEnd) return;
  if (!completion || t.value !== completion.value || t.selectionStart !== completion.caret) {
    completion = completeAt(t.value, t.selectionStart, view().members, state.order);
    if (!completion) return;
    completion.index = -1;
  }
  ev.preventDefault();
  completion.index = (completion.index + 1) % completion.choices.length;
  const word = completion.choices[completion.index];
  const value = t.value.slice(0, completion.start) + word + completion.after;
  const caret = completion.start + word.length;
  setValue(value);
  t.setSelectionRange(caret, caret);
  completion.value = value;
  completion.caret = caret;
}

export function initComposer() {
  el.inputCount = document.getElementById("input-count");
  el.sendForm.addEventListener("submit", onSubmit);
  // A refused line's text put back and then cleared: the refused line
  // stays, not replaced by whatever is typed next.
  el.input.addEventListener("input", function () { if (!el.input.value) editing = ""; });
  el.input.addEventListener("keydown", onInputKey);
  el.input.addEventListener("input", onInputChange);
  el.input.addEventListener("beforeinput", onBeforeInput);
  el.input.addEventListener("keyup", function (ev) { if (ev.key === "Enter") sentByEnter = false; });
  // On the scroller, not the list: the list may be moved between regions.
  el.scroller.addEventListener("click", onLogClick);
  initKeys();
}
