package access

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tertulia/tertulia/internal/clocktest"
	"github.com/tertulia/tertulia/internal/store"
)

// fixture is a Book over a memory store, with a fake clock and a log to
// read.
type fixture struct {
	st    store.Store
	clock *clocktest.Clock
	logs  *bytes.Buffer
	cfg   Config
	book  *Book
}

func newFixture(t *testing.T, cfg Config) *fixture {
	t.Helper()
	f := &fixture{st: store.NewMemory(), clock: clocktest.New(time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)), logs: &bytes.Buffer{}, cfg: cfg}
	f.book = f.reload(t)
	return f
}

// reload is a Book, loaded afresh from the fixture's store: what a
// restarted server knows.
func (f *fixture) reload(t *testing.T) *Book {
	t.Helper()
	return loadBook(t, f.st, f.clock, f.logs, f.cfg)
}

func loadBook(t *testing.T, st store.Store, clock *clocktest.Clock, logs io.Writer, cfg Config) *Book {
	t.Helper()
	log := slog.New(slog.NewTextHandler(logs, nil))
	b := New(Deps{Store: st, Now: clock.Now, Log: log}, cfg)
	if err := b.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	return b
}

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

func prefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }

func mustErr(t *testing.T, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("got error %v, want %v", err, want)
	}
}

func TestRegisterAndUnregister(t *testing.T) {
	f := newFixture(t, Config{MaxNicksPerKey: 5})
	b := f.book
	src := prefix("192.0.2.1/32")
	if added, err := b.Register("SHA256:alice", src, "Alice"); err != nil || !added {
		t.Fatalf("Register = %v, %v", added, err)
	}
	if added, err := b.Register("SHA256:alice", src, "alice"); err != nil || added {
		t.Fatalf("registering one's own nick again = %v, %v; want not added, no error", added, err)
	}
	// Another key, under the nick or a lookalike of it.
	for _, nick := range []string{"Alice", "ALICE", "a1ice", "\u0430lice"} {
		_, err := b.Register("SHA256:mallory", prefix("198.51.100.1/32"), nick)
		mustErr(t, err, ErrNickRegistered)
	}
	if got := b.NickOwner("aIice"); got != "SHA256:alice" {
		t.Fatalf("NickOwner(aIice) = %q", got)
	}
	if got := b.NickOwner("bob"); got != "" {
		t.Fatalf("NickOwner(bob) = %q", got)
	}
	if !b.OwnsFold(Fold("alice"), "SHA256:alice") || b.OwnsFold(Fold("alice"), "SHA256:mallory") {
		t.Fatal("OwnsFold disagrees with the registration")
	}
	f.clock.Advance(time.Second)
	if _, err := b.Register("SHA256:alice", src, "alice2"); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(b.NicksOf("SHA256:alice"), ","); got != "Alice,alice2" {
		t.Fatalf("NicksOf = %s, want oldest first", got)
	}
	// A key gets the nick it asks for if it owns it or nobody does, else
	// its first.
	for wanted, want := range map[string]string{"ALICE2": "alice2", "free": "Alice", "alice": "Alice"} {
		if got := b.OwnedNick(wanted, "SHA256:alice"); got != want {
			t.Errorf("OwnedNick(%s) = %s, want %s", wanted, got, want)
		}
	}
	if got := b.OwnedNick("free", "SHA256:nobody"); got != "free" {
		t.Errorf("OwnedNick for a key without nicks = %s", got)
	}

	// It lasts.
	if got := f.reload(t).NickOwner("alice"); got != "SHA256:alice" {
		t.Fatalf("after reload NickOwner = %q", got)
	}

	mustErr(t, b.Unregister("SHA256:mallory", "alice"), ErrNotRegistered)
	mustErr(t, b.Unregister("", "alice"), ErrNotRegistered)
	mustErr(t, b.Unregister("SHA256:alice", "nobody"), ErrNotRegistered)
	if err := b.Unregister("SHA256:alice", "ALICE"); err != nil {
		t.Fatal(err)
	}
	if got := b.NickOwner("alice"); got != "" {
		t.Fatalf("after Unregister NickOwner = %q", got)
	}
	if got := f.reload(t).NickOwner("alice"); got != "" {
		t.Fatalf("after Unregister and reload NickOwner = %q", got)
	}
	if _, err := b.Register("SHA256:mallory", prefix("198.51.100.1/32"), "alice"); err != nil {
		t.Fatalf("a given-up nick could not be registered again: %v", err)
	}
	_, err := b.Register("", src, "keyless")
	mustErr(t, err, ErrNoKey)
}

func TestRegisterCapAndPace(t *testing.T) {
	f := newFixture(t, Config{MaxNicksPerKey: 4})
	b := f.book
	src := prefix("192.0.2.1/32")
	for i := range RegisterBurst {
		if _, err := b.Register("SHA256:k", src, "nick"+string(rune('a'+i))); err != nil {
			t.Fatalf("registration %d: %v", i+1, err)
		}
	}
	_, err := b.Register("SHA256:k", src, "nickx")
	mustErr(t, err, ErrRateLimited)
	f.clock.Advance(RegisterEvery)
	if _, err := b.Register("SHA256:k", src, "nickx"); err != nil {
		t.Fatalf("after the pause: %v", err)
	}
	f.clock.Advance(time.Hour)
	_, err = b.Register("SHA256:k", src, "nicky")
	var tooMany *TooManyNicksError
	if !errors.As(err, &tooMany) || len(tooMany.Owned) != 4 || tooMany.Owned[0] != "nicka" {
		t.Fatalf("beyond the cap: %v", err)
	}
	if err := b.Unregister("SHA256:k", "nicka"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Register("SHA256:k", src, "nicky"); err != nil {
		t.Fatalf("after giving one up: %v", err)
	}

	// An address registers a bounded number whatever keys it uses, and a
	// refused fresh key is not charged.
	other := prefix("2001:db8:7::/64")
	for i := range registerAddrBurst {
		if _, err := b.Register("SHA256:fresh"+string(rune('a'+i)), other, "fresh"+string(rune('a'+i))); err != nil {
			t.Fatalf("registration %d from one address: %v", i+1, err)
		}
	}
	_, err = b.Register("SHA256:freshz", other, "freshz")
	mustErr(t, err, ErrRateLimited)
	if _, err := b.Register("SHA256:freshz", prefix("2001:db8:8::/64"), "freshz"); err != nil {
		t.Fatalf("the same key from another address: %v", err)
	}
}

func TestRegisterWithoutCap(t *testing.T) {
	f := newFixture(t, Config{})
	for i := range 12 {
		if i%RegisterBurst == 0 {
			f.clock.Advance(time.Hour)
		}
		if _, err := f.book.Register("SHA256:k", netip.Prefix{}, "n"+string(rune('a'+i))); err != nil {
			t.Fatalf("registration %d without a cap: %v", i+1, err)
		}
	}
}

// Concurrent registrations of one key cannot pass its cap together.
func TestRegisterCapHoldsUnderConcurrency(t *testing.T) {
	f := newFixture(t, Config{MaxNicksPerKey: 2})
	var wg sync.WaitGroup
	for i := range RegisterBurst {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f.book.Register("SHA256:k", netip.Prefix{}, "c"+string(rune('a'+i)))
		}()
	}
	wg.Wait()
	if got := f.book.NicksOf("SHA256:k"); len(got) != 2 {
		t.Fatalf("registered %v, want 2", got)
	}
}

// Registrations are looked up by the fold as it is now; of two stored ones
// that now fold together, the older holds the nick, and the stored fold is
// what Unregister removes.
func TestLoadRefoldsRegistrations(t *testing.T) {
	st := store.NewMemory()
	ctx := context.Background()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, r := range []store.Registration{
		{Nick: "alice", Fold: "allce-old", Fingerprint: "SHA256:alice", CreatedAt: t0},
		{Nick: "a1ice", Fold: "a1ice-old", Fingerprint: "SHA256:other", CreatedAt: t0.Add(time.Minute)},
	} {
		if err := st.Register(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	clock := clocktest.New(t0.Add(time.Hour))
	var logs bytes.Buffer
	b := loadBook(t, st, clock, &logs, Config{})
	if got := b.NickOwner("A1ICE"); got != "SHA256:alice" {
		t.Fatalf("NickOwner = %q, want the older registration's key", got)
	}
	if !strings.Contains(logs.String(), "registration shadowed by an older lookalike") {
		t.Fatalf("the shadowed registration was not logged: %s", logs.String())
	}
	if err := b.Unregister("SHA256:alice", "alice"); err != nil {
		t.Fatal(err)
	}
	regs, err := st.Registrations(ctx)
	if err != nil || len(regs) != 1 || regs[0].Nick != "a1ice" {
		t.Fatalf("stored after Unregister: %v, %v", regs, err)
	}
}

func TestOperators(t *testing.T) {
	f := newFixture(t, Config{Admins: []string{"SHA256:admin"}})
	b := f.book
	if !b.IsOperator("SHA256:admin") || !b.IsAdmin("SHA256:admin") {
		t.Fatal("an admin is not an operator")
	}
	if b.IsOperator("SHA256:op") || b.IsOperator("") {
		t.Fatal("operator without a grant")
	}
	if err := b.Grant("SHA256:op", "admin"); err != nil {
		t.Fatal(err)
	}
	if !b.IsOperator("SHA256:op") || b.IsAdmin("SHA256:op") {
		t.Fatal("a granted key is not an operator, or became an admin")
	}
	if !f.reload(t).IsOperator("SHA256:op") {
		t.Fatal("a grant did not last")
	}
	mustErr(t, b.Revoke("SHA256:admin", "op"), ErrAdmin)
	if !b.IsOperator("SHA256:admin") {
		t.Fatal("an admin was revoked")
	}
	if err := b.Revoke("SHA256:op", "admin"); err != nil {
		t.Fatal(err)
	}
	if b.IsOperator("SHA256:op") || f.reload(t).IsOperator("SHA256:op") {
		t.Fatal("a revoked key is still an operator")
	}
	mustErr(t, b.Grant("", "admin"), ErrNoKey)
}

func TestBans(t *testing.T) {
	f := newFixture(t, Config{})
	b := f.book
	now := f.clock.Now()
	err := b.Ban(
		Ban{Target: KeyTarget("SHA256:troll"), By: "op", Reason: "spam", Created: now},
		Ban{Target: PrefixTarget(prefix("192.0.2.7/32")), By: "op", Created: now},
		Ban{Target: PrefixTarget(prefix("198.51.100.99/24")), By: "op", Created: now},
		Ban{Target: PrefixTarget(prefix("2001:db8:1::10/64")), By: "op", Created: now},
	)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		key, addr string
		banned    bool
	}{
		{"SHA256:troll", "203.0.113.1", true},   // the key, from anywhere
		{"SHA256:troll", "", true},              // the key, address unknown
		{"SHA256:friend", "203.0.113.1", false}, // another key
		{"", "192.0.2.7", true},                 // the address
		{"SHA256:friend", "192.0.2.7", true},    // the address, whatever the key
		{"", "::ffff:192.0.2.7", true},          // the address, mapped in IPv6
		{"", "192.0.2.8", false},                // its neighbour
		{"", "198.51.100.1", true},              // in the CIDR (masked)
		{"", "198.51.101.1", false},             // outside it
		{"", "2001:db8:1::11", true},            // elsewhere in the /64
		{"", "2001:db8:1:0:ffff::1", true},      // ...
		{"", "2001:db8:1:1::10", false},         // the next /64
		{"", "fe80::1%eth0", false},             // zoned, not in any ban
	}
	for _, c := range cases {
		a, _ := netip.ParseAddr(c.addr)
		_, banned := b.BanFor(c.key, a)
		if banned != c.banned {
			t.Errorf("BanFor(%q, %q) = %v, want %v", c.key, c.addr, banned, c.banned)
		}
		if err := b.Admit(c.key, a); (err != nil) != c.banned || (err != nil && !errors.Is(err, ErrBanned)) {
			t.Errorf("Admit(%q, %q) = %v", c.key, c.addr, err)
		}
	}
	if got := b.Bans(); len(got) != 4 || got[0].Target.String() != "key SHA256:troll" || got[0].Reason != "spam" ||
		got[2].Target.String() != "ip 198.51.100.0/24" || got[3].Target.String() != "ip 2001:db8:1::/64" {
		t.Fatalf("Bans = %+v", got)
	}
	// They last.
	if _, banned := f.reload(t).BanFor("", addr("2001:db8:1::99")); !banned {
		t.Fatal("an IPv6 ban did not last")
	}

	// Lifting.
	n, err := b.Unban(PrefixTarget(prefix("198.51.100.0/24")), KeyTarget("SHA256:troll"))
	if err != nil || n != 2 {
		t.Fatalf("Unban = %d, %v; want 2", n, err)
	}
	if _, banned := b.BanFor("SHA256:troll", addr("198.51.100.1")); banned {
		t.Fatal("lifted bans still apply")
	}
	if _, banned := f.reload(t).BanFor("SHA256:troll", addr("198.51.100.1")); banned {
		t.Fatal("lifted bans came back after reload")
	}
	if n, err := b.Unban(KeyTarget("SHA256:troll")); err != nil || n != 0 {
		t.Fatalf("Unban again = %d, %v", n, err)
	}
}

func TestBanExpiry(t *testing.T) {
	f := newFixture(t, Config{})
	b := f.book
	now := f.clock.Now()
	if err := b.Ban(Ban{Target: KeyTarget("SHA256:troll"), Created: now, Until: Until(now, time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := b.Ban(Ban{Target: KeyTarget("SHA256:forever"), Created: now, Until: Until(now, 0)}); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(time.Hour - time.Millisecond)
	if _, banned := b.BanFor("SHA256:troll", netip.Addr{}); !banned {
		t.Fatal("a ban lifted itself early")
	}
	f.clock.Advance(time.Millisecond)
	if _, banned := b.BanFor("SHA256:troll", netip.Addr{}); banned {
		t.Fatal("a ban outlived its expiry")
	}
	if err := b.Admit("SHA256:troll", netip.Addr{}); err != nil {
		t.Fatalf("Admit after expiry = %v", err)
	}
	if got := b.Bans(); len(got) != 1 || got[0].Key != "SHA256:forever" {
		t.Fatalf("Bans after expiry = %+v", got)
	}
	if _, banned := f.reload(t).BanFor("SHA256:troll", netip.Addr{}); banned {
		t.Fatal("an expired ban came back after reload")
	}
	f.clock.Advance(365 * 24 * time.Hour)
	if _, banned := b.BanFor("SHA256:forever", netip.Addr{}); !banned {
		t.Fatal("a ban without expiry lifted itself")
	}
}

// BanIn tells whether bans about to be made would cover someone (the
// operator making them).
func TestBanIn(t *testing.T) {
	now := time.Now()
	bans := []Ban{{Target: PrefixTarget(prefix("2001:db8:1::/64"))}}
	if _, covered := BanIn(bans, "SHA256:op", addr("2001:db8:1::5"), now); !covered {
		t.Fatal("the /64 does not cover an address in it")
	}
	if _, covered := BanIn(bans, "SHA256:op", addr("2001:db8:2::5"), now); covered {
		t.Fatal("the /64 covers an address outside it")
	}
}

// A ban's rows are stored all or none: a store failure puts none in force.
func TestBanStoreFailure(t *testing.T) {
	st := &failingBans{Memory: store.NewMemory()}
	clock := clocktest.New(time.Now())
	var logs bytes.Buffer
	b := loadBook(t, st, clock, &logs, Config{})
	err := b.Ban(Ban{Target: KeyTarget("SHA256:a")}, Ban{Target: PrefixTarget(prefix("192.0.2.1/32"))})
	var failure *store.Failure
	if !errors.As(err, &failure) || failure.Refusal != "could not store the ban" {
		t.Fatalf("Ban = %v, want a store failure", err)
	}
	if len(b.Bans()) != 0 {
		t.Fatalf("bans in force after a failed Ban: %+v", b.Bans())
	}
	if !strings.Contains(logs.String(), "store ban") || !strings.Contains(logs.String(), "disk full") {
		t.Fatalf("the failure was not logged with its cause: %s", logs.String())
	}
}

type failingBans struct{ *store.Memory }

func (failingBans) AddBans(context.Context, []*store.Ban) error { return errors.New("disk full") }

func TestMutes(t *testing.T) {
	f := newFixture(t, Config{})
	b := f.book
	guests := prefix("2001:db8:5::/64")
	if err := b.Mute([]Target{KeyTarget("SHA256:noisy"), {Prefix: guests}}, "op", time.Time{}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		key    string
		source netip.Prefix
		muted  bool
	}{
		{"SHA256:noisy", prefix("192.0.2.1/32"), true}, // the key, from anywhere
		{"SHA256:noisy", netip.Prefix{}, true},         // ...
		{"", guests, true},                             // a guest from the address
		{"SHA256:quiet", guests, false},                // a key is judged by its key
		{"", prefix("2001:db8:6::/64"), false},         // a guest elsewhere
		{"", netip.Prefix{}, false},                    // a guest from nowhere known
	}
	for _, c := range cases {
		if got := b.Muted(c.key, c.source); got != c.muted {
			t.Errorf("Muted(%q, %s) = %v, want %v", c.key, c.source, got, c.muted)
		}
	}
	if !f.reload(t).Muted("", guests) {
		t.Fatal("an address mute did not last")
	}
	if err := b.Unmute([]Target{KeyTarget("SHA256:noisy")}); err != nil {
		t.Fatal(err)
	}
	if b.Muted("SHA256:noisy", netip.Prefix{}) || f.reload(t).Muted("SHA256:noisy", netip.Prefix{}) {
		t.Fatal("an unmuted key is still muted")
	}
	if !b.Muted("", guests) {
		t.Fatal("unmuting the key unmuted the address")
	}
}

func TestMuteExpiry(t *testing.T) {
	f := newFixture(t, Config{})
	b := f.book
	if err := b.Mute([]Target{KeyTarget("SHA256:noisy")}, "op", f.clock.Now().Add(10*time.Minute)); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(10*time.Minute - time.Millisecond)
	if !b.Muted("SHA256:noisy", netip.Prefix{}) {
		t.Fatal("a mute ended early")
	}
	f.clock.Advance(time.Millisecond)
	if b.Muted("SHA256:noisy", netip.Prefix{}) {
		t.Fatal("a mute outlived its expiry")
	}
}

// Mutes bound to a nick, as older versions stored them, would silence
// whoever takes the nick next: Load drops them from the store.
func TestLoadDropsNickMutes(t *testing.T) {
	st := store.NewMemory()
	ctx := context.Background()
	for _, m := range []store.Mute{{Target: "nick:noisy", By: "old"}, {Target: "key:SHA256:noisy", By: "op"}} {
		if err := st.SetMute(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	var logs bytes.Buffer
	b := loadBook(t, st, clocktest.New(time.Now()), &logs, Config{})
	if !b.Muted("SHA256:noisy", netip.Prefix{}) {
		t.Fatal("a key mute was not loaded")
	}
	mutes, err := st.Mutes(ctx, time.Now())
	if err != nil || len(mutes) != 1 || mutes[0].Target != "key:SHA256:noisy" {
		t.Fatalf("stored mutes after Load: %+v, %v", mutes, err)
	}
	if !strings.Contains(logs.String(), "mute bound to a nick dropped") {
		t.Fatalf("the dropped mute was not logged: %s", logs.String())
	}
}

func TestAllowlist(t *testing.T) {
	var mu sync.Mutex
	listed := map[string]bool{"SHA256:alice": true}
	var loadErr error
	load := func() (map[string]bool, error) {
		mu.Lock()
		defer mu.Unlock()
		if loadErr != nil {
			return nil, loadErr
		}
		out := map[string]bool{}
		for k := range listed {
			out[k] = true
		}
		return out, nil
	}
	f := newFixture(t, Config{LoadAllowlist: load})
	b := f.book
	if err := b.Admit("SHA256:alice", addr("192.0.2.1")); err != nil {
		t.Fatalf("a listed key: %v", err)
	}
	mustErr(t, b.Admit("SHA256:bob", addr("192.0.2.1")), ErrNotAllowed)
	mustErr(t, b.Admit("", addr("192.0.2.1")), ErrNotAllowed)

	mu.Lock()
	listed["SHA256:bob"] = true
	mu.Unlock()
	mustErr(t, b.Admit("SHA256:bob", addr("192.0.2.1")), ErrNotAllowed) // not before a reload
	if n, err := b.ReloadAllowlist(); err != nil || n != 2 {
		t.Fatalf("ReloadAllowlist = %d, %v", n, err)
	}
	if err := b.Admit("SHA256:bob", addr("192.0.2.1")); err != nil {
		t.Fatalf("a key listed by the reload: %v", err)
	}

	// A reload that fails keeps the list in force.
	mu.Lock()
	loadErr = errors.New("unreadable")
	mu.Unlock()
	if _, err := b.ReloadAllowlist(); err == nil || err.Error() != "unreadable" {
		t.Fatalf("a failed reload: %v", err)
	}
	if err := b.Admit("SHA256:bob", addr("192.0.2.1")); err != nil {
		t.Fatalf("after a failed reload: %v", err)
	}

	// Without an allowlist everyone is admitted and there is nothing to
	// reload.
	open := newFixture(t, Config{}).book
	if err := open.Admit("", addr("192.0.2.1")); err != nil {
		t.Fatal(err)
	}
	_, err := open.ReloadAllowlist()
	mustErr(t, err, ErrNoAllowlist)

	// An allowlist that cannot be read stops Load.
	failing := New(Deps{Store: store.NewMemory(), Log: slog.New(slog.NewTextHandler(io.Discard, nil))}, Config{LoadAllowlist: load})
	if err := failing.Load(context.Background()); err == nil || !strings.Contains(err.Error(), "allowlist") {
		t.Fatalf("Load with an unreadable allowlist = %v", err)
	}
}

func TestMOTD(t *testing.T) {
	f := newFixture(t, Config{MOTD: "welcome"})
	if got := f.book.MOTD(); got != "welcome" {
		t.Fatalf("MOTD = %q", got)
	}
	if err := f.book.SetMOTD("changed"); err != nil {
		t.Fatal(err)
	}
	f.cfg.MOTD = ""
	if got := f.reload(t).MOTD(); got != "changed" {
		t.Fatalf("after reload MOTD = %q", got)
	}
	f.cfg.MOTD = "from the flag"
	if got := f.reload(t).MOTD(); got != "from the flag" {
		t.Fatalf("--motd at start: MOTD = %q", got)
	}
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{"90s": 90 * time.Second, "10m": 10 * time.Minute, "2h": 2 * time.Hour, "7d": 7 * 24 * time.Hour} {
		if got, ok := ParseDuration(in); !ok || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v", in, got, ok)
		}
	}
	for _, in := range []string{"", "0s", "-1h", "0d", "xd", "spam"} {
		if _, ok := ParseDuration(in); ok {
			t.Errorf("ParseDuration(%q) accepted", in)
		}
	}
	if d, reason := SplitDurationReason(" 2h  too loud "); d != 2*time.Hour || reason != "too loud" {
		t.Errorf("SplitDurationReason = %v, %q", d, reason)
	}
	if d, reason := SplitDurationReason("too loud"); d != 0 || reason != "too loud" {
		t.Errorf("SplitDurationReason without a duration = %v, %q", d, reason)
	}
}
