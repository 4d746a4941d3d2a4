// Tertulia browser client. Speaks the JSON frames of docs/protocol.md.
//
// Security: every string that comes from the server or a user (nicks, text,
// room names, topics, reasons) is inserted with textContent /
// createTextNode, never as HTML. The page's CSP also forbids inline script.
(function () {
  "use strict";

  var BASE_TITLE = "Tertulia";
  var MAX_LINES = 1000;        // per room, kept when new lines arrive
  var MAX_FRAME = 16 * 1024;   // server's default --ws-read-limit
  var HISTORY = 50;            // input history entries
  var PAGE = 50;               // older messages asked for at a time
  var PALETTE = 8;             // nick colour classes nick-c0..nick-c7
  var FETCH_TIMEOUT = 10000;   // ms allowed for /session, /login, /logout

  // ---- state ---------------------------------------------------------------

  var ws = null;          // current WebSocket, or null
  var welcomed = false;   // a welcome arrived on the current socket
  var inChat = false;     // the chat view has been shown at least once
  var me = "";            // my nick, as the server knows it
  var wantedNick = "";    // nick sent in the last hello
  var current = "";       // the room shown (no '#'); "" when in no room
  var rooms = {};         // joined rooms: name -> room (see newRoom)
  var order = [];         // joined room names, in join order (the tab order)
  var noRoom = newRoom(""); // what is shown while in no room at all
  var seenPrivate = {};   // ids of private messages already shown
  var unread = 0;         // mentions received while the page was hidden
  var history = [];
  var historyPos = 0;
  var mentionRe = null;
  // Web sign-in (a /weblogin code traded for an HttpOnly cookie): known once
  // GET /session answered; nicks are the key's registered nicks, oldest first.
  var auth = { known: false, signedIn: false, nicks: [] };
  var signedOut = false;  // the server ended this browser's session (/logout-all)
  var signingIn = false;  // a POST /login is in flight

  function newRoom(name) {
    return {
      name: name,
      lines: [],           // rendered lines, oldest first (see renderLine)
      ids: new Set(),      // ids of the message lines held
      members: [],         // { nick, via, away, registered }
      count: 0,
      topic: "",
      unread: 0,           // messages that arrived while another tab was shown
      mention: false,      // one of them mentions me
      awaitMembers: false, // the next members frame follows our join: no /who line
      loading: false,      // an older-history request is in flight
      noOlder: false       // the server has no older messages
    };
  }

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

  function has(obj, key) { return Object.prototype.hasOwnProperty.call(obj, key); }

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

  function isMe(nick) { return !!me && fold(nick) === fold(me); }

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

  // Room names are case-insensitive and sent without '#'.
  function normRoom(name) { return fold(String(name || "").trim().replace(/^#/, "")); }

  // roomNamed returns a joined room, or null: events for rooms we are not in
  // (e.g. late ones after a /part) are dropped.
  function roomNamed(name) {
    name = normRoom(name);
    return has(rooms, name) ? rooms[name] : null;
  }

  // view is the room whose lines are on screen; lines for no particular
  // room (notices, errors, private messages) go there too.
  function view() { return has(rooms, current) ? rooms[current] : noRoom; }

  function addRoom(name) {
    name = normRoom(name);
    if (!has(rooms, name)) {
      rooms[name] = newRoom(name);
      order.push(name);
    }
    return rooms[name];
  }

  function removeRoom(name) {
    delete rooms[name];
    order = order.filter(function (n) { return n !== name; });
  }

  function sortMembers(list) {
    list.sort(function (a, b) {
      var x = fold(a.nick), y = fold(b.nick);
      return x < y ? -1 : x > y ? 1 : 0;
    });
  }

  function memberFrom(m) {
    return {
      nick: String((m && m.nick) || ""),
      via: String((m && m.via) || ""),
      away: m && m.away ? String(m.away) : "",
      registered: !!(m && m.registered === true)
    };
  }

  function firstMessageIndex(r) {
    for (var i = 0; i < r.lines.length; i++) if (r.lines[i].kind === "msg") return i;
    return -1;
  }

  // Message lines are held in id order (history first, live after, older
  // pages inserted before the first), so the first one is the oldest.
  function oldestId(r) {
    var i = firstMessageIndex(r);
    return i < 0 ? 0 : r.lines[i].id || 0;
  }

  // ---- rendering -----------------------------------------------------------

  function atBottom() {
    var s = el.scroller;
    return s.scrollHeight - s.scrollTop - s.clientHeight < 40;
  }

  function scrollToBottom() { el.scroller.scrollTop = el.scroller.scrollHeight; }

  // A line is { kind, time, ... } kept per room; renderLine turns it into an
  // <li>. Lines not tied to a room go to the room on screen.
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
        if (line.history) li.className += " history";
        if (line.id) li.setAttribute("data-id", String(line.id));
        break;
      case "private":
        li.appendChild(span("pm-tag", "private"));
        li.appendChild(text(" "));
        li.appendChild(nickSpan(line.from));
        li.appendChild(text(" \u2192 "));
        li.appendChild(nickSpan(line.to));
        li.appendChild(text(": "));
        li.appendChild(span("text", line.text));
        li.className += line.incoming ? " incoming" : " outgoing";
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
      case "topic":
        li.appendChild(span("arrow", "---"));
        li.appendChild(text(" "));
        li.appendChild(nickSpan(line.by));
        li.appendChild(text(" set the topic: "));
        li.appendChild(span("text", line.text));
        break;
      case "who":
        li.appendChild(span("arrow", "---"));
        li.appendChild(text(" " + roomLabel(line.room) + " members (" + line.members.length + "): "));
        line.members.forEach(function (m, i) {
          if (i > 0) li.appendChild(text(", "));
          li.appendChild(nickSpan(m.nick));
          var tags = [];
          if (m.via) tags.push(m.via);
          if (m.registered) tags.push("registered");
          if (tags.length) li.appendChild(text(" (" + tags.join(", ") + ")"));
          if (m.away) li.appendChild(awaySpan(m.away));
        });
        break;
      case "rooms":
        li.appendChild(span("arrow", "-!-"));
        li.appendChild(text(" "));
        var lines = ["rooms (" + line.rooms.length + "):"];
        line.rooms.forEach(function (r) {
          lines.push("  " + roomLabel(r.name) + " (" + r.count + ")" + (r.topic ? " " + r.topic : ""));
        });
        li.appendChild(span("text", lines.join("\n")));
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

  // regBadge marks a member whose nick belongs to their key (not a guest).
  function regBadge() {
    var e = span("reg", "\u2713");
    e.title = "registered";
    e.setAttribute("aria-label", "registered");
    return e;
  }

  function awaySpan(reason) {
    var e = span("away", " (away)");
    e.title = "away: " + reason;
    return e;
  }

  function rememberId(r, line) {
    if (line.kind === "msg" && typeof line.id === "number" && line.id > 0) r.ids.add(line.id);
  }

  function forgetLines(r, removed) {
    removed.forEach(function (l) {
      if (l.kind === "msg" && typeof l.id === "number") {
        r.ids.delete(l.id);
        r.noOlder = false; // what was dropped can be asked for again
      }
    });
  }

  // addLine appends a line to room r, dropping the oldest beyond MAX_LINES.
  function addLine(r, line) {
    rememberId(r, line);
    r.lines.push(line);
    var excess = r.lines.length - MAX_LINES;
    var removed = excess > 0 ? r.lines.splice(0, excess) : [];
    forgetLines(r, removed);
    if (r !== view()) return;
    var stick = atBottom() || line.self;
    el.messages.appendChild(renderLine(line));
    for (var i = 0; i < removed.length && el.messages.firstChild; i++) el.messages.removeChild(el.messages.firstChild);
    if (stick) scrollToBottom();
    updateOlder();
  }

  // insertLines puts older lines at index idx of room r, keeping what the
  // user is looking at in place.
  function insertLines(r, idx, lines) {
    if (!lines.length) {
      if (r === view()) updateOlder();
      return;
    }
    lines.forEach(function (l) { rememberId(r, l); });
    Array.prototype.splice.apply(r.lines, [idx, 0].concat(lines));
    if (r !== view()) return;
    var s = el.scroller;
    var fromBottom = s.scrollHeight - s.scrollTop;
    var frag = document.createDocumentFragment();
    lines.forEach(function (l) { frag.appendChild(renderLine(l)); });
    el.messages.insertBefore(frag, el.messages.children[idx] || null);
    updateOlder();
    s.scrollTop = s.scrollHeight - fromBottom;
  }

  function systemLine(kind, fields) {
    var line = { kind: kind, time: new Date() };
    for (var k in fields) if (has(fields, k)) line[k] = fields[k];
    addLine(view(), line);
  }

  function renderRoom() {
    var r = view();
    el.messages.textContent = "";
    var frag = document.createDocumentFragment();
    r.lines.forEach(function (line) { frag.appendChild(renderLine(line)); });
    el.messages.appendChild(frag);
    updateOlder();
    scrollToBottom();
    renderStatus();
    renderMembers();
    renderTabs();
  }

  function renderStatus() {
    var r = view();
    el.roomName.textContent = current ? roomLabel(current) : "no room";
    el.meNick.textContent = me;
    el.memberCount.textContent = current ? (r.count === 1 ? "1 member" : r.count + " members") : "";
    el.roomTopic.textContent = r.topic;
    setAttr(el.roomTopic, "title", r.topic);
    setAttr(el.input, "placeholder", current
      ? "Message " + roomLabel(current) + " \u2014 /help for commands, /join #room"
      : "/join #room \u2014 /help for commands");
  }

  // setAttr changes an attribute only when its value differs, sparing
  // needless DOM mutations (and work for assistive technology).
  function setAttr(e, name, value) {
    if (e.getAttribute(name) !== value) e.setAttribute(name, value);
  }

  function renderMembers() {
    var r = view();
    el.memberList.textContent = "";
    var frag = document.createDocumentFragment();
    r.members.forEach(function (m) {
      var li = document.createElement("li");
      li.className = "member";
      if (isMe(m.nick)) li.className += " is-me";
      if (m.away) li.className += " is-away";
      li.className += m.registered ? " is-registered" : " is-guest";
      li.appendChild(nickSpan(m.nick));
      if (m.registered) li.appendChild(regBadge());
      li.appendChild(text(" "));
      li.appendChild(span("via via-" + (m.via === "ssh" ? "ssh" : "web"), "(" + (m.via || "?") + ")"));
      if (m.away) li.appendChild(awaySpan(m.away));
      frag.appendChild(li);
    });
    el.memberList.appendChild(frag);
  }

  function renderTabs() {
    el.rooms.textContent = "";
    var frag = document.createDocumentFragment();
    order.forEach(function (name) {
      var r = rooms[name];
      var b = document.createElement("button");
      b.type = "button";
      b.className = "room-tab";
      b.setAttribute("data-room", name);
      if (name === current) {
        b.className += " current";
        b.setAttribute("aria-current", "true");
      }
      if (r.mention) b.className += " has-mention";
      b.appendChild(span("room-tab-name", roomLabel(name)));
      var badge = span("badge", r.unread > 99 ? "99+" : String(r.unread));
      badge.hidden = !r.unread;
      badge.title = r.unread + " unread" + (r.mention ? ", mentioning you" : "");
      b.appendChild(badge);
      frag.appendChild(b);
    });
    el.rooms.appendChild(frag);
  }

  // updateOlder shows "Load older messages" while the room shown holds
  // messages and the server may have older ones.
  function updateOlder() {
    var r = view();
    var show = r !== noRoom && oldestId(r) > 0 && !r.noOlder;
    el.loadOlder.hidden = !show;
    el.loadOlder.disabled = r.loading;
    el.loadOlder.textContent = r.loading ? "Loading older messages\u2026" : "Load older messages";
  }

  function setTitle() {
    document.title = unread > 0 ? "(" + unread + ") " + BASE_TITLE : BASE_TITLE;
  }

  function notifyMention() {
    if (document.hidden) {
      unread++;
      setTitle();
    }
  }

  function showLogin(errorText) {
    inChat = false;
    el.chatView.hidden = true;
    el.loginView.hidden = false;
    el.join.disabled = false;
    el.sessionJoin.disabled = false;
    renderLogin();
    if (me && !el.nick.value) el.nick.value = me;
    el.loginError.textContent = "";
    el.sessionError.textContent = "";
    loginErrorEl().textContent = errorText || "";
    focusLogin();
  }

  // usesSessionJoin: the signed-in card (Join as the key's nick) is the way
  // in, rather than the nickname form.
  function usesSessionJoin() { return auth.signedIn && auth.nicks.length > 0; }

  function loginErrorEl() { return usesSessionJoin() ? el.sessionError : el.loginError; }

  function focusLogin() {
    if (inChat || !auth.known) return;
    if (usesSessionJoin()) {
      el.sessionJoin.focus();
    } else {
      el.nick.focus();
      el.nick.select();
    }
  }

  // renderLogin shows the part of the sign-in card that fits: the signed-in
  // card, or the nickname form and the code form.
  function renderLogin() {
    el.loginChecking.hidden = auth.known;
    var signed = auth.known && auth.signedIn;
    var hasNick = signed && auth.nicks.length > 0;
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
    var chosen = el.sessionNicks.value; // kept across re-renders
    el.sessionNicks.textContent = "";
    auth.nicks.forEach(function (n) {
      var o = document.createElement("option");
      o.value = n;
      o.textContent = n;
      if (n === chosen) o.selected = true;
      el.sessionNicks.appendChild(o);
    });
  }

  function showChat() {
    inChat = true;
    el.loginView.hidden = true;
    el.chatView.hidden = false;
    el.loginError.textContent = "";
    el.sessionError.textContent = "";
    el.reconnect.textContent = "Reconnect";
    renderLogin();
    setOnline(true);
    renderRoom();
    el.input.focus();
  }

  function setOnline(on) {
    el.offlineBar.hidden = on;
    if (el.input.disabled === on) el.input.disabled = !on;
    if (el.send.disabled === on) el.send.disabled = !on;
    el.members.classList.toggle("stale", !on);
    el.connState.textContent = on ? "online" : "offline";
    el.connState.classList.toggle("online", on);
    el.connState.classList.toggle("offline", !on);
  }

  // switchTo shows a joined room; tell also makes it the server's current
  // room, so that commands without a room apply there.
  function switchTo(name, tell) {
    var r = roomNamed(name);
    if (!r) return;
    current = r.name;
    r.unread = 0;
    r.mention = false;
    renderRoom();
    if (tell) send({ type: "switch", room: r.name });
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

  // hello asks for wantedNick; a signed-in browser may send none and gets
  // its key's first registered nick.
  function hello() {
    var f = { type: "hello" };
    if (wantedNick) f.nick = wantedNick;
    send(f);
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
    order.forEach(function (name) { rooms[name].loading = false; });
    var reason = ev.reason || (ev.code === 1006 ? "connection lost" : "closed (code " + ev.code + ")");
    if (inChat) {
      var what = wasWelcomed ? "disconnected: " : "reconnect failed: ";
      if (wasWelcomed && ev.reason === "signed out") {
        // /logout-all in an SSH session ended this browser's sign-in.
        signedOut = true;
        setAuth(false, []);
        reason = "signed out (this browser's sign-in was ended); sign in again with a new code from /weblogin";
        el.reconnect.textContent = "Sign in again";
      }
      systemLine("disconnect", { text: what + reason });
      el.offlineText.textContent = what + reason;
      setOnline(false);
      el.reconnect.disabled = false;
      el.reconnect.focus();
      return;
    }
    el.join.disabled = false;
    el.sessionJoin.disabled = false;
    // Keep an error the server sent just before closing (e.g. "banned").
    var errEl = loginErrorEl();
    if (!errEl.textContent) {
      errEl.textContent = ev.code === 1006 && !ev.reason
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
        var msg = helloErrorText(f);
        if (inChat) {
          // A reconnect was refused (e.g. the nick is taken now): let the
          // user pick another nick on the same socket.
          showLogin(msg);
        } else {
          loginErrorEl().textContent = msg;
          el.join.disabled = false;
          el.sessionJoin.disabled = false;
          focusLogin();
        }
      }
      return;
    }

    switch (f.type) {
      case "message": onMessage(f); break;
      case "history": onHistory(f); break;
      case "private": onPrivate(f); break;
      case "join": onJoin(f); break;
      case "part": onPart(f); break;
      case "nick": onNick(f); break;
      case "members": onMembers(f); break;
      case "topic": onTopic(f); break;
      case "rooms": onRooms(f); break;
      case "notice": systemLine("notice", { text: String(f.text || "") }); break;
      case "error": onError(f); break;
      case "welcome": onWelcome(f); break;
      case "missed": onMissed(f); break;
      default:
        // The protocol may grow: unknown frames are ignored.
        console.debug("tertulia: ignoring frame of unknown type", f.type);
    }
  }

  // helloErrorText explains a refused hello; codes are in docs/protocol.md.
  function helloErrorText(f) {
    var code = String(f.code || "");
    var said = String(f.text || code || "error");
    switch (code) {
      case "nick_registered":
        return "This nick is registered. Sign in with a code from /weblogin in your SSH session.";
      case "not_allowed":
        return "This server admits only listed keys. Sign in with a code from /weblogin in your SSH session.";
      case "banned":
        return "You are banned from this server.";
      case "nick_taken":
        if (auth.signedIn && !wantedNick) {
          return said + ". If it is your own SSH session, change the nick there with /nick, then Join again.";
        }
        return said;
      default:
        return said;
    }
  }

  function onWelcome(f) {
    welcomed = true;
    me = String(f.nick || wantedNick);
    wantedNick = me;
    buildMentionRe();
    var list = Array.isArray(f.rooms) ? f.rooms.map(normRoom) : [];
    // After a reconnect, rejoin the rooms we were in besides the server's.
    var rejoin = order.filter(function (name) { return list.indexOf(name) < 0; });
    list.forEach(function (name) { addRoom(name).awaitMembers = true; });
    order.forEach(function (name) { rooms[name].loading = false; });
    if (!current || !has(rooms, current)) current = list.length ? list[0] : (order[0] || "");
    showChat();
    systemLine("notice", { text: "welcome " + me });
    rejoin.forEach(function (name) { send({ type: "say", room: "", text: "/join #" + name }); });
    if (rejoin.length && current) send({ type: "switch", room: current });
  }

  function messageLine(f, fromHistory) {
    var from = String(f.from || "");
    var txt = String(f.text || "");
    var self = isMe(from);
    return {
      kind: "msg", time: parseTime(f.ts), id: typeof f.id === "number" ? f.id : 0,
      room: normRoom(f.room), from: from, text: txt, action: !!f.action,
      mention: !self && mentions(txt), self: self, history: !!fromHistory
    };
  }

  function isDuplicate(r, f) {
    return typeof f.id === "number" && f.id > 0 && r.ids.has(f.id);
  }

  function onMessage(f) {
    var r = roomNamed(f.room);
    if (!r || isDuplicate(r, f)) return;
    var line = messageLine(f, false);
    addLine(r, line);
    if (r !== view()) {
      r.unread++;
      if (line.mention) r.mention = true;
      renderTabs();
    }
    if (line.mention) notifyMention();
  }

  // onHistory shows stored messages: the recent ones after a join, or an
  // older page (the frame then has "before") above those already shown.
  function onHistory(f) {
    var r = roomNamed(f.room);
    if (!r) return;
    var msgs = Array.isArray(f.messages) ? f.messages : [];
    var lines = [];
    var batch = new Set();
    msgs.forEach(function (m) {
      if (!m || typeof m !== "object" || isDuplicate(r, m)) return;
      if (typeof m.id === "number" && m.id > 0) {
        if (batch.has(m.id)) return;
        batch.add(m.id);
      }
      lines.push(messageLine(m, true));
    });
    if (has(f, "before")) {
      r.loading = false;
      if (msgs.length < PAGE) r.noOlder = true;
      var idx = firstMessageIndex(r);
      insertLines(r, idx < 0 ? r.lines.length : idx, lines);
      return;
    }
    lines.forEach(function (l) { addLine(r, l); });
    if (r === view()) updateOlder();
  }

  function onPrivate(f) {
    var id = typeof f.id === "number" ? f.id : 0;
    if (id > 0) {
      if (seenPrivate[id]) return;
      seenPrivate[id] = true;
    }
    var from = String(f.from || ""), to = String(f.to || "");
    var incoming = !isMe(from);
    systemLine("private", { time: parseTime(f.ts), id: id, from: from, to: to, text: String(f.text || ""), incoming: incoming });
    if (incoming) notifyMention();
  }

  function onJoin(f) {
    var nick = String(f.nick || "");
    var self = isMe(nick);
    var r = roomNamed(f.room);
    var isNew = false;
    if (!r) {
      if (!self) return;
      r = addRoom(f.room); // a room we just joined, e.g. with /join #dev
      isNew = true;
    }
    if (self) r.awaitMembers = true; // the member list follows
    var via = f.via ? String(f.via) : "";
    if (!r.members.some(function (m) { return fold(m.nick) === fold(nick); })) {
      r.members.push({ nick: nick, via: via, away: "", registered: f.registered === true });
      sortMembers(r.members);
    }
    r.count = typeof f.count === "number" ? f.count : r.members.length;
    addLine(r, { kind: "join", time: new Date(), room: r.name, nick: nick, via: via });
    if (isNew) {
      switchTo(r.name, false); // the server made it our current room too
    } else if (r === view()) {
      renderStatus();
      renderMembers();
    }
  }

  function onPart(f) {
    var r = roomNamed(f.room);
    if (!r) return;
    var nick = String(f.nick || "");
    if (isMe(nick)) {
      // We left (e.g. /part): the tab goes; the server's current room is
      // then the last one joined, which we show.
      var wasCurrent = r.name === current;
      removeRoom(r.name);
      if (wasCurrent) {
        current = order.length ? order[order.length - 1] : "";
        if (current) {
          switchTo(current, true);
        } else {
          renderRoom();
        }
      } else {
        renderTabs();
      }
      systemLine("notice", { text: "You left " + roomLabel(r.name) + (current ? "" : ". You are in no room: /join #room") });
      return;
    }
    r.members = r.members.filter(function (m) { return fold(m.nick) !== fold(nick); });
    r.count = typeof f.count === "number" ? f.count : r.members.length;
    addLine(r, { kind: "part", time: new Date(), room: r.name, nick: nick, reason: f.reason ? String(f.reason) : "" });
    if (r === view()) { renderStatus(); renderMembers(); }
  }

  function onNick(f) {
    var r = roomNamed(f.room);
    if (!r) return;
    var oldNick = String(f.old || ""), newNick = String(f["new"] || "");
    // New objects: lines already logged (e.g. a /who list) keep the old nick.
    r.members = r.members.map(function (m) {
      var renamed = m.nick === oldNick;
      return { nick: renamed ? newNick : m.nick, via: m.via, away: m.away, registered: renamed ? f.registered === true : m.registered };
    });
    sortMembers(r.members);
    if (oldNick === me) {
      me = newNick;
      wantedNick = newNick;
      buildMentionRe();
    }
    addLine(r, { kind: "nickchange", time: new Date(), room: r.name, old: oldNick, nick: newNick });
    if (r === view()) { renderStatus(); renderMembers(); }
  }

  function onMembers(f) {
    var list = (Array.isArray(f.members) ? f.members : []).map(memberFrom);
    var r = roomNamed(f.room);
    if (r) {
      r.members = list;
      r.count = list.length;
      if (r.awaitMembers) {
        r.awaitMembers = false; // the list after our own join, not a /who
        if (r === view()) { renderStatus(); renderMembers(); }
        return;
      }
      if (r === view()) { renderStatus(); renderMembers(); }
    }
    // A reply to /who or /names (maybe of a room we are not in): shown where
    // the user typed it.
    systemLine("who", {
      room: normRoom(f.room),
      members: list.map(function (m) { return { nick: m.nick, via: m.via, away: m.away, registered: m.registered }; })
    });
  }

  function onTopic(f) {
    var r = roomNamed(f.room);
    if (!r) return;
    r.topic = String(f.topic || "");
    if (f.by) {
      addLine(r, { kind: "topic", time: parseTime(f.ts), room: r.name, by: String(f.by), text: r.topic });
    }
    if (r === view()) renderStatus();
  }

  function onRooms(f) {
    var list = (Array.isArray(f.rooms) ? f.rooms : []).map(function (x) {
      return {
        name: String((x && x.name) || ""),
        count: x && typeof x.count === "number" ? x.count : 0,
        topic: String((x && x.topic) || "")
      };
    });
    systemLine("rooms", { rooms: list });
  }

  // onMissed marks where this page fell behind and was not sent some
  // messages (the room's history has them; private ones are lost).
  function onMissed(f) {
    var n = typeof f.count === "number" ? f.count : 0;
    if (f.private) {
      systemLine("notice", { text: "missed " + n + " private messages" });
      return;
    }
    var r = roomNamed(f.room);
    if (!r) return;
    addLine(r, { kind: "notice", time: new Date(), text: "missed " + n + " messages in " + roomLabel(r.name) });
  }

  function onError(f) {
    // A failed request for older messages is answered by an error: allow
    // another try.
    order.forEach(function (name) { rooms[name].loading = false; });
    systemLine("error", { text: String(f.text || ""), code: String(f.code || "") });
    updateOlder();
  }

  // ---- older messages ------------------------------------------------------

  function requestOlder() {
    var r = view();
    if (r === noRoom || r.loading || r.noOlder) return;
    var before = oldestId(r);
    if (!before) return;
    if (send({ type: "history", room: r.name, before: before, limit: PAGE })) {
      r.loading = true;
      updateOlder();
    }
  }

  function onScroll() {
    if (el.scroller.scrollTop <= 0 && el.scroller.scrollHeight > el.scroller.clientHeight) requestOlder();
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

  function remember(value) {
    if (history[history.length - 1] !== value) {
      history.push(value);
      if (history.length > HISTORY) history.shift();
    }
    historyPos = history.length;
    el.input.value = "";
  }

  function onSendSubmit(ev) {
    ev.preventDefault();
    var value = el.input.value;
    if (!value.trim()) return;
    // "/join #room" for a room we are in just shows it (the server would
    // make it current without sending anything).
    var join = /^\/join\s+(#?\S+)\s*$/i.exec(value.trim());
    if (join && roomNamed(join[1])) {
      switchTo(normRoom(join[1]), true);
      remember(value);
      return;
    }
    var frame = { type: "say", room: current, text: value };
    if (new TextEncoder().encode(JSON.stringify(frame)).length > MAX_FRAME) {
      systemLine("error", { text: "message not sent: too long" });
      return;
    }
    if (!send(frame)) {
      systemLine("error", { text: "not connected" });
      return;
    }
    remember(value);
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

  function onTabClick(ev) {
    var tab = ev.target.closest ? ev.target.closest(".room-tab") : null;
    if (!tab) return;
    var name = tab.getAttribute("data-room");
    if (name !== current) switchTo(name, true);
    el.input.focus();
  }

  function onReconnect() {
    if (ws) return;
    if (signedOut) {
      backToSignIn();
      return;
    }
    el.reconnect.disabled = true;
    el.offlineText.textContent = "reconnecting\u2026";
    if (!auth.signedIn) {
      connect(me || wantedNick); // onClose re-enables the button if this fails
      return;
    }
    // The sign-in may have ended (expired, /logout-all) while we were away.
    checkSession(function (err) {
      if (!err && !auth.signedIn) {
        backToSignIn();
        return;
      }
      connect(me);
    });
  }

  // backToSignIn leaves a chat whose sign-in ended for the sign-in card.
  function backToSignIn() {
    signedOut = false;
    resetChat();
    showLogin("");
    el.loginCodeError.textContent = "This browser was signed out. Sign in again with a new code from /weblogin, or join as a guest.";
  }

  // resetChat forgets the chat of the identity that is going away (closing
  // its socket), so the next one starts afresh.
  function resetChat() {
    if (ws) {
      var sock = ws;
      ws = null;
      try { sock.close(1000, "signed out"); } catch (e) { /* already closing */ }
    }
    welcomed = false;
    me = "";
    wantedNick = "";
    mentionRe = null;
    current = "";
    rooms = {};
    order = [];
    noRoom = newRoom("");
    seenPrivate = {};
    unread = 0;
    setTitle();
    el.messages.textContent = "";
    el.memberList.textContent = "";
    el.rooms.textContent = "";
    el.nick.value = "";
  }

  // ---- web sign-in ---------------------------------------------------------

  // request sends a same-origin JSON request; done(err, status, body) runs
  // once, with err set when the server could not be reached.
  function request(method, path, body, done) {
    var ctrl = typeof AbortController === "function" ? new AbortController() : null;
    var timer = setTimeout(function () { if (ctrl) ctrl.abort(); }, FETCH_TIMEOUT);
    var opts = { method: method, credentials: "same-origin", cache: "no-store", headers: { "Accept": "application/json" } };
    if (ctrl) opts.signal = ctrl.signal;
    if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    var status = 0;
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
  function setAuth(signedIn, nicks) {
    if (auth.signedIn !== signedIn && ws && !welcomed) {
      var sock = ws;
      ws = null;
      try { sock.close(1000); } catch (e) { /* already closing */ }
    }
    auth.known = true;
    auth.signedIn = signedIn;
    auth.nicks = signedIn && Array.isArray(nicks)
      ? nicks.filter(function (n) { return typeof n === "string" && n !== ""; }).map(String)
      : [];
    renderLogin();
  }

  // checkSession asks the server whether this browser is signed in. A
  // failure leaves what we knew (a guest, at first).
  function checkSession(then) {
    request("GET", "/session", undefined, function (err, status, data) {
      if (!err && status === 200) {
        setAuth(data.signed_in === true, data.nicks);
      } else if (!auth.known) {
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

  function submitCode() {
    var code = el.loginCode.value.trim();
    if (!code) {
      el.loginCodeError.textContent = "Enter the code that /weblogin gave you in your SSH session.";
      el.loginCode.focus();
      return;
    }
    if (signingIn) return;
    signingIn = true;
    el.loginCodeError.textContent = "";
    el.loginSubmit.disabled = true;
    request("POST", "/login", { code: code }, function (err, status, data) {
      signingIn = false;
      el.loginSubmit.disabled = false;
      if (!err && status === 200 && data.ok === true) {
        el.loginCode.value = "";
        signedOut = false;
        setAuth(true, data.nicks);
        if (!inChat) showLogin("");
        return;
      }
      var msg = codeErrorText(err, status, data);
      if (auth.signedIn) {
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

  function onCodeSubmit(ev) {
    ev.preventDefault();
    submitCode();
  }

  function onSessionJoin() {
    if (!usesSessionJoin()) return;
    // Without a nick the server picks the key's first registered nick.
    var nick = "";
    if (auth.nicks.length > 1 && el.sessionNicks.value && el.sessionNicks.value !== auth.nicks[0]) {
      nick = el.sessionNicks.value;
    }
    el.sessionError.textContent = "";
    el.sessionJoin.disabled = true;
    connect(nick);
  }

  function signOut() {
    el.signOut.disabled = true;
    el.chatSignOut.disabled = true;
    request("POST", "/logout", undefined, function (err, status) {
      el.signOut.disabled = false;
      el.chatSignOut.disabled = false;
      if (err || status !== 200) {
        var msg = "Could not sign out: " + (err ? "the server could not be reached" : "HTTP " + status) + "; try again.";
        if (inChat) {
          systemLine("error", { text: msg });
        } else {
          el.sessionError.textContent = msg;
        }
        return;
      }
      signedOut = false;
      resetChat();
      setAuth(false, []);
      showLogin("");
    });
  }

  // codeFromURL takes the code of a /weblogin link (/?code=XXXX-XXXX-XXXX)
  // and removes it from the address bar and the history (window.history:
  // "history" here is the composer's input history).
  function codeFromURL() {
    var code = "";
    try {
      var params = new URLSearchParams(location.search);
      code = (params.get("code") || "").trim().slice(0, 64);
      if (location.search) window.history.replaceState(null, "", location.pathname + location.hash);
    } catch (e) { /* no URL API: type the code instead */ }
    return code;
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
      loginChecking: $("login-checking"), sessionView: $("session-view"), sessionNick: $("session-nick"),
      sessionHint: $("session-hint"), sessionChoose: $("session-choose"), sessionNicks: $("session-nicks"),
      sessionJoin: $("session-join"), signOut: $("sign-out"), sessionError: $("session-error"),
      codeForm: $("code-form"), loginCode: $("login-code"), loginSubmit: $("login-submit"),
      loginCodeError: $("login-code-error"), chatSignOut: $("chat-sign-out"),
      loginError: $("login-error"), chatView: $("chat-view"), roomName: $("room-name"),
      roomTopic: $("room-topic"), rooms: $("rooms"), scroller: $("scroller"), loadOlder: $("load-older"),
      memberCount: $("member-count"), connState: $("conn-state"), meNick: $("me-nick"),
      messages: $("messages"), members: $("members"), memberList: $("member-list"),
      offlineBar: $("offline-bar"), offlineText: $("offline-text"), reconnect: $("reconnect"),
      sendForm: $("send-form"), input: $("input"), send: $("send")
    };
    el.loginForm.addEventListener("submit", onLoginSubmit);
    el.codeForm.addEventListener("submit", onCodeSubmit);
    el.sessionJoin.addEventListener("click", onSessionJoin);
    el.signOut.addEventListener("click", signOut);
    el.chatSignOut.addEventListener("click", signOut);
    el.sendForm.addEventListener("submit", onSendSubmit);
    el.input.addEventListener("keydown", onInputKey);
    el.reconnect.addEventListener("click", onReconnect);
    el.rooms.addEventListener("click", onTabClick);
    el.loadOlder.addEventListener("click", requestOlder);
    el.scroller.addEventListener("scroll", onScroll, { passive: true });
    document.addEventListener("visibilitychange", onVisibility);
    setTitle();

    var code = codeFromURL();
    if (code) el.loginCode.value = code;
    checkSession(function () {
      if (code) {
        submitCode(); // a /weblogin link: sign in at once
      } else {
        focusLogin();
      }
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
