package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/tertulia/tertulia/internal/app"
)

func writeAuthorizedKeys(t *testing.T, path string, keys ...gossh.Signer) {
	t.Helper()
	var b strings.Builder
	b.WriteString("# test keys\n")
	for _, k := range keys {
		b.Write(gossh.MarshalAuthorizedKey(k.PublicKey()))
	}
	must(t, os.WriteFile(path, []byte(b.String()), 0o600))
}

// Every moderation command works for an operator, is refused for anyone
// else, and its effect survives a restart.
func TestModerationByOperators(t *testing.T) {
	dir := t.TempDir()
	admins := filepath.Join(dir, "admins")
	bossKey, joeKey, eveKey, fredKey := newSigner(t), newSigner(t), newSigner(t), newSigner(t)
	writeAuthorizedKeys(t, admins, bossKey)
	clock := &fakeClock{}
	cfg := func(c *app.Config) { c.Files.Admins = admins; c.Now = clock.now }
	srv := startServerIn(t, dir, cfg)

	boss := newLineClientFrom(t, "127.0.0.2", srv.SSHAddr, "boss", keyAuth(bossKey))
	boss.expect("welcome boss")
	joe := newLineClientFrom(t, "127.0.0.3", srv.SSHAddr, "joe", keyAuth(joeKey))
	joe.expect("welcome joe")
	watcher := dialWSFrom(t, "127.0.0.4", srv.HTTPAddr)
	watcher.sendJSON(map[string]string{"type": "hello", "nick": "wanda"})
	watcher.expect("welcome", func(f frame) bool { return f.Type == "welcome" })

	// Refused for a non-operator, each of them.
	for _, cmd := range []string{"/kick boss", "/ban boss", "/unban 127.0.0.2", "/bans", "/mute boss", "/unmute boss",
		"/op joe", "/deop boss", "/mode #lobby +t", "/allowlist reload"} {
		joe.send(cmd)
		joe.expect("-!- error: /" + strings.TrimPrefix(strings.Fields(cmd)[0], "/") + " is for operators only")
	}
	joe.send("/motd hijacked")
	joe.expect("-!- error: only operators can set the message of the day")
	watcher.say("/kick joe")
	if f := watcher.expect("error", func(f frame) bool { return f.Type == "error" }); f.Code != "not_operator" {
		t.Fatalf("web /kick: %s", f.Raw)
	}

	// Kick: the target is told, the room sees why.
	gus := newLineClientFrom(t, "127.0.0.5", srv.SSHAddr, "gus")
	gus.expect("welcome gus")
	boss.send("/kick gus flooding")
	gus.expect("You were kicked by boss: flooding")
	watcher.expect("gus kicked", func(f frame) bool {
		return f.Type == "part" && f.Nick == "gus" && f.Reason == "kicked by boss: flooding"
	})

	// Mute and unmute.
	boss.send("/mute joe 1h")
	joe.expect("You have been muted by boss")
	watcher.expect("mute announced", func(f frame) bool { return f.Type == "notice" && strings.Contains(f.Text, "joe was muted by boss") })
	joe.send("can anyone hear me")
	joe.expect("-!- error: you are muted")
	boss.send("/unmute joe")
	joe.expect("You are no longer muted")
	joe.send("audible again")
	watcher.expect("joe heard", isMessage("joe", "audible again"))

	// Op and deop: joe's key may then moderate, and not after.
	boss.send("/op joe")
	watcher.expect("op announced", func(f frame) bool { return f.Type == "notice" && strings.Contains(f.Text, "joe is now an operator") })
	joe.send("/bans")
	joe.expect("-!- 0 ban(s) in force")
	boss.send("/deop joe")
	joe.expect("joe is no longer an operator")
	joe.send("/bans")
	joe.expect("is for operators only")

	// Ban by nick: its key and its address.
	eve := newLineClientFrom(t, "127.0.0.6", srv.SSHAddr, "eve", keyAuth(eveKey))
	eve.expect("welcome eve")
	boss.send("/ban eve spamming")
	eve.expect("You were banned by boss: spamming")
	boss.expect("Banned eve until lifted")
	if out := sshRefused(t, "127.0.0.7", srv.SSHAddr, "eve2", keyAuth(eveKey)); !strings.Contains(out, "banned") {
		t.Fatalf("banned key from a new address: %q", out)
	}
	// A banned address is closed before any SSH work.
	sshDialRefused(t, "127.0.0.6", srv.SSHAddr)

	// Ban by fingerprint.
	boss.send("/ban " + gossh.FingerprintSHA256(fredKey.PublicKey()))
	boss.expect("Banned SHA256:")
	sshRefused(t, "127.0.0.8", srv.SSHAddr, "fred", keyAuth(fredKey))

	// Ban a CIDR for an hour, on both front-ends; it lifts itself.
	boss.send("/ban 127.0.1.0/24 1h range")
	boss.expect("Banned 127.0.1.0/24 until")
	sshDialRefused(t, "127.0.1.9", srv.SSHAddr)
	if status := wsDialStatusFrom(t, "127.0.1.10", srv.HTTPAddr); status != 403 {
		t.Fatalf("banned web client: HTTP %d", status)
	}
	boss.send("/bans")
	boss.expect("-!- 4 ban(s) in force")
	clock.advance(2 * time.Hour)
	ok := newLineClientFrom(t, "127.0.1.9", srv.SSHAddr, "ranger")
	ok.expect("welcome ranger")

	// +t and the message of the day.
	boss.send("/mode #lobby +t")
	joe.expect("boss set mode +t on #lobby")
	joe.send("/topic mine now")
	joe.expect("-!- error: #lobby is +t")
	boss.send("/topic set by an operator")
	joe.expect("#lobby --- topic: set by an operator (set by boss)")
	boss.send("/motd Be kind.")
	boss.expect("Message of the day set.")
	newcomer := newLineClientFrom(t, "127.0.0.9", srv.SSHAddr, "newbie")
	newcomer.expect("-!- Be kind.")

	// Things that must survive a restart: op status, the bans, +t, the
	// message of the day (mutes: TestMuteSurvivesRestart).
	boss.send("/op joe")
	joe.expect("joe is now an operator")
	srv.Stop()

	srv = startServerIn(t, dir, cfg)
	joe = newLineClientFrom(t, "127.0.0.3", srv.SSHAddr, "joe", keyAuth(joeKey))
	joe.expect("-!- Be kind.")
	joe.send("/bans")
	joe.expect("-!- 3 ban(s) in force") // the hour-long one has lifted
	sshRefused(t, "127.0.0.7", srv.SSHAddr, "eve", keyAuth(eveKey))
	sshRefused(t, "127.0.0.8", srv.SSHAddr, "fred", keyAuth(fredKey))
	guest := newLineClientFrom(t, "127.0.0.11", srv.SSHAddr, "guest")
	guest.expect("welcome guest")
	guest.send("/topic not allowed")
	guest.expect("-!- error: #lobby is +t")
	// Unban lifts it for good.
	joe.send("/unban " + gossh.FingerprintSHA256(fredKey.PublicKey()))
	joe.expect("Lifted 1 ban(s)")
	fred := newLineClientFrom(t, "127.0.0.8", srv.SSHAddr, "fred", keyAuth(fredKey))
	fred.expect("welcome fred")
}

// A muted key stays muted after a restart.
func TestMuteSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	admins := filepath.Join(dir, "admins")
	bossKey, daveKey := newSigner(t), newSigner(t)
	writeAuthorizedKeys(t, admins, bossKey)
	cfg := func(c *app.Config) { c.Files.Admins = admins }
	srv := startServerIn(t, dir, cfg)
	boss := newLineClient(t, srv.SSHAddr, "boss", keyAuth(bossKey))
	boss.expect("welcome boss")
	dave := newLineClient(t, srv.SSHAddr, "dave", keyAuth(daveKey))
	dave.expect("welcome dave")
	boss.send("/mute dave")
	dave.expect("You have been muted")
	srv.Stop()
	srv = startServerIn(t, dir, cfg)
	dave = newLineClient(t, srv.SSHAddr, "dave", keyAuth(daveKey))
	dave.expect("welcome dave")
	dave.send("still muted?")
	dave.expect("-!- error: you are muted")
}

// --allowlist admits only listed keys, on SSH and (signed in) on the web;
// /allowlist reload picks up changes.
func TestAllowlist(t *testing.T) {
	dir := t.TempDir()
	allow, admins := filepath.Join(dir, "allow"), filepath.Join(dir, "admins")
	listed, unlisted := newSigner(t), newSigner(t)
	writeAuthorizedKeys(t, allow, listed)
	writeAuthorizedKeys(t, admins, listed)
	srv := startServerIn(t, dir, func(c *app.Config) { c.Files.Allowlist = allow; c.Files.Admins = admins })

	if out := sshRefused(t, "", srv.SSHAddr, "stranger", keyAuth(unlisted)); !strings.Contains(out, "admits only listed keys") {
		t.Fatalf("unlisted key: %q", out)
	}
	sshRefused(t, "", srv.SSHAddr, "guest")
	web := newWSClient(t, srv.HTTPAddr)
	web.sendJSON(map[string]string{"type": "hello", "nick": "webguest"})
	if f := web.expect("refused", func(f frame) bool { return f.Type == "error" }); f.Code != "not_allowed" {
		t.Fatalf("web guest: %s", f.Raw)
	}

	member := newLineClient(t, srv.SSHAddr, "member", keyAuth(listed))
	member.expect("welcome member")
	member.register()
	code := member.webLoginCode()
	cookie := sessionCookie(t, postLogin(t, srv.HTTPAddr, code))
	conn, _, err := dialWS(t, srv.HTTPAddr, map[string][]string{"Cookie": {cookie.Name + "=" + cookie.Value}}, nil)
	must(t, err)
	signed := wrapWS(t, conn)
	signed.sendJSON(map[string]string{"type": "hello"})
	if f := signed.expect("welcome", func(f frame) bool { return f.Type == "welcome" }); f.Nick != "member" {
		t.Fatalf("signed-in browser got %q", f.Nick)
	}

	writeAuthorizedKeys(t, allow, listed, unlisted)
	member.send("/allowlist reload")
	member.expect("Allowlist reloaded: 2 key(s).")
	now := newLineClient(t, srv.SSHAddr, "newcomer", keyAuth(unlisted))
	now.expect("welcome newcomer")
	now.send("/allowlist reload")
	now.expect("is for operators only")
}
