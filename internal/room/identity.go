package room

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/tertulia/tertulia/internal/store"
)

// Web sign-in lifetimes.
const (
	LoginCodeTTL  = 5 * time.Minute
	WebSessionTTL = 30 * 24 * time.Hour
)

// ErrBanned is returned by Connect for a banned key or address.
var ErrBanned = errors.New("you are banned from this server")

// ErrNotAllowed is returned by Connect when an allowlist is in force and the
// key is not on it.
var ErrNotAllowed = errors.New("this server admits only listed keys")

// access is the hub's view of identities, operators and bans. Its lock is a
// leaf: it may be taken under the hub or a room lock, never the reverse.
type access struct {
	mu        sync.RWMutex
	regs      map[string]store.Registration // by folded nick
	ops       map[string]bool               // granted with /op, by key
	admins    map[string]bool               // from --admins, by key
	bans      []store.Ban
	mutes     map[muteTarget]store.Mute
	allow     map[string]bool // nil: no allowlist
	loadAllow func() (map[string]bool, error)
	motd      string

	codeLimits  map[string]*rate.Limiter // /weblogin per key
	redeemLimit map[string]*rate.Limiter // code attempts per address
	regLimits   map[string]*rate.Limiter // /register per key and per address

	// regMu makes a key's count check and its new registration one step,
	// so that concurrent /register of one key cannot pass the cap.
	regMu sync.Mutex
}

func newAccess() *access {
	return &access{
		regs: map[string]store.Registration{}, ops: map[string]bool{}, admins: map[string]bool{},
		mutes:      map[muteTarget]store.Mute{},
		codeLimits: map[string]*rate.Limiter{}, redeemLimit: map[string]*rate.Limiter{},
		regLimits: map[string]*rate.Limiter{},
	}
}

// WithAdmins makes these key fingerprints operators (from --admins).
func WithAdmins(fingerprints ...string) Option {
	return func(h *Hub) {
		for _, fp := range fingerprints {
			h.acc.admins[fp] = true
		}
	}
}

// WithAllowlist admits only the keys load returns; load is called at start
// and on /allowlist reload.
func WithAllowlist(load func() (map[string]bool, error)) Option {
	return func(h *Hub) { h.acc.loadAllow = load }
}

// WithMOTD sets the message of the day shown at join (from --motd).
func WithMOTD(text string) Option { return func(h *Hub) { h.initialMOTD = text } }

// WithPublicURL is the address of the web page, used in /weblogin links.
func WithPublicURL(u string) Option { return func(h *Hub) { h.publicURL = strings.TrimRight(u, "/") } }

// loadAccess reads identities and moderation state from the store.
func (h *Hub) loadAccess(ctx context.Context) error {
	a := h.acc
	if a.loadAllow != nil {
		allow, err := a.loadAllow()
		if err != nil {
			return fmt.Errorf("allowlist: %w", err)
		}
		a.allow = allow
	}
	regs, err := h.store.Registrations(ctx)
	if err != nil {
		return err
	}
	ops, err := h.store.Operators(ctx)
	if err != nil {
		return err
	}
	bans, err := h.store.Bans(ctx, h.now())
	if err != nil {
		return err
	}
	mutes, err := h.store.Mutes(ctx, h.now())
	if err != nil {
		return err
	}
	if h.initialMOTD != "" {
		if err := h.store.SetSetting(ctx, "motd", h.initialMOTD); err != nil {
			return err
		}
	}
	motd, err := h.store.Setting(ctx, "motd")
	if err != nil {
		return err
	}
	// Mutes bound to a nick (older versions) would silence whoever takes
	// the nick next: they are dropped.
	var kept []store.Mute
	for _, m := range mutes {
		if _, ok := parseMuteTarget(m.Target); ok {
			kept = append(kept, m)
			continue
		}
		if err := h.store.RemoveMute(ctx, m.Target); err != nil {
			return err
		}
		h.log.Info("mute bound to a nick dropped", "target", m.Target)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	// Registrations are keyed by the fold of their nick as foldNick is
	// now: a registration made when the fold was narrower still holds
	// every lookalike the fold now knows. r.Fold stays the stored key (see
	// unregister). Should two older registrations now fold together, the
	// older one holds the nick; the other stays stored, unused.
	for _, r := range regs { // oldest first
		fold := foldNick(r.Nick)
		if held, taken := a.regs[fold]; taken {
			h.log.Warn("registration shadowed by an older lookalike", "nick", r.Nick, "key", r.Fingerprint, "held_by", held.Nick, "held_by_key", held.Fingerprint)
			continue
		}
		a.regs[fold] = r
	}
	for _, fp := range ops {
		a.ops[fp] = true
	}
	a.bans = bans
	for _, m := range kept {
		t, _ := parseMuteTarget(m.Target)
		a.mutes[t] = m
	}
	a.motd = motd
	return nil
}

// registeredTo is the key that registered nick, or "".
func (h *Hub) registeredTo(nick string) string {
	reg, _ := h.registrationOf(nick)
	return reg.Fingerprint
}

// registrationOf is nick's registration, if any.
func (h *Hub) registrationOf(nick string) (store.Registration, bool) {
	if ValidateNick(nick) != nil {
		return store.Registration{}, false // nobody registers an invalid nick; and folding it could be long
	}
	h.acc.mu.RLock()
	defer h.acc.mu.RUnlock()
	reg, found := h.acc.regs[foldNick(nick)]
	return reg, found
}

// NicksOf lists the nicks a key registered, oldest first.
func (h *Hub) NicksOf(fingerprint string) []string {
	h.acc.mu.RLock()
	defer h.acc.mu.RUnlock()
	var regs []store.Registration
	for _, r := range h.acc.regs {
		if r.Fingerprint == fingerprint {
			regs = append(regs, r)
		}
	}
	sort.Slice(regs, func(i, j int) bool { return regs[i].CreatedAt.Before(regs[j].CreatedAt) })
	nicks := make([]string, len(regs))
	for i, r := range regs {
		nicks[i] = r.Nick
	}
	return nicks
}

// ownedNick is the nick a connecting key gets: the wanted one if the key
// registered it or nobody did, else the key's first registered nick.
func (h *Hub) ownedNick(wanted, fingerprint string) string {
	if fingerprint == "" {
		return wanted
	}
	owned := h.NicksOf(fingerprint)
	if len(owned) == 0 {
		return wanted
	}
	for _, n := range owned {
		if foldNick(n) == foldNick(wanted) {
			return n
		}
	}
	return owned[0]
}

// registrationChanged relists whoever uses nick, in the rooms' member lists.
func (h *Hub) registrationChanged(nick string) {
	if t := h.sessionByNick(nick); t != nil {
		h.refreshMember(t)
	}
}

// isRegistered tells whether s uses a nick registered to its key.
func (s *Session) isRegistered() bool {
	if s.fingerprint == "" {
		return false
	}
	s.mu.Lock()
	fold := s.fold
	s.mu.Unlock()
	a := s.hub.acc
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.regs[fold].Fingerprint == s.fingerprint
}

// IsOperator tells whether the session's key is an operator.
func (s *Session) IsOperator() bool {
	if s.fingerprint == "" {
		return false
	}
	a := s.hub.acc
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.admins[s.fingerprint] || a.ops[s.fingerprint]
}

func (h *Hub) motd() string {
	h.acc.mu.RLock()
	defer h.acc.mu.RUnlock()
	return h.acc.motd
}

// admit refuses banned keys and addresses, and keys off the allowlist.
func (h *Hub) admit(id Identity) error {
	a := h.acc
	a.mu.RLock()
	defer a.mu.RUnlock()
	if ban := a.banFor(id.Fingerprint, id.Remote, h.now()); ban != nil {
		return ErrBanned
	}
	if a.allow != nil && (id.Fingerprint == "" || !a.allow[id.Fingerprint]) {
		return ErrNotAllowed
	}
	return nil
}

// banFor finds a ban in force on the key or the address. a.mu must be held.
func (a *access) banFor(fingerprint, remote string, now time.Time) *store.Ban {
	addr, addrErr := netip.ParseAddr(remote)
	addr = addr.Unmap().WithZone("") // Contains never matches a zoned address
	for i := range a.bans {
		b := &a.bans[i]
		if !b.Expires.IsZero() && !now.Before(b.Expires) {
			continue // expired bans lift themselves
		}
		switch b.Kind {
		case "key":
			if fingerprint != "" && b.Value == fingerprint {
				return b
			}
		case "ip":
			if p, err := netip.ParsePrefix(b.Value); err == nil && addrErr == nil && p.Contains(addr) {
				return b
			}
		}
	}
	return nil
}

// IsBannedAddr tells whether an address is banned, so front-ends can refuse
// a connection before any work.
func (h *Hub) IsBannedAddr(remote string) bool {
	h.acc.mu.RLock()
	defer h.acc.mu.RUnlock()
	return h.acc.banFor("", remote, h.now()) != nil
}

// Registration pace: a key registers a few nicks at once, then one every
// registerEvery; an address (whatever keys it uses: they cost nothing to
// make) registerAddrBurst, then one every registerAddrEvery.
const (
	registerBurst     = 3
	registerEvery     = 20 * time.Second
	registerAddrBurst = 10
	registerAddrEvery = time.Minute
)

func (h *Hub) register(s *Session, nick string) error {
	if s.fingerprint == "" {
		return userErr("needs_key", "/register needs an SSH session authenticated with a key")
	}
	h.acc.regMu.Lock()
	defer h.acc.regMu.Unlock()
	owner := h.registeredTo(nick)
	if owner == s.fingerprint {
		h.notice(s, nick+" is already registered to your key")
		return nil
	}
	if owner != "" {
		return userErr("nick_registered", "the nick "+nick+" is registered to another key")
	}
	if owned := h.NicksOf(s.fingerprint); h.maxNicksPerKey > 0 && len(owned) >= h.maxNicksPerKey {
		return userErr("too_many_nicks", fmt.Sprintf("your key already has %d registered nicks (%s), the most a key may have; /unregister one first", len(owned), strings.Join(owned, ", ")))
	}
	now := h.now()
	h.acc.mu.Lock()
	// The address first: keys cost nothing to make, so a fresh key must
	// not add an entry to the table unless its address may still register.
	ok := true
	if s.source.IsValid() {
		ok = limiter(h.acc.regLimits, "addr "+s.source.String(), registerAddrEvery, registerAddrBurst).AllowN(now, 1)
	}
	if ok {
		ok = limiter(h.acc.regLimits, "key "+s.fingerprint, registerEvery, registerBurst).AllowN(now, 1)
	}
	h.acc.mu.Unlock()
	if !ok {
		return userErr("rate_limited", "too many registrations; wait a minute")
	}
	r := store.Registration{Nick: nick, Fold: foldNick(nick), Fingerprint: s.fingerprint, CreatedAt: now}
	taken := false
	if err := h.persist("registration", "registration failed, please try again", func(ctx context.Context) error {
		err := h.store.Register(ctx, r)
		taken = errors.Is(err, store.ErrExists)
		if taken {
			return nil
		}
		return err
	}); err != nil {
		return err
	}
	if taken {
		return userErr("nick_registered", "the nick "+nick+" is registered to another key")
	}
	h.acc.mu.Lock()
	h.acc.regs[r.Fold] = r
	h.acc.mu.Unlock()
	h.registrationChanged(nick)
	h.log.Info("register", "nick", nick, "key", s.fingerprint)
	h.notice(s, fmt.Sprintf("%s is now registered to your key %s. Nobody else can use it; connect with this key to get it back.", nick, s.fingerprint))
	return nil
}

func (h *Hub) unregister(s *Session, nick string) error {
	reg, found := h.registrationOf(nick)
	if s.fingerprint == "" || !found || reg.Fingerprint != s.fingerprint {
		return userErr("not_registered", nick+" is not registered to your key")
	}
	if err := h.persist("unregister", "could not unregister, please try again", func(ctx context.Context) error {
		// reg.Fold is the key it was stored under, which may be an older
		// fold.
		return h.store.Unregister(ctx, reg.Fold, s.fingerprint)
	}); err != nil {
		return err
	}
	h.acc.mu.Lock()
	delete(h.acc.regs, foldNick(nick))
	h.acc.mu.Unlock()
	h.registrationChanged(nick)
	h.log.Info("unregister", "nick", nick, "key", s.fingerprint)
	h.notice(s, nick+" is no longer registered")
	return nil
}

func hashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
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

// limiter returns the limiter for key in m, creating it. a.mu must be held.
func limiter(m map[string]*rate.Limiter, key string, every time.Duration, burst int) *rate.Limiter {
	l := m[key]
	if l == nil {
		if len(m) > 10000 { // bounded memory: forget everyone at once
			clear(m)
		}
		l = rate.NewLimiter(rate.Every(every), burst)
		m[key] = l
	}
	return l
}

// webLogin makes a one-time code that signs a browser in as s's key.
func (h *Hub) webLogin(s *Session) error {
	if s.fingerprint == "" {
		return userErr("needs_key", "/weblogin needs an SSH session authenticated with a key")
	}
	if len(h.NicksOf(s.fingerprint)) == 0 {
		return userErr("not_registered", "register a nick first with /register")
	}
	h.acc.mu.Lock()
	ok := limiter(h.acc.codeLimits, s.fingerprint, 2*time.Minute, 5).AllowN(h.now(), 1)
	h.acc.mu.Unlock()
	if !ok {
		return userErr("rate_limited", "too many codes; wait a few minutes")
	}
	raw := make([]byte, 10)
	rand.Read(raw)
	code := base32.StdEncoding.EncodeToString(raw)[:12]
	if err := h.persist("login code", "could not make a code, please try again", func(ctx context.Context) error {
		return h.store.AddLoginCode(ctx, hashSecret(code), s.fingerprint, h.now().Add(LoginCodeTTL))
	}); err != nil {
		return err
	}
	pretty := code[:4] + "-" + code[4:8] + "-" + code[8:]
	text := fmt.Sprintf("Web sign-in code: %s (valid for 5 minutes, once). Enter it in the web page's sign-in form", pretty)
	if h.publicURL != "" {
		text += " or open " + h.publicURL + "/?code=" + pretty
	}
	h.log.Info("weblogin code issued", "nick", s.Nick(), "key", s.fingerprint)
	h.notice(s, text+".")
	return nil
}

// Web sign-in errors.
var (
	ErrBadCode     = errors.New("that code is not valid (wrong, used or expired)")
	ErrRateLimited = errors.New("too many attempts; wait a minute")
)

// RedeemLoginCode turns a one-time code into a web session token for the
// code's key. Attempts are rate-limited per client address. Errors other
// than ErrBadCode and ErrRateLimited are store failures, already logged.
func (h *Hub) RedeemLoginCode(code, remote string) (token, fingerprint string, err error) {
	h.acc.mu.Lock()
	ok := limiter(h.acc.redeemLimit, remote, 12*time.Second, 5).AllowN(h.now(), 1)
	h.acc.mu.Unlock()
	if !ok {
		return "", "", ErrRateLimited
	}
	const refusal = "sign-in failed, please try again"
	var fp string
	bad := false
	if err := h.persist("login code use", refusal, func(ctx context.Context) error {
		var err error
		fp, err = h.store.UseLoginCode(ctx, hashSecret(normaliseCode(code)), h.now())
		bad = errors.Is(err, store.ErrNotFound)
		if bad {
			return nil
		}
		return err
	}); err != nil {
		return "", "", err
	}
	if bad {
		h.log.Info("weblogin refused", "remote", remote)
		return "", "", ErrBadCode
	}
	raw := make([]byte, 32)
	rand.Read(raw)
	token = base64.RawURLEncoding.EncodeToString(raw)
	now := h.now()
	if err := h.persist("web session", refusal, func(ctx context.Context) error {
		return h.store.AddWebSession(ctx, store.WebSession{TokenHash: hashSecret(token), Fingerprint: fp, CreatedAt: now, ExpiresAt: now.Add(WebSessionTTL)})
	}); err != nil {
		return "", "", err
	}
	h.log.Info("weblogin", "key", fp, "remote", remote)
	return token, fp, nil
}

// WebSessionKey returns the key a web session token signs in as. A token
// the store cannot check now signs in as nobody.
func (h *Hub) WebSessionKey(token string) (string, bool) {
	if token == "" {
		return "", false
	}
	var w store.WebSession
	found := false
	err := h.persist("web session lookup", "the sign-in could not be checked", func(ctx context.Context) error {
		var err error
		w, err = h.store.WebSessionByToken(ctx, hashSecret(token), h.now())
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

// Logout ends one web session, and closes the connections that browser
// opened with it: signing out of a shared computer must not leave a chat
// open under the owner's nick. If the store could not end it (the error,
// store_failed, is logged), the token still signs in: nothing is closed,
// and the browser is to keep its cookie and try again.
func (h *Hub) Logout(token string) error {
	if token == "" {
		return nil
	}
	hash := hashSecret(token)
	if err := h.persist("web sign-out", "sign-out failed, please try again", func(ctx context.Context) error {
		return h.store.DeleteWebSession(ctx, hash)
	}); err != nil {
		return err
	}
	for _, s := range h.sessionsWhere(func(o *Session) bool { return o.webLogin == hash }) {
		h.notice(s, "This browser was signed out.")
		s.Close(ReasonSignedOut)
	}
	return nil
}

// webLoginOf is what identifies a signed-in browser's connections.
func webLoginOf(id Identity) string {
	if id.Via != ViaWeb || id.WebToken == "" || id.Fingerprint == "" {
		return ""
	}
	return hashSecret(id.WebToken)
}

func (h *Hub) listWebSessions(s *Session) error {
	if s.fingerprint == "" {
		return userErr("needs_key", "only a key has web sessions")
	}
	var list []store.WebSession
	if err := h.persist("web sessions", "could not list sessions", func(ctx context.Context) error {
		var err error
		list, err = h.store.WebSessions(ctx, s.fingerprint, h.now())
		return err
	}); err != nil {
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d web session(s) for your key:", len(list))
	for _, w := range list {
		fmt.Fprintf(&b, "\n  %s signed in %s, expires %s", w.TokenHash[:8], w.CreatedAt.UTC().Format("2006-01-02 15:04 UTC"), w.ExpiresAt.UTC().Format("2006-01-02"))
	}
	h.notice(s, b.String())
	return nil
}

func (h *Hub) logoutAll(s *Session) error {
	if s.fingerprint == "" {
		return userErr("needs_key", "only a key has web sessions")
	}
	var n int64
	if err := h.persist("logout-all", "could not end the sessions", func(ctx context.Context) error {
		var err error
		n, err = h.store.DeleteWebSessions(ctx, s.fingerprint)
		return err
	}); err != nil {
		return err
	}
	// The answer is queued before the browsers are closed, so that it comes
	// before their part notices.
	h.log.Info("logout-all", "key", s.fingerprint, "sessions", n)
	h.notice(s, fmt.Sprintf("Ended %d web session(s).", n))
	for _, other := range h.sessionsWhere(func(o *Session) bool { return o.via == ViaWeb && o.fingerprint == s.fingerprint }) {
		h.notice(other, "This browser was signed out.")
		other.Close(ReasonSignedOut)
	}
	return nil
}

// sessionsWhere lists connected sessions matching keep.
func (h *Hub) sessionsWhere(keep func(*Session) bool) []*Session {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []*Session
	for _, s := range h.nicks {
		if keep(s) {
			out = append(out, s)
		}
	}
	return out
}
