// The sign-in card: a guest nickname, or a /weblogin code traded for an
// HttpOnly cookie (POST /login), then Join.

import { FETCH_TIMEOUT, state } from "./state.js";
import { el, systemLine } from "./render.js";
import * as conn from "./connection.js";

let hooks = {};

// setSigninHooks: join(nick) connects as nick ("" lets a signed-in browser
// get its key's nick); resetChat() forgets the chat of the identity going
// away; resume() rejoins as the last visit did, if it should, returning
// whether it did.
export function setSigninHooks(h) { hooks = h; }

// usesSessionJoin: the signed-in card (Join as the key's nick) is the way
// in, rather than the nickname form.
export function usesSessionJoin() { return state.auth.signedIn && state.auth.nicks.length > 0; }

export function loginErrorEl() { return usesSessionJoin() ? el.sessionError : el.loginError; }

export function focusLogin() {
  if (state.inChat || !state.auth.known) return;
  if (usesSessionJoin()) {
    el.sessionJoin.focus();
  } else {
    el.nick.focus();
    el.nick.select();
  }
}

export function showLogin(errorText) {
  state.inChat = false;
  el.chatView.hidden = true;
  el.loginView.hidden = false;
  el.join.disabled = false;
  el.sessionJoin.disabled = false;
  renderLogin();
  if (state.me && !el.nick.value) el.nick.value = state.me;
  el.loginError.textContent = "";
  el.sessionError.textContent = "";
  loginErrorEl().textContent = errorText || "";
  focusLogin();
}

// renderLogin shows the part of the sign-in card that fits: the signed-in
// card, or the nickname form and the code form.
export function renderLogin() {
  const auth = state.auth;
  el.loginChecking.hidden = auth.known;
  const signed = auth.known && auth.signedIn;
  const hasNick = signed && auth.nicks.length > 0;
  el.sessionView.hidden = !signed;
  el.loginForm.hidden = !auth.known || hasNick;
  el.codeForm.hidden = !auth.known || signed;
  el.sessionJoin.hidden = !hasNick;
  el.chatSignOut.hidden = !auth.signedIn;
  if (!signed) return;
  el.sessionNick.textContent = hasNick ? auth.nicks[0] : "your key";
  el.sessionHint.textContent = hasNick
    ? (auth.nicks.length > 1 ? "Your key holds " + auth.nicks.length + " nicks: choose one below." : "Your registered nick is yours alone.")
    : "Your key has no registered nick any more: choose a nickname below, or /register one in your SSH session.";
  el.sessionChoose.hidden = auth.nicks.length < 2;
  const chosen = el.sessionNicks.value; // kept across re-renders
  el.sessionNicks.textContent = "";
  auth.nicks.forEach(function (n) {
    const o = document.createElement("option");
    o.value = n;
    o.textContent = n;
    if (n === chosen) o.selected = true;
    el.sessionNicks.appendChild(o);
  });
}

// request sends a same-origin JSON request; done(err, status, body) runs
// once, with err set when the server could not be reached.
function request(method, path, body, done) {
  const ctrl = typeof AbortController === "function" ? new AbortController() : null;
  const timer = setTimeout(function () { if (ctrl) ctrl.abort(); }, FETCH_TIMEOUT);
  const opts = { method: method, credentials: "same-origin", cache: "no-store", headers: { "Accept": "application/json" } };
  if (ctrl) opts.signal = ctrl.signal;
  if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  let status = 0;
  fetch(path, opts)
    .then(function (resp) {
      status = resp.status;
      return resp.json().catch(function () { return {}; });
    })
    .then(function (data) {
      clearTimeout(timer);
      done(null, status, data && typeof data === "object" ? data : {});
    }, function (err) {
      clearTimeout(timer);
      done(err || new Error("network error"), 0, {});
    });
}

// setAuth records whether this browser is signed in. A socket still
// waiting for its welcome was opened with the old cookie: it goes.
export function setAuth(signedIn, nicks) {
  if (state.auth.signedIn !== signedIn && !state.welcomed && conn.getStatus().state === "connecting") {
    conn.stop(1000);
  }
  state.auth.known = true;
  state.auth.signedIn = signedIn;
  state.auth.nicks = signedIn && Array.isArray(nicks)
    ? nicks.filter(function (n) { return typeof n === "string" && n !== ""; }).map(String)
    : [];
  renderLogin();
}

// checkSession asks the server whether this browser is signed in. A
// failure leaves what we knew (a guest, at first).
export function checkSession(then) {
  request("GET", "/session", undefined, function (err, status, data) {
    if (!err && status === 200) {
      setAuth(data.signed_in === true, data.nicks);
    } else if (!state.auth.known) {
      setAuth(false, []);
    }
    if (then) then(err || (status === 200 ? null : new Error("HTTP " + status)));
  });
}

function codeErrorText(err, status, data) {
  if (err) return "Could not reach the server; try again.";
  switch (status) {
    case 401:
      return "That code is not valid: it is wrong, already used or expired (a code lasts 5 minutes and works once). Type /weblogin in your SSH session for a new one.";
    case 429:
      return "Too many attempts from here; wait a minute, then try again.";
    case 400:
      return "Enter the code as /weblogin showed it, like ABCD-EFGH-IJKL.";
    default:
      return "Sign-in failed: " + (typeof data.error === "string" && data.error ? data.error : "HTTP " + status) + ".";
  }
}

export function submitCode() {
  const code = el.loginCode.value.trim();
  if (!code) {
    el.loginCodeError.textContent = "Enter the code that /weblogin gave you in your SSH session.";
    el.loginCode.focus();
    return;
  }
  if (state.signingIn) return;
  state.signingIn = true;
  el.loginCodeError.textContent = "";
  el.loginSubmit.disabled = true;
  request("POST", "/login", { code: code }, function (err, status, data) {
    state.signingIn = false;
    el.loginSubmit.disabled = false;
    if (!err && status === 200 && data.ok === true) {
      el.loginCode.value = "";
      state.signedOut = false;
      setAuth(true, data.nicks);
      if (!state.inChat) showLogin("");
      return;
    }
    const msg = codeErrorText(err, status, data);
    if (state.auth.signedIn) {
      // Already signed in (a stale ?code= link): say so where it shows.
      el.sessionError.textContent = "The sign-in code was not accepted. " + msg;
      return;
    }
    el.loginCodeError.textContent = msg;
    if (!el.codeForm.hidden) {
      el.loginCode.focus();
      el.loginCode.select();
    }
  });
}

function onLoginSubmit(ev) {
  ev.preventDefault();
  const nick = el.nick.value.trim();
  if (!nick) {
    el.loginError.textContent = "Choose a nickname.";
    el.nick.focus();
    return;
  }
  el.loginError.textContent = "";
  el.join.disabled = true;
  hooks.join(nick);
}

function onCodeSubmit(ev) {
  ev.preventDefault();
  submitCode();
}

function onSessionJoin() {
  if (!usesSessionJoin()) return;
  // Without a nick the server picks the key's first registered nick.
  let nick = "";
  if (state.auth.nicks.length > 1 && el.sessionNicks.value && el.sessionNicks.value !== state.auth.nicks[0]) {
    nick = el.sessionNicks.value;
  }
  el.sessionError.textContent = "";
  el.sessionJoin.disabled = true;
  hooks.join(nick);
}

function signOut() {
  el.signOut.disabled = true;
  el.chatSignOut.disabled = true;
  request("POST", "/logout", undefined, function (err, status) {
    el.signOut.disabled = false;
    el.chatSignOut.disabled = false;
    if (err || status !== 200) {
      const msg = "Could not sign out: " + (err ? "the server could not be reached" : "HTTP " + status) + "; try again.";
      if (state.inChat) {
        systemLine("error", { text: msg });
      } else {
        el.sessionError.textContent = msg;
      }
      return;
    }
    state.signedOut = false;
    hooks.resetChat();
    setAuth(false, []);
    showLogin("");
  });
}

// backToSignIn leaves a chat whose sign-in ended for the sign-in card.
export function backToSignIn() {
  state.signedOut = false;
  hooks.resetChat();
  showLogin("");
  el.loginCodeError.textContent = "This browser was signed out. Sign in again with a new code from /weblogin, or join as a guest.";
}

// codeFromURL takes the code of a /weblogin link (/?code=XXXX-XXXX-XXXX)
// and removes it from the address bar and the history.
function codeFromURL() {
  let code = "";
  try {
    const params = new URLSearchParams(location.search);
    code = (params.get("code") || "").trim().slice(0, 64);
    if (location.search) window.history.replaceState(null, "", location.pathname + location.hash);
  } catch (e) { /* no URL API: type the code instead */ }
  return code;
}

export function initSignin() {
  el.loginForm.addEventListener("submit", onLoginSubmit);
  el.codeForm.addEventListener("submit", onCodeSubmit);
  el.sessionJoin.addEventListener("click", onSessionJoin);
  el.signOut.addEventListener("click", signOut);
  el.chatSignOut.addEventListener("click", signOut);
  const code = codeFromURL();
  if (code) el.loginCode.value = code;
  checkSession(function () {
    if (code) {
      submitCode(); // a /weblogin link: sign in at once
    } else if (!(hooks.resume && hooks.resume())) {
      focusLogin();
    }
  });
}
