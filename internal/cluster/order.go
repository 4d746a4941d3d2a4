package cluster

// Entry is one stored room event as it travels between nodes: its ID in
// the store and the ID of the room's entry before it (0 for the first),
// which the writing node read under the room's row lock in the same
// transaction. The chain Prev → ID lets every node see a missing entry.
type Entry struct {
	Room    string `json:"room"`
	ID      int64  `json:"id"`
	Prev    int64  `json:"prev"`
	Payload []byte `json:"payload"`
}

// maxHeld bounds the entries one room keeps waiting for a missing one; past
// it the room is caught up from the store.
const maxHeld = 1024

// roomOrder delivers one room's entries in the store's order, each once,
// whatever order the bus brings them in. Not safe for concurrent use: its
// owner serialises calls.
type roomOrder struct {
	last int64           // the last ID delivered
	held map[int64]Entry // waiting entries by their Prev
}

func newRoomOrder(last int64) *roomOrder {
	return &roomOrder{last: last, held: map[int64]Entry{}}
}

// offer takes an entry from the bus or the store and returns what can now
// be delivered, in order. missing says entries before some held one have
// not arrived: the caller fetches the room's entries after Last from the
// store if they do not come soon.
func (o *roomOrder) offer(e Entry) (ready []Entry, missing bool) {
	if e.ID <= o.last {
		return nil, len(o.held) > 0 // a duplicate
	}
	if e.Prev != o.last {
		if len(o.held) < maxHeld {
			o.held[e.Prev] = e
		}
		return nil, true
	}
	ready = append(ready, e)
	o.last = e.ID
	for {
		next, ok := o.held[o.last]
		if !ok {
			break
		}
		delete(o.held, o.last)
		ready = append(ready, next)
		o.last = next.ID
	}
	// Held entries the chain has passed are duplicates of delivered ones.
	for prev, h := range o.held {
		if h.ID <= o.last {
			delete(o.held, prev)
		}
	}
	return ready, len(o.held) > 0
}

// Last is the ID of the last entry delivered.
func (o *roomOrder) Last() int64 { return o.last }

// catchUp offers entries read from the store after Last, oldest first,
// chaining them as the store holds them. fromStore counts the ready entries
// that only the store supplied (the bus had not brought them); the others
// were held, waiting for them.
func (o *roomOrder) catchUp(fetched []Entry) (ready []Entry, fromStore int, missing bool) {
	prev := o.last
	for _, e := range fetched {
		if e.ID <= prev {
			continue
		}
		e.Prev = prev
		prev = e.ID
		r, m := o.offer(e)
		if len(r) > 0 && r[0].ID == e.ID {
			fromStore++
		}
		ready = append(ready, r...)
		missing = m
	}
	return ready, fromStore, missing
}
