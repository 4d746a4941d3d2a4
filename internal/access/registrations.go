package access

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/tertulia/tertulia/internal/store"
)

// Registration binds a nick to the key that registered it.
type Registration struct {
	Nick    string // as registered
	Key     string // fingerprint
	Created time.Time
	// storedFold is the fold the store keeps it under, which may be an
	// older, narrower fold than Fold(Nick).
	storedFold string
}

// TooManyNicksError is Register's answer to a key at its cap.
type TooManyNicksError struct {
	Owned []string // the key's nicks, oldest first
}

func (e *TooManyNicksError) Error() string {
	return fmt.Sprintf("your key already has %d registered nicks (%s), the most a key may have", len(e.Owned), strings.Join(e.Owned, ", "))
}

// Registration pace: a key registers a few nicks at once, then one every
// RegisterEvery; an address (whatever keys it uses: they cost nothing to
// make) registerAddrBurst, then one every registerAddrEvery.
const (
	RegisterBurst     = 3
	RegisterEvery     = 20 * time.Second
	registerAddrBurst = 10
	registerAddrEvery = time.Minute
)

// maxNickBytes bounds the nicks looked up: no registered nick is longer,
// and folding an unbounded string costs.
const maxNickBytes = 24 * 4

// Registration is nick's registration, if any.
func (b *Book) Registration(nick string) (Registration, bool) {
	if nick == "" || len(nick) > maxNickBytes {
		return Registration{}, false
	}
	fold := Fold(nick)
	b.mu.RLock()
	defer b.mu.RUnlock()
	r, found := b.regs[fold]
	return r, found
}

// NickOwner is the key that registered nick, or "".
func (b *Book) NickOwner(nick string) string {
	r, _ := b.Registration(nick)
	return r.Key
}

// OwnsFold tells whether key registered the nick whose Fold is fold.
func (b *Book) OwnsFold(fold, key string) bool {
	if key == "" {
		return false
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.regs[fold].Key == key
}

// NicksOf lists the nicks a key registered, oldest first.
func (b *Book) NicksOf(key string) []string {
	if key == "" {
		return nil
	}
	b.mu.RLock()
	var regs []Registration
	for _, r := range b.regs {
		if r.Key == key {
			regs = append(regs, r)
		}
	}
	b.mu.RUnlock()
	// Oldest first; registrations made in the same instant (one clock
	// tick) in nick order, so that "the key's first nick" is always the
	// same one.
	sort.Slice(regs, func(i, j int) bool {
		if !regs[i].Created.Equal(regs[j].Created) {
			return regs[i].Created.Before(regs[j].Created)
		}
		return regs[i].Nick < regs[j].Nick
	})
	nicks := make([]string, len(regs))
	for i, r := range regs {
		nicks[i] = r.Nick
	}
	return nicks
}

// OwnedNick is the nick a connecting key gets: the wanted one if the key
// registered it or nobody did, else the key's first registered nick.
func (b *Book) OwnedNick(wanted, key string) string {
	owned := b.NicksOf(key)
	if len(owned) == 0 {
		return wanted
	}
	for _, n := range owned {
		if Fold(n) == Fold(wanted) {
			return n
		}
	}
	return owned[0]
}

// Register binds nick to key, for a session from source (its
// connlimit.Source; invalid if unknown). added is false, with no error, if
// the key had registered it already. Errors: ErrNoKey,
// ErrNickRegistered, *TooManyNicksError, ErrRateLimited, *store.Failure.
func (b *Book) Register(key string, source netip.Prefix, nick string) (added bool, err error) {
	if key == "" {
		return false, ErrNoKey
	}
	b.regMu.Lock()
	defer b.regMu.Unlock()
	switch owner := b.NickOwner(nick); owner {
	case key:
		return false, nil
	case "":
	default:
		return false, ErrNickRegistered
	}
	if owned := b.NicksOf(key); b.maxNicks > 0 && len(owned) >= b.maxNicks {
		return false, &TooManyNicksError{Owned: owned}
	}
	now := b.now()
	b.mu.Lock()
	// The address first: keys cost nothing to make, so a fresh key must
	// not add an entry to the table unless its address may still register.
	ok := true
	if source.IsValid() {
		ok = limiter(b.regLimits, "addr "+source.String(), registerAddrEvery, registerAddrBurst).AllowN(now, 1)
	}
	if ok {
		ok = limiter(b.regLimits, "key "+key, RegisterEvery, RegisterBurst).AllowN(now, 1)
	}
	b.mu.Unlock()
	if !ok {
		return false, ErrRateLimited
	}
	r := store.Registration{Nick: nick, Fold: Fold(nick), Fingerprint: key, CreatedAt: now}
	taken := false
	if err := b.do("registration", "registration failed, please try again", func(ctx context.Context) error {
		err := b.st.Register(ctx, r)
		taken = errors.Is(err, store.ErrExists)
		if taken {
			return nil
		}
		return err
	}); err != nil {
		return false, err
	}
	if taken {
		return false, ErrNickRegistered
	}
	b.mu.Lock()
	b.regs[r.Fold] = Registration{Nick: nick, Key: key, Created: now, storedFold: r.Fold}
	b.mu.Unlock()
	b.log.Info("register", "nick", nick, "key", key)
	return true, nil
}

// Unregister gives up nick, registered to key. Errors: ErrNotRegistered,
// *store.Failure.
func (b *Book) Unregister(key, nick string) error {
	reg, found := b.Registration(nick)
	if key == "" || !found || reg.Key != key {
		return ErrNotRegistered
	}
	if err := b.do("unregister", "could not unregister, please try again", func(ctx context.Context) error {
		return b.st.Unregister(ctx, reg.storedFold, key)
	}); err != nil {
		return err
	}
	b.mu.Lock()
	delete(b.regs, Fold(nick))
	b.mu.Unlock()
	b.log.Info("unregister", "nick", nick, "key", key)
	return nil
}
