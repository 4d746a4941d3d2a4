package cluster

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

func ids(es []Entry) string {
	return fmt.Sprint(func() []int64 {
		var v []int64
		for _, e := range es {
			v = append(v, e.ID)
		}
		return v
	}())
}

func chain(idList ...int64) []Entry {
	var out []Entry
	prev := int64(0)
	for _, id := range idList {
		out = append(out, Entry{Room: "lobby", ID: id, Prev: prev})
		prev = id
	}
	return out
}

// Entries arriving in order are delivered at once; duplicates never.
func TestOrderDeliversInOrderOnce(t *testing.T) {
	o := newRoomOrder(0)
	es := chain(3, 7, 8)
	var got []Entry
	for _, e := range append(es, es[1]) {
		r, missing := o.offer(e)
		if missing {
			t.Fatalf("missing after %d", e.ID)
		}
		got = append(got, r...)
	}
	if ids(got) != "[3 7 8]" {
		t.Fatalf("delivered %s", ids(got))
	}
}

// An entry that overtakes an earlier one waits for it, then both go in
// the store's order.
func TestOrderHoldsUntilTheGapFills(t *testing.T) {
	o := newRoomOrder(0)
	es := chain(3, 7, 8)
	if r, missing := o.offer(es[2]); len(r) != 0 || !missing {
		t.Fatalf("8 before 7: %s, missing %v", ids(r), missing)
	}
	if r, missing := o.offer(es[0]); ids(r) != "[3]" || !missing {
		t.Fatalf("3: %s, missing %v", ids(r), missing)
	}
	if r, missing := o.offer(es[1]); ids(r) != "[7 8]" || missing {
		t.Fatalf("7: %s, missing %v", ids(r), missing)
	}
}

// A lost entry is filled from the store; what the bus brought meanwhile is
// delivered after it, once. Only the lost one counts as supplied by the
// store.
func TestOrderCatchesUpFromTheStore(t *testing.T) {
	o := newRoomOrder(3)
	es := chain(3, 7, 8, 9)
	o.offer(es[2]) // 8 (7 was lost)
	o.offer(es[3]) // 9
	r, fromStore, missing := o.catchUp([]Entry{{ID: 7}, {ID: 8}, {ID: 9}})
	if ids(r) != "[7 8 9]" || missing || fromStore != 1 {
		t.Fatalf("caught up %s, %d from the store, missing %v", ids(r), fromStore, missing)
	}
	if r, _ := o.offer(es[3]); len(r) != 0 {
		t.Fatalf("9 again delivered %s", ids(r))
	}
}

// Any arrival order with duplicates delivers every entry exactly once, in
// order, once everything has arrived.
func TestOrderAnyArrivalOrder(t *testing.T) {
	for seed := range uint64(200) {
		rng := rand.New(rand.NewPCG(seed, 1))
		var idList []int64
		id := int64(0)
		for range 30 {
			id += 1 + rng.Int64N(3)
			idList = append(idList, id)
		}
		es := chain(idList...)
		arrivals := append(append([]Entry(nil), es...), es[rng.IntN(len(es))], es[rng.IntN(len(es))])
		rng.Shuffle(len(arrivals), func(i, j int) { arrivals[i], arrivals[j] = arrivals[j], arrivals[i] })
		o := newRoomOrder(0)
		var got []Entry
		for _, e := range arrivals {
			r, _ := o.offer(e)
			got = append(got, r...)
		}
		if ids(got) != ids(es) {
			t.Fatalf("seed %d: delivered %s, want %s", seed, ids(got), ids(es))
		}
	}
}
