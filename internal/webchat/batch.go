package webchat

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"sync"
	"time"
)

// A batch is what one wake-up of a session's writer sends: the event that
// woke it and whatever else is already queued, up to maxBatchEvents, in one
// system call per maxBatchBytes (docs/performance.md, finding 6).
const (
	maxBatchEvents = 32
	maxBatchBytes  = 64 << 10
)

// batchConn is a websocket's connection once hijacked. gorilla/websocket
// writes every frame with one Write, after a SetWriteDeadline. Between Hold
// and Flush, batchConn collects those writes and ignores the deadlines, so
// that a batch of frames costs one system call and at most one deadline
// update; outside a batch (the hello exchange, pings, pongs, the close
// frame) it writes through with the deadline it was given.
//
// gorilla writes one whole frame at a time, but the reader goroutine may
// write a pong or a close frame while the writer holds a batch: mu orders
// them, and such a frame joins the batch, which is flushed right after.
// Reads and Close go straight to the connection: Close must not wait for a
// flush blocked on a peer that does not read.
type batchConn struct {
	net.Conn
	timeout time.Duration // write deadline of a flush, from its start
	bufs    *sync.Pool    // of *[]byte, shared by the server's connections

	mu       sync.Mutex
	holding  bool
	buf      *[]byte   // the batch so far; nil when empty
	deadline time.Time // the write deadline last set on Conn
	err      error     // first write error: the stream is cut, later writes fail
}

// Hold starts a batch: writes are kept until Flush.
func (b *batchConn) Hold() {
	b.mu.Lock()
	b.holding = true
	b.mu.Unlock()
}

// Flush ends the batch and writes it with one system call.
func (b *batchConn) Flush() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.holding = false
	return b.flushLocked()
}

func (b *batchConn) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err != nil {
		return 0, b.err
	}
	if !b.holding {
		return b.writeLocked(p)
	}
	if b.buf != nil && len(*b.buf)+len(p) > maxBatchBytes {
		if err := b.flushLocked(); err != nil {
			return 0, err
		}
	}
	if len(p) >= maxBatchBytes {
		// A large frame (a big member list) is not copied.
		if err := b.renewDeadline(); err != nil {
			return 0, err
		}
		return b.writeLocked(p)
	}
	if b.buf == nil {
		b.buf = b.bufs.Get().(*[]byte)
	}
	*b.buf = append(*b.buf, p...)
	return len(p), nil
}

// SetWriteDeadline applies outside a batch only: a flush sets its own.
func (b *batchConn) SetWriteDeadline(t time.Time) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.holding || t.Equal(b.deadline) {
		return nil
	}
	b.deadline = t
	return b.Conn.SetWriteDeadline(t)
}

func (b *batchConn) SetDeadline(t time.Time) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.deadline = t
	return b.Conn.SetDeadline(t)
}

func (b *batchConn) flushLocked() error {
	if b.buf == nil {
		return b.err
	}
	buf := b.buf
	b.buf = nil
	defer func() {
		// Buffers grown by a burst of large frames are left to the
		// collector rather than kept in the pool.
		if cap(*buf) <= 2*maxBatchBytes {
			*buf = (*buf)[:0]
			b.bufs.Put(buf)
		}
	}()
	if b.err != nil {
		return b.err
	}
	if err := b.renewDeadline(); err != nil {
		return err
	}
	_, err := b.writeLocked(*buf)
	return err
}

// writeLocked writes p to the connection; a failure is kept, since a frame
// may have been cut.
func (b *batchConn) writeLocked(p []byte) (int, error) {
	n, err := b.Conn.Write(p)
	if err != nil {
		b.err = err
	}
	return n, err
}

// renewDeadline gives the write about to start at least 7/8 of the write
// timeout. Moving a deadline is a runtime timer update, so it is moved once
// an eighth of the timeout has gone by, not for every write.
func (b *batchConn) renewDeadline() error {
	if b.timeout <= 0 {
		return nil
	}
	now := time.Now()
	if b.deadline.Sub(now) >= b.timeout-b.timeout/8 {
		return nil
	}
	d := now.Add(b.timeout)
	if err := b.Conn.SetWriteDeadline(d); err != nil {
		b.err = err
		return err
	}
	b.deadline = d
	return nil
}

// hijacker hands the upgrader a batchConn in place of the hijacked
// connection; conn is that batchConn once Hijack has run.
type hijacker struct {
	http.ResponseWriter
	s    *Server
	conn *batchConn
}

func (h *hijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := h.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("webchat: the response writer cannot be hijacked")
	}
	c, rw, err := hj.Hijack()
	if err != nil {
		return nil, nil, err
	}
	h.conn = &batchConn{Conn: c, timeout: h.s.writeTimeout, bufs: &h.s.batchBufs}
	return h.conn, rw, nil
}
