package room

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"

	"golang.org/x/time/rate"

	"github.com/tertulia/tertulia/internal/access"
	"github.com/tertulia/tertulia/internal/connlimit"
	"github.com/tertulia/tertulia/internal/store"
)

// BotToken is a bot token as the hub knows it (only its hash is kept).
type BotToken = store.BotToken

// BotToken returns the bot token in force that token is: a front-end signs
// a connection or a request in with it. A wrong, revoked or unreadable
// token is simply not one.
func (h *Hub) BotToken(token string) (BotToken, bool) { return h.access.TokenFor(token) }

// BotTokenFrom is BotToken for a token presented by remote to sign in: a
// wrong one is refused with the bad token's code, and an address that
// presented too many lately with rate_limited, without a store look-up.
func (h *Hub) BotTokenFrom(token, remote string) (BotToken, error) {
	t, err := h.access.TokenFrom(token, remote)
	if errors.Is(err, access.ErrRateLimited) {
		return BotToken{}, userErr("rate_limited", "too many wrong bot tokens from your address; wait a minute")
	}
	return t, err
}

// newToken is /token new: a token for s's key under nick (default: s's).
func (h *Hub) newToken(s *Session, name, nick string) error {
	if name == "" {
		return userErr("usage", "usage: /token new NAME [NICK]")
	}
	if nick == "" {
		nick = s.Nick()
	}
	token, t, err := h.access.CreateToken(s.fingerprint, name, nick)
	switch {
	case errors.Is(err, access.ErrBadTokenName):
		return userErr("usage", err.Error())
	case errors.Is(err, access.ErrNotRegistered):
		return userErr("not_registered", "the nick "+nick+" is not registered to your key: /register it first")
	case errors.Is(err, access.ErrTokenExists):
		return userErr("token_exists", err.Error()+": /token revoke it or choose another name")
	case errors.Is(err, access.ErrTooManyTokens):
		return userErr("too_many_tokens", err.Error()+": /token revoke one first")
	case err != nil:
		return storeErr(err)
	}
	h.notice(s, fmt.Sprintf("Bot token %s for %s: %s\nIt is shown this once: keep it secret. It signs in as %s until /token revoke %s.", t.Name, t.Nick, token, t.Nick, t.Name))
	return nil
}

// listTokens is /token list [all].
func (h *Hub) listTokens(s *Session, which string) error {
	key := s.fingerprint
	switch which {
	case "":
	case "all":
		if !s.IsOperator() {
			return userErr("not_operator", "/token list all is for operators only")
		}
		key = ""
	default:
		return userErr("usage", "usage: /token list [all]")
	}
	list, err := h.access.Tokens(key)
	if err != nil {
		return storeErr(err)
	}
	var b strings.Builder
	if key == "" {
		fmt.Fprintf(&b, "%s on this server:", plural(len(list), "bot token", "bot tokens"))
	} else {
		fmt.Fprintf(&b, "%s of your key:", plural(len(list), "bot token", "bot tokens"))
	}
	for _, t := range list {
		fmt.Fprintf(&b, "\n  %s as %s, made %s", t.Name, t.Nick, t.CreatedAt.UTC().Format("2006-01-02 15:04 UTC"))
		if key == "" {
			b.WriteString(", key " + t.Fingerprint)
		}
	}
	h.notice(s, b.String())
	return nil
}

// revokeToken is /token revoke NAME [OWNER]: the token stops signing in at
// once, and its open connections are closed.
func (h *Hub) revokeToken(s *Session, name, owner string) error {
	if name == "" {
		return userErr("usage", "usage: /token revoke NAME [OWNER]")
	}
	key := s.fingerprint
	if owner != "" {
		if !s.IsOperator() {
			return userErr("not_operator", "only operators revoke another key's tokens")
		}
		key = owner
		if k := h.access.NickOwner(owner); k != "" {
			key = k
		}
	}
	t, err := h.access.RevokeToken(key, name)
	switch {
	case errors.Is(err, access.ErrNoToken):
		return userErr("no_such_token", "no token named "+name+" for that key (see /token list)")
	case err != nil:
		return storeErr(err)
	}
	h.notice(s, "Bot token "+t.Name+" ("+t.Nick+") revoked.")
	h.posters.forget(t.TokenHash)
	for _, o := range h.sessionsWhere(func(o *Session) bool { return o.botToken == t.TokenHash }) {
		h.fail(o, userErr(CodeRevoked, "the bot token this connection signed in with was revoked"))
		o.Close(ReasonRevoked)
	}
	return nil
}

// closeBotsUnder closes the bot-token sessions of key under nick, which
// the key gave up: their tokens sign in no more (access.Book.TokenFor).
func (h *Hub) closeBotsUnder(key, nick string) {
	fold := access.Fold(nick)
	for _, o := range h.sessionsWhere(func(o *Session) bool { return o.botToken != "" && o.fingerprint == key }) {
		if access.Fold(o.Nick()) == fold {
			h.fail(o, userErr(CodeRevoked, "the nick of the bot token this connection signed in with was unregistered"))
			o.Close(ReasonRevoked)
		}
	}
}

// posterTable holds the sessions HTTP posts are made as, one per token:
// what such a session keeps between requests is its rate budget.
type posterTable struct {
	mu      sync.Mutex
	byToken map[string]*poster
}

// poster is the session of one token's HTTP posts. It is in no room and
// in no member list: a post is a message of the token's nick, without a
// join and a part around it. mu serialises its posts, so that each reads
// its own answer from the session's queue.
type poster struct {
	mu sync.Mutex
	s  *Session
}

// maxPosters bounds the table: beyond it, an idle poster (its budget
// full again) makes room, so that filling the table resets no one's
// spent budget.
const maxPosters = 10000

func newPosterTable() *posterTable { return &posterTable{byToken: make(map[string]*poster)} }

func (t *posterTable) forget(tokenHash string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if p := t.byToken[tokenHash]; p != nil {
		// Not Close: the session is in no room and has nothing to leave.
		p.s.closeOnce.Do(func() { close(p.s.done) })
		delete(t.byToken, tokenHash)
	}
}

// evictLocked drops one poster whose budget is full again (nothing to
// reset), else any one. t.mu must be held.
func (t *posterTable) evictLocked(burst int) {
	victim := ""
	for hash, p := range t.byToken {
		victim = hash
		if p.s.limiter.Tokens() >= float64(burst) {
			break
		}
	}
	delete(t.byToken, victim)
}

// poster returns the token's poster, making it.
func (h *Hub) poster(tok BotToken, remote string) *poster {
	t := h.posters
	t.mu.Lock()
	defer t.mu.Unlock()
	if p := t.byToken[tok.TokenHash]; p != nil && p.s.Nick() == tok.Nick {
		return p
	}
	if len(t.byToken) >= maxPosters {
		t.evictLocked(h.rateBurst)
	}
	s := &Session{
		hub: h, id: h.nextSess.Add(1), via: ViaWeb, fingerprint: tok.Fingerprint, remote: remote,
		botToken: tok.TokenHash, since: h.now(),
		out:  make(chan *Event, 8),
		done: make(chan struct{}),
		// The same budget as a connection's.
		limiter: rate.NewLimiter(rate.Limit(h.ratePerSec), h.rateBurst),
		nick:    tok.Nick, fold: access.Fold(tok.Nick),
	}
	s.source, _ = connlimit.SourceOf(remote)
	p := &poster{s: s}
	t.byToken[tok.TokenHash] = p
	return p
}

// Post stores text as a message of room from tok's nick, as a websocket's
// say would be, with the same limits (size, lines, rate), cleaning and
// moderation (bans, mutes); a post with a cid its key used in the last
// ten minutes is not stored again, the first one's message is returned.
// It returns the stored message. Errors are *UserError.
func (h *Hub) Post(tok BotToken, remote, roomArg, text, cid string) (*Event, error) {
	if err := validCID(cid); err != nil {
		return nil, err
	}
	p, err := h.enterPoster(tok, remote)
	if err != nil {
		return nil, err
	}
	defer p.mu.Unlock()
	s := p.s
	text = normaliseBreaks(text)
	if utf8.RuneCountInString(text) > h.maxMessage {
		return nil, userErr("too_long", fmt.Sprintf("message not sent: longer than %d characters", h.maxMessage))
	}
	text, lines := MessageText(text)
	if text == "" {
		return nil, userErr("empty", "message not sent: nothing is left of it once cleaned")
	}
	if h.maxLines > 0 && lines > h.maxLines {
		return nil, userErr("too_many_lines", fmt.Sprintf("message not sent: more than %d lines", h.maxLines))
	}
	r, err := h.roomByName(roomName(roomArg), false)
	if err != nil {
		return nil, err
	}
	given := cid
	if cid == "" {
		// say answers the sender only a say with a cid: one nobody
		// else can have used.
		raw := make([]byte, 12)
		rand.Read(raw)
		cid = "post-" + base64.RawURLEncoding.EncodeToString(raw)
	}
	// Copies of earlier posts that came after their answer (see
	// awaitEcho) are not this one's.
	for len(s.out) > 0 {
		<-s.out
	}
	s.saying.Store(&sayTag{cid: cid})
	defer s.saying.Store(nil)
	if err := h.say(s, r, text, false); err != nil {
		return nil, err
	}
	echo := h.awaitEcho(s, cid)
	if echo == nil {
		return nil, userErr("internal", "message not confirmed")
	}
	if echo.CID == given {
		return echo, nil
	}
	// The cid made here is not the client's to see.
	return &Event{Kind: echo.Kind, ID: echo.ID, Room: echo.Room, From: echo.From, Text: echo.Text, Time: echo.Time, CID: given, fromKey: echo.fromKey}, nil
}

// awaitEcho waits for the poster's copy of the message it just said with
// cid, for at most storeTimeout; nil if it did not come. On one node it
// is queued before say returns; in a cluster the room's feed delivers it
// in the store's order, which may first wait for another node's entry.
func (h *Hub) awaitEcho(s *Session, cid string) *Event {
	deadline := h.after(storeTimeout)
	for {
		select {
		case ev := <-s.out:
			if ev.Kind == KindMessage && ev.CID == cid {
				return ev
			}
		case <-deadline:
			return nil
		case <-s.done:
			return nil
		}
	}
}

// enterPoster checks that tok's key and remote are admitted and spends
// one unit of the token's rate budget, as a websocket's frame does; it
// returns the token's poster, locked.
func (h *Hub) enterPoster(tok BotToken, remote string) (*poster, error) {
	if err := h.admit(Identity{Fingerprint: tok.Fingerprint, Remote: remote}); err != nil {
		return nil, admitRefusal(err)
	}
	p := h.poster(tok, remote)
	p.mu.Lock()
	s := p.s
	s.remote = remote
	s.source, _ = connlimit.SourceOf(remote)
	h.obs.InputReceived(s.via)
	if !s.limiter.AllowN(h.now(), 1) {
		p.mu.Unlock()
		return nil, userErr("rate_limited", fmt.Sprintf("slow down: at most %d requests at once, then %g a second; not done", h.rateBurst, h.ratePerSec))
	}
	return p, nil
}

// MessagesAfter returns, as a history event, up to limit messages of room
// newer than after (oldest first; More: newer ones remain): what the HTTP
// API reads with tok, spending its rate budget.
func (h *Hub) MessagesAfter(tok BotToken, remote, roomArg string, after uint64, limit int) (*Event, error) {
	p, err := h.enterPoster(tok, remote)
	if err != nil {
		return nil, err
	}
	p.mu.Unlock()
	r, err := h.roomByName(roomName(roomArg), false)
	if err != nil {
		return nil, err
	}
	ev := &Event{After: after, Forward: true}
	if err := h.readHistoryPage(p.s, r, limit, after, h.storedAfter, ev); err != nil {
		return nil, err
	}
	return ev, nil
}
