package e2e

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	gossh "golang.org/x/crypto/ssh"

	"github.com/tertulia/tertulia/internal/app"
)

// shellPane is a shell in a tmux pane from which the real OpenSSH client
// is run, so that the pane outlives ssh and shows what it left behind.
type shellPane struct {
	*tmux
	sshCmd string
	key    gossh.Signer // the client's key, for Go clients of the same user
}

// shellPrompt is the shell's prompt as capture-pane shows it (without its
// trailing space).
const shellPrompt = "shell$"

func newShellPane(t *testing.T, sshAddr, user string, width, height int) *shellPane {
	t.Helper()
	if _, err := exec.LookPath("ssh"); err != nil {
		t.Fatal("the OpenSSH client is not installed: run scripts/test, which installs it")
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	must(t, err)
	signer, err := gossh.NewSignerFromKey(priv)
	must(t, err)
	block, err := gossh.MarshalPrivateKey(priv, "")
	must(t, err)
	dir := t.TempDir()
	key := filepath.Join(dir, "id_ed25519")
	must(t, os.WriteFile(key, pem.EncodeToMemory(block), 0o600))
	host, port := splitAddr(t, sshAddr)
	p := &shellPane{
		tmux: newTmux(t, width, height, "env PS1='"+shellPrompt+" ' bash --norc --noprofile"),
		sshCmd: fmt.Sprintf("ssh -tt -p %s -i %s -o IdentitiesOnly=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=%s/known_hosts -o LogLevel=error %s@%s",
			port, key, dir, user, host),
		key: signer,
	}
	p.waitFor(shellPrompt)
	return p
}

// connect runs ssh in the pane's shell, clearing the pane first.
func (p *shellPane) connect() {
	p.run("send-keys", "-t", p.target, "clear; "+p.sshCmd, "Enter")
}

func (p *shellPane) send(keys ...string) {
	p.run(append([]string{"send-keys", "-t", p.target}, keys...)...)
}

func (p *shellPane) typeLine(text string) {
	p.send("-l", text)
	p.send("Enter")
}

// waitForShell waits until ssh has ended and the shell's prompt follows
// every want, in order.
func (p *shellPane) waitForShell(want ...string) string {
	p.t.Helper()
	return p.waitForFunc(fmt.Sprintf("%q then the shell prompt", want), func(screen string) bool {
		at := 0
		for _, w := range append(want, shellPrompt) {
			i := strings.Index(screen[at:], w)
			if i < 0 {
				return false
			}
			at += i + len(w)
		}
		return strings.TrimSpace(screen[at:]) == ""
	})
}

// When a session ends, kicked or with the server stopping, the terminal
// keeps the last messages and a line saying why, on its normal screen
// under the shell's prompt.
func TestTerminalKeepsConversationAndReasonAfterTheEnd(t *testing.T) {
	srv, bossKey := operatorServer(t)
	boss := newLineClient(t, srv.SSHAddr, "boss", keyAuth(bossKey))
	boss.expect("welcome boss")

	bob := newShellPane(t, srv.SSHAddr, "bob", 80, 20)
	bob.connect()
	bob.waitFor("bob │ #lobby")
	boss.send("message before the kick")
	bob.waitFor("<boss> message before the kick")
	boss.send("/kick bob testing kicks")
	screen := bob.waitForShell("<boss> message before the kick", "Disconnected: kicked by boss: testing kicks.")
	if strings.Contains(screen, "bob │ #lobby") {
		t.Fatalf("the status line is still there, the interface was not left:\n%s", screen)
	}

	bob.connect()
	bob.waitFor("bob │ #lobby")
	boss.send("message before the stop")
	bob.waitFor("<boss> message before the stop")
	srv.Stop()
	bob.waitForShell("<boss> message before the stop", "Disconnected: the server is stopping. Reconnect in a moment")
}

// A user leaving with /quit or Ctrl-D also keeps the conversation, with a
// line saying so; Ctrl-C clears a draft without leaving, Ctrl-D in a draft
// deletes a character.
func TestTerminalCtrlCClearsAndCtrlDQuitsOnEmptyLine(t *testing.T) {
	srv := startServer(t)
	web := joinWS(t, srv.HTTPAddr, "webby")
	bob := newShellPane(t, srv.SSHAddr, "bob", 80, 20)
	bob.connect()
	bob.waitFor("bob │ #lobby")
	web.say("hello bob")
	bob.waitFor("<webby> hello bob")

	bob.send("-l", "some draft text")
	bob.waitFor("> some draft text")
	bob.send("Home")
	bob.send("C-d")
	bob.waitFor("> ome draft text")
	bob.send("C-c")
	bob.waitFor("> type a message or /help")
	bob.typeLine("still here")
	web.expect("bob still connected", isMessage("bob", "still here"))
	bob.send("C-d")
	bob.waitForShell("<bob> still here", "You left the chat.")
}

// History comes first, then a divider, then the welcome and the message
// of the day: the welcome is the last thing seen on connecting.
func TestTerminalWelcomeAfterHistory(t *testing.T) {
	motd := filepath.Join(t.TempDir(), "motd")
	must(t, os.WriteFile(motd, []byte("Be kind to each other.\n"), 0o600))
	srv := startServer(t, func(c *app.Config) { c.Files.MOTD = motd })
	poster := newLineClient(t, srv.SSHAddr, "poster")
	poster.expect("welcome poster")
	poster.send("an older message")
	poster.expect("<poster> an older message")

	tm := newOpenSSHInTmux(t, srv.SSHAddr, "newbie", 120, 24)
	screen := tm.waitFor("Be kind to each other.", "newbie │ #lobby")
	var order []string
	for _, row := range strings.Split(screen, "\n") {
		for _, mark := range []string{"an older message", "history above, live below", "Welcome to Tertulia", "Be kind to each other."} {
			if strings.Contains(row, mark) {
				order = append(order, mark)
			}
		}
	}
	if got := strings.Join(order, " / "); got != "an older message / history above, live below / Welcome to Tertulia / Be kind to each other." {
		t.Fatalf("order on screen: %s\n%s", got, screen)
	}
}

// A registered key gets its sent lines back with Up and its rooms back
// when it reconnects, in the terminal and in a browser signed in as it.
func TestTerminalRegisteredKeyRecallsLinesAndRejoinsRooms(t *testing.T) {
	srv := startServer(t)
	alice := newShellPane(t, srv.SSHAddr, "alice", 100, 20)
	alice.connect()
	alice.waitFor("alice │ #lobby")
	alice.typeLine("/register")
	alice.waitFor("registered to your key")
	alice.typeLine("/join #dev")
	alice.waitFor("alice │ #dev")
	alice.typeLine("remember this line")
	alice.waitFor("<alice> remember this line")
	alice.typeLine("/quit")
	alice.waitForShell("You left the chat.")

	alice.connect()
	alice.waitFor("alice │ #lobby", "#lobby #dev")
	alice.send("Up")
	alice.waitFor("> /quit")
	alice.send("Up")
	alice.waitFor("> remember this line")
	alice.send("Down")
	alice.waitFor("> /quit")

	// A browser signed in as the same key is put in #dev too.
	alice.send("C-c")
	alice.waitFor("> type a message or /help")
	alice.send("C-d")
	alice.waitForShell("You left the chat.")
	keyed := newLineClient(t, srv.SSHAddr, "alice-bot", keyAuth(alice.key))
	keyed.expect("welcome")
	code := keyed.webLoginCode()
	keyed.send("/quit") // frees the key's nick for the browser
	<-keyed.closed
	resp := postLogin(t, srv.HTTPAddr, code)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("login: %s", resp.Status)
	}
	cookie := sessionCookie(t, resp)
	conn, _, err := dialWS(t, srv.HTTPAddr, http.Header{"Cookie": {cookie.Name + "=" + cookie.Value}}, nil)
	must(t, err)
	web := wrapWS(t, conn)
	web.sendJSON(map[string]string{"type": "hello"})
	web.expect("the browser rejoins #dev", func(f frame) bool { return f.Type == "join" && f.Room == "dev" && f.Nick == "alice" })
}

// Tab completes a nick at the start of a line ("nick: "), a command and a
// room.
func TestTerminalTabCompletion(t *testing.T) {
	srv := startServer(t)
	web := joinWS(t, srv.HTTPAddr, "webwendy")
	web.say("/join #coffee")
	web.expect("joined #coffee", func(f frame) bool { return f.Type == "join" && f.Room == "coffee" })
	tm := newOpenSSHInTmux(t, srv.SSHAddr, "bob", 100, 20)
	tm.waitFor("bob │ #lobby │ 2 members")
	tm.run("send-keys", "-t", tm.target, "-l", "webw")
	tm.run("send-keys", "-t", tm.target, "Tab")
	tm.run("send-keys", "-t", tm.target, "-l", "hi")
	tm.run("send-keys", "-t", tm.target, "Enter")
	web.expect("the completed nick", isMessage("bob", "webwendy: hi"))
	tm.run("send-keys", "-t", tm.target, "-l", "/jo")
	tm.run("send-keys", "-t", tm.target, "Tab")
	tm.run("send-keys", "-t", tm.target, "-l", "#cof")
	tm.run("send-keys", "-t", tm.target, "Tab")
	tm.waitFor("> /join #coffee")
	tm.run("send-keys", "-t", tm.target, "Enter")
	tm.waitFor("bob │ #coffee │ 2 members")
}

// A private message has its own conversation, reached with Ctrl-N like a
// room, where typing answers; it survives /part of the room it came in.
func TestTerminalPrivateConversationSurvivesPart(t *testing.T) {
	srv := startServer(t)
	web := joinWS(t, srv.HTTPAddr, "webby")
	tm := newOpenSSHInTmux(t, srv.SSHAddr, "alicia", 100, 20)
	tm.waitFor("alicia │ #lobby")
	tm.run("send-keys", "-t", tm.target, "-l", "/join #dev")
	tm.run("send-keys", "-t", tm.target, "Enter")
	tm.waitFor("alicia │ #dev")
	web.say("/msg alicia the deploy password is in the vault, see doc 42")
	tm.waitFor("the deploy password is in the vault")
	tm.run("send-keys", "-t", tm.target, "-l", "/part")
	tm.run("send-keys", "-t", tm.target, "Enter")
	tm.waitFor("alicia │ #lobby")
	tm.run("send-keys", "-t", tm.target, "C-n")
	tm.waitFor("alicia │ @webby │ private conversation", "the deploy password is in the vault, see doc 42")
	tm.run("send-keys", "-t", tm.target, "-l", "got it")
	tm.run("send-keys", "-t", tm.target, "Enter")
	web.expect("the answer, private", func(f frame) bool { return f.Type == "private" && f.From == "alicia" && f.Text == "got it" })
}

// An unbracketed paste of 60 lines (each line typed with its Enter) at
// the server's default rate limits is paced, with the waiting lines
// counted, and arrives whole: the user is not disconnected for flooding.
func TestTerminalUnbracketedPasteIsPaced(t *testing.T) {
	srv := startServer(t, func(c *app.Config) {
		// The default burst and flood limit; a faster rate, so that the
		// test takes a few seconds.
		c.Room.RateBurst, c.Room.RatePerSecond, c.Room.FloodLimit = 10, 20, 20
	})
	web := joinWS(t, srv.HTTPAddr, "webby")
	tm := newOpenSSHInTmux(t, srv.SSHAddr, "paster", 100, 20)
	tm.waitFor("paster │ #lobby")
	var lines strings.Builder
	for i := 1; i <= 60; i++ {
		fmt.Fprintf(&lines, "code line %d\n", i)
	}
	tm.run("set-buffer", "-b", "code", lines.String())
	tm.run("paste-buffer", "-d", "-b", "code", "-t", tm.target)
	tm.waitFor("lines waiting")
	for i := 1; i <= 60; i++ {
		web.expect(fmt.Sprintf("line %d", i), isMessage("paster", fmt.Sprintf("code line %d", i)))
	}
	screen := tm.waitFor("<paster> code line 60", "paster │ #lobby")
	if strings.Contains(screen, "lines waiting") || strings.Contains(screen, "slow down") {
		t.Fatalf("after the paste:\n%s", screen)
	}
}

// /help COMMAND explains one command in the terminal and on the web;
// the terminal's /help lists its keys.
func TestHelpOnOneCommandBothFrontEnds(t *testing.T) {
	srv := startServer(t)
	web := joinWS(t, srv.HTTPAddr, "webby")
	web.say("/help join")
	web.expect("/help join", func(f frame) bool {
		return f.Type == "notice" && strings.HasPrefix(f.Text, "/join #ROOM: join a room") && strings.Contains(f.Text, "created on first join")
	})
	tm := newOpenSSHInTmux(t, srv.SSHAddr, "bob", 120, 50)
	tm.waitFor("bob │ #lobby")
	tm.run("send-keys", "-t", tm.target, "-l", "/help kick")
	tm.run("send-keys", "-t", tm.target, "Enter")
	tm.waitFor("/kick NICK [REASON]: disconnect someone", "For operators only.")
	tm.run("send-keys", "-t", tm.target, "-l", "/help")
	tm.run("send-keys", "-t", tm.target, "Enter")
	tm.waitFor("Keys:", "Ctrl-C", "clear the line; on an empty line, quit")
}

// A bracketed paste longer than the server's limit is kept whole in the
// input line, and Enter says by how much it is over instead of cutting it
// or sending part of it.
func TestTerminalPastePastTheLimitIsRefusedWithItsCount(t *testing.T) {
	srv := startServer(t)
	web := joinWS(t, srv.HTTPAddr, "webby")
	tm := newOpenSSHInTmux(t, srv.SSHAddr, "paster", 100, 20)
	tm.waitFor("paster │ #lobby")
	long := strings.Repeat("word ", 420) // 2100 characters
	tm.run("set-buffer", "-b", "long", long)
	tm.run("paste-buffer", "-p", "-d", "-b", "long", "-t", tm.target)
	tm.run("send-keys", "-t", tm.target, "Enter")
	tm.waitFor("not sent: 2100 characters, 100 over the limit of 2000")
	tm.run("send-keys", "-t", tm.target, "C-u")
	tm.run("send-keys", "-t", tm.target, "-l", "short one")
	tm.run("send-keys", "-t", tm.target, "Enter")
	if f := web.expect("the next message", func(f frame) bool { return f.Type == "message" && f.From == "paster" }); f.Text != "short one" {
		t.Fatalf("the web got %d characters first", len(f.Text))
	}
}
