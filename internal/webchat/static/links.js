// Clickable links in messages and topics. Only http(s):// addresses and
// ones starting with "www." (taken as https://) become links; any other
// scheme (javascript:, data:, vbscript:, ...) stays plain text. Links are
// built as DOM nodes: the text goes in with textContent, the address is
// checked with the URL parser before it is set as href.

const CANDIDATE = /\b(?:https?:\/\/|www\.)[^\s<>"'`\u00a0]+/gi;
const TRAILING = /[.,;:!?'"\u2019\u201d*_]+$/;

// trim drops what usually ends a sentence rather than an address: trailing
// punctuation, and closing brackets that were not opened in the address.
function trim(s) {
  for (;;) {
    const t = s.replace(TRAILING, "");
    const last = t.charAt(t.length - 1);
    const pairs = { ")": "(", "]": "[", "}": "{" };
    if (pairs[last] && count(t, pairs[last]) < count(t, last)) {
      s = t.slice(0, -1);
      continue;
    }
    return t;
  }
}

function count(s, ch) { return s.split(ch).length - 1; }

// safeHref returns the address a link may point at, or "".
export function safeHref(s) {
  const href = /^www\./i.test(s) ? "https://" + s : s;
  let u;
  try { u = new URL(href); } catch (e) { return ""; }
  if (u.protocol !== "http:" && u.protocol !== "https:") return "";
  if (!u.hostname) return "";
  return u.href;
}

function link(label, href) {
  const a = document.createElement("a");
  a.href = href;
  a.textContent = label;
  a.target = "_blank";
  a.rel = "noopener noreferrer nofollow";
  a.className = "link";
  return a;
}

// linkify returns a fragment showing s as text, with its addresses as links.
export function linkify(s) {
  s = String(s);
  const frag = document.createDocumentFragment();
  let at = 0;
  CANDIDATE.lastIndex = 0;
  let m;
  while ((m = CANDIDATE.exec(s)) !== null) {
    const label = trim(m[0]);
    const href = label.length > 4 ? safeHref(label) : "";
    if (!href) continue;
    if (m.index > at) frag.appendChild(document.createTextNode(s.slice(at, m.index)));
    frag.appendChild(link(label, href));
    at = m.index + label.length;
    CANDIDATE.lastIndex = at;
  }
  if (at < s.length) frag.appendChild(document.createTextNode(s.slice(at)));
  return frag;
}

// linkedText is a span of class cls showing s with its links.
export function linkedText(cls, s) {
  const e = document.createElement("span");
  if (cls) e.className = cls;
  e.appendChild(linkify(s));
  return e;
}
