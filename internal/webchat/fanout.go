package webchat

import (
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/gorilla/websocket"

	"github.com/tertulia/tertulia/internal/room"
)

// fanOut writes the events of websocket sessions whose writers are idle
// from a few worker goroutines, one per shard of sessions, instead of
// waking each session's writer for each event: a wake-up, its scheduling
// and its wait cost about as much as the write itself when a room's
// members get one event at a time (docs/performance.md, finding 11).
//
// A worker makes one non-blocking write per session and batch; if the
// client's socket buffer cannot take it all, the session's own writer
// takes the queue back and writes the rest with the write timeout, as
// when its client falls behind. A worker runs while its shard has work
// and exits when it has none.
type fanOut struct {
	shards []fanOutShard
	next   atomic.Uint32 // round-robin choice of a new session's shard
}

type fanOutShard struct {
	mu      sync.Mutex
	ready   []*directWriter // sessions with events to write
	spare   []*directWriter // the worker's previous list, reused
	running bool            // a worker is running for this shard
	raw     *rawWriter      // the running worker's
	_       [64]byte        // shards are written by different cores
}

// fanOutShards is how many shards (and so workers at most) the fan-out
// has with procs processors: one fewer than the processors. A worker's raw
// sends keep its processor, so with a worker per processor the room's walk
// that queues a message and the goroutines that read senders' lines waited
// behind the workers; on two cores one worker also delivered with less CPU
// and lower latency than two (docs/performance.md, finding 16).
func fanOutShards(procs int) int { return max(procs-1, 1) }

func newFanOut(shards int) *fanOut {
	f := &fanOut{shards: make([]fanOutShard, max(shards, 1))}
	for i := range f.shards {
		f.shards[i].raw = newRawWriter()
	}
	return f
}

// add returns the direct writer of a session whose connection can take
// non-blocking writes. Its own writer owns its queue until it calls release.
func (f *fanOut) add(conn *websocket.Conn, bc *batchConn, cs *room.Session, calls *writerCalls) *directWriter {
	d := &directWriter{
		conn:  conn,
		bc:    bc,
		cs:    cs,
		calls: calls,
		shard: &f.shards[int(f.next.Add(1))%len(f.shards)],
	}
	d.state.Store(writerOwns)
	cs.OnQueued(d.queued)
	return d
}

// schedule puts d on its shard's list, starting the shard's worker if none
// runs. It runs under room locks: it only appends and, once per burst,
// starts a goroutine.
func (sh *fanOutShard) schedule(d *directWriter) {
	sh.mu.Lock()
	sh.ready = append(sh.ready, d)
	start := !sh.running
	sh.running = true
	sh.mu.Unlock()
	if start {
		go sh.run()
	}
}

// yieldEvery is how many sessions a worker writes before it yields.
const yieldEvery = 128

// run writes the queued events of the shard's scheduled sessions until
// none is left.
func (sh *fanOutShard) run() {
	for {
		sh.mu.Lock()
		work := sh.ready
		sh.ready, sh.spare = sh.spare[:0], nil
		if len(work) == 0 {
			sh.running = false
			sh.spare = work
			sh.mu.Unlock()
			return
		}
		sh.mu.Unlock()
		for i, d := range work {
			d.writeQueued(sh.raw)
			work[i] = nil
			if i%yieldEvery == yieldEvery-1 {
				// Its raw sends keep the processor: the goroutines that
				// read senders' messages and feed the rooms get a turn.
				runtime.Gosched()
			}
		}
		sh.mu.Lock()
		if cap(work) <= 4096 { // a list grown by a huge burst is not kept
			sh.spare = work[:0]
		}
		sh.mu.Unlock()
	}
}

// The states of a directWriter: who writes the session's queue, and whether
// it is on its shard's list.
const (
	writerOwns uint32 = 1 << iota // the session's own writer goroutine
	scheduled                     // on the shard's list, to be written by its worker
)

// directWriter is a websocket session as the fan-out sees it. Exactly one
// of the session's writer goroutine and its shard's worker takes events
// from its queue at a time, so that events are written once and in order:
// the worker while writerOwns is clear, under mu; the writer otherwise.
type directWriter struct {
	conn  *websocket.Conn
	bc    *batchConn
	cs    *room.Session
	calls *writerCalls
	shard *fanOutShard

	state atomic.Uint32
	mu    sync.Mutex // held by the worker while it takes and writes events
	// handed is a batch the worker could not write whole, for the writer
	// to finish and acknowledge: the rest is pending in bc, or if
	// handedUnsent, nothing of it was written. Written by the worker under
	// mu before it sets writerOwns; then the writer's.
	handed       []*room.Event
	handedUnsent bool
}

// queued is the session's OnQueued hook: an event was queued. While the
// writer owns the queue, the event's channel send has woken it.
func (d *directWriter) queued() {
	for {
		st := d.state.Load()
		if st != 0 {
			return // the writer's, or already scheduled
		}
		if d.state.CompareAndSwap(0, scheduled) {
			d.shard.schedule(d)
			return
		}
	}
}

// ownedByWriter tells whether the writer goroutine owns the queue.
func (d *directWriter) ownedByWriter() bool { return d.state.Load()&writerOwns != 0 }

// release hands the queue, empty as the writer last saw it, to the
// fan-out. Only the writer calls it.
func (d *directWriter) release() {
	d.state.And(^writerOwns)
	// An event queued before the state changed found the writer owning
	// the queue and scheduled nothing.
	if len(d.cs.Events()) > 0 {
		d.queued()
	}
}

// takeBack makes the writer the queue's owner again, for good (the session
// is done), and finishes a batch the worker handed over; false if that
// failed (the connection is then closed).
func (d *directWriter) takeBack() bool {
	d.mu.Lock()
	d.state.Or(writerOwns)
	d.mu.Unlock()
	return d.finishHanded()
}

// finishHanded writes the rest of a batch the worker could not write
// whole, waiting for the client up to the write timeout, and acknowledges
// it; false on a write error (the session and the connection are then
// closed). Only the writer calls it, while it owns the queue.
func (d *directWriter) finishHanded() bool {
	batch := d.handed
	if batch == nil {
		return true
	}
	d.handed = nil
	// The rest of a frame cut short is pending in bc: writing no events
	// finishes it.
	unsent := batch[:0]
	if d.handedUnsent {
		unsent = batch
	}
	if writeEvents(d.conn, d.bc, unsent) != nil {
		d.cs.Close(room.ReasonClosed)
		return false
	}
	d.cs.Ack(batch)
	return true
}

// writeQueued is the worker's turn at the session: it takes what is
// queued (up to maxBatchEvents) and writes it with one non-blocking write.
// What the client's socket cannot take at once is handed to the writer.
func (d *directWriter) writeQueued(w *rawWriter) {
	d.state.And(^scheduled) // an event queued from now on schedules d again
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ownedByWriter() {
		return
	}
	var first *room.Event
	select {
	case first = <-d.cs.Events():
	default:
		return
	}
	var buf [maxBatchEvents]*room.Event
	batch := d.cs.NextBatch(buf[:0], first, len(buf))
	var frames [maxBatchEvents][]byte
	result, err := d.bc.TryWriteFrames(w, batchFrames(&frames, batch))
	switch {
	case err != nil:
		d.state.Or(writerOwns)
		_ = d.conn.Close()
		d.cs.Close(room.ReasonClosed)
	case result != tryWritten:
		// The client's socket is full, or another write (a ping, a pong)
		// holds the connection and may be waiting on it: the session's
		// writer waits instead of the worker.
		d.handed = append([]*room.Event(nil), batch...)
		d.handedUnsent = result == tryBusy
		d.state.Or(writerOwns)
		d.calls.wake()
	default:
		d.cs.Ack(batch)
		if len(d.cs.Events()) > 0 {
			d.queued() // more than one batch was queued
		}
	}
}
