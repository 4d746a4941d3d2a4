package e2e

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	gossh "golang.org/x/crypto/ssh"
)

// signInBrowser registers nick to signer's key from a line-mode session,
// which then quits, and signs a new browser page in as that key with a
// /weblogin code: the page joins as nick.
func signInBrowser(t *testing.T, srv *server, signer gossh.Signer, nick string) *browserTab {
	t.Helper()
	ssh := newLineClient(t, srv.SSHAddr, nick, keyAuth(signer))
	ssh.expect("welcome " + nick)
	ssh.send("/register")
	ssh.expect(nick + " is now registered to your key")
	code := ssh.webLoginCode()
	ssh.send("/quit")
	ssh.expect("Goodbye.")

	p := newPage(t)
	p.open(srv.HTTPAddr, "/?code="+code)
	p.do("join as the key's nick", chromedp.WaitVisible(chromedp.ID("session-join")),
		chromedp.WaitEnabled(chromedp.ID("session-join")), chromedp.Click(chromedp.ID("session-join")))
	p.waitChat(nick)
	return p
}

// lobbyBadgeShown is a page function: the #lobby tab's unread badge is
// shown (want true) or hidden (want false).
const lobbyBadgeShown = `want => {
	const b = document.querySelector('[data-tab="#lobby"] .badge');
	return !!b && b.hidden === !want;
}`

// Alice reads #lobby in her signed-in browser (she opens its tab) while
// her terminal (the OpenSSH client, same key) shows #dev: the terminal's
// unread mark for #lobby clears within a second, whatever nick each of her
// sessions has.
func TestReadInTheBrowserClearsTheTerminalsMark(t *testing.T) {
	srv := startServer(t)
	keyFile := newSSHKey(t)
	raw, err := os.ReadFile(keyFile)
	must(t, err)
	signer, err := gossh.ParsePrivateKey(raw)
	must(t, err)
	p := signInBrowser(t, srv, signer, "alice")
	p.say("/join #dev")
	p.waitCurrentRoom("dev")

	term := sshInTmux(t, srv.SSHAddr, "alice", keyFile)
	term.waitFor("│ #lobby")
	term.typeLine("/join #dev")
	term.waitFor("│ #dev │", "#lobby #dev")

	bob := newLineClient(t, srv.SSHAddr, "bob")
	bob.expect("welcome bob")
	bob.send("news for the devices")
	term.waitFor("#lobby*")
	p.waitPage("the #lobby badge", lobbyBadgeShown, true)

	p.clickTab("lobby")
	shown := time.Now()
	term.waitForFunc("the #lobby mark cleared", func(screen string) bool {
		return strings.Contains(screen, "#lobby #dev") && !strings.Contains(screen, "#lobby*")
	})
	took := time.Since(shown)
	t.Logf("the terminal cleared its mark %v after the page showed #lobby", took)
	if took > time.Second {
		t.Errorf("the terminal cleared its mark %v after the page showed #lobby, want within 1 s", took)
	}
	p.assertNoConsoleErrors()
}

// /read in line mode marks #lobby read for the key: the signed-in page,
// showing another room, loses the #lobby tab's unread badge at once; a
// later message brings it back.
func TestLineModeReadClearsThePagesBadge(t *testing.T) {
	srv := startServer(t)
	signer := newSigner(t)
	p := signInBrowser(t, srv, signer, "alice")
	p.say("/join #dev")
	p.waitPage("the #dev tab shown", `() => document.querySelector('[data-tab="#dev"].current') !== null`)

	bob := newLineClient(t, srv.SSHAddr, "bob")
	bob.expect("welcome bob")
	bob.send("unread on the page")
	p.waitPage("the #lobby badge", lobbyBadgeShown, true)

	line := newLineClient(t, srv.SSHAddr, "alice", keyAuth(signer))
	line.expect("welcome alice")
	line.send("/read #lobby")
	line.expect("#lobby is read, up to its newest message")
	p.waitPage("the #lobby badge gone", lobbyBadgeShown, false)

	bob.send("one more")
	p.waitPage("the #lobby badge back", lobbyBadgeShown, true)
	line.expect("#lobby <bob> one more")
	line.send("/read")
	line.expect("#lobby is read")
	p.waitPage("the #lobby badge gone again", lobbyBadgeShown, false)
	p.assertNoConsoleErrors()
}

// A guest's read frame is ignored, answered by nothing; a read without a
// message id is answered with bad_frame. A key's sessions in line mode are
// told of each other's reads.
func TestReadFramesOfGuestsAndKeys(t *testing.T) {
	srv := startServer(t)
	guest := joinWS(t, srv.HTTPAddr, "visitor")
	guest.say("hello")
	msg := guest.expect("the guest's message", isMessage("visitor", "hello"))
	must(t, guest.ws.Read("lobby", msg.ID))
	guest.sendJSON(map[string]any{"type": "read", "room": "lobby"})
	first := guest.expect("the next frame", func(frame) bool { return true })
	if first.Type != "error" || first.Code != "bad_frame" {
		t.Fatalf("after a guest's read and a read without id: %s, want only bad_frame for the second", first.Raw)
	}

	signer := newSigner(t)
	laptop := newLineClient(t, srv.SSHAddr, "carol", keyAuth(signer))
	laptop.expect("welcome carol")
	phone := newLineClient(t, srv.SSHAddr, "carol", keyAuth(signer))
	phone.expect("welcome carol_2")
	laptop.send("/read")
	laptop.expect("#lobby is read")
	phone.expect("#lobby read up to ")
}

// A browser signed in as a key for the first time starts with the key's
// unread state: the room it is put back in, read elsewhere up to some
// message, shows its "new messages" divider above the first message after
// it.
func TestFreshBrowserStartsWithTheKeysUnreadState(t *testing.T) {
	srv := startServer(t)
	signer := newSigner(t)
	alice := newLineClient(t, srv.SSHAddr, "alice", keyAuth(signer))
	alice.expect("welcome alice")
	alice.send("/register")
	alice.expect("alice is now registered to your key")
	alice.send("/join #dev")
	alice.expect("#dev members")
	bob := newLineClient(t, srv.SSHAddr, "bob")
	bob.expect("welcome bob")
	bob.send("/join #dev")
	bob.send("read on the laptop")
	alice.expect("#dev <bob> read on the laptop")
	alice.send("/read #dev")
	alice.expect("#dev is read")
	bob.send("not read yet")
	bob.send("nor this")
	alice.expect("#dev <bob> nor this")
	code := alice.webLoginCode()
	alice.send("/quit")
	alice.expect("Goodbye.")

	p := newPage(t)
	p.open(srv.HTTPAddr, "/?code="+code)
	p.do("join as the key's nick", chromedp.WaitVisible(chromedp.ID("session-join")),
		chromedp.WaitEnabled(chromedp.ID("session-join")), chromedp.Click(chromedp.ID("session-join")))
	p.waitChat("alice")
	p.waitPage("#dev shown with the divider above the first unread message", `() => {
		const marked = Array.from(document.querySelectorAll("#messages .line")).filter(li => li.querySelector(".unread-marker"));
		return document.querySelector('[data-tab="#dev"].current') !== null &&
			marked.length === 1 && marked[0].textContent.includes("not read yet");
	}`)
	p.assertNoConsoleErrors()
}
