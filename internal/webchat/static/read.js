// Read markers (docs/protocol.md, "read"): for a signed-in browser, the
// server keeps per room and private conversation the id of the last
// message read, shared with the key's other devices. This page tells it
// when the newest message of the tab shown is on screen, and takes the
// markers other devices move: a tab's badge and "new messages" divider
// follow them.

import { state, view, roomNamed, conversationNamed, isConversation } from "./state.js";
import { el, setFlag, renderTabs } from "./render.js";

const DEBOUNCE_MS = 250; // a scroll sends one read once it settles

let send = function () { return false; };
let timer = null;

// initRead gives the module the socket's send.
export function initRead(sendFrame) { send = sendFrame; }

function isMessage(line) { return line.kind === "msg" && line.id > 0; }

// readSoon checks, once things settle, what of the tab shown is on screen.
export function readSoon() {
  if (timer !== null) return;
  timer = setTimeout(function () {
    timer = null;
    markShownRead();
  }, DEBOUNCE_MS);
}

// newestOnScreen is the id of the newest message of the tab shown whose
// line is (at least partly) inside the log's visible area; 0 if none.
function newestOnScreen(r) {
  const box = el.scroller.getBoundingClientRect();
  if (box.height <= 0) return 0;
  for (let i = r.lines.length - 1; i >= 0; i--) {
    const line = r.lines[i];
    if (!isMessage(line)) continue;
    const li = el.messages.children[i];
    if (!li) continue;
    const at = li.getBoundingClientRect();
    if (at.top >= box.bottom) continue; // below what is shown
    if (at.bottom <= box.top) return 0; // every later one was below
    return line.id;
  }
  return 0;
}

// markShownRead sends a read for the newest message on screen of the tab
// shown, if the page is visible and that is past what is known read.
function markShownRead() {
  if (!state.welcomed || !state.auth.signedIn || document.hidden || el.chatView.hidden) return;
  const r = view();
  if (r === state.noRoom) return;
  const id = newestOnScreen(r);
  if (!id || id <= (r.readUpTo || 0)) return;
  const frame = isConversation(r) ? { type: "read", nick: r.name, id: id } : { type: "read", room: r.name, id: id };
  if (send(frame)) r.readUpTo = id;
}

// onRead takes a marker from another device of the key, or the stored one
// after a join: a tab not shown counts as unread only its messages past
// it (none: no badge); on the tab shown, the "new messages" divider moves
// above the first message past it, or goes.
export function onRead(f) {
  const id = typeof f.id === "number" ? f.id : 0;
  const r = f.room ? roomNamed(f.room) : conversationNamed(String(f.nick || ""));
  if (!r || id <= (r.readUpTo || 0)) return;
  r.readUpTo = id;
  let first = null, count = 0, mentions = 0;
  r.lines.forEach(function (line) {
    if (!isMessage(line) || line.self || line.id <= id) return;
    if (!first) first = line;
    count++;
    if (line.mention) mentions++;
  });
  if (r === view()) {
    if (r.marker && (!first || r.marker.id <= id)) {
      const old = r.marker;
      r.marker = null;
      setFlag(r, old, "marker", false);
    }
    if (first && !r.marker && r.lines.indexOf(first) >= 0) {
      r.marker = first;
      setFlag(r, first, "marker", true);
    }
    return;
  }
  r.unread = count;
  r.firstUnread = first;
  r.mentions = mentions;
  r.mention = isConversation(r) ? count > 0 : mentions > 0;
  renderTabs();
}
