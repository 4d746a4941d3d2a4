package room

import (
	"testing"
)

// privatesIn are the private message events among evs.
func privatesIn(evs []*Event) []*Event {
	var out []*Event
	for _, ev := range evs {
		if ev.Kind == KindPrivate {
			out = append(out, ev)
		}
	}
	return out
}

// A private message sent in a say with a cid comes back to the sending
// connection carrying the cid; the recipient and the sender's other
// devices get the same message without it.
func TestPrivateCIDIsEchoedToTheSendingConnectionOnly(t *testing.T) {
	h := newTestHub(t)
	bob := connect(t, h, "bob", ViaWeb)
	alice := aliceDevices(t, h, ViaWeb, ViaWeb)
	drain(bob)

	h.InputWithCID(alice[1], "", "/msg bob psst", "p1")
	mine := privatesIn(drain(alice[1]))
	if len(mine) != 1 || mine[0].CID != "p1" || mine[0].Text != "psst" || mine[0].To != "bob" || mine[0].ID == 0 {
		t.Fatalf("the sending connection got %+v, want its PM once with cid p1", mine)
	}
	for i, s := range []*Session{alice[0], alice[2], bob} {
		got := privatesIn(drain(s))
		if len(got) != 1 || got[0].CID != "" || got[0].ID != mine[0].ID {
			t.Fatalf("session %d (%s) got %+v, want PM %d once without a cid", i, s.Nick(), got, mine[0].ID)
		}
	}

	// To herself: every device once, the cid on the sending one only.
	h.InputWithCID(alice[2], "", "/msg alice note", "p2")
	for i, s := range alice {
		got := privatesIn(drain(s))
		want := ""
		if s == alice[2] {
			want = "p2"
		}
		if len(got) != 1 || got[0].CID != want {
			t.Fatalf("device %d got %+v, want the note once with cid %q", i+1, got, want)
		}
	}

	// /reply tagged with a cid is answered the same way.
	h.Input(bob, "", "/msg alice hello")
	drain(bob)
	for _, s := range alice {
		drain(s)
	}
	h.InputWithCID(alice[0], "", "/reply hi bob", "r1")
	if got := privatesIn(drain(alice[0])); len(got) != 1 || got[0].CID != "r1" || got[0].To != "bob" {
		t.Fatalf("the replying connection got %+v, want its reply with cid r1", got)
	}
	if got := privatesIn(drain(bob)); len(got) != 1 || got[0].CID != "" {
		t.Fatalf("bob got %+v, want the reply once without a cid", got)
	}
}

// A private message sent again with a cid already used (the connection was
// lost before its copy came back) is not delivered twice: the sender gets
// its first copy again, even from a new connection of the same key and
// after the recipient has left.
func TestPrivateResentWithACIDIsDeliveredOnce(t *testing.T) {
	h := newTestHub(t)
	const key = "SHA256:alice-pm"
	bob := connect(t, h, "bob", ViaWeb)
	first := connectKey(t, h, "alice", key, ViaWeb)
	drain(bob)

	h.InputWithCID(first, "", "/msg bob only once", "p1")
	sent := privatesIn(drain(first))
	if len(sent) != 1 || sent[0].CID != "p1" {
		t.Fatalf("alice got %+v, want her PM with cid p1", sent)
	}
	first.Leave()
	again := connectKey(t, h, "alice", key, ViaWeb)
	drain(again)
	h.InputWithCID(again, "", "/msg bob only once", "p1")
	if got := privatesIn(drain(again)); len(got) != 1 || got[0].ID != sent[0].ID || got[0].CID != "p1" || got[0].Text != "only once" {
		t.Fatalf("the resend from a new connection got %+v, want PM %d again with its cid", got, sent[0].ID)
	}
	if got := privatesIn(drain(bob)); len(got) != 1 || got[0].Text != "only once" {
		t.Fatalf("bob got %+v, want the PM exactly once", got)
	}

	// The recipient gone, the resend is still answered with the copy.
	bob.Leave()
	h.InputWithCID(again, "", "/msg bob only once", "p1")
	evs := drain(again)
	if got := privatesIn(evs); len(got) != 1 || got[0].ID != sent[0].ID || got[0].CID != "p1" {
		t.Fatalf("the resend after bob left got %v, want PM %d again", kinds(evs), sent[0].ID)
	}
	for _, ev := range evs {
		if ev.Kind == KindError {
			t.Fatalf("the resend after bob left was refused: %+v", ev)
		}
	}

	// A new cid is a new private message.
	carol := connect(t, h, "carol", ViaWeb)
	drain(carol)
	h.InputWithCID(again, "", "/msg carol only once", "p2")
	if got := privatesIn(drain(carol)); len(got) != 1 {
		t.Fatalf("carol got %+v, want the PM with a new cid", got)
	}
}

// A refused private message's error carries its cid, and the refusal is
// not remembered: sent again with the same cid once the reason is gone,
// it is delivered.
func TestRefusedPrivateCarriesItsCIDAndMayBeSentAgain(t *testing.T) {
	h := newTestHub(t)
	alice := connect(t, h, "alice", ViaWeb)
	drain(alice)

	h.InputWithCID(alice, "", "/msg nobody are you there", "n1")
	if ev := nextKind(t, alice, KindError); ev.Code != "no_such_nick" || ev.CID != "n1" {
		t.Fatalf("a PM to a nick not connected was refused with %+v, want no_such_nick with cid n1", ev)
	}
	h.InputWithCID(alice, "", "/reply anyone", "n2")
	if ev := nextKind(t, alice, KindError); ev.Code != "no_reply" || ev.CID != "n2" {
		t.Fatalf("a /reply to nobody: %+v, want no_reply with cid n2", ev)
	}

	nobody := connect(t, h, "nobody", ViaWeb)
	drain(nobody)
	h.InputWithCID(alice, "", "/msg nobody are you there", "n1")
	if ev := nextKind(t, alice, KindPrivate); ev.CID != "n1" || ev.To != "nobody" {
		t.Fatalf("the retry gave %+v, want the PM with cid n1", ev)
	}
	if got := privatesIn(drain(nobody)); len(got) != 1 || got[0].Text != "are you there" {
		t.Fatalf("nobody got %+v, want the PM once", got)
	}
}
