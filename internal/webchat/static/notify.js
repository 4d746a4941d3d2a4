// Getting the user's attention while the page is hidden, for mentions and
// private messages: the count in the title ("(3) Tertulia"), a badge drawn
// on the favicon, and, if the user turned them on here, a desktop
// notification and a short beep (WebAudio: no sound file to fetch).

import { BASE_TITLE, state } from "./state.js";
import * as persist from "./persist.js";

let buttons = null;
let audio = null;
let onOpen = null;

function supported() { return typeof window.Notification === "function"; }

function notifyOn() { return persist.get("notify") === true && supported() && window.Notification.permission === "granted"; }

function soundOn() { return persist.get("sound") === true; }

export function setTitle() {
  document.title = state.unread > 0 ? "(" + state.unread + ") " + BASE_TITLE : BASE_TITLE;
  drawFavicon(state.unread);
}

// drawFavicon shows the count on the tab's icon (a data: URL, which the
// CSP's img-src allows), or no icon at all when there is nothing new.
function drawFavicon(n) {
  let link = document.querySelector('link[rel="icon"]');
  if (!link) {
    link = document.createElement("link");
    link.rel = "icon";
    document.head.appendChild(link);
  }
  let href = "data:,";
  if (n > 0) {
    const c = document.createElement("canvas");
    c.width = c.height = 32;
    const g = c.getContext && c.getContext("2d");
    if (g) {
      g.fillStyle = "#175cd3";
      g.beginPath();
      g.arc(16, 16, 15, 0, 2 * Math.PI);
      g.fill();
      g.fillStyle = "#ffffff";
      g.font = "bold " + (n > 9 ? 16 : 20) + "px sans-serif";
      g.textAlign = "center";
      g.textBaseline = "middle";
      g.fillText(n > 99 ? "99+" : String(n), 16, 17);
      href = c.toDataURL("image/png");
    }
  }
  if (link.getAttribute("href") !== href) link.setAttribute("href", href);
}

function beep() {
  try {
    if (!audio) return;
    if (audio.state === "suspended") audio.resume();
    const osc = audio.createOscillator();
    const gain = audio.createGain();
    osc.frequency.value = 880;
    gain.gain.setValueAtTime(0.15, audio.currentTime);
    gain.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + 0.2);
    osc.connect(gain);
    gain.connect(audio.destination);
    osc.start();
    osc.stop(audio.currentTime + 0.2);
  } catch (e) { /* no audio: silence */ }
}

// callAttention tells the user of a mention or a private message while the page
// is hidden. what: { title, body, tag, tab }.
export function callAttention(what) {
  if (!document.hidden) return;
  state.unread++;
  setTitle();
  if (soundOn()) beep();
  if (!notifyOn()) return;
  try {
    const n = new window.Notification(what.title, { body: String(what.body).slice(0, 240), tag: what.tag });
    n.onclick = function () {
      window.focus();
      if (onOpen) onOpen(what.tab);
      n.close();
    };
  } catch (e) { /* e.g. a browser that allows them only from a service worker */ }
}

// seen: the page is shown again.
export function seen() {
  if (!state.unread) return;
  state.unread = 0;
  setTitle();
}

function render() {
  if (!buttons) return;
  const n = notifyOn();
  buttons.notify.textContent = n ? "Notifications on" : "Notifications off";
  buttons.notify.setAttribute("aria-pressed", n ? "true" : "false");
  buttons.notify.title = !supported()
    ? "This browser has no desktop notifications"
    : window.Notification.permission === "denied"
      ? "Notifications are blocked for this site in the browser's settings"
      : "Desktop notifications for mentions and private messages while this page is hidden";
  buttons.notify.disabled = !supported();
  const s = soundOn();
  buttons.sound.textContent = s ? "Sound on" : "Sound off";
  buttons.sound.setAttribute("aria-pressed", s ? "true" : "false");
}

function onNotifyClick() {
  if (!supported()) return;
  if (notifyOn()) {
    persist.set({ notify: false });
    render();
    return;
  }
  const asked = window.Notification.requestPermission();
  const done = function () {
    persist.set({ notify: window.Notification.permission === "granted" });
    render();
  };
  if (asked && typeof asked.then === "function") {
    asked.then(done, done);
  } else {
    done();
  }
}

function onSoundClick() {
  persist.set({ sound: !soundOn() });
  // Browsers let a page play sound once the user interacted with it: the
  // click that turns the sound on is that interaction.
  if (soundOn() && !audio) {
    const Ctx = window.AudioContext || window.webkitAudioContext;
    if (Ctx) audio = new Ctx();
  }
  render();
  if (soundOn()) beep();
}

function headerButton(id, onClick) {
  const b = document.createElement("button");
  b.type = "button";
  b.id = id;
  b.className = "secondary";
  b.addEventListener("click", onClick);
  return b;
}

// initNotify adds the two switches at the end of panel (the members'
// side panel); open(tab) shows a tab when a notification is clicked.
export function initNotify(panel, open) {
  onOpen = open;
  buttons = { notify: headerButton("notify-toggle", onNotifyClick), sound: headerButton("sound-toggle", onSoundClick) };
  const box = document.createElement("div");
  box.className = "alert-settings";
  box.appendChild(buttons.notify);
  box.appendChild(buttons.sound);
  panel.appendChild(box);
  // Audio may start only after the user interacted with the page.
  const wake = function () {
    document.removeEventListener("pointerdown", wake, true);
    document.removeEventListener("keydown", wake, true);
    if (soundOn() && !audio) {
      const Ctx = window.AudioContext || window.webkitAudioContext;
      if (Ctx) audio = new Ctx();
    }
  };
  document.addEventListener("pointerdown", wake, true);
  document.addEventListener("keydown", wake, true);
  render();
  setTitle();
}
