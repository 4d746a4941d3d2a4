// The websocket: opening it, noticing when it dies (a ping/pong heartbeat
// of our own: a connection can die without the socket noticing), and
// opening it again by itself with back-off and jitter. What the frames
// mean is app.js's business; this module reports through hooks.

// heartbeatMs is how often the page pings; two pings without any frame
// back mean the connection is dead, so a dead one is noticed within three
// intervals (42 s). Tests shorten it with ?heartbeat=MS in the page's
// address (at least 200).
export const heartbeatMs = (function () {
  try {
    const ms = parseInt(new URLSearchParams(location.search).get("heartbeat") || "", 10);
    if (ms >= 200) return ms;
  } catch (e) { /* no URL API: the default */ }
  return 14000;
})();

// connectTimeoutMs bounds the time from opening a socket to the welcome: a
// network that swallows packets must not leave us "connecting" for ever.
const connectTimeoutMs = Math.max(3000, 2 * heartbeatMs);
const minRetryMs = 1000;
const maxRetryMs = 30000;
// After the server said it is stopping, it is expected back soon: retry
// often (at most every 3 s) for a while, so the page is back moments after
// the server is.
const stoppingRetryMs = 3000;
const stoppingWindowMs = 120000;

let ws = null;
let hooks = {};
let status = { state: "offline", why: "", retryIn: 0 };
let attempt = 0;           // failed attempts since the last welcome
let retryTimer = null, countdownTimer = null, retryAt = 0;
let connectTimer = null;
let heartbeatTimer = null, awaitingPong = false, missed = 0, pingSeq = 0;
let lastFrameAt = 0, probeTimer = null;
// probeMs: how long a probe (see probe) waits for an answer.
const probeMs = Math.min(5000, heartbeatMs);
let fastRetryUntil = 0;
// Frames the page sends by itself after a reconnect (rejoins, resent
// lines, catch-up requests) go out paced, within the server's default
// input budget (10 at once, then 2 a second), so that none is refused.
const pacedBurst = 6;
const pacedPerSecond = 1.5;
let paced = [], tokens = 0, tokensAt = 0, pacedTimer = null;

// setHooks: onOpen() (send hello), onFrame(f), onStatus(status), and
// onClose(info) returning { reconnect, why }: whether to open a socket
// again by itself, and what to say meanwhile.
export function setHooks(h) { hooks = h; }

export function getStatus() { return status; }

function setStatus(state, why, retryIn) {
  status = { state: state, why: why === undefined ? status.why : why, retryIn: retryIn || 0 };
  if (hooks.onStatus) hooks.onStatus(status);
}

function wsURL() {
  return (location.protocol === "https:" ? "wss" : "ws") + "://" + location.host + "/ws";
}

export function isOpen() { return !!ws && ws.readyState === WebSocket.OPEN; }

export function send(frame) {
  if (!isOpen()) return false;
  ws.send(JSON.stringify(frame));
  return true;
}

function clearTimers() {
  clearTimeout(retryTimer);
  clearInterval(countdownTimer);
  retryTimer = countdownTimer = null;
}

// open opens a socket unless one is open or opening; onOpen follows.
export function open() {
  if (ws && (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING)) {
    if (ws.readyState === WebSocket.OPEN && hooks.onOpen) hooks.onOpen();
    return;
  }
  clearTimers();
  let sock;
  try {
    sock = new WebSocket(wsURL());
  } catch (e) {
    lost({ code: 0, reason: "could not connect: " + (e && e.message ? e.message : "error") });
    return;
  }
  ws = sock;
  setStatus("connecting");
  clearTimeout(connectTimer);
  connectTimer = setTimeout(function () {
    if (ws === sock) {
      detach();
      try { sock.close(); } catch (e) { /* already closing */ }
      lost({ code: 1006, reason: "", timedOut: true });
    }
  }, connectTimeoutMs);
  sock.addEventListener("open", function () { if (ws === sock && hooks.onOpen) hooks.onOpen(); });
  sock.addEventListener("message", function (ev) {
    if (ws !== sock) return;
    awaitingPong = false;
    missed = 0;
    lastFrameAt = Date.now();
    let f;
    try { f = JSON.parse(ev.data); } catch (e) { return; }
    if (!f || typeof f !== "object" || typeof f.type !== "string" || f.type === "pong") return;
    if (hooks.onFrame) hooks.onFrame(f);
  });
  sock.addEventListener("close", function (ev) {
    if (ws !== sock) return;
    detach();
    if (ev.code === 1001) fastRetryUntil = Date.now() + stoppingWindowMs; // the server is stopping
    lost({ code: ev.code, reason: ev.reason || "" });
  });
}

// welcomed: the socket is in use; the heartbeat starts.
export function welcomed() {
  clearTimeout(connectTimer);
  tokens = pacedBurst;
  tokensAt = Date.now();
  attempt = 0;
  awaitingPong = false;
  missed = 0;
  clearInterval(heartbeatTimer);
  heartbeatTimer = setInterval(beat, heartbeatMs);
  setStatus("online", "");
}

function beat() {
  if (!isOpen()) return;
  if (awaitingPong) {
    missed++;
    if (missed >= 2) {
      // Nothing came back for two intervals: the connection is dead even
      // if the socket has not noticed (a stalled network).
      dead();
      return;
    }
  }
  awaitingPong = true;
  send({ type: "ping", id: ++pingSeq });
}

function dead() {
  const sock = ws;
  detach();
  try { sock.close(); } catch (e) { /* already closing */ }
  lost({ code: 1006, reason: "", dead: true });
}

// probe checks at once a connection that claims to be online, when there
// is reason to doubt it (the browser is back online, the tab is shown
// again after the computer slept): no answer within probeMs means dead.
export function probe() {
  if (!isOpen() || status.state !== "online" || probeTimer) return;
  const sock = ws, asked = Date.now();
  send({ type: "ping", id: ++pingSeq });
  probeTimer = setTimeout(function () {
    probeTimer = null;
    if (ws === sock && lastFrameAt < asked) dead();
  }, probeMs);
}

function detach() {
  ws = null;
  clearTimeout(probeTimer);
  probeTimer = null;
  paced = [];
  clearTimeout(pacedTimer);
  pacedTimer = null;
  clearTimeout(connectTimer);
  clearInterval(heartbeatTimer);
  heartbeatTimer = null;
}

function lost(info) {
  const next = hooks.onClose ? hooks.onClose(info) : { reconnect: false, why: "" };
  if (next.reconnect) {
    schedule(next.why);
  } else {
    goOffline(next.why);
  }
}

// retryLater gives up on the socket (e.g. our nick is still held by the
// connection that just died) and tries again after the back-off.
export function retryLater(why) {
  const sock = ws;
  detach();
  if (sock) {
    try { sock.close(1000); } catch (e) { /* already closing */ }
  }
  schedule(why);
}

function nextDelay() {
  const cap = Date.now() < fastRetryUntil ? stoppingRetryMs : maxRetryMs;
  const base = Math.min(cap, minRetryMs * Math.pow(2, attempt));
  attempt++;
  return base / 2 + Math.random() * base / 2; // jitter: clients do not come back in step
}

// schedule opens a socket again after the next back-off delay.
export function schedule(why) {
  clearTimers();
  const delay = nextDelay();
  retryAt = Date.now() + delay;
  setStatus("waiting", why, delay);
  retryTimer = setTimeout(open, delay);
  countdownTimer = setInterval(function () {
    setStatus("waiting", undefined, Math.max(0, retryAt - Date.now()));
  }, 1000);
}

// retryNow skips the wait (the browser is back online, the tab is shown
// again, or the user asked).
export function retryNow() {
  if (status.state !== "waiting") return;
  open();
}

// stop closes the socket for good: no reconnecting (signing out).
export function stop(code, reason) {
  clearTimers();
  const sock = ws;
  detach();
  if (sock) {
    try { sock.close(code || 1000, reason || ""); } catch (e) { /* already closing */ }
  }
  setStatus("offline", "");
}

// goOffline shows a connection given up on (e.g. kicked), without retrying.
export function goOffline(why) {
  clearTimers();
  setStatus("offline", why);
}

// resetBackoff makes the next retry a quick one.
export function resetBackoff() { attempt = 0; }

// sendPaced queues frame for the current socket; onSent runs once it is
// sent. The queue is dropped with the socket: after a reconnect the page
// works out afresh what to send.
export function sendPaced(frame, onSent) {
  paced.push({ frame: frame, onSent: onSent });
  pump();
}

function pump() {
  clearTimeout(pacedTimer);
  pacedTimer = null;
  const now = Date.now();
  tokens = Math.min(pacedBurst, tokens + (now - tokensAt) / 1000 * pacedPerSecond);
  tokensAt = now;
  while (paced.length && tokens >= 1 && isOpen()) {
    const p = paced.shift();
    tokens -= 1;
    send(p.frame);
    if (p.onSent) p.onSent();
  }
  if (paced.length && isOpen()) {
    pacedTimer = setTimeout(pump, Math.ceil((1 - tokens) / pacedPerSecond * 1000) + 10);
  }
}
