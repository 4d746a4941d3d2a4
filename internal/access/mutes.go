package access

import (
	"context"
	"net/netip"
	"strings"
	"time"

	"github.com/tertulia/tertulia/internal/store"
)

// Mute silences a key wherever and under whatever nick it connects, or the
// sessions without a key from an address prefix (an IPv6 address's /64,
// see connlimit.Source), so that a muted guest cannot come back under
// another nick. Mutes are never bound to a nick: a nick passes to whoever
// takes it next.
type Mute struct {
	Target
	By    string
	Until time.Time // zero: until lifted
}

// InForce tells whether m applies at now.
func (m Mute) InForce(now time.Time) bool { return m.Until.IsZero() || now.Before(m.Until) }

// Stored mute targets are "key:<fingerprint>" and "addr:<prefix>".
const (
	muteKeyPrefix  = "key:"
	muteAddrPrefix = "addr:"
)

func (t Target) muteString() string {
	if t.IsKey() {
		return muteKeyPrefix + t.Key
	}
	return muteAddrPrefix + t.Prefix.String()
}

// parseMuteTarget reads a stored target; ok is false for targets of older
// versions ("nick:...") that must no longer apply, and for any other it
// does not understand.
func parseMuteTarget(stored string) (Target, bool) {
	if fp, ok := strings.CutPrefix(stored, muteKeyPrefix); ok && fp != "" {
		return KeyTarget(fp), true
	}
	if v, ok := strings.CutPrefix(stored, muteAddrPrefix); ok {
		if p, err := netip.ParsePrefix(v); err == nil {
			return Target{Prefix: p}, true
		}
	}
	return Target{}, false
}

// Mute stores mutes on targets, by the nick by, until until (zero: until
// lifted), then puts them in force. On a store failure the targets before
// the failing one are muted.
func (b *Book) Mute(targets []Target, by string, until time.Time) error {
	for _, t := range targets {
		m := Mute{Target: t, By: by, Until: until}
		row := store.Mute{Target: t.muteString(), By: by, Expires: until}
		if err := b.do("mute", "could not change the mute", func(ctx context.Context) error {
			return b.st.SetMute(ctx, row)
		}, "target", row.Target); err != nil {
			return err
		}
		b.mu.Lock()
		b.mutes[t.muteString()] = m
		b.modChanges++
		b.mu.Unlock()
	}
	return nil
}

// Unmute lifts the mutes on targets.
func (b *Book) Unmute(targets []Target) error {
	for _, t := range targets {
		stored := t.muteString()
		if err := b.do("mute", "could not change the mute", func(ctx context.Context) error {
			return b.st.RemoveMute(ctx, stored)
		}, "target", stored); err != nil {
			return err
		}
		b.mu.Lock()
		delete(b.mutes, stored)
		b.modChanges++
		b.mu.Unlock()
	}
	return nil
}

// Muted tells whether a session with key (or "") from source (its
// connlimit.Source, or invalid) is muted now: a session with a key is
// judged by its key, one without by its address.
func (b *Book) Muted(key string, source netip.Prefix) bool {
	var t Target
	switch {
	case key != "":
		t = KeyTarget(key)
	case source.IsValid():
		t = Target{Prefix: source}
	default:
		return false
	}
	now := b.now()
	b.mu.RLock()
	defer b.mu.RUnlock()
	m, ok := b.mutes[t.muteString()]
	return ok && m.InForce(now)
}
