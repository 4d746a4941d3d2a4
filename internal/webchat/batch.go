package webchat

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
)

// A batch is what one wake-up of a session's writer sends: the event that
// woke it and whatever else is already queued, up to maxBatchEvents, in one
// system call per maxBatchBytes (docs/performance.md, finding 6).
const (
	maxBatchEvents = 32
	maxBatchBytes  = 64 << 10
)

// batchConn is a websocket's connection once hijacked. The session's
// events are written by WriteFrames, as frames built once per event and
// shared by every recipient (eventFrame), bypassing gorilla/websocket: a
// batch of them costs one system call and at most one deadline update.
// gorilla's own writes (the hello exchange, pings, pongs, close frames)
// go through Write with the deadline gorilla set.
//
// The reader goroutine may write a pong or a close frame while the writer
// writes a batch: mu orders whole writes, and gorilla writes one whole
// control frame per Write. Once gorilla has written a close frame, no more
// events are written (as gorilla refuses further messages). Reads and
// Close go straight to the connection: Close must not wait for a write
// blocked on a peer that does not read.
type batchConn struct {
	net.Conn
	timeout time.Duration // write deadline of a batch, from its start
	bufs    *sync.Pool    // of *[]byte, shared by the server's connections

	// raw is the socket of a plain TCP connection, for TryWriteFrames;
	// nil for any other connection.
	raw syscall.RawConn

	mu        sync.Mutex
	buf       *[]byte   // the batch so far; nil when empty
	deadline  time.Time // the write deadline last set on Conn
	err       error     // first write error: the stream is cut, later writes fail
	closeSent bool      // a close frame was written
	// pending is what TryWriteFrames could not write at once: the rest of
	// a frame, written before anything else.
	pending []byte
}

// rawWriter makes non-blocking writes for TryWriteFrames. It is owned by
// one goroutine at a time (a fan-out worker) and holds the argument and
// results of a write, so that the function handed to RawConn.Write is made
// once per worker, not per write.
type rawWriter struct {
	buf   []byte
	n     int
	err   error
	write func(fd uintptr) bool
}

func newRawWriter() *rawWriter {
	w := &rawWriter{}
	w.write = w.writeFD
	return w
}

// writeFD is handed to RawConn.Write: one attempt, never a wait for the
// socket to become writable (sendNow).
func (w *rawWriter) writeFD(fd uintptr) bool {
	w.n, w.err = sendNow(fd, w.buf)
	return true
}

// try makes one write(2) of p to raw without waiting: the socket is
// non-blocking, and a full send buffer (EAGAIN) is 0 bytes written.
func (w *rawWriter) try(raw syscall.RawConn, p []byte) (int, error) {
	w.buf = p
	err := raw.Write(w.write)
	n, werr := w.n, w.err
	w.buf, w.err = nil, nil
	switch {
	case err != nil: // the connection is closed
		return 0, err
	case werr == syscall.EAGAIN || werr == syscall.EINTR:
		return 0, nil
	case werr != nil:
		return 0, werr
	}
	return n, nil
}

// newBatchConn wraps a hijacked connection.
func newBatchConn(c net.Conn, timeout time.Duration, bufs *sync.Pool) *batchConn {
	b := &batchConn{Conn: c, timeout: timeout, bufs: bufs}
	if tc, ok := c.(*net.TCPConn); ok {
		if raw, err := tc.SyscallConn(); err == nil {
			b.raw = raw
		}
	}
	return b
}

// CanTryWrite tells whether TryWriteFrames may be used: the connection is
// a plain TCP socket.
func (b *batchConn) CanTryWrite() bool { return b.raw != nil }

// TryWriteFrames writes frames, whole websocket frames, with one
// non-blocking system call, so that a writer that is not the session's own
// goroutine never waits on a client. It returns tryWritten if all went out;
// trySent if only part did (or nothing, the socket being full): the rest is
// kept and written, before anything else, by the next Write or
// WriteFrames; tryBusy if another write holds the connection (it may
// be waiting on the client): nothing was written or kept. An error cuts
// the stream, as in WriteFrames. Only for a connection that CanTryWrite.
func (b *batchConn) TryWriteFrames(w *rawWriter, frames [][]byte) (tryResult, error) {
	if !b.mu.TryLock() {
		return tryBusy, nil
	}
	defer b.mu.Unlock()
	switch {
	case b.err != nil:
		return tryBusy, b.err
	case b.closeSent:
		return tryBusy, websocket.ErrCloseSent
	case b.pending != nil:
		return tryBusy, nil
	}
	p := frames[0]
	if len(frames) > 1 {
		buf := b.bufs.Get().(*[]byte)
		for _, f := range frames {
			*buf = append(*buf, f...)
		}
		p = *buf
		defer func() {
			if cap(*buf) <= 2*maxBatchBytes {
				*buf = (*buf)[:0]
				b.bufs.Put(buf)
			}
		}()
	}
	n, err := w.try(b.raw, p)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		// The deadline of an earlier blocking write has passed; it means
		// nothing to a write that does not wait. It is renewed rather than
		// cleared: gorilla sets its deadline and writes under two holds of
		// the lock, and its write between them must not go without one.
		d := time.Now().Add(b.timeout)
		if err = b.Conn.SetWriteDeadline(d); err == nil {
			b.deadline = d
			n, err = w.try(b.raw, p)
		}
	}
	if err != nil {
		b.err = err
		return tryBusy, err
	}
	if n < len(p) {
		b.pending = append([]byte(nil), p[n:]...)
		return trySent, nil
	}
	return tryWritten, nil
}

// tryResult is what TryWriteFrames did with the frames.
type tryResult int

const (
	tryWritten tryResult = iota // all written
	trySent                     // the rest is pending in the batchConn
	tryBusy                     // nothing written or kept
)

func (b *batchConn) flushPendingLocked() error {
	if b.pending == nil {
		return nil
	}
	p := b.pending
	b.pending = nil
	return b.writeNowLocked(p)
}

// WriteFrames writes what TryWriteFrames left, then frames, whole
// websocket frames, with one system call per maxBatchBytes of them: a
// single frame as it is, several copied into a pooled buffer. It waits for
// the client up to the write timeout. The frames are not kept. With no
// frames it only finishes what TryWriteFrames left.
func (b *batchConn) WriteFrames(frames [][]byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err != nil {
		return b.err
	}
	// Nothing is pending once a close frame is out: gorilla's Write
	// wrote it first.
	if err := b.flushPendingLocked(); err != nil {
		return err
	}
	switch {
	case len(frames) == 0:
		return nil
	case b.closeSent:
		return websocket.ErrCloseSent
	case len(frames) == 1:
		return b.writeNowLocked(frames[0])
	}
	for _, f := range frames {
		if err := b.bufferLocked(f); err != nil {
			return err
		}
	}
	return b.flushLocked()
}

// Write is gorilla's: one whole frame, or part of a frame too large for
// gorilla's buffer.
func (b *batchConn) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err != nil {
		return 0, b.err
	}
	if b.pending != nil {
		// The rest of an event's frame goes first: gorilla's frame must
		// not land inside it. gorilla set the deadline for its write.
		p0 := b.pending
		b.pending = nil
		if _, err := b.writeLocked(p0); err != nil {
			return 0, err
		}
	}
	n, err := b.writeLocked(p)
	if err == nil && isCloseFrame(p) {
		b.closeSent = true
	}
	return n, err
}

// SetWriteDeadline is gorilla's, for its own writes.
func (b *batchConn) SetWriteDeadline(t time.Time) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if t.Equal(b.deadline) {
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

// bufferLocked adds frame p to the batch, writing what is held first if p
// would not fit; a large frame (a big member list) is written at once,
// not copied.
func (b *batchConn) bufferLocked(p []byte) error {
	if b.buf != nil && len(*b.buf)+len(p) > maxBatchBytes {
		if err := b.flushLocked(); err != nil {
			return err
		}
	}
	if len(p) >= maxBatchBytes {
		return b.writeNowLocked(p)
	}
	if b.buf == nil {
		b.buf = b.bufs.Get().(*[]byte)
	}
	*b.buf = append(*b.buf, p...)
	return nil
}

// writeNowLocked writes p with a renewed deadline.
func (b *batchConn) writeNowLocked(p []byte) error {
	if err := b.renewDeadline(); err != nil {
		return err
	}
	_, err := b.writeLocked(p)
	return err
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
	return b.writeNowLocked(*buf)
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
	h.conn = newBatchConn(c, h.s.writeTimeout, &h.s.batchBufs)
	return h.conn, rw, nil
}
