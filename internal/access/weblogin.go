package access

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"time"

	"github.com/tertulia/tertulia/internal/store"
)

// Web sign-in lifetimes.
const (
	LoginCodeTTL  = 5 * time.Minute
	WebSessionTTL = 30 * 24 * time.Hour
)

// Web sign-in pace: a key gets codeBurst codes at once, then one every
// codeEvery; an address tries redeemBurst codes, then one every
// redeemEvery.
const (
	codeBurst   = 5
	codeEvery   = 2 * time.Minute
	redeemBurst = 5
	redeemEvery = 12 * time.Second
)

// WebSession is a browser signed in as a key.
type WebSession struct {
	ID      string // the start of SignInID: enough to tell sessions apart
	Created time.Time
	Expires time.Time
}

// SignInID is what identifies a browser's sign-in, from its token, without
// keeping the token: what the store keeps, and what Book.EndSession's
// caller matches connections by.
func SignInID(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// normaliseCode accepts codes typed with spaces, dashes or in lower case.
func normaliseCode(code string) string {
	code = strings.ToUpper(code)
	return strings.Map(func(r rune) rune {
		if r == '-' || r == ' ' {
			return -1
		}
		return r
	}, code)
}

// IssueCode makes a one-time code, valid for LoginCodeTTL, that signs a
// browser in as key; it is returned as "XXXX-XXXX-XXXX". Errors: ErrNoKey,
// ErrNotRegistered (the key has no registered nick), ErrRateLimited,
// *store.Failure.
func (b *Book) IssueCode(key string) (string, error) {
	if key == "" {
		return "", ErrNoKey
	}
	if len(b.NicksOf(key)) == 0 {
		return "", ErrNotRegistered
	}
	b.mu.Lock()
	ok := limiter(b.codeLimits, key, codeEvery, codeBurst).AllowN(b.now(), 1)
	b.mu.Unlock()
	if !ok {
		return "", ErrRateLimited
	}
	raw := make([]byte, 10)
	rand.Read(raw)
	code := base32.StdEncoding.EncodeToString(raw)[:12]
	if err := b.do("login code", "could not make a code, please try again", func(ctx context.Context) error {
		return b.st.AddLoginCode(ctx, SignInID(code), key, b.now().Add(LoginCodeTTL))
	}); err != nil {
		return "", err
	}
	return code[:4] + "-" + code[4:8] + "-" + code[8:], nil
}

// Redeem turns a one-time code into a web session token for the code's
// key. Attempts are rate-limited per client address. Errors:
// ErrRateLimited, ErrBadCode, *store.Failure.
func (b *Book) Redeem(code, remote string) (token, key string, err error) {
	b.mu.Lock()
	ok := limiter(b.redeemLimits, remote, redeemEvery, redeemBurst).AllowN(b.now(), 1)
	b.mu.Unlock()
	if !ok {
		return "", "", ErrRateLimited
	}
	const refusal = "sign-in failed, please try again"
	bad := false
	if err := b.do("login code use", refusal, func(ctx context.Context) error {
		var err error
		key, err = b.st.UseLoginCode(ctx, SignInID(normaliseCode(code)), b.now())
		bad = errors.Is(err, store.ErrNotFound)
		if bad {
			return nil
		}
		return err
	}); err != nil {
		return "", "", err
	}
	if bad {
		b.log.Info("weblogin refused", "remote", remote)
		return "", "", ErrBadCode
	}
	raw := make([]byte, 32)
	rand.Read(raw)
	token = base64.RawURLEncoding.EncodeToString(raw)
	now := b.now()
	if err := b.do("web session", refusal, func(ctx context.Context) error {
		return b.st.AddWebSession(ctx, store.WebSession{TokenHash: SignInID(token), Fingerprint: key, CreatedAt: now, ExpiresAt: now.Add(WebSessionTTL)})
	}); err != nil {
		return "", "", err
	}
	if len(b.NicksOf(key)) == 0 {
		// The code was issued for a registered key: its registration
		// was made on another node of a cluster since this one read them
		// (a failure is logged; the browser is signed in all the same).
		_ = b.do("registrations", refusal, b.reloadRegistrations)
	}
	b.log.Info("weblogin", "key", key, "remote", remote)
	return token, key, nil
}

// SessionKey returns the key a web session token signs in as. A token the
// store cannot check now signs in as nobody.
func (b *Book) SessionKey(token string) (string, bool) {
	if token == "" {
		return "", false
	}
	var w store.WebSession
	found := false
	err := b.do("web session lookup", "the sign-in could not be checked", func(ctx context.Context) error {
		var err error
		w, err = b.st.WebSessionByToken(ctx, SignInID(token), b.now())
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		found = err == nil
		return err
	})
	if err != nil || !found {
		return "", false
	}
	return w.Fingerprint, true
}

// EndSession ends the web session of token. Errors: *store.Failure (the
// token then still signs in).
func (b *Book) EndSession(token string) error {
	if token == "" {
		return nil
	}
	return b.do("web sign-out", "sign-out failed, please try again", func(ctx context.Context) error {
		return b.st.DeleteWebSession(ctx, SignInID(token))
	})
}

// EndAll ends every web session of key, returning how many there were.
func (b *Book) EndAll(key string) (int64, error) {
	if key == "" {
		return 0, ErrNoKey
	}
	var n int64
	err := b.do("logout-all", "could not end the sessions", func(ctx context.Context) error {
		var err error
		n, err = b.st.DeleteWebSessions(ctx, key)
		return err
	})
	return n, err
}

// List lists key's web sessions in force.
func (b *Book) List(key string) ([]WebSession, error) {
	if key == "" {
		return nil, ErrNoKey
	}
	var rows []store.WebSession
	if err := b.do("web sessions", "could not list sessions", func(ctx context.Context) error {
		var err error
		rows, err = b.st.WebSessions(ctx, key, b.now())
		return err
	}); err != nil {
		return nil, err
	}
	out := make([]WebSession, len(rows))
	for i, w := range rows {
		out[i] = WebSession{ID: w.TokenHash[:min(8, len(w.TokenHash))], Created: w.CreatedAt, Expires: w.ExpiresAt}
	}
	return out, nil
}
