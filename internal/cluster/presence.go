package cluster

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// PresenceBucket holds, per room and node, that node's members of the room
// (key <hex room>.<node>, an opaque payload). A node's keys are purged when
// its lease ends, by whichever node sees it first.
const PresenceBucket = "tertulia_presence"

// PresenceEvery is the least time between two writes of one room's
// members by one node: changes in between are coalesced.
const PresenceEvery = 200 * time.Millisecond

// PresenceApply receives another node's members of a room: payload is nil
// once that node's entry is gone (its lease ended or it stopped).
type PresenceApply func(room, node string, payload []byte)

// Presence shares this node's member lists and follows the others'.
type Presence struct {
	node *Node
	kv   jetstream.KeyValue

	mu      sync.Mutex
	dirty   map[string]struct{}
	written map[string][]byte                   // room → the payload last written
	wrote   map[string]time.Time                // room → when it was last written
	kick    chan struct{}                       // a room became dirty
	others  map[string]map[string]presenceEntry // room → node → its entry
	read    func(room string) []byte
	apply   PresenceApply

	// writeMu makes reading a room's members and writing them one step,
	// so that a rewrite after a lapse of the lease and the write loop do
	// not leave an older list last.
	writeMu sync.Mutex

	stop   context.CancelFunc
	done   chan struct{}
	closed bool
}

// presenceEntry is another node's members of a room, and the revision of
// its key.
type presenceEntry struct {
	payload []byte
	rev     uint64
}

// NewPresence prepares presence sharing; Changed may be called before
// Start (the change is written once started).
func (n *Node) NewPresence() *Presence {
	return &Presence{node: n, dirty: make(map[string]struct{}), written: make(map[string][]byte),
		wrote: make(map[string]time.Time), kick: make(chan struct{}, 1), others: make(map[string]map[string]presenceEntry)}
}

// Start creates the bucket, reads what the other nodes hold (apply gets
// each before Start returns), and from then on writes this node's lists
// (read gives one room's, encoded) and follows the others'. Like Join, it
// tries again what JetStream refuses or leaves unanswered until the
// start-up deadline.
func (p *Presence) Start(ctx context.Context, read func(room string) []byte, apply PresenceApply) error {
	ctx, cancelStart := p.node.startContext(ctx)
	defer cancelStart()
	var kv jetstream.KeyValue
	if err := p.node.startStep(ctx, "presence bucket", func(ctx context.Context) (err error) {
		kv, err = p.node.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket: PresenceBucket, Storage: jetstream.MemoryStorage, Replicas: p.node.cfg.Replicas,
		})
		return err
	}); err != nil {
		return fmt.Errorf("bucket: %w", err)
	}
	p.mu.Lock()
	p.kv, p.read, p.apply = kv, read, apply
	p.mu.Unlock()
	runCtx, cancel := context.WithCancel(context.Background())
	var w jetstream.KeyWatcher
	var stale []string
	if err := p.node.startStep(ctx, "presence lists", func(actx context.Context) error {
		// The watcher lives on past the start-up: made with runCtx.
		watcher, err := kv.WatchAll(runCtx)
		if err != nil {
			return err
		}
		stale = stale[:0]
		// The initial values, then nil.
		for {
			select {
			case e, ok := <-watcher.Updates():
				if !ok {
					return errors.New("the watcher stopped")
				}
				if e == nil {
					w = watcher
					return nil
				}
				if node := p.entry(e); node == p.node.ID() {
					stale = append(stale, e.Key()) // left by an earlier run of this node
				}
			case <-actx.Done():
				_ = watcher.Stop()
				return actx.Err()
			}
		}
	}); err != nil {
		cancel()
		return fmt.Errorf("reading the lists: %w", err)
	}
	for _, key := range stale {
		_ = kv.Purge(ctx, key)
	}
	if err := p.node.startStep(ctx, "watching the leases", func(context.Context) error {
		return p.node.WatchNodes(runCtx, func(id string, alive bool) {
			if !alive && id != p.node.ID() {
				p.purgeNode(id)
			}
		})
	}); err != nil {
		cancel()
		_ = w.Stop()
		return fmt.Errorf("watching the leases: %w", err)
	}
	// Nodes that died while nobody watched.
	for _, id := range p.nodes() {
		if alive, err := p.node.NodeAlive(ctx, id); err == nil && !alive {
			p.purgeNode(id)
		}
	}
	p.mu.Lock()
	p.stop, p.done = cancel, make(chan struct{})
	p.mu.Unlock()
	go func() {
		defer w.Stop()
		for e := range w.Updates() {
			if e != nil {
				p.entry(e)
			}
		}
	}()
	go p.writeLoop(runCtx)
	p.node.OnRecover(p.rewrite)
	return nil
}

// entry takes one update of the bucket in and hands it to apply unless it
// is this node's own; it returns the node the key is about.
func (p *Presence) entry(e jetstream.KeyValueEntry) string {
	hexRoom, node, ok := strings.Cut(e.Key(), ".")
	raw, err := hex.DecodeString(hexRoom)
	if !ok || err != nil {
		return ""
	}
	room := string(raw)
	if node == p.node.ID() {
		if e.Operation() != jetstream.KeyValuePut && p.node.Live() {
			// Another node purged this node's list (it took this node
			// for dead, late, after the list was written again): written
			// again, or the others would not list its members. (A node
			// not live writes every list again when it recovers.)
			p.mu.Lock()
			_, had := p.written[room]
			delete(p.written, room)
			p.mu.Unlock()
			if had {
				p.Changed(room)
			}
		}
		return node
	}
	var payload []byte
	if e.Operation() == jetstream.KeyValuePut {
		payload = e.Value()
	}
	p.mu.Lock()
	byNode := p.others[room]
	if payload == nil {
		delete(byNode, node)
		if len(byNode) == 0 {
			delete(p.others, room)
		}
	} else {
		if byNode == nil {
			byNode = make(map[string]presenceEntry)
			p.others[room] = byNode
		}
		byNode[node] = presenceEntry{payload: payload, rev: e.Revision()}
	}
	apply := p.apply
	p.mu.Unlock()
	apply(room, node, payload)
	return node
}

func (p *Presence) nodes() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	seen := map[string]bool{}
	var out []string
	for _, byNode := range p.others {
		for id := range byNode {
			if !seen[id] {
				seen[id] = true
				out = append(out, id)
			}
		}
	}
	return out
}

// purgeNode removes a dead node's entries (idempotent: every node may).
// Each goes only if it is still the one seen here: a node whose lease
// lapsed and was taken again writes its entries again, which a purge
// arriving late must not undo.
func (p *Presence) purgeNode(id string) {
	p.mu.Lock()
	keys := map[string]uint64{}
	for room, byNode := range p.others {
		if e, ok := byNode[id]; ok {
			keys[token(room)+"."+id] = e.rev
		}
	}
	p.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	for key, rev := range keys {
		if err := p.kv.Purge(ctx, key, jetstream.LastRevision(rev)); err != nil && !isRevisionMismatch(err) {
			p.node.log.Warn("cluster: presence purge failed", "key", key, "err", err)
		}
	}
}

// Changed notes that this node's members of room changed: they are written
// within PresenceEvery.
func (p *Presence) Changed(room string) {
	p.mu.Lock()
	p.dirty[room] = struct{}{}
	p.mu.Unlock()
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// Snapshot is what the other nodes list of room now, by node.
func (p *Presence) Snapshot(room string) map[string][]byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string][]byte, len(p.others[room]))
	for id, e := range p.others[room] {
		out[id] = e.payload
	}
	return out
}

func (p *Presence) writeLoop(ctx context.Context) {
	defer close(p.done)
	// A change is written at once unless its room was written less than
	// PresenceEvery ago; then with whatever followed, on a later tick.
	tick := time.NewTicker(PresenceEvery / 4)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-p.kick:
		}
		now := time.Now()
		var due []string
		p.mu.Lock()
		for room := range p.dirty {
			if now.Sub(p.wrote[room]) >= PresenceEvery {
				due = append(due, room)
				delete(p.dirty, room)
				p.wrote[room] = now
			}
		}
		p.mu.Unlock()
		for _, room := range due {
			if err := p.write(ctx, room); err != nil {
				if !errors.Is(err, context.Canceled) {
					p.node.log.Warn("cluster: presence write failed", "room", room, "err", err)
				}
				p.Changed(room) // tried again on the next tick
			}
		}
	}
}

// write writes this node's members of room unless what it wrote last is
// the same.
func (p *Presence) write(ctx context.Context, room string) error {
	p.writeMu.Lock()
	defer p.writeMu.Unlock()
	payload := p.read(room)
	p.mu.Lock()
	same := bytes.Equal(p.written[room], payload)
	p.mu.Unlock()
	if same {
		return nil
	}
	wctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	_, err := p.kv.Put(wctx, token(room)+"."+p.node.ID(), payload)
	cancel()
	if err != nil {
		return err
	}
	p.mu.Lock()
	p.written[room] = payload
	p.mu.Unlock()
	return nil
}

// rewrite writes every room's members of this node again, whatever was
// written before: run when the node takes its lease again after it
// lapsed, since the others then purged its entries.
func (p *Presence) rewrite(ctx context.Context) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	rooms := make([]string, 0, len(p.written)+len(p.dirty))
	for room := range p.written {
		rooms = append(rooms, room)
	}
	for room := range p.dirty {
		if _, ok := p.written[room]; !ok {
			rooms = append(rooms, room)
		}
	}
	clear(p.written)
	p.mu.Unlock()
	for i, room := range rooms {
		if err := p.write(ctx, room); err != nil {
			// The rooms not written yet are in neither map now: each is
			// marked, so that the write loop writes them all.
			for _, r := range rooms[i:] {
				p.Changed(r)
			}
			return err
		}
	}
	return nil
}

// Close stops sharing and removes this node's entries: the others see its
// members leave at once.
func (p *Presence) Close() {
	p.mu.Lock()
	if p.closed || p.stop == nil {
		p.closed = true
		p.mu.Unlock()
		return
	}
	p.closed = true
	rooms := make([]string, 0, len(p.written))
	for room := range p.written {
		rooms = append(rooms, room)
	}
	p.mu.Unlock()
	p.stop()
	<-p.done
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	for _, room := range rooms {
		_ = p.kv.Purge(ctx, token(room)+"."+p.node.ID())
	}
}
