package access

import (
	"errors"
	"strings"
	"testing"
)

func TestBotTokens(t *testing.T) {
	f := signInFixture(t)
	b := f.book
	if _, err := b.Register("SHA256:alice", prefix("192.0.2.1/32"), "alicebot"); err != nil {
		t.Fatal(err)
	}
	token, made, err := b.CreateToken("SHA256:alice", "ci", "ALICEBOT")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(token, tokenPrefix) || made.Nick != "alicebot" {
		t.Fatalf("CreateToken = %q, %+v", token, made)
	}
	if made.TokenHash == token || strings.Contains(made.TokenHash, token[len(tokenPrefix):]) {
		t.Fatal("the token is kept as it is, not hashed")
	}
	got, ok := f.reload(t).TokenFor(token)
	if !ok || got.Fingerprint != "SHA256:alice" || got.Nick != "alicebot" || got.Name != "ci" {
		t.Fatalf("TokenFor after a restart = %+v, %v", got, ok)
	}
	for _, bad := range []string{"", "forged", tokenPrefix + "forged", token + "x"} {
		if _, ok := b.TokenFor(bad); ok {
			t.Fatalf("%q signs in", bad)
		}
	}

	_, _, err = b.CreateToken("SHA256:alice", "ci", "alice")
	mustErr(t, err, ErrTokenExists)
	_, _, err = b.CreateToken("SHA256:alice", "bad name", "alice")
	mustErr(t, err, ErrBadTokenName)
	_, _, err = b.CreateToken("SHA256:alice", "other", "bob")
	mustErr(t, err, ErrNotRegistered)
	_, _, err = b.CreateToken("", "x", "alice")
	mustErr(t, err, ErrNoKey)

	// Another key cannot revoke it by name; its owner can, and it then
	// signs in no more.
	_, err = b.RevokeToken("SHA256:bob", "ci")
	mustErr(t, err, ErrNoToken)
	if _, err := b.RevokeToken("SHA256:alice", "ci"); err != nil {
		t.Fatal(err)
	}
	if _, ok := b.TokenFor(token); ok {
		t.Fatal("a revoked token signs in")
	}
	_, err = b.RevokeToken("SHA256:alice", "ci")
	mustErr(t, err, ErrNoToken)
}

func TestBotTokenEndsWithItsNick(t *testing.T) {
	f := signInFixture(t)
	b := f.book
	token, _, err := b.CreateToken("SHA256:alice", "ci", "alice")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Unregister("SHA256:alice", "alice"); err != nil {
		t.Fatal(err)
	}
	if _, ok := b.TokenFor(token); ok {
		t.Fatal("a token signs in under a nick its key gave up")
	}
}

func TestBotTokensPerKeyBounded(t *testing.T) {
	f := signInFixture(t)
	b := f.book
	for i := range MaxTokensPerKey {
		if _, _, err := b.CreateToken("SHA256:alice", "t"+strings.Repeat("x", i), "alice"); err != nil {
			t.Fatal(err)
		}
	}
	_, _, err := b.CreateToken("SHA256:alice", "onemore", "alice")
	if !errors.Is(err, ErrTooManyTokens) {
		t.Fatalf("token beyond the cap: %v", err)
	}
	list, err := b.Tokens("")
	if err != nil || len(list) != MaxTokensPerKey {
		t.Fatalf("Tokens(\"\") = %d, %v", len(list), err)
	}
}

// An address that presents many wrong bot tokens is refused for a while
// without the store being asked; a right token presented before that,
// and from another address meanwhile, still signs in.
func TestWrongBotTokensAreLimitedPerAddress(t *testing.T) {
	f := signInFixture(t)
	b := f.book
	if _, err := b.Register("SHA256:alice", prefix("192.0.2.1/32"), "alicebot"); err != nil {
		t.Fatal(err)
	}
	token, _, err := b.CreateToken("SHA256:alice", "ci", "alicebot")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.TokenFrom(token, "192.0.2.9"); err != nil {
		t.Fatalf("a right token: %v", err)
	}
	for range tokenBurst {
		_, err := b.TokenFrom(tokenPrefix+"guess", "192.0.2.9")
		mustErr(t, err, ErrBadToken)
	}
	_, err = b.TokenFrom(token, "192.0.2.9")
	mustErr(t, err, ErrRateLimited)
	if got, err := b.TokenFrom(token, "198.51.100.1"); err != nil || got.Nick != "alicebot" {
		t.Fatalf("the right token from another address: %+v, %v", got, err)
	}
}
