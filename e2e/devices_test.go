package e2e

import (
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	gossh "golang.org/x/crypto/ssh"
)

// signerOf reads the private key the OpenSSH client uses, so that a Go
// client can hold the same key.
func signerOf(t *testing.T, keyPath string) gossh.Signer {
	t.Helper()
	pem, err := os.ReadFile(keyPath)
	must(t, err)
	s, err := gossh.ParsePrivateKey(pem)
	must(t, err)
	return s
}

// membersLine waits for the answer to /who in line mode and fails on a
// line that reject accepts first (a repeated join, part or message).
func membersLine(t *testing.T, lc *lineClient, reject func(string) bool) string {
	t.Helper()
	return lc.expectFunc("the member list", func(l string) bool {
		if reject(l) {
			t.Fatalf("unexpected line before the member list: %q", l)
		}
		return strings.HasPrefix(l, "#lobby members (")
	})
}

// alice is on three devices of one registered key: the real OpenSSH client
// in a terminal, line mode and a signed-in browser. bob sees one alice:
// one join, one entry in every member list, her browser's message once,
// and one part, only when her last device leaves. bob's private message
// reaches all three of her devices, and her answer from the browser shows
// on all of them.
func TestOnePersonOnThreeDevices(t *testing.T) {
	srv := startServer(t)
	bob := newLineClient(t, srv.SSHAddr, "bob")
	bob.expect("-!- welcome bob")

	keyPath := newSSHKey(t)
	line := newLineClient(t, srv.SSHAddr, "alice", keyAuth(signerOf(t, keyPath)))
	line.expect("-!- welcome alice")
	line.register()
	bob.expect("#lobby --> alice joined (ssh)")
	code := line.webLoginCode()

	// The terminal asks for another nick: the key's person is alice.
	tm := sshInTmux(t, srv.SSHAddr, "someone", keyPath)
	tm.waitFor("alice │ #lobby │ 2 members")

	p := newPage(t)
	p.open(srv.HTTPAddr, "/?code="+code)
	p.do("join as the key's nick", chromedp.WaitVisible(chromedp.ID("session-join")), chromedp.WaitEnabled(chromedp.ID("session-join")), chromedp.Click(chromedp.ID("session-join")))
	p.waitChat("alice")
	p.waitPage("one alice among 2 members",
		`() => Array.from(document.querySelectorAll("#member-list .member .nick")).filter(n => n.textContent === "alice").length === 1 &&
			document.getElementById("member-count").textContent === "2 members"`)

	bob.send("/who")
	who := membersLine(t, bob, func(l string) bool { return strings.Contains(l, "alice joined") })
	if !strings.HasPrefix(who, "#lobby members (2): ") || strings.Count(who, "alice (") != 1 {
		t.Fatalf("bob's /who: %q, want alice once among 2", who)
	}
	line.send("/who")
	if who := membersLine(t, line, func(string) bool { return false }); !strings.HasPrefix(who, "#lobby members (2): ") || strings.Count(who, "alice (") != 1 {
		t.Fatalf("alice's line-mode /who: %q", who)
	}
	bob.send("/whois alice")
	bob.expect("devices: 3 (ssh, ssh, web)")

	// bob's private message reaches every device of alice.
	bob.send("/msg alice hi from bob")
	line.expect("[pm] bob -> alice: hi from bob")
	tm.waitFor("[pm] bob → alice: hi from bob")
	p.clickPrivateTab("bob")
	p.waitText("messages", "hi from bob")

	// Her answer, typed in the browser's conversation, shows on all of her
	// devices as hers, and reaches bob once.
	p.say("answer from the browser")
	bob.expect("[pm] alice -> bob: answer from the browser")
	line.expect("[pm] alice -> bob: answer from the browser")
	tm.waitFor("[pm] alice → bob: answer from the browser")

	// A message from the browser: once for bob, hers in her terminal.
	p.say("/join #lobby") // a joined room: the page just shows it
	p.waitPage("the lobby shown", `() => document.getElementById("room-name").textContent === "#lobby"`)
	p.say("from my browser")
	bob.expect("#lobby <alice> from my browser")
	line.expect("#lobby <alice> from my browser")
	tm.waitFor("<alice> from my browser")
	bob.send("/who")
	membersLine(t, bob, func(l string) bool { return strings.Contains(l, "from my browser") })

	// A private message sent from line mode lands in the browser's
	// conversation with bob, as hers, without taking the page off #lobby.
	line.send("/msg bob sent from line mode")
	bob.expect("[pm] alice -> bob: sent from line mode")
	tm.waitFor("[pm] alice → bob: sent from line mode")
	p.waitPage("the PM in bob's conversation, #lobby still shown",
		`() => document.getElementById("room-name").textContent === "#lobby" &&
			!!document.querySelector('#rooms .pm-tab[data-pm="bob"]')`)
	p.clickPrivateTab("bob")
	p.waitText("messages", "sent from line mode")

	// Line mode and the browser leave; the terminal stays: no part.
	line.send("/quit")
	awaitClosed(t, line)
	p.do("sign the page out", chromedp.WaitVisible(chromedp.ID("chat-sign-out")), chromedp.Click(chromedp.ID("chat-sign-out")))
	p.waitGuestForm()
	bob.send("/who")
	if who := membersLine(t, bob, func(l string) bool { return strings.Contains(l, "alice left") }); strings.Count(who, "alice (") != 1 {
		t.Fatalf("bob's /who with alice's terminal left: %q", who)
	}
	tm.waitFor("alice │ #lobby │ 2 members")

	// Her last device leaves: one part.
	tm.typeLine("/quit")
	bob.expect("#lobby <-- alice left")
	bob.send("/who")
	if who := membersLine(t, bob, func(l string) bool { return strings.Contains(l, "alice left") }); !strings.HasPrefix(who, "#lobby members (1): ") {
		t.Fatalf("bob's /who once alice left: %q", who)
	}
}

// The 11th session of a key (the default --max-sessions-per-key is 10) is
// refused with a clear error, on SSH and on the web; the key's ten others
// still chat, and once one leaves another may come in.
func TestEleventhSessionOfAKeyRefused(t *testing.T) {
	srv := startServer(t)
	key := newSigner(t)
	// Spread over addresses: the per-address cap (10) stays out of the way.
	addrs := []string{"127.0.0.2", "127.0.0.3", "127.0.0.4"}
	first := newLineClientFrom(t, addrs[0], srv.SSHAddr, "alice", keyAuth(key))
	first.expect("-!- welcome alice")
	first.register()
	cookie := sessionCookie(t, postLogin(t, srv.HTTPAddr, first.webLoginCode()))
	devices := []*lineClient{first}
	for i := 1; i < 10; i++ {
		d := newLineClientFrom(t, addrs[i%len(addrs)], srv.SSHAddr, "terminal", keyAuth(key))
		d.expect("-!- welcome alice")
		devices = append(devices, d)
	}

	out := sshRefused(t, "127.0.0.5", srv.SSHAddr, "alice", keyAuth(key))
	if !strings.Contains(out, "too many sessions open (at most 10 at once)") {
		t.Fatalf("11th SSH session: %q, want a clear refusal", out)
	}
	conn, _, err := dialWS(t, srv.HTTPAddr, http.Header{"Cookie": {cookie.Name + "=" + cookie.Value}}, nil)
	must(t, err)
	web := wrapWS(t, conn)
	web.sendJSON(map[string]string{"type": "hello"})
	if f := web.expect("the refusal", func(f frame) bool { return f.Type == "error" || f.Type == "welcome" }); f.Code != "too_many_sessions" || !strings.Contains(f.Text, "at most 10") {
		t.Fatalf("11th session, from a browser: %s", f.Raw)
	}

	devices[3].send("the ten still chat")
	for _, d := range []*lineClient{devices[0], devices[9]} {
		d.expect("#lobby <alice> the ten still chat")
	}

	devices[9].send("/quit")
	awaitClosed(t, devices[9])
	// The session is gone before its client sees the end: the same socket
	// may try again now.
	web.sendJSON(map[string]string{"type": "hello"})
	if f := web.expect("welcome", func(f frame) bool { return f.Type == "error" || f.Type == "welcome" }); f.Type != "welcome" || f.Nick != "alice" {
		t.Fatalf("hello after one session left: %s", f.Raw)
	}
	web.say("and a browser again")
	devices[0].expect("#lobby <alice> and a browser again")
}

// awaitClosed waits for a line client's session to end, failing the test
// rather than hanging if it does not.
func awaitClosed(t *testing.T, lc *lineClient) {
	t.Helper()
	select {
	case <-lc.closed:
	case <-time.After(waitTimeout):
		t.Fatal("the session did not end")
	}
}
