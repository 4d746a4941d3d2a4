package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/tertulia/tertulia/internal/app"
)

func keyAuth(s gossh.Signer) gossh.AuthMethod { return gossh.PublicKeys(s) }

// fakeClock is a settable clock shared with an in-process server.
type fakeClock struct{ offset atomic.Int64 }

func (c *fakeClock) now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *fakeClock) advance(d time.Duration) { c.offset.Add(int64(d)) }

// Register, reconnect under another user name and keep the nick; nobody
// else can take it; it survives a restart.
func TestRegisteredNickBelongsToItsKey(t *testing.T) {
	dir := t.TempDir()
	srv := startServerIn(t, dir)
	aliceKey, otherKey := newSigner(t), newSigner(t)

	alice := newLineClient(t, srv.SSHAddr, "alice", keyAuth(aliceKey))
	alice.expect("welcome alice")
	alice.send("/register")
	alice.expect("alice is now registered to your key " + gossh.FingerprintSHA256(aliceKey.PublicKey()))
	alice.send("/quit")
	alice.expect("Goodbye")
	<-alice.closed

	check := func(srv *server) {
		t.Helper()
		// The key gets its nick even as "root".
		root := newLineClient(t, srv.SSHAddr, "root", keyAuth(aliceKey))
		root.expect("-!- welcome alice")
		root.send("/who")
		root.expect("alice (ssh, registered)")

		// Another key, a guest, and a browser cannot take it.
		other := newLineClient(t, srv.SSHAddr, "alice", keyAuth(otherKey))
		other.expect("-!- welcome alice_2")
		other.expect("The nick alice is registered to another key; you are alice_2")
		guest := newLineClient(t, srv.SSHAddr, "ALICE")
		guest.expect("-!- welcome ALICE_3")
		web := newWSClient(t, srv.HTTPAddr)
		web.sendJSON(map[string]string{"type": "hello", "nick": "Alice"})
		if f := web.expect("error", func(f frame) bool { return f.Type == "error" }); f.Code != "nick_registered" {
			t.Fatalf("web hello as a registered nick: %s", f.Raw)
		}
		// Nor by /nick once alice is gone.
		root.send("/quit")
		<-root.closed
		other.send("/nick alice")
		other.expect("-!- error: the nick alice is registered to another key")
		web.sendJSON(map[string]string{"type": "hello", "nick": "webby"})
		web.expect("welcome", func(f frame) bool { return f.Type == "welcome" })
		web.say("/nick alice")
		if f := web.expect("error", func(f frame) bool { return f.Type == "error" }); f.Code != "nick_registered" {
			t.Fatalf("/nick to a registered nick: %s", f.Raw)
		}
		other.send("/quit")
		guest.send("/quit")
		<-other.closed
		<-guest.closed
	}
	check(srv)
	srv.Stop()
	check(startServerIn(t, dir)) // registrations survive a restart

	// A key may hold several nicks; the user name picks among them;
	// /unregister gives one up.
	srv2 := startServerIn(t, t.TempDir())
	a := newLineClient(t, srv2.SSHAddr, "alice", keyAuth(aliceKey))
	a.expect("welcome alice")
	a.register()
	a.send("/nick ali")
	a.expect("alice is now known as ali")
	a.send("/register")
	a.expect("ali is now registered")
	a.send("/quit")
	<-a.closed
	b := newLineClient(t, srv2.SSHAddr, "ali", keyAuth(aliceKey))
	b.expect("-!- welcome ali")
	b.send("/unregister ali")
	b.expect("ali is no longer registered")
	guest := newLineClient(t, srv2.SSHAddr, "guest")
	guest.expect("welcome guest")
	b.send("/quit")
	<-b.closed
	guest.send("/nick ali")
	guest.expect("guest is now known as ali")
}

// Offering alice's public key without its private half, or logging in with
// another key, never yields alice's identity.
func TestKeyOfferAttackAfterRegistration(t *testing.T) {
	p := startProcess(t, t.TempDir())
	aliceKey := newSigner(t)
	alice := newLineClient(t, p.SSHAddr, "alice", keyAuth(aliceKey))
	alice.expect("welcome alice")
	alice.register()

	dir := t.TempDir()
	pubOnly := filepath.Join(dir, "alice_pub_only")
	must(t, os.WriteFile(pubOnly, gossh.MarshalAuthorizedKey(aliceKey.PublicKey()), 0o600))
	host, port := splitAddr(t, p.SSHAddr)
	out := runOpenSSH(t, "/whois alice_2\n", "-i", pubOnly, "-o", "IdentitiesOnly=yes",
		"-o", "PreferredAuthentications=publickey,keyboard-interactive", "-p", port, "alice@"+host)
	if !strings.Contains(out, "welcome alice_2") || !strings.Contains(out, "guest (no key)") {
		t.Fatalf("attacker output:\n%s", out)
	}
	// A key of its own gets an alternative too, with its own fingerprint.
	mallory := newLineClient(t, p.SSHAddr, "alice", keyAuth(newSigner(t)))
	mallory.expect("welcome alice_")
	mallory.send("/whois alice")
	mallory.expect("registered, key " + gossh.FingerprintSHA256(aliceKey.PublicKey()))
}

func runOpenSSH(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	base := []string{"-T", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=error"}
	cmd := execCommand("ssh", append(base, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("ssh: %v\n%s", err, out)
	}
	return string(out)
}

var codeRE = regexp.MustCompile(`Web sign-in code: ([A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{4})`)

// register binds the client's current nick to its key.
func (lc *lineClient) register() {
	lc.t.Helper()
	lc.send("/register")
	lc.expect("now registered")
}

// webLoginCode asks for a /weblogin code and returns it.
func (lc *lineClient) webLoginCode() string {
	lc.t.Helper()
	lc.send("/weblogin")
	m := codeRE.FindStringSubmatch(lc.expect("Web sign-in code"))
	if m == nil {
		lc.t.Fatal("no code in the /weblogin answer")
	}
	return m[1]
}

func postLogin(t *testing.T, httpAddr, code string) *http.Response {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"code": code})
	resp, err := http.Post("http://"+httpAddr+"/login", "application/json", bytes.NewReader(body))
	must(t, err)
	resp.Body.Close()
	return resp
}

func sessionCookie(t *testing.T, resp *http.Response) *http.Cookie {
	t.Helper()
	for _, c := range resp.Cookies() {
		if c.Name == "tertulia_session" {
			return c
		}
	}
	t.Fatalf("no session cookie in %v", resp.Header)
	return nil
}

// A /weblogin code signs a browser in once, not after expiry, and
// /logout-all ends the session.
func TestWebLogin(t *testing.T) {
	clock := &fakeClock{}
	srv := startServer(t, func(c *app.Config) { c.Now = clock.now })
	aliceKey := newSigner(t)
	alice := newLineClient(t, srv.SSHAddr, "alice", keyAuth(aliceKey))
	alice.expect("welcome alice")
	alice.send("/weblogin")
	alice.expect("-!- error: register a nick first")
	alice.register()
	code := alice.webLoginCode()

	resp := postLogin(t, srv.HTTPAddr, strings.ToLower(code))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("login: %s", resp.Status)
	}
	cookie := sessionCookie(t, resp)
	if !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode || cookie.Secure {
		t.Fatalf("cookie attributes: %+v (Secure must be off over plain HTTP)", cookie)
	}
	if again := postLogin(t, srv.HTTPAddr, code); again.StatusCode != http.StatusUnauthorized {
		t.Fatalf("second use of a code: %s", again.Status)
	}

	// The browser, signed in, gets the registered nick with hello.
	header := http.Header{"Cookie": {cookie.Name + "=" + cookie.Value}}
	conn, _, err := dialWS(t, srv.HTTPAddr, header, nil)
	must(t, err)
	web := wrapWS(t, conn)
	// Beside the key's SSH session: the same person, listed once.
	web.sendJSON(map[string]string{"type": "hello"})
	if f := web.expect("welcome", func(f frame) bool { return f.Type == "welcome" }); f.Nick != "alice" {
		t.Fatalf("signed-in hello got %q", f.Nick)
	}
	web.say("/who")
	if f := web.expect("members", func(f frame) bool { return f.Type == "members" }); strings.Count(string(f.Raw), `"nick":"alice"`) != 1 || !strings.Contains(string(f.Raw), `"nick":"alice","via":"ssh","registered":true`) {
		t.Fatalf("members: %s", f.Raw)
	}
	alice.send("/sessions")
	alice.expect("1 web session(s) for your key")

	// An expired code is refused.
	late := alice.webLoginCode()
	clock.advance(6 * time.Minute)
	if r := postLogin(t, srv.HTTPAddr, late); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("expired code: %s", r.Status)
	}

	// /logout-all signs the browser out, now and for its next visit.
	alice.send("/logout-all")
	alice.expect("Ended 1 web session(s).")
	web.expect("signed out", func(f frame) bool { return f.Type == "notice" && strings.Contains(f.Text, "signed out") })
	<-web.closed
	req, _ := http.NewRequest("GET", "http://"+srv.HTTPAddr+"/session", nil)
	req.AddCookie(cookie)
	r, err := http.DefaultClient.Do(req)
	must(t, err)
	var state struct {
		SignedIn bool `json:"signed_in"`
	}
	must(t, json.NewDecoder(r.Body).Decode(&state))
	r.Body.Close()
	if state.SignedIn {
		t.Fatal("the cookie still signs in after /logout-all")
	}
	// Guessing codes is rate-limited.
	var limited bool
	for i := 0; i < 20 && !limited; i++ {
		limited = postLogin(t, srv.HTTPAddr, fmt.Sprintf("AAAA-BBBB-%04d", i)).StatusCode == http.StatusTooManyRequests
	}
	if !limited {
		t.Fatal("20 wrong codes in a row were not rate-limited")
	}
}

// Signing one browser out (POST /logout) also closes the chat that browser
// has open, and only that one: a shared computer must not stay signed in.
func TestWebLogoutClosesThatBrowser(t *testing.T) {
	srv := startServer(t)
	aliceKey := newSigner(t)
	alice := newLineClient(t, srv.SSHAddr, "alice", keyAuth(aliceKey))
	alice.expect("welcome alice")
	alice.register()
	signIn := func() (*http.Cookie, *wsClient) {
		t.Helper()
		code := alice.webLoginCode()
		resp := postLogin(t, srv.HTTPAddr, code)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("login: %s", resp.Status)
		}
		cookie := sessionCookie(t, resp)
		conn, _, err := dialWS(t, srv.HTTPAddr, http.Header{"Cookie": {cookie.Name + "=" + cookie.Value}}, nil)
		must(t, err)
		return cookie, wrapWS(t, conn)
	}
	shared, onShared := signIn()
	_, onOwn := signIn()
	// Both browsers join beside the SSH session, as alice.
	for _, ws := range []*wsClient{onShared, onOwn} {
		ws.sendJSON(map[string]string{"type": "hello", "nick": "alice"})
		if f := ws.expect("welcome", func(f frame) bool { return f.Type == "welcome" || f.Type == "error" }); f.Nick != "alice" {
			t.Fatalf("signed-in hello as alice: %s", f.Raw)
		}
	}

	req, _ := http.NewRequest("POST", "http://"+srv.HTTPAddr+"/logout", nil)
	req.AddCookie(shared)
	resp, err := http.DefaultClient.Do(req)
	must(t, err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("logout: %s", resp.Status)
	}
	onShared.expect("signed out", func(f frame) bool { return f.Type == "notice" && strings.Contains(f.Text, "signed out") })
	select {
	case <-onShared.closed:
	case <-time.After(waitTimeout):
		t.Fatal("the signed-out browser's websocket stayed open")
	}
	onOwn.say("still signed in")
	alice.expectFunc("the other browser's line", func(l string) bool {
		if strings.Contains(l, "alice left") {
			t.Fatalf("alice parted while two of her sessions stay: %q", l)
		}
		return strings.HasSuffix(l, "<alice> still signed in")
	})
}
