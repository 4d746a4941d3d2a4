package room

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
)

const aliceKey = "SHA256:alice-devices"

// aliceDevices connects alice's registered key from a terminal, then from
// each of vias, each asking for another nick; it returns her sessions,
// emptied of their events so far.
func aliceDevices(t *testing.T, h *Hub, vias ...Via) []*Session {
	t.Helper()
	first := connectKey(t, h, "alice", aliceKey, ViaSSH)
	answerTo(t, h, first, "/register")
	all := []*Session{first}
	for i, via := range vias {
		s, err := h.Connect(Identity{Nick: fmt.Sprintf("other%d", i), Via: via, Fingerprint: aliceKey, AltNick: via == ViaSSH})
		if err != nil {
			t.Fatalf("device %d of alice's key: %v", i+2, err)
		}
		t.Cleanup(s.Leave)
		all = append(all, s)
	}
	for _, s := range all {
		drain(s)
	}
	return all
}

// countOf counts the events of kind from nick among evs.
func countOf(evs []*Event, kind Kind, from string) int {
	n := 0
	for _, ev := range evs {
		if ev.Kind == kind && ev.From == from {
			n++
		}
	}
	return n
}

func memberNicks(ev *Event) []string {
	var nicks []string
	for _, m := range ev.Members {
		nicks = append(nicks, m.Nick)
	}
	return nicks
}

// Every session of a registered key has its nick, whatever each asked
// for: the others see one join, one alice in member lists and counts, the
// number of her devices in /whois, and one part, when her last session
// leaves.
func TestKeySessionsShareOneNick(t *testing.T) {
	h := newTestHub(t)
	bob := connect(t, h, "bob", ViaWeb)
	drain(bob)
	alice := aliceDevices(t, h, ViaSSH, ViaWeb)
	for i, s := range alice {
		if s.Nick() != "alice" {
			t.Fatalf("device %d of alice's key is %q", i+1, s.Nick())
		}
	}
	if joins := countOf(drain(bob), KindJoin, "alice"); joins != 1 {
		t.Fatalf("bob saw alice join %d times, want once", joins)
	}
	if got := whoNicks(t, h, bob); !slices.Equal(got, []string{"alice", "bob"}) {
		t.Fatalf("/who = %v, want alice once", got)
	}
	if got := whoNicks(t, h, alice[2]); !slices.Equal(got, []string{"alice", "bob"}) {
		t.Fatalf("/who from alice's browser = %v", got)
	}
	h.Input(bob, "", "/names")
	if ev := nextKind(t, bob, KindMembers); ev.Count != 2 || len(ev.Members) != 2 {
		t.Fatalf("/names: count %d, %v; want 2 people", ev.Count, memberNicks(ev))
	}
	h.Input(bob, "", "/rooms")
	if ev := nextKind(t, bob, KindRooms); ev.RoomList[0].Count != 2 {
		t.Fatalf("/rooms counts %d in the lobby, want 2", ev.RoomList[0].Count)
	}
	if ev := answerTo(t, h, bob, "/whois alice"); !strings.Contains(ev.Text, "devices: 3 (ssh, ssh, web)") {
		t.Fatalf("/whois alice = %q, want her 3 devices", ev.Text)
	}
	if got := h.SessionCount(); got != 4 {
		t.Fatalf("%d sessions, want 4", got)
	}

	alice[1].Leave()
	alice[0].Leave()
	// The browser still holds her nick and room: nobody saw her go.
	say(t, h, alice[2], "still here")
	evs := drain(bob)
	if parts := countOf(evs, KindPart, "alice"); parts != 0 {
		t.Fatalf("bob saw alice part %d times while her browser stays", parts)
	}
	if countOf(evs, KindMessage, "alice") != 1 {
		t.Fatalf("bob got %v, want alice's message", kinds(evs))
	}
	if got := whoNicks(t, h, bob); !slices.Equal(got, []string{"alice", "bob"}) {
		t.Fatalf("/who with one device left = %v", got)
	}
	alice[2].Leave()
	if ev := nextKind(t, bob, KindPart); ev.From != "alice" || ev.Count != 1 {
		t.Fatalf("alice's last device left: %+v, want her part, 1 left", ev)
	}
	if _, err := h.Connect(Identity{Nick: "alice", Via: ViaWeb}); err == nil || errorCode(err) != "nick_registered" {
		t.Fatalf("alice's nick once she is gone: %v, want it registered, free for her key alone", err)
	}
}

// A message sent from one device reaches everyone else once, and the
// sender's other devices as hers: the same event, id and nick. The device
// that tagged it with a cid gets its tagged copy.
func TestMessageFromOneDeviceIsOwnOnTheOthers(t *testing.T) {
	h := newTestHub(t)
	bob := connect(t, h, "bob", ViaWeb)
	alice := aliceDevices(t, h, ViaSSH, ViaWeb)
	drain(bob)
	h.InputWithCID(alice[2], "", "from the browser", "c1")
	got := nextKind(t, bob, KindMessage)
	if got.From != "alice" || got.Text != "from the browser" || got.CID != "" {
		t.Fatalf("bob got %+v", got)
	}
	if echo := nextKind(t, alice[2], KindMessage); echo.CID != "c1" || echo.ID != got.ID {
		t.Fatalf("the sending browser got %+v, want its cid and id %d", echo, got.ID)
	}
	for _, s := range alice[:2] {
		if ev := nextKind(t, s, KindMessage); ev.ID != got.ID || ev.From != "alice" || ev.CID != "" {
			t.Fatalf("another device of alice got %+v, want message %d from alice", ev, got.ID)
		}
	}
	if evs := drain(bob); countOf(evs, KindMessage, "alice") != 0 {
		t.Fatalf("bob got alice's message again: %v", kinds(evs))
	}
}

// A private message to the nick reaches every session of the person; one
// sent from a device shows on all of the sender's devices, once each.
func TestPrivateMessagesReachEveryDevice(t *testing.T) {
	h := newTestHub(t)
	bob := connect(t, h, "bob", ViaWeb)
	alice := aliceDevices(t, h, ViaSSH, ViaWeb)
	drain(bob)
	h.Input(bob, "", "/msg alice hello all of you")
	for i, s := range alice {
		evs := drain(s)
		if countOf(evs, KindPrivate, "bob") != 1 {
			t.Fatalf("device %d of alice got %v, want bob's PM once", i+1, kinds(evs))
		}
	}
	if countOf(drain(bob), KindPrivate, "bob") != 1 {
		t.Fatal("bob did not get his PM's echo once")
	}
	h.Input(alice[1], "", "/reply hi bob")
	if evs := drain(bob); countOf(evs, KindPrivate, "alice") != 1 {
		t.Fatalf("bob got %v, want alice's reply once", kinds(evs))
	}
	for i, s := range alice {
		evs := drain(s)
		if countOf(evs, KindPrivate, "alice") != 1 || evs[0].To != "bob" {
			t.Fatalf("device %d of alice got %v, want her reply to bob once", i+1, kinds(evs))
		}
	}
	// To herself: each device once.
	h.Input(alice[0], "", "/msg alice note to self")
	for i, s := range alice {
		if n := countOf(drain(s), KindPrivate, "alice"); n != 1 {
			t.Fatalf("device %d got a PM to herself %d times", i+1, n)
		}
	}
}

// /join on one device puts every device in the room, each with its join,
// members and history; the others see one join. /part parts all of them,
// and the others see one part.
func TestJoinAndPartApplyToEveryDevice(t *testing.T) {
	h := newTestHub(t)
	bob := connect(t, h, "bob", ViaWeb)
	h.Input(bob, "", "/join #tea")
	say(t, h, bob, "before")
	alice := aliceDevices(t, h, ViaSSH, ViaWeb)
	drain(bob)
	h.Input(alice[1], "", "/join #tea")
	for i, s := range alice {
		evs := drain(s)
		if len(evs) < 3 || evs[0].Kind != KindJoin || evs[0].Room != "tea" || evs[1].Kind != KindMembers || evs[2].Kind != KindHistory {
			t.Fatalf("device %d got %v, want its join, members and history of #tea", i+1, kinds(evs))
		}
		if !slices.Equal(memberNicks(evs[1]), []string{"alice", "bob"}) || len(evs[2].History) != 1 {
			t.Fatalf("device %d: members %v, history %d", i+1, memberNicks(evs[1]), len(evs[2].History))
		}
		if s.CurrentRoom() != "tea" {
			t.Fatalf("device %d is in %s", i+1, s.CurrentRoom())
		}
	}
	if countOf(drain(bob), KindJoin, "alice") != 1 {
		t.Fatal("bob did not see alice join #tea once")
	}
	h.Input(alice[2], "", "/part #tea")
	for i, s := range alice {
		if countOf(drain(s), KindPart, "alice") != 1 || slices.Contains(s.Rooms(), "tea") {
			t.Fatalf("device %d is still in #tea: %v", i+1, s.Rooms())
		}
	}
	if countOf(drain(bob), KindPart, "alice") != 1 {
		t.Fatal("bob did not see alice part #tea once")
	}
	// A new device joins the rooms the person is in.
	h.Input(alice[0], "", "/join #tea")
	late, err := h.Connect(Identity{Nick: "alice", Via: ViaWeb, Fingerprint: aliceKey})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(late.Leave)
	if got := late.Rooms(); !slices.Equal(got, []string{"lobby", "tea"}) || late.CurrentRoom() != "lobby" {
		t.Fatalf("a new device is in %v (current %s), want lobby and tea", got, late.CurrentRoom())
	}
	if evs := drain(bob); countOf(evs, KindJoin, "alice") != 1 {
		t.Fatalf("bob saw %v, want alice's one join of #tea and nothing of her new device", kinds(evs))
	}
	checkOrder(t, h.rooms["tea"])
	checkOrder(t, h.rooms["lobby"])
}

// /nick and /away from one device apply to the person: the others see one
// change, every device has the new nick and away message.
func TestNickAndAwayApplyToEveryDevice(t *testing.T) {
	h := newTestHub(t)
	bob := connect(t, h, "bob", ViaWeb)
	alice := aliceDevices(t, h, ViaWeb)
	drain(bob)
	h.Input(alice[1], "", "/nick alicia")
	for i, s := range alice {
		if s.Nick() != "alicia" || countOf(drain(s), KindNick, "alice") != 1 {
			t.Fatalf("device %d is %s", i+1, s.Nick())
		}
	}
	if countOf(drain(bob), KindNick, "alice") != 1 {
		t.Fatal("bob did not see one nick change")
	}
	if got := whoNicks(t, h, bob); !slices.Equal(got, []string{"alicia", "bob"}) {
		t.Fatalf("/who = %v", got)
	}
	h.Input(alice[0], "", "/away tea")
	for i, s := range alice {
		if s.awayReason() != "tea" {
			t.Fatalf("device %d is not away", i+1)
		}
	}
	if countOf(drain(bob), KindAway, "alicia") != 1 {
		t.Fatal("bob did not see one away change")
	}
	h.Input(bob, "", "/msg alicia hi")
	if ev := nextKind(t, bob, KindNotice); !strings.Contains(ev.Text, "alicia is away: tea") {
		t.Fatalf("bob was told %q", ev.Text)
	}
	h.Input(alice[1], "", "/back")
	for i, s := range alice {
		if s.awayReason() != "" {
			t.Fatalf("device %d is still away", i+1)
		}
	}
	checkOrder(t, h.rooms["lobby"])
}

// A big room's presence summaries and member pages count people: a
// person's second device adds nobody.
func TestPresenceSummariesCountPeople(t *testing.T) {
	h, timers := newSummaryHub(t, 2)
	obs := connect(t, h, "obs", ViaWeb)
	connect(t, h, "m1", ViaWeb)
	connect(t, h, "m2", ViaWeb)
	// The room became big with m2: its first summary went out at once.
	nextKind(t, obs, KindPresence)
	alice := aliceDevices(t, h, ViaWeb, ViaSSH)
	h.Input(alice[1], "", "/nick alicia")
	alice[2].Leave()
	timers.Advance(SummaryInterval)
	var sum *Event
	for sum == nil {
		if ev := next(t, obs); ev.Kind == KindPresence {
			sum = ev
		}
	}
	p := sum.Presence
	if sum.Count != 4 || summaryTotal(p.Joined, p.JoinedMore) != 1 || summaryTotal(p.Left, p.LeftMore) != 0 || len(p.Nicks) != 1 {
		t.Fatalf("summary: count %d, %+v; want 4 people, alice joined once, one nick change, no part", sum.Count, p)
	}
	h.Input(obs, "", "/names")
	if ev := nextKind(t, obs, KindMembers); ev.Count != 4 || !slices.Equal(memberNicks(ev), sortedByFold([]string{"alicia", "m1", "m2", "obs"})) {
		t.Fatalf("page: count %d, %v", ev.Count, memberNicks(ev))
	}
	// Each device of the person gets its own nick change even in a big room.
	for i, s := range alice[:2] {
		if countOf(drain(s), KindNick, "alice") != 1 {
			t.Fatalf("device %d did not get its nick change", i+1)
		}
	}
}

// A key's sessions beyond --max-sessions-per-key are refused with a code;
// the others carry on, and once one leaves another may connect.
func TestSessionsPerKeyCapped(t *testing.T) {
	h := newTestHub(t, WithMaxSessionsPerKey(3))
	bob := connect(t, h, "bob", ViaWeb)
	alice := aliceDevices(t, h, ViaSSH, ViaWeb)
	_, err := h.Connect(Identity{Nick: "alice", Via: ViaSSH, Fingerprint: aliceKey, AltNick: true})
	if !errors.Is(err, ErrTooManySessions) || errorCode(err) != CodeTooManySessions || !strings.Contains(err.Error(), "at most 3") {
		t.Fatalf("4th session of a key capped at 3: %v", err)
	}
	drain(bob)
	say(t, h, alice[1], "still fine")
	if ev := nextKind(t, bob, KindMessage); ev.From != "alice" {
		t.Fatalf("bob got %+v", ev)
	}
	alice[0].Leave()
	again, err := h.Connect(Identity{Nick: "alice", Via: ViaSSH, Fingerprint: aliceKey, AltNick: true})
	if err != nil || again.Nick() != "alice" {
		t.Fatalf("a session after one left: %v", err)
	}
	again.Leave()
}

// Guests (no key) and keys with no registered nick are one session a
// person, as before: a second guest under a nick gets an alternative on
// SSH and is refused on the web.
func TestGuestsAreOneSessionEach(t *testing.T) {
	h := newTestHub(t)
	first := connect(t, h, "zed", ViaSSH)
	second := connect(t, h, "zed", ViaSSH)
	if second.Nick() != "zed_2" {
		t.Fatalf("second guest zed is %s", second.Nick())
	}
	if _, err := h.Connect(Identity{Nick: "zed", Via: ViaWeb}); errorCode(err) != "nick_taken" {
		t.Fatalf("web guest zed: %v, want nick_taken", err)
	}
	keyed := connectKey(t, h, "kim", "SHA256:kim", ViaSSH)
	again := connectKey(t, h, "kim", "SHA256:kim", ViaSSH)
	if keyed.Nick() != "kim" || again.Nick() != "kim_2" {
		t.Fatalf("an unregistered key's sessions are %s and %s", keyed.Nick(), again.Nick())
	}
	if got := whoNicks(t, h, first); !slices.Equal(got, []string{"kim", "kim_2", "zed", "zed_2"}) {
		t.Fatalf("/who = %v", got)
	}
}

// /kick of the nick disconnects every device; /mute silences every one.
func TestModerationReachesEveryDevice(t *testing.T) {
	h := newTestHub(t, WithAdmins("SHA256:op"))
	op := connectKey(t, h, "boss", "SHA256:op", ViaSSH)
	alice := aliceDevices(t, h, ViaSSH, ViaWeb)
	drain(op)
	h.Input(op, "", "/mute alice")
	for i, s := range alice {
		if !h.muted(s) {
			t.Fatalf("device %d is not muted", i+1)
		}
	}
	h.Input(op, "", "/kick alice enough")
	for i, s := range alice {
		<-s.Done()
		if got := s.CloseReason(); got.Code != CodeKicked {
			t.Fatalf("device %d closed: %+v", i+1, got)
		}
	}
	if ev := nextKind(t, op, KindPart); ev.From != "alice" || !strings.Contains(ev.Text, "enough") {
		t.Fatalf("op saw %+v", ev)
	}
	if evs := drain(op); countOf(evs, KindPart, "alice") != 0 {
		t.Fatalf("alice parted more than once: %v", kinds(evs))
	}
}

// Sessions of one key connecting and leaving at once, while another of its
// devices joins and parts, leave every room consistent: filed once, listed
// once, and empty of the key once all are gone.
func TestConcurrentDevicesOfOneKey(t *testing.T) {
	h := newTestHub(t, WithMaxSessionsPerKey(0))
	bob := connect(t, h, "bob", ViaWeb)
	anchor := aliceDevices(t, h)[0]
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 5 {
				s, err := h.Connect(Identity{Nick: "alice", Via: ViaWeb, Fingerprint: aliceKey})
				if err != nil {
					t.Error(err)
					return
				}
				if i%2 == 0 {
					h.Input(s, "", "/join #busy")
				} else {
					h.Input(s, "", "/part #busy")
				}
				h.Input(s, "", "hi") // its room may have been parted meanwhile
				s.Leave()
			}
		}()
	}
	wg.Wait()
	for _, name := range []string{"lobby", "busy"} {
		if r := h.rooms[name]; r != nil {
			checkOrder(t, r)
		}
	}
	if got := whoNicks(t, h, bob); !slices.Equal(got, []string{"alice", "bob"}) {
		t.Fatalf("/who = %v", got)
	}
	anchor.Leave()
	if got := whoNicks(t, h, bob); !slices.Equal(got, []string{"bob"}) {
		t.Fatalf("/who once alice is gone = %v", got)
	}
	if r := h.rooms["busy"]; r != nil {
		r.mu.Lock()
		n := len(r.members)
		r.mu.Unlock()
		if n != 0 {
			t.Fatalf("#busy keeps %d sessions of a key that left", n)
		}
	}
}

// Connecting puts the person in the lobby: a new device of a person who
// had left it brings its other devices back in, without switching them
// to it, and the others see one join.
func TestNewDeviceBringsThePersonBackToTheLobby(t *testing.T) {
	h := newTestHub(t)
	bob := connect(t, h, "bob", ViaWeb)
	alice := aliceDevices(t, h, ViaWeb)
	h.Input(alice[0], "", "/join #tea")
	h.Input(alice[0], "", "/part #lobby")
	drain(bob)
	if got := alice[1].Rooms(); !slices.Equal(got, []string{"tea"}) {
		t.Fatalf("alice's browser is in %v after /part on her terminal", got)
	}
	late, err := h.Connect(Identity{Nick: "alice", Via: ViaSSH, Fingerprint: aliceKey, AltNick: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(late.Leave)
	for i, s := range append(alice, late) {
		if got := s.Rooms(); !slices.Contains(got, "lobby") || !slices.Contains(got, "tea") {
			t.Fatalf("device %d is in %v, want lobby and tea", i+1, got)
		}
	}
	if alice[1].CurrentRoom() != "tea" || late.CurrentRoom() != "lobby" {
		t.Fatalf("current rooms: browser %s, new device %s; want tea and lobby", alice[1].CurrentRoom(), late.CurrentRoom())
	}
	if joins := countOf(drain(bob), KindJoin, "alice"); joins != 1 {
		t.Fatalf("bob saw alice join %d times", joins)
	}
	checkOrder(t, h.rooms["lobby"])
	// Her terminals leave: the lobby lists the front-end of the device left.
	late.Leave()
	alice[0].Leave()
	h.Input(bob, "", "/who")
	ev := nextKind(t, bob, KindMembers)
	for _, m := range ev.Members {
		if m.Nick == "alice" && m.Via != ViaWeb {
			t.Fatalf("alice listed via %s once her terminal left", m.Via)
		}
	}
}

// /ban of the nick bans the person's key: every device is disconnected,
// the others see one part, and the key cannot come back.
func TestBanReachesEveryDevice(t *testing.T) {
	h := newTestHub(t, WithAdmins("SHA256:op"))
	op := connectAs(t, h, "boss", "SHA256:op", "192.0.2.9")
	alice := aliceDevices(t, h, ViaSSH, ViaWeb)
	drain(op)
	h.Input(op, "", "/ban alice spam")
	for i, s := range alice {
		<-s.Done()
		if got := s.CloseReason(); got.Code != CodeBanned {
			t.Fatalf("device %d closed: %+v", i+1, got)
		}
	}
	if ev := nextKind(t, op, KindPart); ev.From != "alice" {
		t.Fatalf("op saw %+v", ev)
	}
	if _, err := h.Connect(Identity{Nick: "alice", Via: ViaSSH, Fingerprint: aliceKey, AltNick: true}); !errors.Is(err, ErrBanned) {
		t.Fatalf("alice's key after the ban: %v", err)
	}
}
