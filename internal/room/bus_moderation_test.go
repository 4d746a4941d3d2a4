package room

import (
	"slices"
	"strings"
	"testing"
)

// An operator on one node kicks a user on another, and is told it was
// done; a ban made on one node, told to the other, closes the sessions
// it covers there and keeps them out, also a ban by the nick of a guest
// connected there; an operator granted on one node is one on the other;
// a topic lock set on one node holds on the other.
func TestModerationAcrossNodes(t *testing.T) {
	one, two := syncedNodes(t, WithAdmins(opKey))
	op := connectAs(t, one, "boss", opKey, "192.0.2.1")
	mallory := connectAs(t, two, "mallory", "SHA256:mallory", "192.0.2.2")
	troll := connectAs(t, two, "troll", "SHA256:troll", "192.0.2.3")
	helper := connectAs(t, two, "helper", "SHA256:helper", "192.0.2.4")

	if ev := run(t, one, op, "/kick mallory too loud"); ev.Kind != KindNotice || ev.Text != "Kicked mallory" {
		t.Fatalf("/kick across nodes answered %v %q", ev.Kind, ev.Text)
	}
	if r, closed := closeReason(mallory); !closed || r.Text != "kicked by boss: too loud" {
		t.Fatalf("mallory: closed %v with %+v", closed, r)
	}

	run(t, one, op, "/ban SHA256:troll spamming")
	if r, closed := closeReason(troll); !closed || r.Code != CodeBanned || !strings.Contains(r.Text, "spamming") {
		t.Fatalf("troll: closed %v with %+v", closed, r)
	}
	if _, err := two.Connect(Identity{Nick: "troll", Via: ViaSSH, Fingerprint: "SHA256:troll", Remote: "192.0.2.9"}); errorCode(err) != CodeBanned {
		t.Fatalf("the banned key connecting to the other node again: %v", err)
	}

	// A mute by the nick of someone on the other node holds there.
	loud := connectAs(t, two, "loud", "SHA256:loud", "192.0.2.7")
	if ev := run(t, one, op, "/mute loud"); ev.Kind != KindNotice || !strings.HasPrefix(ev.Text, "Muted loud") {
		t.Fatalf("/mute of a nick on the other node answered %v %q", ev.Kind, ev.Text)
	}
	if ev := run(t, two, loud, "/msg helper hi"); ev.Kind != KindError || ev.Code != "muted" {
		t.Fatalf("a private message by the muted user on the other node: %v %q", ev.Kind, ev.Text)
	}

	// A ban by the nick of a guest on the other node covers its address.
	pest := connectAs(t, two, "pest", "", "192.0.2.6")
	if ev := run(t, one, op, "/ban pest"); ev.Kind != KindNotice || !strings.Contains(ev.Text, "192.0.2.6/32") {
		t.Fatalf("/ban of a guest on the other node answered %v %q", ev.Kind, ev.Text)
	}
	if r, closed := closeReason(pest); !closed || r.Code != CodeBanned {
		t.Fatalf("pest: closed %v with %+v", closed, r)
	}

	if helper.IsOperator() {
		t.Fatal("helper is an operator before being made one")
	}
	// /op needs the person connected to the operator's node.
	helperHere := connectAs(t, one, "helper", "SHA256:helper", "192.0.2.4")
	run(t, one, op, "/op helper")
	if !helper.IsOperator() || !helperHere.IsOperator() {
		t.Fatal("an operator made on one node is not one on the other")
	}

	// A topic locked on one node is locked on the other, whose members
	// are told.
	guest := connectAs(t, two, "guest", "", "192.0.2.5")
	run(t, one, op, "/mode #lobby +t")
	found := false
	for _, ev := range drain(guest) {
		found = found || ev.Kind == KindNotice && ev.Text == "boss set mode +t on #lobby"
	}
	if !found {
		t.Error("the other node's members were not told of +t")
	}
	if ev := run(t, two, guest, "/topic anyone's topic"); ev.Kind != KindError {
		t.Fatalf("a topic set by a non-operator on the other node under +t: %v %q", ev.Kind, ev.Text)
	}
}

// /logout-all on one node closes the browsers signed in as that key on
// the other node, not its terminals there.
func TestLogoutAllAcrossNodes(t *testing.T) {
	one, two := syncedNodes(t)
	const key = "SHA256:alice"
	terminal := connectAs(t, one, "alice", key, "192.0.2.1")
	browser, err := two.Connect(Identity{Nick: "alice", Via: ViaWeb, Fingerprint: key, Remote: "192.0.2.1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(browser.Leave)
	otherTerminal := connectAs(t, two, "alice", key, "192.0.2.1")

	run(t, one, terminal, "/logout-all")
	if r, closed := closeReason(browser); !closed || r != ReasonSignedOut {
		t.Fatalf("the browser on the other node: closed %v with %+v", closed, r)
	}
	if _, closed := closeReason(otherTerminal); closed {
		t.Fatal("a terminal on the other node was closed too")
	}
}

// A node that missed a ban's broadcast catches up at its periodic reload:
// the banned session is closed then, with the ban's author and reason.
func TestReloadModerationCatchesAMissedBan(t *testing.T) {
	st := openTestStore(t)
	one := newStoredHub(t, WithStore(st), WithAdmins(opKey))
	two := newStoredHub(t, WithStore(st), WithAdmins(opKey))
	op := connectAs(t, one, "boss", opKey, "192.0.2.1")
	troll := connectAs(t, two, "troll", "SHA256:troll", "192.0.2.3")

	run(t, one, op, "/ban SHA256:troll spamming")
	if _, closed := closeReason(troll); closed {
		t.Fatal("closed before the other node heard of the ban")
	}
	hit, err := two.ReloadModeration()
	if err != nil {
		t.Fatal(err)
	}
	if r, closed := closeReason(troll); !closed || r.Text != "banned by boss: spamming" || len(hit) != 1 || hit[0] != "troll" {
		t.Fatalf("after the reload: closed %v with %+v, disconnected %v", closed, r, hit)
	}
}

// closeReason is why s was closed, and whether it was.
func closeReason(s *Session) (CloseReason, bool) {
	select {
	case <-s.Done():
		return s.CloseReason(), true
	default:
		return CloseReason{}, false
	}
}

// A person's nick change on one node, told to the other, renames their
// device there, which gets its own nick event; an /rmroom on one node
// parts the room's members on the other with the reason.
func TestNickChangeAndRoomRemovalAcrossNodes(t *testing.T) {
	one, two := syncedNodes(t, WithAdmins(opKey))
	alice := aliceDevices(t, one)[0]
	phone := alicesPhone(t, two)
	drain(phone)

	one.Input(alice, "", "/nick alicia")
	if ev := nextKind(t, phone, KindNick); ev.From != "alice" || ev.To != "alicia" {
		t.Fatalf("her device on the other node got %+v", ev)
	}
	if phone.Nick() != "alicia" {
		t.Fatalf("her device on the other node is %q", phone.Nick())
	}

	op := connectAs(t, one, "boss", opKey, "192.0.2.1")
	dora := connectAs(t, two, "dora", "", "192.0.2.2")
	one.Input(op, "", "/join garden")
	nextKind(t, op, KindMembers)
	two.Input(dora, "", "/join garden")
	nextKind(t, dora, KindMembers)
	if ev := run(t, one, op, "/rmroom #garden weeds"); ev.Kind != KindNotice {
		t.Fatalf("/rmroom answered %v %q", ev.Kind, ev.Text)
	}
	for {
		if ev := next(t, dora); ev.Kind == KindPart && ev.Room == "garden" {
			if ev.From != "dora" || ev.Text != "room removed by boss: weeds" {
				t.Fatalf("dora's part: %+v", ev)
			}
			break
		}
	}
	if dora.roomNamed("garden") != nil {
		t.Fatal("dora is still in #garden on the other node")
	}
}

// syncedNodes makes two hubs sharing one store as two cluster nodes: each
// tells the other its moderation changes and asks it about its nicks.
func syncedNodes(t *testing.T, opts ...Option) (one, two *Hub) {
	t.Helper()
	st := openTestStore(t)
	tell := func(other **Hub) Option {
		return WithModerationSync(func(c ModerationChange) {
			if _, err := (*other).ApplyModerationChange(c); err != nil {
				t.Errorf("applying %+v: %v", c, err)
			}
		})
	}
	one = newStoredHub(t, append([]Option{WithStore(st), WithRemote(hubsRemote{&two}), tell(&two)}, opts...)...)
	two = newStoredHub(t, append([]Option{WithStore(st), WithRemote(hubsRemote{&one}), tell(&one)}, opts...)...)
	return one, two
}

// A person's /part on one node parts their devices of the same key on
// the other node too, as it parts all their devices on one node: each
// gets its part and is no longer in the room; the others there stay.
func TestPartOfAPersonAcrossNodes(t *testing.T) {
	one, two := syncedNodes(t)
	alice := aliceDevices(t, one)[0]
	phone := alicesPhone(t, two)
	dora := connectAs(t, two, "dora", "", "192.0.2.2")
	for _, join := range []struct {
		h *Hub
		s *Session
	}{{one, alice}, {two, phone}, {two, dora}} {
		join.h.Input(join.s, "", "/join garden")
		nextKind(t, join.s, KindMembers)
	}
	drain(phone)

	one.Input(alice, "", "/part #garden")
	for {
		if ev := next(t, phone); ev.Kind == KindPart && ev.Room == "garden" {
			if ev.From != "alice" || ev.Text != "left" {
				t.Fatalf("her device on the other node got %+v", ev)
			}
			break
		}
	}
	if phone.roomNamed("garden") != nil || alice.roomNamed("garden") != nil {
		t.Fatal("alice is still in #garden on a node")
	}
	if dora.roomNamed("garden") == nil {
		t.Fatal("dora left #garden with alice")
	}
}

// A person's /join on one node joins their devices of the same key on the
// other node too, as it joins all their devices on one node: a room new
// to that node and one served there already; each becomes the device's
// current room, and each device's rooms are in the same order.
func TestJoinOfAPersonAcrossNodes(t *testing.T) {
	one, two := syncedNodes(t)
	alice := aliceDevices(t, one)[0]
	phone := alicesPhone(t, two)
	dora := connectAs(t, two, "dora", "", "192.0.2.2")
	two.Input(dora, "", "/join patio")
	nextKind(t, dora, KindMembers)
	drain(phone)

	for _, name := range []string{"garden", "patio"} {
		one.Input(alice, "", "/join "+name)
		nextKind(t, alice, KindMembers)
		for {
			if ev := next(t, phone); ev.Kind == KindJoin && ev.Room == name {
				if ev.From != "alice" {
					t.Fatalf("her device on the other node got %+v", ev)
				}
				break
			}
		}
		if got := phone.CurrentRoom(); got != name {
			t.Fatalf("her device on the other node is in #%s after her join of #%s", got, name)
		}
	}
	if mine, theirs := alice.Rooms(), phone.Rooms(); !slices.Equal(mine, theirs) {
		t.Fatalf("her rooms: %v on one node, %v on the other", mine, theirs)
	}
	var seen bool
	for _, ev := range drain(dora) {
		seen = seen || ev.Kind == KindJoin && ev.Room == "patio" && ev.From == "alice"
	}
	if !seen {
		t.Fatal("dora did not see alice join #patio on her node")
	}
}

// A person's /unregister or /register on one node relists their device
// of the same key on the other node at once, as on one node: the
// other node's members list it as unregistered, then registered again,
// without waiting for its next join, part or away change.
func TestRegistrationRelistsTheDevicesOnTheOtherNode(t *testing.T) {
	one, two := syncedNodes(t)
	alice := aliceDevices(t, one)[0]
	alicesPhone(t, two)
	listedRegistered := func() bool {
		t.Helper()
		for _, m := range two.LocalMembers("lobby") {
			if m.Nick == "alice" {
				return m.Registered
			}
		}
		t.Fatalf("alice is not listed in the other node's lobby: %+v", two.LocalMembers("lobby"))
		return false
	}
	if !listedRegistered() {
		t.Fatal("alice's device on the other node is listed unregistered")
	}
	answerTo(t, one, alice, "/unregister")
	if listedRegistered() {
		t.Fatal("alice's device on the other node is still listed registered after her /unregister")
	}
	answerTo(t, one, alice, "/register")
	if !listedRegistered() {
		t.Fatal("alice's device on the other node is listed unregistered after her /register")
	}
}

// A nick unregistered on one node closes the sessions of its key's bot
// token under that nick on the other node too, as on one node; the
// person's own device there stays.
func TestUnregisteringABotTokensNickClosesItsSessionsOnTheOtherNode(t *testing.T) {
	one, two := syncedNodes(t)
	alice, botID := aliceWithABot(t, one)
	bot, err := two.Connect(botID)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(bot.Leave)
	phone, err := two.Connect(Identity{Nick: "alice", Via: ViaWeb, Fingerprint: aliceKey})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(phone.Leave)

	answerTo(t, one, alice, "/unregister alicebot")
	if _, closed := closeReason(bot); !closed {
		t.Fatal("the bot on the other node still speaks under a nick its key gave up")
	}
	if _, closed := closeReason(phone); closed {
		t.Fatal("the owner's device on the other node was closed too")
	}
}
