package room

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/tertulia/tertulia/internal/access"
	"github.com/tertulia/tertulia/internal/store"
)

// Web sign-in lifetimes (see package access).
const (
	LoginCodeTTL  = access.LoginCodeTTL
	WebSessionTTL = access.WebSessionTTL
)

// Errors of Connect and of web sign-in, answered by package access.
var (
	// ErrBanned is returned by Connect for a banned key or address.
	ErrBanned = access.ErrBanned
	// ErrNotAllowed is returned by Connect when an allowlist is in force
	// and the key is not on it.
	ErrNotAllowed = access.ErrNotAllowed
	// ErrBadCode: a sign-in code that is wrong, used or expired.
	ErrBadCode = access.ErrBadCode
	// ErrRateLimited: too many sign-in attempts from an address.
	ErrRateLimited = access.ErrRateLimited
)

// WithAdmins makes these key fingerprints operators (from --admins).
func WithAdmins(fingerprints ...string) Option {
	return func(h *Hub) { h.accessCfg.Admins = append(h.accessCfg.Admins, fingerprints...) }
}

// WithAllowlist admits only the keys load returns; load is called at start
// and on /allowlist reload.
func WithAllowlist(load func() (map[string]bool, error)) Option {
	return func(h *Hub) { h.accessCfg.LoadAllowlist = load }
}

// WithMOTD sets the message of the day shown at join (from --motd).
func WithMOTD(text string) Option { return func(h *Hub) { h.accessCfg.MOTD = text } }

// WithPublicURL is the address of the web page, used in /weblogin links.
func WithPublicURL(u string) Option { return func(h *Hub) { h.publicURL = strings.TrimRight(u, "/") } }

// storeErr turns a store failure answered by package access into what the
// user is told; other errors pass unchanged.
func storeErr(err error) error {
	var f *store.Failure
	if errors.As(err, &f) {
		return userErr("store_failed", f.Refusal)
	}
	return err
}

// registeredTo is the key that registered nick, or "".
func (h *Hub) registeredTo(nick string) string {
	if ValidateNick(nick) != nil {
		return "" // nobody registers an invalid nick; and folding it could be long
	}
	return h.access.NickOwner(nick)
}

// NicksOf lists the nicks a key registered, oldest first.
func (h *Hub) NicksOf(fingerprint string) []string { return h.access.NicksOf(fingerprint) }

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
	return s.hub.access.OwnsFold(fold, s.fingerprint)
}

// IsOperator tells whether the session's key is an operator.
// A bot token's session never is: a leaked token must not moderate.
func (s *Session) IsOperator() bool {
	return s.botToken == "" && s.hub.access.IsOperator(s.fingerprint)
}

func (h *Hub) motd() string { return h.access.MOTD() }

// admit refuses banned keys and addresses, and keys off the allowlist.
func (h *Hub) admit(id Identity) error {
	addr, _ := netip.ParseAddr(id.Remote)
	return h.access.Admit(id.Fingerprint, addr)
}

// IsBannedAddr tells whether an address is banned, so front-ends can refuse
// a connection before any work.
func (h *Hub) IsBannedAddr(remote string) bool {
	addr, err := netip.ParseAddr(remote)
	if err != nil {
		return false
	}
	_, banned := h.access.BanFor("", addr)
	return banned
}

// register binds nick to s's key (the command table made sure s has one).
func (h *Hub) register(s *Session, nick string) error {
	added, err := h.access.Register(s.fingerprint, s.source, nick)
	var tooMany *access.TooManyNicksError
	switch {
	case errors.Is(err, access.ErrNickRegistered):
		return userErr("nick_registered", "the nick "+nick+" is registered to another key")
	case errors.As(err, &tooMany):
		return userErr("too_many_nicks", tooMany.Error()+"; /unregister one first")
	case errors.Is(err, access.ErrRateLimited):
		return userErr("rate_limited", "too many registrations; wait a minute")
	case err != nil:
		return storeErr(err)
	case !added:
		h.notice(s, nick+" is already registered to your key")
		return nil
	}
	h.registrationChanged(nick)
	// The other nodes read it, and list their sessions using nick again.
	h.moderationChanged(ModerationChange{Registration: nick, RegistrationKey: s.fingerprint})
	h.keyPersonFrom(s)
	h.claimAsKey(s)
	h.notice(s, fmt.Sprintf("%s is now registered to your key %s. Nobody else can use it; connect with this key to get it back.", nick, s.fingerprint))
	return nil
}

func (h *Hub) unregister(s *Session, nick string) error {
	if ValidateNick(nick) != nil {
		return userErr("not_registered", nick+" is not registered to your key")
	}
	err := h.access.Unregister(s.fingerprint, nick)
	if errors.Is(err, access.ErrNotRegistered) {
		return userErr("not_registered", nick+" is not registered to your key")
	}
	if err != nil {
		return storeErr(err)
	}
	h.registrationChanged(nick)
	h.moderationChanged(ModerationChange{Registration: nick, RegistrationKey: s.fingerprint})
	h.closeBotsUnder(s.fingerprint, nick)
	if len(h.NicksOf(s.fingerprint)) == 0 {
		// No longer known by its key: what it carried between visits goes.
		h.forgetKey(s.fingerprint)
	}
	h.notice(s, nick+" is no longer registered")
	return nil
}

// webLogin makes a one-time code that signs a browser in as s's key (the
// command table made sure s has one).
func (h *Hub) webLogin(s *Session) error {
	code, err := h.access.IssueCode(s.fingerprint)
	switch {
	case errors.Is(err, access.ErrNotRegistered):
		return userErr("not_registered", "register a nick first with /register")
	case errors.Is(err, access.ErrRateLimited):
		return userErr("rate_limited", "too many codes; wait a few minutes")
	case err != nil:
		return storeErr(err)
	}
	text := fmt.Sprintf("Web sign-in code: %s (valid for 5 minutes, once). Enter it in the web page's sign-in form", code)
	if h.publicURL != "" {
		text += " or open " + h.publicURL + "/?code=" + code
	}
	h.log.Info("weblogin code issued", "nick", s.Nick(), "key", s.fingerprint)
	h.notice(s, text+".")
	return nil
}

// RedeemLoginCode turns a one-time code into a web session token for the
// code's key. Attempts are rate-limited per client address. Errors other
// than ErrBadCode and ErrRateLimited are store failures, already logged.
func (h *Hub) RedeemLoginCode(code, remote string) (token, fingerprint string, err error) {
	token, fingerprint, err = h.access.Redeem(code, remote)
	return token, fingerprint, storeErr(err)
}

// WebSessionKey returns the key a web session token signs in as. A token
// the store cannot check now signs in as nobody.
func (h *Hub) WebSessionKey(token string) (string, bool) { return h.access.SessionKey(token) }

// Logout ends one web session, and closes the connections that browser
// opened with it: signing out of a shared computer must not leave a chat
// open under the owner's nick. If the store could not end it (the error,
// store_failed, is logged), the token still signs in: nothing is closed,
// and the browser is to keep its cookie and try again.
func (h *Hub) Logout(token string) error {
	if token == "" {
		return nil
	}
	if err := h.access.EndSession(token); err != nil {
		return storeErr(err)
	}
	id := access.SignInID(token)
	h.signOutLogin(id)
	h.moderationChanged(ModerationChange{SignOutLogin: id})
	return nil
}

// signOutLogin closes the connections here of the signed-in browser id.
func (h *Hub) signOutLogin(id string) {
	for _, s := range h.sessionsWhere(func(o *Session) bool { return o.webLogin == id }) {
		h.notice(s, "This browser was signed out.")
		s.Close(ReasonSignedOut)
	}
}

// webLoginOf is what identifies a signed-in browser's connections.
func webLoginOf(id Identity) string {
	if id.Via != ViaWeb || id.WebToken == "" || id.Fingerprint == "" {
		return ""
	}
	return access.SignInID(id.WebToken)
}

func (h *Hub) listWebSessions(s *Session) error {
	list, err := h.access.List(s.fingerprint)
	if err != nil {
		return storeErr(err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d web session(s) for your key:", len(list))
	for _, w := range list {
		fmt.Fprintf(&b, "\n  %s signed in %s, expires %s", w.ID, w.Created.UTC().Format("2006-01-02 15:04 UTC"), w.Expires.UTC().Format("2006-01-02"))
	}
	h.notice(s, b.String())
	return nil
}

func (h *Hub) logoutAll(s *Session) error {
	n, err := h.access.EndAll(s.fingerprint)
	if err != nil {
		return storeErr(err)
	}
	// The answer is queued before the browsers are closed, so that it comes
	// before their part notices.
	h.log.Info("logout-all", "key", s.fingerprint, "sessions", n)
	h.notice(s, fmt.Sprintf("Ended %d web session(s).", n))
	h.signOutKey(s.fingerprint)
	h.moderationChanged(ModerationChange{SignOutKey: s.fingerprint})
	return nil
}

// signOutKey closes the connections here of every browser signed in as
// the key (bots' are not signed in).
func (h *Hub) signOutKey(fingerprint string) {
	for _, other := range h.sessionsWhere(func(o *Session) bool { return o.via == ViaWeb && o.fingerprint == fingerprint && o.botToken == "" }) {
		h.notice(other, "This browser was signed out.")
		other.Close(ReasonSignedOut)
	}
}

// sessionsWhere lists connected sessions matching keep.
func (h *Hub) sessionsWhere(keep func(*Session) bool) []*Session {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []*Session
	for _, p := range h.nicks {
		for _, s := range p.sessions {
			if keep(s) {
				out = append(out, s)
			}
		}
	}
	return out
}
