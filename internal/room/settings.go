package room

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"strings"
	"sync"
	"time"
	// The zones of /tz must not depend on the host having a zone database.
	_ "time/tzdata"

	"github.com/tertulia/tertulia/internal/access"
)

// Settings are a user's personal preferences. A session with a key keeps
// them in the store under the key's fingerprint (registered or not), so
// that every later session of the key starts with them; a keyless guest's
// last for its session. The zero Settings are the defaults.
type Settings struct {
	// Ignored: people whose messages, actions and private messages this
	// user is not sent.
	Ignored []Ignored `json:"ignore,omitempty"`
	// Quiet: front-ends do not show other people's joins, parts, nick
	// changes and away changes.
	Quiet bool `json:"quiet,omitempty"`
	// TimeZone is an IANA zone name; "" is UTC.
	TimeZone string `json:"tz,omitempty"`
	// Timestamp is how the terminal shows the time of a line: TimestampOff,
	// TimestampTime or TimestampDateTime; "" is TimestampTime.
	Timestamp string `json:"timestamp,omitempty"`
	// Theme is the terminal's look (Themes); "" is ThemeDefault, or
	// ThemeMono on a terminal without colour.
	Theme string `json:"theme,omitempty"`
	// Bell is when the terminal rings: BellOn, BellOff or BellMentions;
	// "" is BellMentions.
	Bell string `json:"bell,omitempty"`
	// OfflineMessages: private messages to this user's registered nicks
	// while they are offline are kept for them (OfflineMessagesOn) or
	// refused (OfflineMessagesOff); "" is OfflineMessagesOn.
	OfflineMessages string `json:"offline_messages,omitempty"`
}

// Ignored is one ignored person: by key when they had one when ignored (a
// nick change does not escape it), else by nick.
type Ignored struct {
	Nick string `json:"nick"`
	Key  string `json:"key,omitempty"`
}

// Values of the settings, as the commands take them.
const (
	TimestampOff      = "off"
	TimestampTime     = "time"
	TimestampDateTime = "datetime"

	ThemeDefault      = "default"
	ThemeMono         = "mono"
	ThemeHighContrast = "high-contrast"
	ThemeLight        = "light"

	BellOn       = "on"
	BellOff      = "off"
	BellMentions = "mentions"
)

// Themes are the values /theme takes.
func Themes() []string { return []string{ThemeDefault, ThemeMono, ThemeHighContrast, ThemeLight} }

// MaxIgnored bounds a user's ignore list.
const MaxIgnored = 200

// maxZoneName bounds what /tz looks up; IANA names are far shorter.
const maxZoneName = 64

// Preferences are a session's settings as they are applied: immutable, so
// front-ends may keep one and compare pointers to see a change.
type Preferences struct {
	Settings
	// Location is the time zone of TimeZone.
	Location *time.Location
	// keys and folds are the ignored keys and the folded nicks ignored by
	// nick; keyFolds the folded nicks keys were ignored under, which
	// stored history (that carries no keys) is matched by.
	keys     map[string]bool
	folds    map[string]bool
	keyFolds map[string]bool
}

// PreferencesOf is st as applied (an unknown zone is UTC), for
// front-ends' and renderers' tests.
func PreferencesOf(st Settings) *Preferences { return newPreferences(st) }

// newPreferences applies st, whose zone has been checked; an unknown zone
// (from an older binary's zone database) falls back to UTC.
func newPreferences(st Settings) *Preferences {
	p := &Preferences{Settings: st, Location: time.UTC}
	if st.TimeZone != "" {
		if loc, err := loadZone(st.TimeZone); err == nil {
			p.Location = loc
		}
	}
	for _, ig := range st.Ignored {
		if ig.Key != "" {
			p.keys = setAdd(p.keys, ig.Key)
			p.keyFolds = setAdd(p.keyFolds, access.Fold(ig.Nick))
		} else {
			p.folds = setAdd(p.folds, access.Fold(ig.Nick))
		}
	}
	return p
}

func setAdd(set map[string]bool, v string) map[string]bool {
	if set == nil {
		set = map[string]bool{}
	}
	set[v] = true
	return set
}

// TimestampMode is Timestamp with the default made explicit.
func (p *Preferences) TimestampMode() string {
	if p.Timestamp == "" {
		return TimestampTime
	}
	return p.Timestamp
}

// BellMode is Bell with the default made explicit.
func (p *Preferences) BellMode() string {
	if p.Bell == "" {
		return BellMentions
	}
	return p.Bell
}

// OfflineMode is OfflineMessages with the default made explicit.
func (p *Preferences) OfflineMode() string {
	if p.OfflineMessages == "" {
		return OfflineMessagesOn
	}
	return p.OfflineMessages
}

// ThemeName is Theme with the default made explicit.
func (p *Preferences) ThemeName() string {
	if p.Theme == "" {
		return ThemeDefault
	}
	return p.Theme
}

// ZoneName is the zone's name as /tz shows it.
func (p *Preferences) ZoneName() string {
	if p.TimeZone == "" {
		return "UTC"
	}
	return p.TimeZone
}

// Stamp is t as a line's timestamp: "" when timestamps are off.
func (p *Preferences) Stamp(t time.Time) string {
	switch p.TimestampMode() {
	case TimestampOff:
		return ""
	case TimestampDateTime:
		return t.In(p.Location).Format("2006-01-02 15:04")
	}
	return t.In(p.Location).Format("15:04")
}

// Hides tells a front-end that ev, delivered to the session of nick, is
// noise this user asked not to see (/quiet): someone else's join, part or
// nick change. Those events still reach the front-end, which keeps its
// member counts with them.
func (p *Preferences) Hides(ev *Event, nick string) bool {
	return p.Quiet && ev.Kind.presence() && ev.From != nick && ev.To != nick
}

// ignores tells whether ev is a message, action or private message from
// someone this user ignores. Stored history carries no keys: a key's
// messages there are matched by the nick it was ignored under.
func (p *Preferences) ignores(ev *Event) bool {
	if ev.Kind != KindMessage && ev.Kind != KindPrivate {
		return false
	}
	if ev.fromKey != "" && p.keys[ev.fromKey] {
		return true
	}
	fold := access.Fold(ev.From)
	return p.folds[fold] || ev.fromKey == "" && p.keyFolds[fold]
}

// ignoring: the session ignores someone.
func (p *Preferences) ignoring() bool { return len(p.Ignored) > 0 }

// Preferences are the session's settings as applied now; never nil.
func (s *Session) Preferences() *Preferences {
	if p := s.prefs.Load(); p != nil {
		return p
	}
	return s.hub.defaultPrefs
}

// filtered is ev as s may be sent it, nil if nothing of it: a message from
// someone s ignores is not sent, and a page of history loses theirs. s's
// own messages are never hidden, whatever nick it took since.
func (s *Session) filtered(ev *Event) *Event {
	p := s.prefs.Load()
	if p == nil || !p.ignoring() {
		return ev
	}
	switch ev.Kind {
	case KindMessage, KindPrivate:
		if p.ignores(ev) && !s.isOwn(ev) {
			return nil
		}
	case KindHistory:
		var kept []*Event
		for i, h := range ev.History {
			if p.ignores(h) && !s.isOwn(h) {
				if kept == nil {
					kept = append(make([]*Event, 0, len(ev.History)), ev.History[:i]...)
				}
				continue
			}
			if kept != nil {
				kept = append(kept, h)
			}
		}
		if kept != nil {
			return &Event{Kind: KindHistory, Room: ev.Room, History: kept, Before: ev.Before, After: ev.After,
				Forward: ev.Forward, More: ev.More, Time: ev.Time, CID: ev.CID}
		}
	}
	return ev
}

// ignoresAll: every one of msgs is from someone s ignores.
func (s *Session) ignoresAll(msgs []*Event) bool {
	p := s.prefs.Load()
	if p == nil || !p.ignoring() {
		return false
	}
	for _, m := range msgs {
		if !p.ignores(m) || s.isOwn(m) {
			return false
		}
	}
	return true
}

// isOwn: ev was sent by s (its key, or its nick now).
func (s *Session) isOwn(ev *Event) bool {
	if ev.fromKey != "" && s.fingerprint != "" {
		return ev.fromKey == s.fingerprint
	}
	return ev.From == s.Nick()
}

// loadSettings gives a session with a key its stored settings. If they
// cannot be read, it starts with the defaults and is told.
func (h *Hub) loadSettings(s *Session) {
	if s.fingerprint == "" {
		return
	}
	var doc string
	err := h.persist("settings read", "your saved settings could not be read; the defaults apply for now", func(ctx context.Context) (err error) {
		doc, err = h.store.KeySettings(ctx, s.fingerprint)
		return err
	}, "key", s.fingerprint)
	if err != nil {
		h.notice(s, err.Error())
		return
	}
	if doc == "" {
		return
	}
	var st Settings
	if err := json.Unmarshal([]byte(doc), &st); err != nil {
		h.log.Error("settings unreadable", "key", s.fingerprint, "err", err)
		return
	}
	s.prefs.Store(newPreferences(st))
}

// changeSettings applies change to the settings of s. With a key they are
// stored first, then given to every session of the key; a keyless guest's
// change is for its session only. settingsMu makes the read, store and
// apply one step per change.
func (h *Hub) changeSettings(s *Session, change func(st *Settings) error) (*Preferences, error) {
	mu := h.settingsLock(s.fingerprint)
	mu.Lock()
	defer mu.Unlock()
	st := s.Preferences().Settings
	st.Ignored = append([]Ignored(nil), st.Ignored...)
	if err := change(&st); err != nil {
		return nil, err
	}
	p := newPreferences(st)
	if s.fingerprint == "" {
		s.prefs.Store(p)
		if s.wantsSettings {
			s.deliver(h.settingsEvent(p))
		}
		return p, nil
	}
	doc, err := json.Marshal(st)
	if err != nil {
		return nil, err
	}
	if err := h.persist("settings write", "your setting was not changed: it could not be stored, please try again", func(ctx context.Context) error {
		return h.store.SetKeySettings(ctx, s.fingerprint, string(doc), h.now())
	}, "key", s.fingerprint); err != nil {
		return nil, err
	}
	same := h.sessionsOfKey(s.fingerprint)
	for _, o := range same {
		o.prefs.Store(p)
	}
	s.prefs.Store(p)
	// Told after every session applies them, in the order of the changes
	// (settingsMu is held).
	ev := h.settingsEvent(p)
	for _, o := range same {
		if o.wantsSettings {
			o.deliver(ev)
		}
	}
	return p, nil
}

// settingsStripes is how many locks share out the keys' settings changes.
const settingsStripes = 64

// settingsLock is the lock that orders the settings changes of a key (a
// keyless guest's are its own session's, and take stripe 0).
func (h *Hub) settingsLock(fingerprint string) *sync.Mutex {
	f := fnv.New32a()
	f.Write([]byte(fingerprint))
	return &h.settingsMu[f.Sum32()%settingsStripes]
}

// sessionsOfKey lists the connected sessions of a key, not its bot
// tokens': a bot online does not make its owner online.
func (h *Hub) sessionsOfKey(fingerprint string) []*Session {
	return h.sessionsWhere(func(s *Session) bool { return s.fingerprint == fingerprint && s.botToken == "" })
}

// loadZone looks up an IANA zone name. "Local" (the server's own zone) is
// not one a user may pick.
func loadZone(name string) (*time.Location, error) {
	if strings.EqualFold(name, "UTC") {
		return time.UTC, nil
	}
	if name == "" || len(name) > maxZoneName || name == "Local" || strings.HasPrefix(name, "/") {
		return nil, fmt.Errorf("unknown zone")
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/_+-", r)) {
			return nil, fmt.Errorf("unknown zone")
		}
	}
	return time.LoadLocation(name)
}

// ignore adds nick to the ignore list of s: by key if the person is
// connected with one or the nick is registered, else by nick.
func (h *Hub) ignore(s *Session, nick string) error {
	if err := ValidateNick(nick); err != nil {
		return err
	}
	// By the key of whoever is connected under the nick, else of the key
	// the nick is registered to.
	entry := Ignored{Nick: nick, Key: h.registeredTo(nick)}
	target := h.sessionByNick(nick)
	if target != nil {
		entry.Nick = target.Nick()
		entry.Key = target.fingerprint
	}
	if target == s || access.Fold(nick) == access.Fold(s.Nick()) || entry.Key != "" && entry.Key == s.fingerprint {
		return userErr("ignore_self", "you cannot ignore yourself")
	}
	how := "by nick"
	if entry.Key != "" {
		how = "by key: a new nick does not change that"
	}
	_, err := h.changeSettings(s, func(st *Settings) error {
		for _, ig := range st.Ignored {
			if entry.Key != "" && ig.Key == entry.Key || entry.Key == "" && ig.Key == "" && access.Fold(ig.Nick) == access.Fold(nick) {
				return userErr("already_ignored", "you already ignore "+ig.Nick)
			}
		}
		if len(st.Ignored) >= MaxIgnored {
			return userErr("ignore_full", fmt.Sprintf("you ignore %d people already, the most there may be; /unignore someone first", MaxIgnored))
		}
		st.Ignored = append(st.Ignored, entry)
		return nil
	})
	if err != nil {
		return err
	}
	h.notice(s, fmt.Sprintf("You are ignoring %s (%s). /unignore %s undoes it.", entry.Nick, how, entry.Nick))
	return nil
}

// unignore takes nick off the ignore list of s: the entries under that
// nick, and those of the key of whoever holds it now.
func (h *Hub) unignore(s *Session, nick string) error {
	if err := ValidateNick(nick); err != nil {
		return err
	}
	key := h.registeredTo(nick)
	if target := h.sessionByNick(nick); target != nil {
		key = target.fingerprint
	}
	fold := access.Fold(nick)
	var removed []string
	_, err := h.changeSettings(s, func(st *Settings) error {
		kept := st.Ignored[:0]
		for _, ig := range st.Ignored {
			if access.Fold(ig.Nick) == fold || key != "" && ig.Key == key {
				removed = append(removed, ig.Nick)
				continue
			}
			kept = append(kept, ig)
		}
		if len(removed) == 0 {
			return userErr("not_ignored", "you are not ignoring "+nick)
		}
		st.Ignored = kept
		return nil
	})
	if err != nil {
		return err
	}
	h.notice(s, "You are no longer ignoring "+strings.Join(removed, ", ")+".")
	return nil
}

// ignoreList tells s whom it ignores.
func (h *Hub) ignoreList(s *Session) {
	p := s.Preferences()
	if len(p.Ignored) == 0 {
		h.notice(s, "You are not ignoring anyone.")
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "You are ignoring (%d):", len(p.Ignored))
	for _, ig := range p.Ignored {
		if ig.Key != "" {
			fmt.Fprintf(&b, "\n  %s (key %s)", ig.Nick, ig.Key)
		} else {
			fmt.Fprintf(&b, "\n  %s (by nick)", ig.Nick)
		}
	}
	h.notice(s, b.String())
}

// FormatTime is t as s's user reads times in the core's texts (/whois):
// date, time and zone, in their zone.
func (s *Session) FormatTime(t time.Time) string {
	return t.In(s.Preferences().Location).Format("2006-01-02 15:04:05 MST")
}
