package room

import (
	"slices"
	"sync"
	"testing"
)

// recordedPresence is a Presence that notes which rooms changed and holds
// no other node's lists.
type recordedPresence struct {
	mu      sync.Mutex
	changed []string
}

func (p *recordedPresence) Changed(room string) {
	p.mu.Lock()
	p.changed = append(p.changed, room)
	p.mu.Unlock()
}

func (p *recordedPresence) Snapshot(string) map[string][]SharedMember { return nil }

func sharedMember(nick string) SharedMember {
	return SharedMember{Key: nick, Member: Member{Nick: nick, Via: ViaWeb}}
}

// Another node's members are listed and counted with this node's and
// announced as they come and go; a person on both nodes is listed once
// and never seen to part while still here; a node whose entry is gone
// takes its members with it, with the reason given. Local joins are
// handed to the presence bus.
func TestRemoteMembersListedAndAnnounced(t *testing.T) {
	rec := &recordedPresence{}
	h := newTestHub(t, WithPresence(rec))
	carol := connect(t, h, "carol", ViaWeb)
	rec.mu.Lock()
	if !slices.Contains(rec.changed, h.lobby) {
		t.Fatalf("carol's join was not shared: %v", rec.changed)
	}
	rec.mu.Unlock()
	nextKind(t, carol, KindMembers) // carol's own join sequence

	h.RemoteMembers(h.lobby, "n1", []SharedMember{sharedMember("alice")}, "")
	if ev := nextKind(t, carol, KindJoin); ev.From != "alice" || ev.Count != 2 {
		t.Fatalf("alice's join: %+v", ev)
	}
	if got := whoNicks(t, h, carol); !slices.Equal(got, []string{"alice", "carol"}) {
		t.Fatalf("/who: %v", got)
	}

	// carol on a device on n1 too, and alice away there.
	away := sharedMember("alice")
	away.Away = "lunch"
	h.RemoteMembers(h.lobby, "n1", []SharedMember{away, sharedMember("carol")}, "")
	if ev := nextKind(t, carol, KindAway); ev.From != "alice" || ev.Text != "lunch" {
		t.Fatalf("alice's away: %+v", ev)
	}
	if got := whoNicks(t, h, carol); !slices.Equal(got, []string{"alice", "carol"}) {
		t.Fatalf("/who with carol on both nodes: %v", got)
	}

	h.RemoteMembers(h.lobby, "n1", nil, ReasonNodeLost)
	ev := nextKind(t, carol, KindPart)
	if ev.From != "alice" || ev.Text != ReasonNodeLost || ev.Count != 1 {
		t.Fatalf("part once n1 is gone: %+v", ev)
	}
	if got := whoNicks(t, h, carol); !slices.Equal(got, []string{"carol"}) {
		t.Fatalf("/who once n1 is gone: %v", got)
	}
	for len(carol.Events()) > 0 {
		if ev := <-carol.Events(); ev.Kind == KindPart || ev.Kind == KindJoin {
			t.Fatalf("unexpected %v of %s", ev.Kind, ev.From)
		}
	}
}
