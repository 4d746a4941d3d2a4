// Tertulia browser client. Speaks the JSON frames of docs/protocol.md.
//
// Security: every string that comes from the server or a user (nicks, text,
// room names, reasons) is inserted with textContent / createTextNode, never
// as HTML. The page's CSP also forbids inline script.
(function () {
  "use strict";

  var BASE_TITLE = "Tertulia";
  var MAX_LINES = 1000;        // per room, in memory and on screen
  var MAX_FRAME = 16 * 1024;   // server's default --ws-read-limit
  var HISTORY = 50;            // input history entries
  var PALETTE = 8;             // nick colour classes nick-c0..nick-c7

  // ---- state ---------------------------------------------------------------

  var ws = null;          // current WebSocket, or null
  var welcomed = false;   // a welcome arrived on the current socket
  var inChat = false;     // the chat view has been shown at least once
  var me = "";            // my nick, as the server knows it
  var wantedNick = "";    // nick sent in the last hello
  var current = "";       // current room name (no '#')
  var rooms = {};         // name -> { name, lines: [], members: [], count, awaitMembers }
  var unread = 0;         // mentions received while the page was hidden
  var history = [];
  var historyPos = 0;
  var mentionRe = null;

  // ---- elements ------------------------------------------------------------

  function $(id) { return document.getElementById(id); }

  var el = {};

  // ---- helpers -------------------------------------------------------------

  function text(s) { return document.createTextNode(String(s)); }

  function span(cls, s) {
    var e = document.createElement("span");
    if (cls) e.className = cls;
    if (s !== undefined) e.textContent = String(s);
    return e;
  }

  function pad2(n) { return (n < 10 ? "0" : "") + n; }

  function hhmm(d) { return pad2(d.getHours()) + ":" + pad2(d.getMinutes()); }

  function parseTime(ts) {
    if (typeof ts === "string" && ts) {
      var d = new Date(ts);
      if (!isNaN(d.getTime())) return d;
    }
    return new Date();
  }

  function fold(s) { return String(s).toLowerCase(); }

  // FNV-1a over the folded nick: the same nick always gets the same colour.
  function nickClass(nick) {
    var s = fold(nick), h = 0x811c9dc5;
    for (var i = 0; i < s.length; i++) {
      h ^= s.charCodeAt(i);
      h = Math.imul(h, 0x01000193) >>> 0;
    }
    return "nick nick-c" + (h % PALETTE);
  }

  function nickSpan(nick) {
    var e = span(nickClass(nick), nick);
    if (me && fold(nick) === fold(me)) e.className += " is-me";
    return e;
  }

  function escapeRegExp(s) { return s.replace(/[.*+?^${}()|[\]\\\-]/g, "\\$&"); }

  // A nick is mentioned when it appears as a whole word: not glued to other
  // letters, digits, '_' or '-' (which could be part of another nick).
  function buildMentionRe() {
    mentionRe = null;
    if (!me) return;
    try {
      mentionRe = new RegExp("(?<![\\p{L}\\p{N}_-])" + escapeRegExp(me) + "(?![\\p{L}\\p{N}_-])", "iu");
    } catch (e) {
      mentionRe = new RegExp("(^|[^A-Za-z0-9_-])" + escapeRegExp(me) + "(?![A-Za-z0-9_-])", "i");
    }
  }

  function mentions(textValue) {
    return !!(mentionRe && typeof textValue === "string" && mentionRe.test(textValue));
  }

  function roomLabel(name) { return "#" + String(name || ""); }

  function getRoom(name) {
    name = String(name || current || "");
    if (!Object.prototype.hasOwnProperty.call(rooms, name)) {
      rooms[name] = { name: name, lines: [], members: [], count: 0, awaitMembers: false };
    }
    return rooms[name];
  }

  function sortMembers(list) {
    list.sort(function (a, b) {
      var x = fold(a.nick), y = fold(b.nick);
      return x < y ? -1 : x > y ? 1 : 0;
    });
  }

  // ---- rendering -----------------------------------------------------------

  function atBottom() {
    var m = el.messages;
    return m.scrollHeight - m.scrollTop - m.clientHeight < 40;
  }

  function scrollToBottom() { el.messages.scrollTop = el.messages.scrollHeight; }

  // A line is { kind, time, ... } kept per room; renderLine turns it into an
  // <li>. Lines not tied to a room (notices, errors) go to the current room.
  function renderLine(line) {
    var li = document.createElement("li");
    li.className = "line " + line.kind;
    var t = document.createElement("time");
    t.className = "ts";
    t.dateTime = line.time.toISOString();
    t.title = line.time.toLocaleString();
    t.textContent = hhmm(line.time);
    li.appendChild(t);
    li.appendChild(text(" "));

    switch (line.kind) {
      case "msg":
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
        li.appendChild(span("text", line.text));
        if (line.mention) li.className += " mention";
        if (line.self) li.className += " self";
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
      case "who":
        li.appendChild(span("arrow", "---"));
        li.appendChild(text(" " + roomLabel(line.room) + " members (" + line.members.length + "): "));
        line.members.forEach(function (m, i) {
          if (i > 0) li.appendChild(text(", "));
          li.appendChild(nickSpan(m.nick));
          if (m.via) li.appendChild(text(" (" + m.via + ")"));
        });
        break;
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
    return li;
  }

  function addLine(roomName, line) {
    var r = getRoom(roomName);
    r.lines.push(line);
    if (r.lines.length > MAX_LINES) r.lines.splice(0, r.lines.length - MAX_LINES);
    if (r.name !== current) return;
    var stick = atBottom() || line.self;
    el.messages.appendChild(renderLine(line));
    while (el.messages.childNodes.length > MAX_LINES) el.messages.removeChild(el.messages.firstChild);
    if (stick) scrollToBottom();
  }

  function systemLine(kind, fields) {
    var line = { kind: kind, time: new Date() };
    for (var k in fields) if (Object.prototype.hasOwnProperty.call(fields, k)) line[k] = fields[k];
    addLine(current, line);
  }

  function renderRoom() {
    var r = getRoom(current);
    el.messages.textContent = "";
    var frag = document.createDocumentFragment();
    r.lines.forEach(function (line) { frag.appendChild(renderLine(line)); });
    el.messages.appendChild(frag);
    scrollToBottom();
    renderStatus();
    renderMembers();
  }

  function renderStatus() {
    var r = getRoom(current);
    el.roomName.textContent = roomLabel(current);
    el.meNick.textContent = me;
    el.memberCount.textContent = r.count === 1 ? "1 member" : r.count + " members";
    el.input.placeholder = "Message " + roomLabel(current) + " \u2014 /help for commands";
  }

  function renderMembers() {
    var r = getRoom(current);
    el.memberList.textContent = "";
    var frag = document.createDocumentFragment();
    r.members.forEach(function (m) {
      var li = document.createElement("li");
      li.className = "member";
      if (fold(m.nick) === fold(me)) li.className += " is-me";
      li.appendChild(nickSpan(m.nick));
      li.appendChild(text(" "));
      li.appendChild(span("via via-" + (m.via === "ssh" ? "ssh" : "web"), "(" + (m.via || "?") + ")"));
      frag.appendChild(li);
    });
    el.memberList.appendChild(frag);
  }

  function setTitle() {
    document.title = unread > 0 ? "(" + unread + ") " + BASE_TITLE : BASE_TITLE;
  }

  function showLogin(errorText) {
    inChat = false;
    el.chatView.hidden = true;
    el.loginView.hidden = false;
    el.join.disabled = false;
    if (me && !el.nick.value) el.nick.value = me;
    el.loginError.textContent = errorText || "";
    el.nick.focus();
    el.nick.select();
  }

  function showChat() {
    inChat = true;
    el.loginView.hidden = true;
    el.chatView.hidden = false;
    el.loginError.textContent = "";
    setOnline(true);
    renderRoom();
    el.input.focus();
  }

  function setOnline(on) {
    el.offlineBar.hidden = on;
    el.input.disabled = !on;
    el.send.disabled = !on;
    el.members.classList.toggle("stale", !on);
    el.connState.textContent = on ? "online" : "offline";
    el.connState.classList.toggle("online", on);
    el.connState.classList.toggle("offline", !on);
  }

  // ---- connection ----------------------------------------------------------

  function wsURL() {
    return (location.protocol === "https:" ? "wss" : "ws") + "://" + location.host + "/ws";
  }

  function send(frame) {
    var data = JSON.stringify(frame);
    if (!ws || ws.readyState !== WebSocket.OPEN) return false;
    ws.send(data);
    return true;
  }

  function hello() {
    send({ type: "hello", nick: wantedNick });
  }

  // connect sends hello on the open socket, or opens one first.
  function connect(nick) {
    wantedNick = nick;
    if (ws && ws.readyState === WebSocket.OPEN) {
      hello();
      return;
    }
    if (ws && ws.readyState === WebSocket.CONNECTING) return; // hello goes on open
    var sock;
    try {
      sock = new WebSocket(wsURL());
    } catch (e) {
      failConnect("could not connect: " + (e && e.message ? e.message : "error"));
      return;
    }
    ws = sock;
    welcomed = false;
    sock.addEventListener("open", function () { if (ws === sock) hello(); });
    sock.addEventListener("message", function (ev) { if (ws === sock) onFrame(ev.data); });
    sock.addEventListener("close", function (ev) { if (ws === sock) onClose(ev); });
  }

  function failConnect(msg) {
    ws = null;
    welcomed = false;
    if (inChat) {
      systemLine("error", { text: msg });
      setOnline(false);
      el.reconnect.disabled = false;
    } else {
      showLogin(msg);
    }
  }

  function onClose(ev) {
    var wasWelcomed = welcomed;
    ws = null;
    welcomed = false;
    var reason = ev.reason || (ev.code === 1006 ? "connection lost" : "closed (code " + ev.code + ")");
    if (inChat) {
      var what = wasWelcomed ? "disconnected: " : "reconnect failed: ";
      systemLine("disconnect", { text: what + reason });
      el.offlineText.textContent = what + reason;
      setOnline(false);
      el.reconnect.disabled = false;
      el.reconnect.focus();
      return;
    }
    el.join.disabled = false;
    // Keep an error the server sent just before closing (e.g. "stopping").
    if (!el.loginError.textContent) {
      el.loginError.textContent = ev.code === 1006 && !ev.reason
        ? "could not reach the server; try again"
        : "connection closed: " + reason;
    }
  }

  // ---- frames --------------------------------------------------------------

  function onFrame(data) {
    var f;
    try { f = JSON.parse(data); } catch (e) { return; }
    if (!f || typeof f !== "object" || typeof f.type !== "string") return;

    if (!welcomed) {
      if (f.type === "welcome") {
        onWelcome(f);
      } else if (f.type === "error") {
        var msg = String(f.text || f.code || "error");
        if (inChat) {
          // A reconnect was refused (e.g. the nick is taken now): let the
          // user pick another nick on the same socket.
          showLogin(msg);
        } else {
          el.loginError.textContent = msg;
          el.join.disabled = false;
          el.nick.focus();
          el.nick.select();
        }
      }
      return;
    }

    switch (f.type) {
      case "message": onMessage(f); break;
      case "join": onJoin(f); break;
      case "part": onPart(f); break;
      case "nick": onNick(f); break;
      case "members": onMembers(f); break;
      case "notice": systemLine("notice", { text: String(f.text || "") }); break;
      case "error": systemLine("error", { text: String(f.text || ""), code: String(f.code || "") }); break;
      case "welcome": onWelcome(f); break;
      default: break; // unknown frames are ignored: the protocol may grow
    }
  }

  function onWelcome(f) {
    welcomed = true;
    me = String(f.nick || wantedNick);
    wantedNick = me;
    buildMentionRe();
    var list = Array.isArray(f.rooms) ? f.rooms.map(String) : [];
    list.forEach(function (name) {
      var r = getRoom(name);
      r.awaitMembers = true; // the members list that follows our join is not a /who
    });
    if (!current || list.indexOf(current) < 0) current = list.length ? list[0] : (current || "lobby");
    getRoom(current);
    showChat();
    systemLine("notice", { text: "welcome " + me });
  }

  function onMessage(f) {
    var from = String(f.from || "");
    var txt = String(f.text || "");
    var self = fold(from) === fold(me);
    var mention = !self && mentions(txt);
    addLine(f.room, {
      kind: "msg", time: parseTime(f.ts), id: f.id, room: String(f.room || ""),
      from: from, text: txt, action: !!f.action, mention: mention, self: self
    });
    if (mention && document.hidden) {
      unread++;
      setTitle();
    }
  }

  function onJoin(f) {
    var r = getRoom(f.room);
    var nick = String(f.nick || "");
    var via = f.via ? String(f.via) : "";
    if (!r.members.some(function (m) { return fold(m.nick) === fold(nick); })) {
      r.members.push({ nick: nick, via: via });
      sortMembers(r.members);
    }
    r.count = typeof f.count === "number" ? f.count : r.members.length;
    addLine(r.name, { kind: "join", time: new Date(), room: r.name, nick: nick, via: via });
    if (r.name === current) { renderStatus(); renderMembers(); }
  }

  function onPart(f) {
    var r = getRoom(f.room);
    var nick = String(f.nick || "");
    r.members = r.members.filter(function (m) { return fold(m.nick) !== fold(nick); });
    r.count = typeof f.count === "number" ? f.count : r.members.length;
    addLine(r.name, { kind: "part", time: new Date(), room: r.name, nick: nick, reason: f.reason ? String(f.reason) : "" });
    if (r.name === current) { renderStatus(); renderMembers(); }
  }

  function onNick(f) {
    var r = getRoom(f.room);
    var oldNick = String(f.old || ""), newNick = String(f["new"] || "");
    // New objects: lines already logged (e.g. a /who list) keep the old nick.
    r.members = r.members.map(function (m) {
      return { nick: m.nick === oldNick ? newNick : m.nick, via: m.via };
    });
    sortMembers(r.members);
    if (oldNick === me) {
      me = newNick;
      wantedNick = newNick;
      buildMentionRe();
    }
    addLine(r.name, { kind: "nickchange", time: new Date(), room: r.name, old: oldNick, nick: newNick });
    if (r.name === current) { renderStatus(); renderMembers(); }
  }

  function onMembers(f) {
    var r = getRoom(f.room);
    var list = (Array.isArray(f.members) ? f.members : []).map(function (m) {
      return { nick: String((m && m.nick) || ""), via: String((m && m.via) || "") };
    });
    r.members = list;
    r.count = list.length;
    if (r.awaitMembers) {
      r.awaitMembers = false;
    } else {
      addLine(r.name, {
        kind: "who", time: new Date(), room: r.name,
        members: list.map(function (m) { return { nick: m.nick, via: m.via }; })
      });
    }
    if (r.name === current) { renderStatus(); renderMembers(); }
  }

  // ---- user input ----------------------------------------------------------

  function onLoginSubmit(ev) {
    ev.preventDefault();
    var nick = el.nick.value.trim();
    if (!nick) {
      el.loginError.textContent = "Choose a nickname.";
      el.nick.focus();
      return;
    }
    el.loginError.textContent = "";
    el.join.disabled = true;
    connect(nick);
  }

  function onSendSubmit(ev) {
    ev.preventDefault();
    var value = el.input.value;
    if (!value.trim()) return;
    var frame = { type: "say", room: current, text: value };
    if (new TextEncoder().encode(JSON.stringify(frame)).length > MAX_FRAME) {
      systemLine("error", { text: "message not sent: too long" });
      return;
    }
    if (!send(frame)) {
      systemLine("error", { text: "not connected" });
      return;
    }
    if (history[history.length - 1] !== value) {
      history.push(value);
      if (history.length > HISTORY) history.shift();
    }
    historyPos = history.length;
    el.input.value = "";
    scrollToBottom();
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

  function onReconnect() {
    if (ws) return;
    el.reconnect.disabled = true;
    el.offlineText.textContent = "reconnecting\u2026";
    connect(me || wantedNick); // onClose re-enables the button if this fails
  }

  function onVisibility() {
    if (!document.hidden && unread) {
      unread = 0;
      setTitle();
    }
  }

  // ---- start ---------------------------------------------------------------

  function init() {
    el = {
      loginView: $("login-view"), loginForm: $("login-form"), nick: $("nick"), join: $("join"),
      loginError: $("login-error"), chatView: $("chat-view"), roomName: $("room-name"),
      memberCount: $("member-count"), connState: $("conn-state"), meNick: $("me-nick"),
      messages: $("messages"), members: $("members"), memberList: $("member-list"),
      offlineBar: $("offline-bar"), offlineText: $("offline-text"), reconnect: $("reconnect"),
      sendForm: $("send-form"), input: $("input"), send: $("send")
    };
    el.loginForm.addEventListener("submit", onLoginSubmit);
    el.sendForm.addEventListener("submit", onSendSubmit);
    el.input.addEventListener("keydown", onInputKey);
    el.reconnect.addEventListener("click", onReconnect);
    document.addEventListener("visibilitychange", onVisibility);
    setTitle();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
