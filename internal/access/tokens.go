package access

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/tertulia/tertulia/internal/store"
)

// MaxTokensPerKey bounds the bot tokens one key may hold.
const MaxTokensPerKey = 20

// MaxTokenName is the longest token name, in bytes.
const MaxTokenName = 32

// tokenPrefix marks a bot token, so that one pasted where it does not
// belong is recognisable (and a secret scanner can find it).
const tokenPrefix = "tt_"

// Errors of bot tokens.
var (
	ErrBadTokenName  = fmt.Errorf("a token name is 1 to %d letters, digits, '.', '_' or '-'", MaxTokenName)
	ErrTokenExists   = errors.New("your key has a token of that name already")
	ErrTooManyTokens = fmt.Errorf("a key holds at most %d tokens", MaxTokensPerKey)
	ErrNoToken       = errors.New("no such token")
	ErrBadToken      = errors.New("wrong, revoked or unknown bot token")
)

// BotToken is a bot token as its owner and operators see it: never the
// token itself.
type BotToken = store.BotToken

// validTokenName reports whether name may name a token.
func validTokenName(name string) bool {
	if name == "" || len(name) > MaxTokenName {
		return false
	}
	for _, r := range name {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-'
		if !ok {
			return false
		}
	}
	return true
}

// CreateToken makes a bot token named name that signs in as key under
// nick, one of the key's registered nicks. The token is returned once:
// only its hash (SignInID) is kept. Errors: ErrNoKey, ErrBadTokenName,
// ErrNotRegistered, ErrTooManyTokens, ErrTokenExists, *store.Failure.
func (b *Book) CreateToken(key, name, nick string) (token string, t BotToken, err error) {
	switch {
	case key == "":
		return "", t, ErrNoKey
	case !validTokenName(name):
		return "", t, ErrBadTokenName
	}
	reg, found := b.Registration(nick)
	if !found || reg.Key != key {
		return "", t, ErrNotRegistered
	}
	raw := make([]byte, 32)
	rand.Read(raw)
	token = tokenPrefix + base64.RawURLEncoding.EncodeToString(raw)
	t = BotToken{TokenHash: SignInID(token), Fingerprint: key, Name: name, Nick: reg.Nick, CreatedAt: b.now()}
	// The store counts the key's tokens in the step that adds this one:
	// concurrent calls (on any node) cannot pass the limit together.
	var refused error
	if err := b.do("bot token", "could not make the token, please try again", func(ctx context.Context) error {
		err := b.st.AddBotToken(ctx, t, MaxTokensPerKey)
		switch {
		case errors.Is(err, store.ErrExists):
			refused = ErrTokenExists
		case errors.Is(err, store.ErrTooMany):
			refused = ErrTooManyTokens
		default:
			return err
		}
		return nil
	}); err != nil {
		return "", t, err
	}
	if refused != nil {
		return "", t, refused
	}
	b.log.Info("bot token made", "key", key, "name", name, "nick", reg.Nick)
	return token, t, nil
}

// Wrong bot tokens an address may present: tokenBurst, then one every
// redeemEvery (as sign-in codes). Right ones cost nothing.
const tokenBurst = 10

// TokenFrom is TokenFor for a token presented by remote: an address that
// presented too many wrong tokens lately is refused (ErrRateLimited)
// without a look at the store, so guessing costs the store nothing.
func (b *Book) TokenFrom(token, remote string) (BotToken, error) {
	b.mu.Lock()
	l := limiter(b.tokenLimits, remote, redeemEvery, tokenBurst)
	ok := l.TokensAt(b.now()) >= 1
	b.mu.Unlock()
	if !ok {
		return BotToken{}, ErrRateLimited
	}
	t, found := b.TokenFor(token)
	if !found {
		b.mu.Lock()
		l.AllowN(b.now(), 1)
		b.mu.Unlock()
		return BotToken{}, ErrBadToken
	}
	return t, nil
}

// TokenFor returns the bot token that token is, if it is one in force:
// made, not revoked, and its nick still registered to its key. A token
// the store cannot check now signs in as nobody.
func (b *Book) TokenFor(token string) (BotToken, bool) {
	if !strings.HasPrefix(token, tokenPrefix) || len(token) > 128 {
		return BotToken{}, false
	}
	var t BotToken
	found := false
	err := b.do("bot token lookup", "the token could not be checked", func(ctx context.Context) error {
		var err error
		t, err = b.st.BotTokenByHash(ctx, SignInID(token))
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		found = err == nil
		return err
	})
	if err != nil || !found || !b.OwnsFold(Fold(t.Nick), t.Fingerprint) {
		return BotToken{}, false
	}
	return t, true
}

// Tokens lists key's bot tokens; "" lists every key's (for operators).
func (b *Book) Tokens(key string) ([]BotToken, error) {
	var out []BotToken
	err := b.do("bot tokens", "could not list the tokens", func(ctx context.Context) error {
		var err error
		out, err = b.st.BotTokens(ctx, key)
		return err
	})
	return out, err
}

// RevokeToken deletes key's token named name and returns it. Errors:
// ErrNoToken, *store.Failure.
func (b *Book) RevokeToken(key, name string) (BotToken, error) {
	var t BotToken
	missing := false
	err := b.do("bot token revoke", "could not revoke the token, please try again", func(ctx context.Context) error {
		var err error
		t, err = b.st.DeleteBotToken(ctx, key, name)
		missing = errors.Is(err, store.ErrNotFound)
		if missing {
			return nil
		}
		return err
	})
	if err != nil {
		return t, err
	}
	if missing {
		return t, ErrNoToken
	}
	b.log.Info("bot token revoked", "key", key, "name", name)
	return t, nil
}
