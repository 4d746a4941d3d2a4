package room

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"golang.org/x/time/rate"

	"github.com/tertulia/tertulia/internal/access"
	"github.com/tertulia/tertulia/internal/connlimit"
	"github.com/tertulia/tertulia/internal/store"
)

// Defaults for the hub's limits.
const (
	DefaultLobby      = "lobby"
	DefaultQueueSize  = 256
	DefaultMaxMessage = 2000
	DefaultHistory    = 50
	DefaultMaxRooms   = 1000
	// DefaultMaxLines is how many lines one message may have.
	DefaultMaxLines = 20
	// DefaultMaxNicksPerKey is how many nicks one key may register.
	DefaultMaxNicksPerKey = 5
	// A session may send DefaultRateBurst lines at once, then
	// DefaultRatePerSecond a second; DefaultFloodLimit refused lines in a
	// row disconnect it.
	DefaultRateBurst     = 10
	DefaultRatePerSecond = 2.0
	DefaultFloodLimit    = 20
	// A session lagging behind its queue that writes nothing for
	// DefaultSlowTimeout is dropped as too slow.
	DefaultSlowTimeout = 30 * time.Second
	// A session, and all the sessions of one address together, may create
	// DefaultRoomCreateBurst rooms at once, then one every
	// DefaultRoomCreateInterval.
	DefaultRoomCreateBurst    = 5
	DefaultRoomCreateInterval = time.Minute
	// An empty room with nothing stored in it is removed once it has been
	// empty for DefaultRoomReclaimAfter.
	DefaultRoomReclaimAfter = 10 * time.Minute
	// storeTimeout bounds one store operation made for a user.
	storeTimeout = store.DefaultCallTimeout
)

// Connect's refusals are *UserError values with a code (bad_nick,
// nick_taken, nick_registered, banned, not_allowed, stopping,
// too_many_sessions); those below
// are found in them with errors.Is.

// ErrNickTaken is returned by Connect when the nick is in use and no
// alternative was allowed.
var ErrNickTaken = errors.New("nick is already in use")

// ErrNickRegistered is returned by Connect when the nick belongs to another
// key and no alternative was allowed.
var ErrNickRegistered = errors.New("nick is registered to another key")

// ErrStopping is returned by Connect once Shutdown has begun.
var ErrStopping = errors.New("server is stopping")

// Hub is the registry of rooms and sessions shared by every front-end.
type Hub struct {
	lobby      string
	queueSize  int
	maxMessage int
	maxLines   int // 0: no cap but maxMessage
	log        *slog.Logger
	now        func() time.Time
	commands   *commandTable
	obs        Observer
	// cids remembers the client ids of stored messages (see InputWithCID).
	cids *cidTable
	// posters are the sessions HTTP posts are made as (see Post).
	posters *posterTable
	// store is never nil: a hub given none keeps everything in memory.
	store store.Store
	// calls runs every store operation made for a user, the hub's and
	// access's (see persist); stopStore cancels its context when Shutdown
	// returns.
	calls     *store.Calls
	stopStore context.CancelFunc
	history   int
	maxRooms  int
	storePM   bool
	// access is who may do what: registrations, operators, bans, mutes,
	// the allowlist, web sign-in and the message of the day.
	access     *access.Book
	accessCfg  access.Config
	rateBurst  int
	ratePerSec float64
	floodLimit int
	publicURL  string
	// slowTimeout: see deliver; 0 or less drops a session as soon as its
	// queue is full, skipping no messages.
	slowTimeout time.Duration
	// summaryAbove: rooms of more members sum up presence (presence.go);
	// 0: never. after waits for a room's next summary.
	summaryAbove int
	after        func(time.Duration) <-chan time.Time
	// Room creation budget (per session and per address) and reclaiming.
	roomBurst    int
	roomEvery    time.Duration
	reclaimAfter time.Duration // 0 or less: never
	roomCreators *creatorTable
	// oneShotRates: the input budgets one-shot sessions share (oneshot.go).
	oneShotRates *oneShotRates
	// What is kept for a registered user while offline (offline.go).
	offlineRetention time.Duration
	maxWaiting       int
	// bus shares stored entries with the other nodes of a cluster (nil:
	// a single node; see bus.go); claims keeps nicks unique across them
	// (claims.go).
	bus      Bus
	claims   NickClaims
	presence Presence
	// remote reaches people on the cluster's other nodes (nil: a single
	// node; see bus_pm.go).
	remote Remote
	// moderationSync tells the other nodes of moderation changes
	// (bus_moderation.go).
	moderationSync func(ModerationChange)
	// stored is the shared store's rooms as last read (cluster mode,
	// roomdir.go).
	stored storedRooms

	// settingsMu makes each change of a user's settings one step: stored,
	// then given to the key's sessions (see changeSettings). Striped by
	// key, so that one key's slow store write does not hold up everyone
	// else's settings.
	settingsMu   [settingsStripes]sync.Mutex
	defaultPrefs *Preferences
	// defaultSettings is the settings event of defaultPrefs.
	defaultSettings *Event

	// reads are the keys' read markers (readmarks.go), written to the
	// store together at most once every readFlushEvery.
	reads          *readBook
	readFlushEvery time.Duration

	nextPM     atomic.Uint64 // private message ids when they are not stored
	lastPM     atomic.Uint64 // the largest private message id given out
	nextSess   atomic.Uint64
	nextPerson atomic.Uint64
	sessCount  atomic.Int64
	// maxSessionsPerKey caps a registered key's sessions (0: no cap).
	maxSessionsPerKey int

	mu       sync.Mutex
	stopping bool
	// fences counts DisconnectAll's and SettleNicks' calls: a nick
	// claimed across the cluster while one ran is not taken (its session
	// would escape it).
	fences uint64
	nicks  map[string]*person // by folded nick
	// keyPeople are the people of registered keys, by fingerprint: a
	// key's new session joins its person (person.go).
	keyPeople map[string]*person
	rooms     map[string]*Room
	// busyRooms are names being created or removed (their store work is
	// under way): they count against maxRooms, and others wanting the
	// name wait for the channel to close.
	busyRooms map[string]chan struct{}
	left      chan struct{} // signalled when a session leaves during shutdown
}

// Option configures a Hub.
type Option func(*Hub)

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(h *Hub) { h.log = l } }

// WithClock replaces time.Now, for tests.
func WithClock(now func() time.Time) Option { return func(h *Hub) { h.now = now } }

// WithQueueSize bounds each session's outbound queue.
func WithQueueSize(n int) Option { return func(h *Hub) { h.queueSize = n } }

// WithMaxMessage limits a message's length, in characters.
func WithMaxMessage(n int) Option { return func(h *Hub) { h.maxMessage = n } }

// WithMaxLines limits how many lines one message may have; 0: no limit
// other than its length.
func WithMaxLines(n int) Option { return func(h *Hub) { h.maxLines = n } }

// MaxMessage is the longest message accepted, in characters
// (--max-message), for front-ends that bound their input to it.
func (h *Hub) MaxMessage() int { return h.maxMessage }

// WithStore makes rooms, topics, messages, identities and moderation
// persistent (default: a store.Memory, which keeps them until the process
// ends).
func WithStore(st store.Store) Option { return func(h *Hub) { h.store = st } }

// WithHistory sets how many recent messages a joiner receives.
func WithHistory(n int) Option { return func(h *Hub) { h.history = n } }

// WithMaxRooms bounds the number of rooms.
func WithMaxRooms(n int) Option { return func(h *Hub) { h.maxRooms = n } }

// WithMaxNicksPerKey caps how many nicks one key may register; n <= 0
// means no cap.
func WithMaxNicksPerKey(n int) Option {
	return func(h *Hub) { h.accessCfg.MaxNicksPerKey = max(n, 0) }
}

// WithRate sets each session's input budget: burst lines at once, then
// perSecond a second.
func WithRate(burst int, perSecond float64) Option {
	return func(h *Hub) { h.rateBurst, h.ratePerSec = burst, perSecond }
}

// WithFloodLimit disconnects a session after this many refused lines in a
// row.
func WithFloodLimit(n int) Option { return func(h *Hub) { h.floodLimit = n } }

// WithSlowTimeout sets how long a session whose queue filled up may go
// without writing anything before it is dropped as too slow; 0 or less
// drops it as soon as its queue is full (no message is ever skipped).
func WithSlowTimeout(d time.Duration) Option { return func(h *Hub) { h.slowTimeout = d } }

// WithRoomCreation lets each session, and all the sessions of one address
// together, create burst rooms at once, then one every interval.
func WithRoomCreation(burst int, every time.Duration) Option {
	return func(h *Hub) { h.roomBurst, h.roomEvery = burst, every }
}

// WithRoomReclaim removes rooms with nothing stored in them once they have
// been empty for d, and at startup (0 or less: never).
func WithRoomReclaim(d time.Duration) Option { return func(h *Hub) { h.reclaimAfter = d } }

// WithStorePrivate stores private messages too (off by default).
func WithStorePrivate(on bool) Option { return func(h *Hub) { h.storePM = on } }

// NewHub returns a hub with the lobby room. With a store given, call
// LoadRooms before connecting sessions.
func NewHub(opts ...Option) *Hub {
	h := &Hub{
		lobby:      DefaultLobby,
		queueSize:  DefaultQueueSize,
		maxMessage: DefaultMaxMessage,
		maxLines:   DefaultMaxLines,
		history:    DefaultHistory,
		maxRooms:   DefaultMaxRooms,
		rateBurst:  DefaultRateBurst,
		ratePerSec: DefaultRatePerSecond,
		floodLimit: DefaultFloodLimit,
		log:        slog.Default(),
		now:        time.Now,
		after:      time.After,
		nicks:      make(map[string]*person),
		keyPeople:  make(map[string]*person),
		rooms:      make(map[string]*Room),
		left:       make(chan struct{}, 1),
		obs:        nopObserver{},
		accessCfg:  access.Config{MaxNicksPerKey: DefaultMaxNicksPerKey},
		cids:       newCIDTable(),
		posters:    newPosterTable(),

		maxSessionsPerKey: DefaultMaxSessionsPerKey,

		slowTimeout:  DefaultSlowTimeout,
		roomBurst:    DefaultRoomCreateBurst,
		roomEvery:    DefaultRoomCreateInterval,
		reclaimAfter: DefaultRoomReclaimAfter,
		summaryAbove: DefaultPresenceSummaryAbove,
		busyRooms:    make(map[string]chan struct{}),

		offlineRetention: DefaultOfflineRetention,
		maxWaiting:       DefaultMaxWaiting,
		reads:            newReadBook(),
		readFlushEvery:   DefaultReadFlushEvery,
	}
	for _, o := range opts {
		o(h)
	}
	if h.store == nil {
		// A new memory store holds what LoadRooms would make of it: the
		// lobby. Memory cannot fail this.
		mem := store.NewMemory()
		_ = mem.EnsureRoom(context.Background(), store.Room{Name: h.lobby, CreatedAt: h.now()})
		h.store = mem
	}
	storeCtx, stopStore := context.WithCancel(context.Background())
	h.calls, h.stopStore = store.NewCalls(storeCtx, storeTimeout, h.log), stopStore
	h.access = access.New(access.Deps{Store: h.store, Calls: h.calls, Now: h.now, Log: h.log}, h.accessCfg)
	h.commands = newCommandTable()
	h.defaultPrefs = newPreferences(Settings{})
	h.defaultSettings = &Event{Kind: KindSettings, Prefs: h.defaultPrefs, Time: h.now()}
	h.roomCreators = newCreatorTable(h.roomBurst, h.roomEvery)
	h.oneShotRates = &oneShotRates{byIdentity: make(map[string]*rate.Limiter)}
	h.rooms[h.lobby] = newRoom(h.lobby, h.now())
	return h
}

// Identity is what a front-end knows about a connecting user.
type Identity struct {
	Nick        string // wanted nick
	Via         Via
	Fingerprint string // SHA256 key fingerprint, only if the key was proven
	Remote      string // client address
	// WebToken is the sign-in token a browser's connection presented (web
	// only): signing that browser out closes the connection too.
	WebToken string
	// BotToken is the hash (access.SignInID) of the bot token the
	// connection signed in with (see Hub.BotToken), or "". Such a session
	// is a person of its own under the token's nick, never an operator,
	// and carries nothing between visits of the key; revoking the token
	// closes it.
	BotToken string
	// Bot: the client is a program (a hello's "bot": true). It is shown
	// as one in member lists, joins and /whois, and is sent no MOTD and no
	// history when it joins a room (it asks for history if it wants it).
	Bot bool
	// AltNick lets Connect pick "nick_2", "nick_3"... when the nick is taken
	// (SSH), instead of failing with ErrNickTaken (web).
	AltNick bool
	// Settings: the front-end is sent KindSettings events (the web page),
	// at connection and whenever the user's settings change.
	Settings bool
	// OneShot: a session for one command (SSH exec, see oneshot.go): it
	// joins no room and is in no member list, so nobody sees it come or
	// go; it gets no welcome, MOTD or history unless it asks.
	OneShot bool
}

// Connect registers a session under a unique nick and puts it in the lobby.
// The session's first events are its welcome, its own join and the lobby's
// member list; a registered key is then put back in the other rooms it was
// in (see rejoinKeyRooms), the lobby staying current. A registered key's
// session, while the key has others, joins their person instead: it takes
// their nick and is put in their rooms (person.go), and the others see no
// one join. A refusal is a *UserError.
func (h *Hub) Connect(id Identity) (*Session, error) {
	if err := ValidateNick(id.Nick); err != nil {
		return nil, err
	}
	if err := h.admit(id); err != nil {
		h.log.Info("connect refused", "nick", id.Nick, "via", id.Via, "remote", id.Remote, "key", id.Fingerprint, "err", err)
		return nil, admitRefusal(err)
	}
	s := &Session{
		hub:         h,
		id:          h.nextSess.Add(1),
		via:         id.Via,
		fingerprint: id.Fingerprint,
		remote:      id.Remote,
		webLogin:    webLoginOf(id),
		botToken:    id.BotToken,
		bot:         id.Bot,
		since:       h.now(),
		out:         make(chan *Event, h.queueSize),
		done:        make(chan struct{}),
		limiter:     rate.NewLimiter(rate.Limit(h.ratePerSec), h.rateBurst),

		wantsSettings: id.Settings,
		oneShot:       id.OneShot,
	}
	s.source, _ = connlimit.SourceOf(id.Remote)
	if s.oneShot {
		s.limiter = h.oneShotLimiter(s)
	}
	p, wanted, err := h.enterPerson(s, id)
	if err != nil {
		return nil, err
	}
	// Held until s is in its rooms: a join or part of the person made
	// meanwhile on another device waits, then includes s.
	defer p.memberMu.Unlock()
	nick := s.Nick()
	lobby := h.lobbyRoom()
	h.sessCount.Add(1)
	h.obs.SessionOpened(id.Via)

	h.log.Info("connect", "nick", nick, "via", id.Via, "remote", id.Remote, "key", id.Fingerprint)
	h.loadSettings(s)
	h.attachReads(s)
	if s.oneShot {
		return s, nil
	}
	s.deliver(&Event{Kind: KindWelcome, From: nick, Rooms: []string{lobby.name}, Time: h.now(), MaxMessage: h.maxMessage, MaxLines: h.maxLines})
	if motd := h.motd(); motd != "" && !s.bot {
		h.notice(s, motd)
	}
	h.joinRoom(s, lobby)
	if wanted == "" && h.othersAreOneShots(s) {
		// The person is only one-shots (a `tail -f` running, say): s
		// arrives as the person's first device would, rooms and all.
		wanted = nick
	}
	switch {
	case wanted == "":
		// Another session of the key: the person's nick, whatever was
		// asked. Connecting puts the person in the lobby, as it always
		// has: its other sessions too if they had left it, without
		// switching them to it.
		for _, o := range h.sessionsOf(s)[1:] {
			if !lobby.hasMember(o) {
				h.joinRoomAs(o, lobby, false)
			}
		}
		if away := s.awayReason(); away != "" {
			h.notice(s, "You are marked as away: "+away)
		}
		h.takePersonRooms(s)
		_ = s.SetCurrentRoom(lobby.name)
		h.sendSettings(s)
		return s, nil
	case nick == wanted:
	case h.registeredTo(wanted) != "" && h.registeredTo(wanted) != id.Fingerprint:
		h.notice(s, fmt.Sprintf("The nick %s is registered to another key; you are %s. Use /nick to change it.", wanted, nick))
	default:
		h.notice(s, fmt.Sprintf("The nick %s is taken; you are %s. Use /nick to change it.", wanted, nick))
	}
	h.rejoinKeyRooms(s, lobby)
	h.welcomeBack(s)
	h.sendSettings(s)
	return s, nil
}

// sendSettings tells a front-end that asked for them (the web page) its
// user's settings, at connection.
func (h *Hub) sendSettings(s *Session) {
	if s.wantsSettings {
		s.deliver(h.settingsEvent(s.Preferences()))
	}
}

// lobbyRoom is the lobby.
func (h *Hub) lobbyRoom() *Room {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.rooms[h.lobby]
}

// enterPerson gives s its person and nick: the person of its registered
// key if the key has sessions already (wanted is then ""), else a new one
// under wanted, the nick the key may use for what was asked, or with
// id.AltNick an alternative. It returns with the person's memberMu held.
func (h *Hub) enterPerson(s *Session, id Identity) (p *person, wanted string, err error) {
	for {
		p, wanted, err = h.enterPersonOnce(s, id)
		if err != errEnterAgain {
			return p, wanted, err
		}
	}
}

// errEnterAgain: things changed while a nick was claimed across the
// cluster; enterPersonOnce is run again.
var errEnterAgain = errors.New("enter again")

// enterPersonOnce is enterPerson, or errEnterAgain.
func (h *Hub) enterPersonOnce(s *Session, id Identity) (p *person, wanted string, err error) {
	for {
		h.mu.Lock()
		if h.stopping {
			h.mu.Unlock()
			return nil, "", refusal(CodeStopping, ErrStopping)
		}
		if p = h.keyPeople[id.Fingerprint]; p == nil || id.Fingerprint == "" || id.BotToken != "" {
			break
		}
		// The person's memberMu comes before h.mu: look the person up
		// again once holding it.
		h.mu.Unlock()
		p.memberMu.Lock()
		h.mu.Lock()
		if h.keyPeople[id.Fingerprint] != p || h.stopping {
			h.mu.Unlock()
			p.memberMu.Unlock()
			continue
		}
		if h.maxSessionsPerKey > 0 && len(p.sessions) >= h.maxSessionsPerKey {
			h.mu.Unlock()
			p.memberMu.Unlock()
			h.log.Info("connect refused", "nick", id.Nick, "via", id.Via, "remote", id.Remote, "key", id.Fingerprint, "err", ErrTooManySessions)
			return nil, "", refusal(CodeTooManySessions, fmt.Errorf("%w (at most %d at once): close one first", ErrTooManySessions, h.maxSessionsPerKey))
		}
		first := p.sessions[0]
		first.mu.Lock()
		s.nick, s.fold, s.away = first.nick, first.fold, first.away
		s.muted, s.mutedUntil = first.muted, first.mutedUntil
		first.mu.Unlock()
		s.person = p
		p.sessions = append(p.sessions, s)
		h.mu.Unlock()
		return p, "", nil
	}
	defer h.mu.Unlock()
	wanted = h.access.OwnedNick(id.Nick, id.Fingerprint)
	claim := NickClaim{Session: s.id}
	if id.Fingerprint != "" && id.BotToken == "" && len(h.access.NicksOf(id.Fingerprint)) > 0 {
		claim = NickClaim{Fingerprint: id.Fingerprint}
	}
	// Nicks held on other nodes (cluster mode), by fold.
	elsewhere := map[string]bool{}
	for {
		nick, err := h.freeNickLocked(wanted, id.Fingerprint, id.AltNick, elsewhere)
		if err != nil {
			return nil, "", err
		}
		fold := access.Fold(nick)
		if h.claims != nil {
			// Claimed across the cluster without h.mu (the bus may be
			// slow), then checked here again.
			fences := h.fences
			h.mu.Unlock()
			held, err := h.claimNick(fold, claim)
			h.mu.Lock()
			if err != nil {
				return nil, "", err
			}
			if !held && h.fences != fences {
				// The node fenced itself meanwhile: this session, not yet
				// listed, was not closed with the others, and the cluster
				// may give its nick away.
				h.mu.Unlock()
				h.releaseNick(fold, claim)
				h.mu.Lock()
				return nil, "", refusal(CodeClusterUnavailable, ErrClaimsUnavailable)
			}
			if held {
				elsewhere[fold] = true
				continue
			}
			again, err := h.freeNickLocked(nick, id.Fingerprint, false, nil)
			if err != nil || again != nick || h.stopping || (claim.Fingerprint != "" && h.keyPeople[claim.Fingerprint] != nil) {
				// Taken here meanwhile, or the key's first session came
				// in: start again.
				h.mu.Unlock()
				h.releaseNick(fold, claim)
				h.mu.Lock()
				if h.stopping || (claim.Fingerprint != "" && h.keyPeople[claim.Fingerprint] != nil) {
					return nil, "", errEnterAgain
				}
				continue
			}
		}
		p = &person{id: h.nextPerson.Add(1), sessions: []*Session{s}, claim: claim}
		// Not published yet: nobody else can hold its lock.
		p.memberMu.Lock()
		if claim.Fingerprint != "" {
			p.key = id.Fingerprint
			h.keyPeople[p.key] = p
		}
		s.person = p
		s.nick, s.fold = nick, fold
		h.nicks[s.fold] = p
		return p, wanted, nil
	}
}

// admitRefusal is admit's error as Connect reports it.
func admitRefusal(err error) error {
	switch {
	case errors.Is(err, ErrBanned):
		return refusal("banned", err)
	case errors.Is(err, ErrNotAllowed):
		return refusal("not_allowed", err)
	}
	return err
}

// freeNickLocked returns nick if this key may use it now, or with alt an
// unused, unregistered "nick_N"; nicks whose folds are in elsewhere are
// in use on other nodes. h.mu must be held.
func (h *Hub) freeNickLocked(nick, fingerprint string, alt bool, elsewhere map[string]bool) (string, error) {
	usable := func(n string) bool {
		fold := access.Fold(n)
		if _, taken := h.nicks[fold]; taken || elsewhere[fold] {
			return false
		}
		owner := h.registeredTo(n)
		return owner == "" || owner == fingerprint
	}
	if usable(nick) {
		return nick, nil
	}
	if !alt {
		if owner := h.registeredTo(nick); owner != "" && owner != fingerprint {
			return "", refusal("nick_registered", ErrNickRegistered)
		}
		return "", refusal("nick_taken", ErrNickTaken)
	}
	for i := 2; ; i++ {
		suffix := fmt.Sprintf("_%d", i)
		base := nick
		for utf8.RuneCountInString(base)+len(suffix) > MaxNickLen {
			_, size := utf8.DecodeLastRuneInString(base)
			base = base[:len(base)-size]
		}
		if usable(base + suffix) {
			return base + suffix, nil
		}
	}
}

// joinRoom adds s to r (if not already in) and makes r its current room;
// false if r has been removed meanwhile. The joiner receives, in order: its
// join, the member list, the room's recent history, then live events:
// nothing missing or repeated between history and live, since all of it is
// queued under the room lock.
func (h *Hub) joinRoom(s *Session, r *Room) bool {
	return h.joinRoomAs(s, r, true)
}

// joinRoomAs is joinRoom; current tells whether r becomes the current room
// of s.
func (h *Hub) joinRoomAs(s *Session, r *Room, current bool) bool {
	if s.oneShot {
		// Never a member, even when its person joins a room elsewhere.
		return true
	}
	h.follow(r)
	r.mu.Lock()
	joined := h.joinRoomLocked(s, r, current)
	// The feed stopped (its last member left) since follow: start it again
	// now that s is in, catching up with what came meanwhile.
	refollow := joined && h.bus != nil && r.feed == nil
	r.mu.Unlock()
	if refollow {
		h.follow(r)
	}
	return joined
}

// joinRoomLocked is joinRoomAs once r is followed. r.mu must be held.
func (h *Hub) joinRoomLocked(s *Session, r *Room, current bool) bool {
	if r.removed.Load() {
		return false
	}
	s.mu.Lock()
	if current || s.current == nil {
		s.current = r
	}
	if _, in := r.members[s]; in || s.closed {
		// A closed session is leaving (or has left) its rooms: another
		// device's join must not put it back in one.
		s.mu.Unlock()
		return true
	}
	s.rooms = append(s.rooms, r)
	s.mu.Unlock()
	s.forgetLagLocked(r)
	// Read after r joined s.rooms: a concurrent nick, away or registration
	// change either refreshes r after this or is already read here.
	key, m := h.memberInfo(s)
	now := h.now()
	// Listed already by another node: only s sees it join.
	if r.addLocked(s, key, m) && !r.remoteHasLocked(key) {
		r.presenceLocked(h, &Event{Kind: KindJoin, From: m.Nick, Via: s.via, Registered: m.Registered, Bot: m.Bot, Count: r.countLocked()}, noteJoin(m.Nick), s)
	} else {
		// Another device of someone in r already: only s sees it join.
		s.deliver(&Event{Kind: KindJoin, Room: r.name, From: m.Nick, Via: s.via, Registered: m.Registered, Bot: m.Bot, Count: r.countLocked(), Time: now})
	}
	s.deliver(r.membersEventLocked(h, now))
	if r.topic != "" {
		s.deliver(&Event{Kind: KindTopic, Room: r.name, Text: r.topic, Time: now})
	}
	if !s.bot {
		s.deliver(&Event{Kind: KindHistory, Room: r.name, History: append([]*Event(nil), r.recent...), More: r.older, Time: now})
	}
	h.readOnJoinLocked(s, r, now)
	// The join does not say the joiner is away; after the joiner's own
	// join sequence, which its member list completes.
	if i := r.indexLocked(s); r.order[i].s == s {
		r.publishAwayLocked(h, s, Member{}, m)
	} else if m.Away != "" {
		s.deliver(&Event{Kind: KindAway, Room: r.name, From: m.Nick, Text: m.Away, Time: now})
	}
	return true
}

// Leave removes the session from its rooms and frees its nick; the other
// members see it part with the session's close reason. Front-ends call it
// once the connection is gone; it is idempotent.
func (s *Session) Leave() {
	s.leaveOnce.Do(func() {
		s.Close(ReasonClosed)
		h := s.hub
		h.mu.Lock()
		s.mu.Lock()
		nick, fold := s.nick, s.fold
		s.mu.Unlock()
		p := s.person
		p.sessions = slices.DeleteFunc(p.sessions, func(o *Session) bool { return o == s })
		release, claim := "", p.claim
		if len(p.sessions) == 0 {
			if h.nicks[fold] == p {
				delete(h.nicks, fold)
				release = fold
			}
			if p.key != "" && h.keyPeople[p.key] == p {
				delete(h.keyPeople, p.key)
			}
		}
		stopping := h.stopping
		h.mu.Unlock()
		h.releaseNick(release, claim)
		if !stopping { // Shutdown records every key as seen at once
			h.noteKeySeen(s)
		}
		h.unwatchAll(s)
		reason, partText := s.CloseReason(), s.partText()
		for _, r := range s.joinedRooms() {
			r.mu.Lock()
			// The others see the person part with its last session.
			if _, last := r.leaveLocked(h, s); last && !r.remoteHasLocked(fold) {
				r.presenceLocked(h, &Event{Kind: KindPart, From: nick, Text: partText, Count: r.countLocked()}, notePart(nick))
			}
			r.mu.Unlock()
			h.unfollowIfEmpty(r)
		}
		s.mu.Lock()
		s.rooms, s.current = nil, nil
		s.replyTo = replyTarget{} // a session gone keeps no other one alive
		s.mu.Unlock()
		h.detachReads(s)
		h.sessCount.Add(-1)
		h.obs.SessionClosed(s.via, reason)
		if reason.Code == CodeSlowClient {
			h.log.Warn("disconnect", "nick", nick, "via", s.via, "remote", s.remote, "reason", reason.Text)
		} else {
			h.log.Info("disconnect", "nick", nick, "via", s.via, "remote", s.remote, "reason", reason.Text)
		}
		select {
		case h.left <- struct{}{}:
		default:
		}
	})
}

// Input handles what a user sent: one message to the room (the session's
// current one when room is ""), line breaks included (see MessageText), or,
// if it starts with '/', a command. Problems are reported to the sender as
// error events.
func (h *Hub) Input(s *Session, room, text string) {
	h.InputWithCID(s, room, text, "")
}

// InputWithCID is Input for a say the client tagged with its own id (cid,
// at most MaxCIDLen characters; "" for none). The sender's copy of the
// message it makes, and any error refusing it, carry the cid. A say sent
// again with a cid whose message its identity (key, else nick) stored
// in the last 10 minutes is not stored again: the sender gets that
// message's copy again.
func (h *Hub) InputWithCID(s *Session, room, text, cid string) {
	if err := validCID(cid); err != nil {
		h.fail(s, err)
		return
	}
	if cid == "" {
		h.inputText(s, room, text)
		return
	}
	s.saying.Store(&sayTag{cid: cid})
	defer s.saying.Store(nil)
	if kept, _ := MessageText(text); kept == "" {
		// Its client waits for an answer: say why nothing came of it.
		if h.allowInput(s) {
			h.fail(s, userErr("empty", "message not sent: nothing is left of it once cleaned"))
		}
		return
	}
	h.inputText(s, room, text)
}

func (h *Hub) inputText(s *Session, room, text string) {
	h.obs.InputReceived(s.via)
	if !h.allowInput(s) {
		return
	}
	s.lastActive.Store(h.now().UnixNano())
	text = normaliseBreaks(text)
	if utf8.RuneCountInString(text) > h.maxMessage {
		h.fail(s, userErr("too_long", fmt.Sprintf("message not sent: longer than %d characters", h.maxMessage)))
		return
	}
	text, lines := MessageText(text)
	if text == "" {
		return
	}
	if h.maxLines > 0 && lines > h.maxLines {
		h.fail(s, userErr("too_many_lines", fmt.Sprintf("message not sent: more than %d lines", h.maxLines)))
		return
	}
	target, err := h.targetRoom(s, room)
	if name, args, ok := ParseCommand(text); ok {
		h.runCommand(s, target, name, args)
		return
	}
	if err != nil {
		h.fail(s, err)
		return
	}
	if err := h.say(s, target, strings.TrimPrefix(text, "/"), false); err != nil {
		h.fail(s, err)
	}
}

// allowInput spends one unit of the session's rate budget. A refused line
// gets a notice; a session that keeps flooding is disconnected.
func (h *Hub) allowInput(s *Session) bool {
	if s.limiter.AllowN(h.now(), 1) {
		s.refusedInARow.Store(0)
		return true
	}
	n := s.refusedInARow.Add(1)
	if h.floodLimit > 0 && int(n) > h.floodLimit {
		// Already disconnected: lines still buffered in the transport
		// must not log or notify again.
		return false
	}
	if h.floodLimit > 0 && int(n) == h.floodLimit {
		h.log.Warn("flood", "nick", s.Nick(), "via", s.via, "remote", s.remote)
		h.notice(s, "Disconnected for flooding.")
		s.Close(ReasonFlooding)
		return false
	}
	// A line tagged with a cid is always answered: its client shows it
	// pending until then. So is a one-shot's: its exit status says.
	if n == 1 || n%5 == 0 || s.saying.Load() != nil || s.oneShot {
		h.fail(s, userErr("rate_limited", fmt.Sprintf("slow down: at most %d lines at once, then %g a second; not sent", h.rateBurst, h.ratePerSec)))
	} else {
		h.obs.InputRefused(s.via, "rate_limited")
	}
	return false
}

// say stores a message, then publishes it: a message nobody could find in
// history is never shown. A room's messages are published in the order of
// their IDs. A say tagged with a cid (see InputWithCID) is stored once.
func (h *Hub) say(s *Session, r *Room, text string, action bool) error {
	return h.onceByCID(s, func(cid string) (*Event, error) {
		return h.sayOnce(s, r, text, action, cid)
	})
}

// onceByCID runs send, which stores or delivers what s said and returns
// the sender's copy carrying cid (nil if cid is ""), once per cid of the
// say being handled (see InputWithCID): a say sent again with a cid its
// identity already used gets the first copy again, send is not run.
func (h *Hub) onceByCID(s *Session, send func(cid string) (echo *Event, err error)) error {
	tag := s.saying.Load()
	if tag == nil {
		_, err := send("")
		return err
	}
	owner := cidOwner(s)
	for {
		e, first := h.cids.claim(owner, *tag, h.now())
		if first {
			echo, err := send(tag.cid)
			h.cids.settle(e, echo)
			return err
		}
		// Stored, or being stored by another session of the same key.
		select {
		case <-e.done:
		case <-s.done:
			return nil
		}
		if echo := h.cids.echoOf(e); echo != nil {
			s.deliver(echo)
			return nil
		}
		// That attempt was refused: this one may store it.
	}
}

// sayOnce stores and publishes one message. With a cid, the sender gets
// its own copy carrying it (echo, also returned), the others the plain one.
func (h *Hub) sayOnce(s *Session, r *Room, text string, action bool, cid string) (echo *Event, err error) {
	if h.muted(s) {
		return nil, userErr("muted", "you are muted: your message was not shown to anyone")
	}
	if err := h.leaseRefusal("message not sent: "); err != nil {
		return nil, err
	}
	r.pubMu.Lock()
	if r.removed.Load() {
		// Removed by an operator after s looked it up.
		r.pubMu.Unlock()
		return nil, userErr("no_such_room", "#"+r.name+" has been removed")
	}
	ev := &Event{Kind: KindMessage, Room: r.name, From: s.Nick(), Text: text, Action: action, Time: h.now().Truncate(time.Millisecond), fromKey: s.fingerprint}
	m := &store.Message{Room: r.name, Kind: store.KindMessage, From: ev.From, Text: text, Time: ev.Time}
	if action {
		m.Kind = store.KindAction
	}
	stamp := func() {
		ev.ID = uint64(m.ID)
		if cid != "" {
			echo = &Event{Kind: KindMessage, ID: ev.ID, Room: ev.Room, From: ev.From, Text: ev.Text, Action: ev.Action, Time: ev.Time, CID: cid, fromKey: ev.fromKey}
		}
	}
	publish := func() {
		stamp()
		r.publishMessage(h, ev, s, echo)
	}
	q, queued := h.store.(store.QueuedAppender)
	if !queued || h.bus != nil {
		// Stored and published as one step under pubMu.
		defer r.pubMu.Unlock()
		err := h.persistMessage(r, ev, func(ctx context.Context) error { return h.store.AppendMessage(ctx, m) })
		if err != nil {
			return nil, err
		}
		if h.bus == nil {
			publish()
			return echo, nil
		}
		// In a cluster the room's feed publishes it in the store's order.
		stamp()
		if !h.publishStored(r, *m, ev, s, echo) {
			mine := ev
			if echo != nil {
				mine = echo
			}
			s.deliver(mine)
		}
		return echo, nil
	}
	// Queued under pubMu, so the store numbers the room's messages in this
	// order; the commit is waited for outside it, so the room's next
	// messages join the same group commit. Each message is published only
	// after its predecessor (r.tail), whether that one was stored or not.
	wait := q.QueueMessage(m)
	prev, done := r.tail, make(chan struct{})
	r.tail = done
	r.pubMu.Unlock()
	defer close(done)
	err = h.persistMessage(r, ev, wait)
	if prev != nil {
		<-prev
	}
	if err != nil {
		return nil, err
	}
	publish()
	return echo, nil
}

// persistMessage stores ev, a message of r, with f.
func (h *Hub) persistMessage(r *Room, ev *Event, f func(context.Context) error) error {
	return h.persist("message", "message not sent: it could not be stored, please try again", f, "room", r.name, "nick", ev.From)
}

func (h *Hub) targetRoom(s *Session, room string) (*Room, *UserError) {
	if room == "" {
		s.mu.Lock()
		r := s.current
		s.mu.Unlock()
		if r == nil {
			return nil, userErr("no_room", "you are not in a room")
		}
		return r, nil
	}
	return h.reachableRoom(s, room)
}

func (h *Hub) notice(s *Session, text string) {
	s.deliver(&Event{Kind: KindNotice, Text: text, Time: h.now()})
}

func (h *Hub) fail(s *Session, err error) {
	code := "internal"
	var ue *UserError
	if errors.As(err, &ue) {
		code = ue.Code
	} else {
		h.log.Error("command failed", "nick", s.Nick(), "err", err)
	}
	h.obs.InputRefused(s.via, code)
	ev := &Event{Kind: KindError, Code: code, Text: err.Error(), Time: h.now()}
	if tag := s.saying.Load(); tag != nil {
		ev.CID = tag.cid
	}
	s.deliver(ev)
}

// changeNick renames s, telling every room it is in; in a cluster, the
// person's devices on the other nodes follow.
func (h *Hub) changeNick(s *Session, nick string) error {
	return h.renamePerson(s, nick, true)
}

// renamePerson renames the person of s on this node, telling every room it
// is in; share tells the other nodes, whose devices of the same key take
// the nick too (false: the rename comes from one of them).
func (h *Hub) renamePerson(s *Session, nick string, share bool) error {
	if err := ValidateNick(nick); err != nil {
		return err
	}
	old := s.Nick()
	if old == nick {
		return nil
	}
	fold := access.Fold(nick)
	s.mu.Lock()
	oldFold := s.fold
	s.mu.Unlock()
	// In a cluster the new nick is claimed first (without h.mu: the bus
	// may be slow); the claim is given back unless the change is made.
	h.mu.Lock()
	claim, key, kept, fences := s.person.claim, s.person.key, false, h.fences
	h.mu.Unlock()
	if h.claims != nil && fold != oldFold {
		held, err := h.claimNick(fold, claim)
		if err != nil {
			return err
		}
		if held {
			return userErr("nick_taken", "the nick "+nick+" is already in use")
		}
		defer func() {
			if kept {
				h.releaseNick(oldFold, claim)
			} else {
				h.releaseNick(fold, claim)
			}
		}()
	}
	h.mu.Lock()
	select {
	case <-s.done:
		// Leaving (Close runs before Leave frees the nick under h.mu):
		// taking a nick now would keep it taken for good.
		h.mu.Unlock()
		return nil
	default:
	}
	if h.claims != nil && h.fences != fences {
		// The node fenced itself while the claim was made: the claim may
		// not outlive the fence.
		h.mu.Unlock()
		return refusal(CodeClusterUnavailable, ErrClaimsUnavailable)
	}
	// Registration first: it is the lasting reason, whether or not its
	// owner is connected (or just leaving) right now.
	if owner := h.registeredTo(nick); owner != "" && owner != s.fingerprint {
		h.mu.Unlock()
		return userErr("nick_registered", "the nick "+nick+" is registered to another key")
	}
	if other, taken := h.nicks[fold]; taken && other != s.person {
		h.mu.Unlock()
		return userErr("nick_taken", "the nick "+nick+" is already in use")
	}
	// The person's sessions share the nick.
	delete(h.nicks, s.fold)
	h.nicks[fold] = s.person
	kept = true
	all := append([]*Session(nil), s.person.sessions...)
	for _, o := range all {
		o.mu.Lock()
		o.nick, o.fold = nick, fold
		o.mu.Unlock()
	}
	h.mu.Unlock()
	rooms := s.joinedRooms()
	registered := s.isRegistered()
	for _, r := range rooms {
		r.mu.Lock()
		if was, now, ok := r.refreshLocked(h, s); ok {
			// A rename another node's device of this person made is
			// announced here once, by whichever of the two came first.
			ev := &Event{Kind: KindNick, From: old, To: nick, Registered: registered}
			switch {
			case r.renamed[oldFold] != fold:
				r.presenceLocked(h, ev, noteNick(old, nick), s)
				if r.remoteHasLocked(oldFold) {
					r.noteRenameLocked(oldFold, fold)
				}
			case r.summarizingLocked(h):
				// The room heard it in a summary; the person's devices
				// here get their own nick event, as presenceLocked gives.
				ev.Time, ev.Room = h.now(), r.name
				if i := r.personIndexLocked(s.person); i >= 0 {
					r.order[i].deliverLocked(ev)
				}
			}
			r.pruneRenamesLocked()
			r.publishAwayLocked(h, s, was, now)
		}
		r.mu.Unlock()
	}
	if len(rooms) == 0 {
		for _, o := range all {
			h.notice(o, "You are now known as "+nick)
		}
	}
	h.log.Info("nick", "old", old, "new", nick, "via", s.via)
	if share && key != "" {
		h.moderationChanged(ModerationChange{RenameKey: key, RenameFrom: old, RenameTo: nick})
	}
	return nil
}

// SessionCount is the number of connected sessions.
func (h *Hub) SessionCount() int { return int(h.sessCount.Load()) }

// Shutdown tells every session the server is stopping, closes them and waits
// (until ctx ends) for the front-ends to let them go.
func (h *Hub) Shutdown(ctx context.Context) error {
	// Store work still waiting once the sessions are gone (or the time is
	// up) is cut short: the server closes the store next.
	defer h.stopStore()
	// Before the store is let go: the read markers not yet written.
	defer h.flushAllReads()
	defer h.stopFeeds()
	h.mu.Lock()
	h.stopping = true
	all := make([]*Session, 0, len(h.nicks))
	for _, p := range h.nicks {
		all = append(all, p.sessions...)
	}
	h.mu.Unlock()
	h.noteKeysSeen(all)
	for _, s := range all {
		h.notice(s, "The server is stopping; please reconnect in a moment.")
		s.Close(ReasonStopping)
	}
	for h.SessionCount() > 0 {
		select {
		case <-h.left:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// RoomCount is the number of rooms.
func (h *Hub) RoomCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.rooms)
}
