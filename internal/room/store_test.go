package room

import (
	"context"
	"errors"
	"testing"

	"github.com/tertulia/tertulia/internal/store"
)

// brokenStore is a real SQLite store whose message writes fail, as on a
// full disk. It embeds the interface, not *store.SQLite, so that it is not a
// store.QueuedAppender and the failing AppendMessage is what the hub uses.
type brokenStore struct{ store.Store }

func (brokenStore) AppendMessage(context.Context, *store.Message) error {
	return errors.New("disk I/O error")
}

// openTestStore opens a SQLite store in a temporary folder, closed when the
// test ends.
func openTestStore(t *testing.T) *store.SQLite {
	t.Helper()
	st, err := store.OpenSQLite(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// newStoredHub is newTestHub with a store given in opts, its rooms loaded.
func newStoredHub(t *testing.T, opts ...Option) *Hub {
	t.Helper()
	h := newTestHub(t, opts...)
	if err := h.LoadRooms(context.Background()); err != nil {
		t.Fatal(err)
	}
	return h
}

func TestStoreErrorIsReportedAndNothingIsShown(t *testing.T) {
	st := openTestStore(t)
	h := newStoredHub(t, WithStore(brokenStore{st}))
	a := connect(t, h, "alice", ViaWeb)
	b := connect(t, h, "bob", ViaWeb)
	nextKind(t, a, KindHistory)
	nextKind(t, a, KindJoin)
	nextKind(t, b, KindHistory)

	h.Input(a, "", "lost?")
	if ev := next(t, a); ev.Kind != KindError || ev.Code != "store_failed" {
		t.Fatalf("sender got %+v", ev)
	}
	h.Input(a, "", "/who") // the hub still works
	if ev := next(t, a); ev.Kind != KindMembers {
		t.Fatalf("after the error: %+v", ev)
	}
	// A private message (not stored) is a marker: bob's next event must be
	// it, so nothing of the failed message reached him.
	h.Input(a, "", "/msg bob marker")
	if ev := next(t, b); ev.Kind != KindPrivate || ev.Text != "marker" {
		t.Fatalf("another member saw %+v", ev)
	}
}

func TestHistoryKeepsTheLastN(t *testing.T) {
	st := openTestStore(t)
	h := newStoredHub(t, WithStore(st), WithHistory(3))
	a := connect(t, h, "alice", ViaWeb)
	nextKind(t, a, KindHistory)
	for _, text := range []string{"1", "2", "3", "4", "5"} {
		h.Input(a, "", text)
		nextKind(t, a, KindMessage)
	}
	// A hub restarted on the same store shows the same last three.
	h2 := newTestHub(t, WithStore(st), WithHistory(3))
	if err := h2.LoadRooms(context.Background()); err != nil {
		t.Fatal(err)
	}
	b := connect(t, h2, "bob", ViaWeb)
	ev := nextKind(t, b, KindHistory)
	var got string
	for _, m := range ev.History {
		got += m.Text
	}
	if got != "345" {
		t.Fatalf("history = %q", got)
	}
}

// The history sent on joining says whether older messages are stored, live
// and after a restart, so a client offers to page back only when it can.
func TestJoinHistorySaysWhetherOlderAreStored(t *testing.T) {
	st := openTestStore(t)
	h := newStoredHub(t, WithStore(st), WithHistory(3))
	a := connect(t, h, "alice", ViaWeb)
	nextKind(t, a, KindHistory)
	say := func(texts ...string) {
		for _, text := range texts {
			h.Input(a, "", text)
			nextKind(t, a, KindMessage)
		}
	}
	say("1", "2", "3")
	b := connect(t, h, "bob", ViaWeb)
	if ev := nextKind(t, b, KindHistory); ev.More || len(ev.History) != 3 {
		t.Fatalf("with 3 stored and 3 kept: more=%v, %d messages", ev.More, len(ev.History))
	}
	say("4")
	c := connect(t, h, "carol", ViaWeb)
	if ev := nextKind(t, c, KindHistory); !ev.More || len(ev.History) != 3 {
		t.Fatalf("with 4 stored and 3 kept: more=%v, %d messages", ev.More, len(ev.History))
	}

	for _, n := range []struct {
		keep int
		more bool
	}{{4, false}, {3, true}} {
		h2 := newTestHub(t, WithStore(st), WithHistory(n.keep))
		if err := h2.LoadRooms(context.Background()); err != nil {
			t.Fatal(err)
		}
		d := connect(t, h2, "dave", ViaWeb)
		if ev := nextKind(t, d, KindHistory); ev.More != n.more || len(ev.History) != n.keep {
			t.Fatalf("restarted keeping %d of 4: more=%v, %d messages", n.keep, ev.More, len(ev.History))
		}
	}
}
