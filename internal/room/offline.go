package room

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tertulia/tertulia/internal/access"
	"github.com/tertulia/tertulia/internal/store"
)

// Defaults for what waits for a registered user while they are offline.
const (
	// DefaultOfflineRetention is how long private messages to an offline
	// registered nick, and the mentions found at its return, are kept.
	DefaultOfflineRetention = 30 * 24 * time.Hour
	// DefaultMaxWaiting is how many private messages may wait for one key.
	DefaultMaxWaiting = 100
	// MaxMentionsKept is how many mentions a key keeps for /mentions.
	MaxMentionsKept = 50
	// mentionScan bounds how many of a room's messages are read, per room,
	// when looking for the mentions a returning user missed.
	mentionScan = 1000
)

// Values of the offline-messages setting.
const (
	OfflineMessagesOn  = "on"
	OfflineMessagesOff = "off"
)

// WithOffline keeps private messages to an offline registered nick, and
// the mentions of it, for retention (0 or less: neither is kept), at most
// maxWaiting messages per key.
func WithOffline(retention time.Duration, maxWaiting int) Option {
	return func(h *Hub) { h.offlineRetention, h.maxWaiting = retention, maxWaiting }
}

// offlineKept: private messages and mentions are kept for offline users.
func (h *Hub) offlineKept() bool { return h.offlineRetention > 0 && h.maxWaiting > 0 }

// keptSince is the oldest time of what is kept for offline users now.
func (h *Hub) keptSince() time.Time { return h.now().Add(-h.offlineRetention) }

// storedSettings reads the settings of a key that may have no session.
func (h *Hub) storedSettings(fingerprint string) (Settings, error) {
	var st Settings
	var doc string
	if err := h.persist("settings read", "message not sent: the recipient's settings could not be read, please try again", func(ctx context.Context) (err error) {
		doc, err = h.store.KeySettings(ctx, fingerprint)
		return err
	}, "key", fingerprint); err != nil {
		return st, err
	}
	if doc != "" {
		if err := json.Unmarshal([]byte(doc), &st); err != nil {
			h.log.Error("settings unreadable", "key", fingerprint, "err", err)
		}
	}
	return st, nil
}

// privateOffline keeps a private message to nick, which nobody holds now,
// for the key that registered it: delivered at its next connection. A
// guest's nick (registered to no key) is no one to keep it for.
func (h *Hub) privateOffline(s *Session, nick, text, cid string) (echo *Event, err error) {
	if ValidateNick(nick) != nil || !h.offlineKept() {
		return nil, userErr("no_such_nick", nick+" is not connected")
	}
	reg, registered := h.access.Registration(nick)
	if !registered {
		return nil, userErr("no_such_nick", nick+" is not connected")
	}
	st, err := h.storedSettings(reg.Key)
	if err != nil {
		return nil, err
	}
	if st.OfflineMessages == OfflineMessagesOff {
		return nil, userErr("offline_refused", reg.Nick+" is offline and does not take messages while away: try again when they are connected")
	}
	w := store.Waiting{Fingerprint: reg.Key, From: s.Nick(), FromKey: s.fingerprint, To: reg.Nick, Text: text, Time: h.now().Truncate(time.Millisecond)}
	if h.storePM {
		// Stored as every private message is (--store-private), so that
		// both ends see it under that id, as a live one.
		p := store.Private{From: w.From, To: w.To, Text: text, Time: w.Time}
		if err := h.persist("private message", "message not sent: it could not be stored, please try again", func(ctx context.Context) error {
			return h.store.AppendPrivate(ctx, &p)
		}); err != nil {
			return nil, err
		}
		w.PrivateID = p.ID
	}
	full := false
	if err := h.persist("waiting message", "message not sent: it could not be stored, please try again", func(ctx context.Context) error {
		err := h.store.AddWaiting(ctx, &w, h.maxWaiting)
		if errors.Is(err, store.ErrMailboxFull) {
			full = true
			return nil
		}
		return err
	}, "key", reg.Key); err != nil {
		return nil, err
	}
	if full {
		return nil, userErr("mailbox_full", fmt.Sprintf("message not sent: %s is offline and has %d messages waiting already, the most there may be", reg.Nick, h.maxWaiting))
	}
	echo = &Event{Kind: KindPrivate, ID: h.privateID(w), From: w.From, To: w.To, Text: text, Time: w.Time, Waiting: true, CID: cid, fromKey: s.fingerprint}
	h.noteLastPM(echo.ID)
	s.deliver(echo)
	h.notice(s, reg.Nick+" is offline; your message will be delivered when they connect.")
	return echo, nil
}

// privateID is the id a waiting message's events carry: its stored private
// message's with --store-private (whose ids the live ones carry too), else
// one of the ids given to private messages not stored.
func (h *Hub) privateID(w store.Waiting) uint64 {
	if w.PrivateID != 0 {
		return uint64(w.PrivateID)
	}
	return h.nextPM.Add(1)
}

// welcomeBack gives a registered key's session what waited for it: the
// private messages sent to its nicks while it was offline (each once, to
// whichever session of the key connects first), then, if no other session
// of the key was connected, the mentions of its nicks in its rooms since
// its last session ended.
func (h *Hub) welcomeBack(s *Session) {
	if !h.offlineKept() || !s.keyRemembers() {
		return
	}
	since := h.keptSince()
	var waiting []store.Waiting
	if h.persist("waiting messages", "the private messages sent to you while you were away could not be read now; they are kept for your next connection", func(ctx context.Context) (err error) {
		waiting, err = h.store.TakeWaiting(ctx, s.fingerprint, since)
		return err
	}, "key", s.fingerprint) != nil {
		h.notice(s, "The private messages sent to you while you were away could not be read now; they are kept for your next connection.")
	}
	var missed []*Event
	p := s.Preferences()
	for _, w := range waiting {
		ev := &Event{Kind: KindPrivate, ID: h.privateID(w), From: w.From, To: w.To, Text: w.Text, Time: w.Time, Missed: true, fromKey: w.FromKey}
		if !p.ignores(ev) {
			missed = append(missed, ev)
		}
	}
	if len(missed) > 0 {
		h.notice(s, plural(len(missed), "private message", "private messages")+" while you were away:")
		for _, ev := range missed {
			s.deliver(ev)
		}
	}
	if len(h.sessionsOfKey(s.fingerprint)) == 1 {
		h.findMentions(s, since)
	}
}

// findMentions lists the messages of s's rooms that named one of its key's
// nicks since its key's last session ended (and since, what is kept), and
// keeps them for /mentions. It reads at most mentionScan messages a room,
// once per return: nothing is done on the path of a message.
func (h *Hub) findMentions(s *Session, since time.Time) {
	var seen time.Time
	if h.persist("key seen", "", func(ctx context.Context) (err error) {
		seen, err = h.store.KeySeen(ctx, s.fingerprint)
		return err
	}, "key", s.fingerprint) != nil || seen.IsZero() {
		return
	}
	// Times are kept to the millisecond: a message of the same millisecond
	// as the leave counts as missed rather than be lost.
	if seen = seen.Add(-time.Millisecond); seen.After(since) {
		since = seen
	}
	nicks := h.NicksOf(s.fingerprint)
	mine := map[string]bool{}
	for _, n := range nicks {
		mine[access.Fold(n)] = true
	}
	p := s.Preferences()
	var found []store.Mention
	for _, name := range s.Rooms() {
		var msgs []store.Message
		if h.persist("mentions", "", func(ctx context.Context) (err error) {
			msgs, err = h.store.MessagesSince(ctx, name, since, mentionScan)
			return err
		}, "room", name) != nil {
			continue
		}
		for _, m := range msgs {
			if mine[access.Fold(m.From)] || p.ignores(eventFromStored(&m)) || !mentionsAny(m.Text, nicks) {
				continue
			}
			found = append(found, store.Mention{Room: m.Room, MessageID: m.ID, From: m.From, Text: m.Text, Time: m.Time})
		}
	}
	if len(found) == 0 {
		return
	}
	slices.SortStableFunc(found, func(a, b store.Mention) int { return a.Time.Compare(b.Time) })
	found = found[max(0, len(found)-MaxMentionsKept):]
	_ = h.persist("mentions", "", func(ctx context.Context) error {
		return h.store.AddMentions(ctx, s.fingerprint, found, MaxMentionsKept)
	}, "key", s.fingerprint)
	h.notice(s, mentionList(s, plural(len(found), "mention", "mentions")+" while you were away:", found))
}

// mentions is /mentions: the mentions kept for s's key.
func (h *Hub) mentions(s *Session) error {
	if !h.offlineKept() {
		return userErr("mentions_off", "mentions are not kept on this server")
	}
	var list []store.Mention
	if err := h.persist("mentions", "your mentions could not be read now, please try again", func(ctx context.Context) (err error) {
		list, err = h.store.Mentions(ctx, s.fingerprint, h.keptSince(), MaxMentionsKept)
		return err
	}, "key", s.fingerprint); err != nil {
		return err
	}
	if len(list) == 0 {
		h.notice(s, "No mentions of you while you were away.")
		return nil
	}
	h.notice(s, mentionList(s, fmt.Sprintf("Mentions of you while you were away (%d):", len(list)), list))
	return nil
}

// mentionList is a notice's text: title, then one entry a mention, in s's
// time zone, a multi-line message indented.
func mentionList(s *Session, title string, list []store.Mention) string {
	var b strings.Builder
	b.WriteString(title)
	loc := s.Preferences().Location
	for _, m := range list {
		text := strings.ReplaceAll(m.Text, "\n", "\n    ")
		fmt.Fprintf(&b, "\n  #%s %s <%s> %s", m.Room, m.Time.In(loc).Format("2006-01-02 15:04"), m.From, text)
	}
	return b.String()
}

// mentionsAny tells whether text names one of nicks as a whole word,
// ignoring case (as the terminal marks a mention).
func mentionsAny(text string, nicks []string) bool {
	lower := strings.ToLower(text)
	for _, n := range nicks {
		if mentionsWord(lower, strings.ToLower(n)) {
			return true
		}
	}
	return false
}

// Mentions reports whether text names nick as a whole word, ignoring
// case: what the terminal highlights and what is listed as a mention while
// away.
func Mentions(text, nick string) bool {
	return mentionsWord(strings.ToLower(text), strings.ToLower(nick))
}

func mentionsWord(lower, n string) bool {
	for i := 0; n != ""; {
		j := strings.Index(lower[i:], n)
		if j < 0 {
			return false
		}
		start, end := i+j, i+j+len(n)
		if (start == 0 || !isWordByte(lower[start-1])) && (end == len(lower) || !isWordByte(lower[end])) {
			return true
		}
		i = start + 1
	}
	return false
}

func isWordByte(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= '0' && b <= '9' || b == '_' || b == '-' || b >= 0x80
}

// plural is "1 thing" or "n things".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// noteKeySeen records, when the last session of a registered key ends,
// when that was: its next session looks for the mentions it missed since.
func (h *Hub) noteKeySeen(s *Session) {
	if !h.offlineKept() || !s.keyRemembers() || len(h.sessionsOfKey(s.fingerprint)) > 0 {
		return
	}
	_ = h.persist("key seen", "", func(ctx context.Context) error {
		return h.store.SetKeysSeen(ctx, []string{s.fingerprint}, h.now())
	}, "key", s.fingerprint)
}

// noteKeysSeen records the registered keys of a stopping server's sessions
// as seen now, in one write, so that their leaving does not make one each.
func (h *Hub) noteKeysSeen(all []*Session) {
	if !h.offlineKept() {
		return
	}
	var keys []string
	seen := map[string]bool{}
	for _, s := range all {
		if !seen[s.fingerprint] && s.keyRemembers() {
			seen[s.fingerprint] = true
			keys = append(keys, s.fingerprint)
		}
	}
	if len(keys) == 0 {
		return
	}
	_ = h.persist("keys seen", "", func(ctx context.Context) error {
		return h.store.SetKeysSeen(ctx, keys, h.now())
	}, "keys", len(keys))
}

// PruneOffline deletes the private messages and mentions kept for offline
// users longer than the retention; the server calls it now and then.
func (h *Hub) PruneOffline() {
	if !h.offlineKept() {
		return
	}
	var n int64
	if h.persist("prune offline", "", func(ctx context.Context) (err error) {
		n, err = h.store.PruneMail(ctx, h.keptSince())
		return err
	}) == nil && n > 0 {
		h.log.Info("offline messages and mentions pruned", "deleted", n)
	}
}
