package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/tertulia/tertulia/internal/app"
	"github.com/tertulia/tertulia/internal/wire"
)

// oneShotKey makes an ed25519 key file for the OpenSSH client and returns
// its path with the same key as a signer.
func oneShotKey(t *testing.T) (string, gossh.Signer) {
	t.Helper()
	key := filepath.Join(t.TempDir(), "id_ed25519")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	pem, err := os.ReadFile(key)
	must(t, err)
	signer, err := gossh.ParsePrivateKey(pem)
	must(t, err)
	return key, signer
}

// oneShotRun is one run of the OpenSSH client.
type oneShotRun struct {
	stdout, stderr string
	status         int
}

// sshOneShot runs `ssh [options] user@host COMMAND...` with the real OpenSSH
// client and stdin, as key ("" for a guest, keyboard-interactive) from the
// local address from ("" for any).
func sshOneShot(t *testing.T, sshAddr, key, from, stdin string, command ...string) oneShotRun {
	t.Helper()
	cmd := oneShotCommand(t, sshAddr, key, from, command...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	run := oneShotRun{stdout: stdout.String(), stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		run.status = exit.ExitCode()
	case err != nil:
		t.Fatalf("ssh %v: %v", command, err)
	}
	return run
}

func oneShotCommand(t *testing.T, sshAddr, key, from string, command ...string) *exec.Cmd {
	t.Helper()
	if _, err := exec.LookPath("ssh"); err != nil {
		t.Fatal("the OpenSSH client is not installed: run scripts/test, which installs it")
	}
	host, port := splitAddr(t, sshAddr)
	args := []string{"-T", "-p", port, "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=error", "-o", "BatchMode=no"}
	if key != "" {
		args = append(args, "-i", key, "-o", "IdentitiesOnly=yes", "-o", "PreferredAuthentications=publickey")
	} else {
		args = append(args, "-o", "PubkeyAuthentication=no", "-o", "PreferredAuthentications=keyboard-interactive")
	}
	if from != "" {
		args = append(args, "-b", from)
	}
	args = append(args, "someone@"+host)
	return exec.Command("ssh", append(args, command...)...)
}

// refused checks a failed one-shot: a non-zero status and one line on
// standard error saying why (containing why).
func (r oneShotRun) refused(t *testing.T, what, why string) {
	t.Helper()
	lines := strings.Split(strings.TrimRight(r.stderr, "\r\n"), "\n")
	if r.status == 0 || len(lines) != 1 || !strings.Contains(lines[0], why) || r.stdout != "" {
		t.Errorf("%s: status %d, stderr %q, stdout %q; want a non-zero status and one line with %q", what, r.status, r.stderr, r.stdout, why)
	}
}

func (r oneShotRun) ok(t *testing.T, what string) {
	t.Helper()
	if r.status != 0 || r.stderr != "" {
		t.Fatalf("%s: status %d, stderr %q", what, r.status, r.stderr)
	}
}

// awaitFrame is wsClient.expect failing on any join, part or presence
// frame meanwhile: one-shots must cause none.
func awaitFrame(t *testing.T, wc *wsClient, what string, ok func(frame) bool) frame {
	t.Helper()
	return wc.expect(what, func(f frame) bool {
		switch f.Type {
		case "join", "part", "presence":
			t.Errorf("watcher saw %s while waiting for %s: %s", f.Type, what, f.Raw)
		}
		return ok(f)
	})
}

func inRoom(room, from, text string) func(frame) bool {
	return func(f frame) bool {
		return f.Type == "message" && f.Room == room && f.From == from && f.Text == text
	}
}

// The one-shot commands with the real OpenSSH client: say (arguments,
// standard input as one message, --lines), tail, tail -f, history --json,
// who, rooms, and errors; a websocket watcher in the room sees each message
// once, from the key's registered nick, and nobody join or part.
func TestOneShotCommands(t *testing.T) {
	srv := startServer(t)
	key, signer := oneShotKey(t)
	kim := newLineClient(t, srv.SSHAddr, "kim", keyAuth(signer))
	kim.expect("welcome kim")
	kim.register()
	kim.send("/join #dev")
	kim.expect("#dev --> kim joined")
	kim.send("/quit")
	<-kim.closed

	watcher := joinWS(t, srv.HTTPAddr, "watch")
	must(t, watcher.ws.Say("", "/join #dev"))
	watcher.expect("own join", func(f frame) bool { return f.Type == "join" && f.Room == "dev" && f.Nick == "watch" })
	watcher.expect("member list", func(f frame) bool { return f.Type == "members" && f.Room == "dev" })

	sshOneShot(t, srv.SSHAddr, key, "", "", "say", "#dev", "hi").ok(t, "say #dev hi")
	awaitFrame(t, watcher, "hi from kim", inRoom("dev", "kim", "hi"))

	sshOneShot(t, srv.SSHAddr, key, "", "a\nb\n", "say", "#dev").ok(t, "say from stdin")
	awaitFrame(t, watcher, "a two-line message", inRoom("dev", "kim", "a\nb"))

	sshOneShot(t, srv.SSHAddr, key, "", "c\nd\n", "say", "--lines", "#dev").ok(t, "say --lines")
	awaitFrame(t, watcher, "c", inRoom("dev", "kim", "c"))
	awaitFrame(t, watcher, "d, right after c", func(f frame) bool {
		if f.Type == "message" && f.From == "kim" && f.Text != "d" {
			t.Errorf("after c: %q, want d", f.Text)
		}
		return inRoom("dev", "kim", "d")(f)
	})

	// A text starting with '/' is text, not a command.
	sshOneShot(t, srv.SSHAddr, key, "", "", "say", "#dev", "/quit not a command").ok(t, "say /quit")
	awaitFrame(t, watcher, "the slash text", inRoom("dev", "kim", "/quit not a command"))

	tail := sshOneShot(t, srv.SSHAddr, key, "", "", "tail", "-n", "2", "#dev")
	tail.ok(t, "tail")
	if lines := strings.Split(strings.TrimRight(tail.stdout, "\n"), "\n"); len(lines) != 2 || !strings.HasSuffix(lines[0], "<kim> d") || !strings.HasSuffix(lines[1], "<kim> /quit not a command") {
		t.Errorf("tail -n 2:\n%s", tail.stdout)
	}

	history := sshOneShot(t, srv.SSHAddr, key, "", "", "history", "#dev", "--json")
	history.ok(t, "history --json")
	var texts []string
	for _, line := range strings.Split(strings.TrimRight(history.stdout, "\n"), "\n") {
		f, err := wire.DecodeFrame([]byte(line))
		if err != nil || f.Type != "message" || f.Room != "dev" || f.From != "kim" || f.ID == 0 {
			t.Fatalf("history line %q: %+v, %v; want a message frame of #dev from kim", line, f, err)
		}
		texts = append(texts, f.Text)
	}
	if strings.Join(texts, "|") != "hi|a\nb|c|d|/quit not a command" {
		t.Errorf("history texts %q", texts)
	}
	var raw map[string]any
	must(t, json.Unmarshal([]byte(strings.SplitN(history.stdout, "\n", 2)[0]), &raw))

	who := sshOneShot(t, srv.SSHAddr, key, "", "", "who", "#dev")
	who.ok(t, "who")
	if who.stdout != "#dev members (1): watch (web)\n" {
		t.Errorf("who #dev: %q, want the watcher alone", who.stdout)
	}
	rooms := sshOneShot(t, srv.SSHAddr, key, "", "", "rooms")
	rooms.ok(t, "rooms")
	if !strings.Contains(rooms.stdout, "#dev (1)") || !strings.Contains(rooms.stdout, "#lobby") {
		t.Errorf("rooms: %q", rooms.stdout)
	}

	for _, c := range [][]string{{"who", "#dev", "--json"}, {"rooms", "--json"}, {"whois", "watch", "--json"}, {"tail", "#dev", "-n", "1", "--json"}} {
		run := sshOneShot(t, srv.SSHAddr, key, "", "", c...)
		run.ok(t, strings.Join(c, " "))
		want := map[string]string{"who": "members", "rooms": "rooms", "whois": "notice", "tail": "message"}[c[0]]
		lines := strings.Split(strings.TrimRight(run.stdout, "\n"), "\n")
		for _, line := range lines {
			if f, err := wire.DecodeFrame([]byte(line)); err != nil || f.Type != want {
				t.Errorf("%v: line %q: %v; want a %s frame", c, line, err, want)
			}
		}
		if len(lines) != 1 {
			t.Errorf("%v: %d lines, want 1", c, len(lines))
		}
	}

	whois := sshOneShot(t, srv.SSHAddr, key, "", "", "whois", "watch")
	whois.ok(t, "whois")
	if !strings.HasPrefix(whois.stdout, "-!- watch (web)") {
		t.Errorf("whois watch: %q", whois.stdout)
	}
	sshOneShot(t, srv.SSHAddr, key, "", "", "msg", "watch", "psst  there").ok(t, "msg")
	awaitFrame(t, watcher, "private message", func(f frame) bool {
		return f.Type == "private" && f.From == "kim" && f.To == "watch" && f.Text == "psst  there"
	})
	sshOneShot(t, srv.SSHAddr, key, "", "", "msg", "nobody", "hello").refused(t, "msg to nobody", "nobody")

	sshOneShot(t, srv.SSHAddr, key, "", "", "dance", "#dev").refused(t, "unknown command", `unknown command "dance"`)
	sshOneShot(t, srv.SSHAddr, key, "", "", "say", "#nowhere", "lost").refused(t, "no such room", "there is no room #nowhere")
	sshOneShot(t, srv.SSHAddr, key, "", strings.Repeat("x", 2000*4+1), "say", "#dev").refused(t, "stdin too long", "longer than")
	// With --lines, an over-long last line without a newline is refused
	// too, not dropped with success.
	sshOneShot(t, srv.SSHAddr, key, "", strings.Repeat("x", 64<<10), "say", "--lines", "#dev").refused(t, "last line too long", "line 1 not sent")

	// tail -f prints the last messages, then new ones as they come, until
	// the client is killed.
	follow := oneShotCommand(t, srv.SSHAddr, key, "", "tail", "-f", "-n", "1", "#dev")
	nextLine := startFollowing(t, follow)
	if l := nextLine("last message"); !strings.HasSuffix(l, "<kim> /quit not a command") {
		t.Errorf("tail -f first line %q", l)
	}
	must(t, watcher.ws.Say("dev", "live one"))
	if l := nextLine("live message"); l != "#dev <watch> live one" {
		t.Errorf("tail -f live line %q", l)
	}
	must(t, watcher.ws.Say("dev", "live two"))
	if l := nextLine("second live message"); l != "#dev <watch> live two" {
		t.Errorf("tail -f live line %q", l)
	}
	must(t, follow.Process.Kill())
	_ = follow.Wait()

	// Nothing of the refused commands reached the room, and nobody joined
	// or left: the next message the watcher gets is its own marker.
	must(t, watcher.ws.Say("dev", "end"))
	awaitFrame(t, watcher, "end marker", func(f frame) bool {
		if f.Type == "message" && f.Text != "end" && !strings.HasPrefix(f.Text, "live") {
			t.Errorf("watcher got %q from %s", f.Text, f.From)
		}
		if (f.Type == "join" || f.Type == "part" || f.Type == "presence") && f.Room == "dev" {
			t.Errorf("a one-shot was seen coming or going: %s", f.Raw)
		}
		return inRoom("dev", "watch", "end")(f)
	})
}

// A banned key, a muted guest and a rate-limited key each get a non-zero
// status and one line saying why, and nothing reaches the room.
func TestOneShotRefusals(t *testing.T) {
	srv, bossKey := operatorServer(t, func(c *app.Config) {
		c.Room.RateBurst, c.Room.RatePerSecond = 2, 0.001
	})
	boss := newLineClientFrom(t, "127.0.0.2", srv.SSHAddr, "boss", keyAuth(bossKey))
	boss.expect("welcome boss")
	watcher := dialWSFrom(t, "127.0.0.4", srv.HTTPAddr)
	must(t, watcher.ws.Hello("watch"))
	watcher.expect("welcome", func(f frame) bool { return f.Type == "welcome" })
	watcher.expect("member list", func(f frame) bool { return f.Type == "members" && f.Room == "lobby" })

	bannedKey, bannedSigner := oneShotKey(t)
	boss.send("/ban " + gossh.FingerprintSHA256(bannedSigner.PublicKey()))
	boss.expect("Banned")
	boss.send("/mute 127.0.0.30")
	boss.expect("Muted")

	sshOneShot(t, srv.SSHAddr, bannedKey, "", "", "say", "#lobby", "from-banned").refused(t, "banned key", "banned")
	sshOneShot(t, srv.SSHAddr, "", "127.0.0.30", "", "say", "#lobby", "from-muted").refused(t, "muted guest", "you are muted")

	// The key's one-shots share its budget of 2 lines: the third is refused,
	// however many connections it takes.
	key, _ := oneShotKey(t)
	sshOneShot(t, srv.SSHAddr, key, "", "", "say", "#lobby", "budget-1").ok(t, "first say")
	sshOneShot(t, srv.SSHAddr, key, "", "", "say", "#lobby", "budget-2").ok(t, "second say")
	sshOneShot(t, srv.SSHAddr, key, "", "", "say", "#lobby", "over-budget").refused(t, "third say", "slow down")

	watcher.say("end")
	var got []string
	awaitFrame(t, watcher, "end marker", func(f frame) bool {
		if f.Type == "message" && f.Text != "end" {
			got = append(got, f.Text)
		}
		return isMessage("watch", "end")(f)
	})
	if strings.Join(got, ",") != "budget-1,budget-2" {
		t.Errorf("the room got %q, want the two messages within the budget only", got)
	}
}

// say --lines waits for the rate budget instead of being refused: every
// line arrives, in order, and the command succeeds.
func TestOneShotSayLinesIsPaced(t *testing.T) {
	srv := startServer(t, func(c *app.Config) { c.Room.RateBurst, c.Room.RatePerSecond = 1, 20 })
	watcher := joinWS(t, srv.HTTPAddr, "watch")
	watcher.expect("member list", func(f frame) bool { return f.Type == "members" && f.Room == "lobby" })
	key, _ := oneShotKey(t)
	sshOneShot(t, srv.SSHAddr, key, "", "l1\nl2\n\nl3\nl4\r\nl5", "say", "--lines", "#lobby").ok(t, "say --lines")
	for _, want := range []string{"l1", "l2", "l3", "l4", "l5"} {
		f := awaitFrame(t, watcher, want, func(f frame) bool { return f.Type == "message" })
		if f.Text != want {
			t.Fatalf("got %q, want %q", f.Text, want)
		}
	}
}

// With a terminal (ssh -t), tail -f writes CRLF lines and ends, with
// status 0, when the user types Ctrl-C.
func TestOneShotTailFollowEndsOnCtrlC(t *testing.T) {
	srv := startServer(t)
	watcher := joinWS(t, srv.HTTPAddr, "watch")
	watcher.expect("member list", func(f frame) bool { return f.Type == "members" && f.Room == "lobby" })
	watcher.say("first")
	watcher.expect("own message", isMessage("watch", "first"))

	client := dialSSH(t, srv.SSHAddr, "viewer", guestAuth())
	sess, err := client.NewSession()
	must(t, err)
	defer sess.Close()
	must(t, sess.RequestPty("xterm", 24, 80, gossh.TerminalModes{}))
	stdin, err := sess.StdinPipe()
	must(t, err)
	stdout, err := sess.StdoutPipe()
	must(t, err)
	must(t, sess.Start("tail -f -n 1 #lobby"))
	br := bufio.NewReader(stdout)
	readLine := func() string {
		t.Helper()
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("reading tail -f: %v (got %q)", err, line)
		}
		return line
	}
	if l := readLine(); !strings.HasSuffix(l, "<watch> first\r\n") {
		t.Errorf("history line %q, want it CRLF-terminated", l)
	}
	watcher.say("second")
	if l := readLine(); l != "#lobby <watch> second\r\n" {
		t.Errorf("live line %q", l)
	}
	_, err = stdin.Write([]byte{0x03})
	must(t, err)
	done := make(chan error, 1)
	go func() { done <- sess.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("tail -f ended with %v, want status 0", err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("tail -f did not end on Ctrl-C")
	}
}

// With a terminal, say without text is refused at once (a raw terminal's
// Ctrl-D would never end its input), and help lists the commands.
func TestOneShotSayWithATerminalNeedsText(t *testing.T) {
	srv := startServer(t)
	run := func(command string) (string, error) {
		client := dialSSH(t, srv.SSHAddr, "viewer", guestAuth())
		sess, err := client.NewSession()
		must(t, err)
		defer sess.Close()
		must(t, sess.RequestPty("xterm", 24, 80, gossh.TerminalModes{}))
		var out lockedBuffer
		sess.Stdout, sess.Stderr = &out, &out
		err = sess.Run(command)
		return out.String(), err
	}
	out, err := run("say #lobby")
	var exit *gossh.ExitError
	if !errors.As(err, &exit) || exit.ExitStatus() != 2 || !strings.Contains(out, "without a terminal") {
		t.Errorf("say with a terminal: %v, %q; want status 2 and the reason", err, out)
	}
	out, err = run("help")
	if err != nil || !strings.Contains(out, "tail [-f] [-n N]") || !strings.Contains(out, "\r\n") {
		t.Errorf("help: %v, %q", err, out)
	}
}

// startFollowing starts a one-shot `tail -f` and returns what reads its
// next output line (failing the test if none comes in time or the
// command ends first).
func startFollowing(t *testing.T, follow *exec.Cmd) (nextLine func(what string) string) {
	t.Helper()
	stdout, err := follow.StdoutPipe()
	must(t, err)
	must(t, follow.Start())
	lines := make(chan string, 16)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	nextLine = func(what string) string {
		t.Helper()
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("tail -f ended before %s", what)
			}
			return l
		case <-time.After(waitTimeout):
			t.Fatalf("tail -f: no %s", what)
		}
		return ""
	}
	return
}
