package e2e

import (
	"fmt"
	"strings"
	"sync"
	"testing"
)

// SSH line mode and websocket chat both ways; a PTY client sees both
// messages rendered.
func TestChatAcrossFrontEnds(t *testing.T) {
	srv := startServer(t)
	pty := newPTYClient(t, srv.SSHAddr, "carol", 100, 30)
	pty.waitScreen("carol", "#lobby")
	bot := newLineClient(t, srv.SSHAddr, "bot")
	bot.expect("#lobby --> bot joined (ssh)")
	web := joinWS(t, srv.HTTPAddr, "alice")
	bot.expect("#lobby --> alice joined (web)")

	bot.send("hello from ssh")
	web.expect("ssh message", isMessage("bot", "hello from ssh"))
	web.say("hello from the web")
	bot.expect("#lobby <alice> hello from the web")

	screen := pty.waitScreen("<bot> hello from ssh", "<alice> hello from the web", "3 members")
	if strings.Contains(screen, "\x1b") {
		t.Errorf("screen text holds an escape character:\n%s", screen)
	}
}

// Line mode is for scripts: a piped line is posted and the session ends
// when stdin closes.
func TestLineModeEndsAtEOF(t *testing.T) {
	srv := startServer(t)
	web := joinWS(t, srv.HTTPAddr, "watcher")
	bot := newLineClient(t, srv.SSHAddr, "bot")
	bot.send("hi")
	must(t, bot.stdin.Close())
	web.expect("bot's message", isMessage("bot", "hi"))
	web.expect("bot leaves", func(f frame) bool { return f.Type == "part" && f.Nick == "bot" })
	// The bot still got the echo of its own line before the session ended.
	bot.expect("#lobby <bot> hi")
	if err := bot.sess.Wait(); err != nil {
		t.Fatalf("session did not end cleanly: %v", err)
	}
}

// Line mode accepts CRLF and writes plain lines only.
func TestLineModeCRLFAndPlainOutput(t *testing.T) {
	srv := startServer(t)
	bot := newLineClient(t, srv.SSHAddr, "bot")
	_, err := bot.stdin.Write([]byte("crlf line\r\n"))
	must(t, err)
	l := bot.expect("<bot> crlf line")
	if l != "#lobby <bot> crlf line" {
		t.Fatalf("line = %q", l)
	}
}

// A nick in use, in any case, is refused to the web and replaced by an
// alternative over SSH; /nick onto it is refused from either side.
func TestNickClashAcrossFrontEnds(t *testing.T) {
	srv := startServer(t)
	alice := newLineClient(t, srv.SSHAddr, "alice")
	alice.expect("-!- welcome alice")

	web := newWSClient(t, srv.HTTPAddr)
	for _, nick := range []string{"alice", "ALICE"} {
		web.sendJSON(map[string]string{"type": "hello", "nick": nick})
		f := web.expect("nick_taken error", func(f frame) bool { return f.Type == "error" })
		if f.Code != "nick_taken" || !strings.Contains(f.Text, "in use") {
			t.Fatalf("hello %s: got %+v, want a nick_taken error", nick, f)
		}
	}
	web.sendJSON(map[string]string{"type": "hello", "nick": "bad nick!"})
	if f := web.expect("bad_nick error", func(f frame) bool { return f.Type == "error" }); f.Code != "bad_nick" {
		t.Fatalf("got %+v, want bad_nick", f)
	}
	// The same socket may try again.
	web.sendJSON(map[string]string{"type": "hello", "nick": "bob"})
	if f := web.expect("welcome", func(f frame) bool { return f.Type == "welcome" }); f.Nick != "bob" {
		t.Fatalf("welcome nick = %q", f.Nick)
	}

	// SSH gets an alternative and is told so.
	bob2 := newLineClient(t, srv.SSHAddr, "Bob")
	bob2.expect("-!- welcome Bob_2")
	bob2.expect("The nick Bob is taken; you are Bob_2")
	alice2 := newLineClient(t, srv.SSHAddr, "alice")
	alice2.expect("-!- welcome alice_2")

	// /nick onto a taken nick is refused, from either side.
	alice2.send("/nick BOB")
	alice2.expect("-!- error: the nick BOB is already in use")
	web.say("/nick Alice")
	if f := web.expect("error", func(f frame) bool { return f.Type == "error" }); f.Code != "nick_taken" {
		t.Fatalf("got %+v", f)
	}
}

// An unknown command, /nick, /me and /who behave alike from both sides.
func TestCommandsFromBothSides(t *testing.T) {
	srv := startServer(t)
	ssh := newLineClient(t, srv.SSHAddr, "sam")
	ssh.expect("welcome sam")
	web := joinWS(t, srv.HTTPAddr, "wendy")
	ssh.expect("wendy joined")
	observer := newLineClient(t, srv.SSHAddr, "olga")
	observer.expect("welcome olga")

	// Unknown command: an error to the sender only.
	ssh.send("/frobnicate now")
	ssh.expect("-!- error: unknown command /frobnicate")
	web.say("/frobnicate")
	if f := web.expect("error", func(f frame) bool { return f.Type == "error" }); f.Code != "unknown_command" {
		t.Fatalf("got %+v", f)
	}

	// /me from both sides.
	ssh.send("/me waves")
	web.expect("ssh action", func(f frame) bool { return f.Type == "message" && f.From == "sam" && f.Text == "waves" && f.Action })
	web.say("/me nods")
	ssh.expect("#lobby * wendy nods")

	// /who from both sides lists everyone with their front-end.
	ssh.send("/who")
	ssh.expect("#lobby members (3): olga (ssh), sam (ssh), wendy (web)")
	web.say("/who")
	f := web.expect("members", func(f frame) bool { return f.Type == "members" && len(f.Members) == 3 })
	got := fmt.Sprint(f.Members)
	if got != "[{olga ssh} {sam ssh} {wendy web}]" {
		t.Fatalf("members = %s", got)
	}

	// /nick from both sides, seen by others; the new nick is then used.
	ssh.send("/nick samuel")
	web.expect("nick change", func(f frame) bool { return f.Type == "nick" && f.Old == "sam" && f.New == "samuel" })
	web.say("/nick wen")
	ssh.expect("#lobby --- wendy is now known as wen")
	web.say("after rename")
	ssh.expect("#lobby <wen> after rename")
	ssh.send("me too")
	web.expect("renamed message", isMessage("samuel", "me too"))

	// /help works on both, listing the commands.
	ssh.send("/help")
	ssh.expect("/nick NEW")
	web.say("/help")
	web.expect("help", func(f frame) bool { return f.Type == "notice" && strings.Contains(f.Text, "/who") })

	// Nothing the others typed as commands reached the observer as text.
	observer.send("/quit")
	observer.expect("-!- Goodbye.")
	for {
		select {
		case l := <-observer.lines:
			if strings.Contains(l, "frobnicate") || strings.Contains(l, "members (") {
				t.Fatalf("observer saw another user's command output: %q", l)
			}
			continue
		default:
		}
		break
	}
	web.expect("olga left", func(f frame) bool { return f.Type == "part" && f.Nick == "olga" && f.Reason == "quit" })
}

// Every member observes the same sequence of room events.
func TestOrderingIsTheSameForEveryone(t *testing.T) {
	srv := startServer(t)
	const perSender = 40
	var ssh []*lineClient
	var web []*wsClient
	for i := 0; i < 3; i++ {
		c := newLineClient(t, srv.SSHAddr, fmt.Sprintf("s%d", i))
		c.expect(fmt.Sprintf("-!- welcome s%d", i))
		ssh = append(ssh, c)
		web = append(web, joinWS(t, srv.HTTPAddr, fmt.Sprintf("w%d", i)))
	}
	// Everyone must be in the room before anyone sends.
	last := "w2"
	for _, c := range ssh {
		c.expect("--> " + last + " joined")
	}
	for _, c := range web[:2] {
		c.expect("w2 joins", func(f frame) bool { return f.Type == "join" && f.Nick == last })
	}

	var wg sync.WaitGroup
	for i, c := range ssh {
		wg.Go(func() {
			for n := 0; n < perSender; n++ {
				c.send(fmt.Sprintf("m s%d %d", i, n))
			}
		})
	}
	for i, c := range web {
		wg.Go(func() {
			for n := 0; n < perSender; n++ {
				if err := c.conn.WriteJSON(map[string]string{"type": "say", "room": "lobby", "text": fmt.Sprintf("m w%d %d", i, n)}); err != nil {
					t.Errorf("send: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()

	total := perSender * 6
	var sequences [][]string
	for _, c := range ssh {
		var seq []string
		for len(seq) < total {
			l := c.expectFunc("a message", func(l string) bool { return strings.HasPrefix(l, "#lobby <") })
			seq = append(seq, l)
		}
		sequences = append(sequences, seq)
	}
	for _, c := range web {
		var seq []string
		var lastID uint64
		for len(seq) < total {
			f := c.expect("a message", func(f frame) bool { return f.Type == "message" })
			if f.ID <= lastID {
				t.Fatalf("message ids not increasing: %d after %d", f.ID, lastID)
			}
			lastID = f.ID
			seq = append(seq, fmt.Sprintf("#lobby <%s> %s", f.From, f.Text))
		}
		sequences = append(sequences, seq)
	}
	for i := 1; i < len(sequences); i++ {
		for j := range sequences[0] {
			if sequences[i][j] != sequences[0][j] {
				t.Fatalf("member %d saw %q at position %d, member 0 saw %q", i, sequences[i][j], j, sequences[0][j])
			}
		}
	}
	// Each sender's own messages arrive in the order sent, none missing.
	seen := map[string]int{}
	for _, l := range sequences[0] {
		var who string
		var n int
		if _, err := fmt.Sscanf(l[strings.Index(l, "> ")+2:], "m %s %d", &who, &n); err != nil {
			t.Fatalf("unexpected line %q", l)
		}
		if n != seen[who] {
			t.Fatalf("%s's message %d arrived when %d was expected", who, n, seen[who])
		}
		seen[who]++
	}
}

// A nick needs a letter or a digit, and a full-width look-alike of a
// connected nick is taken, on both front-ends: the web gets bad_nick or
// nick_taken, SSH gets a nick of its own (a guest nick, an alternative).
func TestPunctuationAndFullWidthNicks(t *testing.T) {
	srv := startServer(t)
	bob := newLineClient(t, srv.SSHAddr, "bob")
	bob.expect("-!- welcome bob")

	web := newWSClient(t, srv.HTTPAddr)
	for nick, code := range map[string]string{"-": "bad_nick", "...": "bad_nick", "ｂｏｂ": "nick_taken", "ＢＯＢ": "nick_taken", "bоb": "nick_taken"} {
		web.sendJSON(map[string]string{"type": "hello", "nick": nick})
		if f := web.expect("an error for "+nick, func(f frame) bool { return f.Type == "error" }); f.Code != code {
			t.Errorf("hello %q: %+v, want %s", nick, f, code)
		}
	}

	dash := newLineClient(t, srv.SSHAddr, "-")
	if l := dash.expect("-!- welcome "); l != "-!- welcome guest" {
		t.Errorf("ssh as -: %q, want a guest nick", l)
	}
	twin := newLineClient(t, srv.SSHAddr, "ｂｏｂ")
	if l := twin.expect("-!- welcome "); l != "-!- welcome ｂｏｂ_2" {
		t.Errorf("ssh as ｂｏｂ while bob is here: %q, want the alternative ｂｏｂ_2", l)
	}
	twin.expect("The nick ｂｏｂ is taken")
}
