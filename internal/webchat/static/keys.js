// Page-wide keys and the layout's small helpers: Alt+Up/Down and Alt+1..9
// switch tabs, PageUp/PageDown in the composer page the log; the log stays
// on its newest line when its height changes (phone keyboard, offline bar,
// a growing composer); the current tab is kept in view; the members drawer
// and the topic open on a tap (phones).

import { el, scrollToBottom } from "./render.js";
import { state } from "./state.js";

// Within this many pixels of the end, the log counts as at the bottom.
const PINNED_SLACK = 40;

let logHeight = 0; // the log's height when state.logPinned was last judged

function tabs() { return Array.from(el.rooms.querySelectorAll(".room-tab")); }

// switchTab shows the tab at index i (wrapping), as a click would.
function switchTab(i) {
  const all = tabs();
  if (!all.length) return;
  const t = all[((i % all.length) + all.length) % all.length];
  t.click();
  el.input.focus();
}

function currentIndex() {
  return tabs().findIndex(function (t) { return t.classList.contains("current"); });
}

function onDocumentKey(ev) {
  if (el.chatView.hidden || !ev.altKey || ev.ctrlKey || ev.metaKey || ev.shiftKey) return;
  // ev.code: Alt changes ev.key on some layouts (Option+1 is "¡" on a Mac).
  const digit = /^Digit([1-9])$/.exec(ev.code);
  if (digit) {
    if (Number(digit[1]) <= tabs().length) switchTab(Number(digit[1]) - 1);
  } else if (ev.key === "ArrowUp" || ev.key === "ArrowDown") {
    switchTab(currentIndex() + (ev.key === "ArrowUp" ? -1 : 1));
  } else {
    return;
  }
  ev.preventDefault();
}

function onComposerKey(ev) {
  if (ev.key !== "PageUp" && ev.key !== "PageDown") return;
  if (ev.altKey || ev.ctrlKey || ev.metaKey || ev.shiftKey) return;
  const s = el.scroller;
  const step = Math.max(40, s.clientHeight * 0.9);
  s.scrollTop += ev.key === "PageUp" ? -step : step;
  ev.preventDefault();
}

// onScroll judges whether the user keeps the log at its newest line. A
// scroll that comes with a new height (the log shrank, so its end moved
// away) is left to onResize, which runs after it.
function onScroll() {
  const s = el.scroller;
  if (s.clientHeight !== logHeight) return;
  state.logPinned = s.scrollHeight - s.scrollTop - s.clientHeight < PINNED_SLACK;
}

// A shorter log (keyboard opened, offline bar shown) keeps showing its
// newest line if it did before.
function onResize() {
  logHeight = el.scroller.clientHeight;
  if (state.logPinned) scrollToBottom();
}

// keepTabInView scrolls the tab bar so that the current tab shows.
function keepTabInView() {
  const t = el.rooms.querySelector(".room-tab.current");
  if (!t) return;
  const bar = el.rooms;
  const left = t.offsetLeft - bar.offsetLeft;
  const right = left + t.offsetWidth;
  if (left < bar.scrollLeft) {
    bar.scrollLeft = left;
  } else if (right > bar.scrollLeft + bar.clientWidth) {
    bar.scrollLeft = right - bar.clientWidth;
  }
}

function setDrawer(open) {
  el.members.classList.toggle("open", open);
  el.membersToggle.setAttribute("aria-expanded", String(open));
}

function onTopicClick() {
  const open = !el.roomTopic.classList.contains("expanded");
  el.roomTopic.classList.toggle("expanded", open);
  el.roomTopic.setAttribute("aria-expanded", String(open));
}

export function initKeys() {
  el.membersToggle = document.getElementById("members-toggle");
  document.addEventListener("keydown", onDocumentKey);
  el.input.addEventListener("keydown", onComposerKey);
  el.scroller.addEventListener("scroll", onScroll, { passive: true });
  new ResizeObserver(onResize).observe(el.scroller);
  if (window.visualViewport) window.visualViewport.addEventListener("resize", onResize);
  new MutationObserver(keepTabInView).observe(el.rooms, { childList: true });
  new ResizeObserver(keepTabInView).observe(el.rooms);
  el.membersToggle.addEventListener("click", function () {
    const open = !el.members.classList.contains("open");
    setDrawer(open);
    if (open) document.getElementById("members-close").focus();
  });
  document.getElementById("members-close").addEventListener("click", function () {
    setDrawer(false);
    el.membersToggle.focus();
  });
  document.addEventListener("keydown", function (ev) {
    if (ev.key === "Escape" && el.members.classList.contains("open")) {
      setDrawer(false);
      el.membersToggle.focus();
    }
  });
  el.roomTopic.addEventListener("click", onTopicClick);
}
