package access

import (
	"context"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/tertulia/tertulia/internal/store"
)

// Target is what a ban or a mute applies to: a key, or an address prefix
// (a single address is a full-length prefix). Exactly one is set.
type Target struct {
	Key    string       // a key fingerprint
	Prefix netip.Prefix // masked; an IPv4 prefix for IPv4 addresses
}

// KeyTarget is the target of a key.
func KeyTarget(fingerprint string) Target { return Target{Key: fingerprint} }

// PrefixTarget is the target of the addresses in p.
func PrefixTarget(p netip.Prefix) Target { return Target{Prefix: p.Masked()} }

// IsKey tells whether t is a key's target.
func (t Target) IsKey() bool { return t.Key != "" }

// String is how moderators see t: "key SHA256:..." or "ip 192.0.2.0/24".
func (t Target) String() string {
	if t.IsKey() {
		return "key " + t.Key
	}
	return "ip " + t.Prefix.String()
}

// value is what the store keeps of t in a ban row.
func (t Target) value() string {
	if t.IsKey() {
		return t.Key
	}
	return t.Prefix.String()
}

// covers tells whether t applies to a key or an address (invalid: none).
func (t Target) covers(key string, addr netip.Addr) bool {
	if t.IsKey() {
		return key != "" && key == t.Key
	}
	return addr.IsValid() && t.Prefix.Contains(addr)
}

// Ban refuses a key or addresses until it is lifted or expires.
type Ban struct {
	Target
	Reason  string
	By      string // nick of the operator who banned
	Created time.Time
	Until   time.Time // zero: until lifted
}

// InForce tells whether b applies at now: bans lift themselves at Until.
func (b Ban) InForce(now time.Time) bool { return b.Until.IsZero() || now.Before(b.Until) }

// plainAddr is addr as bans match it: Contains never matches a zoned
// address, nor an IPv4 prefix an IPv4-mapped one.
func plainAddr(addr netip.Addr) netip.Addr { return addr.Unmap().WithZone("") }

func banFromStore(sb store.Ban) (Ban, bool) {
	b := Ban{Reason: sb.Reason, By: sb.By, Created: sb.CreatedAt, Until: sb.Expires}
	switch sb.Kind {
	case "key":
		b.Key = sb.Value
		return b, sb.Value != ""
	case "ip":
		p, err := netip.ParsePrefix(sb.Value)
		if err != nil {
			return Ban{}, false
		}
		b.Prefix = p
		return b, true
	}
	return Ban{}, false
}

func (b Ban) toStore() *store.Ban {
	kind := "ip"
	if b.IsKey() {
		kind = "key"
	}
	return &store.Ban{Kind: kind, Value: b.value(), Reason: b.Reason, By: b.By, CreatedAt: b.Created, Expires: b.Until}
}

// Ban stores bans, all or none, then puts them in force.
func (b *Book) Ban(bans ...Ban) error {
	rows := make([]*store.Ban, len(bans))
	for i, ban := range bans {
		rows[i] = ban.toStore()
	}
	if err := b.do("ban", "could not store the ban", func(ctx context.Context) error {
		return b.st.AddBans(ctx, rows)
	}, "bans", len(rows)); err != nil {
		return err
	}
	b.mu.Lock()
	b.bans = append(b.bans, bans...)
	b.modChanges++
	b.mu.Unlock()
	return nil
}

// Unban lifts every ban on each target, in force or expired, and returns
// how many there were. On a store failure the targets before the failing
// one stay lifted.
func (b *Book) Unban(targets ...Target) (int64, error) {
	var n int64
	for _, t := range targets {
		v := t.value()
		if err := b.do("unban", "could not lift the ban", func(ctx context.Context) error {
			c, err := b.st.RemoveBans(ctx, v)
			n += c
			return err
		}, "value", v); err != nil {
			return n, err
		}
		b.mu.Lock()
		kept := b.bans[:0]
		for _, ban := range b.bans {
			if ban.value() != v {
				kept = append(kept, ban)
			}
		}
		clear(b.bans[len(kept):])
		b.bans = kept
		b.modChanges++
		b.mu.Unlock()
	}
	return n, nil
}

// Bans lists the bans in force, oldest first.
func (b *Book) Bans() []Ban {
	now := b.now()
	b.mu.RLock()
	defer b.mu.RUnlock()
	var out []Ban
	for _, ban := range b.bans {
		if ban.InForce(now) {
			out = append(out, ban)
		}
	}
	return out
}

// BanFor finds a ban in force on key or addr (either may be empty or
// invalid).
func (b *Book) BanFor(key string, addr netip.Addr) (Ban, bool) {
	now := b.now()
	b.mu.RLock()
	defer b.mu.RUnlock()
	return banIn(b.bans, key, addr, now)
}

// BanIn finds, among bans, one in force at now on key or addr: whether
// bans about to be made would cover someone.
func BanIn(bans []Ban, key string, addr netip.Addr, now time.Time) (Ban, bool) {
	return banIn(bans, key, addr, now)
}

func banIn(bans []Ban, key string, addr netip.Addr, now time.Time) (Ban, bool) {
	addr = plainAddr(addr)
	for _, ban := range bans {
		if ban.InForce(now) && ban.covers(key, addr) {
			return ban, true
		}
	}
	return Ban{}, false
}

// Admit refuses a banned key or address (ErrBanned), and a key off the
// allowlist (ErrNotAllowed; a guest, without a key, is never on it).
func (b *Book) Admit(key string, addr netip.Addr) error {
	now := b.now()
	b.mu.RLock()
	defer b.mu.RUnlock()
	if _, banned := banIn(b.bans, key, addr, now); banned {
		return ErrBanned
	}
	if b.allow != nil && (key == "" || !b.allow[key]) {
		return ErrNotAllowed
	}
	return nil
}

// ParseDuration reads "90s", "10m", "2h" or "7d"; ok is false for anything
// else, and for durations that are not positive.
func ParseDuration(s string) (d time.Duration, ok bool) {
	if strings.HasSuffix(s, "d") {
		n, err := strconv.Atoi(strings.TrimSuffix(s, "d"))
		if err != nil || n <= 0 {
			return 0, false
		}
		return time.Duration(n) * 24 * time.Hour, true
	}
	d, err := time.ParseDuration(s)
	return d, err == nil && d > 0
}

// SplitDurationReason reads "[duration] [reason]" (0: no duration).
func SplitDurationReason(args string) (time.Duration, string) {
	first, rest, _ := strings.Cut(strings.TrimSpace(args), " ")
	if d, ok := ParseDuration(first); ok {
		return d, strings.TrimSpace(rest)
	}
	return 0, strings.TrimSpace(args)
}

// Until is the end of something lasting d from now; zero for d == 0
// (until lifted).
func Until(now time.Time, d time.Duration) time.Time {
	if d == 0 {
		return time.Time{}
	}
	return now.Add(d)
}
