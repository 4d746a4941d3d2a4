package room

import (
	"errors"
	"strings"
	"testing"
)

// hubsRemote is the Remote of one of two hubs standing for two nodes:
// what nobody holds on its own hub goes to the other.
type hubsRemote struct{ other **Hub }

func (r hubsRemote) Private(fold string, pm RemotePrivate) (RemoteDelivered, error) {
	return (*r.other).DeliverRemotePrivate(pm)
}

func (r hubsRemote) Whois(fold string, q RemoteWhois) (string, error) {
	return (*r.other).WhoisHere(q)
}

func (r hubsRemote) BanTargets(fold, nick string) (RemoteTargets, error) {
	return (*r.other).BanTargetsHere(nick)
}

func (r hubsRemote) Kick(fold string, k RemoteKick) (string, error) {
	return (*r.other).KickHere(k)
}

// twoNodes are two hubs, each reaching the other's people as a cluster's
// nodes do.
func twoNodes(t *testing.T) (*Hub, *Hub) {
	var one, two *Hub
	one = newTestHub(t, WithRemote(hubsRemote{&two}))
	two = newTestHub(t, WithRemote(hubsRemote{&one}))
	return one, two
}

// A private message to a nick connected to another node reaches it there;
// the sender's connection gets its copy with the cid and the same id; a
// /reply goes back across; a nick connected nowhere is refused as on one
// node.
func TestPrivateMessageToAnotherNode(t *testing.T) {
	one, two := twoNodes(t)
	alice := connect(t, one, "alice", ViaWeb)
	bob := connect(t, two, "bob", ViaSSH)
	drain(alice)
	drain(bob)

	two.InputWithCID(bob, "", "/msg ALICE hello across", "c1")
	mine := privatesIn(drain(bob))
	if len(mine) != 1 || mine[0].CID != "c1" || mine[0].To != "alice" || mine[0].Text != "hello across" || mine[0].ID == 0 {
		t.Fatalf("the sender got %+v, want its message once with cid c1, to alice", mine)
	}
	got := privatesIn(drain(alice))
	if len(got) != 1 || got[0].From != "bob" || got[0].Text != "hello across" || got[0].CID != "" || got[0].ID != mine[0].ID {
		t.Fatalf("alice got %+v, want bob's message %d once without a cid", got, mine[0].ID)
	}

	one.Input(alice, "", "/reply back to you")
	if got := privatesIn(drain(bob)); len(got) != 1 || got[0].From != "alice" || got[0].Text != "back to you" {
		t.Fatalf("bob got %+v, want alice's reply", got)
	}
	if got := privatesIn(drain(alice)); len(got) != 1 || got[0].To != "bob" {
		t.Fatalf("alice's own copy of her reply: %+v", got)
	}

	wantAnswer(t, answerTo(t, two, bob, "/msg nobody hello"), "no_such_nick", "nobody is not connected")
}

// /whois of a nick connected to another node is answered by that node.
func TestWhoisOnAnotherNode(t *testing.T) {
	one, two := twoNodes(t)
	alice := connect(t, one, "alice", ViaWeb)
	bob := connect(t, two, "bob", ViaSSH)
	drain(alice)
	ev := answerTo(t, two, bob, "/whois alice")
	if ev.Kind != KindNotice || !strings.HasPrefix(ev.Text, "alice (web)") || !strings.Contains(ev.Text, "connected since") {
		t.Fatalf("/whois alice from the other node: %v %q", ev.Kind, ev.Text)
	}
	wantAnswer(t, answerTo(t, two, bob, "/whois nobody"), "no_such_nick", "nobody is not connected")
}

// A private message a person with devices on two nodes sends from one
// reaches their device on the other too, as it reaches all their devices
// on one node: whether the recipient is on the sender's node or the
// other, once each, with the message's id.
func TestSentPrivateMessageReachesTheSendersDevicesOnOtherNodes(t *testing.T) {
	one, two := syncedNodes(t)
	alice := aliceDevices(t, one)[0]
	phone := alicesPhone(t, two)
	bob := connectAs(t, one, "bob", "", "192.0.2.2")
	dora := connectAs(t, two, "dora", "", "192.0.2.3")
	drain(phone)

	for _, to := range []*Session{bob, dora} {
		drain(alice)
		one.Input(alice, "", "/msg "+to.Nick()+" hello "+to.Nick())
		sent := privatesIn(drain(alice))
		got := privatesIn(drain(to))
		copies := privatesIn(drain(phone))
		if len(sent) != 1 || len(got) != 1 || got[0].ID != sent[0].ID {
			t.Fatalf("to %s: alice got %+v, %s got %+v", to.Nick(), sent, to.Nick(), got)
		}
		if len(copies) != 1 || copies[0].ID != sent[0].ID || copies[0].From != "alice" || copies[0].To != to.Nick() || copies[0].Text != "hello "+to.Nick() {
			t.Fatalf("to %s: her device on the other node got %+v", to.Nick(), copies)
		}
	}
}

// lostAnswers is a Remote whose first private message is delivered on the
// other node but whose answer is lost, as when the request times out.
type lostAnswers struct {
	hubsRemote
	lost *int
}

func (r lostAnswers) Private(fold string, pm RemotePrivate) (RemoteDelivered, error) {
	got, err := r.hubsRemote.Private(fold, pm)
	if err == nil && *r.lost > 0 {
		*r.lost--
		return RemoteDelivered{}, errors.New("nats: timeout")
	}
	return got, err
}

// A private message to another node sent again with its cid after the
// answer to the first copy was lost reaches the recipient once, and the
// sender gets its copy once, with the id the recipient saw.
func TestPrivateMessageSentAgainAfterALostAnswerIsDeliveredOnce(t *testing.T) {
	var one, two *Hub
	lost := 1
	one = newTestHub(t, WithRemote(hubsRemote{&two}))
	two = newTestHub(t, WithRemote(lostAnswers{hubsRemote{&one}, &lost}))
	alice := connect(t, one, "alice", ViaWeb)
	bob := connect(t, two, "bob", ViaWeb)
	drain(alice)
	drain(bob)

	two.InputWithCID(bob, "", "/msg alice only once", "c7")
	if mine := privatesIn(drain(bob)); len(mine) != 0 {
		t.Fatalf("the sender got %+v for a message whose answer was lost", mine)
	}
	two.InputWithCID(bob, "", "/msg alice only once", "c7")
	mine := privatesIn(drain(bob))
	got := privatesIn(drain(alice))
	if len(got) != 1 || got[0].Text != "only once" {
		t.Fatalf("alice got %+v, want the message once", got)
	}
	if len(mine) != 1 || mine[0].CID != "c7" || mine[0].ID != got[0].ID {
		t.Fatalf("bob got %+v, want his copy once with cid c7 and id %d", mine, got[0].ID)
	}
	// Another cid is another message.
	two.InputWithCID(bob, "", "/msg alice only once", "c8")
	if got := privatesIn(drain(alice)); len(got) != 1 {
		t.Fatalf("a new cid: alice got %+v, want it once", got)
	}
}

// alicesPhone connects alice's device of the same key to the node two,
// where she already holds her nick through another node.
func alicesPhone(t *testing.T, two *Hub) *Session {
	t.Helper()
	phone, err := two.Connect(Identity{Nick: "alice", Via: ViaWeb, Fingerprint: aliceKey})
	if err != nil || phone.Nick() != "alice" {
		t.Fatalf("alice's device on the other node: %v, %q", err, phone.Nick())
	}
	t.Cleanup(phone.Leave)
	return phone
}
