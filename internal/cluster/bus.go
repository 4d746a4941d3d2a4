package cluster

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// Gap-filling timings: an entry missing for gapWait is read from the store;
// every checkEvery each subscribed room asks the store whether it missed
// its newest entries (a lost publish of a room's last message leaves no
// later entry to show the gap).
const (
	gapWait    = 100 * time.Millisecond
	checkEvery = 10 * time.Second
)

// Fetch reads up to limit of a room's entries with ID > after from the
// store, oldest first (Prev unset: the order fills it in).
type Fetch func(ctx context.Context, room string, after int64, limit int) ([]Entry, error)

// catchUpPage is how many entries one store read of a catch-up takes. A
// long backlog (a node back after a long cut from the bus) is read and
// delivered a page at a time, so neither the memory it takes nor the time
// the feed's lock is held grows with it.
const catchUpPage = 500

// PublishEntry sends a stored entry to every node serving its room. The
// bus is at most once; the receivers fill what it loses from the store.
func (n *Node) PublishEntry(e Entry) error {
	data, err := json.Marshal(e)
	if err != nil {
		return err
	}
	if err := n.nc.Publish("tertulia.room."+token(e.Room), data); err != nil {
		return err
	}
	n.stats.published.Add(1)
	return nil
}

// RoomFeed is one room's entries from every node, in the store's order,
// each once.
type RoomFeed struct {
	node    *Node
	room    string
	fetch   Fetch
	deliver func(Entry)
	sub     *nats.Subscription

	// catchingUp serialises catch-ups (the gap timer, the periodic check,
	// the first one): one reads the backlog, the next finds it read.
	catchingUp sync.Mutex

	mu      sync.Mutex
	order   *roomOrder
	gap     *time.Timer
	check   *time.Ticker
	stopped chan struct{}
}

// Follow subscribes to a room: deliver gets every entry after last, in
// order, once, on one goroutine at a time (never concurrently). The
// caller's own entries come back too: it delivers everything through the
// feed, so one order holds for everyone.
func (n *Node) Follow(room string, last int64, fetch Fetch, deliver func(Entry)) (*RoomFeed, error) {
	f := &RoomFeed{node: n, room: room, fetch: fetch, deliver: deliver, order: newRoomOrder(last), stopped: make(chan struct{})}
	sub, err := n.nc.Subscribe("tertulia.room."+token(room), func(m *nats.Msg) {
		var e Entry
		if json.Unmarshal(m.Data, &e) != nil || e.Room != room {
			return
		}
		n.stats.received.Add(1)
		f.offer(e)
	})
	if err != nil {
		return nil, err
	}
	f.sub = sub
	f.check = time.NewTicker(checkEvery)
	go f.checkLoop()
	// Entries committed between the caller's read and the subscription.
	f.catchUp()
	return f, nil
}

// Offer hands the feed an entry this node just stored, without waiting
// for the bus to bring it back.
func (f *RoomFeed) Offer(e Entry) { f.offer(e) }

func (f *RoomFeed) offer(e Entry) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ready, missing := f.order.offer(e)
	for _, r := range ready {
		f.deliver(r)
	}
	f.armGapLocked(missing)
}

func (f *RoomFeed) armGapLocked(missing bool) {
	if !missing {
		if f.gap != nil {
			f.gap.Stop()
			f.gap = nil
		}
		return
	}
	if f.gap == nil {
		f.gap = time.AfterFunc(gapWait, f.fillGap)
	}
}

// fillGap reads from the store what the bus has not brought in time.
func (f *RoomFeed) fillGap() {
	f.node.stats.gaps.Add(1)
	f.catchUp()
}

// catchUp reads from the store what followed the last delivered entry, a
// page at a time, delivering each page before reading the next; the feed's
// lock is not held while the store is read.
func (f *RoomFeed) catchUp() {
	f.catchingUp.Lock()
	defer f.catchingUp.Unlock()
	f.mu.Lock()
	f.gap = nil
	f.mu.Unlock()
	for {
		f.mu.Lock()
		after := f.order.Last()
		f.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		page, err := f.fetch(ctx, f.room, after, catchUpPage)
		cancel()
		if err != nil {
			f.node.stats.catchUpFailures.Add(1)
			f.node.log.Warn("cluster catch-up failed", "room", f.room, "err", err)
			return
		}
		if !f.deliverPage(page, after) {
			return
		}
	}
}

// deliverPage delivers what a page read after the given ID makes ready, and
// says whether there may be more to read: the page was full and moved the
// room on.
func (f *RoomFeed) deliverPage(page []Entry, after int64) (more bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	select {
	case <-f.stopped:
		return false
	default:
	}
	ready, fromStore, missing := f.order.catchUp(page)
	f.node.stats.catchUpEntries.Add(uint64(fromStore))
	for _, r := range ready {
		f.deliver(r)
	}
	if len(page) == catchUpPage && f.order.Last() > after {
		return true
	}
	f.armGapLocked(missing)
	return false
}

func (f *RoomFeed) checkLoop() {
	for {
		select {
		case <-f.stopped:
			return
		case <-f.check.C:
			f.catchUp()
		}
	}
}

// Last is the ID of the last entry delivered.
func (f *RoomFeed) Last() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.order.Last()
}

// Stop unsubscribes; deliver is not called after it returns.
func (f *RoomFeed) Stop() {
	_ = f.sub.Unsubscribe()
	f.check.Stop()
	f.mu.Lock()
	defer f.mu.Unlock()
	select {
	case <-f.stopped:
	default:
		close(f.stopped)
	}
	if f.gap != nil {
		f.gap.Stop()
	}
	f.deliver = func(Entry) {}
}

// Broadcast sends a control message (a ban, a kick, a settings change) to
// every node, this one included.
func (n *Node) Broadcast(kind string, payload []byte) error {
	return n.nc.Publish("tertulia.ctl."+token(kind), payload)
}

// OnBroadcast calls fn for every control message of kind, one at a time.
func (n *Node) OnBroadcast(kind string, fn func(payload []byte)) (stop func(), err error) {
	sub, err := n.nc.Subscribe("tertulia.ctl."+token(kind), func(m *nats.Msg) { fn(m.Data) })
	if err != nil {
		return nil, err
	}
	return func() { _ = sub.Unsubscribe() }, nil
}
