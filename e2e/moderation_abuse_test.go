package e2e

// Abuse of moderation and identity, each played as an attacker would:
// evading a mute, a ban's neighbours in the same /64, squatting nicks,
// lookalike nicks, and a /reply after its writer changed nick.

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/tertulia/tertulia/internal/app"
)

// operatorServer runs a server whose --admins holds one key, returned.
func operatorServer(t *testing.T, mutate ...func(*app.Config)) (*server, gossh.Signer) {
	t.Helper()
	dir := t.TempDir()
	admins := filepath.Join(dir, "admins")
	bossKey := newSigner(t)
	writeAuthorizedKeys(t, admins, bossKey)
	return startServerIn(t, dir, append([]func(*app.Config){func(c *app.Config) { c.Files.Admins = admins }}, mutate...)...), bossKey
}

// The operator mutes noisy, a guest without a key. Neither /nick nor
// reconnecting under another nick from the same address lets it speak
// (messages, actions, topic, private messages), and the innocent who takes
// the nick noisy afterwards is not muted.
func TestMutedGuestStaysMutedAcrossNickAndReconnect(t *testing.T) {
	srv, bossKey := operatorServer(t)
	boss := newLineClientFrom(t, "127.0.0.2", srv.SSHAddr, "boss", keyAuth(bossKey))
	boss.expect("welcome boss")
	observer := dialWSFrom(t, "127.0.0.4", srv.HTTPAddr)
	observer.sendJSON(map[string]string{"type": "hello", "nick": "observer"})
	observer.expect("welcome", func(f frame) bool { return f.Type == "welcome" })
	noisy := newLineClientFrom(t, "127.0.0.20", srv.SSHAddr, "noisy")
	noisy.expect("welcome noisy")

	boss.send("/mute noisy")
	noisy.expect("You have been muted by boss")

	noisy.send("/nick noisy2")
	noisy.expect("noisy is now known as noisy2")
	for _, line := range []string{"muted-guest-2 after /nick", "/me muted-guest-3 acts", "/topic muted-guest-4 topic", "/msg observer muted-guest-pm"} {
		noisy.send(line)
		noisy.expect("-!- error: you are muted")
	}
	noisy.send("/quit")
	<-noisy.closed

	other := newLineClientFrom(t, "127.0.0.20", srv.SSHAddr, "other")
	other.expect("welcome other")
	other.send("muted-guest-5 after reconnect + nick")
	other.expect("-!- error: you are muted")
	other.send("/msg observer muted-guest-pm-2")
	other.expect("-!- error: you are muted")

	innocent := newLineClientFrom(t, "127.0.0.21", srv.SSHAddr, "noisy")
	innocent.expect("-!- welcome noisy")
	innocent.send("hello, I am new here")
	innocent.expect("#lobby <noisy> hello, I am new here")

	frames := framesUntil(observer, "the innocent's message", isMessage("noisy", "hello, I am new here"))
	for _, f := range frames {
		if strings.Contains(f.Text, "muted-guest") {
			t.Errorf("the observer saw a muted guest's %s: %s", f.Type, f.Raw)
		}
	}
	// The operator was told what the mute covers, and lifts it by the
	// address the guest used.
	boss.expect("Muted noisy until lifted: this session under any nick, sessions without a key from 127.0.0.20/32")
	boss.send("/unmute 127.0.0.20")
	boss.expect("Unmuted sessions without a key from 127.0.0.20/32")
	other.send("audible again")
	observer.expect("other heard", isMessage("other", "audible again"))
}

// netnsEnv marks the copy of this test binary that runs inside its own
// network namespace.
const netnsEnv = "TERTULIA_E2E_IN_NETNS"

// The operator bans troll6, a guest at 2001:db8:1::10. Its neighbour
// 2001:db8:1::11, in the same /64, is refused over SSH and the websocket;
// another /64 is not. The addresses live in a network namespace of this
// test's own: the test binary runs this test again under `unshare --net`,
// where it adds them to the loopback interface.
func TestIPv6BanCoversTheSlash64(t *testing.T) {
	if os.Getenv(netnsEnv) == "1" {
		ipv6BanInNamespace(t)
		return
	}
	args := []string{"--net"}
	if os.Geteuid() != 0 {
		args = []string{"--user", "--map-root-user", "--net"}
	}
	args = append(args, os.Args[0], "-test.run=^TestIPv6BanCoversTheSlash64$", "-test.count=1", "-test.v", "-test.timeout=3m")
	cmd := exec.Command("unshare", args...)
	cmd.Env = append(os.Environ(), netnsEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestIPv6BanCoversTheSlash64") {
		t.Fatalf("the test in its network namespace (unshare %s): %v\n%s", strings.Join(args, " "), err, out)
	}
	t.Logf("in its network namespace:\n%s", out)
}

func ipv6BanInNamespace(t *testing.T) {
	for _, cmd := range [][]string{
		{"ip", "link", "set", "lo", "up"},
		{"ip", "-6", "addr", "add", "2001:db8:1::1/64", "dev", "lo", "nodad"},
		{"ip", "-6", "addr", "add", "2001:db8:1::10/64", "dev", "lo", "nodad"},
		{"ip", "-6", "addr", "add", "2001:db8:1::11/64", "dev", "lo", "nodad"},
		{"ip", "-6", "addr", "add", "2001:db8:2::2/64", "dev", "lo", "nodad"},
		{"ip", "-6", "addr", "add", "2001:db8:2::3/64", "dev", "lo", "nodad"},
	} {
		if out, err := exec.Command(cmd[0], cmd[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(cmd, " "), err, out)
		}
	}
	srv, bossKey := operatorServer(t, func(c *app.Config) {
		c.Listen.SSH, c.Listen.HTTP = "[2001:db8:1::1]:0", "[2001:db8:1::1]:0"
	})
	boss := newLineClientFrom(t, "2001:db8:2::2", srv.SSHAddr, "boss", keyAuth(bossKey))
	boss.expect("welcome boss")
	troll := newLineClientFrom(t, "2001:db8:1::10", srv.SSHAddr, "troll6")
	troll.expect("welcome troll6")

	boss.send("/ban troll6")
	troll.expect("You were banned by boss")
	confirmation := boss.expect("Banned troll6")
	if !strings.Contains(confirmation, "ip 2001:db8:1::/64") || !strings.Contains(confirmation, "banned 2001:db8:1::/64") {
		t.Fatalf("the operator's confirmation does not say the /64 is banned: %q", confirmation)
	}
	sshDialRefused(t, "2001:db8:1::10", srv.SSHAddr)
	sshDialRefused(t, "2001:db8:1::11", srv.SSHAddr)
	if status := wsDialStatusFrom(t, "2001:db8:1::11", srv.HTTPAddr); status != 403 {
		t.Fatalf("websocket from the banned /64: HTTP %d, want 403", status)
	}
	// Another /64 is not banned.
	neighbour := newLineClientFrom(t, "2001:db8:2::3", srv.SSHAddr, "neighbour")
	neighbour.expect("welcome neighbour")
	if status := wsDialStatusFrom(t, "2001:db8:2::3", srv.HTTPAddr); status != 0 {
		t.Fatalf("websocket from another /64: HTTP %d", status)
	}
	// /unban of the address lifts the /64.
	boss.send("/unban 2001:db8:1::11")
	boss.expect("Lifted 1 ban(s) on 2001:db8:1::11")
	back := newLineClientFrom(t, "2001:db8:1::11", srv.SSHAddr, "troll6")
	back.expect("welcome troll6")
}

// One key squatting nicks registers a few at once, then is paced; at
// --max-nicks-per-key it is refused until it gives one up.
func TestRegistrationsPerKeyAreBounded(t *testing.T) {
	clock := &fakeClock{}
	srv := startServer(t, func(c *app.Config) { c.Now = clock.now; c.Room.MaxNicksPerKey = 4 })
	squatter := newLineClient(t, srv.SSHAddr, "squat1", keyAuth(newSigner(t)))
	squatter.expect("welcome squat1")
	register := func(nick string) {
		t.Helper()
		if nick != "squat1" {
			squatter.send("/nick " + nick)
			squatter.expect("is now known as " + nick)
		}
		squatter.send("/register")
	}
	for _, nick := range []string{"squat1", "squat2", "squat3"} {
		register(nick)
		squatter.expect(nick + " is now registered")
	}
	register("squat4")
	squatter.expect("-!- error: too many registrations; wait a minute")
	clock.advance(time.Minute)
	squatter.send("/register")
	squatter.expect("squat4 is now registered")
	clock.advance(time.Hour)
	register("squat5")
	squatter.expect("-!- error: your key already has 4 registered nicks (squat1, squat2, squat3, squat4), the most a key may have; /unregister one first")
	squatter.send("/unregister squat1")
	squatter.expect("squat1 is no longer registered")
	squatter.send("/register")
	squatter.expect("squat5 is now registered")
}

// With alice registered, her lookalikes are refused on the web and given an
// alternative over SSH, as alice herself would be; nicks that only look
// different stay available.
func TestLookalikeNicksRefusedOnBothFrontEnds(t *testing.T) {
	srv := startServer(t)
	alice := newLineClient(t, srv.SSHAddr, "alice", keyAuth(newSigner(t)))
	alice.expect("welcome alice")
	alice.register()
	lookalikes := []string{"ᴀʟɪᴄᴇ", "ałice", "aƚice", "alice٠", "alíce", "ålice", "alicé", "alice."}

	web := newWSClient(t, srv.HTTPAddr)
	for _, nick := range lookalikes {
		web.sendJSON(map[string]string{"type": "hello", "nick": nick})
		if f := web.expect("error", func(f frame) bool { return f.Type == "error" || f.Type == "welcome" }); f.Code != "nick_registered" {
			t.Errorf("web hello as %q: %s", nick, f.Raw)
		}
	}
	for _, nick := range lookalikes {
		guest := newLineClient(t, srv.SSHAddr, nick)
		guest.expect("-!- welcome " + nick + "_2")
		guest.expect("The nick " + nick + " is registered to another key; you are " + nick + "_2")
		guest.send("/nick " + nick)
		guest.expect("-!- error: the nick " + nick + " is registered to another key")
		guest.send("/quit")
		<-guest.closed
	}
	// A connected (unregistered) nick's lookalikes are taken too.
	bob := joinWS(t, srv.HTTPAddr, "bob")
	_ = bob
	web.sendJSON(map[string]string{"type": "hello", "nick": "ʙób"})
	if f := web.expect("error", func(f frame) bool { return f.Type == "error" || f.Type == "welcome" }); f.Code != "nick_taken" {
		t.Errorf("web hello as a lookalike of bob: %s", f.Raw)
	}
	// Different nicks, in other scripts too, are their own.
	web.sendJSON(map[string]string{"type": "hello", "nick": "мария"})
	if f := web.expect("welcome", func(f frame) bool { return f.Type == "error" || f.Type == "welcome" }); f.Type != "welcome" || f.Nick != "мария" {
		t.Errorf("web hello as мария: %s", f.Raw)
	}
	for _, nick := range []string{"東京", "José", "alicia"} {
		c := newLineClient(t, srv.SSHAddr, nick)
		c.expect("-!- welcome " + nick)
	}
}

// carol writes to bobr, changes nick, mallory connects as carol; bobr's
// /reply must reach carol (now carol_away), never mallory. Once carol has
// left, /reply says so.
func TestReplyGoesToTheWriterNotTheNick(t *testing.T) {
	srv := startServer(t)
	bobr := newLineClient(t, srv.SSHAddr, "bobr")
	bobr.expect("welcome bobr")
	carol := newLineClient(t, srv.SSHAddr, "carol")
	carol.expect("welcome carol")
	carol.send("/msg bobr what is the wifi password?")
	bobr.expect("[pm] carol -> bobr: what is the wifi password?")
	carol.send("/nick carol_away")
	bobr.expect("carol is now known as carol_away")
	mallory := newLineClient(t, srv.SSHAddr, "carol")
	mallory.expect("-!- welcome carol")

	bobr.send("/reply it is hunter2")
	carol.expect("[pm] bobr -> carol_away: it is hunter2")
	bobr.send("/msg carol end of test")
	for _, l := range linesUntil(mallory, "[pm] bobr -> carol: end of test") {
		if strings.Contains(l, "hunter2") {
			t.Fatalf("mallory received the reply: %q", l)
		}
	}

	carol.send("/quit")
	<-carol.closed
	bobr.send("/reply are you still there?")
	bobr.expect("-!- error: carol (later carol_away) is no longer here")
	mallory.send("/msg bobr hi, it's carol")
	bobr.expect("[pm] carol -> bobr: hi, it's carol")
	bobr.send("/reply who are you?") // now mallory wrote: she gets it
	mallory.expect("[pm] bobr -> carol: who are you?")
}
