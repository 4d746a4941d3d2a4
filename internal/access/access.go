// Package access decides who may do what on a Tertulia server: which key a
// registered nick belongs to, who is an operator, which keys and addresses
// are banned or muted, which keys the allowlist admits, and which browsers
// are signed in as a key. It keeps that state in memory, behind its own
// lock, and writes every change through to a store.Store first: what a Book
// answers is what a restarted server will answer.
//
// A Book knows nothing of sessions or rooms. The chat core (internal/room)
// asks it and then does the session-side part: notices, closing sessions,
// refreshing member lists.
//
// # Locks
//
// Book.mu guards the in-memory state; it is a leaf, held for map and slice
// work only, never across store I/O or a call out of the package, so it may
// be taken under any lock of the chat core. Book.regMu makes a key's
// registration count check and its new registration one step; it is held
// across the store write and takes Book.mu, so it is taken holding no lock
// of the chat core.
package access

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/tertulia/tertulia/internal/store"
)

// Config is what a Book is told by the server's configuration.
type Config struct {
	// Admins are key fingerprints that are operators whatever the store
	// says (--admins); they cannot be revoked with /deop.
	Admins []string
	// LoadAllowlist returns the keys the server admits; nil: no allowlist,
	// every key and guest is admitted. It is called by Load and by
	// ReloadAllowlist.
	LoadAllowlist func() (map[string]bool, error)
	// MaxNicksPerKey caps how many nicks one key may register; 0: no cap.
	MaxNicksPerKey int
	// MOTD, if not empty, replaces the stored message of the day at Load
	// (--motd).
	MOTD string
}

// Deps are what a Book runs on.
type Deps struct {
	Store store.Store
	// Calls runs every store operation (timeout, shutdown, logging); nil:
	// operations get store.DefaultCallTimeout and are never cut short.
	Calls *store.Calls
	Now   func() time.Time // nil: time.Now
	Log   *slog.Logger     // nil: slog.Default()
}

// Book is the access state of one server. Its methods are safe for
// concurrent use.
type Book struct {
	st        store.Store
	calls     *store.Calls
	now       func() time.Time
	log       *slog.Logger
	maxNicks  int
	loadAllow func() (map[string]bool, error)
	initMOTD  string

	// regMu makes a key's count check and its new registration one step,
	// so that concurrent registrations of one key cannot pass the cap.
	regMu sync.Mutex
	// modChanges counts this node's changes of ops, bans and mutes (under
	// mu): a reload that read the store before one does not undo it.
	modChanges uint64

	mu     sync.RWMutex
	regs   map[string]Registration // by Fold of the nick
	ops    map[string]bool         // granted, by key
	admins map[string]bool         // from Config.Admins, by key
	bans   []Ban
	mutes  map[string]Mute // by stored target (Target.muteString)
	allow  map[string]bool // nil: no allowlist
	motd   string

	codeLimits   map[string]*rate.Limiter // codes issued, per key
	redeemLimits map[string]*rate.Limiter // codes tried, per address
	regLimits    map[string]*rate.Limiter // registrations, per key and per address
	tokenLimits  map[string]*rate.Limiter // wrong bot tokens, per address
}

// New returns an empty Book; call Load before use.
func New(d Deps, cfg Config) *Book {
	b := &Book{
		st: d.Store, calls: d.Calls, now: d.Now, log: d.Log,
		maxNicks: max(cfg.MaxNicksPerKey, 0), loadAllow: cfg.LoadAllowlist, initMOTD: cfg.MOTD,
		regs: map[string]Registration{}, ops: map[string]bool{}, admins: map[string]bool{},
		mutes:      map[string]Mute{},
		codeLimits: map[string]*rate.Limiter{}, redeemLimits: map[string]*rate.Limiter{},
		regLimits: map[string]*rate.Limiter{}, tokenLimits: map[string]*rate.Limiter{},
	}
	if b.now == nil {
		b.now = time.Now
	}
	if b.log == nil {
		b.log = slog.Default()
	}
	if b.calls == nil {
		b.calls = store.NewCalls(context.Background(), store.DefaultCallTimeout, b.log)
	}
	for _, fp := range cfg.Admins {
		b.admins[fp] = true
	}
	return b
}

// Errors a Book answers with. Store failures are *store.Failure, already
// logged.
var (
	// ErrBanned: the key or the address is banned.
	ErrBanned = errors.New("you are banned from this server")
	// ErrNotAllowed: an allowlist is in force and the key is not on it.
	ErrNotAllowed = errors.New("this server admits only listed keys")
	// ErrNoKey: the action is bound to a key and there is none.
	ErrNoKey = errors.New("this needs a key")
	// ErrNickRegistered: the nick is registered to another key.
	ErrNickRegistered = errors.New("nick is registered to another key")
	// ErrNotRegistered: the nick is not registered to this key, or (for
	// IssueCode) the key has no registered nick.
	ErrNotRegistered = errors.New("not registered to this key")
	// ErrRateLimited: too many attempts from this key or address.
	ErrRateLimited = errors.New("too many attempts; wait a minute")
	// ErrBadCode: a sign-in code that is wrong, used or expired.
	ErrBadCode = errors.New("that code is not valid (wrong, used or expired)")
	// ErrAdmin: an operator from Config.Admins cannot be revoked.
	ErrAdmin = errors.New("an operator from the admins file")
	// ErrNoAllowlist: the server runs without an allowlist.
	ErrNoAllowlist = errors.New("the server runs without --allowlist")
)

// Load reads the access state from the store (and the allowlist, and
// stores Config.MOTD). It is called once, before the Book is used.
func (b *Book) Load(ctx context.Context) error {
	var allow map[string]bool
	if b.loadAllow != nil {
		var err error
		if allow, err = b.loadAllow(); err != nil {
			return fmt.Errorf("allowlist: %w", err)
		}
	}
	now := b.now()
	regs, err := b.st.Registrations(ctx)
	if err != nil {
		return err
	}
	mod, err := b.readModeration(ctx, now)
	if err != nil {
		return err
	}
	if b.initMOTD != "" {
		if err := b.st.SetSetting(ctx, motdSetting, b.initMOTD); err != nil {
			return err
		}
	}
	motd, err := b.st.Setting(ctx, motdSetting)
	if err != nil {
		return err
	}
	// Mutes bound to a nick (older versions) would silence whoever takes
	// the nick next: they are dropped.
	for _, target := range mod.nickMutes {
		if err := b.st.RemoveMute(ctx, target); err != nil {
			return err
		}
		b.log.Info("mute bound to a nick dropped", "target", target)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.regs = b.registrationsByFold(regs, true)
	b.ops, b.bans, b.mutes = mod.ops, mod.bans, mod.mutes
	b.allow = allow
	b.motd = motd
	return nil
}

// registrationsByFold keys stored registrations (oldest first) by the
// fold of their nick as Fold is now: a registration made when the fold
// was narrower still holds every lookalike the fold now knows. The stored
// fold stays the key it is removed under (see Unregister). Should two
// older registrations now fold together, the older one holds the nick; the
// other stays stored, unused (logged if warn: at start, not at each reload).
func (b *Book) registrationsByFold(regs []store.Registration, warn bool) map[string]Registration {
	out := make(map[string]Registration, len(regs))
	for _, r := range regs {
		fold := Fold(r.Nick)
		if held, taken := out[fold]; taken {
			if !warn {
				continue
			}
			b.log.Warn("registration shadowed by an older lookalike", "nick", r.Nick, "key", r.Fingerprint, "held_by", held.Nick, "held_by_key", held.Key)
			continue
		}
		out[fold] = Registration{Nick: r.Nick, Key: r.Fingerprint, Created: r.CreatedAt, storedFold: r.Fold}
	}
	return out
}

// do runs one store operation through the Book's Calls.
func (b *Book) do(what, refusal string, f func(ctx context.Context) error, logAttrs ...any) error {
	return b.calls.Do(what, refusal, f, logAttrs...)
}

// limiter returns the limiter for key in m, creating it. b.mu must be held.
func limiter(m map[string]*rate.Limiter, key string, every time.Duration, burst int) *rate.Limiter {
	l := m[key]
	if l == nil {
		if len(m) > maxLimiters { // bounded memory: forget everyone at once
			clear(m)
		}
		l = rate.NewLimiter(rate.Every(every), burst)
		m[key] = l
	}
	return l
}

// maxLimiters bounds each table of rate limiters.
const maxLimiters = 10000

const motdSetting = "motd"

// MOTD is the message of the day ("" if none).
func (b *Book) MOTD() string {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.motd
}

// SetMOTD stores and sets the message of the day.
func (b *Book) SetMOTD(text string) error {
	if err := b.do("motd", "could not store the message of the day", func(ctx context.Context) error {
		return b.st.SetSetting(ctx, motdSetting, text)
	}); err != nil {
		return err
	}
	b.mu.Lock()
	b.motd = text
	b.mu.Unlock()
	return nil
}
