package e2e

import (
	"net/http"
	"strings"
	"testing"
)

// signedInWSWith opens a websocket signed in with cookie and says hello
// as nick ("": the key's registered nick).
func signedInWSWith(t *testing.T, httpAddr string, cookie *http.Cookie, nick string) *wsClient {
	t.Helper()
	conn, _, err := dialWS(t, httpAddr, http.Header{"Cookie": {cookie.Name + "=" + cookie.Value}}, nil)
	must(t, err)
	wc := wrapWS(t, conn)
	wc.sendJSON(map[string]string{"type": "hello", "nick": nick})
	wc.expect("welcome", func(f frame) bool { return f.Type == "welcome" })
	return wc
}

// linesUntil collects lc's lines until one containing marker.
func (lc *lineClient) linesUntil(marker string) []string {
	lc.t.Helper()
	var got []string
	lc.expectFunc(marker, func(l string) bool {
		got = append(got, l)
		return strings.Contains(l, marker)
	})
	return got
}

// leaveAndWait disconnects lc, whose nick is nick, and waits until
// watcher sees it leave.
func leaveAndWait(t *testing.T, lc *lineClient, nick string, watcher *wsClient) {
	t.Helper()
	lc.client.Close()
	watcher.expect(nick+" leaves", func(f frame) bool { return f.Type == "part" && f.Nick == nick })
}

func isNotice(part string) func(frame) bool {
	return func(f frame) bool { return f.Type == "notice" && strings.Contains(f.Text, part) }
}

// A private message to an offline registered user is kept: the sender's
// copy is marked waiting with a notice. At the user's next connection, in
// line mode, the messages come marked missed, after a notice counting
// them; another device of the key connecting next gets none; after both
// left, a new message comes to the signed-in web page, marked missed.
func TestPrivateToOfflineRegisteredUserWaitsForTheirNextConnection(t *testing.T) {
	srv := startServer(t)
	aliceKey := newSigner(t)
	bob := joinWS(t, srv.HTTPAddr, "bob")
	alice := newLineClient(t, srv.SSHAddr, "alice", keyAuth(aliceKey))
	alice.expect("welcome alice")
	alice.register()
	cookie := sessionCookie(t, postLogin(t, srv.HTTPAddr, alice.webLoginCode()))
	leaveAndWait(t, alice, "alice", bob)

	bob.say("/msg alice are you there?")
	if f := bob.expect("bob's copy", func(f frame) bool { return f.Type == "private" }); !f.Waiting || f.Missed || f.To != "alice" {
		t.Fatalf("bob's copy: %s", f.Raw)
	}
	bob.expect("the notice", isNotice("alice is offline; your message will be delivered when they connect."))
	bob.say("/msg alice second\nwith two lines")
	bob.expect("bob's second copy", func(f frame) bool { return f.Type == "private" && f.Waiting })

	back := newLineClient(t, srv.SSHAddr, "alice", keyAuth(aliceKey))
	back.expect("-!- 2 private messages while you were away:")
	if l := back.expect("are you there?"); !strings.HasPrefix(l, "[pm] @") || !strings.HasSuffix(l, " bob -> alice: are you there?") {
		t.Fatalf("missed line: %q", l)
	}
	back.expect("[pm] | with two lines")

	second := newLineClient(t, srv.SSHAddr, "alice", keyAuth(aliceKey))
	second.expect("welcome alice") // the same person: one nick on every device
	second.send("/set")
	for _, l := range second.linesUntil("Your settings") {
		if strings.HasPrefix(l, "[pm]") || strings.Contains(l, "while you were away") {
			t.Fatalf("a second device got the missed messages again: %q", l)
		}
	}
	second.client.Close()
	leaveAndWait(t, back, "alice", bob) // her part comes once her last device has gone

	bob.say("/msg alice for the web")
	bob.expect("bob's third copy", func(f frame) bool { return f.Type == "private" && f.Waiting })
	web := signedInWSWith(t, srv.HTTPAddr, cookie, "")
	web.expect("the count", isNotice("1 private message while you were away:"))
	if f := web.expect("the missed message", func(f frame) bool { return f.Type == "private" }); !f.Missed || f.From != "bob" || f.Text != "for the web" {
		t.Fatalf("web's missed message: %s", f.Raw)
	}
}

// With offline messages off, the sender is refused with a code; a guest
// cannot receive offline messages: a message to an offline guest's nick
// is no_such_nick, as before.
func TestOfflineMessagesRefusedWhenOffAndToGuests(t *testing.T) {
	srv := startServer(t)
	bob := joinWS(t, srv.HTTPAddr, "bob")
	alice := newLineClient(t, srv.SSHAddr, "alice", keyAuth(newSigner(t)))
	alice.expect("welcome alice")
	alice.register()
	alice.send("/set offline-messages off")
	alice.expect("-!- Offline messages: off.")
	leaveAndWait(t, alice, "alice", bob)
	carol := newLineClient(t, srv.SSHAddr, "carol")
	carol.expect("welcome carol")
	leaveAndWait(t, carol, "carol", bob)

	bob.say("/msg alice hello")
	if f := bob.expect("the refusal", func(f frame) bool { return f.Type == "error" }); f.Code != "offline_refused" || !strings.Contains(f.Text, "alice is offline") {
		t.Fatalf("refusal: %s", f.Raw)
	}
	bob.say("/msg carol hello")
	if f := bob.expect("the refusal", func(f frame) bool { return f.Type == "error" }); f.Code != "no_such_nick" {
		t.Fatalf("message to an offline guest: %s", f.Raw)
	}
	dave := newLineClient(t, srv.SSHAddr, "dave")
	dave.expect("welcome dave")
	dave.send("/msg carol hello")
	dave.expect("-!- error: carol is not connected")
}

// A mention of a registered user in a room they were in, while they were
// offline, is listed at their next connection and again by /mentions.
func TestMentionWhileAwayListedAtConnectionAndByMentions(t *testing.T) {
	srv := startServer(t)
	aliceKey := newSigner(t)
	alice := newLineClient(t, srv.SSHAddr, "alice", keyAuth(aliceKey))
	alice.expect("welcome alice")
	alice.register()
	alice.send("/join #dev")
	alice.expect("#dev --> alice joined")
	bob := joinWS(t, srv.HTTPAddr, "bob")
	bob.say("/join #dev")
	bob.expect("bob in #dev", func(f frame) bool { return f.Type == "members" && f.Room == "dev" })
	alice.client.Close()
	bob.expect("alice leaves #dev", func(f frame) bool { return f.Type == "part" && f.Nick == "alice" && f.Room == "dev" })
	must(t, bob.ws.Say("dev", "alice: the build is red"))
	bob.expect("bob's mention", isMessage("bob", "alice: the build is red"))
	must(t, bob.ws.Say("dev", "nothing for anyone"))
	bob.expect("bob's message", isMessage("bob", "nothing for anyone"))

	back := newLineClient(t, srv.SSHAddr, "alice", keyAuth(aliceKey))
	back.expect("-!- 1 mention while you were away:")
	if l := back.expect("<bob>"); !strings.HasPrefix(l, "-!-   #dev ") || !strings.HasSuffix(l, "<bob> alice: the build is red") {
		t.Fatalf("mention line: %q", l)
	}
	back.send("/mentions")
	back.expect("-!- Mentions of you while you were away (1):")
	back.expect("<bob> alice: the build is red")
}

// A setting changed on one device of a key is in force on its other
// connected device at once (the web page gets a settings frame), and
// both find it after a server restart (a real SQLite file).
func TestSettingsFollowTheKeyAcrossDevicesAndRestarts(t *testing.T) {
	dir := t.TempDir()
	srv := startServerIn(t, dir)
	aliceKey := newSigner(t)
	term := newLineClient(t, srv.SSHAddr, "alice", keyAuth(aliceKey))
	term.expect("welcome alice")
	term.register()
	cookie := sessionCookie(t, postLogin(t, srv.HTTPAddr, term.webLoginCode()))
	web := signedInWSWith(t, srv.HTTPAddr, cookie, "")
	if f := web.expect("settings at sign-in", func(f frame) bool { return f.Type == "settings" }); f.Settings["timestamp"] != "time" || f.Settings["quiet"] != "off" {
		t.Fatalf("settings at sign-in: %s", f.Raw)
	}

	term.send("/timestamp datetime")
	term.expect("-!- Timestamps: datetime.")
	if f := web.expect("settings after /timestamp", func(f frame) bool { return f.Type == "settings" }); f.Settings["timestamp"] != "datetime" {
		t.Fatalf("settings after /timestamp on the terminal: %s", f.Raw)
	}
	web.sendJSON(map[string]string{"type": "set", "name": "quiet", "value": "on"})
	if f := web.expect("settings after a set frame", func(f frame) bool { return f.Type == "settings" }); f.Settings["quiet"] != "on" {
		t.Fatalf("settings after the set frame: %s", f.Raw)
	}
	term.send("/set")
	for _, want := range []string{"quiet             on", "timestamp         datetime"} {
		term.expect(want)
	}

	web.conn.Close()
	term.client.Close()
	srv.Stop()
	srv = startServerIn(t, dir)
	again := newLineClient(t, srv.SSHAddr, "alice", keyAuth(aliceKey))
	again.expect("welcome alice")
	again.send("/set")
	for _, want := range []string{"quiet             on", "timestamp         datetime"} {
		again.expect(want)
	}
	web = signedInWSWith(t, srv.HTTPAddr, cookie, "")
	if f := web.expect("settings after the restart", func(f frame) bool { return f.Type == "settings" }); f.Settings["timestamp"] != "datetime" || f.Settings["quiet"] != "on" {
		t.Fatalf("settings after the restart: %s", f.Raw)
	}
}

// A message waiting for an offline registered user outlives a restart of
// the server (a real SQLite file) and is delivered after it.
func TestWaitingMessageSurvivesARestart(t *testing.T) {
	dir := t.TempDir()
	srv := startServerIn(t, dir)
	aliceKey := newSigner(t)
	bob := newLineClient(t, srv.SSHAddr, "bob")
	bob.expect("welcome bob")
	alice := newLineClient(t, srv.SSHAddr, "alice", keyAuth(aliceKey))
	alice.expect("welcome alice")
	alice.register()
	alice.client.Close()
	bob.expect("#lobby <-- alice left")
	bob.send("/msg alice see you after the upgrade")
	bob.expect("-!- alice is offline; your message will be delivered when they connect.")
	bob.client.Close()
	srv.Stop()

	srv = startServerIn(t, dir)
	back := newLineClient(t, srv.SSHAddr, "alice", keyAuth(aliceKey))
	back.expect("-!- 1 private message while you were away:")
	if l := back.expect("see you after the upgrade"); !strings.HasPrefix(l, "[pm] @") || !strings.HasSuffix(l, " bob -> alice: see you after the upgrade") {
		t.Fatalf("missed line after the restart: %q", l)
	}
}
