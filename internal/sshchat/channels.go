package sshchat

import (
	"encoding/binary"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"charm.land/ssh"
	gossh "golang.org/x/crypto/ssh"

	"github.com/tertulia/tertulia/internal/connlimit"
)

// Bounds on what a client may ask of a session channel. charm.land/ssh
// takes the requests as they come (see docs/security.md, upstream notes):
// every env request is kept, PTY sizes are full uint32s, and a window
// change waits on a one-slot channel that stalls the whole connection. The
// filter below stands between the connection and that handler.
const (
	// DefaultMaxChannels is how many session channels one connection may
	// have open at once. One is all an SSH client needs for a chat session.
	DefaultMaxChannels = 4
	// MaxTermSize bounds the columns and rows a terminal may claim; larger
	// claims are clamped. Drawing costs grow with the size.
	MaxTermSize = 1000
	// defaultTermWidth and defaultTermHeight stand in for a size of 0
	// ("unknown" in RFC 4254).
	defaultTermWidth, defaultTermHeight = 80, 24
	// maxTermPixels bounds the pixel sizes passed on (unused, but kept sane).
	maxTermPixels = 1 << 16
	// maxTermName bounds the TERM a pty-req may carry.
	maxTermName = 64
	// maxTermModes bounds a pty-req's encoded terminal modes (OpenSSH sends
	// a few hundred bytes).
	maxTermModes = 4 << 10
	// maxEnvVars and maxEnvBytes bound the environment a channel may set
	// before its shell: Tertulia reads only the colour hints among them.
	maxEnvVars  = 16
	maxEnvBytes = 1 << 10
	// forwardQueue is how many accepted or refused requests may wait for
	// charm's request loop, which answers them in order.
	forwardQueue = 16
	// refusedType renames a refused request on its way to charm's request
	// loop, whose default case answers false: replies must keep the order
	// of the requests (RFC 4254 5.4), so they all come from that loop.
	refusedType = "refused@tertulia"
)

// connState is what the server keeps about one SSH connection.
type connState struct {
	// started is set once a channel has been granted its shell or exec.
	started atomic.Bool

	mu       sync.Mutex
	channels int         // session channels open
	shell    *windowFeed // the window of the channel granted the shell; nil before
	// shellOut is that channel itself, for the terminal interface's frames
	// (see screenOutput); nil before.
	shellOut io.Writer
	granted  bool // a shell or exec was granted (one per connection, ever)
}

// connStateKey holds a connection's *connState in its context.
type connStateKey struct{}

func connStateOf(ctx ssh.Context) *connState {
	st, _ := ctx.Value(connStateKey{}).(*connState)
	return st
}

// openChannel counts a new session channel, if there is room for it.
func (st *connState) openChannel(maxChannels int) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.channels >= maxChannels {
		return false
	}
	st.channels++
	return true
}

func (st *connState) closeChannel() {
	st.mu.Lock()
	st.channels--
	st.mu.Unlock()
}

// grantShell gives the connection's one shell (or exec) to the channel
// whose window is win, and reports whether it was still to be had: a
// connection is one chat session, however many channels it opens and even
// after that session has ended.
func (st *connState) grantShell(win *windowFeed, out io.Writer) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.granted {
		return false
	}
	st.granted, st.shell, st.shellOut = true, win, out
	st.started.Store(true)
	return true
}

// shellWindow is the window of the channel granted the shell, or nil.
func (st *connState) shellWindow() *windowFeed {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.shell
}

// shellOutput is the channel granted the shell, or nil.
func (st *connState) shellOutput() io.Writer {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.shellOut
}

// windowFeed is a terminal's size as last announced, kept in place of a
// queue of changes: a flood of window changes costs one redraw.
type windowFeed struct {
	mu      sync.Mutex
	win     ssh.Window
	resized bool          // set since the last take
	changed chan struct{} // one slot: "set or poked since last read"
}

func newWindowFeed() *windowFeed { return &windowFeed{changed: make(chan struct{}, 1)} }

// set records win and signals a change without ever waiting.
func (f *windowFeed) set(win ssh.Window) {
	f.mu.Lock()
	f.win = win
	f.resized = true
	f.mu.Unlock()
	f.poke()
}

// poke signals Changed without a new size, without ever waiting: the
// session's loop waits on the feed's channel for its session's end too,
// one channel fewer in the select of every event.
func (f *windowFeed) poke() {
	select {
	case f.changed <- struct{}{}:
	default:
	}
}

// take returns the window, and whether it was set since the last take.
func (f *windowFeed) take() (win ssh.Window, resized bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	win, resized = f.win, f.resized
	f.resized = false
	return win, resized
}

// Changed is signalled after each set (read take then) and poke.
func (f *windowFeed) Changed() <-chan struct{} { return f.changed }

// sessionChannel is the server's handler for "session" channels: it caps
// the channels a connection has open, then lets charm's session handler
// serve the channel through a filter of its requests.
func (s *Server) sessionChannel(srv *ssh.Server, conn *gossh.ServerConn, newChan gossh.NewChannel, ctx ssh.Context) {
	st := connStateOf(ctx)
	if st == nil {
		// Every connection goes through admitConn, which sets it.
		_ = newChan.Reject(gossh.ConnectionFailed, "internal error")
		return
	}
	if !st.openChannel(s.maxChannels) {
		_ = newChan.Reject(gossh.ResourceShortage, "too many channels on this connection")
		return
	}
	defer st.closeChannel()
	g := &guardedChannel{NewChannel: newChan, server: s, conn: st, win: newWindowFeed(),
		remote: connlimit.HostOf(conn.RemoteAddr().String()), innerDone: make(chan struct{})}
	// Deferred, so that the filter stops handing requests over even if
	// charm's loop panics.
	defer g.stop()
	// It returns once the channel's requests are over, that is once the
	// channel is closed.
	ssh.DefaultSessionHandler(srv, conn, g, ctx)
}

// guardedChannel is a session channel whose requests are filtered before
// charm's request loop sees them.
type guardedChannel struct {
	gossh.NewChannel
	server *Server
	conn   *connState
	win    *windowFeed
	remote string
	raw    gossh.Channel // the accepted channel, set before its requests are read

	granted   atomic.Bool   // this channel was granted the shell
	timer     *time.Timer   // closes the channel if no shell comes in time
	innerDone chan struct{} // closed when charm's request loop is over
}

// Accept accepts the channel and returns charm's request loop a filtered
// copy of its requests.
func (g *guardedChannel) Accept() (gossh.Channel, <-chan *gossh.Request, error) {
	ch, reqs, err := g.NewChannel.Accept()
	if err != nil {
		return nil, nil, err
	}
	g.timer = time.AfterFunc(g.server.sessionTimeout, func() {
		if !g.granted.Load() {
			g.server.log.Info("ssh channel closed", "remote", g.remote, "reason", "no shell in time")
			_ = ch.Close()
		}
	})
	g.raw = ch
	out := make(chan *gossh.Request, forwardQueue)
	go g.filter(reqs, out)
	return ch, out, nil
}

func (g *guardedChannel) stop() {
	close(g.innerDone)
	if g.timer != nil {
		g.timer.Stop()
	}
}

// filter reads every request of the channel as it arrives, so that the
// connection's read loop (x/crypto's mux, which hands requests over on a
// channel of 16 and stops reading the connection while that is full) is
// never held up by what the session is doing. Window changes are kept here,
// never queued; everything else goes on, accepted or renamed to be refused,
// to charm's loop, which never waits on the session for them: it only
// writes their replies, so the filter can wait on it only as long as a
// write to the connection takes (a peer that reads nothing at all is cut by
// the keepalive, or, with --ssh-keepalive 0, held blocked: its memory stays
// bounded, since nothing more is read from it).
func (g *guardedChannel) filter(reqs <-chan *gossh.Request, out chan<- *gossh.Request) {
	defer close(out)
	var pty, shell bool
	env := 0
	for req := range reqs {
		ok := false
		switch req.Type {
		case "pty-req":
			if pty || shell {
				break
			}
			payload, win, valid := sanitizePtyRequest(req.Payload)
			if !valid {
				break
			}
			pty, ok = true, true
			req.Payload = payload
			g.win.set(win)
		case "window-change":
			// RFC 4254 6.7: sent without asking for a reply; one that asks
			// is not from a terminal.
			if !pty || req.WantReply {
				break
			}
			if win, valid := parseWindowChange(req.Payload); valid {
				g.win.set(win)
			}
			continue
		case "env":
			if shell || env >= maxEnvVars || !validEnv(req.Payload) {
				break
			}
			env++
			ok = true
		case "shell", "exec":
			if shell || !g.conn.grantShell(g.win, g.raw) {
				break
			}
			shell, ok = true, true
			g.granted.Store(true)
			g.timer.Stop()
		}
		// Everything else (agent and X11 forwarding, subsystems, signals,
		// breaks, requests of unknown types) is refused.
		if !ok {
			req.Type, req.Payload = refusedType, nil
		}
		if !req.WantReply && !ok {
			continue // nothing to answer, nothing to pass on
		}
		select {
		case out <- req:
		case <-g.innerDone:
			_ = req.Reply(false, nil)
		}
	}
}

// sanitizePtyRequest checks a pty-req payload (RFC 4254 6.2) and returns it
// re-encoded with its sizes clamped (0 meaning a default), with the window
// it asks for. A payload that does not parse, or whose TERM or modes are
// too long, is refused.
func sanitizePtyRequest(payload []byte) (clean []byte, win ssh.Window, ok bool) {
	r := payloadReader{rest: payload, ok: true}
	term := r.string()
	cols, rows, wpx, hpx := r.uint32(), r.uint32(), r.uint32(), r.uint32()
	modes := r.string()
	if !r.done() {
		return nil, win, false
	}
	if len(term) > maxTermName || len(modes) > maxTermModes || !validTermName(string(term)) {
		return nil, win, false
	}
	win = clampWindow(cols, rows, wpx, hpx)
	clean = make([]byte, 0, 4+len(term)+16+4+len(modes))
	clean = appendPayloadString(clean, term)
	clean = binary.BigEndian.AppendUint32(clean, uint32(win.Width))
	clean = binary.BigEndian.AppendUint32(clean, uint32(win.Height))
	clean = binary.BigEndian.AppendUint32(clean, uint32(win.WidthPixels))
	clean = binary.BigEndian.AppendUint32(clean, uint32(win.HeightPixels))
	clean = appendPayloadString(clean, modes)
	return clean, win, true
}

// parseWindowChange reads a window-change payload (RFC 4254 6.7), clamped.
func parseWindowChange(payload []byte) (win ssh.Window, ok bool) {
	r := payloadReader{rest: payload, ok: true}
	cols, rows, wpx, hpx := r.uint32(), r.uint32(), r.uint32(), r.uint32()
	if !r.done() {
		return win, false
	}
	return clampWindow(cols, rows, wpx, hpx), true
}

// payloadReader reads a request's fields (RFC 4251 5) by hand, as
// gossh.Unmarshal would (a short or overlong payload does not parse): the
// filter's goroutine lives as long as the connection, and x/crypto's
// reflective Unmarshal and Marshal grow its stack to 4 KB, which
// collections never shrink again.
type payloadReader struct {
	rest []byte
	ok   bool
}

func (r *payloadReader) uint32() uint32 {
	if !r.ok || len(r.rest) < 4 {
		r.ok = false
		return 0
	}
	v := binary.BigEndian.Uint32(r.rest)
	r.rest = r.rest[4:]
	return v
}

func (r *payloadReader) string() []byte {
	n := r.uint32()
	if !r.ok || uint32(len(r.rest)) < n {
		r.ok = false
		return nil
	}
	s := r.rest[:n:n]
	r.rest = r.rest[n:]
	return s
}

// done tells whether every field parsed and nothing is left.
func (r *payloadReader) done() bool { return r.ok && len(r.rest) == 0 }

func appendPayloadString(b, s []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

func clampWindow(cols, rows, wpx, hpx uint32) ssh.Window {
	w, h := clampTermSize(int64(cols), int64(rows))
	return ssh.Window{
		Width: w, Height: h,
		WidthPixels:  int(min(wpx, maxTermPixels)),
		HeightPixels: int(min(hpx, maxTermPixels)),
	}
}

// clampTermSize bounds a terminal size to 1..MaxTermSize in each direction,
// a size of 0 (or less) meaning 80×24.
func clampTermSize(w, h int64) (int, int) {
	if w <= 0 {
		w = defaultTermWidth
	}
	if h <= 0 {
		h = defaultTermHeight
	}
	return int(min(w, MaxTermSize)), int(min(h, MaxTermSize))
}

// validTermName accepts printable ASCII only: TERM ends up in the colour
// profile's environment.
func validTermName(term string) bool {
	for i := 0; i < len(term); i++ {
		if term[i] <= ' ' || term[i] > '~' {
			return false
		}
	}
	return true
}

// validEnv accepts a well-formed env request of bounded size.
func validEnv(payload []byte) bool {
	r := payloadReader{rest: payload, ok: true}
	key, value := r.string(), r.string()
	return r.done() && len(key) > 0 && len(key)+len(value) <= maxEnvBytes
}
