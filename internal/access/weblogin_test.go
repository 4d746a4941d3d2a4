package access

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/tertulia/tertulia/internal/clocktest"
	"github.com/tertulia/tertulia/internal/store"
	"github.com/tertulia/tertulia/internal/store/storetest"
)

// signInFixture has a key with a registered nick, which may get codes.
func signInFixture(t *testing.T) *fixture {
	t.Helper()
	f := newFixture(t, Config{})
	if _, err := f.book.Register("SHA256:alice", prefix("192.0.2.1/32"), "alice"); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestSignInWithCode(t *testing.T) {
	f := signInFixture(t)
	b := f.book
	code, err := b.IssueCode("SHA256:alice")
	if err != nil {
		t.Fatal(err)
	}
	if len(code) != 14 || code[4] != '-' || code[9] != '-' {
		t.Fatalf("code %q is not XXXX-XXXX-XXXX", code)
	}
	// Typed in lower case, without dashes.
	token, key, err := b.Redeem(strings.ToLower(strings.ReplaceAll(code, "-", " ")), "192.0.2.50")
	if err != nil || key != "SHA256:alice" || token == "" {
		t.Fatalf("Redeem = %q, %q, %v", token, key, err)
	}
	if got, ok := b.SessionKey(token); !ok || got != "SHA256:alice" {
		t.Fatalf("SessionKey = %q, %v", got, ok)
	}
	if got, ok := f.reload(t).SessionKey(token); !ok || got != "SHA256:alice" {
		t.Fatal("a web session did not last")
	}
	if _, ok := b.SessionKey("forged"); ok {
		t.Fatal("a forged token signs in")
	}
	if _, ok := b.SessionKey(""); ok {
		t.Fatal("no token signs in")
	}

	// A code works once.
	_, _, err = b.Redeem(code, "192.0.2.50")
	mustErr(t, err, ErrBadCode)

	list, err := b.List("SHA256:alice")
	if err != nil || len(list) != 1 || list[0].ID != SignInID(token)[:8] || !list[0].Expires.Equal(f.clock.Now().Add(WebSessionTTL)) {
		t.Fatalf("List = %+v, %v", list, err)
	}

	if err := b.EndSession(token); err != nil {
		t.Fatal(err)
	}
	if _, ok := b.SessionKey(token); ok {
		t.Fatal("an ended session still signs in")
	}
}

func TestSignInCodeExpires(t *testing.T) {
	f := signInFixture(t)
	code, err := f.book.IssueCode("SHA256:alice")
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(LoginCodeTTL)
	_, _, err = f.book.Redeem(code, "192.0.2.50")
	mustErr(t, err, ErrBadCode)
}

func TestWebSessionExpires(t *testing.T) {
	f := signInFixture(t)
	code, _ := f.book.IssueCode("SHA256:alice")
	token, _, err := f.book.Redeem(code, "192.0.2.50")
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(WebSessionTTL - time.Second)
	if _, ok := f.book.SessionKey(token); !ok {
		t.Fatal("a web session ended early")
	}
	f.clock.Advance(time.Second)
	if _, ok := f.book.SessionKey(token); ok {
		t.Fatal("a web session outlived its TTL")
	}
}

func TestIssueCodeNeedsARegisteredKey(t *testing.T) {
	f := newFixture(t, Config{})
	_, err := f.book.IssueCode("SHA256:nobody")
	mustErr(t, err, ErrNotRegistered)
	_, err = f.book.IssueCode("")
	mustErr(t, err, ErrNoKey)
}

func TestIssueCodeRateLimit(t *testing.T) {
	f := signInFixture(t)
	for i := range codeBurst {
		if _, err := f.book.IssueCode("SHA256:alice"); err != nil {
			t.Fatalf("code %d: %v", i+1, err)
		}
	}
	_, err := f.book.IssueCode("SHA256:alice")
	mustErr(t, err, ErrRateLimited)
	f.clock.Advance(codeEvery)
	if _, err := f.book.IssueCode("SHA256:alice"); err != nil {
		t.Fatalf("after the pause: %v", err)
	}
}

// Guessing codes is limited per address, and a right code is refused too
// once an address has used its attempts.
func TestRedeemRateLimit(t *testing.T) {
	f := signInFixture(t)
	b := f.book
	for range redeemBurst {
		_, _, err := b.Redeem("AAAA-AAAA-AAAA", "203.0.113.9")
		mustErr(t, err, ErrBadCode)
	}
	code, err := b.IssueCode("SHA256:alice")
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = b.Redeem(code, "203.0.113.9")
	mustErr(t, err, ErrRateLimited)
	// Another address is not held back, and the code was not used up.
	if _, _, err := b.Redeem(code, "203.0.113.10"); err != nil {
		t.Fatalf("from another address: %v", err)
	}
	f.clock.Advance(redeemEvery)
	_, _, err = b.Redeem("AAAA-AAAA-AAAA", "203.0.113.9")
	mustErr(t, err, ErrBadCode)
}

func TestEndAll(t *testing.T) {
	f := signInFixture(t)
	b := f.book
	var tokens []string
	for range 2 {
		code, _ := b.IssueCode("SHA256:alice")
		token, _, err := b.Redeem(code, "192.0.2.50")
		if err != nil {
			t.Fatal(err)
		}
		tokens = append(tokens, token)
	}
	if n, err := b.EndAll("SHA256:alice"); err != nil || n != 2 {
		t.Fatalf("EndAll = %d, %v", n, err)
	}
	for _, token := range tokens {
		if _, ok := b.SessionKey(token); ok {
			t.Fatal("a session survived EndAll")
		}
	}
	if list, err := b.List("SHA256:alice"); err != nil || len(list) != 0 {
		t.Fatalf("List after EndAll = %+v, %v", list, err)
	}
}

// A sign-out the store could not record is reported, and the token still
// signs in: the browser is to try again.
func TestEndSessionStoreFailure(t *testing.T) {
	st := storetest.NewSignOutFailing()
	clock := clocktest.New(time.Now())
	var logs strings.Builder
	b := loadBook(t, st, clock, &logs, Config{})
	if _, err := b.Register("SHA256:alice", prefix("192.0.2.1/32"), "alice"); err != nil {
		t.Fatal(err)
	}
	code, _ := b.IssueCode("SHA256:alice")
	token, _, err := b.Redeem(code, "192.0.2.50")
	if err != nil {
		t.Fatal(err)
	}
	err = b.EndSession(token)
	var failure *store.Failure
	if !errors.As(err, &failure) || !errors.Is(err, storetest.ErrSignOutFailed) {
		t.Fatalf("EndSession = %v, want a store failure", err)
	}
	if !strings.Contains(logs.String(), "store web sign-out") {
		t.Fatalf("not logged: %s", logs.String())
	}
	if _, ok := b.SessionKey(token); !ok {
		t.Fatal("the token stopped signing in although the sign-out failed")
	}
}

func TestReadAuthorizedKeys(t *testing.T) {
	var lines []string
	var want []string
	for i := range 2 {
		pub, _, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		key, err := gossh.NewPublicKey(pub)
		if err != nil {
			t.Fatal(err)
		}
		line := strings.TrimSpace(string(gossh.MarshalAuthorizedKey(key))) + " user@host"
		if i == 1 {
			line = `no-pty,command="/bin/false" ` + line
		}
		lines = append(lines, "# a comment", "", line)
		want = append(want, gossh.FingerprintSHA256(key))
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "authorized_keys")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	keys, err := ReadAuthorizedKeys(path)
	if err != nil || len(keys) != 2 || !keys[want[0]] || !keys[want[1]] {
		t.Fatalf("ReadAuthorizedKeys = %v, %v; want %v", keys, err, want)
	}

	bad := filepath.Join(dir, "bad")
	if err := os.WriteFile(bad, []byte("# only this\nnot a key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadAuthorizedKeys(bad); err == nil {
		t.Fatal("a file without a valid key was accepted")
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte("# nobody yet\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if keys, err := ReadAuthorizedKeys(empty); err != nil || len(keys) != 0 {
		t.Fatalf("a file of comments = %v, %v", keys, err)
	}
	if _, err := ReadAuthorizedKeys(filepath.Join(dir, "missing")); err == nil {
		t.Fatal("a missing file was accepted")
	}
}
