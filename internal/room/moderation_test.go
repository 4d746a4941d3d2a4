package room

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tertulia/tertulia/internal/access"
	"github.com/tertulia/tertulia/internal/clocktest"
	"github.com/tertulia/tertulia/internal/store"
)

const opKey = "SHA256:operator"

// connectAs connects a session with a key (or none) from an address.
func connectAs(t *testing.T, h *Hub, nick, fingerprint, remote string) *Session {
	t.Helper()
	s, err := h.Connect(Identity{Nick: nick, Via: ViaSSH, Fingerprint: fingerprint, Remote: remote, AltNick: true})
	if err != nil {
		t.Fatalf("connect %s from %s: %v", nick, remote, err)
	}
	t.Cleanup(s.Leave)
	nextKind(t, s, KindHistory)
	return s
}

// run types a line as s and returns the first notice or error it gets.
func run(t *testing.T, h *Hub, s *Session, line string) *Event {
	t.Helper()
	h.Input(s, "", line)
	for {
		if ev := next(t, s); ev.Kind == KindNotice || ev.Kind == KindError {
			return ev
		}
	}
}

// rename changes s's nick, failing on an error.
func rename(t *testing.T, h *Hub, s *Session, nick string) {
	t.Helper()
	h.Input(s, "", "/nick "+nick)
	for {
		ev := next(t, s)
		if ev.Kind == KindError {
			t.Fatalf("/nick %s: %s", nick, ev.Text)
		}
		if ev.Kind == KindNick && ev.To == nick {
			return
		}
	}
}

// nextPrivateFrom skips to s's next private message from a nick.
func nextPrivateFrom(t *testing.T, s *Session, from string) *Event {
	t.Helper()
	for {
		if ev := nextKind(t, s, KindPrivate); ev.From == from {
			return ev
		}
	}
}

// sayRefused tells whether s's line was refused as muted.
func sayRefused(t *testing.T, h *Hub, s *Session, line string) bool {
	t.Helper()
	h.Input(s, "", line)
	for {
		ev := next(t, s)
		switch {
		case ev.Kind == KindError:
			if ev.Code != "muted" {
				t.Fatalf("%s %q: error %s %q", s.Nick(), line, ev.Code, ev.Text)
			}
			return true
		case ev.Kind == KindMessage && ev.From == s.Nick(), ev.Kind == KindTopic && ev.From == s.Nick(),
			ev.Kind == KindPrivate && ev.From == s.Nick(),
			ev.Kind == KindNotice && strings.HasPrefix(ev.Text, "You are marked as away"):
			return false
		}
	}
}

// Banning an IPv6 nick or address bans its /64 (the
// unit of the connection caps); IPv4 stays one address.
func TestIPv6BanCoversSlash64(t *testing.T) {
	h := newStoredHub(t, WithStore(openTestStore(t)), WithAdmins(opKey))
	op := connectAs(t, h, "boss", opKey, "2001:db8:9::1")
	connectAs(t, h, "troll6", "", "2001:db8:1::10")

	ev := run(t, h, op, "/ban troll6")
	if !strings.Contains(ev.Text, "banned 2001:db8:1::/64") {
		t.Fatalf("ban confirmation: %q", ev.Text)
	}
	for addr, banned := range map[string]bool{
		"2001:db8:1::10": true, "2001:db8:1::11": true, "2001:db8:1:0:ffff:ffff:ffff:ffff": true,
		"2001:db8:1:1::10": false, "2001:db8:9::1": false, "192.0.2.1": false,
	} {
		if h.IsBannedAddr(addr) != banned {
			t.Errorf("IsBannedAddr(%s) = %v, want %v", addr, !banned, banned)
		}
	}
	if _, err := h.Connect(Identity{Nick: "troll7", Via: ViaWeb, Remote: "2001:db8:1::11"}); !errors.Is(err, ErrBanned) || errorCode(err) != "banned" {
		t.Fatalf("connect from the same /64: %v", err)
	}

	// An address is banned with its /64 too; a prefix as written; IPv4 as
	// one address.
	if ev := run(t, h, op, "/ban 2001:db8:5::7"); !strings.Contains(ev.Text, "ip 2001:db8:5::/64") || !strings.Contains(ev.Text, "banned 2001:db8:5::/64") {
		t.Fatalf("address ban: %q", ev.Text)
	}
	if ev := run(t, h, op, "/ban 2001:db8:6::7/128"); !strings.Contains(ev.Text, "ip 2001:db8:6::7/128") || strings.Contains(ev.Text, "/64") {
		t.Fatalf("prefix ban: %q", ev.Text)
	}
	if ev := run(t, h, op, "/ban 192.0.2.7"); !strings.Contains(ev.Text, "ip 192.0.2.7/32") || strings.Contains(ev.Text, "/64") {
		t.Fatalf("IPv4 ban: %q", ev.Text)
	}
	if !h.IsBannedAddr("::ffff:192.0.2.7") || h.IsBannedAddr("192.0.2.8") || h.IsBannedAddr("2001:db8:6::8") {
		t.Fatal("IPv4 or explicit prefix bans reach too far or not far enough")
	}

	// A ban covering the operator's own /64 is refused, with the way out.
	connectAs(t, h, "near", "", "2001:db8:9::2")
	if ev := run(t, h, op, "/ban near"); ev.Code != "ban_self" || !strings.Contains(ev.Text, "2001:db8:9::/64") || !strings.Contains(ev.Text, "2001:db8:9::2/128") {
		t.Fatalf("ban of the operator's own /64: %s %q", ev.Code, ev.Text)
	}
	if ev := run(t, h, op, "/ban 2001:db8:9::2/128"); ev.Kind != KindNotice || h.IsBannedAddr("2001:db8:9::1") || !h.IsBannedAddr("2001:db8:9::2") {
		t.Fatalf("ban of one address next to the operator: %q", ev.Text)
	}

	// /unban of an address lifts its /64.
	if ev := run(t, h, op, "/unban 2001:db8:1::11"); !strings.Contains(ev.Text, "Lifted 1 ban") {
		t.Fatalf("unban: %q", ev.Text)
	}
	if h.IsBannedAddr("2001:db8:1::10") {
		t.Fatal("still banned after /unban")
	}
}

// A single-address ban stored by an older version still holds, and /unban
// of the address lifts it.
func TestOlderHostBanLiftedByAddress(t *testing.T) {
	st := openTestStore(t)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(st.AddBan(context.Background(), &store.Ban{Kind: "ip", Value: "2001:db8:1::10/128", By: "old", CreatedAt: time.Now()}))
	h := newStoredHub(t, WithStore(st), WithAdmins(opKey))
	if !h.IsBannedAddr("2001:db8:1::10") || h.IsBannedAddr("2001:db8:1::11") {
		t.Fatal("the stored /128 ban changed meaning")
	}
	op := connectAs(t, h, "boss", opKey, "192.0.2.1")
	if ev := run(t, h, op, "/unban 2001:db8:1::10"); !strings.Contains(ev.Text, "Lifted 1 ban") {
		t.Fatalf("unban: %q", ev.Text)
	}
	if h.IsBannedAddr("2001:db8:1::10") {
		t.Fatal("still banned")
	}
}

// A mute on a keyless guest follows the session
// across /nick and covers its address; it never passes to the nick's next
// holder. A key stays muted by key, and cannot come back keyless.
func TestMuteFollowsSessionAndAddress(t *testing.T) {
	clock := clocktest.New(time.Now())
	h := newStoredHub(t, WithStore(openTestStore(t)), WithAdmins(opKey), WithClock(clock.Now))
	op := connectAs(t, h, "boss", opKey, "192.0.2.1")
	noisy := connectAs(t, h, "noisy", "", "2001:db8:1::10")
	observer := connectAs(t, h, "observer", "", "192.0.2.3")

	if ev := run(t, h, op, "/mute noisy 1h"); !strings.Contains(ev.Text, "noisy was muted") {
		t.Fatalf("mute: %q", ev.Text)
	}
	rename(t, h, noisy, "noisy2")
	for _, line := range []string{"after /nick", "/me acts", "/topic mine", "/msg observer psst", "/reply psst", "/away read my away text"} {
		if line == "/reply psst" {
			h.Input(observer, "", "/msg noisy2 hello")
			nextKind(t, noisy, KindPrivate)
		}
		if !sayRefused(t, h, noisy, line) {
			t.Errorf("muted guest's %q went through after /nick", line)
		}
	}
	// Another nick from the same /64: muted too.
	back := connectAs(t, h, "other", "", "2001:db8:1::11")
	if !sayRefused(t, h, back, "after reconnect") {
		t.Error("a new session from the muted /64 may speak")
	}
	// The old nick's next holder, from elsewhere, may speak.
	noisy.Leave()
	innocent := connectAs(t, h, "noisy", "", "192.0.2.9")
	if sayRefused(t, h, innocent, "hello, I am new") {
		t.Error("the mute passed to the nick's next holder")
	}
	// The mute ends with its duration.
	clock.Advance(2 * time.Hour)
	if sayRefused(t, h, back, "an hour later") {
		t.Error("the address mute outlived its duration")
	}

	// A key: muted by key wherever it connects; its address silences
	// keyless sessions, not other keys.
	keyed := connectAs(t, h, "dave", "SHA256:dave", "192.0.2.20")
	run(t, h, op, "/mute dave")
	again := connectAs(t, h, "dave2", "SHA256:dave", "192.0.2.21")
	if !sayRefused(t, h, again, "new address") {
		t.Error("a muted key may speak from another address")
	}
	if !sayRefused(t, h, connectAs(t, h, "keyless", "", "192.0.2.20"), "no key") {
		t.Error("a muted key may speak from its address without a key")
	}
	if sayRefused(t, h, connectAs(t, h, "neighbour", "SHA256:neighbour", "192.0.2.20"), "my own key") {
		t.Error("another key at the muted address is muted")
	}
	// /unmute lifts all of it.
	run(t, h, op, "/unmute dave")
	if sayRefused(t, h, keyed, "free") || sayRefused(t, h, again, "free too") {
		t.Error("still muted after /unmute")
	}
	// An address mute can be lifted by address once its guest is gone.
	run(t, h, op, "/mute 192.0.2.30")
	guest := connectAs(t, h, "guest30", "", "192.0.2.30")
	if !sayRefused(t, h, guest, "muted address") {
		t.Error("/mute of an address does not hold")
	}
	run(t, h, op, "/unmute 192.0.2.30")
	if sayRefused(t, h, guest, "unmuted address") {
		t.Error("/unmute of an address does not lift it")
	}
}

// Mutes bound to a nick by older versions are dropped at load: they would
// silence whoever takes the nick next.
func TestStoredNickMutesDropped(t *testing.T) {
	st := openTestStore(t)
	if err := st.SetMute(context.Background(), store.Mute{Target: "nick:noisy", By: "old"}); err != nil {
		t.Fatal(err)
	}
	h := newStoredHub(t, WithStore(st))
	if sayRefused(t, h, connectAs(t, h, "noisy", "", "192.0.2.9"), "hello") {
		t.Fatal("a stored nick mute silenced the nick's new holder")
	}
	if mutes, err := st.Mutes(context.Background(), time.Now()); err != nil || len(mutes) != 0 {
		t.Fatalf("stored mutes after load: %v %v", mutes, err)
	}
}

// A key registers at most --max-nicks-per-key nicks,
// a few at a time.
func TestRegistrationsPerKeyBounded(t *testing.T) {
	clock := clocktest.New(time.Now())
	h := newStoredHub(t, WithStore(openTestStore(t)), WithClock(clock.Now), WithMaxNicksPerKey(4))
	s := connectAs(t, h, "squat0", "SHA256:squatter", "192.0.2.1")
	register := func(nick string) *Event {
		t.Helper()
		if s.Nick() != nick {
			rename(t, h, s, nick)
		}
		return run(t, h, s, "/register")
	}
	for i := range access.RegisterBurst {
		if ev := register("squat" + string(rune('a'+i))); ev.Kind != KindNotice || !strings.Contains(ev.Text, "now registered") {
			t.Fatalf("registration %d: %s %q", i+1, ev.Code, ev.Text)
		}
	}
	if ev := register("squatx"); ev.Code != "rate_limited" {
		t.Fatalf("registration beyond the burst: %s %q", ev.Code, ev.Text)
	}
	clock.Advance(access.RegisterEvery)
	if ev := register("squatx"); !strings.Contains(ev.Text, "now registered") {
		t.Fatalf("registration after the pause: %s %q", ev.Code, ev.Text)
	}
	clock.Advance(time.Hour)
	ev := register("squaty")
	if ev.Code != "too_many_nicks" || !strings.Contains(ev.Text, "4 registered nicks") {
		t.Fatalf("registration beyond the cap: %s %q", ev.Code, ev.Text)
	}
	if got := len(h.NicksOf("SHA256:squatter")); got != 4 {
		t.Fatalf("%d nicks registered", got)
	}
	// Giving one up makes room.
	if ev := run(t, h, s, "/unregister squata"); !strings.Contains(ev.Text, "no longer registered") {
		t.Fatalf("unregister: %q", ev.Text)
	}
	if ev := run(t, h, s, "/register"); !strings.Contains(ev.Text, "now registered") {
		t.Fatalf("registration after /unregister: %s %q", ev.Code, ev.Text)
	}
}

// Registrations stored under an older, narrower fold hold every lookalike
// the fold now knows, and can still be given up; two that now fold together
// leave the older one holding the nick.
func TestRegistrationsRefoldedAtLoad(t *testing.T) {
	st := openTestStore(t)
	ctx := context.Background()
	t0 := time.Now().Add(-time.Hour)
	// Folds as the older fold computed them: accents and small capitals
	// were kept (alĺce, ᴄarol).
	for _, r := range []store.Registration{
		{Nick: "alice", Fold: "allce", Fingerprint: "SHA256:alice", CreatedAt: t0},
		{Nick: "alíce", Fold: "alĺce", Fingerprint: "SHA256:mallory", CreatedAt: t0.Add(time.Minute)},
		{Nick: "ᴄarol", Fold: "ᴄarol", Fingerprint: "SHA256:carol", CreatedAt: t0.Add(2 * time.Minute)},
	} {
		if err := st.Register(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	h := newStoredHub(t, WithStore(st))
	for nick, owner := range map[string]string{"alice": "SHA256:alice", "alíce": "SHA256:alice", "carol": "SHA256:carol", "CAROL": "SHA256:carol"} {
		if got := h.registeredTo(nick); got != owner {
			t.Errorf("%s registered to %q, want %s", nick, got, owner)
		}
	}
	if g := connectAs(t, h, "carol", "", "192.0.2.5"); g.Nick() == "carol" {
		t.Fatal("a guest took carol, a lookalike of the registered ᴄarol")
	}
	carol := connectAs(t, h, "x", "SHA256:carol", "192.0.2.6")
	if carol.Nick() != "ᴄarol" {
		t.Fatalf("carol's key got %q", carol.Nick())
	}
	if ev := run(t, h, carol, "/unregister ᴄarol"); !strings.Contains(ev.Text, "no longer registered") {
		t.Fatalf("unregister of a refolded registration: %s %q", ev.Code, ev.Text)
	}
	regs, err := st.Registrations(ctx)
	if err != nil || len(regs) != 2 {
		t.Fatalf("stored registrations: %v %v", regs, err)
	}
}

// /reply goes to the session that wrote, under its
// new nick, never to the nick's next holder.
func TestReplyBoundToSession(t *testing.T) {
	h := newTestHub(t)
	bob := connectAs(t, h, "bobr", "", "192.0.2.2")
	carol := connectAs(t, h, "carol", "", "192.0.2.3")
	h.Input(carol, "", "/msg bobr what is the wifi password?")
	nextKind(t, bob, KindPrivate)
	rename(t, h, carol, "carol_away")
	mallory := connectAs(t, h, "carol", "", "192.0.2.4")
	if mallory.Nick() != "carol" {
		t.Fatalf("mallory is %q", mallory.Nick())
	}
	h.Input(bob, "", "/reply it is hunter2")
	if ev := nextPrivateFrom(t, carol, "bobr"); ev.To != "carol_away" || ev.Text != "it is hunter2" {
		t.Fatalf("carol got %+v", ev)
	}
	carol.Leave()
	if ev := run(t, h, bob, "/reply still there?"); ev.Code != "reply_gone" || !strings.Contains(ev.Text, "carol (later carol_away) is no longer here") {
		t.Fatalf("reply to a gone session: %s %q", ev.Code, ev.Text)
	}
	// mallory received nothing private: her next private event is this
	// marker.
	h.Input(bob, "", "/msg carol marker")
	if ev := nextKind(t, mallory, KindPrivate); ev.Text != "marker" {
		t.Fatalf("mallory got %+v", ev)
	}
}

// A keyed writer who reconnected under the same nick is the same person:
// /reply reaches it.
func TestReplyFollowsKeyAcrossReconnect(t *testing.T) {
	h := newTestHub(t)
	bob := connectAs(t, h, "bob", "", "192.0.2.2")
	dave := connectAs(t, h, "dave", "SHA256:dave", "192.0.2.3")
	h.Input(dave, "", "/msg bob hi")
	nextKind(t, bob, KindPrivate)
	dave.Leave()
	dave = connectAs(t, h, "dave", "SHA256:dave", "192.0.2.4")
	h.Input(bob, "", "/reply welcome back")
	if ev := nextPrivateFrom(t, dave, "bob"); ev.Text != "welcome back" {
		t.Fatalf("dave got %+v", ev)
	}
}
