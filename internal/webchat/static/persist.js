// What the page remembers across reloads, in this browser's local storage:
// the nick (a guest rejoins as it), the open rooms and private tabs, the
// tab shown, a draft per tab, where each tab was scrolled to, and the
// notification choices. Storage may be unavailable (private browsing,
// quota): the page then simply forgets.

const KEY = "tertulia.v1";
const MAX_DRAFT = 16 * 1024;

function read() {
  try {
    const v = JSON.parse(window.localStorage.getItem(KEY) || "{}");
    return v && typeof v === "object" && !Array.isArray(v) ? v : {};
  } catch (e) {
    return {};
  }
}

const saved = read();

function write() {
  try { window.localStorage.setItem(KEY, JSON.stringify(saved)); } catch (e) { /* full or unavailable */ }
}

function obj(name) {
  const v = saved[name];
  if (!v || typeof v !== "object" || Array.isArray(v)) saved[name] = {};
  return saved[name];
}

export function get(name) { return saved[name]; }

export function strings(name) {
  const v = saved[name];
  return Array.isArray(v) ? v.filter(function (x) { return typeof x === "string" && x; }) : [];
}

export function set(fields) {
  for (const k in fields) if (Object.prototype.hasOwnProperty.call(fields, k)) saved[k] = fields[k];
  write();
}

export function draft(tab) {
  const v = obj("drafts")[tab];
  return typeof v === "string" ? v : "";
}

export function setDraft(tab, textValue) {
  if (!tab) return;
  const drafts = obj("drafts");
  if (textValue && textValue.length <= MAX_DRAFT) {
    if (drafts[tab] === textValue) return;
    drafts[tab] = textValue;
  } else {
    if (!(tab in drafts)) return;
    delete drafts[tab];
  }
  write();
}

export function anchor(tab) {
  const v = obj("scroll")[tab];
  return v && typeof v.id === "number" && typeof v.off === "number" ? { id: v.id, off: v.off } : null;
}

export function setAnchor(tab, a) {
  if (!tab) return;
  const scroll = obj("scroll");
  if (a) {
    scroll[tab] = { id: a.id, off: a.off };
  } else {
    delete scroll[tab];
  }
  write();
}

// forgetChat drops what belongs to a chat that ended on purpose (signed
// out): nothing is rejoined on the next visit; the nick is kept to be
// offered again.
export function forgetChat() {
  saved.autoJoin = false;
  saved.rooms = [];
  saved.privates = [];
  saved.tab = "";
  saved.drafts = {};
  saved.scroll = {};
  write();
}
