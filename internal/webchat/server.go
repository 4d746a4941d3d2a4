// Package webchat is the browser front-end: an embedded page and a websocket
// endpoint speaking the JSON frames of docs/protocol.md.
package webchat

import (
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/tertulia/tertulia/internal/connlimit"
	"github.com/tertulia/tertulia/internal/room"
	"github.com/tertulia/tertulia/internal/wire"
)

//go:embed static
var staticFiles embed.FS

// Defaults for the websocket limits.
const (
	DefaultReadLimit    = 16 << 10
	DefaultPingInterval = 30 * time.Second
	DefaultWriteTimeout = 10 * time.Second
	DefaultHelloTimeout = 30 * time.Second
)

// Server serves the page and the websocket endpoint.
type Server struct {
	hub            *room.Hub
	log            *slog.Logger
	allowedOrigins map[string]bool
	// allowedHosts, when not empty, are the names the web front-end
	// answers to (see checkHost).
	allowedHosts   map[string]bool
	readLimit      int64
	pingInterval   time.Duration
	writeTimeout   time.Duration
	helloTimeout   time.Duration
	trustedProxies []netip.Prefix
	upgrader       websocket.Upgrader
	limiter        *connlimit.Limiter
	writeBufs      sync.Pool // gorilla's frame buffers, held only while a frame is written
	batchBufs      sync.Pool // *[]byte, held only while a batch is written (batchConn)
	fanOut         *fanOut   // writes idle sessions' events (fanout.go)
	static         http.Handler
}

// Option configures a Server.
type Option func(*Server)

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(s *Server) { s.log = l } }

// WithAllowedOrigins adds origins (e.g. "https://chat.example.com") that may
// open a websocket besides the page's own host.
func WithAllowedOrigins(origins ...string) Option {
	return func(s *Server) {
		for _, o := range origins {
			if o = strings.TrimSpace(o); o != "" {
				s.allowedOrigins[strings.ToLower(strings.TrimRight(o, "/"))] = true
			}
		}
	}
}

// WithAllowedHosts sets the host names (from --public-url and
// --allowed-origins, e.g. "chat.example.com") the page, sign-in and
// websocket answer to; requests naming another host are refused (DNS
// rebinding). None: any host.
func WithAllowedHosts(hosts ...string) Option {
	return func(s *Server) {
		for _, h := range hosts {
			if h = strings.TrimSpace(h); h != "" {
				s.allowedHosts[strings.ToLower(connlimit.HostOf(h))] = true
			}
		}
	}
}

// WithConnLimiter counts websockets per client address against l, shared
// with the SSH front-end.
func WithConnLimiter(l *connlimit.Limiter) Option { return func(s *Server) { s.limiter = l } }

// WithReadLimit bounds the size of one client frame, in bytes.
func WithReadLimit(n int64) Option { return func(s *Server) { s.readLimit = n } }

// WithPingInterval sets how often the server pings; a peer silent for two
// intervals is dropped.
func WithPingInterval(d time.Duration) Option { return func(s *Server) { s.pingInterval = d } }

// WithHelloTimeout bounds the time from the upgrade to a successful hello.
func WithHelloTimeout(d time.Duration) Option { return func(s *Server) { s.helloTimeout = d } }

// WithWriteTimeout bounds one write to a client: a frame, or a batch of
// frames written together.
func WithWriteTimeout(d time.Duration) Option { return func(s *Server) { s.writeTimeout = d } }

// New returns a web front-end attached to hub.
func New(hub *room.Hub, opts ...Option) *Server {
	s := &Server{
		hub:            hub,
		log:            slog.Default(),
		allowedOrigins: make(map[string]bool),
		allowedHosts:   make(map[string]bool),
		readLimit:      DefaultReadLimit,
		pingInterval:   DefaultPingInterval,
		writeTimeout:   DefaultWriteTimeout,
		helloTimeout:   DefaultHelloTimeout,
		trustedProxies: DefaultTrustedProxies(),
	}
	for _, o := range opts {
		o(s)
	}
	page, _ := fs.Sub(staticFiles, "static")
	static, err := staticHandler(page)
	if err != nil { // the files are compiled in: this is a build defect
		panic("webchat: embedded page: " + err.Error())
	}
	s.static = static
	s.fanOut = newFanOut(fanOutShards(runtime.GOMAXPROCS(0)))
	s.batchBufs.New = func() any {
		b := make([]byte, 0, 4096)
		return &b
	}
	s.upgrader = websocket.Upgrader{
		// Most sessions are idle, so their buffers are small or shared.
		// Reading: client frames are small and rare; the HTTP server's 4 KB
		// bufio.Reader, which ReadBufferSize 0 would reuse, is garbage
		// once serveWS returns. Writing: a buffer from the pool only while
		// a frame is written (batchConn holds the batch).
		ReadBufferSize:  512,
		WriteBufferSize: 1024,
		WriteBufferPool: &s.writeBufs,
		CheckOrigin:     s.checkOrigin,
		// Browsers and bots get a plain HTTP error body on a refused upgrade.
		Error: func(w http.ResponseWriter, r *http.Request, status int, reason error) {
			http.Error(w, reason.Error(), status)
		},
	}
	return s
}

// Handler serves GET / (the page), its assets and GET /ws.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /", securityHeaders(s.static))
	mux.HandleFunc("GET /ws", s.serveWS)
	mux.HandleFunc("POST /login", s.serveLogin)
	mux.HandleFunc("POST /logout", s.serveLogout)
	mux.HandleFunc("GET /session", s.serveSession)
	mux.HandleFunc("POST /api/rooms/{room}/messages", s.serveAPIPost)
	mux.HandleFunc("GET /api/rooms/{room}/messages", s.serveAPIRead)
	return s.checkHost(mux)
}

// checkHost refuses, once the server knows its public names, a request
// whose Host is another name: a page on evil.example that re-resolves its
// own name to this server's address (DNS rebinding) sends Host:
// evil.example. Address literals and localhost cannot be rebound by a
// foreign page, so they stay allowed for local tools.
func (s *Server) checkHost(next http.Handler) http.Handler {
	if len(s.allowedHosts) == 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := strings.ToLower(connlimit.HostOf(r.Host))
		if _, literal := parseHost(r.Host); literal || host == "localhost" || s.allowedHosts[host] {
			next.ServeHTTP(w, r)
			return
		}
		s.log.Info("request refused", "reason", "unknown host", "host", r.Host, "remote", s.clientAddr(r))
		http.Error(w, "unknown host", http.StatusMisdirectedRequest)
	})
}

// securityHeaders forbids inline script, framing and MIME sniffing: every
// user string on the page is set as text, and this is the second fence.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		next.ServeHTTP(w, r)
	})
}

// checkOrigin accepts a browser's upgrade only from the page's own host or a
// configured origin. Clients that send no Origin (bots, CLI tools) are not
// browsers and cannot be the victim of cross-site requests.
func (s *Server) checkOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil {
		return false
	}
	if strings.EqualFold(u.Host, r.Host) {
		return true
	}
	return s.allowedOrigins[strings.ToLower(strings.TrimRight(origin, "/"))]
}

func (s *Server) serveWS(w http.ResponseWriter, r *http.Request) {
	remote := s.clientAddr(r)
	if s.hub.IsBannedAddr(remote) {
		http.Error(w, room.ErrBanned.Error(), http.StatusForbidden)
		return
	}
	release := func() {}
	if s.limiter != nil {
		var err error
		release, err = s.limiter.Acquire(remote)
		if err != nil {
			s.log.Info("websocket refused", "remote", remote, "reason", err)
			http.Error(w, err.Error(), http.StatusTooManyRequests)
			return
		}
	}
	hj := &hijacker{ResponseWriter: w, s: s}
	conn, err := s.upgrader.Upgrade(hj, r, nil)
	if err != nil {
		release()
		s.log.Warn("websocket upgrade refused", "remote", remote, "peer", r.RemoteAddr, "origin", r.Header.Get("Origin"), "err", err)
		return
	}
	key, token := s.signedIn(r)
	// The HTTP server keeps the request, its response buffers and this
	// goroutine's grown stack until the handler returns: the session runs
	// in a fresh goroutine and the handler returns.
	go s.serveConn(conn, hj.conn, room.Identity{Via: room.ViaWeb, Remote: remote, Fingerprint: key, WebToken: token, Settings: true}, release)
}

// serveConn runs one upgraded connection's hello exchange, then hands the
// welcomed session to runSession.
func (s *Server) serveConn(conn *websocket.Conn, bc *batchConn, id room.Identity, release func()) {
	conn.SetReadLimit(s.readLimit)
	cs := s.greet(conn, id)
	if cs == nil {
		_ = conn.Close()
		release()
		return
	}
	// The hello exchange (the session's settings, its first room and
	// history) may have grown this goroutine's stack far beyond what an
	// idle session needs, and a collection only halves a stack: the
	// session's reader and writer start on fresh ones.
	go s.runSession(conn, bc, cs, release)
}

// runSession is the read loop of a welcomed session, with the write loop in
// a goroutine of its own.
func (s *Server) runSession(conn *websocket.Conn, bc *batchConn, cs *room.Session, release func()) {
	defer release()
	defer conn.Close()
	calls := newWriterCalls()
	cs.OnClose(func(reason room.CloseReason) {
		// A writer blocked on a peer that does not read would hold a
		// dropped session's connection until the write timeout. Close
		// does not wait for the batchConn's lock.
		if reason.DropsQueue() {
			_ = bc.Close()
		}
		calls.wake()
	})
	var writerDone <-chan struct{}
	if bc.CanTryWrite() {
		d := s.fanOut.add(conn, bc, cs, calls)
		var ping *time.Timer
		writerDone, ping = s.writeOnDemand(conn, bc, cs, calls, d)
		defer ping.Stop()
		calls.wake() // the welcome, and what else was queued before the fan-out
	} else {
		done := make(chan struct{})
		go func() {
			defer close(done)
			s.writeLoop(conn, bc, cs, calls)
		}()
		writerDone = done
	}
	s.readLoop(conn, cs, calls)
	cs.Leave()
	<-writerDone
}

// writerCalls is what a session's writer is asked to do besides writing
// its events: pong the client's pings, ping the client, see that the
// session is done, and, for a session whose events the fan-out writes,
// finish what the fan-out handed back. A writer that runs all along is
// woken through one channel, so that it waits on two (its events and
// this) rather than on four: that wait is paid for every event written. A
// writer run on demand (writeOnDemand) is started by wake instead.
type writerCalls struct {
	wakeup chan struct{} // holds a token while a call may be pending

	mu      sync.Mutex
	pongs   []json.RawMessage
	pingDue bool
	// start runs the writer on demand; nil for a writer that runs all
	// along. running: it runs (and, once it has ended the session, for
	// good); woken: wake was called while it ran.
	start   func()
	running bool
	woken   bool
}

// maxPendingPongs bounds the pongs waiting for the writer: a client has no
// reason to ping faster than it is answered, and pings beyond these get
// no pong.
const maxPendingPongs = 4

func newWriterCalls() *writerCalls { return &writerCalls{wakeup: make(chan struct{}, 1)} }

// wake makes the writer look at its calls, at Done and, on demand, at
// what the fan-out handed back.
func (c *writerCalls) wake() {
	c.mu.Lock()
	if c.start == nil {
		c.mu.Unlock()
		select {
		case c.wakeup <- struct{}{}:
		default: // a token is already waiting
		}
		return
	}
	if c.running {
		c.woken = true
		c.mu.Unlock()
		return
	}
	c.running = true
	c.mu.Unlock()
	c.start()
}

// rest ends a turn of the writer run on demand, unless wake was called
// meanwhile: then it returns false and the writer looks again.
func (c *writerCalls) rest() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.woken {
		c.woken = false
		return false
	}
	c.running = false
	return true
}

func (c *writerCalls) pong(id json.RawMessage) {
	c.mu.Lock()
	if len(c.pongs) < maxPendingPongs {
		c.pongs = append(c.pongs, id)
	}
	c.mu.Unlock()
	c.wake()
}

func (c *writerCalls) ping() {
	c.mu.Lock()
	c.pingDue = true
	c.mu.Unlock()
	c.wake()
}

// take returns the pending calls and clears them.
func (c *writerCalls) take() (pongs []json.RawMessage, ping bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	pongs, ping = c.pongs, c.pingDue
	c.pongs, c.pingDue = nil, false
	return pongs, ping
}

// maxHelloAttempts bounds the frames a connection may send before a
// successful hello (bad frames, taken or invalid nicks).
const maxHelloAttempts = 30

// greet waits for a valid hello and connects the session as id with the
// nick asked for. Until it returns, this goroutine is the connection's only
// writer.
func (s *Server) greet(conn *websocket.Conn, id room.Identity) *room.Session {
	deadline := time.Now().Add(s.helloTimeout)
	for attempt := 1; ; attempt++ {
		_ = conn.SetReadDeadline(deadline)
		f, err := readFrame(conn)
		var fe *wire.FrameError
		if err != nil && !errors.As(err, &fe) {
			return nil
		}
		if attempt > maxHelloAttempts {
			// Frames before a session are not rate-limited by the hub:
			// bound what one connection may make us answer or look up.
			s.writeRaw(conn, wire.EncodeError("too_many_attempts", "too many frames without a successful hello; reconnect to try again"))
			_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.ClosePolicyViolation, "too many attempts"), time.Now().Add(time.Second))
			return nil
		}
		if fe != nil {
			s.writeRaw(conn, wire.EncodeError(fe.Code, fe.Text))
			continue
		}
		if f.Type != "hello" {
			s.writeRaw(conn, wire.EncodeError("hello_first", `send {"type":"hello","nick":"..."} first`))
			continue
		}
		token := f.Token
		if token != "" {
			tok, err := s.hub.BotTokenFrom(token, id.Remote)
			var ue *room.UserError
			if errors.As(err, &ue) {
				s.writeRaw(conn, wire.EncodeError(ue.Code, ue.Text))
				return nil
			}
			if err != nil {
				// Wrong, revoked or never made: the same answer.
				s.writeRaw(conn, wire.EncodeError(CodeBadToken, BadTokenText))
				_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.ClosePolicyViolation, BadTokenText), time.Now().Add(time.Second))
				return nil
			}
			// The token's key and nick, whatever the browser's cookie
			// or the frame say.
			id.Fingerprint, id.Nick, id.BotToken, id.WebToken = tok.Fingerprint, tok.Nick, tok.TokenHash, ""
			f.Nick = tok.Nick
		}
		id.Bot = f.Bot
		id.Nick = strings.TrimSpace(f.Nick)
		if id.Nick == "" && id.Fingerprint != "" {
			// A signed-in browser may leave the nick to its key.
			if owned := s.hub.NicksOf(id.Fingerprint); len(owned) > 0 {
				id.Nick = owned[0]
			}
		}
		nick := id.Nick
		cs, err := s.hub.Connect(id)
		if err == nil {
			if token != "" {
				// Revoked while connecting: the revocation may have
				// looked for the token's sessions before this one was.
				if _, ok := s.hub.BotToken(token); !ok {
					cs.Error(room.CodeRevoked, "the bot token this connection signed in with was revoked")
					cs.Close(room.ReasonRevoked)
				}
			}
			return cs
		}
		var ue *room.UserError
		if !errors.As(err, &ue) {
			s.writeRaw(conn, wire.EncodeError("internal", "could not join"))
			return nil
		}
		if token != "" {
			// A token's nick is its own: another hello would not fare
			// better.
			text := ue.Text
			if ue.Code == "nick_taken" {
				text = "the bot token's nick " + nick + " is in use (a websocket bot needs a nick its owner is not using: /token new NAME NICK)"
			}
			s.writeRaw(conn, wire.EncodeError(ue.Code, text))
			return nil
		}
		s.writeRaw(conn, wire.EncodeError(ue.Code, helloRefusalText(ue, nick)))
		switch ue.Code {
		case "banned", "not_allowed", "stopping":
			return nil // another hello would not fare better
		}
	}
}

// helloRefusalText is what a browser is told of a refused hello: the
// core's text, or one that says what a browser user can do instead.
func helloRefusalText(ue *room.UserError, nick string) string {
	switch ue.Code {
	case "nick_taken":
		return "the nick " + nick + " is already in use; choose another"
	case "nick_registered":
		return "the nick " + nick + " is registered; sign in with a code from /weblogin to use it, or choose another"
	case "not_allowed":
		return "this server admits only listed keys: sign in with a code from /weblogin"
	case "stopping":
		return "the server is stopping; try again shortly"
	}
	return ue.Text
}

// readFrame reads one client frame. A frame the server cannot use yields a
// *wire.FrameError (the connection stays usable); anything else ends it.
func readFrame(conn *websocket.Conn) (wire.ClientFrame, error) {
	typ, data, err := conn.ReadMessage()
	if err != nil {
		return wire.ClientFrame{}, err
	}
	return wire.DecodeClientFrame(typ, data)
}

func (s *Server) readLoop(conn *websocket.Conn, cs *room.Session, calls *writerCalls) {
	wait := 2 * s.pingInterval
	_ = conn.SetReadDeadline(time.Now().Add(wait))
	conn.SetPongHandler(func(string) error { return conn.SetReadDeadline(time.Now().Add(wait)) })
	for {
		f, err := readFrame(conn)
		if err != nil {
			var fe *wire.FrameError
			if errors.As(err, &fe) {
				cs.Error(fe.Code, fe.Text)
				continue
			}
			if errors.Is(err, websocket.ErrReadLimit) {
				s.log.Warn("websocket frame too large", "nick", cs.Nick(), "limit", s.readLimit)
			}
			return
		}
		select {
		case <-cs.Done():
			// Closed by the hub (flooding, kick, ban): what the client
			// already sent is dropped, not handled.
			return
		default:
		}
		_ = conn.SetReadDeadline(time.Now().Add(wait))
		switch f.Type {
		case "say":
			s.hub.InputWithCID(cs, f.Room, f.Text, f.CID)
		case "history":
			switch {
			case f.After == nil:
				s.hub.HistoryRequest(cs, f.Room, f.Before, f.Limit)
			case f.Before != 0:
				cs.Error("bad_frame", "history takes before or after, not both")
			default:
				s.hub.HistoryAfterRequest(cs, f.Room, *f.After, f.Limit)
			}
		case "names":
			s.hub.MembersRequest(cs, f.Room, f.Cursor, f.Limit)
		case "set":
			s.hub.SetRequest(cs, f.Name, f.Value)
		case "ping":
			// Answered here, not by the hub: a ping says nothing to
			// anyone, and costs no rate budget.
			if !wire.ValidPingID(f.ID) {
				cs.Error("bad_frame", fmt.Sprintf("a ping's id must be a string or a number of at most %d bytes", wire.MaxPingIDLen))
				continue
			}
			calls.pong(f.ID)
		case "read":
			id, ok := f.ReadID()
			switch {
			case !ok:
				cs.Error("bad_frame", "a read's id must be a message id (a number)")
			case f.Room != "" && f.Nick != "":
				cs.Error("bad_frame", "read takes room or nick, not both")
			default:
				s.hub.MarkRead(cs, f.Room, f.Nick, id)
			}
		case "switch":
			if err := cs.SetCurrentRoom(f.Room); err != nil {
				cs.Error("not_in_room", err.Error())
			}
		case "hello":
			cs.Error("already_welcome", "you are already signed in")
		default:
			cs.Error("unknown_type", "unknown frame type "+jsonQuote(f.Type))
		}
	}
}

// writeLoop is the only writer of a connection that cannot take
// non-blocking writes (TLS, a wrapped listener), from the session's start
// to its end.
func (s *Server) writeLoop(conn *websocket.Conn, bc *batchConn, cs *room.Session, calls *writerCalls) {
	ping := time.AfterFunc(s.pingInterval, calls.ping)
	defer ping.Stop()
	for {
		select {
		case <-cs.Done():
			s.finish(conn, bc, cs)
			return
		default:
		}
		select {
		case ev := <-cs.Events():
			if !s.writeBatch(conn, bc, cs, ev) {
				cs.Close(room.ReasonClosed)
				return
			}
		case <-calls.wakeup:
			if !s.answerCalls(conn, cs, calls, ping) {
				return
			}
		}
	}
}

// writeOnDemand makes calls run the writer of a session whose events the
// fan-out writes (d) whenever there is something the fan-out does not do:
// write what it handed back and the rest of the queue behind it, blocking
// up to the write timeout; pong, ping; end the session. Each turn does
// what there is and ends, so that an idle session keeps no goroutine for
// writing, only its reader (docs/performance.md, finding 14). done is
// closed once the writer has ended the session; ping, the ping timer, is
// the caller's to stop.
func (s *Server) writeOnDemand(conn *websocket.Conn, bc *batchConn, cs *room.Session, calls *writerCalls, d *directWriter) (done <-chan struct{}, ping *time.Timer) {
	ended := make(chan struct{})
	ping = time.AfterFunc(time.Hour, calls.ping)
	ping.Stop()
	turn := func() {
		for {
			select {
			case <-cs.Done():
				if d.takeBack() {
					s.finish(conn, bc, cs)
				}
				close(ended) // calls.running stays set: no more turns
				return
			default:
			}
			// Pongs and pings go out between the batches of a queue
			// that does not drain, as the client expects them.
			if !s.answerCalls(conn, cs, calls, ping) || !s.writeOwned(conn, bc, cs, d) {
				continue // the session is closed: the next look at Done ends it
			}
			if !d.ownedByWriter() && calls.rest() {
				return
			}
		}
	}
	calls.mu.Lock()
	calls.start = func() { go turn() }
	calls.mu.Unlock()
	ping.Reset(s.pingInterval)
	return ended, ping
}

// writeOwned, while the writer owns the session's queue (until the
// fan-out first takes it, or after the fan-out handed it back), writes
// what the fan-out handed back and the next batch queued, or hands the
// queue, empty, to the fan-out. false: a write failed, and the session
// and the connection are closed.
func (s *Server) writeOwned(conn *websocket.Conn, bc *batchConn, cs *room.Session, d *directWriter) bool {
	if !d.ownedByWriter() {
		return true
	}
	if !d.finishHanded() {
		return false
	}
	select {
	case ev := <-cs.Events():
		if !s.writeBatch(conn, bc, cs, ev) {
			cs.Close(room.ReasonClosed)
			return false
		}
	default:
		d.release()
	}
	return true
}

// answerCalls writes the pongs and the ping that are due; false: a write
// failed, and the session and the connection are closed.
func (s *Server) answerCalls(conn *websocket.Conn, cs *room.Session, calls *writerCalls, ping *time.Timer) bool {
	pongs, pingDue := calls.take()
	for _, id := range pongs {
		if !s.writeControl(conn, cs, websocket.TextMessage, wire.EncodePong(id)) {
			return false
		}
	}
	if pingDue {
		if !s.writeControl(conn, cs, websocket.PingMessage, nil) {
			return false
		}
		ping.Reset(s.pingInterval)
	}
	return true
}

// writeControl writes a ping or a pong through gorilla; on an error it
// closes the session and the connection and returns false.
func (s *Server) writeControl(conn *websocket.Conn, cs *room.Session, typ int, data []byte) bool {
	_ = conn.SetWriteDeadline(time.Now().Add(s.writeTimeout))
	if err := conn.WriteMessage(typ, data); err != nil {
		cs.Close(room.ReasonClosed)
		_ = conn.Close()
		return false
	}
	return true
}

// writeBatch writes ev and whatever else is already queued, up to
// maxBatchEvents, as one batch of frames (one system call for up to
// maxBatchBytes of them): under load a wake-up of the writer then carries
// several events instead of one. The batch is acknowledged once it is out.
// On a write error it closes the connection and returns false.
func (s *Server) writeBatch(conn *websocket.Conn, bc *batchConn, cs *room.Session, ev *room.Event) bool {
	var buf [maxBatchEvents]*room.Event
	batch := cs.NextBatch(buf[:0], ev, len(buf))
	if writeEvents(conn, bc, batch) != nil {
		return false
	}
	cs.Ack(batch)
	return true
}

// writeEvents writes what the fan-out left of a frame, then the frames of
// batch (at most maxBatchEvents events) together, waiting for the client
// up to the write timeout. On a write error it closes the connection.
func writeEvents(conn *websocket.Conn, bc *batchConn, batch []*room.Event) error {
	var frames [maxBatchEvents][]byte
	err := bc.WriteFrames(batchFrames(&frames, batch))
	if err != nil {
		_ = conn.Close()
	}
	return err
}

// batchFrames puts the frames of batch (at most maxBatchEvents events)
// into frames and returns them.
func batchFrames(frames *[maxBatchEvents][]byte, batch []*room.Event) [][]byte {
	for i, ev := range batch {
		frames[i] = eventFrame(ev)
	}
	return frames[:len(batch)]
}

// finish writes what is still queued (e.g. the stopping notice), unless the
// session was dropped as too slow, then closes the connection with the
// close code of the reason (docs/protocol.md) and its text, which also ends
// the read loop.
func (s *Server) finish(conn *websocket.Conn, bc *batchConn, cs *room.Session) {
	cs.Drain(maxBatchEvents, func(batch []*room.Event) error { return writeEvents(conn, bc, batch) })
	reason := cs.CloseReason()
	code := websocket.CloseNormalClosure
	switch reason.Code {
	case room.CodeStopping:
		code = websocket.CloseGoingAway
	case room.CodeSlowClient, room.CodeFlooding:
		code = websocket.ClosePolicyViolation
	}
	_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason.Text), time.Now().Add(time.Second))
	_ = conn.Close()
}

func (s *Server) writeRaw(conn *websocket.Conn, b []byte) bool {
	_ = conn.SetWriteDeadline(time.Now().Add(s.writeTimeout))
	if err := conn.WriteMessage(websocket.TextMessage, b); err != nil {
		_ = conn.Close()
		return false
	}
	return true
}

// jsonQuote quotes s as a JSON string, so that the error frame names the
// unknown type exactly as sent, whatever it contains.
func jsonQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
