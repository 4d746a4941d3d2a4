package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"golang.org/x/sys/unix"

	"github.com/tertulia/tertulia/internal/chatclient"
)

// wsPollers read the websocket clients' frames on a few goroutines, each
// waiting on its own epoll set, instead of one goroutine per connection.
// With a goroutine per connection, Go's poller costs two read system calls
// per frame (the frame, then the empty read before parking), a park and a
// wake-up; in the room of 10,000 that was most of the tool's CPU, taken
// from the server on the same two cores. A poller reads each ready
// connection once per readiness (level-triggered: what is left is reported
// again) and hands every whole frame to onWSFrame.
//
// The connections are sockets of their own (pollConn), not Go's: a socket
// Go's poller also watches costs a second wake-up per frame there.
type wsPollers struct {
	// onFrame is given each whole text frame; it must not block, nor keep
	// b. onEnd is told once why a connection ended.
	onFrame func(c *client, b []byte, at time.Time)
	onEnd   func(c *client, err error)
	sets    []*wsPollSet
	next    atomic.Uint64
	stop    atomic.Bool
	wg      sync.WaitGroup
}

// wsPollSet is one epoll set and the goroutine that reads it; a connection
// stays in one set, so its frames are handled in order by one goroutine.
type wsPollSet struct {
	epfd    int
	mu      sync.Mutex // guards conns (added by connectors, read by the loop)
	conns   map[int32]*polledWS
	scratch []byte
}

// polledWS is one connection in a poll set.
type polledWS struct {
	c       *client
	ws      *chatclient.WS
	conn    *pollConn
	done    chan struct{}
	pending []byte // the start of a frame not yet whole
	message []byte // a fragmented message's payload so far
}

const (
	// wsPollScratch is how much one read may take from one connection.
	wsPollScratch = 64 << 10
	// wsPollMaxMessage bounds a frame, and a message in fragments: what
	// one connection may make the tool hold.
	wsPollMaxMessage = 1 << 24
	// wsPollTick bounds a wait, so that close is seen.
	wsPollTick = 100 * time.Millisecond
)

// newWSPollers starts n poll sets, or returns nil (read with a goroutine
// per connection) when n is 0 or epoll cannot be had.
func newWSPollers(n int, onFrame func(*client, []byte, time.Time), onEnd func(*client, error)) *wsPollers {
	if n <= 0 {
		return nil
	}
	p := &wsPollers{onFrame: onFrame, onEnd: onEnd}
	for range n {
		epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
		if err != nil {
			p.close()
			return nil
		}
		set := &wsPollSet{epfd: epfd, conns: make(map[int32]*polledWS), scratch: make([]byte, wsPollScratch)}
		p.sets = append(p.sets, set)
		p.wg.Add(1)
		go p.loop(set)
	}
	return p
}

// dialer is a websocket dialer over pollConns, like base otherwise.
func (p *wsPollers) dialer(base *websocket.Dialer) *websocket.Dialer {
	if p == nil {
		return base
	}
	d := *base
	d.NetDialContext = dialPollConn
	return &d
}

// close ends the loops, then closes what they still had.
func (p *wsPollers) close() {
	if p == nil {
		return
	}
	p.stop.Store(true)
	p.wg.Wait()
	for _, set := range p.sets {
		set.mu.Lock()
		for _, pc := range set.conns {
			pc.conn.release()
		}
		set.mu.Unlock()
		_ = unix.Close(set.epfd)
	}
}

// add has the pollers read ws for c from now on, closing done when it
// ends. It returns false when ws is not over a pollConn: the caller reads
// it with a goroutine.
func (p *wsPollers) add(c *client, ws *chatclient.WS, done chan struct{}) bool {
	if p == nil {
		return false
	}
	conn, ok := ws.Conn.UnderlyingConn().(*pollConn)
	if !ok || !conn.setPolled() {
		return false
	}
	set := p.sets[p.next.Add(1)%uint64(len(p.sets))]
	pc := &polledWS{c: c, ws: ws, conn: conn, done: done}
	// In the map before epoll can report it.
	set.mu.Lock()
	set.conns[int32(conn.fd)] = pc
	set.mu.Unlock()
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP, Fd: int32(conn.fd)}
	if err := unix.EpollCtl(set.epfd, unix.EPOLL_CTL_ADD, conn.fd, &ev); err != nil {
		set.mu.Lock()
		delete(set.conns, int32(conn.fd))
		set.mu.Unlock()
		conn.unsetPolled()
		return false
	}
	return true
}

func (p *wsPollers) loop(set *wsPollSet) {
	defer p.wg.Done()
	events := make([]unix.EpollEvent, 256)
	for !p.stop.Load() {
		n, err := unix.EpollWait(set.epfd, events, int(wsPollTick/time.Millisecond))
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return
		}
		for _, ev := range events[:n] {
			set.mu.Lock()
			pc := set.conns[ev.Fd]
			set.mu.Unlock()
			if pc == nil {
				continue
			}
			// The clock is read for each connection, not once per wait: a
			// wait's last connection may be read a millisecond after its
			// first, and that is part of what the tool measures.
			if err := p.read(set, pc, time.Now()); err != nil {
				p.remove(set, pc, err)
			}
		}
	}
}

// read takes what pc's connection has (one read) and handles its whole
// frames; an error ends the connection.
func (p *wsPollers) read(set *wsPollSet, pc *polledWS, at time.Time) error {
	n, err := pc.conn.readOnce(set.scratch)
	switch {
	case errors.Is(err, unix.EAGAIN):
		return nil
	case err != nil:
		return err
	case n == 0:
		return io.EOF
	}
	data := set.scratch[:n]
	if len(pc.pending) > 0 {
		pc.pending = append(pc.pending, data...)
		data = pc.pending
	}
	used, err := p.frames(pc, data, at)
	rest := data[used:]
	switch {
	case len(rest) == 0:
		pc.pending = pc.pending[:0]
	case len(pc.pending) > 0:
		pc.pending = pc.pending[:copy(pc.pending, rest)]
	default:
		pc.pending = append(pc.pending[:0], rest...)
	}
	return err
}

// frames handles the whole frames at the start of data and returns how many
// bytes they took.
func (p *wsPollers) frames(pc *polledWS, data []byte, at time.Time) (int, error) {
	used := 0
	for {
		b := data[used:]
		if len(b) < 2 {
			return used, nil
		}
		fin, op := b[0]&0x80 != 0, int(b[0]&0x0f)
		if b[1]&0x80 != 0 {
			return used, errors.New("masked frame from the server")
		}
		size, head := uint64(b[1]&0x7f), 2
		switch size {
		case 126:
			if len(b) < 4 {
				return used, nil
			}
			size, head = uint64(binary.BigEndian.Uint16(b[2:])), 4
		case 127:
			if len(b) < 10 {
				return used, nil
			}
			size, head = binary.BigEndian.Uint64(b[2:]), 10
		}
		if size > wsPollMaxMessage {
			return used, fmt.Errorf("frame of %d bytes", size)
		}
		if uint64(len(b)-head) < size {
			return used, nil
		}
		payload := b[head : head+int(size)]
		used += head + int(size)
		switch op {
		case websocket.TextMessage, websocket.BinaryMessage, 0: // 0: continuation
			if fin && op != 0 && len(pc.message) == 0 {
				p.onFrame(pc.c, payload, at)
				continue
			}
			if len(pc.message)+len(payload) > wsPollMaxMessage {
				return used, fmt.Errorf("message of more than %d bytes", wsPollMaxMessage)
			}
			pc.message = append(pc.message, payload...)
			if fin {
				p.onFrame(pc.c, pc.message, at)
				pc.message = pc.message[:0]
			}
		case websocket.PingMessage:
			if err := pc.ws.Conn.WriteControl(websocket.PongMessage, payload, time.Now().Add(time.Second)); err != nil {
				return used, err
			}
		case websocket.CloseMessage:
			code, text := websocket.CloseNoStatusReceived, ""
			if len(payload) >= 2 {
				code, text = int(binary.BigEndian.Uint16(payload)), string(payload[2:])
			}
			return used, fmt.Errorf("closed by server: %d %s", code, text)
		}
	}
}

// remove ends pc: out of its set, its socket closed, onEnd told, its done
// closed.
func (p *wsPollers) remove(set *wsPollSet, pc *polledWS, err error) {
	set.mu.Lock()
	delete(set.conns, int32(pc.conn.fd))
	set.mu.Unlock()
	_ = unix.EpollCtl(set.epfd, unix.EPOLL_CTL_DEL, pc.conn.fd, nil)
	pc.conn.release()
	p.onEnd(pc.c, err)
	if pc.done != nil {
		close(pc.done)
	}
}

// pollConn is a non-blocking TCP socket that Go's poller does not watch: its
// reads and writes wait with poll(2) until its poll set takes its reading
// over. While polled, Close only shuts it down; the poll set closes the
// descriptor when it sees the end, so that its number is not reused while
// the set may still read it.
type pollConn struct {
	fd            int
	local, remote net.Addr

	mu       sync.RWMutex // read-held around system calls on fd; write-held to close it
	polled   bool
	shut     bool
	released bool

	// The handshake's reading (one goroutine's, before the poll set's).
	headerDone bool
	headerTail []byte

	readDeadline, writeDeadline atomic.Int64 // unix nanoseconds, 0: none
}

// dialPollConn connects a pollConn to addr (a TCP address).
func dialPollConn(ctx context.Context, network, addr string) (net.Conn, error) {
	ta, err := net.ResolveTCPAddr(network, addr)
	if err != nil {
		return nil, err
	}
	family, sa := unix.AF_INET6, unix.Sockaddr(nil)
	if ip4 := ta.IP.To4(); ip4 != nil {
		family, sa = unix.AF_INET, &unix.SockaddrInet4{Port: ta.Port, Addr: [4]byte(ip4)}
	} else {
		sa = &unix.SockaddrInet6{Port: ta.Port, Addr: [16]byte(ta.IP.To16())}
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	c := &pollConn{fd: fd, remote: ta}
	_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	if err := unix.Connect(fd, sa); err != nil && !errors.Is(err, unix.EINPROGRESS) {
		c.release()
		return nil, os.NewSyscallError("connect", err)
	}
	var deadline time.Time
	if d, ok := ctx.Deadline(); ok {
		deadline = d
	}
	if err := c.wait(ctx, unix.POLLOUT, deadline); err != nil {
		c.release()
		return nil, err
	}
	if soErr, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR); err != nil || soErr != 0 {
		c.release()
		if err == nil {
			err = unix.Errno(soErr)
		}
		return nil, os.NewSyscallError("connect", err)
	}
	if la, err := unix.Getsockname(fd); err == nil {
		switch a := la.(type) {
		case *unix.SockaddrInet4:
			c.local = &net.TCPAddr{IP: net.IP(a.Addr[:]), Port: a.Port}
		case *unix.SockaddrInet6:
			c.local = &net.TCPAddr{IP: net.IP(a.Addr[:]), Port: a.Port}
		}
	}
	if c.local == nil {
		c.local = &net.TCPAddr{}
	}
	return c, nil
}

// wait polls fd for events until deadline (zero: none) or ctx's end.
func (c *pollConn) wait(ctx context.Context, events int16, deadline time.Time) error {
	for {
		timeout := wsPollTick
		if !deadline.IsZero() {
			left := time.Until(deadline)
			if left <= 0 {
				return os.ErrDeadlineExceeded
			}
			timeout = min(timeout, left)
		}
		c.mu.RLock()
		if c.shut || c.released {
			c.mu.RUnlock()
			return net.ErrClosed
		}
		fds := []unix.PollFd{{Fd: int32(c.fd), Events: events}}
		n, err := unix.Poll(fds, int(timeout/time.Millisecond)+1)
		c.mu.RUnlock()
		switch {
		case err != nil && !errors.Is(err, unix.EINTR):
			return os.NewSyscallError("poll", err)
		case n > 0:
			return nil
		case ctx != nil && ctx.Err() != nil:
			return ctx.Err()
		}
	}
}

func deadlineOf(a *atomic.Int64) time.Time {
	if ns := a.Load(); ns != 0 {
		return time.Unix(0, ns)
	}
	return time.Time{}
}

// readHeaderPart reads into b at most up to the end of the HTTP header
// ("\r\n\r\n"), once: what it has seen of the header so far is kept in
// headerTail.
func (c *pollConn) readHeaderPart(b []byte) (int, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.released {
		return 0, net.ErrClosed
	}
	if c.headerDone {
		return unix.Read(c.fd, b)
	}
	n, _, err := unix.Recvfrom(c.fd, b, unix.MSG_PEEK)
	if err != nil || n == 0 {
		return n, err
	}
	// The end may straddle two reads: look at the last 3 bytes seen too.
	seen := append(c.headerTail, b[:n]...)
	if i := bytes.Index(seen, []byte("\r\n\r\n")); i >= 0 {
		n = i + 4 - len(c.headerTail)
		c.headerDone = true
	}
	c.headerTail = seen[max(0, len(seen)-3):]
	return unix.Read(c.fd, b[:n])
}

// readOnce is one read(2), for the poll set.
func (c *pollConn) readOnce(b []byte) (int, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.released {
		return 0, net.ErrClosed
	}
	return unix.Read(c.fd, b)
}

// Read is the handshake's: gorilla reads the upgrade's response through it.
// It never takes bytes past the response's header (it peeks first), so
// that frames the server sends right after it stay in the socket for the
// poll set.
func (c *pollConn) Read(b []byte) (int, error) {
	for {
		n, err := c.readHeaderPart(b)
		switch {
		case errors.Is(err, unix.EAGAIN):
			if err := c.wait(context.Background(), unix.POLLIN, deadlineOf(&c.readDeadline)); err != nil {
				return 0, err
			}
		case errors.Is(err, unix.EINTR):
		case err != nil:
			return 0, err
		case n == 0:
			return 0, io.EOF
		default:
			return n, nil
		}
	}
}

func (c *pollConn) Write(b []byte) (int, error) {
	written := 0
	for written < len(b) {
		c.mu.RLock()
		if c.shut || c.released {
			c.mu.RUnlock()
			return written, net.ErrClosed
		}
		n, err := unix.Write(c.fd, b[written:])
		c.mu.RUnlock()
		switch {
		case errors.Is(err, unix.EAGAIN):
			if err := c.wait(context.Background(), unix.POLLOUT, deadlineOf(&c.writeDeadline)); err != nil {
				return written, err
			}
		case errors.Is(err, unix.EINTR):
		case err != nil:
			return written, os.NewSyscallError("write", err)
		default:
			written += n
		}
	}
	return written, nil
}

func (c *pollConn) setPolled() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.shut || c.released {
		return false
	}
	c.polled = true
	return true
}

func (c *pollConn) unsetPolled() {
	c.mu.Lock()
	c.polled = false
	shut := c.shut
	c.mu.Unlock()
	if shut {
		c.release()
	}
}

// Close shuts the socket down; the descriptor itself is closed at once
// unless a poll set reads it (it closes it when it sees the end).
func (c *pollConn) Close() error {
	c.mu.Lock()
	if c.shut || c.released {
		c.mu.Unlock()
		return nil
	}
	c.shut = true
	polled := c.polled
	_ = unix.Shutdown(c.fd, unix.SHUT_RDWR)
	c.mu.Unlock()
	if !polled {
		c.release()
	}
	return nil
}

// release closes the descriptor, once.
func (c *pollConn) release() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.released {
		c.released = true
		_ = unix.Close(c.fd)
	}
}

func (c *pollConn) LocalAddr() net.Addr  { return c.local }
func (c *pollConn) RemoteAddr() net.Addr { return c.remote }

func (c *pollConn) SetDeadline(t time.Time) error {
	_ = c.SetReadDeadline(t)
	return c.SetWriteDeadline(t)
}

func (c *pollConn) SetReadDeadline(t time.Time) error {
	c.readDeadline.Store(unixNanosOrZero(t))
	return nil
}

func (c *pollConn) SetWriteDeadline(t time.Time) error {
	c.writeDeadline.Store(unixNanosOrZero(t))
	return nil
}

func unixNanosOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}
