package store

import (
	"context"
	"database/sql"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Group commit. Every room message is a store write its sender (and, in
// order, the room) waits for. Committing each in its own transaction costs a
// transaction's fixed work per message; one goroutine instead takes every
// message queued while the previous commit ran (up to maxBatch) and commits
// them together, answering each caller only after the commit, so a message
// is still durable before anyone sees it.
//
// Checkpoints (copying the WAL back into the database file, which syncs the
// disk) are taken off this path: the writer's automatic checkpoint is
// raised to a backstop and a background goroutine checkpoints on its own
// connection, which in WAL mode runs beside the writer.

const (
	// maxBatch bounds one commit: a bigger batch gains little and makes its
	// first caller wait longer.
	maxBatch = 128
	// busyGap: a message queued within this time after the last commit
	// finds the store busy, and the batcher yields to let others join it.
	busyGap = time.Millisecond
	// After checkpointEvery commits, or checkpointIdle after the last one,
	// the background goroutine checkpoints (a commit adds three WAL pages
	// or more; SQLite's own default is every 1000 pages).
	checkpointEvery = 256
	checkpointIdle  = time.Second
	// walRestartPages: a WAL this long (in pages, 4 KiB each) is made to
	// start over. walBackstopPages is the writer's own automatic checkpoint
	// (SQLite's default is 1000 pages), reached only if the background
	// checkpoints fail.
	walRestartPages  = 4096
	walBackstopPages = 10000
)

// ErrClosed is returned for writes queued after Close.
var ErrClosed = errors.New("store is closed")

// Request states: the batcher takes a request only if its caller has not
// given up on it, and a caller gives up only on a request not yet taken.
const (
	reqWaiting int32 = iota
	reqTaken
	reqCancelled
)

type appendReq struct {
	m     *Message
	state atomic.Int32
	done  chan error // buffered: the batcher never blocks on a caller
}

// batcher queues appends and commits them in groups.
type batcher struct {
	db     *sql.DB
	ins    *sql.Stmt
	health *writeHealth // nil in tests of the batcher alone

	mu      sync.Mutex
	queue   []*appendReq
	closed  bool
	wake    chan struct{} // capacity 1: "the queue is not empty"
	stopped chan struct{} // closed when the loop has flushed and ended

	// commitMu is held during each commit; the checkpointer takes it to
	// copy a WAL that no commit is growing.
	commitMu  sync.Mutex
	commits   chan struct{} // capacity 1: "commits happened", for the checkpointer
	nCommits  atomic.Int64  // for the checkpointer
	nMessages atomic.Int64  // for the benchmark's messages-per-commit figure
}

func newBatcher(db *sql.DB, ins *sql.Stmt) *batcher {
	b := &batcher{
		db:      db,
		ins:     ins,
		wake:    make(chan struct{}, 1),
		stopped: make(chan struct{}),
		commits: make(chan struct{}, 1),
	}
	go b.loop()
	return b
}

// enqueue files m behind every message queued before it. It never blocks.
func (b *batcher) enqueue(m *Message) *appendReq {
	req := &appendReq{m: m, done: make(chan error, 1)}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		req.state.Store(reqTaken)
		req.done <- ErrClosed
		return req
	}
	b.queue = append(b.queue, req)
	b.mu.Unlock()
	select {
	case b.wake <- struct{}{}:
	default:
	}
	return req
}

// wait returns the request's result. If ctx ends before the batcher took
// the request, it is withdrawn (never stored); once taken, the caller waits
// for the commit, so an error means the message is not stored.
func (req *appendReq) wait(ctx context.Context) error {
	select {
	case err := <-req.done:
		return err
	case <-ctx.Done():
		if req.state.CompareAndSwap(reqWaiting, reqCancelled) {
			return ctx.Err()
		}
		return <-req.done
	}
}

func (b *batcher) loop() {
	defer close(b.stopped)
	batch := make([]*appendReq, 0, maxBatch)
	var lastCommit time.Time
	for {
		<-b.wake
		for {
			if time.Since(lastCommit) < busyGap {
				// The callers just answered were made runnable on this
				// goroutine's processor, and would queue their next
				// messages only after it had taken the first one alone:
				// yield once so that they join this batch. Not after a
				// pause: a lone message should not wait.
				runtime.Gosched()
			}
			b.mu.Lock()
			n := min(len(b.queue), maxBatch)
			for _, req := range b.queue[:n] {
				if req.state.CompareAndSwap(reqWaiting, reqTaken) {
					batch = append(batch, req)
				}
			}
			// Shift rather than reslice, so the array is reused and
			// answered requests are not kept reachable.
			rest := copy(b.queue, b.queue[n:])
			clear(b.queue[rest:])
			b.queue = b.queue[:rest]
			closed := b.closed
			b.mu.Unlock()
			if len(batch) > 0 {
				b.commit(batch)
				clear(batch)
				batch = batch[:0]
				lastCommit = time.Now()
			}
			if rest == 0 {
				if closed {
					return
				}
				break
			}
		}
	}
}

// commit stores batch in one transaction. If an insert fails, it stores
// them one by one instead, so that one bad message is reported to its own
// sender only. If the commit itself fails, none is stored and every sender
// is told so.
func (b *batcher) commit(batch []*appendReq) {
	b.commitMu.Lock()
	defer b.commitMu.Unlock()
	var err error
	retry := len(batch) == 1 // autocommitted: the same with fewer statements
	if !retry {
		retry, err = b.commitTx(batch)
	}
	for _, req := range batch {
		res := err
		if retry {
			res = b.insertOne(req.m)
		}
		if b.health != nil {
			b.health.note(res)
		}
		req.done <- res
	}
	b.nMessages.Add(int64(len(batch)))
	b.nCommits.Add(1)
	select {
	case b.commits <- struct{}{}:
	default:
	}
}

// commitTx stores batch in one transaction and sets the IDs if it
// committed. retry: it was rolled back before its commit (an insert
// failed), so the messages may be stored one by one.
func (b *batcher) commitTx(batch []*appendReq) (retry bool, err error) {
	ids := make([]int64, len(batch))
	// Not the callers' contexts: the commit is shared. SQLite's busy
	// timeout bounds it.
	ctx := context.Background()
	tx, err := b.db.BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	ins := tx.StmtContext(ctx, b.ins)
	for i, req := range batch {
		m := req.m
		res, err := ins.ExecContext(ctx, m.Room, m.Kind, m.From, m.Text, m.Time.UnixMilli())
		if err != nil {
			return true, err
		}
		if ids[i], err = res.LastInsertId(); err != nil {
			return true, err
		}
	}
	if err := tx.Commit(); err != nil {
		return false, err
	}
	for i, req := range batch {
		req.m.ID = ids[i]
	}
	return false, nil
}

func (b *batcher) insertOne(m *Message) error {
	res, err := b.ins.Exec(m.Room, m.Kind, m.From, m.Text, m.Time.UnixMilli())
	if err != nil {
		return err
	}
	m.ID, err = res.LastInsertId()
	return err
}

// close stops taking appends and returns once every queued one is answered.
func (b *batcher) close() {
	b.mu.Lock()
	already := b.closed
	b.closed = true
	b.mu.Unlock()
	if !already {
		select {
		case b.wake <- struct{}{}:
		default:
		}
	}
	<-b.stopped
}

// checkpointLoop copies the WAL into the database file on its own
// connection, after every checkpointEvery commits or once the writes
// pause, until stop is closed.
func (b *batcher) checkpointLoop(ck *sql.DB, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	idle := time.NewTimer(checkpointIdle)
	defer idle.Stop()
	var last int64
	for {
		select {
		case <-stop:
			return
		case <-b.commits:
			if b.nCommits.Load()-last < checkpointEvery {
				idle.Reset(checkpointIdle)
				continue
			}
		case <-idle.C:
			if b.nCommits.Load() == last {
				continue
			}
		}
		last = b.nCommits.Load()
		// PASSIVE never waits for the writer or readers; what it cannot
		// copy now is copied next time. Errors are left to the backstop.
		var busy, frames, copied int
		err := ck.QueryRow(`PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &frames, &copied)
		if err == nil && frames > walRestartPages {
			// The WAL starts over only when a writer finds it all copied,
			// which commits back to back never let happen: hold the
			// commits while the rest is copied (a short stall, and only
			// under sustained load) so that the file stays bounded.
			b.commitMu.Lock()
			_, _ = ck.Exec(`PRAGMA wal_checkpoint(PASSIVE)`)
			b.commitMu.Unlock()
		}
	}
}
