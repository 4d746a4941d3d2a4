package room

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tertulia/tertulia/internal/clocktest"
	"github.com/tertulia/tertulia/internal/store"
)

// registeredAway connects nick with key, registers the nick, runs lines
// as it, and disconnects it.
func registeredAway(t *testing.T, h *Hub, nick, key string, lines ...string) {
	t.Helper()
	s := connectKey(t, h, nick, key, ViaSSH)
	if ev := answerTo(t, h, s, "/register"); ev.Kind != KindNotice {
		t.Fatalf("/register: %v %q", ev.Kind, ev.Text)
	}
	for _, l := range lines {
		h.Input(s, "", l)
	}
	s.Leave()
}

// missedPrivates are the private messages marked missed among evs, as
// "from: text", and the texts of the notices.
func missedPrivates(evs []*Event) (pms, notices []string) {
	for _, ev := range evs {
		switch {
		case ev.Kind == KindPrivate && ev.Missed:
			pms = append(pms, ev.From+": "+ev.Text)
		case ev.Kind == KindNotice:
			notices = append(notices, ev.Text)
		}
	}
	return pms, notices
}

// A private message to an offline registered nick is kept; the sender's
// copy says it waits and a notice says when it will be delivered. At the
// owner's next connection the messages come once, marked missed, after a
// notice counting them; a second device, or a reconnection, gets none.
func TestPrivateToOfflineRegisteredNickIsDeliveredOnceAtConnection(t *testing.T) {
	h := newTestHub(t)
	registeredAway(t, h, "alice", "SHA256:alice")
	bob := connectKey(t, h, "bob", "SHA256:bob", ViaSSH)
	drain(bob)

	h.Input(bob, "", "/msg alice are you there?")
	evs := drain(bob)
	if len(evs) != 2 || evs[0].Kind != KindPrivate || !evs[0].Waiting || evs[0].Missed || evs[0].To != "alice" ||
		evs[1].Kind != KindNotice || evs[1].Text != "alice is offline; your message will be delivered when they connect." {
		t.Fatalf("bob's answer: %v", describe(evs))
	}
	h.Input(bob, "", "/msg ALICE two\nlines")
	drain(bob)

	alice := connectKey(t, h, "alice", "SHA256:alice", ViaWeb)
	pms, notices := missedPrivates(drain(alice))
	if strings.Join(pms, "|") != "bob: are you there?|bob: two\nlines" {
		t.Fatalf("alice's missed messages: %q", pms)
	}
	if !contains(notices, "2 private messages while you were away:") {
		t.Fatalf("alice's notices: %q", notices)
	}
	second := connectKey(t, h, "alice", "SHA256:alice", ViaSSH)
	if pms, _ := missedPrivates(drain(second)); len(pms) != 0 {
		t.Fatalf("a second device got them again: %q", pms)
	}
	alice.Leave()
	second.Leave()
	again := connectKey(t, h, "alice", "SHA256:alice", ViaWeb)
	if pms, notices := missedPrivates(drain(again)); len(pms) != 0 || contains(notices, "while you were away") {
		t.Fatalf("a reconnection got them again: %q %q", pms, notices)
	}
}

// Whoever turned offline messages off refuses them with a code; a guest's
// nick, or a key's nick it never registered, is no one to keep them for;
// a full mailbox refuses more.
func TestOfflineMessagesRefused(t *testing.T) {
	h := newTestHub(t, WithOffline(time.Hour, 2))
	registeredAway(t, h, "alice", "SHA256:alice", "/set offline-messages off")
	registeredAway(t, h, "carol", "SHA256:carol")
	guest := connect(t, h, "dave", ViaWeb)
	guest.Leave()
	unregistered := connectKey(t, h, "erin", "SHA256:erin", ViaSSH)
	unregistered.Leave()
	bob := connectKey(t, h, "bob", "SHA256:bob", ViaSSH)

	wantAnswer(t, answerTo(t, h, bob, "/msg alice hello"), "offline_refused", "")
	wantAnswer(t, answerTo(t, h, bob, "/msg dave hello"), "no_such_nick", "dave is not connected")
	wantAnswer(t, answerTo(t, h, bob, "/msg erin hello"), "no_such_nick", "erin is not connected")
	for range 2 {
		if ev := answerTo(t, h, bob, "/msg carol hello"); ev.Kind != KindPrivate || !ev.Waiting {
			t.Fatalf("message to carol: %v %q", ev.Kind, ev.Text)
		}
	}
	wantAnswer(t, answerTo(t, h, bob, "/msg carol one too many"), "mailbox_full", "")

	// Turned on again, from another device of the key.
	a := connectKey(t, h, "alice", "SHA256:alice", ViaWeb)
	if ev := answerTo(t, h, a, "/set offline-messages on"); ev.Kind != KindNotice || !strings.HasPrefix(ev.Text, "Offline messages: on.") {
		t.Fatalf("/set offline-messages on: %v %q", ev.Kind, ev.Text)
	}
	a.Leave()
	if ev := answerTo(t, h, bob, "/msg alice hello"); ev.Kind != KindPrivate || !ev.Waiting {
		t.Fatalf("message to alice once on: %v %q", ev.Kind, ev.Text)
	}
}

// Waiting messages older than the retention are not delivered, and pruning
// deletes them; with no retention nothing is kept.
func TestOfflineMessagesExpire(t *testing.T) {
	clock := clocktest.New(time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC))
	h := newTestHub(t, WithClock(clock.Now), WithOffline(24*time.Hour, 10))
	registeredAway(t, h, "alice", "SHA256:alice")
	bob := connectKey(t, h, "bob", "SHA256:bob", ViaSSH)
	answerTo(t, h, bob, "/msg alice old news")
	clock.Advance(20 * time.Hour)
	answerTo(t, h, bob, "/msg alice fresh")
	clock.Advance(5 * time.Hour)
	h.PruneOffline()
	alice := connectKey(t, h, "alice", "SHA256:alice", ViaWeb)
	if pms, _ := missedPrivates(drain(alice)); strings.Join(pms, "|") != "bob: fresh" {
		t.Fatalf("after a day: %q, want only the message younger than the retention", pms)
	}

	none := newTestHub(t, WithOffline(0, 10))
	registeredAway(t, none, "alice", "SHA256:alice")
	b := connectKey(t, none, "bob", "SHA256:bob", ViaSSH)
	wantAnswer(t, answerTo(t, none, b, "/msg alice hello"), "no_such_nick", "")
}

// Messages from someone the recipient ignores are not delivered, and not
// counted.
func TestMissedMessagesFromTheIgnoredAreNotDelivered(t *testing.T) {
	h := newTestHub(t)
	registeredAway(t, h, "alice", "SHA256:alice", "/ignore mallory")
	mallory := connectKey(t, h, "mallory", "SHA256:mallory", ViaSSH)
	bob := connectKey(t, h, "bob", "SHA256:bob", ViaSSH)
	answerTo(t, h, mallory, "/msg alice spam")
	answerTo(t, h, bob, "/msg alice hi")
	alice := connectKey(t, h, "alice", "SHA256:alice", ViaWeb)
	pms, notices := missedPrivates(drain(alice))
	if strings.Join(pms, "|") != "bob: hi" || !contains(notices, "1 private message while you were away:") {
		t.Fatalf("got %q %q", pms, notices)
	}
}

// The mentions of a registered user's nicks in their rooms while they were
// offline are listed at their next connection, and again by /mentions;
// their own messages and a nick inside a longer word are not mentions.
func TestMentionsWhileAwayListedAtConnectionAndByMentions(t *testing.T) {
	clock := clocktest.New(time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC))
	h := newTestHub(t, WithClock(clock.Now))
	a := connectKey(t, h, "alice", "SHA256:alice", ViaSSH)
	answerTo(t, h, a, "/register")
	h.Input(a, "", "/join #dev")
	sayAs(t, h, a, "before leaving, alice")
	clock.Advance(time.Second)
	a.Leave()
	clock.Advance(time.Second)

	bob := connectKey(t, h, "bob", "SHA256:bob", ViaSSH)
	h.Input(bob, "", "/join #dev")
	for _, line := range []string{"ping Alice: look at this", "nothing for her", "alice2x is someone else", "/me waves at alice\nsecond line"} {
		sayAs(t, h, bob, line)
		clock.Advance(time.Second)
	}
	h.Input(bob, "", "/join #other")
	sayAs(t, h, bob, "alice is not in this room")

	alice := connectKey(t, h, "alice", "SHA256:alice", ViaWeb)
	_, notices := missedPrivates(drain(alice))
	var listed string
	for _, n := range notices {
		if strings.HasPrefix(n, "2 mentions while you were away:") {
			listed = n
		}
	}
	if !strings.Contains(listed, "#dev 2026-12-05 10:00 <bob> ping Alice: look at this") ||
		!strings.Contains(listed, "<bob> waves at alice\n    second line") || strings.Contains(listed, "alice2x") || strings.Contains(listed, "before leaving") {
		t.Fatalf("notices at connection: %q", notices)
	}
	ev := answerTo(t, h, alice, "/mentions")
	if ev.Kind != KindNotice || !strings.HasPrefix(ev.Text, "Mentions of you while you were away (2):") || !strings.Contains(ev.Text, "ping Alice") {
		t.Fatalf("/mentions: %v %q", ev.Kind, ev.Text)
	}
	// A second device of the key, connected meanwhile, is told nothing new.
	second := connectKey(t, h, "alice", "SHA256:alice", ViaSSH)
	if _, notices := missedPrivates(drain(second)); contains(notices, "mentions while you were away") {
		t.Fatalf("second device: %q", notices)
	}
	guest := connect(t, h, "dave", ViaWeb)
	wantAnswer(t, answerTo(t, h, guest, "/mentions"), "needs_key", "")
}

// /set lists the settings, shows and changes one; a change is in force at
// once on every session of the key, and sessions that asked for settings
// events get one; unknown names and values are refused.
func TestSetCommandAndSettingsEvents(t *testing.T) {
	h := newTestHub(t)
	web, err := h.Connect(Identity{Nick: "alice", Via: ViaWeb, Fingerprint: "SHA256:alice", Settings: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(web.Leave)
	evs := drain(web)
	if last := evs[len(evs)-1]; last.Kind != KindSettings || last.Prefs.Quiet {
		t.Fatalf("last event at connection: %v, want the settings", describe(evs))
	}
	term := connectKey(t, h, "alice2", "SHA256:alice", ViaSSH)
	drain(term)
	if n := nextOf(drain(term), KindSettings); n != nil {
		t.Fatal("a terminal that did not ask got a settings event")
	}

	ev := answerTo(t, h, term, "/set")
	for _, want := range []string{"Your settings", "offline-messages  on", "quiet             off", "timestamp         time", "tz                UTC", "ignore            0 people"} {
		if !strings.Contains(ev.Text, want) {
			t.Fatalf("/set: %q lacks %q", ev.Text, want)
		}
	}
	if ev := answerTo(t, h, term, "/set quiet on"); !strings.HasPrefix(ev.Text, "Quiet: others'") {
		t.Fatalf("/set quiet on: %q", ev.Text)
	}
	if !web.Preferences().Quiet || !term.Preferences().Quiet {
		t.Fatal("quiet is not in force on both sessions at once")
	}
	if ev := nextOf(drain(web), KindSettings); ev == nil || !ev.Prefs.Quiet {
		t.Fatalf("web session's settings event: %+v", ev)
	}
	h.SetRequest(web, "tz", "Europe/Madrid")
	if ev := nextOf(drain(web), KindSettings); ev == nil || ev.Prefs.ZoneName() != "Europe/Madrid" {
		t.Fatalf("settings event after a set frame: %+v", ev)
	}
	if term.Preferences().ZoneName() != "Europe/Madrid" {
		t.Fatal("the zone set on the web is not in force in the terminal")
	}
	if ev := answerTo(t, h, term, "/set tz"); !strings.HasPrefix(ev.Text, "tz: Europe/Madrid") {
		t.Fatalf("/set tz: %q", ev.Text)
	}
	wantAnswer(t, answerTo(t, h, term, "/set colour red"), "unknown_setting", "")
	wantAnswer(t, answerTo(t, h, term, "/set timestamp sometimes"), "usage", "usage: /set timestamp off|time|datetime")
	wantAnswer(t, answerTo(t, h, term, "/set ignore bob"), "usage", "")
	wantAnswer(t, answerTo(t, h, term, "/set tz Mars/Olympus"), "bad_timezone", "")
	h.SetRequest(web, "quiet", "on off")
	if ev := nextOf(drain(web), KindError); ev == nil || ev.Code != "usage" {
		t.Fatalf("a set frame with two words: %+v", ev)
	}
}

// nextOf is the first event of kind k in evs, nil if none.
func nextOf(evs []*Event, k Kind) *Event {
	for _, ev := range evs {
		if ev.Kind == k {
			return ev
		}
	}
	return nil
}

func contains(list []string, prefix string) bool {
	for _, s := range list {
		if strings.Contains(s, prefix) {
			return true
		}
	}
	return false
}

func describe(evs []*Event) string {
	var b strings.Builder
	for _, ev := range evs {
		b.WriteString(ev.Kind.String() + " " + ev.Text + "; ")
	}
	return b.String()
}

// A server that stops records its registered users as seen then, in one
// write: after the restart, a mention of them made meanwhile is listed at
// their connection.
func TestMentionsAcrossARestart(t *testing.T) {
	clock := clocktest.New(time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC))
	mem := store.NewMemory()
	first := newTestHub(t, WithClock(clock.Now), WithStore(mem))
	if err := first.LoadRooms(context.Background()); err != nil {
		t.Fatal(err)
	}
	a := connectKey(t, first, "alice", "SHA256:alice", ViaSSH)
	answerTo(t, first, a, "/register")
	first.Input(a, "", "/join #dev")
	if err := first.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Minute)

	second := newTestHub(t, WithClock(clock.Now), WithStore(mem))
	if err := second.LoadRooms(context.Background()); err != nil {
		t.Fatal(err)
	}
	bob := connectKey(t, second, "bob", "SHA256:bob", ViaSSH)
	second.Input(bob, "", "/join #dev")
	sayAs(t, second, bob, "alice: the server restarted")
	alice := connectKey(t, second, "alice", "SHA256:alice", ViaSSH)
	if _, notices := missedPrivates(drain(alice)); !contains(notices, "1 mention while you were away:\n  #dev 2026-12-05 10:01 <bob> alice: the server restarted") {
		t.Fatalf("notices after the restart: %q", notices)
	}
}

// With --store-private a waiting message is stored as a private message
// too, and both ends see it under that id, as a live one.
func TestWaitingMessageKeepsItsStoredPrivateID(t *testing.T) {
	h := newTestHub(t, WithStorePrivate(true))
	connectKey(t, h, "carol", "SHA256:carol", ViaSSH)
	registeredAway(t, h, "alice", "SHA256:alice")
	bob := connectKey(t, h, "bob", "SHA256:bob", ViaSSH)
	first := answerTo(t, h, bob, "/msg carol live")
	sent := answerTo(t, h, bob, "/msg alice kept")
	if !sent.Waiting || sent.ID == 0 || sent.ID == first.ID {
		t.Fatalf("waiting copy id %d (live one %d)", sent.ID, first.ID)
	}
	alice := connectKey(t, h, "alice", "SHA256:alice", ViaWeb)
	if ev := nextOf(drain(alice), KindPrivate); ev == nil || !ev.Missed || ev.ID != sent.ID {
		t.Fatalf("alice's copy: %+v, want id %d", ev, sent.ID)
	}
}

// A message for an offline registered nick sent with a cid comes back
// marked waiting and carrying the cid; resent with the same cid (after a
// reconnect of the sender's page), it is kept once, and the sender gets
// the same copy again.
func TestWaitingPrivateMessageHonoursItsCID(t *testing.T) {
	h := newTestHub(t)
	registeredAway(t, h, "alice", "SHA256:alice")
	bob := connectKey(t, h, "bob", "SHA256:bob", ViaWeb)
	drain(bob)

	h.InputWithCID(bob, "", "/msg alice are you there?", "w1")
	first := privatesIn(drain(bob))
	if len(first) != 1 || !first[0].Waiting || first[0].CID != "w1" {
		t.Fatalf("bob's copy: %v", describe(first))
	}
	bob.Leave()
	bob = connectKey(t, h, "bob", "SHA256:bob", ViaWeb)
	drain(bob)
	h.InputWithCID(bob, "", "/msg alice are you there?", "w1")
	again := privatesIn(drain(bob))
	if len(again) != 1 || again[0].CID != "w1" || again[0].ID != first[0].ID {
		t.Fatalf("bob's copy of the resend: %v, want the first copy again", describe(again))
	}

	alice := connectKey(t, h, "alice", "SHA256:alice", ViaWeb)
	if pms, _ := missedPrivates(drain(alice)); len(pms) != 1 {
		t.Fatalf("alice's missed messages: %q, want the message once", pms)
	}
}
