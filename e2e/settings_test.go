package e2e

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// newSSHKey makes a key for the OpenSSH client, as a regular holds one.
func newSSHKey(t *testing.T) string {
	t.Helper()
	key := filepath.Join(t.TempDir(), "id_ed25519")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	return key
}

// sshInTmux runs the real OpenSSH client in tmux as user with key, its
// extra options (such as -o SetEnv=NO_COLOR=1) before the destination.
func sshInTmux(t *testing.T, addr, user, key string, extra ...string) *tmux {
	t.Helper()
	return sshInTmuxWithEnv(t, "", addr, user, key, extra...)
}

// sshInTmuxWithEnv is sshInTmux with the client run under env (such as
// TERM=dumb, which it sends in its PTY request).
func sshInTmuxWithEnv(t *testing.T, env, addr, user, key string, extra ...string) *tmux {
	t.Helper()
	if _, err := exec.LookPath("ssh"); err != nil {
		t.Fatal("the OpenSSH client is not installed: run scripts/test, which installs it")
	}
	host, port := splitAddr(t, addr)
	dir := t.TempDir()
	cmd := fmt.Sprintf("env %s ssh -tt -p %s -i %s -o IdentitiesOnly=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=%s/known_hosts -o LogLevel=error %s %s@%s",
		env, port, key, dir, strings.Join(extra, " "), user, host)
	return newTmux(t, 100, 30, cmd)
}

// typeLine types text in the pane and presses Enter.
func (tm *tmux) typeLine(text string) {
	tm.t.Helper()
	tm.run("send-keys", "-t", tm.target, "-l", text)
	tm.run("send-keys", "-t", tm.target, "Enter")
}

// captureStyled is the pane with its styles as SGR sequences.
func (tm *tmux) captureStyled() string {
	return tm.run("capture-pane", "-p", "-e", "-t", tm.target)
}

// nearNow tells whether stamp, laid out as layout in loc, is within two
// minutes of now: a clock minute may turn between the message and the check.
func nearNow(stamp, layout string, loc *time.Location) bool {
	now := time.Now().In(loc)
	for d := time.Duration(0); d <= 2*time.Minute; d += time.Minute {
		if now.Add(-d).Format(layout) == stamp {
			return true
		}
	}
	return false
}

// Settings made with the OpenSSH client are kept for its key: after a
// server restart (the same SQLite database) the same key gets its zone,
// timestamp mode, theme, quiet mode and ignore list back.
func TestSettingsSurviveReconnectingWithTheSameKey(t *testing.T) {
	dir := t.TempDir()
	srv := startServerIn(t, dir)
	key := newSSHKey(t)
	bob := newLineClient(t, srv.SSHAddr, "bob")
	bob.expect("welcome bob")
	alice := sshInTmux(t, srv.SSHAddr, "alice", key)
	alice.waitFor("alice │ #lobby")
	for _, step := range []struct{ command, answer string }{
		{"/tz Asia/Tokyo", "Your time zone is now Asia/Tokyo"},
		{"/timestamp datetime", "Timestamps: datetime."},
		{"/theme mono", "Theme: mono."},
		{"/quiet on", "Quiet: others' joins"},
		{"/ignore bob", "You are ignoring bob"},
	} {
		alice.typeLine(step.command)
		alice.waitFor(step.answer)
	}
	alice.typeLine("/quit")
	bob.expect("alice left")
	srv.Stop()

	srv = startServerIn(t, dir)
	bob = newLineClient(t, srv.SSHAddr, "bob")
	bob.expect("welcome bob")
	carol := newLineClient(t, srv.SSHAddr, "carol")
	carol.expect("welcome carol")
	alice = sshInTmux(t, srv.SSHAddr, "alice", key)
	alice.waitFor("alice │ #lobby")
	alice.typeLine("/tz")
	alice.waitFor("Your time zone is Asia/Tokyo")
	alice.typeLine("/ignore")
	alice.waitFor("You are ignoring (1):", "bob (")

	dave := newLineClient(t, srv.SSHAddr, "dave")
	dave.expect("welcome dave")
	bob.send("bob after the restart")
	bob.expect("<bob> bob after the restart")
	carol.send("carol after the restart")
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	must(t, err)
	stamped := regexp.MustCompile(`(\d{4}-\d\d-\d\d \d\d:\d\d) <carol> carol after the restart`)
	screen := alice.waitForFunc("carol's message with a Tokyo date and time", func(screen string) bool {
		m := stamped.FindStringSubmatch(screen)
		return m != nil && nearNow(m[1], "2006-01-02 15:04", tokyo)
	})
	for _, hidden := range []string{"bob after the restart", "dave joined"} {
		if strings.Contains(screen, hidden) {
			t.Errorf("%q shown after reconnecting, though alice's settings hide it:\n%s", hidden, screen)
		}
	}
	if styled := alice.captureStyled(); hasColour(styled) {
		t.Errorf("the mono theme shows colours:\n%q", styled)
	}
}

// A keyless guest's settings end with its session: the next guest who
// takes the same nick starts with the defaults.
func TestGuestSettingsDoNotLeakToTheNextGuest(t *testing.T) {
	srv := startServer(t)
	zed := newLineClient(t, srv.SSHAddr, "zed")
	zed.expect("welcome zed")
	zed.send("/whois zed")
	zed.expect("guest (no key)")
	zed.send("/tz Asia/Tokyo")
	zed.expect("Your time zone is now Asia/Tokyo")
	zed.send("/ignore bob")
	zed.expect("You are ignoring bob")
	zed.send("/quiet on")
	zed.expect("Quiet: others' joins")
	zed.send("/quit")
	zed.expect("Goodbye.")

	next := newLineClient(t, srv.SSHAddr, "zed")
	next.expect("welcome zed")
	next.send("/tz")
	next.expect("Your time zone is UTC")
	next.send("/ignore")
	next.expect("You are not ignoring anyone.")
	carol := newLineClient(t, srv.SSHAddr, "carol")
	carol.expect("welcome carol")
	next.expect("carol joined")
}

// /ignore hides the ignored person's messages, actions and private
// messages from the one who ignores, on the terminal (the OpenSSH client)
// and on the web, while others still see them; the ignored person is told
// nothing.
func TestIgnoreHidesMessagesOnTerminalAndWeb(t *testing.T) {
	srv := startServer(t)
	bob := newLineClient(t, srv.SSHAddr, "bob")
	bob.expect("welcome bob")
	carol := newLineClient(t, srv.SSHAddr, "carol")
	carol.expect("welcome carol")
	web := joinWS(t, srv.HTTPAddr, "webby")
	alice := sshInTmux(t, srv.SSHAddr, "alice", newSSHKey(t))
	alice.waitFor("alice │ #lobby")

	alice.typeLine("/ignore bob")
	alice.waitFor("You are ignoring bob")
	web.say("/ignore bob")
	web.expect("ignore notice", func(f frame) bool { return f.Type == "notice" && strings.Contains(f.Text, "You are ignoring bob") })

	bob.send("bob speaks in the lobby")
	bob.send("/me acts in the lobby")
	bob.send("/msg alice a secret for alice")
	bob.send("/msg webby a secret for webby")
	bob.expect("[pm] bob -> webby: a secret for webby")
	carol.expect("<bob> bob speaks in the lobby")
	carol.expect("* bob acts in the lobby")
	carol.send("carol's marker")

	screen := alice.waitFor("<carol> carol's marker")
	for _, hidden := range []string{"bob speaks", "acts in the lobby", "a secret for alice"} {
		if strings.Contains(screen, hidden) {
			t.Errorf("alice's terminal shows %q from bob, whom she ignores:\n%s", hidden, screen)
		}
	}
	web.expect("carol's marker, nothing of bob's before it", func(f frame) bool {
		if (f.Type == "message" || f.Type == "private") && f.From == "bob" {
			t.Errorf("webby, ignoring bob, got %s %q", f.Type, f.Text)
		}
		return isMessage("carol", "carol's marker")(f)
	})
	bob.expectFunc("carol's marker, and no word about being ignored", func(l string) bool {
		if strings.Contains(l, "ignor") || strings.Contains(l, "error") {
			t.Errorf("bob was told %q", l)
		}
		return strings.Contains(l, "<carol> carol's marker")
	})
}

// /tz changes the times the terminal shows, and /whois gives its times in
// the same zone, labelled.
func TestTimeZoneAppliesToMessagesAndWhois(t *testing.T) {
	srv := startServer(t)
	bob := newLineClient(t, srv.SSHAddr, "bob")
	bob.expect("welcome bob")
	alice := sshInTmux(t, srv.SSHAddr, "alice", newSSHKey(t))
	alice.waitFor("alice │ #lobby")
	alice.typeLine("/tz America/New_York")
	alice.waitFor("Your time zone is now America/New_York")
	newYork, err := time.LoadLocation("America/New_York")
	must(t, err)

	bob.send("what time is it")
	stamped := regexp.MustCompile(`(\d\d:\d\d) <bob> what time is it`)
	alice.waitForFunc("bob's message at New York time", func(screen string) bool {
		m := stamped.FindStringSubmatch(screen)
		return m != nil && nearNow(m[1], "15:04", newYork)
	})
	alice.typeLine("/whois bob")
	since := regexp.MustCompile(`connected since (\d{4}-\d\d-\d\d \d\d:\d\d):\d\d (EST|EDT)`)
	alice.waitForFunc("/whois in New York time", func(screen string) bool {
		m := since.FindStringSubmatch(screen)
		return m != nil && nearNow(m[1], "2006-01-02 15:04", newYork)
	})
}

// sgrSequence is one SGR sequence; its group is the parameters.
var sgrSequence = regexp.MustCompile(`\x1b\[([0-9;:]*)m`)

// With NO_COLOR, or TERM=dumb, the terminal uses the mono theme, and a
// message naming the user is still marked, bold or reverse from its start
// to its end, live and from history.
func TestMentionMarkedUnderNoColor(t *testing.T) {
	for _, tc := range []struct {
		name, env string
		options   []string
	}{
		{"NO_COLOR", "", []string{"-o", "SetEnv=NO_COLOR=1"}},
		{"TERM=dumb", "TERM=dumb", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := startServer(t)
			bob := newLineClient(t, srv.SSHAddr, "bob")
			bob.expect("welcome bob")
			bob.send("earlier, alice: from history")
			bob.expect("<bob> earlier, alice: from history")
			alice := sshInTmuxWithEnv(t, tc.env, srv.SSHAddr, "alice", newSSHKey(t), tc.options...)
			alice.waitFor("alice │ #lobby", "from history")
			bob.send("alice: how fine do you grind for that?")
			bob.send("an ordinary line")
			alice.waitFor("how fine do you grind for that?", "an ordinary line")

			styled := alice.captureStyled()
			if hasColour(styled) {
				t.Errorf("colours:\n%q", styled)
			}
			for _, text := range []string{"alice: how fine do you grind for that?", "earlier, alice: from history"} {
				if !markedThroughout(styled, text) {
					t.Errorf("the mention %q is not marked bold or reverse through its end:\n%q", text, styled)
				}
			}
			if markedThroughout(styled, "an ordinary line") {
				t.Errorf("an ordinary line is marked: %q", lineWith(styled, "an ordinary line"))
			}
		})
	}
}

// hasColour tells whether capture sets a foreground or background colour.
func hasColour(capture string) bool {
	for _, m := range sgrSequence.FindAllStringSubmatch(capture, -1) {
		for _, p := range strings.Split(m[1], ";") {
			var n int
			if _, err := fmt.Sscan(p, &n); err == nil && (n >= 30 && n <= 38 || n >= 40 && n <= 48 || n >= 90 && n <= 107) {
				return true
			}
		}
	}
	return false
}

// lineWith is the line of the capture that contains text.
func lineWith(capture, text string) string {
	for _, l := range strings.Split(capture, "\n") {
		if strings.Contains(sgrSequence.ReplaceAllString(l, ""), text) {
			return l
		}
	}
	return ""
}

// markedThroughout tells whether the line with text is bold or reverse
// from its first visible character to the end of text: a style turned on
// before the first character (tmux carries it over from earlier lines) and
// not turned off before the end.
func markedThroughout(capture, text string) bool {
	marked := false
	for _, line := range strings.Split(capture, "\n") {
		target := strings.Contains(sgrSequence.ReplaceAllString(line, ""), text)
		plain := ""
		for line != "" {
			loc := sgrSequence.FindStringSubmatchIndex(line)
			if loc == nil || loc[0] > 0 {
				end := len(line)
				if loc != nil {
					end = loc[0]
				}
				if target && !marked && strings.TrimSpace(line[:end]) != "" {
					return false
				}
				plain += line[:end]
				if target && strings.Contains(plain, text) {
					return true
				}
				line = line[end:]
				continue
			}
			for _, p := range strings.Split(line[loc[2]:loc[3]], ";") {
				switch p {
				case "1", "7":
					marked = true
				case "", "0", "22", "27":
					marked = false
				}
			}
			line = line[loc[1]:]
		}
	}
	return false
}
