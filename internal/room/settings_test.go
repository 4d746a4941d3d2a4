package room

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tertulia/tertulia/internal/clocktest"
	"github.com/tertulia/tertulia/internal/store"
)

// sayAs types a line as s and waits for its own copy of it.
func sayAs(t *testing.T, h *Hub, s *Session, line string) {
	t.Helper()
	h.Input(s, "", line)
	for {
		ev := next(t, s)
		if ev.Kind == KindError {
			t.Fatalf("%s %q: %s", s.Nick(), line, ev.Text)
		}
		if (ev.Kind == KindMessage || ev.Kind == KindPrivate) && ev.From == s.Nick() {
			return
		}
	}
}

// textsUntil collects the texts of the messages and private messages s
// gets until one with the text marker, which is not included.
func textsUntil(t *testing.T, s *Session, marker string) []string {
	t.Helper()
	var got []string
	for {
		ev := next(t, s)
		if ev.Kind != KindMessage && ev.Kind != KindPrivate {
			continue
		}
		if ev.Text == marker {
			return got
		}
		got = append(got, ev.From+": "+ev.Text)
	}
}

// wantNotice runs line as s and fails unless a notice containing want
// answers it.
func wantNotice(t *testing.T, h *Hub, s *Session, line, want string) *Event {
	t.Helper()
	ev := run(t, h, s, line)
	if ev.Kind != KindNotice || !strings.Contains(ev.Text, want) {
		t.Fatalf("%s: got %v %q (%s), want a notice with %q", line, ev.Kind, ev.Text, ev.Code, want)
	}
	return ev
}

// refusedWith runs line as s and fails unless an error with code answers it.
func refusedWith(t *testing.T, h *Hub, s *Session, line, code string) {
	t.Helper()
	if ev := run(t, h, s, line); ev.Kind != KindError || ev.Code != code {
		t.Fatalf("%s: got %v %q (%s), want error %s", line, ev.Kind, ev.Text, ev.Code, code)
	}
}

// An ignored person's messages, actions and private messages do not reach
// the ignorer, whatever nick they take, and still reach everyone else;
// the sender is told nothing.
func TestIgnoreHidesSomeonesMessagesFromTheIgnorerOnly(t *testing.T) {
	h := newTestHub(t)
	alice := connectAs(t, h, "alice", "SHA256:alice", "192.0.2.1:1")
	bob := connectAs(t, h, "bob", "SHA256:bob", "192.0.2.2:1")
	carol := connectAs(t, h, "carol", "", "192.0.2.3:1")
	dave := connectAs(t, h, "dave", "", "192.0.2.4:1")

	wantNotice(t, h, alice, "/ignore bob", "You are ignoring bob (by key")
	sayAs(t, h, bob, "hello room")
	sayAs(t, h, bob, "/me waves")
	h.Input(bob, "", "/msg alice psst")
	if ev := nextPrivateFrom(t, bob, "bob"); ev.To != "alice" {
		t.Fatalf("bob's own copy of his private message: %+v", ev)
	}
	rename(t, h, bob, "robert")
	sayAs(t, h, bob, "new name, same key")
	sayAs(t, h, dave, "marker")

	if got := textsUntil(t, alice, "marker"); len(got) != 0 {
		t.Fatalf("alice, ignoring bob, got %q", got)
	}
	want := []string{"bob: hello room", "bob: waves", "robert: new name, same key"}
	if got := textsUntil(t, carol, "marker"); !slices.Equal(got, want) {
		t.Fatalf("carol got %q, want %q", got, want)
	}
	// Bob was told nothing about his private message.
	sayAs(t, h, dave, "marker2")
	for {
		ev := next(t, bob)
		if ev.Kind == KindError || ev.Kind == KindNotice {
			t.Fatalf("bob was told %q", ev.Text)
		}
		if ev.Kind == KindMessage && ev.Text == "marker2" {
			break
		}
	}
	refusedWith(t, h, alice, "/reply hi", "no_reply")

	wantNotice(t, h, alice, "/unignore robert", "no longer ignoring bob")
	sayAs(t, h, bob, "heard again")
	sayAs(t, h, dave, "marker3")
	if got := textsUntil(t, alice, "marker3"); !slices.Equal(got, []string{"robert: heard again"}) {
		t.Fatalf("after /unignore alice got %q", got)
	}
}

// A guest without a key is ignored by nick; a room's history shown on
// joining leaves out the messages of whoever is ignored.
func TestIgnoreByNickAndInHistory(t *testing.T) {
	h := newTestHub(t)
	alice := connectAs(t, h, "alice", "SHA256:alice", "192.0.2.1:1")
	zed := connectAs(t, h, "zed", "", "192.0.2.2:1")
	carol := connectAs(t, h, "carol", "", "192.0.2.3:1")
	for _, s := range []*Session{zed, carol} {
		h.Input(s, "", "/join #cafe")
		nextKind(t, s, KindHistory)
	}
	sayAs(t, h, zed, "from zed")
	sayAs(t, h, carol, "from carol")

	wantNotice(t, h, alice, "/ignore zed", "You are ignoring zed (by nick)")
	h.Input(alice, "", "/join #cafe")
	var got []string
	for _, m := range nextKind(t, alice, KindHistory).History {
		got = append(got, m.From+": "+m.Text)
	}
	if !slices.Equal(got, []string{"carol: from carol"}) {
		t.Fatalf("history on joining = %q, want carol's message only", got)
	}
	sayAs(t, h, zed, "still zed")
	sayAs(t, h, carol, "marker")
	if got := textsUntil(t, alice, "marker"); len(got) != 0 {
		t.Fatalf("alice got %q from someone she ignores", got)
	}
	wantNotice(t, h, alice, "/ignore", "zed (by nick)")
}

// /ignore refuses oneself, a second entry for the same person and more
// than MaxIgnored entries; /unignore of someone not ignored is an error.
func TestIgnoreRefusals(t *testing.T) {
	h := newTestHub(t)
	alice := connectAs(t, h, "alice", "", "192.0.2.1:1")
	refusedWith(t, h, alice, "/ignore alice", "ignore_self")
	refusedWith(t, h, alice, "/ignore ALICE", "ignore_self")
	refusedWith(t, h, alice, "/unignore nobody", "not_ignored")
	refusedWith(t, h, alice, "/ignore bad nick", "usage")
	wantNotice(t, h, alice, "/ignore", "not ignoring anyone")
	for i := range MaxIgnored {
		wantNotice(t, h, alice, fmt.Sprintf("/ignore n%d", i), "You are ignoring")
	}
	refusedWith(t, h, alice, "/ignore n0", "already_ignored")
	refusedWith(t, h, alice, "/ignore onemore", "ignore_full")
	if n := len(alice.Preferences().Ignored); n != MaxIgnored {
		t.Fatalf("%d ignored, want %d", n, MaxIgnored)
	}
}

// Settings of a key come back when the key connects again, through the
// store, on a new hub too; another key's are its own.
func TestSettingsSurviveReconnectingWithTheSameKey(t *testing.T) {
	st := store.NewMemory()
	h := newTestHub(t, WithStore(st))
	alice := connectAs(t, h, "alice", "SHA256:alice", "192.0.2.1:1")
	connectAs(t, h, "bob", "SHA256:bob", "192.0.2.2:1")
	for line, want := range map[string]string{
		"/tz Asia/Tokyo":      "Asia/Tokyo",
		"/timestamp datetime": "datetime",
		"/theme mono":         "mono",
		"/bell off":           "off",
		"/quiet":              "hidden",
		"/ignore bob":         "ignoring bob",
	} {
		wantNotice(t, h, alice, line, want)
	}
	alice.Leave()
	want := Settings{Ignored: []Ignored{{Nick: "bob", Key: "SHA256:bob"}}, Quiet: true, TimeZone: "Asia/Tokyo",
		Timestamp: TimestampDateTime, Theme: ThemeMono, Bell: BellOff}

	again := connectAs(t, h, "alice", "SHA256:alice", "192.0.2.1:2")
	if got := again.Preferences(); fmt.Sprint(got.Settings) != fmt.Sprint(want) || got.Location.String() != "Asia/Tokyo" {
		t.Fatalf("after reconnecting: %+v, want %+v", got.Settings, want)
	}
	other := connectAs(t, h, "carol", "SHA256:carol", "192.0.2.3:1")
	if got := other.Preferences().Settings; fmt.Sprint(got) != fmt.Sprint(Settings{}) {
		t.Fatalf("another key starts with %+v, want the defaults", got)
	}

	restarted := newTestHub(t, WithStore(st))
	later := connectAs(t, restarted, "alice", "SHA256:alice", "192.0.2.1:3")
	if got := later.Preferences().Settings; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("after a restart: %+v, want %+v", got, want)
	}
	wantNotice(t, restarted, later, "/quiet off", "Quiet is off")
	if later.Preferences().Quiet {
		t.Fatal("/quiet off left quiet on")
	}
}

// A change made in one session of a key applies to its other sessions,
// and a browser signed in as the key starts with the key's settings.
func TestSettingsFollowTheKeyAcrossItsSessions(t *testing.T) {
	h := newTestHub(t)
	first := connectAs(t, h, "alice", "SHA256:alice", "192.0.2.1:1")
	second := connectAs(t, h, "alice", "SHA256:alice", "192.0.2.1:2")
	wantNotice(t, h, first, "/tz Europe/Madrid", "Europe/Madrid")
	wantNotice(t, h, first, "/ignore zed", "ignoring zed")
	if got := second.Preferences().ZoneName(); got != "Europe/Madrid" {
		t.Fatalf("the key's other session has zone %s", got)
	}
	browser, err := h.Connect(Identity{Nick: "alice", Via: ViaWeb, Fingerprint: "SHA256:alice", Remote: "192.0.2.1:3", AltNick: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(browser.Leave)
	if got := browser.Preferences(); got.ZoneName() != "Europe/Madrid" || len(got.Ignored) != 1 {
		t.Fatalf("a browser signed in as the key starts with %+v", got.Settings)
	}
}

// A keyless guest's settings last for its session: the next guest with
// the same nick starts with the defaults.
func TestGuestSettingsDoNotLeakToTheNextGuest(t *testing.T) {
	h := newTestHub(t)
	zed := connectAs(t, h, "zed", "", "192.0.2.1:1")
	connectAs(t, h, "bob", "", "192.0.2.2:1")
	wantNotice(t, h, zed, "/tz Asia/Tokyo", "Asia/Tokyo")
	wantNotice(t, h, zed, "/theme light", "light")
	wantNotice(t, h, zed, "/ignore bob", "ignoring bob")
	if got := zed.Preferences().Settings; got.TimeZone != "Asia/Tokyo" || got.Theme != ThemeLight || len(got.Ignored) != 1 {
		t.Fatalf("zed's settings in his session: %+v", got)
	}
	zed.Leave()
	next := connectAs(t, h, "zed", "", "192.0.2.9:1")
	if next.Nick() != "zed" {
		t.Fatalf("the next guest is %s, want zed", next.Nick())
	}
	if got := next.Preferences().Settings; fmt.Sprint(got) != fmt.Sprint(Settings{}) {
		t.Fatalf("the next guest zed starts with %+v, want the defaults", got)
	}
}

// Bad values are refused with usage or a clear code, and change nothing.
func TestSettingsRefuseBadValues(t *testing.T) {
	h := newTestHub(t)
	alice := connectAs(t, h, "alice", "SHA256:alice", "192.0.2.1:1")
	wantNotice(t, h, alice, "/tz", "Your time zone is UTC")
	for _, zone := range []string{"Mars/Olympus_Mons", "Local", "../../etc/passwd", "/etc/localtime", "Europe/Madrid[2J"} {
		refusedWith(t, h, alice, "/tz "+zone, "bad_timezone")
	}
	refusedWith(t, h, alice, "/tz Europe/Madrid extra", "usage")
	refusedWith(t, h, alice, "/timestamp sometimes", "usage")
	refusedWith(t, h, alice, "/timestamp", "usage")
	refusedWith(t, h, alice, "/theme neon", "usage")
	refusedWith(t, h, alice, "/bell loud", "usage")
	refusedWith(t, h, alice, "/quiet maybe", "usage")
	if got := alice.Preferences().Settings; fmt.Sprint(got) != fmt.Sprint(Settings{}) {
		t.Fatalf("refused values changed the settings: %+v", got)
	}
	wantNotice(t, h, alice, "/tz Europe/Madrid", "Europe/Madrid")
	wantNotice(t, h, alice, "/tz utc", "now UTC")
	if got := alice.Preferences().ZoneName(); got != "UTC" {
		t.Fatalf("zone after /tz utc = %s", got)
	}
	wantNotice(t, h, alice, "/bell on", "every message")
	wantNotice(t, h, alice, "/timestamp off", "off")
	if p := alice.Preferences(); p.Stamp(time.Now()) != "" || p.BellMode() != BellOn {
		t.Fatalf("settings not applied: %+v", p.Settings)
	}
}

// /whois gives times in the asking user's zone, labelled, as /tz shows.
func TestWhoisTimesInTheAskersZone(t *testing.T) {
	clock := clocktest.New(time.Date(2026, 12, 4, 19, 24, 58, 0, time.UTC))
	h := newTestHub(t, WithClock(clock.Now))
	alice := connectAs(t, h, "alice", "SHA256:alice", "192.0.2.1:1")
	connectAs(t, h, "bob", "", "192.0.2.2:1")
	clock.Advance(3 * time.Second)
	wantNotice(t, h, alice, "/whois bob", "connected since 2026-12-04 19:24:58 UTC (3s ago)")
	wantNotice(t, h, alice, "/tz Asia/Tokyo", "now 2026-12-05 04:25:01 JST")
	wantNotice(t, h, alice, "/whois bob", "connected since 2026-12-05 04:24:58 JST (3s ago)")
	wantNotice(t, h, alice, "/tz", "Your time zone is Asia/Tokyo")
	if got := alice.Preferences().Stamp(clock.Now()); got != "04:25" {
		t.Fatalf("stamp = %q, want Tokyo time 04:25", got)
	}
}

// /quiet hides others' joins, parts and nick changes, never the user's
// own, which front-ends follow rooms with.
func TestQuietHidesOthersPresenceOnly(t *testing.T) {
	p := newPreferences(Settings{Quiet: true})
	for _, c := range []struct {
		ev   *Event
		hide bool
	}{
		{&Event{Kind: KindJoin, From: "bob"}, true},
		{&Event{Kind: KindPart, From: "bob"}, true},
		{&Event{Kind: KindNick, From: "bob", To: "robert"}, true},
		{&Event{Kind: KindJoin, From: "alice"}, false},
		{&Event{Kind: KindNick, From: "al", To: "alice"}, false},
		{&Event{Kind: KindMessage, From: "bob"}, false},
	} {
		if got := p.Hides(c.ev, "alice"); got != c.hide {
			t.Errorf("Hides(%v from %s) = %v, want %v", c.ev.Kind, c.ev.From, got, c.hide)
		}
	}
	if newPreferences(Settings{}).Hides(&Event{Kind: KindJoin, From: "bob"}, "alice") {
		t.Error("joins hidden without /quiet")
	}
}

// settingsFailing is a memory store whose key settings cannot be read or
// written.
type settingsFailing struct{ *store.Memory }

func (settingsFailing) KeySettings(context.Context, string) (string, error) {
	return "", errors.New("disk I/O error")
}

func (settingsFailing) SetKeySettings(context.Context, string, string, time.Time) error {
	return errors.New("disk I/O error")
}

// When the store fails, a key's session starts with the defaults and is
// told, and a change is refused with store_failed and not applied.
func TestSettingsStoreFailure(t *testing.T) {
	st := settingsFailing{store.NewMemory()}
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(st.EnsureRoom(context.Background(), store.Room{Name: DefaultLobby, CreatedAt: time.Now()}))
	h := newTestHub(t, WithStore(st))
	alice, err := h.Connect(Identity{Nick: "alice", Via: ViaSSH, Fingerprint: "SHA256:alice", Remote: "192.0.2.1:1"})
	must(err)
	t.Cleanup(alice.Leave)
	for {
		ev := next(t, alice)
		if ev.Kind == KindNotice && strings.Contains(ev.Text, "saved settings could not be read") {
			break
		}
	}
	refusedWith(t, h, alice, "/tz Asia/Tokyo", "store_failed")
	if got := alice.Preferences().ZoneName(); got != "UTC" {
		t.Fatalf("zone after a failed change = %s, want UTC", got)
	}
	// A guest's settings never touch the store.
	guest := connectAs(t, h, "zed", "", "192.0.2.2:1")
	wantNotice(t, h, guest, "/tz Asia/Tokyo", "Asia/Tokyo")
}

// A registered nick is ignored by its key even while nobody uses it: its
// owner is hidden under any nick once back.
func TestIgnoreOfARegisteredNickWhileAway(t *testing.T) {
	h := newTestHub(t)
	bob := connectAs(t, h, "bob", "SHA256:bob", "192.0.2.2:1")
	wantNotice(t, h, bob, "/register", "bob")
	bob.Leave()
	alice := connectAs(t, h, "alice", "SHA256:alice", "192.0.2.1:1")
	dave := connectAs(t, h, "dave", "", "192.0.2.4:1")
	wantNotice(t, h, alice, "/ignore bob", "by key")

	back := connectAs(t, h, "bobby", "SHA256:bob", "192.0.2.2:2")
	rename(t, h, back, "robert")
	sayAs(t, h, back, "under another nick")
	sayAs(t, h, dave, "marker")
	if got := textsUntil(t, alice, "marker"); len(got) != 0 {
		t.Fatalf("alice got %q from the key she ignores", got)
	}
}

// A page of history made only of an ignored person's messages is read
// past: the page sent holds the next messages the user may see, so that
// paging back from the oldest message shown moves on.
func TestHistoryPagesPastIgnoredMessages(t *testing.T) {
	h := newTestHub(t)
	alice := connectAs(t, h, "alice", "SHA256:alice", "192.0.2.1:1")
	bob := connectAs(t, h, "bob", "SHA256:bob", "192.0.2.2:1")
	carol := connectAs(t, h, "carol", "", "192.0.2.3:1")
	sayAs(t, h, carol, "carol's old message")
	sayAs(t, h, carol, "carol's newer message")
	for i := range 120 {
		sayAs(t, h, bob, fmt.Sprintf("bob %d", i))
	}
	sayAs(t, h, carol, "carol's last message")
	wantNotice(t, h, alice, "/ignore bob", "ignoring bob")

	var last uint64
	h.Input(carol, "", "marker")
	for {
		ev := next(t, alice)
		if ev.Kind == KindMessage && ev.Text == "marker" {
			last = ev.ID
			break
		}
	}
	h.HistoryRequest(alice, "lobby", last, 10)
	page := nextKind(t, alice, KindHistory)
	var got []string
	for _, m := range page.History {
		got = append(got, m.Text)
	}
	if !slices.Equal(got, []string{"carol's last message"}) || !page.More {
		t.Fatalf("first page = %q (more %v), want carol's last message and more", got, page.More)
	}
	h.HistoryRequest(alice, "lobby", page.History[0].ID, 50)
	page = nextKind(t, alice, KindHistory)
	got = got[:0]
	for _, m := range page.History {
		got = append(got, m.Text)
	}
	if !slices.Equal(got, []string{"carol's old message", "carol's newer message"}) {
		t.Fatalf("page before it = %q, want carol's two older messages past bob's 120", got)
	}
}
